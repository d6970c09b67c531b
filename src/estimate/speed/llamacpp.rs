//! llama.cpp's CUDA backend, phase by phase (docs/engines/speed.md):
//! - decode: `mul_mat_vec_q` / `mul_mat_vec_f` read every weight byte once per token; the KV cache is
//!   read once per token with flash attention and partly re-read per query head without it; each
//!   layer pass also costs a fixed GPU time at its kernel boundaries;
//! - prefill: microbatches of `n_ubatch` tokens; quantized weights on int8 tensor cores (MMQ, b3216 and
//!   later) or dequantized to f16 for cuBLAS (before); F16 weights on cuBLAS with fp16 accumulation,
//!   capped by board power; attention on tensor cores (flash) or through f32 score matrices.

use super::fit::{Seconds, Sink, Terms};
use super::{
    bandwidth, board_watts, fp16_tensor_flops, fp32_accumulate_flops, int8_tensor_ops, mma_sync_share, simt_flops,
};
use super::{GpuClass, MemoryKind};
use crate::estimate::prepared::Prepared;
use crate::spec::precision::{ComputeType, FormatKind};
use serde::Serialize;

/// The largest microbatch `ggml_cuda_mul_mat` still sends to the mat-vec kernels
/// (`MMVQ_MAX_BATCH_SIZE`, ggml/src/ggml-cuda/mmvq.cuh).
pub const MMVQ_MAX_BATCH: u64 = 8;

/// First build with MMQ as the default prompt path for quantized weights on int8 tensor cores:
/// PR #8075 "CUDA: use MMQ instead of cuBLAS by default", commit a818f302, tag b3216 (2024-06-24).
pub const MMQ_DEFAULT_FROM: u32 = 3216;

/// First build of the kernel-fusion era: PR #14800 "CUDA: add fused rms norm" (merged 2025-07-21)
/// began fusing the small per-layer kernels (then add + rms norm, RoPE + KV write, gate/up mat-vec +
/// GLU in PR #16715). llama.cpp's tags were near b5950 then; no recorded row lies near the boundary.
pub const FUSED_FROM: u32 = 5950;

/// Which llama.cpp the estimate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Build {
    /// a numbered release (`build: <commit> (<number>)` in llama-bench's output)
    Number { number: u32 },
    /// master (or a branch of it) as of a month, for builds known by date only (PR tables)
    Dated { year: u32, month: u32 },
    /// master from the kernel-fusion era on (what gpuplan models by default)
    Current,
}

/// The month b3216 (MMQ by default) and PR #14800 (kernel fusion) landed.
const MMQ_DEFAULT_MONTH: (u32, u32) = (2024, 7);
const FUSED_MONTH: (u32, u32) = (2025, 7);

impl Build {
    /// Quantized prompts run MMQ on int8 tensor cores (else: dequantize to f16 + cuBLAS). A build
    /// dated to the month of the switch (June 2024) counts as before it.
    pub fn mmq_prompts(self) -> bool {
        match self {
            Build::Number { number } => number >= MMQ_DEFAULT_FROM,
            Build::Dated { year, month } => (year, month) >= MMQ_DEFAULT_MONTH,
            Build::Current => true,
        }
    }

    pub fn era(self) -> Era {
        let fused = match self {
            Build::Number { number } => number >= FUSED_FROM,
            Build::Dated { year, month } => (year, month) >= FUSED_MONTH,
            Build::Current => true,
        };
        if fused {
            Era::Fused
        } else {
            Era::Unfused
        }
    }

    /// `b2824`, `b2824 (4426e298)`, or a description ending in `(YYYY-MM)` (a PR's master or branch);
    /// anything else is the current build.
    pub fn parse(version: &str) -> Build {
        let v = version.trim();
        if let Some(number) = v.strip_prefix('b').and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        }) {
            return Build::Number { number };
        }
        let dated = v
            .rsplit_once('(')
            .and_then(|(_, tail)| tail.strip_suffix(')'))
            .and_then(|d| d.split_once('-'))
            .and_then(|(y, m)| Some((y.parse().ok()?, m.parse().ok()?)));
        match dated {
            Some((year, month)) => Build::Dated { year, month },
            None => Build::Current,
        }
    }
}

/// Before or after the 2025 kernel fusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Era {
    Unfused,
    Fused,
}

