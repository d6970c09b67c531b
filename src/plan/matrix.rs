//! `gpuplan matrix`: which GPU fits which model, at which precision and context. Built for the whole
//! catalog in one pass: model facts once per model, weights once per (model, precision), one prepared
//! estimate per GPU, then cheap evaluations per context.

use super::evidence::{self, EngineBands};
use super::{solve, Options};
use crate::estimate::{throughput, EngineId, ModelFacts, Prepared, WeightFacts};
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
}

#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    pub models: Vec<String>,
    pub gpus: Vec<String>,
    pub precisions: Vec<String>,
    pub contexts: Vec<u64>,
    /// the engine asked for; None = each format on the engine a user would run it with
    pub runtime: Option<EngineId>,
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
        batch,
        bands,
        cells,
    }
}
