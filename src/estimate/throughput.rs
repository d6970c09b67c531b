//! Throughput per phase. Engines with a speed model of their own (llama.cpp, vLLM:
//! `src/estimate/speed/`, fitted on published benchmark results) use it (its error bands are
//! `plan::evidence`'s);
//! the others use a roofline: decode bandwidth-bound (weights touched + KV read per step), prefill
//! compute-bound (2 x active params x tokens + attention), with efficiencies and a fixed per-step
//! cost from the runtime profile, uncalibrated until validation records calibrate the profile.

pub use super::interconnect::tp_comm_s;
use super::prepared::Prepared;
pub use super::speed::decode_weight_bytes;
use super::speed::Model;
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
    /// what bounds a decode step
    pub decode_bound: Bound,
    /// bytes a decode step reads per GPU
    pub decode_bytes_per_step: u64,
    /// distinct experts a decode step touches per layer (MoE)
    pub experts_touched_per_layer: Option<f64>,
    /// true when the figures are calibrated: by the engine's speed model (fitted on published
    /// benchmark results) or by validation records of the runtime profile
    pub calibrated: bool,
}

/// What bounds a step: bytes over bandwidth, or FLOPs over peak.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    Memory,
    Compute,
}

impl Bound {
    pub fn name(self) -> &'static str {
        match self {
            Bound::Memory => "memory",
            Bound::Compute => "compute",
        }
    }
}

/// One decode step as the roofline sees it.
#[derive(Debug, Clone, Copy)]
pub struct DecodeStep {
    pub seconds: f64,
    pub memory_bound: bool,
    pub bytes: u64,
    pub touched: Option<f64>,
    /// what the first token adds after the prefill (one step; a pipeline's chain of stages)
    pub first_token_s: f64,
}

impl Throughput {
    /// The rates that follow from one decode step and a prefill of `prompt_tokens` (all sequences).
    pub fn new(step: DecodeStep, prefill_s: f64, prompt_tokens: u64, batch: u64, p: &Prepared) -> Self {
        let decode_tokens_per_s = batch as f64 / step.seconds;
        let prefill_tokens_per_s = prompt_tokens as f64 / prefill_s;
        Throughput {
            decode_tokens_per_s,
            per_user_tokens_per_s: 1.0 / step.seconds,
            prefill_tokens_per_s,
            ttft_s: prefill_s + step.first_token_s,
            decode_step_s: step.seconds,
            decode_bound: if step.memory_bound {
                Bound::Memory
            } else {
                Bound::Compute
            },
            decode_bytes_per_step: step.bytes,
            experts_touched_per_layer: step.touched,
            calibrated: super::speed::calibrated_from(p.setup.runtime).is_some(),
        }
    }
}

/// Dense tensor peak in FLOP/s for the format's compute type; FP8/INT8/FP4 fall back to the 16-bit
/// rate on GPUs without those units, f32 uses the non-tensor rate.
pub fn peak_flops(p: &Prepared) -> f64 {
    let t = &p.gpu.tflops;
    let tf = match p.setup.format.compute {
        ComputeType::F16 => t.bf16,
        ComputeType::Fp8 => t.fp8.unwrap_or(t.bf16),
        ComputeType::Int8 => t.int8.unwrap_or(t.bf16),
        ComputeType::F32 => t.fp32.unwrap_or(t.bf16 / 4.0),
        // without FP4 units vLLM runs NVFP4 weight-only (Marlin): 16-bit math
        ComputeType::Fp4 => t.fp4.unwrap_or(t.bf16),
    };
    tf * 1e12
}

/// KV bytes a decode step reads: the whole cache of every sequence (context tokens each).
pub fn decode_kv_bytes(p: &Prepared, context: u64, batch: u64) -> u64 {
    let tokens = p.sequence_tokens(context);
    super::kv::cache_bytes(&p.kv, tokens, batch, p.setup.runtime.honors_sliding_window)
}

/// Matmul FLOPs per GPU for `tokens` new tokens per sequence: 2 x active matmul params / tp x
/// tokens x batch (the embedding lookup and the vision tower excluded: `stage::matmul_parameters`,
/// per stage).
pub fn matmul_flops(p: &Prepared, tokens: u64, batch: u64) -> f64 {
    let tp = p.setup.tp.max(1) as f64;
    2.0 * p.matmul_params as f64 / tp * (tokens * batch) as f64
}