/// The settings that change llama.cpp's speed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Run {
    /// `-fa` / `--flash-attn` resolved to on or off
    pub flash_attn: bool,
    /// `-ub` / `--ubatch-size`
    pub n_ubatch: u64,
    pub build: Build,
    /// `nvidia-smi -pl`, W (None: the board's TDP)
    pub power_limit_w: Option<f64>,
    /// built with `GGML_CUDA_FORCE_MMQ`: MMQ for every microbatch size whatever the build's default
    pub force_mmq: bool,
}

impl Run {
    /// The run llama.cpp's resolved settings describe, on current master at the board's power.
    pub fn of(s: &crate::estimate::engine::llamacpp::profile::Settings) -> Run {
        Run {
            flash_attn: s.flash_attn_enabled,
            n_ubatch: s.ubatch_size,
            ..Run::default()
        }
    }
}

impl Default for Run {
    /// llama.cpp's defaults on CUDA: flash attention `auto` (on where the kernels support the model),
    /// `n_ubatch` 512, current master.
    fn default() -> Self {
        Run {
            flash_attn: true,
            n_ubatch: 512,
            build: Build::Current,
            power_limit_w: None,
            force_mmq: false,
        }
    }
}

/// What multiplies each term: the coefficients of the model. Each is the inverse of an achieved
/// share of a datasheet rate (dimensionless), or a time per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "coefficient", content = "of")]
pub enum Coef {
    /// 1 / share of peak bandwidth a decode step gets reading quantized weights (MMVQ) and, with
    /// flash attention, the KV cache
    DecodeRead(MemoryKind),
    /// the same for 16/32-bit weights (`mul_mat_vec_f`)
    DecodeRead16(MemoryKind),
    /// without flash attention: KV bytes re-read per token, in units of the cache over bandwidth
    KvWithoutFlash(GpuClass),
    /// seconds per layer and forward pass at the kernel boundaries
    LayerPass(Era),
    /// 1 / share of the fp16 tensor rate cuBLAS reaches on a microbatch's GEMMs
    Gemm(GpuClass),
    /// seconds per (FLOP per W x 1e12): the board-power cap on long GEMMs
    GemmPower(GpuClass),
    /// 1 / share of the int8 tensor rate MMQ reaches
    Mmq(GpuClass),
    /// 1 / share of bandwidth for the f16 copy of the weights (dequantize + cuBLAS builds)
    Dequant,
    /// 1 / share of the fp16 tensor rate the flash-attention kernels reach in a prompt microbatch
    FlashAttention,
    /// 1 / share of the fp16 tensor rate KQ and KQV reach as batched cuBLAS GEMMs (no flash attention)
    Attention,
    /// 1 / share of bandwidth for the f32 score matrices without flash attention
    Scores,
    /// 1 / share of bandwidth for the f32 activations between kernels
    Elementwise,
}

/// A coefficient of this model and what it rests on; 0 rows: borrowed from the fit over all
/// classes.
pub type Fitted = super::Fitted<Coef>;

