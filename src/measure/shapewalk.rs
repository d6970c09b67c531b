//! The zero-memory shape walk: build a model at FULL size over broadcast scalars (every tensor is
//! one element viewed at its shape) and sum the shapes it asks for. The runner's model code builds
//! exactly these tensors when it runs, so equality with the estimator's inventory proves the runner
//! builds what the estimator counts, for every variant, without a byte of weights.

use super::runner::{self, weights::Loader, weights::ShapeWalk};
use crate::spec::{Format, ModelSpec};
use candle_core::Device;
use std::sync::Arc;

/// What the walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    pub parameters: u64,
    pub tensors: u64,
    /// (name, shape) of every tensor, in build order
    pub shapes: Vec<(String, Vec<usize>)>,
}

/// Builds `model` in bf16 over broadcast scalars on the CPU and returns what it requested.
pub fn walk(model: &ModelSpec) -> anyhow::Result<Walk> {
    let format = Format::parse("bf16").ok_or_else(|| anyhow::anyhow!("bf16 format missing"))?;
    let loader = Arc::new(Loader::new(Box::new(ShapeWalk), format, Device::Cpu, model).recording());
    let counted = runner::build_only(model, loader.clone())?;
    Ok(Walk {
        parameters: counted.params,
        tensors: counted.tensors,
        shapes: loader.log(),
    })
}
