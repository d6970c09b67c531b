//! Throughput as a roofline per phase: decode is bandwidth-bound (weights touched + KV read per
//! step), prefill is compute-bound (2 x active params x tokens + attention). Efficiencies and a fixed
//! per-step cost come from the runtime profile; until validation records calibrate a profile, these
//! are uncalibrated estimates and say so.

use super::arch::moe::expected_experts_touched;
use super::memory::Prepared;
use crate::spec::precision::ComputeType;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Throughput {
    /// aggregate decode tokens/s over the batch
    pub decode_tokens_per_s: f64,
    /// tokens/s each sequence sees
    pub per_user_tokens_per_s: f64,
    pub prefill_tokens_per_s: f64,
    /// time to first token: prefill of the whole prompt + one decode step, seconds
    pub ttft_s: f64,
    pub decode_step_s: f64,
    /// "memory" or "compute": what bounds a decode step
    pub decode_bound: &'static str,
    /// bytes a decode step reads per GPU
    pub decode_bytes_per_step: u64,
    /// distinct experts a decode step touches per layer (MoE)
    pub experts_touched_per_layer: Option<f64>,
    /// true when the runtime profile was calibrated from validation records
    pub calibrated: bool,
}

/// Dense tensor peak in FLOP/s for the format's compute type; FP8/INT8 fall back to the 16-bit rate
/// on GPUs without those units, f32 uses the non-tensor rate.
pub fn peak_flops(p: &Prepared) -> f64 {
    let t = &p.gpu.tflops;
    let tf = match p.setup.format.compute {
        ComputeType::F16 => t.bf16,
        ComputeType::Fp8 => t.fp8.unwrap_or(t.bf16),
        ComputeType::Int8 => t.int8.unwrap_or(t.bf16),
        ComputeType::F32 => t.fp32.unwrap_or(t.bf16 / 4.0),
    };
    tf * 1e12
}

/// Weight bytes one decode step reads per GPU: every resident weight except the vision tower and the
/// (untied) embedding table, of which only `batch` rows are gathered; routed experts count only the
/// expected E(1-(1-k/E)^B) touched per layer.
pub fn decode_weight_bytes(p: &Prepared, batch: u64) -> (u64, Option<f64>) {
    let w = p.weights;
    // tied embeddings are read whole as the LM head (on the last pipeline stage)
    let tied = p.setup.model.architecture.as_ref().is_some_and(|a| a.tie_embeddings);
    let embedding = if tied && p.stage.is_last() { 0 } else { w.embedding };
    let dense = w.total - w.vision - embedding - w.experts;
    match p.facts.inventory.moe {
        Some((k, e)) if k > 0 && w.experts > 0 => {
            let touched = expected_experts_touched(e, k, batch);
            (dense + (w.experts as f64 * touched / e as f64) as u64, Some(touched))
        }
        _ => (dense, None),
    }
}

/// KV bytes a decode step reads: the whole cache of every sequence (context tokens each).
pub fn decode_kv_bytes(p: &Prepared, context: u64, batch: u64) -> u64 {
    let tokens = p.sequence_tokens(context);
    super::kv::cache_bytes(&p.kv, tokens, batch, p.setup.runtime.honors_sliding_window)
}

/// FLOPs per GPU for `tokens` new tokens per sequence attending to `kv_len` (average) past tokens:
/// 2 x active matmul params / tp x tokens x batch (the embedding lookup and the vision tower
/// excluded: `pipeline::matmul_parameters`, per stage) + attention 4 x layers x heads x head_dim x
/// kv_len per token (q·kᵀ and p·v).
pub fn forward_flops(p: &Prepared, tokens: u64, kv_len: f64, batch: u64) -> f64 {
    let g = &p.geometry;
    let tp = p.setup.tp.max(1) as f64;
    let matmul_params = p.matmul_params as f64 / tp;
    let n = (tokens * batch) as f64;
    2.0 * matmul_params * n + 4.0 * (g.layers * g.heads * g.head_dim) as f64 * kv_len * n
}

/// Tensor-parallel all-reduce time per forward pass: 2 all-reduces per layer of t x hidden x a bytes,
/// ring algorithm 2(N-1)/N x bytes / link bandwidth, plus ~10 µs latency each.
pub fn tp_comm_s(p: &Prepared, tokens_in_flight: u64) -> f64 {
    let n = p.setup.tp;
    if n <= 1 {
        return 0.0;
    }
    let link = p.gpu.interconnect.as_ref().map_or(32.0, |i| i.bandwidth_gbps) * 1e9;
    let bytes = (tokens_in_flight * p.geometry.hidden * p.act_bytes) as f64;
    let per = 2.0 * (n - 1) as f64 / n as f64 * bytes / link + 10e-6;
    2.0 * p.geometry.layers as f64 * per
}

/// Time of one decode step for `batch` sequences at `context`: the roofline max of bytes / (BW x eff)
/// and FLOPs / (peak x eff), plus the runtime's fixed per-step cost and TP communication.
pub fn decode_step_s(p: &Prepared, context: u64, batch: u64) -> (f64, bool, u64, Option<f64>) {
    let rt = p.setup.runtime;
    let (wbytes, touched) = decode_weight_bytes(p, batch);
    let bytes = wbytes + decode_kv_bytes(p, context, batch);
    let mem_t = bytes as f64 / (p.gpu.bandwidth_gbps * 1e9 * rt.memory_efficiency);
    let flops = forward_flops(p, 1, p.sequence_tokens(context) as f64, batch);
    let compute_t = flops / (peak_flops(p) * rt.compute_efficiency);
    let step = mem_t.max(compute_t) + rt.step_overhead_s + tp_comm_s(p, batch);
    (step, mem_t >= compute_t, bytes, touched)
}

/// Prefill time for a prompt of `tokens` per sequence: causal attention averages tokens/2 past
/// positions; the weights are read once per chunk (MoE prefill touches every expert).
pub fn prefill_s(p: &Prepared, tokens: u64, batch: u64) -> f64 {
    let rt = p.setup.runtime;
    let chunk = rt.prefill_chunk.unwrap_or(tokens).clamp(1, tokens.max(1));
    let chunks = tokens.max(1).div_ceil(chunk);
    let flops = forward_flops(p, tokens, tokens as f64 / 2.0, batch);
    let compute_t = flops / (peak_flops(p) * rt.compute_efficiency);
    let read = (p.weights.total - p.weights.vision) as f64 * chunks as f64;
    let mem_t = read / (p.gpu.bandwidth_gbps * 1e9 * rt.memory_efficiency);
    compute_t.max(mem_t) + chunks as f64 * (rt.step_overhead_s + tp_comm_s(p, chunk * batch))
}

/// Decode and prefill throughput at `context` tokens and `batch` sequences.
pub fn estimate(p: &Prepared, context: u64, batch: u64) -> Throughput {
    let batch = batch.max(1);
    let (step, mem_bound, bytes, touched) = decode_step_s(p, context, batch);
    let prompt = p.sequence_tokens(context);
    let prefill = prefill_s(p, prompt, batch);
    Throughput {
        decode_tokens_per_s: batch as f64 / step,
        per_user_tokens_per_s: 1.0 / step,
        prefill_tokens_per_s: (prompt * batch) as f64 / prefill,
        ttft_s: prefill + step,
        decode_step_s: step,
        decode_bound: if mem_bound { "memory" } else { "compute" },
        decode_bytes_per_step: bytes,
        experts_touched_per_layer: touched,
        calibrated: p.setup.runtime.calibrated_from.is_some(),
    }
}