/// Attention FLOPs per GPU: 4 x layers x heads x head_dim per (new token, attended position) pair
/// (q·kᵀ and p·v); `pairs` counts those pairs per sequence.
pub fn attention_flops(p: &Prepared, pairs: f64, batch: u64) -> f64 {
    let g = &p.geometry;
    4.0 * (g.layers * g.heads * g.head_dim) as f64 * pairs * batch as f64
}

/// FLOPs per GPU for `tokens` new tokens per sequence attending to `kv_len` (average) past tokens.
pub fn forward_flops(p: &Prepared, tokens: u64, kv_len: f64, batch: u64) -> f64 {
    matmul_flops(p, tokens, batch) + attention_flops(p, tokens as f64 * kv_len, batch)
}

/// Non-tensor (SIMT) FP32 peak in FLOP/s: what element-wise kernels, copies and small batched
/// matmuls scale with (the GPU spec's fp32 figure, or a quarter of the bf16 tensor figure).
pub fn simt_flops(p: &Prepared) -> f64 {
    let t = &p.gpu.tflops;
    t.fp32.unwrap_or(t.bf16 / 4.0) * 1e12
}

/// Compute time of `matmul` and `attention` FLOPs: matmuls at the tensor peak times the compute
/// efficiency; fused attention likewise; eager attention (scores, mask, softmax and a batched
/// matmul per head, as separate kernels) at a share of the SIMT peak, lower with f32 activations.
fn compute_s(p: &Prepared, matmul: f64, attention: f64) -> f64 {
    let rt = p.setup.runtime;
    let peak = peak_flops(p);
    let attn_eff = if p.act_bytes >= 4 {
        rt.attention_efficiency_f32
    } else {
        rt.attention_efficiency
    };
    let attn_peak = match rt.attention {
        super::engine::AttentionImpl::Eager { .. } => simt_flops(p),
        super::engine::AttentionImpl::Fused => peak,
    };
    matmul / (peak * rt.compute_efficiency) + attention / (attn_peak * attn_eff)
}

/// Host-side MoE cost per forward: `per_layer` seconds for each MoE layer on this GPU (routing on
/// the host and the loop over experts in candle; zero for fused-kernel engines).
fn moe_s(p: &Prepared, per_layer: f64) -> f64 {
    if p.geometry.moe.is_some() {
        p.geometry.layers as f64 * per_layer
    } else {
        0.0
    }
}

/// Time a decode step spends on the KV cache: bytes over bandwidth for bandwidth-bound engines; for
/// element-bound ones (candle) cached elements at one rate plus, with GQA, the elements expanded to
/// all heads at another, both relative to the SIMT peak (the H100 and H200 run them at the same
/// speed despite 43% more bandwidth on the H200: validation/records).
pub fn kv_decode_s(p: &Prepared, kv_bytes: u64) -> f64 {
    let rt = p.setup.runtime;
    if rt.kv_cached_elements_per_flop > 0.0 {
        let cached = kv_bytes as f64 / p.setup.kv.element_bytes();
        let g = &p.geometry;
        let peak = simt_flops(p);
        let expanded = if g.heads != g.kv_heads && g.kv_heads > 0 && rt.kv_expanded_elements_per_flop > 0.0 {
            cached * g.heads as f64 / g.kv_heads as f64 / (peak * rt.kv_expanded_elements_per_flop)
        } else {
            0.0
        };
        cached / (peak * rt.kv_cached_elements_per_flop) + expanded
    } else {
        kv_bytes as f64 / (p.gpu.bandwidth_gbps * 1e9 * rt.kv_efficiency)
    }
}

/// One decode step for `batch` sequences at `context`: (seconds, memory-bound, bytes read per GPU,
/// experts touched per layer). The seconds are the engine's speed model's where it has one, else the
/// roofline's; the bound and the bytes are the roofline's.
pub fn decode_step_s(p: &Prepared, context: u64, batch: u64) -> (f64, bool, u64, Option<f64>) {
    let (roofline, memory_bound, bytes, touched) = roofline_decode_step_s(p, context, batch);
    let seconds = match Model::of(p) {
        Some(m) => m.decode_step_s(p, p.sequence_tokens(context), batch.max(1)),
        None => roofline,
    };
    (seconds, memory_bound, bytes, touched)
}

