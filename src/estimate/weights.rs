//! Weight memory: the exact bytes of every tensor in the chosen format, per GPU under tensor
//! parallelism.

use super::arch::{Inventory, Part, Shard, TensorGroup};
use crate::spec::precision::{Format, Role};
use serde::Serialize;
use std::ops::Range;

/// Which of a group's layers one GPU holds (`0..g.layers` for all of them; pipeline stages hold a
/// contiguous slice of the decoder layers, see `estimate::pipeline`).
pub type LayerSelect<'a> = &'a dyn Fn(&TensorGroup) -> Range<u64>;

/// Every layer of every group: one GPU (or one tensor-parallel rank) holds the whole model.
pub fn all_layers(g: &TensorGroup) -> Range<u64> {
    0..g.layers
}

/// One line of the weights breakdown.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WeightLine {
    pub component: &'static str,
    pub parameters: u64,
    pub bytes: u64,
    /// storage types used, e.g. "Q4_K, Q6_K"
    pub storage: String,
}

/// Rows and columns one GPU holds of a tensor split `tp` ways (ceil: uneven splits pad the last
/// shard). KV-head-sharded tensors replicate whole heads when there are fewer KV heads than GPUs.
pub fn shard_shape(g: &TensorGroup, tp: u64, kv_heads: u64) -> (u64, u64) {
    if tp <= 1 {
        return (g.rows, g.cols);
    }
    match g.shard {
        Shard::Rows => (g.rows.div_ceil(tp), g.cols),
        Shard::Cols => (g.rows, g.cols.div_ceil(tp)),
        Shard::KvHeads if kv_heads >= tp => (g.rows.div_ceil(tp), g.cols),
        Shard::KvHeads => {
            // each GPU keeps one full KV head: rows / kv_heads (or the vector length / kv_heads)
            let kv = kv_heads.max(1);
            if g.rows > 1 {
                (g.rows / kv, g.cols)
            } else {
                (1, g.cols / kv)
            }
        }
        Shard::Replicated => (g.rows, g.cols),
    }
}

/// Bytes one GPU holds for a tensor group: Σ over its tensors of `storage.bytes(rows, cols)`, where
/// the storage type may depend on the layer index (GGUF K-quant mixes), so those groups are summed
/// layer by layer. Formula: layers x count x bytes(rows/tp, cols) in the common case.
pub fn group_bytes(g: &TensorGroup, format: &Format, fused_qkv: bool, tp: u64, kv_heads: u64) -> u64 {
    group_bytes_in(g, format, fused_qkv, tp, kv_heads, all_layers(g))
}

/// [`group_bytes`] for the layers `layers` of the group only (a pipeline stage's slice). Layer
/// indices stay global, so GGUF's per-layer type rule (`use_more_bits(i, n)`) sees the same `i` as
/// in the whole model and the stages sum exactly to the whole.
pub fn group_bytes_in(g: &TensorGroup, format: &Format, fused_qkv: bool, tp: u64, kv_heads: u64, layers: Range<u64>) -> u64 {
    let (rows, cols) = shard_shape(g, tp, kv_heads);
    let layers = layers.start.min(g.layers)..layers.end.min(g.layers);
    let per_layer = |layer: Option<(u64, u64)>| {
        format.storage_for(g.role, layer, fused_qkv).bytes(rows, cols) * g.count_per_layer
    };
    if g.per_decoder_layer && format.promote.is_some() {
        layers.map(|i| per_layer(Some((i, g.layers)))).sum()
    } else {
        per_layer(None) * (layers.end - layers.start)
    }
}

fn component(g: &TensorGroup) -> &'static str {
    if g.part == Part::Vision {
        return "vision encoder + projector";
    }
    match g.role {
        Role::Embedding => "embeddings",
        Role::LmHead => "lm_head",
        Role::AttnQkv | Role::AttnV | Role::AttnOut => "attention",
        Role::MlpUp | Role::MlpDown => "mlp",
        Role::Expert | Role::ExpertDown => "experts",
        Role::Router => "router",
        Role::Norm | Role::Bias => "norms + biases",
        Role::Vision | Role::Projector | Role::Other => "vision encoder + projector",
    }
}

