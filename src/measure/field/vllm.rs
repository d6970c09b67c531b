//! vLLM start-up logs against today's vLLM accounting (`estimate::engine::vllm`): the printed
//! weights, available KV cache, KV cache tokens and concurrency, and whether vLLM started.

use super::{gpu, model, options, printed, Check, Loaded, Tolerance};
use crate::estimate::engine::Figures;
use crate::spec::gpu::GIB;
use crate::spec::Catalog;

/// Available KV within ±3% (issue 9's target); weights to the log's rounding.
pub const AVAILABLE_KV_TOLERANCE: f64 = 0.03;

pub fn check(f: &Loaded, catalog: &Catalog) -> Result<Vec<Check>, String> {
    let model = model(f, catalog)?;
    let gpu = gpu(f, catalog)?;
    let mut opts = options(f, &model)?;
    opts.runtime = Some(crate::estimate::engine::EngineId::Vllm.profile());
    let report = crate::plan::fit(&model, &gpu, &opts);
    let Some(Figures::Vllm(fig)) = &report.engine.figures else {
        return Err("the estimate has no vLLM figures".into());
    };
    let id = &f.evidence.id;
    let mut checks = vec![];
    let mut push = |figure: &str, predicted: f64, tolerance| {
        if let Some(p) = printed(f, figure) {
            checks.push(Check {
                evidence: id.clone(),
                figure: figure.into(),
                predicted,
                printed: p,
                tolerance,
            });
        }
    };
    push(
        "model_weights_gib",
        fig.weights_bytes as f64 / GIB as f64,
        Tolerance::Relative(AVAILABLE_KV_TOLERANCE),
    );
    push(
        "available_kv_cache_gib",
        fig.available_kv_cache_bytes as f64 / GIB as f64,
        Tolerance::Relative(AVAILABLE_KV_TOLERANCE),
    );
    push(
        "kv_cache_tokens",
        fig.kv_cache_tokens as f64,
        Tolerance::Relative(AVAILABLE_KV_TOLERANCE),
    );
    if let Some(starts) = f.evidence.printed.get("starts").and_then(serde_json::Value::as_bool) {
        checks.push(Check {
            evidence: id.clone(),
            figure: "starts".into(),
            predicted: f64::from(u8::from(report.engine.starts)),
            printed: f64::from(u8::from(starts)),
            tolerance: Tolerance::Absolute(0.0),
        });
    }
    Ok(checks)
}
