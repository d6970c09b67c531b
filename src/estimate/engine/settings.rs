//! Engine settings: the flags a user gives (typed, engine by engine) and the values the engine runs
//! with once its defaults are resolved for a GPU.

use super::llamacpp::profile as llamacpp;
use super::profile::{EngineId, Runtime};
use super::vllm::profile as vllm;
use crate::spec::gpu::GpuSpec;
use crate::spec::precision::KvPrecision;
use serde::Serialize;

/// Engine flags as the user gave them; each engine reads its own.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Flags {
    pub vllm: vllm::Flags,
    pub llamacpp: llamacpp::Flags,
}

/// The settings of the engine an estimate is for, defaults resolved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Settings {
    /// engines without settings of their own in gpuplan (candle, transformers)
    Plain,
    Vllm(vllm::Settings),
    LlamaCpp(llamacpp::Settings),
}

impl Settings {
    /// The settings `rt` runs with on `gpu`, from the user's `flags`; `kv` is the KV precision chosen
    /// for the estimate (llama.cpp's cache type when `-ctk`/`-ctv` are not given), `head_dim` the
    /// model's attention head size (None: unknown, taken as one the GPU's kernels support).
    pub fn resolve(rt: &Runtime, flags: &Flags, gpu: &GpuSpec, kv: KvPrecision, head_dim: Option<u64>) -> Settings {
        match rt.id {
            EngineId::Vllm => Settings::Vllm(vllm::Settings::resolve(&flags.vllm, gpu)),
            EngineId::LlamaCpp => {
                let auto_fa = head_dim.is_none_or(llamacpp::cuda_flash_attn_supported);
                Settings::LlamaCpp(llamacpp::Settings::resolve(&flags.llamacpp, kv, auto_fa))
            }
            EngineId::Candle | EngineId::CandleCpu | EngineId::Transformers => Settings::Plain,
        }
    }

    /// What the engine lets itself use of `visible` bytes: vLLM's `gpu_memory_utilization` share (or
    /// all of it when `--kv-cache-memory` sizes the cache instead), all of it for the others.
    pub fn budget(&self, visible: u64) -> u64 {
        match self {
            Settings::Vllm(s) if s.kv_cache_memory.is_none() => (visible as f64 * s.gpu_memory_utilization) as u64,
            _ => visible,
        }
    }

    /// The most tokens one forward step takes, when a setting decides it.
    pub fn step_limit(&self) -> Option<u64> {
        match self {
            Settings::Vllm(s) => Some(s.max_num_batched_tokens),
            Settings::LlamaCpp(s) => Some(s.ubatch_size),
            Settings::Plain => None,
        }
    }

    /// Tokens per KV block (vLLM `--block-size`); 1 where the cache is not paged.
    pub fn kv_block(&self) -> u64 {
        match self {
            Settings::Vllm(s) => s.block_size.max(1),
            _ => 1,
        }
    }
}
