//! Multi-head latent attention (DeepSeek-V2/V3, Kimi-K2): low-rank q and a shared kv latent.

use super::{group, Shard, TensorGroup};
use crate::spec::model::{Architecture, MlaSpec};
use crate::spec::precision::Role;

/// Multi-head latent attention (transformers `DeepseekV2Attention`, no attention bias): q through
/// `q_a_proj` (q_lora_rank x h) + RMSNorm + `q_b_proj` (heads·(nope+rope) x q_lora_rank), or one
/// `q_proj` when q_lora_rank is absent; `kv_a_proj_with_mqa` ((kv_lora_rank + rope) x h) + RMSNorm;
/// `kv_b_proj` (heads·(nope+v) x kv_lora_rank); `o_proj` (h x heads·v).
pub fn tensors(a: &Architecture, m: &MlaSpec) -> Vec<TensorGroup> {
    let (h, n, l) = (a.hidden_size, a.attention_heads, a.attention_layer_count());
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
    g
}
