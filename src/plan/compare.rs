//! `gpuplan compare`: several models side by side on one GPU, each with the same options.

use super::{fit, FitReport, Options};
use crate::spec::{GpuSpec, ModelSpec};

pub fn compare(models: &[ModelSpec], gpu: &GpuSpec, opts: &Options) -> Vec<FitReport> {
    models.iter().map(|m| fit(m, gpu, opts)).collect()
}
