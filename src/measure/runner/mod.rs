//! The candle runner: builds a Phi-3 family model at its exact shapes and dtypes (synthetic or
//! real weights), runs a chunked prefill and a timed greedy decode, and tells a [`Hooks`] observer
//! when each phase starts and ends so memory can be read at those points.
//!
//! - Phi-3 / Phi-3.5 Mini in bf16/f16: candle-transformers `models::phi3`, unchanged.
//! - Quantized Mini, PhiMoE, Phi-3-V: [`decoder`] / [`vision`] on candle-nn, mirroring phi3's ops.
//!
//! The prompt is fed in chunks of the runtime profile's `prefill_chunk` with `seqlen_offset`, the
//! way the estimator's candle profile assumes. Every timing is read after `device.synchronize()`.

pub mod decoder;
pub mod layers;
pub mod vision;
pub mod weights;

use crate::spec::model::{ArchType, ModelSpec};
use crate::spec::precision::{Format, FormatKind, StorageType};
use candle_core::{DType, Device, IndexOp, Tensor, D};
use decoder::{TextConfig, TextModel};
use std::sync::Arc;
use std::time::Instant;
use vision::{ClipConfig, VisionModel};
use weights::{Counted, Loader, Vb};

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec<'a> {
    pub spec: &'a ModelSpec,
    pub format: &'static Format,
    /// text tokens in each sequence's prompt
    pub prompt: usize,
    pub decode: usize,
    pub batch: usize,
    /// images per sequence (vision models)
    pub images: usize,
    /// HD crop grid per image
    pub crop_grid: (usize, usize),
    /// prefill chunk (the runtime profile's `prefill_chunk`)
    pub chunk: usize,
}

/// Where a run is, for progress, hooks and failure reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Load,
    Vision,
    Prefill { chunk: usize, of: usize },
    Decode { step: usize, of: usize },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Load => write!(f, "loading weights"),
            Step::Vision => write!(f, "image encoder"),
            Step::Prefill { chunk, of } => write!(f, "prefill chunk {chunk}/{of}"),
            Step::Decode { step, of } => write!(f, "decode step {step}/{of}"),
        }
    }
}

/// The phases memory is read around.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Load,
    Prefill,
    Decode,
}

/// Observer of phase boundaries (called with the device synchronized).
pub trait Hooks {
    fn begin(&mut self, phase: Phase);
    fn end(&mut self, phase: Phase);
}

/// A failure, with the step it happened at.
#[derive(Debug, Clone)]
pub struct Failure {
    pub step: String,
    pub message: String,
    pub out_of_memory: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub load_s: Option<f64>,
    pub vision_s: Option<f64>,
    pub prefill_s: Option<f64>,
    pub decode_s: Option<f64>,
    pub decode_steps_s: Vec<f64>,
}

/// What a run produced; every figure is `None` when the run did not get that far.
#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    pub counted: Counted,
    /// the tensors that hold the KV cache at the end (None for candle-transformers' phi3, which
    /// does not expose its cache)
    pub kv_cache_tensor_bytes: Option<u64>,
    /// tokens per sequence in the prompt (image tokens included)
    pub prompt_tokens: usize,
    pub image_tokens: usize,
    pub decoded: usize,
    pub timings: Timings,
    pub weights_source: String,
    pub failure: Option<Failure>,
}

enum Model {
    /// candle-transformers' phi3, unchanged (dense Phi-3 / Phi-3.5 Mini)
    Phi3(candle_transformers::models::phi3::Model),
    Text(TextModel),
    Vision(Box<VisionModel>),
}

impl Model {
    fn forward_ids(&mut self, ids: &Tensor, offset: usize) -> candle_core::Result<Tensor> {
        match self {
            Model::Phi3(m) => m.forward(ids, offset),
            Model::Text(m) => m.forward_ids(ids, offset),
            Model::Vision(m) => m.text.forward_ids(ids, offset),
        }
    }

    fn kv_cache_bytes(&self) -> Option<u64> {
        match self {
            Model::Phi3(_) => None,
            Model::Text(m) => Some(m.kv_cache_bytes()),
            Model::Vision(m) => Some(m.text.kv_cache_bytes()),
        }
    }
}

/// The activation dtype of a format: candle's quantized kernels run in f32, the rest in the
/// format's 16-bit dtype.
pub fn activation_dtype(format: &Format) -> DType {
    match (format.kind, format.keep) {
        (FormatKind::Gguf, _) | (_, StorageType::F32) => DType::F32,
        (_, StorageType::F16) => DType::F16,
        _ => DType::BF16,
    }
}

