//! Mamba-2 mixer (Nemotron-H, Granite 4.0-H, Falcon-H1; transformers `NemotronHMamba2Mixer`,
//! `GraniteMoeHybridMambaLayer`, `FalconH1Mixer`): with d_inner = heads x head_dim and
//! key = groups x state_size,
//! - in_proj: hidden -> z (d_inner) + x (d_inner) + B, C (key each) + dt (heads), bias if `proj_bias`
//! - conv1d: depthwise over x, B, C: conv_dim = d_inner + 2 key channels x `conv_kernel` taps
//! - A_log, D, dt_bias: one per head
//! - norm: gated RMSNorm over d_inner (unless `gated_norm` is off)
//! - out_proj: d_inner -> hidden, bias if `proj_bias`

use super::{group, Shard, TensorGroup};
use crate::spec::model::{Architecture, RecurrentSpec};
use crate::spec::precision::Role;

pub fn tensors(a: &Architecture, r: &RecurrentSpec) -> Vec<TensorGroup> {
    let (h, l, inner) = (a.hidden_size, r.layers, r.inner());
    let in_rows = 2 * inner + 2 * r.key() + r.heads;
    let mut g = vec![
        group(
            "layers.*.mixer.in_proj.weight",
            Role::AttnQkv,
            in_rows,
            h,
            l,
            Shard::Rows,
        ),
        group(
            "layers.*.mixer.conv1d.weight",
            Role::Other,
            r.conv_dim(),
            r.conv_kernel,
            l,
            Shard::Rows,
        ),
        group(
            "layers.*.mixer.out_proj.weight",
            Role::AttnOut,
            h,
            inner,
            l,
            Shard::Cols,
        ),
    ];
    let mut per_head = group("layers.*.mixer.A_log+D+dt_bias", Role::Norm, 1, r.heads, l, Shard::Rows);
    per_head.count_per_layer = 3;
    g.push(per_head);
    if r.conv_bias {
        g.push(group(
            "layers.*.mixer.conv1d.bias",
            Role::Bias,
            1,
            r.conv_dim(),
            l,
            Shard::Rows,
        ));
    }
    if r.proj_bias {
        g.push(group(
            "layers.*.mixer.in_proj.bias",
            Role::Bias,
            1,
            in_rows,
            l,
            Shard::Rows,
        ));
        g.push(group(
            "layers.*.mixer.out_proj.bias",
            Role::Bias,
            1,
            h,
            l,
            Shard::Replicated,
        ));
    }
    if r.gated_norm {
        g.push(group(
            "layers.*.mixer.norm.weight",
            Role::Norm,
            1,
            inner,
            l,
            Shard::Rows,
        ));
    }
    g
}
