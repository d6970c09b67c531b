//! Gated DeltaNet mixer (Qwen3-Next `Qwen3NextGatedDeltaNet`): with value_dim = heads x head_dim
//! (value heads) and key_dim = groups x state_size (key heads x key head dim),
//! - in_proj_qkvz: hidden -> q, k (key_dim each) + v, z (value_dim each)
//! - in_proj_ba: hidden -> b, a (one per value head each)
//! - conv1d: depthwise over q, k, v: conv_dim = 2 key_dim + value_dim channels x `conv_kernel`, no bias
//! - A_log, dt_bias: one per value head
//! - norm: gated RMSNorm of one value head's width, shared by the heads
//! - out_proj: value_dim -> hidden
//!
//! No biases anywhere. Checkpoints that split in_proj_qkvz / in_proj_ba into their parts (Qwen3.5)
//! hold the same numbers.

use super::{group, Shard, TensorGroup};
use crate::spec::model::{Architecture, RecurrentSpec};
use crate::spec::precision::Role;

pub fn tensors(a: &Architecture, r: &RecurrentSpec) -> Vec<TensorGroup> {
    let (h, l, inner) = (a.hidden_size, r.layers, r.inner());
    let mut per_head = group(
        "layers.*.linear_attn.A_log+dt_bias",
        Role::Norm,
        1,
        r.heads,
        l,
        Shard::Rows,
    );
    per_head.count_per_layer = 2;
    vec![
        group(
            "layers.*.linear_attn.in_proj_qkvz.weight",
            Role::AttnQkv,
            2 * r.key() + 2 * inner,
            h,
            l,
            Shard::Rows,
        ),
        group(
            "layers.*.linear_attn.in_proj_ba.weight",
            Role::AttnQkv,
            2 * r.heads,
            h,
            l,
            Shard::Rows,
        ),
        group(
            "layers.*.linear_attn.conv1d.weight",
            Role::Other,
            r.conv_dim(),
            r.conv_kernel,
            l,
            Shard::Rows,
        ),
        per_head,
        group(
            "layers.*.linear_attn.norm.weight",
            Role::Norm,
            1,
            r.head_dim,
            l,
            Shard::Replicated,
        ),
        group(
            "layers.*.linear_attn.out_proj.weight",
            Role::AttnOut,
            h,
            inner,
            l,
            Shard::Cols,
        ),
    ]
}
