//! llama.cpp as data: the profile, the command-line settings a user gives (`Flags`) and the values
//! llama.cpp uses (`Settings`, with the defaults of the build modeled).

use crate::estimate::engine::offload::flags::OffloadFlags;
use crate::estimate::engine::profile::{AttentionImpl, Device, EngineId, KvAlloc, KvDefault, Runtime};
use crate::spec::precision::KvPrecision;
use serde::Serialize;

/// The build whose code the accounting follows.
pub const VERSION: &str = "llama.cpp (llama-cpp-sys-2 0.1.161 vendored build)";

pub const LLAMA_CPP: Runtime = Runtime {
    id: EngineId::LlamaCpp,
    version: VERSION,
    description: "llama.cpp: KV buffer for the whole --ctx-size shared by the slots, a compute buffer sized for one n_ubatch graph, token embeddings on the host",
    device: Device::Gpu,
    kv_default: KvDefault::F16,
    kv_alloc: KvAlloc::Preallocated,
    attention: AttentionImpl::Fused,
    // the step budget is n_ubatch, a setting (`Settings`)
    prefill_chunk: None,
    step_token_budget: true,
    reserves_full_chunk: false,
    fused_moe: true,
    stacked_experts: true,
    honors_sliding_window: true,
    logits_f32: true,
    rope_tables: false,
    context_mib: 300,
    fixed_mib: 0,
    granularity_bytes: 1,
    slack_fraction: 0.0,
    memory_efficiency: 0.75,
    compute_efficiency: 0.45,
    step_overhead_s: 0.001,
    blas_workspace_mib: None,
    modules_mib: 0,
    attention_efficiency: 0.45,
    attention_efficiency_f32: 0.45,
    kv_efficiency: 0.75,
    kv_cached_elements_per_flop: 0.0,
    kv_expanded_elements_per_flop: 0.0,
    moe_layer_s: 0.0,
    moe_layer_quantized_s: 0.0,
    prefill_chunk_s: 0.001,
    prefill_fixed_s: 0.0,
    moe_prefill_token_layer_s: 0.0,
    sources: "llama.cpp vendored by llama-cpp-sys-2 0.1.161: common/common.h defaults, src/llama-context.cpp, src/llama-kv-cache.cpp, src/llama-model.cpp load_tensors, ggml-alloc.c, ggml-backend.cpp (docs/engines/llamacpp.md)",
    calibrated_from: None,
};

/// `--flash-attn on|off|auto` (common/arg.cpp; `auto` enables it where the backend supports the
/// model's attention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashAttn {
    On,
    Off,
    #[default]
    Auto,
}

/// The program that creates the context: it decides how many rows of logits the compute graph is
/// reserved for (`n_outputs_max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// llama-server: one row per slot (`n_parallel x (1 + draft tokens)`, tools/server)
    #[default]
    Server,
    /// llama-cli, llama-bench and programs on the C API: the library default, `n_batch` rows
    /// (`llama_context_default_params`: `n_outputs_max = 0`)
    Library,
}

/// What a user set on llama.cpp's command line; None = llama.cpp's default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Flags {
    /// `-b/--batch-size`: logical batch, tokens
    pub batch_size: Option<u64>,
    /// `-ub/--ubatch-size`: physical batch, tokens (what one graph evaluates)
    pub ubatch_size: Option<u64>,
    pub flash_attn: Option<FlashAttn>,
    /// `-ctk/--cache-type-k`, `-ctv/--cache-type-v`
    pub cache_type_k: Option<KvPrecision>,
    pub cache_type_v: Option<KvPrecision>,
    /// `-ngl/--n-gpu-layers`: layers offloaded to the GPU, the output layer counting as one (None:
    /// all)
    pub n_gpu_layers: Option<u64>,
    /// `--no-mmap`: read the weights into allocated host memory instead of mapping the file
    pub no_mmap: bool,
    /// `-kvu/--kv-unified`: one KV stream shared by all slots
    pub kv_unified: bool,
    /// `--swa-full`: full-size cache for sliding-window layers
    pub swa_full: bool,
    pub entry: Entry,
    /// `-ot`, `--cpu-moe`, `--n-cpu-moe`, `--n-cpu-ffn`, `--no-kv-offload`, `--no-op-offload`
    pub offload: OffloadFlags,
}

/// The values llama.cpp runs with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settings {
    pub batch_size: u64,
    pub ubatch_size: u64,
    pub flash_attn: FlashAttn,
    /// what `flash_attn` resolves to on this GPU
    pub flash_attn_enabled: bool,
    pub cache_type_k: KvPrecision,
    pub cache_type_v: KvPrecision,
    /// layers on the GPU, capped at the model's (the output layer counts as one more)
    pub n_gpu_layers: Option<u64>,
    pub mmap: bool,
    pub kv_unified: bool,
    pub swa_full: bool,
    pub entry: Entry,
    pub offload: OffloadFlags,
}

/// `-b` default (common/common.h `n_batch`).
pub const DEFAULT_BATCH: u64 = 2048;
/// `-ub` default (common/common.h `n_ubatch`).
pub const DEFAULT_UBATCH: u64 = 512;
/// The context gpuplan assumes when a pasted command has no `-c`. llama.cpp's own default is
/// `n_ctx = 0`, the model's training context, which `--fit` (on by default) lowers to what fits in
/// free memory, down to this (common/common.h `fit_params_min_ctx`).
pub const DEFAULT_CTX: u64 = 4096;
/// `-np` default: one slot.
pub const DEFAULT_PARALLEL: u64 = 1;

impl Settings {
    /// llama.cpp's values for `flags`, with `kv` as the cache type when `-ctk`/`-ctv` are not given.
    /// `n_ubatch` never exceeds `n_batch` (llama_context clamps it: `std::min(n_batch, n_ubatch)`).
    /// `--flash-attn auto` turns it on: the CUDA backend supports the head sizes of the graph
    /// families modeled (ggml-cuda/fattn.cu `ggml_cuda_get_best_fattn_kernel`).
    pub fn resolve(flags: &Flags, kv: KvPrecision) -> Settings {
        let batch_size = flags.batch_size.unwrap_or(DEFAULT_BATCH);
        let flash_attn = flags.flash_attn.unwrap_or_default();
        Settings {
            batch_size,
            ubatch_size: flags.ubatch_size.unwrap_or(DEFAULT_UBATCH).min(batch_size),
            flash_attn,
            flash_attn_enabled: flash_attn != FlashAttn::Off,
            cache_type_k: flags.cache_type_k.unwrap_or(kv),
            cache_type_v: flags.cache_type_v.unwrap_or(kv),
            n_gpu_layers: flags.n_gpu_layers,
            mmap: !flags.no_mmap,
            kv_unified: flags.kv_unified,
            swa_full: flags.swa_full,
            entry: flags.entry,
            offload: flags.offload,
        }
    }
}