/// The coefficients, refitted by `tests/field_speed.rs` (relative least squares with a Huber
/// weight over the `llamacpp_bench` rows of validation/field/; keys without rows of their own take
/// the value fitted over every class). Values are the inverse of an achieved share of the datasheet
/// rate; e.g. DecodeRead(Gddr) 1.09 means decode reads weights at 1/1.09 = 92 % of peak bandwidth
/// once the per-layer fixed time is counted separately.
pub const COEFFICIENTS: &[Fitted] = &[
    Fitted {
        coef: Coef::Attention,
        value: 6.24,
        rows: 88,
        gpus: 9,
    },
    Fitted {
        coef: Coef::DecodeRead(MemoryKind::Gddr),
        value: 1.072,
        rows: 38,
        gpus: 6,
    },
    Fitted {
        coef: Coef::DecodeRead(MemoryKind::Hbm),
        value: 1.739,
        rows: 24,
        gpus: 3,
    },
    Fitted {
        coef: Coef::DecodeRead16(MemoryKind::Gddr),
        value: 1.078,
        rows: 23,
        gpus: 6,
    },
    Fitted {
        coef: Coef::DecodeRead16(MemoryKind::Hbm),
        value: 1.915,
        rows: 12,
        gpus: 3,
    },
    Fitted {
        coef: Coef::Dequant,
        value: 1.0,
        rows: 60,
        gpus: 9,
    },
    Fitted {
        coef: Coef::Elementwise,
        value: 1.0,
        rows: 89,
        gpus: 9,
    },
    Fitted {
        coef: Coef::FlashAttention,
        value: 4.354,
        rows: 1,
        gpus: 1,
    },
    Fitted {
        coef: Coef::Gemm(GpuClass::Ada),
        value: 1.0,
        rows: 35,
        gpus: 4,
    },
    Fitted {
        coef: Coef::Gemm(GpuClass::Ampere),
        value: 1.402,
        rows: 20,
        gpus: 2,
    },
    Fitted {
        coef: Coef::Gemm(GpuClass::AmpereDatacenter),
        value: 1.48,
        rows: 20,
        gpus: 2,
    },
    Fitted {
        coef: Coef::Gemm(GpuClass::Volta),
        value: 1.0,
        rows: 87,
        gpus: 9,
    }, // all classes
    Fitted {
        coef: Coef::GemmPower(GpuClass::Ada),
        value: 0.2781,
        rows: 35,
        gpus: 4,
    },
    Fitted {
        coef: Coef::GemmPower(GpuClass::Ampere),
        value: 0.0,
        rows: 20,
        gpus: 2,
    },
    Fitted {
        coef: Coef::GemmPower(GpuClass::AmpereDatacenter),
        value: 0.6868,
        rows: 20,
        gpus: 2,
    },
    Fitted {
        coef: Coef::GemmPower(GpuClass::Volta),
        value: 0.9955,
        rows: 87,
        gpus: 9,
    }, // all classes
    Fitted {
        coef: Coef::KvWithoutFlash(GpuClass::Ada),
        value: 1.737,
        rows: 39,
        gpus: 4,
    },
    Fitted {
        coef: Coef::KvWithoutFlash(GpuClass::Ampere),
        value: 4.432,
        rows: 20,
        gpus: 2,
    },
    Fitted {
        coef: Coef::KvWithoutFlash(GpuClass::AmpereDatacenter),
        value: 8.345,
        rows: 24,
        gpus: 2,
    },
    Fitted {
        coef: Coef::KvWithoutFlash(GpuClass::Volta),
        value: 2.945,
        rows: 95,
        gpus: 9,
    }, // all classes
    Fitted {
        coef: Coef::LayerPass(Era::Fused),
        value: 4.018e-5,
        rows: 3,
        gpus: 2,
    },
    Fitted {
        coef: Coef::LayerPass(Era::Unfused),
        value: 9.06e-5,
        rows: 183,
        gpus: 9,
    },
    Fitted {
        coef: Coef::Mmq(GpuClass::Volta),
        value: 2.387,
        rows: 2,
        gpus: 2,
    }, // all classes
    Fitted {
        coef: Coef::Scores,
        value: 1.0,
        rows: 88,
        gpus: 9,
    },
];

/// Value of `coef` (the fit over all classes when the table has no row for this class).
pub fn coefficient(coef: Coef) -> f64 {
    lookup(COEFFICIENTS, coef)
}

/// `coef` in `table`, falling back to the key-independent value of its kind.
pub fn lookup(table: &[Fitted], coef: Coef) -> f64 {
    table
        .iter()
        .find(|f| f.coef == coef)
        .or_else(|| table.iter().find(|f| f.coef == pooled(coef)))
        .map_or(f64::NAN, |f| f.value)
}

/// The pooled key of a per-class or per-memory coefficient (the same coefficient of the class or
/// memory kind that stands for "all").
pub fn pooled(coef: Coef) -> Coef {
    match coef {
        Coef::KvWithoutFlash(_) => Coef::KvWithoutFlash(POOL_CLASS),
        Coef::Gemm(_) => Coef::Gemm(POOL_CLASS),
        Coef::GemmPower(_) => Coef::GemmPower(POOL_CLASS),
        Coef::Mmq(_) => Coef::Mmq(POOL_CLASS),
        other => other,
    }
}

/// The class key the pooled (all-class) values are stored under. Volta has no published row and no
/// int8 tensor cores, so its key is free to carry the pooled values.
pub const POOL_CLASS: GpuClass = GpuClass::Volta;

/// How a model's weights are multiplied in a prompt microbatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptPath {
    /// quantized weights on int8 tensor cores (`mul_mat_q`)
    Mmq,
    /// quantized weights dequantized to f16, then cuBLAS (before b3216; Volta)
    DequantCublas,
    /// f16 weights: cuBLAS, fp16 accumulation
    CublasF16,
    /// bf16 weights: cuBLAS, fp32 accumulation
    CublasBf16,
    /// f32 weights: cublasSgemm on the SIMT cores
    CublasF32,
}

