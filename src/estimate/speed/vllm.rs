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

/// The coefficients `tests/field_speed.rs` refits on the `vllm_bench` rows of validation/field/:
/// the decode read per memory kind and the fixed time per step, which rows of models of different
/// sizes on one GPU tell apart (a share of the bandwidth scales with the bytes, a cost per step does
/// not). One GPU per memory kind so far (H100 SXM, RTX 4090); the others stay at [`PRIORS`].
pub const COEFFICIENTS: &[Fitted] = &[
    Fitted {
        coef: Coef::DecodeRead(MemoryKind::Gddr),
        value: 1.056,
        rows: 15,
        gpus: 1,
    },
    Fitted {
        coef: Coef::DecodeRead(MemoryKind::Hbm),
        value: 1.283,
        rows: 10,
        gpus: 1,
    },
    Fitted {
        coef: Coef::Step,
        value: 0.001664,
        rows: 25,
        gpus: 2,
    },
];

/// Physical priors for what no published row separates yet:
/// - `EagerLayer` 30 µs: one eager layer launches ~10 kernels through PyTorch at ~3 µs each;
/// - `Gemm` 1/0.6 and `Attention` 1/0.5: the shares of the tensor rate large cuBLAS GEMMs and
///   FlashAttention reach (FlashAttention-2, Dao 2023: 50-73 % of the A100's peak); the prompt
///   chunks chunked prefill mixes into decode steps at concurrency 32-64 reach the GEMM term, but on
///   one GPU only so far;
/// - `AllReduce` 1: the ring all-reduce of `interconnect::tp_comm_s` as is;
/// - `PcieRead` 1/0.70: the pinned host-to-device rate llama.cpp's offload model uses
///   ([`HYBRID`]`.pcie_efficiency`); no published vLLM row with `--cpu-offload-gb` tests it.
pub const PRIORS: &[Fitted] = &[
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
/// whose queries attend to `prompt_pairs` (query, key) pairs in all. `sequences` is a mean over
/// steps where a workload is averaged ([`PrefillMix`]), hence fractional.
fn step(
    p: &Prepared,
    sequences: f64,
    depth: f64,
    prompt_tokens: f64,
    prompt_pairs: f64,
    s: &Settings,
    t: &mut impl Sink<Coef>,
) {
    let bw = bandwidth(p.gpu);
    let mem = MemoryKind::of(p.gpu);
    let tokens = sequences + prompt_tokens;
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
    t.add(Coef::DecodeRead(mem), kv_bytes(p, depth) * sequences / bw);
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

/// How chunked prefill mixes other requests' prompts into the decode steps of one request, in the
/// steady state of `concurrency` clients each sending its next request when the last one ends.
///
/// vLLM V1's scheduler (`vllm/v1/core/sched/scheduler.py` `Scheduler.schedule`) spends the step's
/// token budget `max_num_batched_tokens` on the running requests first (one token per decoding
/// request, the next chunk of a partly prefilled one), then admits waiting requests with what is
/// left (`num_new_tokens = min(num_new_tokens, token_budget)`; `long_prefill_token_threshold` is 0
/// unless partial prefills are limited). A prompt of `I` tokens next to `c − 1` decoding requests
/// therefore takes `P = ⌈I / (budget − (c − 1))⌉` steps, and a request lives `P + O − 1` steps
/// (its first token comes with its last prompt chunk, then `O − 1` decode steps). While one request
/// decodes, each of the other `c − 1` is prefilling in a share `P / (P + O − 1)` of the steps, so
/// `q = (c − 1) P / (P + O − 1)` prompt chunks of `I / P` tokens land in a step on average; the
/// request's steps are pure decode (`c` sequences) or carry those chunks beside `c − max(q, 1)`
/// decoding sequences. Keeping the two kinds of step apart matters because a step is the larger of
/// the weight read and the GEMM time: a chunk of hundreds of tokens turns its step compute-bound,
/// which spreading the same tokens thinly over every step would hide.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PrefillMix {
    /// steps one prompt's prefill spans, `P`
    prefill_steps: f64,
    /// share of a decoding request's steps that carry prompt chunks, `min(q, 1)`
    share: f64,
    /// prompt tokens in such a step, `min(max(q, 1) × I / P, budget − decoding)`
    prompt_tokens: f64,
    /// requests decoding in such a step, `c − max(q, 1)`
    decoding: f64,
}

impl PrefillMix {
    fn of(w: &Workload, s: &Settings) -> PrefillMix {
        let c = w.concurrency.max(1) as f64;
        let input = w.input_tokens as f64;
        let output = w.output_tokens.max(1) as f64;
        let budget = s.max_num_batched_tokens.max(1) as f64;
        let room = (budget - (c - 1.0)).max(1.0);
        let prefill_steps = (input / room).ceil().max(1.0);
        let chunks = (c - 1.0) * prefill_steps / (prefill_steps + output - 1.0);
        let per_step = chunks.max(1.0);
        let decoding = c - per_step;
        PrefillMix {
            prefill_steps,
            share: chunks.min(1.0),
            prompt_tokens: (per_step * input / prefill_steps).min((budget - decoding).max(0.0)),
            decoding,
        }
    }
}

/// Mean time per output token: the mean over one request's decode steps ([`PrefillMix`]), each over
/// the sequences decoding at the mean depth of a request's generation (`I + O/2`); the steps that
/// carry other requests' prompt chunks add those chunks' GEMM rows and attention (a prompt token
/// attends to half its prompt on average: `I²/2` pairs over `I` tokens). At concurrency 1 no other
/// request's prompt shares the steps.
pub fn tpot_terms(p: &Prepared, w: &Workload, s: &Settings) -> Terms<Coef> {
    let mut t = Terms::new();
    tpot(p, w, s, &mut t);
    t
}

/// A sink that scales every quantity by `weight` (one kind of step's share of the mean).
struct Weighted<'a, S> {
    sink: &'a mut S,
    weight: f64,
}