/// Time of one decode step for `batch` sequences at `context`: the roofline max of bytes / (BW x eff)
/// and FLOPs / (peak x eff), plus the runtime's fixed per-step cost and TP communication.
fn roofline_decode_step_s(p: &Prepared, context: u64, batch: u64) -> (f64, bool, u64, Option<f64>) {
    let rt = p.setup.runtime;
    let bw = p.gpu.bandwidth_gbps * 1e9;
    let (wbytes, touched) = decode_weight_bytes(p, batch);
    let kv_bytes = decode_kv_bytes(p, context, batch);
    let mem_t = wbytes as f64 / (bw * rt.memory_efficiency) + kv_decode_s(p, kv_bytes);
    let compute_t = compute_s(
        p,
        matmul_flops(p, 1, batch),
        attention_flops(p, p.sequence_tokens(context) as f64, batch),
    );
    let quantized = p.setup.format.kind != crate::spec::precision::FormatKind::Uniform;
    let moe = moe_s(
        p,
        if quantized {
            rt.moe_layer_quantized_s
        } else {
            rt.moe_layer_s
        },
    );
    let step = mem_t.max(compute_t) + rt.step_overhead_s + moe + tp_comm_s(p, batch);
    (step, mem_t >= compute_t, wbytes + kv_bytes, touched)
}

/// How a prompt of `tokens` is prefilled: (chunk size, number of chunks), whole when the runtime
/// does not chunk.
pub fn prefill_chunking(rt: &super::Runtime, tokens: u64) -> (u64, u64) {
    let chunk = rt.prefill_chunk.unwrap_or(tokens).clamp(1, tokens.max(1));
    (chunk, tokens.max(1).div_ceil(chunk))
}

/// Prefill time for a prompt of `tokens` per sequence: the engine's speed model's where it has one,
/// else the roofline's.
pub fn prefill_s(p: &Prepared, tokens: u64, batch: u64) -> f64 {
    match Model::of(p) {
        Some(m) => m.prefill_s(p, tokens, batch.max(1)),
        None => roofline_prefill_s(p, tokens, batch),
    }
}

/// Prefill time for a prompt of `tokens` per sequence in chunks of c: causal attention over
/// Σ chunks c x (positions so far) = (T² + T·c)/2 pairs; the weights are read once per chunk (MoE
/// prefill touches every expert); each chunk pays the runtime's fixed cost, each prompt its one-time
/// cost, each token the host-side MoE routing.
fn roofline_prefill_s(p: &Prepared, tokens: u64, batch: u64) -> f64 {
    let rt = p.setup.runtime;
    let (chunk, chunks) = prefill_chunking(rt, tokens);
    let pairs = (tokens as f64 * tokens as f64 + tokens as f64 * chunk as f64) / 2.0;
    let compute_t = compute_s(p, matmul_flops(p, tokens, batch), attention_flops(p, pairs, batch));
    let read = (p.weights.total - p.weights.vision) as f64 * chunks as f64;
    let mem_t = read / (p.gpu.bandwidth_gbps * 1e9 * rt.memory_efficiency);
    let per_chunk = rt.prefill_chunk_s + tp_comm_s(p, chunk * batch);
    let moe = moe_s(p, rt.moe_prefill_token_layer_s) * (tokens * batch) as f64;
    compute_t.max(mem_t) + chunks as f64 * per_chunk + rt.prefill_fixed_s + moe
}

/// Decode and prefill throughput at `context` tokens and `batch` sequences.
pub fn estimate(p: &Prepared, context: u64, batch: u64) -> Throughput {
    let batch = batch.max(1);
    let (step, mem_bound, bytes, touched) = decode_step_s(p, context, batch);
    let prompt = p.sequence_tokens(context);
    let prefill = prefill_s(p, prompt, batch);
    Throughput::new(
        DecodeStep {
            seconds: step,
            memory_bound: mem_bound,
            bytes,
            touched,
            first_token_s: step,
        },
        prefill,
        prompt * batch,
        batch,
        p,
    )
}
