//! Multi-head / grouped-query attention (Llama, Mistral, Qwen2/3, Gemma, Phi-3, gpt-oss, ...): q, k,
//! v and o projections with optional biases, per-head q/k norms (Qwen3, Gemma 3), attention sinks
//! (gpt-oss) and an output gate folded into q_proj (Qwen3-Next). Shapes follow the Hugging Face
//! `modeling_*.py` files.

use super::{group, Shard, TensorGroup};
use crate::spec::model::Architecture;
use crate::spec::precision::Role;

/// Attention in each of the attention layers: q (heads x head_dim, twice that with an output gate),
/// k and v (kv_heads x head_dim), o; optional biases, q/k norms and sinks.
pub fn tensors(a: &Architecture) -> Vec<TensorGroup> {
    let (h, q, kv, l) = (a.hidden_size, a.q_dim(), a.kv_dim(), a.attention_layer_count());
    // Qwen3NextAttention: q_proj emits the query and a same-sized gate, sigmoid(gate) * attention
    let q_rows = if a.attn_output_gate { 2 * q } else { q };
    let mut g = vec![
        group(
            "layers.*.self_attn.q_proj.weight",
            Role::AttnQkv,
            q_rows,
            h,
            l,
            Shard::Rows,
        ),
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
    if a.qk_norm {
        // q_norm and k_norm: one RMSNorm weight of head_dim each, shared by all heads
        let mut norms = group(
            "layers.*.self_attn.q_norm+k_norm.weight",
            Role::Norm,
            1,
            a.head_dim(),
            l,
            Shard::Replicated,
        );
        norms.count_per_layer = 2;
        g.push(norms);
    }
    if a.attention_sinks {
        // GptOssAttention.sinks: one logit per query head
        g.push(group(
            "layers.*.self_attn.sinks",
            Role::Norm,
            1,
            a.attention_heads,
            l,
            Shard::Rows,
        ));
    }
    g
}
