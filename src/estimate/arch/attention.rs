//! Multi-head / grouped-query attention (Llama, Mistral, Qwen2, Gemma, Phi-3, ...): q, k, v and o
//! projections with optional biases. Shapes follow the Hugging Face `modeling_*.py` files.

use super::{group, Shard, TensorGroup};
use crate::spec::model::Architecture;
use crate::spec::precision::Role;

/// Attention: q (heads x head_dim), k and v (kv_heads x head_dim), o; optional biases.
pub fn tensors(a: &Architecture) -> Vec<TensorGroup> {
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
    g
}
