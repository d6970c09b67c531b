//! Summary-level specs: only parameter counts are known. The inventory is one pseudo-tensor holding
//! every parameter, treated as quantizable; the estimate built on it is marked coarse.

use super::{Inventory, Part, Shard, TensorGroup};
use crate::spec::model::ModelSpec;
use crate::spec::precision::{GgufModel, Role};

pub fn inventory(spec: &ModelSpec) -> Inventory {
    let total = spec.parameters.unwrap_or(0);
    let active = spec.active_parameters.unwrap_or(total).min(total);
    let mut groups = Vec::new();
    let mut push = |name, n: u64, routed| {
        if n > 0 {
            groups.push(TensorGroup {
                name,
                role: Role::MlpUp,
                rows: 1,
                cols: n,
                layers: 1,
                count_per_layer: 1,
                per_decoder_layer: false,
                routed_expert: routed,
                shard: Shard::Rows,
                part: Part::Text,
            });
        }
    };
    push("all parameters (summary spec)", active, false);
    // the inactive remainder behaves like routed experts: resident, rarely read
    push("inactive parameters (summary spec)", total - active, true);
    Inventory {
        groups,
        exact: false,
        moe: (total > active).then_some((0, 1)),
        gguf: GgufModel::default(),
    }
}
