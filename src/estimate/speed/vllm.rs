//! vLLM V1 (docs/engines/speed.md): a step is one forward pass over the running sequences plus the
//! prompt tokens chunked prefill mixes in (up to `max_num_batched_tokens`).
//! - decode reads the weights once per step (cuBLAS/CUTLASS GEMMs with M = sequences) and each
//!   sequence's KV once (FlashAttention/FlashInfer paged kernels); with many sequences the GEMMs turn
//!   compute-bound;
//! - a step costs a fixed CPU time (scheduler, input preparation, sampling) that CUDA graphs do not
//!   remove, and with `--enforce-eager` a launch cost per layer that they do;
//! - tensor parallelism adds two all-reduces per layer;
//! - with `--cpu-offload-gb` the offloaded parameters are read from pinned host memory over PCIe
//!   in every step (UVA: the kernels read them in place), after the GPU-resident ones.

use super::fit::{Seconds, Sink, Terms};
use super::{bandwidth, fp16_tensor_flops, fp32_accumulate_flops, MemoryKind};
use crate::estimate::engine::offload::speed::HYBRID;
use crate::estimate::engine::vllm::offload::{cpu_offload, CpuOffload};
use crate::estimate::engine::vllm::profile::Settings;
use crate::estimate::interconnect::tp_comm_s;
use crate::estimate::prepared::Prepared;
use crate::spec::host::Pcie;
use crate::spec::precision::ComputeType;
use serde::Serialize;

/// The coefficients of the vLLM model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "coefficient", content = "of")]
pub enum Coef {
    /// 1 / share of peak bandwidth a decode step reaches reading weights and KV
    DecodeRead(MemoryKind),
    /// seconds per step outside the GPU's kernels (scheduler, input preparation, sampling)
    Step,
    /// seconds per layer and step of Python kernel launches (`--enforce-eager` only)
    EagerLayer,
    /// 1 / share of the tensor rate the GEMMs reach when compute-bound (prompt tokens, big batches)
    Gemm,
    /// 1 / share of the tensor rate FlashAttention reaches on prompt tokens
    Attention,
    /// the tensor-parallel all-reduces, in units of `interconnect::tp_comm_s`
    AllReduce,
    /// 1 / share of the PCIe link's per-direction peak that kernels reading `--cpu-offload-gb`
    /// weights from pinned host memory reach
    PcieRead,
}

/// A coefficient of this model and what it rests on; 0 rows: a physical prior no published row
/// tests yet.
pub type Fitted = super::Fitted<Coef>;

/// The coefficients `tests/field_speed.rs` refits on the `vllm_bench` rows of validation/field/
/// (all at concurrency 1, one GPU model per memory kind so far, so only the decode read is fitted; see
/// [`PRIORS`]).
pub const COEFFICIENTS: &[Fitted] = &[
    Fitted {
        coef: Coef::DecodeRead(MemoryKind::Gddr),
        value: 1.286,
        rows: 6,
        gpus: 1,
    },
    Fitted {
        coef: Coef::DecodeRead(MemoryKind::Hbm),
        value: 1.372,
        rows: 6,
        gpus: 1,
    },
];

/// Physical priors for what no published row separates yet:
/// - `Step` 0: the scheduler's and sampler's CPU time per step overlaps the GPU's work (async
///   scheduling) or is folded into `DecodeRead` on the rows at hand (one model, one GPU, one
///   concurrency cannot tell a fixed cost from a bandwidth share);
/// - `EagerLayer` 30 µs: one eager layer launches ~10 kernels through PyTorch at ~3 µs each;
/// - `Gemm` 1/0.6 and `Attention` 1/0.5: the shares of the tensor rate large cuBLAS GEMMs and
///   FlashAttention reach (FlashAttention-2, Dao 2023: 50-73 % of the A100's peak);
/// - `AllReduce` 1: the ring all-reduce of `interconnect::tp_comm_s` as is;
/// - `PcieRead` 1/0.70: the pinned host-to-device rate llama.cpp's offload model uses
///   ([`HYBRID`]`.pcie_efficiency`); no published vLLM row with `--cpu-offload-gb` tests it;
/// - `DecodeRead(Gddr)`: none; the HBM value stands in (the Qwen3-4B RTX 4090 rows wait for
///   gpuplan to import qwen3).
pub const PRIORS: &[Fitted] = &[
    Fitted {
        coef: Coef::Step,
        value: 0.0,
        rows: 0,
        gpus: 0,
    },
    Fitted {
        coef: Coef::EagerLayer,
        value: 30e-6,
        rows: 0,
        gpus: 0,
    },
    Fitted {
        coef: Coef::Gemm,
        value: 1.0 / 0.6,
        rows: 0,
        gpus: 0,
    },
    Fitted {
        coef: Coef::Attention,
        value: 2.0,
        rows: 0,
        gpus: 0,
    },
    Fitted {
        coef: Coef::AllReduce,
        value: 1.0,
        rows: 0,
        gpus: 0,
    },
    Fitted {
        coef: Coef::PcieRead,
        value: 1.0 / HYBRID.pcie_efficiency,
        rows: 0,
        gpus: 0,
    },
];

