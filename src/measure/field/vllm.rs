//! vLLM start-up logs against today's vLLM accounting (`estimate::engine::vllm`): the printed weights,
//! activation peak, non-torch memory, available KV cache, KV cache tokens and concurrency, and whether
//! vLLM started.
//!
//! The GPU is the catalog's when the evidence names one. When it does not but the log prints torch's
//! total (or the requested share), the check runs on a GPU of exactly that total: the prediction is
//! then conditional on the printed total, which the catalog could not have supplied. A log that shows
//! neither still has its block arithmetic checked: tokens and concurrency from the printed available
//! memory, exact up to the log's rounding.

use super::{gpu, model, options, printed, Check, Field, Figure, Loaded, Tolerance};
use crate::estimate::engine::{vllm, EngineId, Figures};
use crate::plan::Options;
use crate::spec::gpu::GIB;
use crate::spec::{Catalog, GpuSpec, ModelSpec};
use serde_json::Value;

/// Available KV within ±3% (issue 9's target); tokens and concurrency follow it. Not widened where
/// the available memory is small: the non-torch allowance's bound (`vllm::non_torch_bound`, a term
/// vLLM measures and gpuplan cannot derive) then exceeds 3% of it and the log can miss, which
/// `gpuplan evidence` shows as a miss.
pub const AVAILABLE_KV_TOLERANCE: f64 = 0.03;

/// Weights to 0.5%: dense 16-bit models reproduce the printed digits; quantized ones carry scales
/// and repacking gpuplan counts less exactly.
pub const WEIGHTS_TOLERANCE: f64 = 0.005;

/// The activation peak within 0.05 GiB: the printed two decimals, and the forward pass's buffer plan
/// where it, not the sampler, sets the peak (docs/engines/vllm.md).
pub const ACTIVATION_TOLERANCE_GIB: f64 = 0.05;

/// Runs vLLM cannot be held against because gpuplan does not model what they add, with the reason.
fn unmodelled(f: &Loaded) -> Option<&'static str> {
    let s = &f.evidence.settings;
    if s.contains_key("speculative_config") {
        return Some("speculative decoding (the drafter's weights and KV layer) is not modelled");
    }
    None
}

pub fn check(f: &Loaded, catalog: &Catalog) -> Result<Vec<Check>, String> {
    if let Some(why) = unmodelled(f) {
        return Err(why.into());
    }
    let model = model(f, catalog)?;
    let opts = vllm_options(f, &model)?;
    let mut checks = vec![];
    let mut push = |field: Field, predicted: f64, tolerance| {
        if let Some(p) = printed(f, field.key()) {
            checks.push(Check {
                evidence: f.evidence.id.clone(),
                figure: Figure::whole(field),
                predicted,
                printed: p,
                tolerance,
            });
        }
    };
    let Some(gpu) = gpu(f, catalog).ok().or_else(|| gpu_as_printed(f, catalog)) else {
        return block_checks(f, catalog, &model, &opts);
    };
    let report = crate::plan::fit(&model, &gpu, &opts);
    let Some(Figures::Vllm(fig)) = &report.engine.figures else {
        return Err("the estimate has no vLLM figures".into());
    };
    let gib = |b: u64| b as f64 / GIB as f64;
    push(
        Field::ModelWeightsGib,
        gib(fig.weights_bytes),
        Tolerance::Relative(WEIGHTS_TOLERANCE),
    );
    // float32 runs take another attention backend and print a peak 0.52 GiB above the derived one
    // (validation/field/vllm-llama-3.1-8b-fp32-h100-0.19.0.json): not derived, not checked
    if f.evidence.model.precision.as_deref() != Some("fp32") {
        push(
            Field::ActivationPeakGib,
            gib(fig.activation_peak_bytes),
            Tolerance::Absolute(ACTIVATION_TOLERANCE_GIB),
        );
    }
    let tp = opts.gpus.max(1);
    let bound = vllm::non_torch_bound(vllm::non_torch_case_of(&gpu, tp)) as f64 / GIB as f64;
    push(Field::NonTorchGib, gib(fig.non_torch_bytes), Tolerance::Absolute(bound));
    let available = fig.available_kv_cache_bytes as f64 / GIB as f64;
    // with pipeline stages the log prints the first stage's available memory, while the blocks
    // follow the smallest stage's; gpuplan's figures are the last stage's
    if opts.pipeline <= 1 {
        push(
            Field::AvailableKvCacheGib,
            available,
            Tolerance::Relative(AVAILABLE_KV_TOLERANCE),
        );
    }
    push(
        Field::KvCacheTokens,
        fig.kv_cache_tokens as f64,
        Tolerance::Relative(AVAILABLE_KV_TOLERANCE),
    );
    push(
        Field::MaxConcurrency,
        fig.max_concurrency,
        Tolerance::Relative(AVAILABLE_KV_TOLERANCE),
    );
    if let Some(starts) = f.evidence.printed.get(Field::Starts.key()).and_then(Value::as_bool) {
        checks.push(Check {
            evidence: f.evidence.id.clone(),
            figure: Figure::whole(Field::Starts),
            predicted: f64::from(u8::from(report.engine.starts)),
            printed: f64::from(u8::from(starts)),
            tolerance: Tolerance::Absolute(0.0),
        });
    }
    Ok(checks)
}

