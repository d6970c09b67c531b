//! Decoder-only transformer blocks (Llama, Mistral, Qwen2, Gemma/Gemma 2, Phi-3, Phi-3-small): embeddings,
//! attention, dense MLP, norms and the LM head. Shapes follow the Hugging Face `modeling_*.py` files;
//! with them the Phi family reproduces its published counts exactly (reference/models/README.md).

use super::{Part, Shard, TensorGroup};
use crate::spec::model::{Architecture, MlaSpec, MlpKind, NormKind};
use crate::spec::precision::Role;

fn group(name: &'static str, role: Role, rows: u64, cols: u64, layers: u64, shard: Shard) -> TensorGroup {
    TensorGroup {
        name,
        role,
        rows,
        cols,
        layers,
        count_per_layer: 1,
        per_decoder_layer: layers > 1 || name.starts_with("layers."),
        routed_expert: false,
        shard,
        part: Part::Text,
    }
}

/// A norm: RMSNorm has a weight, LayerNorm a weight and a bias (`count` = 1 or 2 vectors).
fn norm_vectors(kind: NormKind) -> u64 {
    match kind {
        NormKind::Rms => 1,
        NormKind::Layer => 2,
    }
}

/// Embeddings, final norm and LM head (untied: its own vocab x hidden matrix, optional bias).
pub fn outer(a: &Architecture) -> Vec<TensorGroup> {
    let mut g = vec![group(
        "embed_tokens.weight",
        Role::Embedding,
        a.vocab_size,
        a.hidden_size,
        1,
        Shard::Rows,
    )];
    let mut norm = group("norm", Role::Norm, 1, a.hidden_size, 1, Shard::Replicated);
    norm.count_per_layer = norm_vectors(a.norm);
    g.push(norm);
    if !a.tie_embeddings {
        g.push(group(
            "lm_head.weight",
            Role::LmHead,
            a.vocab_size,
            a.hidden_size,
            1,
            Shard::Rows,
        ));
    }
    if a.lm_head_bias {
        g.push(group("lm_head.bias", Role::Bias, 1, a.vocab_size, 1, Shard::Rows));
    }
    g
}

/// Attention: q (heads x head_dim), k and v (kv_heads x head_dim), o; optional biases; the layer norms.
pub fn attention(a: &Architecture) -> Vec<TensorGroup> {
    if let Some(m) = &a.mla {
        return latent_attention(a, m);
    }
    let (h, q, kv, l) = (a.hidden_size, a.q_dim(), a.kv_dim(), a.layers);
    let mut g = vec![
        group("layers.*.self_attn.q_proj.weight", Role::AttnQkv, q, h, l, Shard::Rows),
        group(
            "layers.*.self_attn.k_proj.weight",
            Role::AttnK,
            kv,
            h,
            l,
            Shard::KvHeads,
        ),
        group(
            "layers.*.self_attn.v_proj.weight",
            Role::AttnV,
            kv,
            h,
            l,
            Shard::KvHeads,
        ),
        group("layers.*.self_attn.o_proj.weight", Role::AttnOut, h, q, l, Shard::Cols),
    ];
    if a.fused_qkv {
        // one tensor in the checkpoint: GGUF types it as attn_qkv (no separate attn_k/attn_v rules)
        g[1].role = Role::AttnQkv;
        g[2].role = Role::AttnQkv;
    }
    if a.qkv_bias {
        g.push(group(
            "layers.*.self_attn.q_proj.bias",
            Role::Bias,
            1,
            q,
            l,
            Shard::Rows,
        ));
        let mut kv_bias = group(
            "layers.*.self_attn.k_proj.bias+v_proj.bias",
            Role::Bias,
            1,
            kv,
            l,
            Shard::KvHeads,
        );
        kv_bias.count_per_layer = 2;
        g.push(kv_bias);
    }
    if a.o_bias {
        g.push(group(
            "layers.*.self_attn.o_proj.bias",
            Role::Bias,
            1,
            h,
            l,
            Shard::Replicated,
        ));
    }
    let mut norms = group("layers.*.norms", Role::Norm, 1, h, l, Shard::Replicated);
    norms.count_per_layer = a.norms_per_layer * norm_vectors(a.norm);
    g.push(norms);
    g
}

