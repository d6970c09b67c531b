//! Dense MLP: gate+up+down (SwiGLU / GeGLU), a 2x-wide up + down (Phi-3-small gegelu), or up+down.

use super::{group, Shard, TensorGroup};
use crate::spec::model::{Architecture, MlpKind};
use crate::spec::precision::Role;

/// Dense MLP: gate+up+down (gated), a 2x-wide up + down (Phi-3-small gegelu), or up+down (plain).
pub fn tensors(a: &Architecture) -> Vec<TensorGroup> {
    let (h, i, l) = (a.hidden_size, a.intermediate_size, a.mlp_layer_count());
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
    let (h, i, l) = (a.hidden_size, a.intermediate_size, a.mlp_layer_count());
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