/// Planning options for a vLLM log: the command's, then the evidence's settings (what the log
/// printed or implied: entry point, sampler, utilization, batch limits, length), with vLLM's
/// default length, the model's own, when the log sets none.
fn vllm_options(f: &Loaded, model: &ModelSpec) -> Result<Options, String> {
    let mut opts = options(f, model)?;
    opts.runtime = Some(EngineId::Vllm.profile());
    let s = &f.evidence.settings;
    let num = |k: &str| s.get(k).and_then(Value::as_u64);
    let v = &mut opts.engine.vllm;
    if let Some(u) = s.get("gpu_memory_utilization").and_then(Value::as_f64) {
        v.gpu_memory_utilization = Some(u);
    }
    v.max_num_seqs = num("max_num_seqs").or(v.max_num_seqs);
    v.max_num_batched_tokens = num("max_num_batched_tokens").or(v.max_num_batched_tokens);
    v.enforce_eager |= s.get("enforce_eager").and_then(Value::as_bool).unwrap_or(false);
    if let Some(gb) = s.get("cpu_offload_gb").and_then(Value::as_f64) {
        v.cpu_offload_gb = Some(gb);
    }
    match s.get("entry_point").and_then(Value::as_str) {
        Some("llm_class") => v.entry = vllm::Entry::LlmClass,
        Some("serve") => v.entry = vllm::Entry::Serve,
        _ => {}
    }
    v.release = vllm::Release::of_version(f.evidence.engine.version.as_deref().unwrap_or(""));
    match s.get("sampler").and_then(Value::as_str) {
        Some("flashinfer") => v.sampler = vllm::Sampler::Flashinfer,
        Some("native") => v.sampler = vllm::Sampler::Native,
        _ => {}
    }
    opts.gpus = num("tensor_parallel_size").unwrap_or(opts.gpus);
    opts.pipeline = num("pipeline_parallel_size").unwrap_or(opts.pipeline);
    opts.context = num("max_model_len").or(opts.context).or(Some(model.max_context));
    Ok(opts)
}

/// A GPU of exactly the total the log prints (`total_gpu_memory_gib`, or `requested_memory_gib` over
/// the utilization), when the evidence names no catalog GPU: a catalog entry with its memory
/// replaced. Its NVML total is taken equal to torch's, which only matters for vLLM's 70 GiB rule.
fn gpu_as_printed(f: &Loaded, catalog: &Catalog) -> Option<GpuSpec> {
    let total_gib = printed(f, "total_gpu_memory_gib").or_else(|| {
        let u = f.evidence.settings.get("gpu_memory_utilization")?.as_f64()?;
        Some(printed(f, "requested_memory_gib")? / u)
    })?;
    let mib = (total_gib * 1024.0).round() as u64;
    let mut g = catalog.gpu_specs().next()?.clone();
    g.id = "as-printed".into();
    g.name = format!("GPU of {total_gib:.2} GiB as torch reports it");
    g.aliases.clear();
    g.nvml_names.clear();
    g.memory.reported_mib = mib;
    g.memory.cuda_visible_mib = Some(mib);
    g.memory.ecc = crate::spec::gpu::Ecc::None;
    Some(g)
}