/// Dense MLP: gate+up+down (gated), a 2x-wide up + down (Phi-3-small gegelu), or up+down (plain).
pub fn mlp(a: &Architecture) -> Vec<TensorGroup> {
    let (h, i, l) = (a.hidden_size, a.intermediate_size, a.layers);
    let up_rows = match a.mlp {
        MlpKind::Gated => {
            let mut gate_up = group(
                "layers.*.mlp.gate_proj+up_proj.weight",
                Role::MlpUp,
                i,
                h,
                l,
                Shard::Rows,
            );
            gate_up.count_per_layer = 2;
            return finish_mlp(a, vec![gate_up]);
        }
        MlpKind::GatedFusedWide => 2 * i,
        MlpKind::Plain => i,
    };
    finish_mlp(
        a,
        vec![group(
            "layers.*.mlp.up_proj.weight",
            Role::MlpUp,
            up_rows,
            h,
            l,
            Shard::Rows,
        )],
    )
}

fn finish_mlp(a: &Architecture, mut g: Vec<TensorGroup>) -> Vec<TensorGroup> {
    let (h, i, l) = (a.hidden_size, a.intermediate_size, a.layers);
    g.push(group(
        "layers.*.mlp.down_proj.weight",
        Role::MlpDown,
        h,
        i,
        l,
        Shard::Cols,
    ));
    if a.mlp_bias {
        let up_width: u64 = g
            .iter()
            .filter(|t| t.role == Role::MlpUp)
            .map(|t| t.rows * t.count_per_layer)
            .sum();
        g.push(group("layers.*.mlp.up.bias", Role::Bias, 1, up_width, l, Shard::Rows));
        g.push(group(
            "layers.*.mlp.down_proj.bias",
            Role::Bias,
            1,
            h,
            l,
            Shard::Replicated,
        ));
    }
    g
}

/// Multi-head latent attention (transformers `DeepseekV2Attention`, no attention bias): q through
/// `q_a_proj` (q_lora_rank x h) + RMSNorm + `q_b_proj` (heads·(nope+rope) x q_lora_rank), or one
/// `q_proj` when q_lora_rank is absent; `kv_a_proj_with_mqa` ((kv_lora_rank + rope) x h) + RMSNorm;
/// `kv_b_proj` (heads·(nope+v) x kv_lora_rank); `o_proj` (h x heads·v).
fn latent_attention(a: &Architecture, m: &MlaSpec) -> Vec<TensorGroup> {
    let (h, n, l) = (a.hidden_size, a.attention_heads, a.layers);
    let qk = m.qk_nope_head_dim + m.qk_rope_head_dim;
    let mut g = match m.q_lora_rank {
        None => vec![group(
            "layers.*.self_attn.q_proj.weight",
            Role::AttnQkv,
            n * qk,
            h,
            l,
            Shard::Rows,
        )],
        Some(r) => vec![
            group(
                "layers.*.self_attn.q_a_proj.weight",
                Role::AttnQkv,
                r,
                h,
                l,
                Shard::Replicated,
            ),
            group(
                "layers.*.self_attn.q_a_layernorm.weight",
                Role::Norm,
                1,
                r,
                l,
                Shard::Replicated,
            ),
            group(
                "layers.*.self_attn.q_b_proj.weight",
                Role::AttnQkv,
                n * qk,
                r,
                l,
                Shard::Rows,
            ),
        ],
    };
    g.push(group(
        "layers.*.self_attn.kv_a_proj_with_mqa.weight",
        Role::AttnQkv,
        m.kv_lora_rank + m.qk_rope_head_dim,
        h,
        l,
        Shard::Replicated,
    ));
    g.push(group(
        "layers.*.self_attn.kv_a_layernorm.weight",
        Role::Norm,
        1,
        m.kv_lora_rank,
        l,
        Shard::Replicated,
    ));
    g.push(group(
        "layers.*.self_attn.kv_b_proj.weight",
        Role::AttnV,
        n * (m.qk_nope_head_dim + m.v_head_dim),
        m.kv_lora_rank,
        l,
        Shard::Rows,
    ));
    g.push(group(
        "layers.*.self_attn.o_proj.weight",
        Role::AttnOut,
        h,
        n * m.v_head_dim,
        l,
        Shard::Cols,
    ));
    let mut norms = group("layers.*.norms", Role::Norm, 1, h, l, Shard::Replicated);
    norms.count_per_layer = a.norms_per_layer * norm_vectors(a.norm);
    g.push(norms);
    g
}