impl<S: Sink<Coef>> Sink<Coef> for Weighted<'_, S> {
    fn add(&mut self, key: Coef, quantity: f64) {
        self.sink.add(key, quantity * self.weight);
    }
}

fn tpot(p: &Prepared, w: &Workload, s: &Settings, t: &mut impl Sink<Coef>) {
    let c = w.concurrency.max(1) as f64;
    let input = w.input_tokens as f64;
    let depth = input + w.output_tokens as f64 / 2.0;
    let mix = PrefillMix::of(w, s);
    if mix.share < 1.0 {
        let mut pure = Weighted {
            sink: t,
            weight: 1.0 - mix.share,
        };
        step(p, c, depth, 0.0, 0.0, s, &mut pure);
    }
    if mix.share > 0.0 {
        let mut mixed = Weighted {
            sink: t,
            weight: mix.share,
        };
        let pairs = mix.prompt_tokens * input / 2.0;
        step(p, mix.decoding, depth, mix.prompt_tokens, pairs, s, &mut mixed);
    }
}

/// Seconds of one step with the committed coefficients.
fn step_s(p: &Prepared, sequences: f64, depth: f64, prompt_tokens: f64, prompt_pairs: f64, s: &Settings) -> f64 {
    let mut t = Seconds::new(coefficient);
    step(p, sequences, depth, prompt_tokens, prompt_pairs, s, &mut t);
    t.total
}

/// One decode step of `batch` sequences at `context` cached tokens each.
pub fn decode_step_s(p: &Prepared, context: u64, batch: u64, s: &Settings) -> f64 {
    step_s(p, batch.max(1) as f64, context as f64, 0.0, 0.0, s)
}

/// Prefill of `tokens` prompt tokens for each of `batch` sequences, in steps of at most
/// `max_num_batched_tokens` tokens; the prompts' causal attention, T(T+1)/2 pairs each, is spread
/// over those steps.
pub fn prefill_s(p: &Prepared, tokens: u64, batch: u64, s: &Settings) -> f64 {
    let tokens = tokens.max(1);
    let total = tokens * batch.max(1);
    let chunk = s.max_num_batched_tokens.clamp(1, total);
    let (full, rest) = (total / chunk, total % chunk);
    let step = |n: u64| step_s(p, 0.0, 0.0, n as f64, 0.0, s);
    let pairs = batch.max(1) as f64 * tokens as f64 * (tokens as f64 + 1.0) / 2.0;
    let attention = attention_flops(p, pairs) / fp16_tensor_flops(p.gpu) * coefficient(Coef::Attention);
    full as f64 * step(chunk) + if rest > 0 { step(rest) } else { 0.0 } + attention
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::arch::check_declared;
    use crate::estimate::engine::vllm::profile::Flags;
    use crate::spec::Catalog;

    fn settings(budget: u64) -> Settings {
        let catalog = Catalog::embedded(check_declared).unwrap();
        let flags = Flags {
            max_num_batched_tokens: Some(budget),
            ..Flags::default()
        };
        Settings::resolve(&flags, &catalog.gpu("rtx-4090").unwrap())
    }

    fn mix(input: u64, output: u64, concurrency: u64, budget: u64) -> PrefillMix {
        let w = Workload {
            input_tokens: input,
            output_tokens: output,
            concurrency,
        };
        PrefillMix::of(&w, &settings(budget))
    }

    #[test]
    fn one_request_decodes_alone() {
        let m = mix(4096, 128, 1, 2048);
        assert_eq!(m.share, 0.0);
        assert_eq!(m.decoding, 0.0);
    }

    #[test]
    fn prompt_chunks_per_decode_step() {
        // a prompt fits one step: q = 10 × 1 / (1 + 100) chunks of 1000 tokens per step
        let m = mix(1000, 101, 11, 2048);
        assert_eq!(m.prefill_steps, 1.0);
        assert_eq!(m.share, 10.0 / 101.0);
        assert_eq!(m.prompt_tokens, 1000.0);
        assert_eq!(m.decoding, 10.0);
        // 4096 tokens next to 8 decoding requests: ⌈4096 / 2040⌉ = 3 chunks; q = 8 × 3 / 131
        let m = mix(4096, 129, 9, 2048);
        assert_eq!(m.prefill_steps, 3.0);
        assert_eq!(m.share, 24.0 / 131.0);
        assert_eq!(m.prompt_tokens, 4096.0 / 3.0);
        assert_eq!(m.decoding, 8.0);
    }

    #[test]
    fn chunks_beyond_one_per_step_fill_the_budget() {
        // q = 32 / 11 > 1: every step carries prompts, at most the budget left by the decodes
        let m = mix(1000, 11, 33, 2048);
        let q = 32.0 / 11.0;
        assert_eq!(m.share, 1.0);
        assert_eq!(m.decoding, 33.0 - q);
        assert_eq!(m.prompt_tokens, 2048.0 - (33.0 - q));
    }
}