/// Block arithmetic alone, for a log with no GPU total: "GPU KV cache size" and "Maximum
/// concurrency" from the printed available memory, to within what its two decimals leave open.
fn block_checks(f: &Loaded, catalog: &Catalog, model: &ModelSpec, opts: &Options) -> Result<Vec<Check>, String> {
    let (Some(available_gib), Some(tokens)) = (
        printed(f, Field::AvailableKvCacheGib.key()),
        printed(f, Field::KvCacheTokens.key()),
    ) else {
        return Err("names no GPU in gpuplan's catalog and prints no total to stand in for it".into());
    };
    if model.architecture.as_ref().is_some_and(|a| a.sliding_window.is_some()) {
        return Err("names no GPU; block arithmetic alone is checked only for models without windows".into());
    }
    let any = catalog.gpu_specs().next().ok_or("the catalog has no GPU")?;
    let report = crate::plan::fit(model, any, opts);
    let Some(Figures::Vllm(fig)) = &report.engine.figures else {
        return Err("the estimate has no vLLM figures".into());
    };
    let block_size = match report.engine.settings {
        crate::estimate::engine::Settings::Vllm(s) => s.block_size,
        _ => 16,
    };
    let per_block = fig.block_bytes.max(1) as f64;
    let blocks = (available_gib * GIB as f64 / per_block).floor();
    // the printed GiB is rounded to 0.01: tokens are known to within 0.005 GiB of blocks
    let slack = (0.005 * GIB as f64 / per_block).ceil() * block_size as f64;
    let mut checks = vec![Check {
        evidence: f.evidence.id.clone(),
        figure: Figure::whole(Field::KvCacheTokens),
        predicted: blocks * block_size as f64,
        printed: tokens,
        tolerance: Tolerance::Absolute(slack),
    }];
    if let (Some(c), Some(len)) = (printed(f, Field::MaxConcurrency.key()), opts.context) {
        let per_request = len.div_ceil(block_size) as f64;
        checks.push(Check {
            evidence: f.evidence.id.clone(),
            figure: Figure::whole(Field::MaxConcurrency),
            predicted: (tokens / block_size as f64) / per_request,
            printed: c,
            tolerance: Tolerance::Absolute(0.005),
        });
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::arch::check_declared;

    /// A `vllm_startup` evidence file with `command` and `settings`.
    fn loaded(command: &str, settings: &str) -> Loaded {
        let json = format!(
            r#"{{"id": "t", "kind": "vllm_startup", "source": {{"url": null, "what": "test", "date": null}},
            "quoted": [], "engine": {{"name": "vllm", "version": "0.10.1.1"}},
            "gpu": {{"name": null, "catalog": "rtx-4090", "count": 1}},
            "model": {{"hf_id": "Qwen/Qwen2.5-1.5B-Instruct", "catalog": "qwen2.5-1.5b", "config": null, "file": null, "precision": "bf16"}},
            "command": {command}, "command_reconstructed": false, "settings": {settings}, "printed": {{}}, "notes": ""}}"#
        );
        Loaded {
            path: "t.json".into(),
            evidence: serde_json::from_str(&json).unwrap(),
        }
    }

    #[test]
    fn a_logs_cpu_offload_is_read_from_its_command_and_its_settings() {
        let catalog = Catalog::embedded(check_declared).unwrap();
        let model = catalog.model("qwen2.5-1.5b", check_declared).unwrap();
        let gb = |f: &Loaded| vllm_options(f, &model).unwrap().engine.vllm.cpu_offload_gb;
        let cmd = r#""vllm serve Qwen/Qwen2.5-1.5B-Instruct --cpu-offload-gb 2""#;
        assert_eq!(gb(&loaded(cmd, "{}")), Some(2.0));
        assert_eq!(gb(&loaded(cmd, r#"{"cpu_offload_gb": 2.5}"#)), Some(2.5));
        assert_eq!(gb(&loaded("null", "{}")), None);
    }
}