/// Value of `coef`: the fitted value, else the prior, else the other memory kind's decode read.
pub fn coefficient(coef: Coef) -> f64 {
    lookup(COEFFICIENTS, coef)
}

/// `coef` in `table` (then [`PRIORS`], then the decode read of any memory kind).
pub fn lookup(table: &[Fitted], coef: Coef) -> f64 {
    table
        .iter()
        .chain(PRIORS)
        .find(|f| f.coef == coef)
        .or_else(|| match coef {
            Coef::DecodeRead(_) => table.iter().find(|f| matches!(f.coef, Coef::DecodeRead(_))),
            _ => None,
        })
        .map_or(f64::NAN, |f| f.value)
}

/// Tensor rate the model's GEMMs run at: bf16/fp16 with fp32 accumulation (what PyTorch and vLLM's
/// kernels use), fp8 where the format computes in it.
fn gemm_peak(p: &Prepared) -> f64 {
    let t = &p.gpu.tflops;
    match p.setup.format.compute {
        ComputeType::Fp8 => t.fp8.map_or(fp32_accumulate_flops(p.gpu), |f| f * 1e12),
        ComputeType::Int8 => t.int8.map_or(fp32_accumulate_flops(p.gpu), |f| f * 1e12),
        _ => fp32_accumulate_flops(p.gpu),
    }
}

/// One step: `sequences` decoding at mean depth `depth`, plus `prompt_tokens` of prefill mixed in
/// whose queries attend to `prompt_pairs` (query, key) pairs in all.
fn step(
    p: &Prepared,
    sequences: u64,
    depth: f64,
    prompt_tokens: f64,
    prompt_pairs: f64,
    s: &Settings,
    t: &mut impl Sink<Coef>,
) {
    let bw = bandwidth(p.gpu);
    let mem = MemoryKind::of(p.gpu);
    let tokens = sequences as f64 + prompt_tokens;
    let (weights, touched) = super::decode_weight_bytes(p, tokens.ceil() as u64);
    let offload = cpu_offload(p, s);
    let host = offload.map_or(0, |o| host_read_bytes(p, &o, touched));
    // the weights stream once per step; the GEMMs over `tokens` rows turn compute-bound past the
    // point where their FLOPs take longer than that read (the larger of the two, coefficients
    // applied)
    let flops = 2.0 * p.matmul_params as f64 / p.setup.tp.max(1) as f64 * tokens;
    let read_s = weights.saturating_sub(host) as f64 / bw;
    let compute_s = flops / gemm_peak(p);
    if compute_s * coefficient(Coef::Gemm) > read_s * coefficient(Coef::DecodeRead(mem)) {
        t.add(Coef::Gemm, compute_s);
    } else {
        t.add(Coef::DecodeRead(mem), read_s);
    }
    t.add(Coef::DecodeRead(mem), kv_bytes(p, depth) * sequences as f64 / bw);
    if host > 0 {
        // the layers run in order: the offloaded ones wait on the link, whatever the batch
        t.add(Coef::PcieRead, host as f64 / (link(s).peak_gbps() * 1e9));
    }
    if prompt_pairs > 0.0 {
        t.add(
            Coef::Attention,
            attention_flops(p, prompt_pairs) / fp16_tensor_flops(p.gpu),
        );
    }
    t.add(Coef::Step, 1.0);
    if s.enforce_eager {
        t.add(Coef::EagerLayer, p.geometry.layers as f64);
    }
    t.add(Coef::AllReduce, tp_comm_s(p, tokens.ceil() as u64));
}

