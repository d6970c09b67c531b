//! Weight memory: the exact bytes of every tensor in the chosen format, per GPU under tensor
//! parallelism.

use super::arch::{Inventory, Part, Shard, TensorGroup};
use crate::spec::precision::{Format, QuantTensor, Role, StorageType, TypeRules};
use serde::Serialize;
use std::ops::Range;

/// Which of a group's layers one GPU holds: `0..g.layers` for all of them ([`all_layers`]);
/// pipeline stages hold a contiguous slice of the decoder layers (`estimate::pipeline`).
pub type LayerSelect<'a> = &'a dyn Fn(&TensorGroup) -> Range<u64>;

/// Every layer of every group: one GPU (or one tensor-parallel rank) holds the whole model.
pub fn all_layers(g: &TensorGroup) -> Range<u64> {
    0..g.layers
}

/// What part of the model a weights line holds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum Component {
    #[serde(rename = "embeddings")]
    Embeddings,
    #[serde(rename = "lm_head")]
    LmHead,
    #[serde(rename = "attention")]
    Attention,
    #[serde(rename = "mlp")]
    Mlp,
    #[serde(rename = "experts")]
    Experts,
    #[serde(rename = "router")]
    Router,
    #[serde(rename = "norms + biases")]
    NormsBiases,
    #[serde(rename = "vision encoder + projector")]
    Vision,
}

impl Component {
    /// The name JSON and tables use.
    pub fn name(self) -> &'static str {
        match self {
            Component::Embeddings => "embeddings",
            Component::LmHead => "lm_head",
            Component::Attention => "attention",
            Component::Mlp => "mlp",
            Component::Experts => "experts",
            Component::Router => "router",
            Component::NormsBiases => "norms + biases",
            Component::Vision => "vision encoder + projector",
        }
    }
}

/// One line of the weights breakdown.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WeightLine {
    pub component: Component,
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
        // a vector (a bias) split with its layer's output features: its length
        Shard::Rows if g.rows == 1 => (1, g.cols.div_ceil(tp)),
        Shard::KvHeads if g.rows == 1 && kv_heads >= tp => (1, g.cols.div_ceil(tp)),
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

/// What one GPU holds of a tensor group, computed in one pass.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupBytes {
    /// Σ over the group's tensors of `storage.bytes(rows, cols)`
    pub bytes: u64,
    /// Σ over its tensors of ceil(b / 2 MiB) x 2 MiB − b: what 2 MiB allocation granularity adds
    pub rounding_2mib: u64,
    /// the same when each layer's copies (experts) are stacked into one tensor
    pub rounding_2mib_stacked: u64,
    /// the distinct storage types used (several for GGUF K-quant mixes)
    pub storages: Vec<StorageType>,
    /// layers of the group counted (all of them, or a pipeline stage's slice)
    pub layers: u64,
}

/// Bytes one GPU holds for the layers `layers` of a tensor group (all of them, or a pipeline stage's
/// slice). The storage type may depend on the layer index (GGUF K-quant and i-quant mixes, a GGUF
/// file's own per-tensor types), so those groups are summed layer by layer; otherwise the formula is
/// layers x count x bytes(rows/tp, cols). Layer indices stay global, so the per-layer type rules see
/// the same index as in the whole model and the stages add up exactly to the whole. Allocation
/// rounding is per tensor, exactly.
pub fn group_in(
    g: &TensorGroup,
    format: &Format,
    rules: &TypeRules,
    tp: u64,
    kv_heads: u64,
    layers: Range<u64>,
) -> GroupBytes {
    let layers = layers.start.min(g.layers)..layers.end.min(g.layers);
    let (rows, cols) = shard_shape(g, tp, kv_heads);
    let mut out = GroupBytes {
        bytes: 0,
        rounding_2mib: 0,
        rounding_2mib_stacked: 0,
        storages: Vec::new(),
        layers: layers.end.saturating_sub(layers.start),
    };
    if out.layers == 0 {
        return out;
    }
    let round = allocation_waste;
    let mut add = |layer: Option<u64>, layers: u64| {
        let tensor = QuantTensor {
            role: g.role,
            layer,
            rows: g.rows,
            cols: g.cols,
        };
        let storage = format.storage_for(&tensor, rules);
        let one = storage.bytes(rows, cols);
        let tensors = layers * g.count_per_layer;
        out.bytes += one * tensors;
        out.rounding_2mib += round(one) * tensors;
        out.rounding_2mib_stacked += if g.routed_expert {
            round(one * g.count_per_layer) * layers
        } else {
            round(one) * tensors
        };
        if !out.storages.contains(&storage) {
            out.storages.push(storage);
        }
    };
    let per_layer_types = format.layer_dependent() || rules.checkpoint.is_some_and(|q| !q.gguf_types.is_empty());
    if g.per_decoder_layer && per_layer_types {
        for i in layers {
            add(Some(i), 1);
        }
    } else {
        add(g.per_decoder_layer.then_some(layers.start), layers.end - layers.start);
    }
    out
}