/// Weight bytes per GPU, grouped by component, in inventory order.
pub fn breakdown(inv: &Inventory, format: &Format, tp: u64, kv_heads: u64) -> Vec<WeightLine> {
    breakdown_in(inv, format, tp, kv_heads, &all_layers)
}

/// [`breakdown`] of the selected layers of each group; groups with none selected are left out.
pub fn breakdown_in(inv: &Inventory, format: &Format, tp: u64, kv_heads: u64, select: LayerSelect) -> Vec<WeightLine> {
    let mut lines: Vec<WeightLine> = Vec::new();
    let mut storages: Vec<Vec<String>> = Vec::new();
    for g in &inv.groups {
        let range = select(g);
        let held = range.end.min(g.layers).saturating_sub(range.start);
        if held == 0 {
            continue;
        }
        let name = component(g);
        let bytes = group_bytes_in(g, format, inv.fused_qkv, tp, kv_heads, range);
        let idx = match lines.iter().position(|l| l.component == name) {
            Some(i) => i,
            None => {
                lines.push(WeightLine { component: name, parameters: 0, bytes: 0, storage: String::new() });
                storages.push(Vec::new());
                lines.len() - 1
            }
        };
        // parameters are counted whole (not per GPU), for the layers held
        lines[idx].parameters += g.numel() / g.layers.max(1) * held;
        lines[idx].bytes += bytes;
        for label in storage_labels(g, format, inv.fused_qkv) {
            if !storages[idx].contains(&label) {
                storages[idx].push(label);
            }
        }
    }
    for (line, s) in lines.iter_mut().zip(storages) {
        line.storage = s.join(", ");
    }
    lines
}

fn storage_labels(g: &TensorGroup, format: &Format, fused_qkv: bool) -> Vec<String> {
    let layers: Vec<Option<(u64, u64)>> = if g.per_decoder_layer && format.promote.is_some() {
        (0..g.layers).map(|i| Some((i, g.layers))).collect()
    } else {
        vec![None]
    };
    let mut out: Vec<String> = Vec::new();
    for l in layers {
        let s = format.storage_for(g.role, l, fused_qkv);
        let label = match s {
            crate::spec::precision::StorageType::Ggml(t) => t.for_row(g.cols).name().to_string(),
            other => other.label(),
        };
        if !out.contains(&label) {
            out.push(label);
        }
    }
    out
}

/// Bytes lost to allocation granularity: each tensor rounds up to `granularity` bytes
/// (Σ ceil(b/g)·g − b). Caching allocators hand out large blocks in 2 MiB steps.
pub fn allocator_rounding(inv: &Inventory, format: &Format, tp: u64, kv_heads: u64, granularity: u64) -> u64 {
    allocator_rounding_in(inv, format, tp, kv_heads, granularity, &all_layers)
}

/// [`allocator_rounding`] over the selected layers of each group.
pub fn allocator_rounding_in(inv: &Inventory, format: &Format, tp: u64, kv_heads: u64, granularity: u64, select: LayerSelect) -> u64 {
    if granularity <= 1 {
        return 0;
    }
    inv.groups
        .iter()
        .map(|g| {
            let range = select(g);
            let held = range.end.min(g.layers).saturating_sub(range.start);
            let tensors = held * g.count_per_layer;
            let one = group_bytes_in(g, format, inv.fused_qkv, tp, kv_heads, range) / tensors.max(1);
            (one.div_ceil(granularity) * granularity - one) * tensors
        })
        .sum()
}

/// Largest single tensor in elements (for the f32 widening transient of candle's CPU bf16 matmul).
pub fn largest_matrix(inv: &Inventory) -> u64 {
    inv.groups.iter().filter(|g| g.rows > 1).map(|g| g.rows * g.cols).max().unwrap_or(0)
}
