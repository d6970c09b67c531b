//! candle, gpuplan's validation runner: eager attention, KV grown by `Tensor::cat`, a cudarc
//! stream-ordered pool. Its constants are calibrated from the runner's own records; memory follows
//! the generic itemized estimate (`memory.rs`).

use super::profile::{AttentionImpl, Device, KvAlloc, KvDefault, Runtime};
use super::EngineId;

pub const CANDLE: Runtime = Runtime {
    id: EngineId::Candle,
    version: "candle 0.11.1",
    description: "candle 0.11 (gpuplan's validation runner): eager attention, KV grown by Tensor::cat",
    device: Device::Gpu,
    kv_default: KvDefault::ComputeDtype,
    kv_alloc: KvAlloc::Grow,
    // scaled, masked and softmaxed scores are alive together (candle-transformers phi3.rs binds each)
    attention: AttentionImpl::Eager { copies: 3, expands_gqa: true },
    prefill_chunk: Some(512),
    step_token_budget: false,
    reserves_full_chunk: false,
    fused_moe: false,
    stacked_experts: false,
    honors_sliding_window: false,
    recurrent_state: crate::estimate::kv::StatePolicy::ModelDtype,
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
    id: EngineId::CandleCpu,
    version: "candle 0.11.1",
    description: "candle 0.11 on the CPU (process RSS); bf16 matmul widens operands to f32",
    device: Device::Cpu,
    kv_default: KvDefault::ComputeDtype,
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
    recurrent_state: crate::estimate::kv::StatePolicy::ModelDtype,
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