/// The allocation granularity of caching allocators for large blocks: 2 MiB (PyTorch `kRoundLarge`,
/// the CUDA memory-pool page).
pub const GRANULE: u64 = 2 << 20;

/// Bytes a caching allocator adds to one allocation of `b` bytes. PyTorch's CUDACachingAllocator
/// rounds requests to 512 B (`kMinBlockSize`), carves those under 10 MiB (`kMinLargeAlloc`) out of
/// shared 2 MiB / 20 MiB segments, and rounds larger ones up to 2 MiB (`kRoundLarge`).
pub fn allocation_waste(b: u64) -> u64 {
    let granule = if b < 10 << 20 { 512 } else { GRANULE };
    b.div_ceil(granule) * granule - b
}

fn component(g: &TensorGroup) -> Component {
    if g.part == Part::Vision {
        return Component::Vision;
    }
    match g.role {
        Role::Embedding => Component::Embeddings,
        Role::LmHead => Component::LmHead,
        Role::AttnQkv | Role::AttnK | Role::AttnV | Role::AttnOut => Component::Attention,
        Role::MlpUp | Role::MlpDown => Component::Mlp,
        Role::Expert | Role::ExpertDown => Component::Experts,
        Role::Router => Component::Router,
        Role::Norm | Role::Bias => Component::NormsBiases,
        Role::Vision | Role::Projector | Role::Other => Component::Vision,
    }
}

fn label(s: StorageType, cols: u64) -> String {
    match s {
        StorageType::Ggml(t) => t.for_row(cols).name().to_string(),
        other => other.label(),
    }
}

/// Weight bytes per GPU grouped by component (in inventory order), from per-group results
/// `per_group[i]` for `inv.groups[i]`; groups of which no layer is held are left out.
pub fn breakdown(inv: &Inventory, per_group: &[GroupBytes]) -> Vec<WeightLine> {
    let mut lines: Vec<WeightLine> = Vec::new();
    let mut storages: Vec<Vec<String>> = Vec::new();
    for (g, gb) in inv.groups.iter().zip(per_group) {
        if gb.layers == 0 {
            continue;
        }
        let name = component(g);
        let idx = match lines.iter().position(|l| l.component == name) {
            Some(i) => i,
            None => {
                lines.push(WeightLine {
                    component: name,
                    parameters: 0,
                    bytes: 0,
                    storage: String::new(),
                });
                storages.push(Vec::new());
                lines.len() - 1
            }
        };
        // parameters are counted whole (not per GPU), for the layers held
        lines[idx].parameters += g.numel() / g.layers.max(1) * gb.layers;
        lines[idx].bytes += gb.bytes;
        for s in &gb.storages {
            let l = label(*s, g.cols);
            if !storages[idx].contains(&l) {
                storages[idx].push(l);
            }
        }
    }
    for (line, s) in lines.iter_mut().zip(storages) {
        line.storage = s.join(", ");
    }
    lines
}

/// Largest single tensor in elements (for the f32 widening transient of candle's CPU bf16 matmul).
pub fn largest_matrix(inv: &Inventory) -> u64 {
    inv.groups
        .iter()
        .filter(|g| g.rows > 1)
        .map(|g| g.rows * g.cols)
        .max()
        .unwrap_or(0)
}
