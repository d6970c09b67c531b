//! Runtime profiles: how an inference engine lays out memory and how close it gets to the roofline.
//! A profile is data; the estimate terms in `memory.rs` and `throughput.rs` read it.
//!
//! Values marked "uncalibrated" are engineering defaults from the cited sources; values calibrated
//! from gpuplan's own validation records name the record in `calibrated_from`.

use crate::spec::precision::{Format, KvPrecision};
use serde::Serialize;

/// How the KV cache is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum KvAlloc {
    /// Grown by concatenation each step (candle, transformers DynamicCache): while one layer's cache is
    /// being extended, its old and new copies coexist.
    Grow,
    /// Paged blocks of `block` tokens from a pool that takes `utilization` x total memory up front,
    /// minus weights, activations and overheads (vLLM `gpu_memory_utilization`).
    Paged { block: u64, utilization: f64 },
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
    pub id: &'static str,
    pub description: &'static str,
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

pub const CANDLE: Runtime = Runtime {
    id: "candle",
    description: "candle 0.11 (gpuplan's validation runner): eager attention, KV grown by Tensor::cat",
    kv_alloc: KvAlloc::Grow,
    // scaled, masked and softmaxed scores are alive together (candle-transformers phi3.rs binds each)
    attention: AttentionImpl::Eager { copies: 3, expands_gqa: true },
    prefill_chunk: Some(512),
    step_token_budget: false,
    reserves_full_chunk: false,
    fused_moe: false,
    stacked_experts: false,
    honors_sliding_window: false,
    logits_f32: false,
    rope_tables: true,
    // calibrated: cuda-context_nvidia-h100-80gb-hbm3 measured 623,706,112 B for context creation
    context_mib: 595,
    fixed_mib: 0,
    // calibrated: every GPU record's measured weights are within 0.4% of the tensor bytes (cudarc's
    // stream-ordered pool packs allocations; no per-tensor rounding)
    granularity_bytes: 1,
    // calibrated: the pool keeps what Tensor::cat and the chunked prefill free (cudaMallocAsync does
    // not return it to the device): 21% of KV + activations, fitted on the H100 model records; the
    // H200 records, out of sample, agree (every total peak within -5.3%..+6.0%:
    // `cargo test --test validation_records`)
    slack_fraction: 0.21,
    // not identifiable from the records (candle's decode is launch-bound); an engineering value
    memory_efficiency: 0.80,
    // not identifiable from the records (see attention_efficiency); an engineering value
    compute_efficiency: 0.60,
    // decode and prefill: relative least squares over the 19 H100 and H200 model records
    // (scripts/calibrate-candle.py prints the fit)
    step_overhead_s: 0.004457,
    // calibrated: candle creates its cuBLAS handle with the device, so the measured context holds the
    // workspace; cublas-workspace_nvidia-h100-80gb-hbm3 saw no growth over the first matmul
    // (first_matmul_bytes 0) beyond the probe's own tensors
    blas_workspace_mib: Some(0),
    // calibrated: phi-3.5-mini_bf16_nvidia-h100-80gb-hbm3_ctx4096_b1 warm-up grew 94,371,840 B
    modules_mib: 90,
    // (compute_efficiency is fixed at 0.6: matmul time is not identifiable beside eager attention)
    attention_efficiency: 0.1528,
    attention_efficiency_f32: 0.1026,
    kv_efficiency: 0.80,
    kv_cached_elements_per_flop: 1.3907e-3,
    kv_expanded_elements_per_flop: 1.882e-3,
    moe_layer_s: 0.0002006,
    moe_layer_quantized_s: 0.0002117,
    prefill_chunk_s: 0.0,
    prefill_fixed_s: 0.1086,
    moe_prefill_token_layer_s: 0.000001753,
    sources: "candle-transformers 0.11.1 models/phi3.rs (attention, KV cat, last-token logits); H100 and H200 validation records (validation/records/, suite runs 2026-11-26)",
    calibrated_from: Some("validation/records/*nvidia-h100-80gb-hbm3*.json and *nvidia-h200*.json (25 records, H100 SXM 80GB and H200, driver 580.159.04, 2026-11-26)"),
};

/// candle on the CPU (what `validate --device cpu` runs): no CUDA context; bf16 matmuls widen both
/// operands to f32 (candle-core cpu_backend `matmul`), counted as an activation term.
pub const CANDLE_CPU: Runtime = Runtime {
    id: "candle-cpu",
    description: "candle 0.11 on the CPU (process RSS); bf16 matmul widens operands to f32",
    kv_alloc: KvAlloc::Grow,
    attention: AttentionImpl::Eager {
        copies: 3,
        expands_gqa: true,
    },
    prefill_chunk: Some(512),
    step_token_budget: false,
    reserves_full_chunk: false,
    fused_moe: false,
    stacked_experts: false,
    honors_sliding_window: false,
    logits_f32: false,
    rope_tables: true,
    context_mib: 0,
    fixed_mib: 0,
    granularity_bytes: 1,
    slack_fraction: 0.0,
    memory_efficiency: 0.5,
    compute_efficiency: 0.3,
    step_overhead_s: 0.0,
    blas_workspace_mib: None,
    modules_mib: 0,
    attention_efficiency: 0.3,
    attention_efficiency_f32: 0.3,
    kv_efficiency: 0.5,
    kv_cached_elements_per_flop: 0.0,
    kv_expanded_elements_per_flop: 0.0,
    moe_layer_s: 0.0,
    moe_layer_quantized_s: 0.0,
    prefill_chunk_s: 0.0,
    prefill_fixed_s: 0.0,
    moe_prefill_token_layer_s: 0.0,
    sources: "candle-core 0.11.1 cpu_backend/mod.rs (bf16 matmul: to_f32_vec on both operands)",
    calibrated_from: None,
};