/// Builds the model over `loader` (used by the runner and by the shape walk).
fn build(spec: &ModelSpec, cfg: &TextConfig, loader: Arc<Loader>) -> candle_core::Result<Model> {
    let dtype = activation_dtype(loader.format);
    let vb = Vb::new(loader.clone());
    let vision = match &spec.vision {
        Some(v) => Some(ClipConfig::from_spec(v).map_err(|e| candle_core::Error::Msg(e.to_string()))?),
        None => None,
    };
    Ok(match vision {
        Some(c) => Model::Vision(Box::new(VisionModel::new(cfg, &c, &vb, dtype)?)),
        None if cfg.kind == ArchType::Phi3 && loader.format.kind == FormatKind::Uniform => Model::Phi3(
            candle_transformers::models::phi3::Model::new(&cfg.phi3_config(), vb.var_builder(dtype))?,
        ),
        None => Model::Text(TextModel::new(cfg, &vb, dtype)?),
    })
}

/// Builds `spec` over a loader and returns what it requested (the shape walk's entry point).
pub fn build_only(spec: &ModelSpec, loader: Arc<Loader>) -> anyhow::Result<Counted> {
    let cfg = TextConfig::from_spec(spec)?;
    let model = build(spec, &cfg, loader.clone()).map_err(|e| anyhow::anyhow!("building {}: {e}", spec.id))?;
    drop(model);
    Ok(loader.counted())
}

/// candle appends a captured backtrace to its errors when RUST_BACKTRACE is set: records keep the
/// message only.
fn without_backtrace(m: &str) -> String {
    let mut out = Vec::new();
    for line in m.lines() {
        let t = line.trim_start();
        if t.starts_with("0: ") || t == "stack backtrace:" {
            break;
        }
        out.push(line);
    }
    out.join("\n").trim().to_string()
}

/// Whether a candle error is the device running out of memory.
pub fn is_oom(message: &str) -> bool {
    let m = message.to_ascii_uppercase();
    m.contains("OUT_OF_MEMORY") || m.contains("OUT OF MEMORY") || m.contains("ALLOC_FAILED")
}

fn sync_now(dev: &Device) -> candle_core::Result<Instant> {
    dev.synchronize()?;
    Ok(Instant::now())
}

/// Deterministic token ids in [0, vocab) (values do not matter; they only have to be valid).
fn prompt_ids(batch: usize, len: usize, vocab: usize, dev: &Device) -> candle_core::Result<Tensor> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let ids: Vec<u32> = (0..batch * len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % vocab.max(1) as u64) as u32
        })
        .collect();
    Tensor::from_vec(ids, (batch, len), dev)
}

/// Runs `run` on `loader`'s device. Failures (out of memory included) come back inside the output
/// with the step they happened at; the model is dropped before returning, freeing the device.
pub fn run(
    run: &RunSpec,
    loader: Arc<Loader>,
    weights_dir: Option<&std::path::Path>,
    hooks: &mut dyn Hooks,
    progress: bool,
) -> RunOutput {
    let mut out = RunOutput {
        weights_source: loader.describe(),
        ..RunOutput::default()
    };
    let mut step = Step::Load;
    let result = run_inner(run, loader.clone(), weights_dir, hooks, progress, &mut out, &mut step);
    out.counted = loader.counted();
    loader.finish_progress();
    if let Err(e) = result {
        if std::env::var_os("GPUPLAN_DEBUG").is_some() {
            eprintln!("{} failed at {step}: {e:?}", run.spec.id);
        }
        let message = without_backtrace(&format!("{e:#}"));
        out.failure = Some(Failure {
            step: step.to_string(),
            out_of_memory: is_oom(&message),
            message,
        });
    }
    out
}