/// The prompt path llama.cpp takes for this format on this GPU (`ggml_cuda_should_use_mmq`).
pub fn prompt_path(p: &Prepared, run: &Run) -> PromptPath {
    let format = p.setup.format;
    if format.kind == FormatKind::Uniform {
        return match format.compute {
            ComputeType::F32 => PromptPath::CublasF32,
            _ if format.id == "bf16" => PromptPath::CublasBf16,
            _ => PromptPath::CublasF16,
        };
    }
    let int8_cores = GpuClass::of(p.gpu).is_some_and(|c| c >= GpuClass::Turing) && p.gpu.tflops.int8.is_some();
    if (run.build.mmq_prompts() || run.force_mmq) && int8_cores {
        PromptPath::Mmq
    } else {
        PromptPath::DequantCublas
    }
}

fn quantized(p: &Prepared) -> bool {
    p.setup.format.kind != FormatKind::Uniform
}

/// KV bytes of one sequence at `depth` cached tokens (llama.cpp keeps sliding-window layers to
/// their window).
fn kv_bytes(p: &Prepared, depth: f64) -> f64 {
    let kv = &p.kv;
    let windowed = if kv.window > 0 {
        depth.min(kv.window as f64)
    } else {
        depth
    };
    kv.full as f64 * depth + kv.windowed as f64 * windowed
}

/// One forward pass over a microbatch of `tokens` (≤ [`MMVQ_MAX_BATCH`]) from `sequences`
/// sequences at mean depth `depth`: the mat-vec path.
fn matvec_pass(p: &Prepared, tokens: u64, sequences: u64, depth: f64, run: &Run, t: &mut impl Sink<Coef>) {
    let bw = bandwidth(p.gpu);
    let mem = MemoryKind::of(p.gpu);
    let (weights, _) = super::decode_weight_bytes(p, tokens);
    let read = if quantized(p) {
        Coef::DecodeRead(mem)
    } else {
        Coef::DecodeRead16(mem)
    };
    t.add(read, weights as f64 / bw);
    kv_read(p, depth, sequences, run, t);
    t.add(Coef::LayerPass(run.build.era()), p.geometry.layers as f64);
}

/// The KV cache of `sequences` sequences at `depth` read once: by the flash-attention kernel at the
/// decode read's share of bandwidth, else through the unfused KQ/KQV kernels.
fn kv_read(p: &Prepared, depth: f64, sequences: u64, run: &Run, t: &mut impl Sink<Coef>) {
    let kv = kv_bytes(p, depth) * sequences as f64 / bandwidth(p.gpu);
    if run.flash_attn {
        t.add(Coef::DecodeRead(MemoryKind::of(p.gpu)), kv);
    } else {
        t.add(Coef::KvWithoutFlash(GpuClass::of(p.gpu).unwrap_or(POOL_CLASS)), kv);
    }
}

