//! Hugging Face transformers `generate()`: SDPA attention, DynamicCache grown by `torch.cat`, the
//! PyTorch caching allocator. Memory follows the generic itemized estimate (`memory.rs`).

use super::profile::{AttentionImpl, Device, KvAlloc, KvDefault, Runtime};
use super::EngineId;

pub const TRANSFORMERS: Runtime = Runtime {
    id: EngineId::Transformers,
    version: "transformers 4.5x, torch 2.x",
    description: "Hugging Face transformers generate(): SDPA attention, DynamicCache grown by torch.cat, whole prompt at once",
    device: Device::Gpu,
    kv_default: KvDefault::Compute16,
    kv_alloc: KvAlloc::Grow,
    attention: AttentionImpl::Fused,
    prefill_chunk: None,
    step_token_budget: false,
    reserves_full_chunk: false,
    fused_moe: false,
    stacked_experts: false,
    honors_sliding_window: false,
    recurrent_state: crate::estimate::kv::StatePolicy::ModelDtype,
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