fn run_inner(
    run: &RunSpec,
    loader: Arc<Loader>,
    weights_dir: Option<&std::path::Path>,
    hooks: &mut dyn Hooks,
    progress: bool,
    out: &mut RunOutput,
    step: &mut Step,
) -> anyhow::Result<()> {
    let dev = loader.device.clone();
    let mut cfg = TextConfig::from_spec(run.spec)?;
    if let Some(dir) = weights_dir {
        cfg = cfg.with_checkpoint_config(dir)?;
    }
    let (b, chunk) = (run.batch.max(1), run.chunk.max(1));

    hooks.begin(Phase::Load);
    let t0 = sync_now(&dev)?;
    let built = build(run.spec, &cfg, loader.clone());
    loader.finish_progress();
    loader.release_source();
    let mut model = built?;
    let t1 = sync_now(&dev)?;
    out.timings.load_s = Some((t1 - t0).as_secs_f64());
    hooks.end(Phase::Load);

    // image embeddings first (they open the prompt), then the text, chunk by chunk
    hooks.begin(Phase::Prefill);
    let start = sync_now(&dev)?;
    let image = match &model {
        Model::Vision(m) if run.images > 0 => {
            *step = Step::Vision;
            let (h, w) = run.crop_grid;
            let mut per_seq = Vec::with_capacity(b);
            for _ in 0..b {
                let mut parts = Vec::with_capacity(run.images);
                for _ in 0..run.images {
                    parts.push(m.image_embeddings(&m.pixels(h * w + 1)?, h, w)?);
                }
                per_seq.push(Tensor::cat(&parts, 0)?);
            }
            let img = Tensor::stack(&per_seq, 0)?;
            out.timings.vision_s = Some((sync_now(&dev)? - start).as_secs_f64());
            Some(img)
        }
        _ => None,
    };
    let image_tokens = image.as_ref().map_or(Ok(0), |t| t.dim(1))?;
    out.image_tokens = image_tokens;
    let total = image_tokens + run.prompt;
    out.prompt_tokens = total;
    let ids = prompt_ids(b, run.prompt, cfg.vocab, &dev)?;
    let chunks = total.div_ceil(chunk);
    let mut logits = None;
    for c in 0..chunks {
        *step = Step::Prefill {
            chunk: c + 1,
            of: chunks,
        };
        let (s, e) = (c * chunk, ((c + 1) * chunk).min(total));
        let l = match (&mut model, &image) {
            (Model::Vision(m), Some(img)) => {
                let mut parts = Vec::new();
                if s < image_tokens {
                    parts.push(img.narrow(1, s, e.min(image_tokens) - s)?);
                }
                if e > image_tokens {
                    let from = s.max(image_tokens) - image_tokens;
                    parts.push(m.text.embed(&ids.narrow(1, from, e - image_tokens - from)?)?);
                }
                let xs = Tensor::cat(&parts, 1)?;
                m.text.forward_embeds(&xs, s)?
            }
            (m, _) => m.forward_ids(&ids.narrow(1, s - image_tokens, e - s)?, s)?,
        };
        logits = Some(l);
    }
    let mut next = match logits {
        Some(l) => next_tokens(&l)?,
        None => anyhow::bail!("empty prompt"),
    };
    let prefill_end = sync_now(&dev)?;
    out.timings.prefill_s = Some((prefill_end - start).as_secs_f64() - out.timings.vision_s.unwrap_or(0.0));
    hooks.end(Phase::Prefill);

    hooks.begin(Phase::Decode);
    let bar = progress.then(|| decode_bar(run.decode));
    let decode_start = sync_now(&dev)?;
    for d in 0..run.decode {
        *step = Step::Decode {
            step: d + 1,
            of: run.decode,
        };
        let t = sync_now(&dev)?;
        let l = model.forward_ids(&next, total + d)?;
        next = next_tokens(&l)?;
        out.timings.decode_steps_s.push((sync_now(&dev)? - t).as_secs_f64());
        out.decoded = d + 1;
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    out.timings.decode_s = Some((sync_now(&dev)? - decode_start).as_secs_f64());
    out.kv_cache_tensor_bytes = model.kv_cache_bytes();
    hooks.end(Phase::Decode);
    drop(model);
    dev.synchronize()?;
    Ok(())
}

/// Greedy next token per sequence, read back to the host as a generation loop would (the read
/// is also what ends the step on the device).
fn next_tokens(logits: &Tensor) -> candle_core::Result<Tensor> {
    let ids = logits.i((.., 0, ..))?.argmax(D::Minus1)?;
    let host: Vec<u32> = ids.to_vec1()?;
    let n = host.len();
    Tensor::from_vec(host, (n, 1), logits.device())
}

fn decode_bar(steps: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("decode {bar:30} {pos}/{len} tokens {per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// A loading progress bar over `bytes` of weights.
pub fn load_bar(bytes: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(bytes);
    bar.set_style(
        indicatif::ProgressStyle::with_template("weights {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}
