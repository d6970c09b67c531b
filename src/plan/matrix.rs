//! `gpuplan matrix`: which GPU fits which model, at which precision and context. Built for the whole
//! catalog in one pass: model facts once per model, weights once per (model, precision), one prepared
//! estimate per GPU, then cheap evaluations per context.

use super::evidence::{self, EngineBands};
use super::{solve, Options};
use crate::estimate::engine::llamacpp::weights::is_gguf;
use crate::estimate::engine::offload::solve::{self as split_search, Knob};
use crate::estimate::engine::offload::{self, speed::HYBRID, MODELED};
use crate::estimate::engine::Settings;
use crate::estimate::{throughput, EngineId, ModelFacts, Prepared, WeightFacts};
use crate::spec::host::Host;
use crate::spec::{Format, GpuSpec, ModelSpec};
use serde::Serialize;
use std::sync::Arc;

/// One (model, GPU, precision, context) answer. The ids are shared, not copied, between the cells
/// of one matrix (a full-catalog matrix has 100k+ cells).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cell {
    pub model: Arc<str>,
    pub gpu: Arc<str>,
    pub precision: &'static str,
    /// the engine estimated (the chosen one, or the format's usual one)
    pub engine: EngineId,
    pub context: u64,
    pub fits: bool,
    pub total_bytes: u64,
    pub available_bytes: u64,
    /// largest context that fits at batch 1 (independent of `context`)
    pub max_context: Option<u64>,
    /// decode tokens/s at `context` (batch 1), when it fits
    pub decode_tokens_per_s: Option<f64>,
    /// when it does not fit whole: the llama.cpp split with the least in the host's RAM that fits
    /// (a host given, a GGUF format)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offload: Option<OffloadCell>,
}

/// A cell that fits with part of the model in the host's RAM: the fastest such split (the least on
/// the host; `offload::solve::Plan::least_offload`).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct OffloadCell {
    /// `--n-cpu-moe N` (MoE) or `-ngl N` (dense)
    pub split: Knob,
    /// bytes on the GPU and in the host's RAM at the cell's context
    pub gpu_bytes: u64,
    pub host_bytes: u64,
    /// decode tokens/s at the cell's context; None without the host's bandwidth
    pub decode_tokens_per_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    pub models: Vec<String>,
    pub gpus: Vec<String>,
    pub precisions: Vec<String>,
    pub contexts: Vec<u64>,
    /// the engine asked for; None = each format on the engine a user would run it with
    pub runtime: Option<EngineId>,
    /// the host whose RAM llama.cpp cells may spill into (`--host`); None: no offload cells
    pub host: Option<String>,
    pub batch: u64,
    /// how far the memory and decode figures may be off, per engine in the cells
    pub bands: Vec<EngineBands>,
    pub cells: Vec<Cell>,
}

/// Every combination of models x precisions x GPUs x contexts. `precisions` empty = each model's dtype;
/// `contexts` empty = each model's default context. Contexts above a model's maximum are skipped.
pub fn matrix(
    models: &[ModelSpec],
    gpus: &[GpuSpec],
    precisions: &[&'static Format],
    contexts: &[u64],
    opts: &Options,
) -> Matrix {
    let batch = opts.batch.max(1);
    let mut bands: Vec<EngineBands> = Vec::new();
    // one allocation for every cell: growing a vector of 100k+ cells copies it over and over
    let per_model = precisions.len().max(1) * gpus.len() * contexts.len().max(1);
    let mut cells = Vec::with_capacity(models.len() * per_model);
    let gpu_ids: Vec<Arc<str>> = gpus.iter().map(|g| Arc::from(g.id.as_str())).collect();
    for model in models {
        let model_id: Arc<str> = Arc::from(model.id.as_str());
        let facts = ModelFacts::new(model);
        let formats: Vec<&'static Format> = if precisions.is_empty() {
            vec![opts.format_for(model)]
        } else {
            precisions.to_vec()
        };
        let ctxs: Vec<u64> = if contexts.is_empty() {
            vec![opts.context_for(model)]
        } else {
            contexts.to_vec()
        };
        for &format in &formats {
            let o = Options {
                precision: Some(format),
                ..*opts
            };
            let setup = o.setup(model);
            if !bands.iter().any(|b| b.engine == setup.runtime.id) {
                bands.push(EngineBands {
                    engine: setup.runtime.id,
                    bands: evidence::bands(setup.runtime, None),
                });
            }
            let weights = WeightFacts::new(model, &facts, format, setup.tp);
            for (gpu, gpu_id) in gpus.iter().zip(&gpu_ids) {
                let p = Prepared::new(setup, gpu, &facts, &weights);
                let max_context = solve::max_context(&p, batch);
                for &context in ctxs.iter().filter(|&&c| c <= model.max_context) {
                    let total = p.total(context, batch);
                    let fits = p.fits(context, batch);
                    let offload = match (opts.host, fits) {
                        (Some(host), false) => offload_cell(&p, host, context, batch),
                        _ => None,
                    };
                    cells.push(Cell {
                        model: model_id.clone(),
                        gpu: gpu_id.clone(),
                        precision: format.id,
                        engine: setup.runtime.id,
                        context,
                        fits,
                        total_bytes: total,
                        available_bytes: p.budget,
                        max_context,
                        decode_tokens_per_s: fits
                            .then(|| throughput::decode_step_s(&p, context, batch).0)
                            .map(|s| batch as f64 / s),
                        offload,
                    });
                }
            }
        }
    }
    Matrix {
        models: models.iter().map(|m| m.id.clone()).collect(),
        gpus: gpus.iter().map(|g| g.id.clone()).collect(),
        precisions: if precisions.is_empty() {
            vec![]
        } else {
            precisions.iter().map(|f| f.id.to_string()).collect()
        },
        contexts: contexts.to_vec(),
        runtime: opts.runtime.map(|r| r.id),
        host: opts.host.map(|h| h.id.clone()),
        batch,
        bands,
        cells,
    }
}

/// The offload cell of `p` (a llama.cpp setup in a GGUF format that does not fit whole) on `host`,
/// from its model's plan for this context (remembered: built once for every GPU).
fn offload_cell(p: &Prepared, host: &Host, context: u64, batch: u64) -> Option<OffloadCell> {
    let Settings::LlamaCpp(s) = &p.settings else {
        return None;
    };
    if !is_gguf(p.setup.format) {
        return None;
    }
    let plan = split_search::plan(p, s, offload::devices(p), context, batch, &MODELED);
    let row = plan.least_offload(p, Some(host), &HYBRID)?;
    Some(OffloadCell {
        split: row.knob,
        gpu_bytes: row.gpu_bytes,
        host_bytes: row.host_bytes,
        decode_tokens_per_s: row.decode.map(|d| d.tokens_per_s),
    })
}
