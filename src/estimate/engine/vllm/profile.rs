//! vLLM as data: the profile, the command-line settings a user gives (`Flags`) and the values vLLM
//! uses (`Settings`, with the defaults of the release modeled, some of which depend on the GPU and on
//! the entry point).

use crate::estimate::engine::profile::{AttentionImpl, Device, EngineId, KvAlloc, KvDefault, Runtime};
use crate::spec::gpu::{GpuSpec, GIB};
use crate::spec::host::Pcie;
use serde::Serialize;

/// The release whose code the accounting follows by default (`Release::V0_11`; `--vllm-release 0.19`
/// follows 0.19).
pub const VERSION: &str = "vLLM 0.11 (V1 engine)";

pub const VLLM: Runtime = Runtime {
    id: EngineId::Vllm,
    version: VERSION,
    description: "vLLM V1: paged KV from the memory gpu_memory_utilization leaves after a profile run, flash attention, chunked prefill",
    device: Device::Gpu,
    // `--kv-cache-dtype auto` is the model dtype (vllm/config/cache.py): f32 with `--dtype float32`
    // ("GPU KV cache size: 175,296 tokens" from 42.8 GiB, 256 KiB a token, in
    // validation/field/vllm-llama-3.1-8b-fp32-h100-0.19.0.json)
    kv_default: KvDefault::ComputeDtype,
    kv_alloc: KvAlloc::Paged,
    attention: AttentionImpl::Fused,
    // the step budget is max_num_batched_tokens, a setting (`Settings`)
    prefill_chunk: None,
    step_token_budget: true,
    reserves_full_chunk: true,
    fused_moe: true,
    stacked_experts: true,
    honors_sliding_window: true,
    recurrent_state: crate::estimate::kv::StatePolicy::ModelDtype,
    logits_f32: true,
    rope_tables: false,
    // the CUDA context torch creates before vLLM's first memory snapshot: outside the budget
    // (`requested_memory` = utilization x total), so it only decides whether vLLM starts
    context_mib: 500,
    // vLLM's own terms (non-torch memory, CUDA graphs) are in its accounting (`vllm::figures`)
    fixed_mib: 0,
    granularity_bytes: 2 << 20,
    slack_fraction: 0.0,
    memory_efficiency: 0.80,
    compute_efficiency: 0.60,
    step_overhead_s: 0.001,
    blas_workspace_mib: None,
    modules_mib: 0,
    attention_efficiency: 0.60,
    attention_efficiency_f32: 0.60,
    kv_efficiency: 0.80,
    kv_cached_elements_per_flop: 0.0,
    kv_expanded_elements_per_flop: 0.0,
    moe_layer_s: 0.0,
    moe_layer_quantized_s: 0.0,
    prefill_chunk_s: 0.001,
    prefill_fixed_s: 0.0,
    moe_prefill_token_layer_s: 0.0,
    sources: "vLLM docs (gpu_memory_utilization, block_size 16, max_num_batched_tokens 8192); vllm-project/vllm PR #10511 (non_torch_memory 1.79 GiB, total_gpu_memory 79.22 GiB on H100)",
    calibrated_from: None,
};

/// How vLLM is started: the defaults of `max_num_seqs` and `max_num_batched_tokens` differ between
/// the OpenAI-compatible server and the offline `LLM` class (vllm/engine/arg_utils.py
/// `EngineArgs._set_default_args`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// `vllm serve` / `python -m vllm.entrypoints.openai.api_server`
    #[default]
    Serve,
    /// `vllm.LLM(...)` in Python
    LlmClass,
}

/// Which top-k/top-p sampler vLLM runs: a property of the installation, not of the command line. A
/// pip install has no FlashInfer (an optional extra) and falls back to PyTorch's sampler, which sorts
/// the logits ("FlashInfer is not available. Falling back to the PyTorch-native implementation");
/// the vllm/vllm-openai image ships FlashInfer ("Using FlashInfer for top-p & top-k sampling";
/// `VLLM_USE_FLASHINFER_SAMPLER=0` turns it off). The profile run's peak differs by gigabytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampler {
    /// PyTorch's sort-based top-k/top-p (v1/sample/ops/topk_topp_sampler.py `forward_native`)
    #[default]
    Native,
    /// FlashInfer's `top_k_top_p_sampling_from_logits` (`forward_cuda`)
    Flashinfer,
}

/// The vLLM release whose code the accounting follows. The terms are the same from 0.10 to 0.19
/// (available = utilization x total − weights − torch peak − non-torch; CUDA graphs captured after the
/// KV cache); what changed is the native sampler's footprint and the non-torch memory
/// (docs/engines/vllm.md, "Releases").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Release {
    /// 0.10.x-0.11.x: PyTorch's sort-based top-k/top-p
    #[default]
    #[serde(rename = "0.11")]
    V0_11,
    /// 0.19.x: a Triton top-k/top-p kernel in place from 8 rows; CUDA-graph memory profiled (not
    /// counted by default) inside the memory-profiling window
    #[serde(rename = "0.19")]
    V0_19,
}

