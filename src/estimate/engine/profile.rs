//! Runtime profiles: how an inference engine lays out memory and how close it gets to the roofline.
//! A profile is data, behaviour included (which device, which KV dtype by default, which accounting);
//! the generic estimate terms in `memory.rs` and `throughput.rs` read it, and engines with their own
//! accounting (vLLM, llama.cpp) read their settings beside it.
//!
//! Values marked "uncalibrated" are engineering defaults from the cited sources; values calibrated
//! from gpuplan's own validation records name the record in `calibrated_from`.

use crate::spec::precision::{Format, KvPrecision};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The engines gpuplan models, by name. Typed: code matches on it, never on a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EngineId {
    #[serde(rename = "candle")]
    Candle,
    #[serde(rename = "candle-cpu")]
    CandleCpu,
    #[serde(rename = "vllm")]
    Vllm,
    #[serde(rename = "llama.cpp")]
    LlamaCpp,
    #[serde(rename = "transformers")]
    Transformers,
}

impl EngineId {
    pub const ALL: [EngineId; 5] = [
        EngineId::Candle,
        EngineId::Vllm,
        EngineId::LlamaCpp,
        EngineId::Transformers,
        EngineId::CandleCpu,
    ];

    /// The name as the engine's users write it (and as JSON and records spell it).
    pub fn as_str(self) -> &'static str {
        match self {
            EngineId::Candle => "candle",
            EngineId::CandleCpu => "candle-cpu",
            EngineId::Vllm => "vllm",
            EngineId::LlamaCpp => "llama.cpp",
            EngineId::Transformers => "transformers",
        }
    }

    /// The name or a common alias (Ollama runs llama.cpp; "hf" is transformers), case-insensitive.
    pub fn parse(s: &str) -> Option<EngineId> {
        let s = s.trim().to_ascii_lowercase();
        let alias = match s.as_str() {
            "llamacpp" | "llama-cpp" | "llama_cpp" | "ollama" | "llama-server" => "llama.cpp",
            "hf" | "huggingface" | "torch" | "pytorch" => "transformers",
            other => other,
        };
        EngineId::ALL.into_iter().find(|e| e.as_str() == alias)
    }

    /// Every accepted name, for error messages and `--help`.
    pub fn names() -> Vec<&'static str> {
        EngineId::ALL.iter().map(|e| e.as_str()).collect()
    }
}

impl fmt::Display for EngineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the engine keeps its tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// a CUDA/ROCm GPU: the CUDA context and cuBLAS workspaces count
    Gpu,
    /// host memory (process RSS): no context, no GPU workspaces
    Cpu,
}

/// The KV-cache dtype an engine uses unless told otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KvDefault {
    /// the format's activation dtype (candle: f32 for its quantized models)
    ComputeDtype,
    /// the format's 16-bit dtype; f32 activations still cache f16 (vLLM `--kv-cache-dtype auto`,
    /// transformers)
    Compute16,
    /// always f16 (llama.cpp `--cache-type-k/-v f16`)
    F16,
}

/// How the KV cache is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum KvAlloc {
    /// Grown by concatenation each step (candle, transformers DynamicCache): while one layer's cache is
    /// being extended, its old and new copies coexist.
    Grow,
    /// Paged blocks from a pool sized at start-up (vLLM: `--block-size` tokens a block, the pool
    /// is what `--gpu-memory-utilization` leaves after weights, activations and overheads).
    Paged,
    /// Allocated for the whole configured context at start (llama.cpp `--ctx-size`).
    Preallocated,
}

/// How attention is computed, which decides whether the score matrix is materialized.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AttentionImpl {
    /// q·kᵀ, softmax and ·v as separate ops: `copies` score matrices (batch x heads x chunk x kv_len)
    /// are alive at the peak; GQA keys/values are expanded to all heads.
    Eager { copies: u64, expands_gqa: bool },
    /// Flash/SDPA kernels: scores stay on chip.
    Fused,
}

