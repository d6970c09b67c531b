//! llama.cpp start-up buffers against today's llama.cpp accounting (`estimate::engine::llamacpp`):
//! model and KV buffers exact to the printed 0.01 MiB, the compute buffer within 5%.

use super::{gpu, model, options, printed_on, Check, Loaded, Tolerance};
use crate::estimate::engine::Figures;
use crate::spec::gpu::MIB;
use crate::spec::Catalog;

/// The compute buffer's target (issue 9).
pub const COMPUTE_TOLERANCE: f64 = 0.05;
/// llama.cpp prints MiB with two decimals.
pub const PRINTED_MIB: f64 = 0.01;

pub fn check(f: &Loaded, catalog: &Catalog) -> Result<Vec<Check>, String> {
    let model = model(f, catalog)?;
    let gpu = gpu(f, catalog)?;
    let mut opts = options(f, &model)?;
    opts.runtime = Some(crate::estimate::engine::EngineId::LlamaCpp.profile());
    let report = crate::plan::fit(&model, &gpu, &opts);
    let Some(Figures::LlamaCpp(fig)) = &report.engine.figures else {
        return Err("the estimate has no llama.cpp figures".into());
    };
    let id = &f.evidence.id;
    let mut checks = vec![];
    for (figure, device, predicted, tolerance) in [
        (
            "model_buffer_mib",
            "CUDA0",
            fig.model_buffer_bytes,
            Tolerance::Absolute(PRINTED_MIB),
        ),
        (
            "kv_buffer_mib",
            "CUDA0",
            fig.kv_buffer_bytes,
            Tolerance::Absolute(PRINTED_MIB),
        ),
        (
            "compute_buffer_mib",
            "CUDA0",
            fig.compute_buffer_bytes,
            Tolerance::Relative(COMPUTE_TOLERANCE),
        ),
    ] {
        if let Some(p) = printed_on(f, figure, device) {
            checks.push(Check {
                evidence: id.clone(),
                figure: format!("{figure}.{device}"),
                predicted: predicted as f64 / MIB as f64,
                printed: p,
                tolerance,
            });
        }
    }
    Ok(checks)
}