impl Release {
    /// The modeled release for a printed vLLM version: 0.19 and later follow 0.19, anything else 0.11.
    pub fn of_version(version: &str) -> Release {
        let mut parts = version.trim().trim_start_matches('v').split(['.', ' ']);
        let major = parts.next().and_then(|x| x.parse::<u64>().ok());
        let minor = parts.next().and_then(|x| x.parse::<u64>().ok());
        match (major, minor) {
            (Some(0), Some(m)) if m >= 19 => Release::V0_19,
            (Some(n), _) if n >= 1 => Release::V0_19,
            _ => Release::V0_11,
        }
    }
}

/// What a user set on vLLM's command line; None = vLLM's default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Flags {
    pub gpu_memory_utilization: Option<f64>,
    pub max_num_seqs: Option<u64>,
    pub max_num_batched_tokens: Option<u64>,
    pub block_size: Option<u64>,
    pub enforce_eager: bool,
    /// `--kv-cache-memory`: bytes of KV cache per GPU, instead of what utilization leaves
    pub kv_cache_memory: Option<u64>,
    pub entry: Entry,
    pub sampler: Sampler,
    pub release: Release,
    /// `--cpu-offload-gb`: GiB of decoder-layer parameters per GPU that vLLM keeps in pinned CPU
    /// memory and reads over PCIe in every forward pass ([`super::offload`]).
    pub cpu_offload_gb: Option<f64>,
    /// Not a vLLM flag: the PCIe slot of the host the GPU sits in (`--host`), which with the card's
    /// own interface sets the link the offloaded weights cross; None: the card's interface alone.
    pub host_link: Option<Pcie>,
}

/// The values vLLM runs with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settings {
    pub gpu_memory_utilization: f64,
    pub max_num_seqs: u64,
    pub max_num_batched_tokens: u64,
    pub block_size: u64,
    pub enforce_eager: bool,
    pub kv_cache_memory: Option<u64>,
    pub entry: Entry,
    pub sampler: Sampler,
    pub release: Release,
    /// `--cpu-offload-gb` (default 0: nothing offloaded)
    pub cpu_offload_gb: f64,
    /// the PCIe link between host and GPU ([`Pcie::between`] of the host's slot and the card)
    #[serde(skip)]
    pub link: Option<Pcie>,
}

/// `--gpu-memory-utilization` default (vllm/config/cache.py `CacheConfig`).
pub const DEFAULT_GPU_MEMORY_UTILIZATION: f64 = 0.9;
/// `--block-size` default on CUDA (vllm/platforms/cuda.py `check_and_update_config`).
pub const DEFAULT_BLOCK_SIZE: u64 = 16;
/// GPUs with at least this much memory (and not an A100) get the larger batch defaults
/// (arg_utils.py `_set_default_args`: "For GPUs like H100 and MI300x").
pub const LARGE_GPU_BYTES: u64 = 70 * GIB;

impl Settings {
    /// vLLM's values for `flags` on `gpu`. `max_num_seqs` and `max_num_batched_tokens` default by
    /// entry point and GPU (arg_utils.py `_set_default_args`): on GPUs of 70 GiB or more other than
    /// the A100, 1024 sequences and 8192 tokens for `vllm serve` (16384 for the LLM class); else 256
    /// sequences and 2048 tokens (8192 for the LLM class); the default `max_num_seqs` never exceeds
    /// `max_num_batched_tokens`.
    pub fn resolve(flags: &Flags, gpu: &GpuSpec) -> Settings {
        let large = gpu.reported_bytes() >= LARGE_GPU_BYTES && !gpu.name.to_ascii_lowercase().contains("a100");
        let (seqs, tokens) = match (large, flags.entry) {
            (true, Entry::Serve) => (1024, 8192),
            (true, Entry::LlmClass) => (1024, 16384),
            (false, Entry::Serve) => (256, 2048),
            (false, Entry::LlmClass) => (256, 8192),
        };
        let max_num_batched_tokens = flags.max_num_batched_tokens.unwrap_or(tokens);
        Settings {
            gpu_memory_utilization: flags.gpu_memory_utilization.unwrap_or(DEFAULT_GPU_MEMORY_UTILIZATION),
            max_num_seqs: flags.max_num_seqs.unwrap_or(seqs.min(max_num_batched_tokens)),
            max_num_batched_tokens,
            block_size: flags.block_size.unwrap_or(DEFAULT_BLOCK_SIZE),
            enforce_eager: flags.enforce_eager,
            kv_cache_memory: flags.kv_cache_memory,
            entry: flags.entry,
            sampler: flags.sampler,
            release: flags.release,
            cpu_offload_gb: flags.cpu_offload_gb.unwrap_or(0.0),
            link: Pcie::between(flags.host_link, gpu.host_interface.as_deref().and_then(Pcie::parse)),
        }
    }
}
