//! What an engine would do with a setup, as typed facts: whether it starts, why not, its own
//! figures under its own names, and the command that runs it. Words for these live in
//! `report/views`.

use super::llamacpp::Figures as LlamaCppFigures;
use super::profile::EngineId;
use super::settings::Settings;
use super::vllm::Figures as VllmFigures;
use serde::Serialize;

/// The engine's verdict and accounting for one GPU (the heaviest pipeline stage when there are
/// several).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineReport {
    pub name: EngineId,
    /// the release modeled
    pub version: &'static str,
    /// the command line that runs this setup (None where the engine has none gpuplan can write)
    pub command: Option<String>,
    /// the same setup under Ollama (llama.cpp only)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ollama: Option<Ollama>,
    /// whether the engine starts with these settings on this GPU
    pub starts: bool,
    /// why it does not start (None when it starts)
    pub refusal: Option<Refusal>,
    pub settings: Settings,
    /// the engine's own start-up figures (vLLM, llama.cpp), flattened into this object
    #[serde(flatten)]
    pub figures: Option<Figures>,
}

/// Figures as the engine prints them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Figures {
    Vllm(VllmFigures),
    LlamaCpp(LlamaCppFigures),
}

/// Ollama's settings for a llama.cpp setup: `num_ctx` is per request, and Ollama allocates
/// `num_ctx x OLLAMA_NUM_PARALLEL` tokens of KV (ollama/ollama `llm/server.go`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ollama {
    pub num_ctx: u64,
    pub num_parallel: u64,
    /// OLLAMA_KV_CACHE_TYPE (f16, q8_0, q4_0)
    pub kv_cache_type: &'static str,
    /// OLLAMA_FLASH_ATTENTION
    pub flash_attention: bool,
}

/// Why an engine refuses a setup, as the engine itself would.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    /// vLLM V1 (kv_cache_utils.py `check_enough_kv_cache_memory`): "To serve at least one request with
    /// the models's max seq len (L), (X GiB KV cache is needed, which is larger than the available KV
    /// cache memory (Y GiB). Based on the available memory, the estimated maximum model length is Z."
    KvCacheTooSmall {
        max_model_len: u64,
        needed_bytes: u64,
        available_bytes: u64,
        estimated_max_model_len: u64,
    },
    /// vLLM: weights, non-torch memory and the profile run's peak leave nothing for the KV cache
    /// ("No available memory for the cache blocks")
    NoKvCacheMemory { short_bytes: u64 },
    /// vLLM: the memory free at start-up is below utilization x total ("Free memory on device … is
    /// less than desired GPU memory utilization")
    FreeBelowRequested { free_bytes: u64, requested_bytes: u64 },
    /// tensor parallelism must split the attention heads evenly ("Total number of attention heads
    /// (H) must be divisible by tensor parallel size (T)")
    HeadsNotDivisible { heads: u64, tp: u64 },
    /// a setting outside what the engine accepts
    BadSetting {
        flag: &'static str,
        value: String,
        allowed: &'static str,
    },
    /// a context above the model's maximum (vLLM needs VLLM_ALLOW_LONG_MAX_MODEL_LEN=1)
    ContextAboveModelMax { requested: u64, max: u64 },
    /// llama.cpp: a quantized V cache needs flash attention
    QuantizedVNeedsFlashAttn,
    /// the engine's buffers exceed the GPU's memory (llama.cpp: a CUDA allocation fails while
    /// loading the model or creating the context)
    OutOfMemory { needed_bytes: u64, available_bytes: u64 },
}