/// One forward pass over a prompt microbatch of `tokens` (> [`MMVQ_MAX_BATCH`]) after `depth`
/// cached tokens.
fn prompt_pass(p: &Prepared, tokens: u64, depth: u64, run: &Run, t: &mut impl Sink<Coef>) {
    let g = &p.geometry;
    let gpu = p.gpu;
    let bw = bandwidth(gpu);
    let class = GpuClass::of(gpu).unwrap_or(POOL_CLASS);
    let u = tokens as f64;
    // the LM head runs for the last token only (llama-bench and llama-server ask for its logits)
    let lm_head = if p.stage.is_last() { g.vocab * g.hidden } else { 0 };
    let layer_params = p.matmul_params.saturating_sub(lm_head) as f64 / p.setup.tp.max(1) as f64;
    let flops = 2.0 * layer_params * u;
    match prompt_path(p, run) {
        PromptPath::Mmq => t.add(Coef::Mmq(class), flops / (int8_tensor_ops(gpu) * mma_sync_share(gpu))),
        path => {
            let peak = match path {
                PromptPath::CublasBf16 => fp32_accumulate_flops(gpu),
                PromptPath::CublasF32 => simt_flops(gpu),
                _ => fp16_tensor_flops(gpu),
            };
            t.add(Coef::Gemm(class), flops / peak);
            t.add(
                Coef::GemmPower(class),
                flops / (board_watts(gpu, run.power_limit_w) * 1e12),
            );
            if path == PromptPath::DequantCublas {
                // the f16 copy written and read back, and the quantized weights read
                let (weights, _) = super::decode_weight_bytes(p, tokens);
                t.add(Coef::Dequant, (4.0 * layer_params + weights as f64) / bw);
            }
        }
    }
    // attention: 4 x layers x heads x head_dim FLOPs per (query, key) pair; causal within the batch
    let d = depth as f64;
    let per_pair = 4.0 * (g.layers * g.heads * g.head_dim) as f64;
    if run.flash_attn {
        let mma = fp16_tensor_flops(gpu) * mma_sync_share(gpu);
        t.add(Coef::FlashAttention, per_pair * u * (d + (u + 1.0) / 2.0) / mma);
    } else {
        // KQ and KQV over every key (masked, not skipped) and the f32 scores written, soft-maxed
        // and read back: 4 passes of 4 bytes per score
        let keys = u * (d + u);
        t.add(Coef::Attention, per_pair * keys / fp16_tensor_flops(gpu));
        t.add(Coef::Scores, 16.0 * (g.layers * g.heads) as f64 * keys / bw);
    }
    // f32 activations each layer reads and writes between kernels: ~24 hidden-wide and 8
    // FFN-wide tensors per token (norms, projections' inputs and outputs, RoPE, residual adds,
    // gate/up/GLU/down)
    let elements = u * g.layers as f64 * (24.0 * g.hidden as f64 + 8.0 * g.intermediate as f64);
    t.add(Coef::Elementwise, 4.0 * elements / bw);
    t.add(Coef::LayerPass(run.build.era()), g.layers as f64);
}

/// A `llama-bench` test (or a llama-server request) as llama.cpp runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// `ppN` (`@dD`): `tokens` prompt tokens after `depth` cached ones, in microbatches
    Prompt { tokens: u64, depth: u64 },
    /// `tgN` (`@dD`): `tokens` generated one at a time after `depth` cached ones
    Generate { tokens: u64, depth: u64 },
}

/// The terms of a whole test.
pub fn test_terms(p: &Prepared, test: Test, run: &Run) -> Terms<Coef> {
    match test {
        Test::Generate { tokens, depth } => {
            // linear in depth: `tokens` passes at the mean depth
            let mean = depth as f64 + (tokens.max(1) - 1) as f64 / 2.0;
            let mut one = Terms::new();
            matvec_pass(p, 1, 1, mean, run, &mut one);
            one.scaled(tokens as f64)
        }
        Test::Prompt { tokens, depth } => {
            let mut all = Terms::new();
            prompt_test(p, tokens, depth, run, &mut all);
            all
        }
    }
}

/// A prompt of `tokens` after `depth` cached tokens, microbatch by microbatch.
fn prompt_test(p: &Prepared, tokens: u64, depth: u64, run: &Run, out: &mut impl Sink<Coef>) {
    let u = run.n_ubatch.clamp(1, tokens.max(1));
    let mut done = 0;
    while done < tokens {
        let n = u.min(tokens - done);
        if n <= MMVQ_MAX_BATCH {
            matvec_pass(p, n, 1, (depth + done) as f64 + (n - 1) as f64 / 2.0, run, out);
        } else {
            prompt_pass(p, n, depth + done, run, out);
        }
        done += n;
    }
}

/// One decode step of `batch` parallel sequences at `context` cached tokens (llama-server's slots
/// decode together in one microbatch; beyond [`MMVQ_MAX_BATCH`] sequences the step is a prompt-path
/// microbatch).
pub fn decode_step_s(p: &Prepared, context: u64, batch: u64, run: &Run) -> f64 {
    let batch = batch.max(1);
    let mut t = Seconds::new(coefficient);
    if batch <= MMVQ_MAX_BATCH {
        matvec_pass(p, batch, batch, context as f64, run, &mut t);
    } else {
        // one token per sequence through the prompt kernels, plus every sequence's cache read once
        // as on the mat-vec path
        prompt_pass(p, batch, context, run, &mut t);
        kv_read(p, context as f64, batch, run, &mut t);
    }
    t.total
}

/// Prefill of `tokens` prompt tokens for each of `batch` sequences (llama-server processes the
/// slots' prompts one microbatch after another).
pub fn prefill_s(p: &Prepared, tokens: u64, batch: u64, run: &Run) -> f64 {
    let mut t = Seconds::new(coefficient);
    prompt_test(p, tokens, 0, run, &mut t);
    batch.max(1) as f64 * t.total
}
