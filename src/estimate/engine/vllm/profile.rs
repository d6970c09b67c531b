//! vLLM as data: the profile, the command-line settings a user gives (`Flags`) and the values vLLM
//! uses (`Settings`, with the defaults of the release modeled, some of which depend on the GPU and on
//! the entry point).

use crate::estimate::engine::profile::{AttentionImpl, Device, EngineId, KvAlloc, KvDefault, Runtime};
use crate::spec::gpu::{GpuSpec, GIB};
use serde::Serialize;

/// The release whose code the accounting follows.
pub const VERSION: &str = "vLLM 0.11 (V1 engine)";

pub const VLLM: Runtime = Runtime {
    id: EngineId::Vllm,
    version: VERSION,
    description: "vLLM V1: paged KV from the memory gpu_memory_utilization leaves after a profile run, flash attention, chunked prefill",
    device: Device::Gpu,
    kv_default: KvDefault::Compute16,
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
    /// sequences and 2048 tokens (8192 for the LLM class).
    pub fn resolve(flags: &Flags, gpu: &GpuSpec) -> Settings {
        let large = gpu.reported_bytes() >= LARGE_GPU_BYTES && !gpu.name.to_ascii_lowercase().contains("a100");
        let (seqs, tokens) = match (large, flags.entry) {
            (true, Entry::Serve) => (1024, 8192),
            (true, Entry::LlmClass) => (1024, 16384),
            (false, Entry::Serve) => (256, 2048),
            (false, Entry::LlmClass) => (256, 8192),
        };
        Settings {
            gpu_memory_utilization: flags.gpu_memory_utilization.unwrap_or(DEFAULT_GPU_MEMORY_UTILIZATION),
            max_num_seqs: flags.max_num_seqs.unwrap_or(seqs),
            max_num_batched_tokens: flags.max_num_batched_tokens.unwrap_or(tokens),
            block_size: flags.block_size.unwrap_or(DEFAULT_BLOCK_SIZE),
            enforce_eager: flags.enforce_eager,
            kv_cache_memory: flags.kv_cache_memory,
            entry: flags.entry,
        }
    }
}