/// The link the offloaded weights cross: the host's slot and the card's interface negotiated; an
/// unknown one is taken as [`Pcie::COMMON`].
pub fn link(s: &Settings) -> Pcie {
    s.link.unwrap_or(Pcie::COMMON)
}

/// Offloaded bytes one step reads over PCIe: every offloaded dense parameter, and of the offloaded
/// routed experts only the `touched` of E a step's tokens route to (the fused-MoE kernel reads the
/// rows of the experts it runs, in place).
pub fn host_read_bytes(p: &Prepared, o: &CpuOffload, touched: Option<f64>) -> u64 {
    let dense = o.offloaded_bytes - o.expert_bytes;
    match (touched, p.facts.inventory.moe) {
        (Some(t), Some((_, e))) if e > 0 => dense + (o.expert_bytes as f64 * t / e as f64) as u64,
        _ => o.offloaded_bytes,
    }
}

/// KV bytes of one sequence at `depth` cached tokens (sliding-window layers keep their window).
fn kv_bytes(p: &Prepared, depth: f64) -> f64 {
    let kv = &p.kv;
    let windowed = if kv.window > 0 {
        depth.min(kv.window as f64)
    } else {
        depth
    };
    kv.full as f64 * depth + kv.windowed as f64 * windowed
}

/// Attention FLOPs per GPU of `pairs` (query, key) pairs: q·kᵀ and p·v over every layer and head.
fn attention_flops(p: &Prepared, pairs: f64) -> f64 {
    let g = &p.geometry;
    4.0 * (g.layers * g.heads * g.head_dim) as f64 * pairs
}

/// What `vllm bench serve` measures for a fixed-length workload at a client concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Workload {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub concurrency: u64,
}

/// Mean time per output token: a decode step over `concurrency` sequences at the mean depth of a
/// request's generation, plus the prompt tokens chunked prefill mixes into each step. In steady
/// state `concurrency / output` requests start per step, bringing `concurrency × input / output`
/// prompt tokens (at most `max_num_batched_tokens`), each attending to half its prompt on average;
/// at concurrency 1 no other request's prompt shares the steps.
pub fn tpot_terms(p: &Prepared, w: &Workload, s: &Settings) -> Terms<Coef> {
    let mut t = Terms::new();
    tpot(p, w, s, &mut t);
    t
}

fn tpot(p: &Prepared, w: &Workload, s: &Settings, t: &mut impl Sink<Coef>) {
    let c = w.concurrency.max(1);
    let input = w.input_tokens as f64;
    let depth = input + w.output_tokens as f64 / 2.0;
    let mixed = if c > 1 {
        ((c - 1) as f64 * input / w.output_tokens.max(1) as f64).min(s.max_num_batched_tokens as f64)
    } else {
        0.0
    };
    step(p, c, depth, mixed, mixed * input / 2.0, s, t);
}

/// Seconds of one step with the committed coefficients.
fn step_s(p: &Prepared, sequences: u64, depth: f64, prompt_tokens: f64, prompt_pairs: f64, s: &Settings) -> f64 {
    let mut t = Seconds::new(coefficient);
    step(p, sequences, depth, prompt_tokens, prompt_pairs, s, &mut t);
    t.total
}

/// One decode step of `batch` sequences at `context` cached tokens each.
pub fn decode_step_s(p: &Prepared, context: u64, batch: u64, s: &Settings) -> f64 {
    step_s(p, batch.max(1), context as f64, 0.0, 0.0, s)
}

/// Prefill of `tokens` prompt tokens for each of `batch` sequences, in steps of at most
/// `max_num_batched_tokens` tokens; the prompts' causal attention, T(T+1)/2 pairs each, is spread
/// over those steps.
pub fn prefill_s(p: &Prepared, tokens: u64, batch: u64, s: &Settings) -> f64 {
    let tokens = tokens.max(1);
    let total = tokens * batch.max(1);
    let chunk = s.max_num_batched_tokens.clamp(1, total);
    let (full, rest) = (total / chunk, total % chunk);
    let step = |n: u64| step_s(p, 0, 0.0, n as f64, 0.0, s);
    let pairs = batch.max(1) as f64 * tokens as f64 * (tokens as f64 + 1.0) / 2.0;
    let attention = attention_flops(p, pairs) / fp16_tensor_flops(p.gpu) * coefficient(Coef::Attention);
    full as f64 * step(chunk) + if rest > 0 { step(rest) } else { 0.0 } + attention
}
