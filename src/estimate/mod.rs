//! The estimator: pure functions from specs to bytes and seconds. No I/O.
//!
//! Use: build [`ModelFacts`] once per model, [`WeightFacts`] once per (model, format, GPUs), then a
//! [`Prepared`] per GPU and runtime; `Prepared::memory(context, batch)` is then cheap enough to call
//! inside searches (max context, max batch) and full-catalog matrices.

pub mod activations;
pub mod arch;
pub mod breakdown;
pub mod engine;
pub mod generic;
pub mod interconnect;
pub mod kv;
pub mod memory;
pub mod overhead;
pub mod pipeline;
pub mod prepared;
pub mod recent;
pub mod search;
pub mod speed;
pub mod stage;
pub mod throughput;
pub mod weights;

pub use breakdown::{Memory, Phase, Term};
pub use engine::{EngineId, EngineReport, Runtime};
pub use overhead::EccMode;
pub use prepared::Prepared;
pub use throughput::Throughput;

use crate::spec::model::ModelSpec;
use crate::spec::precision::{Format, KvPrecision};

use arch::Inventory;
use serde::Serialize;

/// What is run and how: everything a memory estimate depends on except context and batch.
#[derive(Debug, Clone, Copy)]
pub struct Setup<'a> {
    pub model: &'a ModelSpec,
    pub format: &'static Format,
    pub kv: KvPrecision,
    pub runtime: &'a Runtime,
    /// tensor-parallel degree (GPUs per pipeline stage)
    pub tp: u64,
    /// pipeline-parallel stages (decoder layers split in order; 1 = none), see [`pipeline`]
    pub pp: u64,
    /// the stage this estimate is for (0-based, < `pp`); each stage is one tensor-parallel group
    pub stage: u64,
    /// images per sequence (vision models)
    pub images: u64,
    /// HD crops per image (vision models); 0 = the model's default
    pub crops: u64,
    pub ecc: EccMode,
    /// the engine's command-line settings (vLLM, llama.cpp); defaults resolved per GPU
    pub engine: engine::Flags,
}

impl<'a> Setup<'a> {
    /// The model's own dtype and the runtime's default KV precision, one GPU, no images.
    pub fn new(model: &'a ModelSpec, format: &'static Format, runtime: &'a Runtime) -> Self {
        Setup {
            model,
            format,
            kv: runtime.default_kv(format),
            runtime,
            tp: 1,
            pp: 1,
            stage: 0,
            images: 0,
            crops: 0,
            ecc: EccMode::Default,
            engine: engine::Flags::default(),
        }
    }
}

/// Per-model facts, computed once.
#[derive(Debug, Clone, Serialize)]
pub struct ModelFacts {
    pub inventory: Inventory,
    pub parameters: u64,
    pub active_parameters: u64,
    /// true when counts come from the architecture (false: summary spec, coarse estimate)
    pub exact: bool,
}

impl ModelFacts {
    pub fn new(model: &ModelSpec) -> Self {
        let inventory = arch::inventory(model);
        let (parameters, active_parameters) = if inventory.exact {
            (inventory.parameters(), inventory.active_parameters())
        } else {
            let total = model.parameters.unwrap_or(0);
            (total, model.active_parameters.unwrap_or(total))
        };
        ModelFacts {
            exact: inventory.exact,
            inventory,
            parameters,
            active_parameters,
        }
    }
}

/// Per-(model, format, tensor-parallel degree) weight facts, computed once.
#[derive(Debug, Clone, Serialize)]
pub struct WeightFacts {
    pub lines: Vec<weights::WeightLine>,
    /// all weight bytes on one GPU
    pub total: u64,
    /// embedding table bytes (only looked up, not read whole, per decode step)
    pub embedding: u64,
    /// routed-expert bytes (read only for the experts a batch touches)
    pub experts: u64,
    /// vision tower bytes (read at prefill with images only)
    pub vision: u64,
    /// rounding of every tensor to 2 MiB
    pub rounding_2mib: u64,
    /// the same with each layer's experts stacked in one tensor
    pub rounding_2mib_stacked: u64,
    /// elements of the largest matrix
    pub largest_matrix: u64,
    /// output rows of the largest matrix
    pub largest_rows: u64,
    /// the format these facts are for
    #[serde(skip)]
    pub format: &'static str,
    /// llama.cpp's weight tensors of the model in this format, built on first use: every context
    /// probed on every GPU for this model and format reads the same list
    #[serde(skip)]
    pub(crate) llamacpp_tensors: std::sync::OnceLock<Vec<engine::llamacpp::weights::Tensor>>,
    /// their buffers under the first placement asked for ((gpu_layers, mmap)): every probe of a
    /// search and every cell of a matrix asks for the same one
    #[serde(skip)]
    pub(crate) llamacpp_placed: std::sync::OnceLock<((u64, bool), engine::llamacpp::weights::ModelBuffers)>,
    /// the order of those tensors in the file (`llama-quantize`'s): every split of a search reads it
    #[serde(skip)]
    pub(crate) llamacpp_order: std::sync::OnceLock<Vec<usize>>,
}

impl WeightFacts {
    pub fn new(model: &ModelSpec, facts: &ModelFacts, format: &Format, tp: u64) -> Self {
        Self::for_layers(model, facts, format, tp, &weights::all_layers)
    }

    /// The weights of the layers `select` picks (a pipeline stage: [`stage::stage_weights`]).
    pub fn for_layers(
        model: &ModelSpec,
        facts: &ModelFacts,
        format: &Format,
        tp: u64,
        select: weights::LayerSelect,
    ) -> Self {
        let inv = &facts.inventory;
        let kv_heads = model.architecture.as_ref().map(|a| a.kv_heads()).unwrap_or(1);
        let rules = crate::spec::precision::TypeRules {
            model: &inv.gguf,
            checkpoint: model.checkpoint_quantization(format),
        };
        let per_group: Vec<weights::GroupBytes> = inv
            .groups
            .iter()
            .map(|g| weights::group_in(g, format, &rules, tp, kv_heads, select(g)))
            .collect();
        let sum_where = |pred: &dyn Fn(&arch::TensorGroup) -> bool| -> u64 {
            inv.groups
                .iter()
                .zip(&per_group)
                .filter(|(g, _)| pred(g))
                .map(|(_, b)| b.bytes)
                .sum()
        };
        let largest = inv
            .groups
            .iter()
            .zip(&per_group)
            .filter(|(g, b)| g.rows > 1 && b.layers > 0)
            .map(|(g, _)| g)
            .max_by_key(|g| g.rows * g.cols);
        WeightFacts {
            total: per_group.iter().map(|b| b.bytes).sum(),
            embedding: sum_where(&|g| g.role == crate::spec::precision::Role::Embedding),
            experts: sum_where(&|g| g.routed_expert),
            vision: sum_where(&|g| g.part == arch::Part::Vision),
            rounding_2mib: per_group.iter().map(|b| b.rounding_2mib).sum(),
            rounding_2mib_stacked: per_group.iter().map(|b| b.rounding_2mib_stacked).sum(),
            largest_matrix: largest.map(|g| g.rows * g.cols).unwrap_or(0),
            largest_rows: largest.map(|g| g.rows).unwrap_or(0),
            lines: weights::breakdown(inv, &per_group),
            format: format.id,
            llamacpp_tensors: std::sync::OnceLock::new(),
            llamacpp_placed: std::sync::OnceLock::new(),
            llamacpp_order: std::sync::OnceLock::new(),
        }
    }
}