#[derive(Debug, Clone, Serialize)]
pub struct Runtime {
    pub id: EngineId,
    /// the release modeled, e.g. "vLLM 0.11 (V1 engine)"
    pub version: &'static str,
    pub description: &'static str,
    pub device: Device,
    pub kv_default: KvDefault,
    pub kv_alloc: KvAlloc,
    pub attention: AttentionImpl,
    /// Prefill is processed this many tokens at a time (None: the whole prompt at once).
    pub prefill_chunk: Option<u64>,
    /// `prefill_chunk` bounds the tokens of one forward step over all sequences together (vLLM
    /// max_num_batched_tokens, llama.cpp n_ubatch), not per sequence (candle's runner chunks each
    /// sequence of the batch).
    pub step_token_budget: bool,
    /// The activation peak is reserved for a full chunk whatever the request (vLLM's profile run
    /// with max_num_batched_tokens decides the memory left for KV).
    pub reserves_full_chunk: bool,
    /// MoE experts run as one fused kernel over all routed tokens (vLLM fused_moe, llama.cpp
    /// mul_mat_id) rather than a loop over experts.
    pub fused_moe: bool,
    /// Each layer's experts are stacked in one tensor (vLLM w13/w2, GGUF ffn_*_exps), so allocation
    /// rounding applies per layer, not per expert.
    pub stacked_experts: bool,
    /// Whether windowed layers keep only `sliding_window` tokens of KV.
    pub honors_sliding_window: bool,
    /// The element types of hybrid and state-space layers' per-sequence state.
    pub recurrent_state: crate::estimate::kv::StatePolicy,
    /// Logits are computed in f32 for the last position of each sequence.
    pub logits_f32: bool,
    /// RoPE sin/cos tables for every position up to max_context are kept in the compute dtype
    /// (candle-transformers builds them at load).
    pub rope_tables: bool,
    /// CUDA context + the engine's own resident kernels/modules, MiB (per GPU).
    pub context_mib: u64,
    /// Other fixed allocations (CUDA graphs, NCCL buffers, sampler state), MiB.
    pub fixed_mib: u64,
    /// Allocation granularity: each weight tensor rounds up to this many bytes (caching allocators
    /// round large blocks to 2 MiB; PyTorch `kRoundLarge`, CUDA mempool granularity).
    pub granularity_bytes: u64,
    /// Fragmentation / pool slack as a fraction of the dynamic (KV + activation) memory.
    pub slack_fraction: f64,
    /// Fraction of peak memory bandwidth a decode step achieves.
    pub memory_efficiency: f64,
    /// Fraction of dense tensor peak a large matmul achieves.
    pub compute_efficiency: f64,
    /// Fixed time per forward pass (kernel launches, host sync), seconds.
    pub step_overhead_s: f64,
    /// cuBLAS workspace and lazily loaded GEMM kernels per GPU when measured for this runtime, MiB
    /// (None: cuBLAS's documented workspace, 32 MiB on Hopper, 4 MiB before).
    pub blas_workspace_mib: Option<u64>,
    /// Kernel modules the runtime loads on first use (candle loads its PTX modules lazily), MiB.
    pub modules_mib: u64,
    /// Share of peak that attention achieves, with 16-bit and with f32 activations: of the tensor
    /// peak for fused attention; of the SIMT fp32 peak for eager attention, whose q·kᵀ, mask,
    /// softmax and ·v run as separate small kernels.
    pub attention_efficiency: f64,
    pub attention_efficiency_f32: f64,
    /// Decode-time KV reads as a fraction of memory bandwidth (bandwidth-bound engines).
    pub kv_efficiency: f64,
    /// KV cost per element instead of per byte (candle copies the cache with Tensor::cat and, for
    /// GQA, expands it to all heads every step: the same cost per element for f16 and f32 caches, and
    /// no faster on an H200 than on an H100). Rates in elements per FLOP of SIMT fp32 peak, for cached
    /// elements and for GQA-expanded ones; 0 = bytes over bandwidth instead.
    pub kv_cached_elements_per_flop: f64,
    pub kv_expanded_elements_per_flop: f64,
    /// Per MoE layer and decode step: host-side routing and the expert loop (16-bit / quantized
    /// experts), seconds.
    pub moe_layer_s: f64,
    pub moe_layer_quantized_s: f64,
    /// Fixed cost per prefill chunk, seconds.
    pub prefill_chunk_s: f64,
    /// Fixed cost per prompt: candle's first full-size forward after loading (cuBLAS heuristics,
    /// shape-specialized kernels loaded on first use) — a warmed-up server would not pay it.
    pub prefill_fixed_s: f64,
    /// Per prompt token and MoE layer at prefill: host-side routing (candle sorts each token's
    /// router scores on the host), seconds.
    pub moe_prefill_token_layer_s: f64,
    pub sources: &'static str,
    /// The validation record(s) the constants were calibrated from; None = uncalibrated.
    pub calibrated_from: Option<&'static str>,
}

impl Runtime {
    /// The KV precision this runtime uses with `format` unless told otherwise ([`KvDefault`]).
    pub fn default_kv(&self, format: &Format) -> KvPrecision {
        match (self.kv_default, KvPrecision::default_for(format)) {
            (KvDefault::F16, _) => KvPrecision::F16,
            (KvDefault::Compute16, KvPrecision::F32) => KvPrecision::F16,
            (_, kv) => kv,
        }
    }

    pub fn is_cpu(&self) -> bool {
        self.device == Device::Cpu
    }
}
