//! Whether a runtime can run a weight format on a GPU at all, so a sizing never recommends, say, FP8
//! on a V100. Only what is documented is checked; anything else is assumed to run.
//!
//! vLLM: the "Supported Hardware" table of its quantization docs (docs.vllm.ai, v0.9.2 to v0.15):
//! AWQ needs Turing (SM 7.5) or newer and no AMD GPU; GPTQ Volta (SM 7.0) or newer, no AMD; INT8
//! W8A8 Turing or newer, no AMD; FP8 W8A8 Ada (SM 8.9) / Hopper or AMD (MI300-class, FP8 hardware),
//! and FP8 weight-only (W8A16) through FP8 Marlin on Ampere (SM 8.0, vllm-project/vllm PR #5975);
//! GGUF everywhere. bf16 needs Ampere; older GPUs run the same weights in fp16 (same size).
//! llama.cpp loads GGUF files: GGML quant types and f32/f16/bf16 tensors, not AWQ/GPTQ/FP8.

use crate::estimate::{EngineId, Runtime};
use crate::spec::gpu::Vendor;
use crate::spec::precision::{ComputeType, FormatKind, Method, StorageType};
use crate::spec::{Format, GpuSpec};

/// Compute capability as major x 10 + minor ("8.9" -> 89); None when the spec gives none.
pub fn compute_capability(gpu: &GpuSpec) -> Option<u32> {
    let cc = gpu.compute_capability.as_deref()?;
    let (major, minor) = cc.split_once('.').unwrap_or((cc, "0"));
    Some(major.trim().parse::<u32>().ok()? * 10 + minor.trim().parse::<u32>().ok()?)
}

/// Ok(None): runs. Ok(Some(note)): runs, with a caveat worth showing. Err(why): does not run.
pub fn check(runtime: &Runtime, format: &Format, gpu: &GpuSpec) -> Result<Option<String>, String> {
    match runtime.id {
        EngineId::Vllm => vllm(format, gpu),
        EngineId::LlamaCpp => match format.kind {
            FormatKind::Gguf | FormatKind::Uniform => Ok(None),
            FormatKind::LinearOnly | FormatKind::ExpertsOnly => {
                Err(format!("llama.cpp loads GGUF files, not {}", format.id))
            }
        },
        _ => Ok(None),
    }
}

fn vllm(format: &Format, gpu: &GpuSpec) -> Result<Option<String>, String> {
    if format.kind == FormatKind::Gguf {
        return Ok(None);
    }
    let amd = gpu.vendor == Vendor::Amd;
    let cc = compute_capability(gpu);
    let at_least = |min: u32| cc.is_none_or(|c| c >= min);
    let no = |what: &str| {
        Err(format!(
            "vLLM does not run {what} on the {} (compute capability {})",
            gpu.name,
            gpu.compute_capability.as_deref().unwrap_or("unknown")
        ))
    };
    match (format.method, format.compute) {
        (_, ComputeType::Fp8) if amd => match gpu.tflops.fp8 {
            Some(_) => Ok(None),
            None => Err(format!(
                "vLLM runs FP8 on AMD GPUs with FP8 units only; the {} has none",
                gpu.name
            )),
        },
        (_, ComputeType::Fp8) if at_least(89) => Ok(None),
        (_, ComputeType::Fp8) if at_least(80) => Ok(Some(
            "FP8 runs weight-only (W8A16, FP8 Marlin) below compute capability 8.9".into(),
        )),
        (_, ComputeType::Fp8) => no("FP8"),
        (Method::Awq, _) if amd => Err("vLLM's AWQ kernels are NVIDIA-only".into()),
        (Method::Awq, _) if !at_least(75) => no("AWQ"),
        (Method::Gptq, _) if amd => Err("vLLM's GPTQ kernels are NVIDIA-only".into()),
        (Method::Gptq, _) if !at_least(70) => no("GPTQ"),
        (_, ComputeType::Int8) if amd => Err("vLLM's INT8 W8A8 kernels are NVIDIA-only".into()),
        (_, ComputeType::Int8) if !at_least(75) => no("INT8 W8A8"),
        (Method::Float, ComputeType::F16) if format.keep == StorageType::Bf16 && !amd && !at_least(80) => Ok(Some(
            "no bf16 below compute capability 8.0: vLLM runs the weights in fp16 (same size)".into(),
        )),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::arch::check_declared;
    use crate::estimate::engine::{llamacpp::LLAMA_CPP, vllm::VLLM};
    use crate::spec::Catalog;

    fn f(id: &str) -> &'static Format {
        Format::parse(id).expect("format")
    }

    #[test]
    fn vllm_hardware_table() {
        let c = Catalog::embedded(check_declared).expect("catalog");
        let g = |id: &str| c.gpu(id).expect("gpu");
        assert_eq!(check(&VLLM, f("fp8"), &g("h100-sxm")), Ok(None));
        assert!(matches!(check(&VLLM, f("fp8"), &g("a100-80gb-sxm")), Ok(Some(_))));
        assert!(check(&VLLM, f("fp8"), &g("v100-pcie-32gb")).is_err());
        assert!(check(&VLLM, f("awq-int4"), &g("v100-pcie-32gb")).is_err());
        assert_eq!(check(&VLLM, f("gptq-int4"), &g("v100-pcie-32gb")), Ok(None));
        assert_eq!(check(&VLLM, f("awq-int4"), &g("t4")), Ok(None));
        assert!(check(&VLLM, f("awq-int4"), &g("mi300x")).is_err());
        assert_eq!(check(&VLLM, f("fp8"), &g("mi300x")), Ok(None));
        assert!(matches!(check(&VLLM, f("bf16"), &g("t4")), Ok(Some(_))));
        assert_eq!(check(&VLLM, f("q4_k_m"), &g("mi250x")), Ok(None));
        assert!(check(&LLAMA_CPP, f("awq-int4"), &g("rtx-4090")).is_err());
        assert_eq!(check(&LLAMA_CPP, f("q4_k_m"), &g("rtx-4090")), Ok(None));
        assert_eq!(compute_capability(&g("rtx-4090")), Some(89));
    }
}
