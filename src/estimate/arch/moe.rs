//! Mixture-of-experts MLP (Mixtral, PhiMoE, Qwen2/3-MoE, DeepSeek, gpt-oss, Llama 4, GLM-4.5, ...): a
//! router (hidden -> experts) and `experts` gated MLPs per layer (w1/w3 up, w2 down), optional
//! expert biases (gpt-oss), plus an optional shared expert, gated (Qwen2-MoE, Qwen3-Next) or not
//! (DeepSeek, Llama 4, GLM-4.5). Memory counts every expert; only `experts_per_token` are active.

use super::{Part, Shard, TensorGroup};
use crate::spec::model::{Architecture, MlpKind, MoeSpec};
use crate::spec::precision::Role;

pub fn mlp(a: &Architecture, m: &MoeSpec) -> Vec<TensorGroup> {
    // the first `dense_layers` layers (DeepSeek first_k_dense_replace) carry a dense MLP instead
    let (h, l) = (
        a.hidden_size,
        a.mlp_layer_count() - m.dense_layers.min(a.mlp_layer_count()),
    );
    let i = m.expert_intermediate_size.unwrap_or(a.intermediate_size);
    let up_matrices = match a.mlp {
        MlpKind::Plain => 1,
        MlpKind::Gated | MlpKind::GatedFusedWide => 2,
    };
    let layer = |name, role, rows, cols, count, routed, shard| TensorGroup {
        name,
        role,
        rows,
        cols,
        layers: l,
        count_per_layer: count,
        per_decoder_layer: true,
        routed_expert: routed,
        shard,
        part: Part::Text,
    };
    let mut g = vec![
        layer(
            "layers.*.block_sparse_moe.gate.weight",
            Role::Router,
            m.experts,
            h,
            1,
            false,
            Shard::Replicated,
        ),
        // gated experts hold w1 (gate) and w3 (up); Nemotron-H's squared-ReLU experts only up
        layer(
            "layers.*.experts.*.w1+w3.weight",
            Role::Expert,
            i,
            h,
            up_matrices * m.experts,
            true,
            Shard::Rows,
        ),
        layer(
            "layers.*.experts.*.w2.weight",
            Role::ExpertDown,
            h,
            i,
            m.experts,
            true,
            Shard::Cols,
        ),
    ];
    if m.expert_bias {
        // GptOssExperts: gate_up_proj_bias (2 x width) and down_proj_bias (hidden) per expert
        g.push(layer(
            "layers.*.experts.gate_up_proj_bias",
            Role::Bias,
            1,
            2 * i,
            m.experts,
            true,
            Shard::Rows,
        ));
        g.push(layer(
            "layers.*.experts.down_proj_bias",
            Role::Bias,
            1,
            h,
            m.experts,
            true,
            Shard::Replicated,
        ));
    }
    if m.router_bias {
        g.push(layer(
            "layers.*.block_sparse_moe.gate.bias",
            Role::Bias,
            1,
            m.experts,
            1,
            false,
            Shard::Replicated,
        ));
    }
    if let Some(s) = m.shared_expert_intermediate_size {
        g.push(layer(
            "layers.*.shared_expert.gate+up.weight",
            Role::MlpUp,
            s,
            h,
            up_matrices,
            false,
            Shard::Rows,
        ));
        g.push(layer(
            "layers.*.shared_expert.down.weight",
            Role::MlpDown,
            h,
            s,
            1,
            false,
            Shard::Cols,
        ));
        if m.shared_expert_gate {
            g.push(layer(
                "layers.*.shared_expert_gate.weight",
                Role::Router,
                1,
                h,
                1,
                false,
                Shard::Replicated,
            ));
        }
    }
    if m.dense_layers > 0 {
        let dense = Architecture {
            layers: m.dense_layers.min(a.mlp_layer_count()),
            mlp_layers: None,
            ..a.clone()
        };
        g.extend(super::mlp::tensors(&dense));
    }
    g
}

/// Expected number of distinct experts a batch of `tokens` touches in one layer when each token picks
/// `k` of `e` experts uniformly: E * (1 - (1 - k/E)^B). Routing is taken to be uniform; real routers
/// are skewed, which makes this an upper bound on average.
pub fn expected_experts_touched(e: u64, k: u64, tokens: u64) -> f64 {
    if e == 0 {
        return 0.0;
    }
    let e_f = e as f64;
    let miss = 1.0 - k as f64 / e_f;
    e_f * (1.0 - miss.powf(tokens as f64))
}

/// The share of a layer's `e` experts a batch of `tokens` touches ([`expected_experts_touched`] / E,
/// at most 1); 1 for a dense model (`e` = 0), whose FFN every token reads whole.
pub fn expected_share_touched(e: u64, k: u64, tokens: u64) -> f64 {
    if e == 0 {
        1.0
    } else {
        expected_experts_touched(e, k, tokens).min(e as f64) / e as f64
    }
}

#[cfg(test)]
mod tests {
    use super::expected_experts_touched;

    #[test]
    fn experts_touched_grows_from_k_to_all() {
        assert!((expected_experts_touched(16, 2, 1) - 2.0).abs() < 1e-12);
        let b8 = expected_experts_touched(16, 2, 8);
        assert!((b8 - 16.0 * (1.0 - (14.0f64 / 16.0).powi(8))).abs() < 1e-12);
        assert!(expected_experts_touched(16, 2, 1000) > 15.999);
    }
}