pub const VLLM: Runtime = Runtime {
    id: "vllm",
    description: "vLLM: paged KV (16-token blocks) from a pool sized by gpu_memory_utilization=0.9, flash attention, chunked prefill",
    kv_alloc: KvAlloc::Paged { block: 16, utilization: 0.90 },
    attention: AttentionImpl::Fused,
    prefill_chunk: Some(8192),
    step_token_budget: true,
    reserves_full_chunk: true,
    fused_moe: true,
    stacked_experts: true,
    honors_sliding_window: true,
    logits_f32: true,
    rope_tables: false,
    context_mib: 500,
    // non_torch_memory 1.79 GiB at TP=1 on H100 (vllm-project/vllm PR #10511) includes the context;
    // the remainder is mostly CUDA graphs and NCCL/cuBLAS buffers
    fixed_mib: 1330,
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

pub const LLAMA_CPP: Runtime = Runtime {
    id: "llama.cpp",
    description: "llama.cpp: KV allocated for the whole --ctx-size, f32 activations in a compute buffer of n_ubatch=512 tokens, flash attention",
    kv_alloc: KvAlloc::Preallocated,
    attention: AttentionImpl::Fused,
    prefill_chunk: Some(512),
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
    sources: "llama.cpp common defaults (n_ubatch 512, flash_attn auto); ggml-org/llama.cpp #7439 log (KV self size, compute buffer)",
    calibrated_from: None,
};

pub const TRANSFORMERS: Runtime = Runtime {
    id: "transformers",
    description: "Hugging Face transformers generate(): SDPA attention, DynamicCache grown by torch.cat, whole prompt at once",
    kv_alloc: KvAlloc::Grow,
    attention: AttentionImpl::Fused,
    prefill_chunk: None,
    step_token_budget: false,
    reserves_full_chunk: false,
    fused_moe: false,
    stacked_experts: false,
    honors_sliding_window: false,
    logits_f32: true,
    rope_tables: false,
    // calibrated: NVML showed 1,154,285,568 B used after torch initialised CUDA on the H100
    // (validation/runs/2026-11-26-h100/transformers.json, torch 2.11.0+cu130)
    context_mib: 1101,
    fixed_mib: 0,
    granularity_bytes: 2 << 20,
    slack_fraction: 0.05,
    memory_efficiency: 0.55,
    compute_efficiency: 0.50,
    step_overhead_s: 0.020,
    blas_workspace_mib: None,
    modules_mib: 0,
    attention_efficiency: 0.50,
    attention_efficiency_f32: 0.50,
    kv_efficiency: 0.55,
    kv_cached_elements_per_flop: 0.0,
    kv_expanded_elements_per_flop: 0.0,
    moe_layer_s: 0.0,
    moe_layer_quantized_s: 0.0,
    prefill_chunk_s: 0.020,
    prefill_fixed_s: 0.0,
    moe_prefill_token_layer_s: 0.0,
    sources: "transformers DynamicCache (torch.cat), num_logits_to_keep=1 in generate (>= 4.45); PyTorch caching allocator rounds blocks > 1 MiB to 2 MiB",
    calibrated_from: None, // only the context is measured; throughput stays uncalibrated
};

pub const RUNTIMES: &[&Runtime] = &[&CANDLE, &VLLM, &LLAMA_CPP, &TRANSFORMERS, &CANDLE_CPU];

impl Runtime {
    pub fn parse(s: &str) -> Option<&'static Runtime> {
        let s = s.trim().to_ascii_lowercase();
        let id = match s.as_str() {
            "llamacpp" | "llama-cpp" | "ollama" => "llama.cpp",
            "hf" | "huggingface" | "torch" | "pytorch" => "transformers",
            other => other,
        };
        RUNTIMES.iter().copied().find(|r| r.id == id)
    }

    pub fn ids() -> Vec<&'static str> {
        RUNTIMES.iter().map(|r| r.id).collect()
    }

    /// The KV precision this runtime uses with `format` unless told otherwise: llama.cpp caches f16
    /// (`--cache-type-k f16`), the others the weights' 16-bit compute dtype, and candle's quantized
    /// models f32 (their activations are f32).
    pub fn default_kv(&self, format: &Format) -> KvPrecision {
        match (self.id, KvPrecision::default_for(format)) {
            ("llama.cpp", _) => KvPrecision::F16,
            ("vllm" | "transformers", KvPrecision::F32) => KvPrecision::F16,
            (_, kv) => kv,
        }
    }

    pub fn is_cpu(&self) -> bool {
        self.id == "candle-cpu"
    }
}
