//! `gpuplan validate`: run a model with candle on the detected device, measure it, and compare with
//! the estimator. Method: docs/method.md ("Evidence").
//!
//! Memory and speed depend on tensor shapes and dtypes, not values, so by default the runner
//! builds each variant with synthetic weights made directly on the device ([`runner::weights`]);
//! `--weights DIR` loads a real checkpoint instead. On CUDA, NVML is sampled in a background thread
//! ([`nvml`]); on the CPU the kernel's own RSS peak is read ([`rss`]). Each run becomes a
//! [`record::Record`] next to the estimator's prediction for the same setup (runtime profile
//! `candle` on CUDA, `candle-cpu` on the CPU).
//!
//! Failure is data: running out of device memory is recorded as "out_of_memory" with the step it
//! happened at and the estimator's verdict beside it.

pub mod detect;
pub mod field;
pub mod host;
pub mod llamacpp;
pub mod nvml;
pub mod predictions;
pub mod record;
pub mod records;
pub mod rss;
pub mod runner;
pub mod shapewalk;
pub mod synth;

use crate::estimate::arch::vision::crop_grid;
use crate::estimate::engine::candle::{CANDLE, CANDLE_CPU};
use crate::estimate::{self, overhead, throughput, ModelFacts, Prepared, Runtime, Setup, WeightFacts};
use crate::spec::gpu::{Ecc, GpuSpec, Memory, Tflops, Vendor, MIB};
use crate::spec::{Catalog, Format, ModelSpec};
use candle_core::{DType, Device, Tensor};
use record::{BuildInfo, DeviceInfo, Measured, MeasuredMemory, Outcome, Params, Predicted, PredictedMemory, Record};
use runner::weights::{Loader, Safetensors, Source, Synthetic};
use runner::{Hooks, Phase, RunOutput, RunSpec};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRequest {
    /// CUDA device 0 when this build has CUDA and a GPU answers, else the CPU
    Auto,
    Cpu,
    Cuda(usize),
}

impl DeviceRequest {
    pub fn parse(s: &str) -> anyhow::Result<DeviceRequest> {
        let s = s.trim().to_ascii_lowercase();
        Ok(match s.as_str() {
            "auto" => DeviceRequest::Auto,
            "cpu" => DeviceRequest::Cpu,
            "cuda" | "gpu" => DeviceRequest::Cuda(0),
            other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
                Some(n) => DeviceRequest::Cuda(n),
                None => anyhow::bail!("--device `{s}`: expected auto, cpu, cuda or cuda:N"),
            },
        })
    }
}

/// Measurements without a model (`--probe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// what creating the CUDA context (with candle's cuBLAS handle) costs
    Context,
    /// the context, then what the first cuBLAS matmul adds (workspace, lazily loaded kernels)
    Cublas,
}

/// The requested device is not there (no GPU, no NVML, no CUDA libraries, a CPU-only build):
/// `gpuplan` exits with code 3 on it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeviceUnavailable(pub String);

pub struct ValidateOptions {
    /// models to run; empty: the three Phi-3.5 variants at every candidate precision the
    /// estimator says fits (GPU only)
    pub models: Vec<ModelSpec>,
    pub precision: Option<&'static Format>,
    /// tokens per sequence at the end of the run (prompt + decoded); default 4096
    pub context: Option<u64>,
    pub batch: u64,
    pub decode: u64,
    /// images per sequence for vision models (default 1)
    pub images: Option<u64>,
    /// HD crops per image (default: the model's)
    pub crops: Option<u64>,
    pub device: DeviceRequest,
    pub weights: Option<PathBuf>,
    /// a directory (one file per record) or a .json file (records appended to its array);
    /// None: validation/records/
    pub record: Option<PathBuf>,
    pub write_records: bool,
    /// a predictions file: each record copies the entry registered for it
    pub registered: Option<PathBuf>,
    pub probe: Option<Probe>,
    pub progress: bool,
    /// messages for the user while running (skips, fallbacks)
    pub log: fn(&str),
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            models: vec![],
            precision: None,
            context: None,
            batch: 1,
            decode: 16,
            images: None,
            crops: None,
            device: DeviceRequest::Auto,
            weights: None,
            record: None,
            write_records: true,
            registered: None,
            probe: None,
            progress: false,
            log: |_| {},
        }
    }
}

/// Precisions tried, best first, when no model is named.
pub const AUTO_PRECISIONS: &[&str] = &["bf16", "q8_0", "q4_k"];
/// Models run when none is named.
pub const AUTO_MODELS: &[&str] = &["phi-3.5-mini", "phi-3.5-moe", "phi-3.5-vision"];
/// Formats the runner can hold.
pub const RUNNER_PRECISIONS: &[&str] = &["bf16", "fp16", "q8_0", "q4_k"];
/// Context when none is given.
pub const DEFAULT_CONTEXT: u64 = 4096;

/// The device a session measures on.
enum Target {
    Cpu { info: Box<DeviceInfo>, spec: Box<GpuSpec> },
    Cuda(Box<Gpu>),
}

struct Gpu {
    device: Device,
    sampler: nvml::Sampler,
    info: DeviceInfo,
    spec: GpuSpec,
    /// catalog spec found: throughput can be predicted
    known: bool,
    /// NVML device used memory before this process created its context
    baseline: u64,
    context_bytes: u64,
}

impl Target {
    fn device(&self) -> Device {
        match self {
            Target::Cpu { .. } => Device::Cpu,
            Target::Cuda(g) => g.device.clone(),
        }
    }

    fn info(&self) -> &DeviceInfo {
        match self {
            Target::Cpu { info, .. } => info,
            Target::Cuda(g) => &g.info,
        }
    }

    fn spec(&self) -> &GpuSpec {
        match self {
            Target::Cpu { spec, .. } => spec,
            Target::Cuda(g) => &g.spec,
        }
    }

    fn runtime(&self) -> &'static Runtime {
        match self {
            Target::Cpu { .. } => &CANDLE_CPU,
            Target::Cuda(_) => &CANDLE,
        }
    }

    fn slug(&self) -> String {
        match self {
            Target::Cpu { .. } => "cpu".into(),
            Target::Cuda(g) => slug(&g.info.name),
        }
    }
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.to_ascii_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

pub fn build_info() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_sha: option_env!("GPUPLAN_GIT_SHA").unwrap_or("unknown").to_string(),
        cuda: cfg!(feature = "cuda"),
    }
}

/// Runs the validation and returns one record per run (skipped runs included, with the reason).
pub fn validate(opts: &ValidateOptions, catalog: &Catalog) -> anyhow::Result<Vec<Record>> {
    if opts.batch == 0 {
        anyhow::bail!("--batch must be at least 1");
    }
    if let Some(p) = opts.precision {
        if !RUNNER_PRECISIONS.contains(&p.id) {
            anyhow::bail!(
                "--precision {}: the candle runner holds {} only",
                p.id,
                RUNNER_PRECISIONS.join(", ")
            );
        }
    }
    if opts.weights.is_some() && opts.models.len() != 1 {
        anyhow::bail!("--weights DIR holds one checkpoint: name exactly one MODEL with it");
    }
    let target = open_target(opts, catalog)?;
    let mut records = Vec::new();
    if let Some(probe) = opts.probe {
        records.push(run_probe(&target, probe)?);
    } else {
        for (model, format, skip) in plan_runs(opts, catalog, &target)? {
            records.push(match skip {
                None => run_one(opts, &target, &model, format)?,
                Some(reason) => skipped(opts, &target, &model, format, reason)?,
            });
        }
    }
    if let Some(path) = &opts.registered {
        let campaign = predictions::Campaign::load(path)?;
        for r in &mut records {
            r.prediction = campaign.registered_for(&r.name);
            if r.prediction.is_none() {
                r.notes
                    .push(format!("no prediction registered for {} in {}", r.name, campaign.file));
            }
        }
    }
    if opts.write_records {
        for f in write_records(&records, opts.record.as_deref())? {
            (opts.log)(&format!("wrote {}", f.display()));
        }
    }
    Ok(records)
}

fn open_target(opts: &ValidateOptions, catalog: &Catalog) -> anyhow::Result<Target> {
    match opts.device {
        DeviceRequest::Cpu => cpu_target(),
        DeviceRequest::Cuda(i) => Ok(Target::Cuda(Box::new(open_gpu(i, catalog)?))),
        DeviceRequest::Auto => {
            if !cfg!(feature = "cuda") {
                return cpu_target();
            }
            match open_gpu(0, catalog) {
                Ok(g) => Ok(Target::Cuda(Box::new(g))),
                Err(e) => {
                    (opts.log)(&format!("no usable GPU ({e}); validating on the CPU"));
                    cpu_target()
                }
            }
        }
    }
}

fn cpu_target() -> anyhow::Result<Target> {
    rss::track_large_allocations();
    let (info, spec) = host_device()?;
    Ok(Target::Cpu {
        info: Box::new(info),
        spec: Box::new(spec),
    })
}

/// The device a campaign's predictions are for: a catalog GPU (named as NVML names it), or this
/// machine's CPU.
pub fn device_for(catalog: &Catalog, gpu: Option<&str>) -> anyhow::Result<(DeviceInfo, GpuSpec)> {
    let Some(id) = gpu else {
        return host_device();
    };
    let spec = catalog.gpu(id)?;
    let name = spec.nvml_names.first().cloned().unwrap_or_else(|| spec.name.clone());
    let info = DeviceInfo {
        kind: "cuda".into(),
        index: Some(0),
        name,
        memory_total_bytes: Some(spec.memory.reported_mib * MIB),
        driver_version: None,
        cuda_version: None,
        compute_capability: None,
        gpu_spec: Some(spec.id.clone()),
    };
    Ok((info, spec))
}

/// This machine's CPU as a record states it, and its memory as a device spec for the estimator.
fn host_device() -> anyhow::Result<(DeviceInfo, GpuSpec)> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").map_err(|e| anyhow::anyhow!("/proc/meminfo: {e}"))?;
    let kib = |name: &str| -> Option<u64> {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().strip_suffix("kB")?.trim().parse().ok())
    };
    let total = kib("MemTotal:").ok_or_else(|| anyhow::anyhow!("/proc/meminfo has no MemTotal"))? * 1024;
    let available = kib("MemAvailable:").map_or(total, |a| a * 1024).min(total);
    let name = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split(':')
                    .nth(1)
                    .map(|s| s.trim().to_string())
            })
        })
        .unwrap_or_else(|| "CPU".into());
    let spec = synthetic_spec(
        "host-cpu",
        &format!("host memory ({name})"),
        total,
        Some(available),
        None,
    );
    let info = DeviceInfo {
        kind: "cpu".into(),
        index: None,
        name,
        memory_total_bytes: Some(total),
        driver_version: None,
        cuda_version: None,
        compute_capability: None,
        gpu_spec: None,
    };
    Ok((info, spec))
}

/// A device spec for the estimator when the catalog has none: memory from the device, speeds
/// unknown (throughput is then not predicted).
fn synthetic_spec(id: &str, name: &str, total: u64, visible: Option<u64>, cc: Option<String>) -> GpuSpec {
    GpuSpec {
        id: id.into(),
        name: name.into(),
        vendor: Vendor::Nvidia,
        architecture: "unknown".into(),
        compute_capability: cc,
        aliases: vec![],
        nvml_names: vec![],
        memory: Memory {
            marketed_gb: total as f64 / 1e9,
            kind: "unknown".into(),
            reported_mib: (total / MIB).max(1),
            cuda_visible_mib: visible.map(|v| (v / MIB).clamp(1, (total / MIB).max(1))),
            ecc: Ecc::None,
            unified: None,
        },
        // placeholders: only memory is predicted from this spec
        bandwidth_gbps: 1.0,
        tflops: Tflops {
            bf16: 1.0,
            ..Tflops::default()
        },
        tdp_w: None,
        host_interface: None,
        interconnect: None,
        price: None,
        launch: None,
        sources: vec!["measured by gpuplan validate".into()],
        notes: None,
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `f`, turning a panic into an error (cudarc panics where CUDA libraries are missing).
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(prev);
    r.map_err(|p| panic_message(p.as_ref()))
}

fn open_gpu(index: usize, catalog: &Catalog) -> anyhow::Result<Gpu> {
    let unavailable = |m: String| anyhow::Error::new(DeviceUnavailable(m));
    if !cfg!(feature = "cuda") {
        return Err(unavailable(
            "this gpuplan was built without CUDA: build it with `--features cuda` (scripts/build-cuda.sh) or use --device cpu".into(),
        ));
    }
    let nvml = nvml::open().map_err(|e| unavailable(e.to_string()))?;
    let count = nvml::device_count(&nvml);
    if index as u32 >= count {
        return Err(unavailable(format!("no CUDA device {index}: NVML sees {count} GPU(s)")));
    }
    let gi = nvml::info(&nvml, index as u32).map_err(|e| unavailable(e.to_string()))?;
    let sampler = nvml::Sampler::start(nvml, index as u32, 200.0).map_err(|e| unavailable(e.to_string()))?;
    let baseline = sampler.now().device_used;
    let device = match guarded(|| Device::new_cuda(index)) {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return Err(unavailable(format!("CUDA device {index} could not be opened: {e}"))),
        Err(p) => {
            return Err(unavailable(format!(
                "CUDA device {index} could not be opened (the CUDA libraries are missing or do not match: \
                 set LD_LIBRARY_PATH to the folder holding libcublas.so.13): {p}"
            )))
        }
    };
    device
        .synchronize()
        .map_err(|e| unavailable(format!("CUDA device {index}: {e}")))?;
    let context_bytes = sampler.now().device_used.saturating_sub(baseline);
    let (spec, known) = match catalog.gpu(&gi.name) {
        Ok(s) => (s, true),
        Err(_) => (
            synthetic_spec(
                &format!("nvml-{}", slug(&gi.name)),
                &gi.name,
                gi.memory_total_bytes,
                None,
                gi.compute_capability.clone(),
            ),
            false,
        ),
    };
    let info = DeviceInfo {
        kind: "cuda".into(),
        index: Some(gi.index),
        name: gi.name.clone(),
        memory_total_bytes: Some(gi.memory_total_bytes),
        driver_version: gi.driver_version.clone(),
        cuda_version: gi.cuda_version.clone(),
        compute_capability: gi.compute_capability.clone(),
        gpu_spec: known.then(|| spec.id.clone()),
    };
    Ok(Gpu {
        device,
        sampler,
        info,
        spec,
        known,
        baseline,
        context_bytes,
    })
}

/// The estimator's prediction for one setup.
struct Prediction {
    memory: PredictedMemory,
    throughput: Option<record::Throughput>,
    params: (u64, u64),
    kv: String,
    image_tokens: u64,
}

fn predict(
    model: &ModelSpec,
    format: &'static Format,
    rt: &'static Runtime,
    gpu: &GpuSpec,
    known: bool,
    c: &Case,
) -> Prediction {
    predict_with_flags(model, format, rt, gpu, known, c, estimate::engine::Flags::default())
}

/// [`predict`] with the engine's command-line settings (llama.cpp's `-ub`, `-fa`, `-ctk`, ...).
fn predict_with_flags(
    model: &ModelSpec,
    format: &'static Format,
    rt: &'static Runtime,
    gpu: &GpuSpec,
    known: bool,
    c: &Case,
    flags: estimate::engine::Flags,
) -> Prediction {
    let facts = ModelFacts::new(model);
    let setup = Setup {
        images: c.images,
        crops: c.crops,
        engine: flags,
        ..Setup::new(model, format, rt)
    };
    let weights = WeightFacts::new(model, &facts, format, 1);
    let p = Prepared::new(setup, gpu, &facts, &weights);
    let m = p.memory(c.context, c.batch);
    let term = |name: &str| {
        m.overhead
            .iter()
            .filter(|t| t.name == name)
            .map(|t| t.bytes)
            .sum::<u64>()
    };
    let rope = term("rope tables");
    let t = throughput::estimate(&p, c.context, c.batch);
    Prediction {
        memory: PredictedMemory {
            weights_bytes: m.weights_bytes,
            kv_cache_bytes: m.kv_cache_bytes,
            activations_bytes: m.activations_bytes,
            activation_peak_phase: m.activation_peak_phase.name().to_string(),
            overhead_bytes: m.overhead_bytes,
            total_bytes: m.total_bytes,
            available_bytes: m.available_bytes,
            fits: m.total_bytes <= m.available_bytes,
            load_bytes: m.weights_bytes + rope,
            rope_tables_bytes: rope,
            context_bytes: term("cuda context"),
            workspace_bytes: term("cublas workspace"),
            allocator_rounding_bytes: term("allocator rounding"),
        },
        throughput: known.then_some(record::Throughput {
            prefill_tokens_per_s: Some(t.prefill_tokens_per_s),
            decode_tokens_per_s: Some(t.decode_tokens_per_s),
            ttft_s: Some(t.ttft_s),
        }),
        params: (facts.parameters, facts.active_parameters),
        kv: setup.kv.label().to_string(),
        image_tokens: p.image_tokens,
    }
}

/// The numbers one run uses.
struct Case {
    context: u64,
    batch: u64,
    decode: u64,
    images: u64,
    crops: u64,
}

fn case_for(opts: &ValidateOptions, model: &ModelSpec) -> anyhow::Result<Case> {
    let context = opts.context.unwrap_or(DEFAULT_CONTEXT.min(model.max_context));
    if opts.decode >= context {
        anyhow::bail!(
            "--decode {} must be below --context {context} (the prompt is context - decode)",
            opts.decode
        );
    }
    let (images, crops) = match &model.vision {
        Some(v) => {
            let crops = opts.crops.unwrap_or(v.default_crops);
            if crops == 0 || crops > v.max_crops {
                anyhow::bail!(
                    "--crops {crops}: {} takes 1 to {} crops per image",
                    model.id,
                    v.max_crops
                );
            }
            (opts.images.unwrap_or(1), crops)
        }
        None => (0, 0),
    };
    Ok(Case {
        context,
        batch: opts.batch,
        decode: opts.decode,
        images,
        crops,
    })
}

type Planned = (ModelSpec, &'static Format, Option<String>);

/// (model, format, why it is skipped) for every candidate run.
fn plan_runs(opts: &ValidateOptions, catalog: &Catalog, target: &Target) -> anyhow::Result<Vec<Planned>> {
    let format_of = |id: &str| Format::parse(id).ok_or_else(|| anyhow::anyhow!("unknown format {id}"));
    if !opts.models.is_empty() {
        return opts
            .models
            .iter()
            .map(|m| {
                let f = match opts.precision {
                    Some(f) => f,
                    None => format_of(&m.dtype)?,
                };
                if !RUNNER_PRECISIONS.contains(&f.id) {
                    anyhow::bail!(
                        "{}: its dtype {} is not one the runner holds; pass --precision",
                        m.id,
                        f.id
                    );
                }
                Ok((m.clone(), f, None))
            })
            .collect();
    }
    if matches!(target, Target::Cpu { .. }) {
        anyhow::bail!(
            "name a MODEL to validate on the CPU (full-size runs take minutes there), e.g. \
             `gpuplan validate phi-3.5-mini --device cpu --context 256 --decode 4`"
        );
    }
    let mut plan = Vec::new();
    for id in AUTO_MODELS {
        let model = catalog.model(id, estimate::arch::check_declared)?;
        let formats: Vec<&'static Format> = match opts.precision {
            Some(f) => vec![f],
            None => AUTO_PRECISIONS
                .iter()
                .map(|p| format_of(p))
                .collect::<anyhow::Result<_>>()?,
        };
        for f in formats {
            let case = case_for(opts, &model)?;
            let known = matches!(target, Target::Cuda(g) if g.known);
            let p = predict(&model, f, target.runtime(), target.spec(), known, &case);
            let skip = (!p.memory.fits).then(|| {
                format!(
                    "the estimator predicts {:.2} GiB, {:.2} GiB available",
                    p.memory.total_bytes as f64 / (1u64 << 30) as f64,
                    p.memory.available_bytes as f64 / (1u64 << 30) as f64
                )
            });
            if let Some(why) = &skip {
                (opts.log)(&format!("skipping {} {}: {why}", model.id, f.id));
            }
            plan.push((model.clone(), f, skip));
        }
    }
    Ok(plan)
}

/// A micro model of the same family, format and code path (one layer, 256 wide, a 28-pixel image):
/// running it first pays the one-time costs of the runtime (CUDA kernel modules, cuBLAS
/// workspace, rayon's threads, gemm's thread-local buffers) so that a run's load, prefill and
/// decode figures are the model's own. What it costs is recorded as `warmup_bytes`.
fn micro_spec(spec: &ModelSpec) -> ModelSpec {
    let mut s = spec.clone();
    s.id = format!("{}-warmup", spec.id);
    s.max_context = 64;
    s.parameters = None;
    s.active_parameters = None;
    if let Some(a) = s.architecture.as_mut() {
        let gqa = a.kv_heads() < a.attention_heads;
        a.hidden_size = 256;
        a.layers = 1;
        a.attention_heads = 4;
        a.kv_heads = Some(if gqa { 2 } else { 4 });
        a.head_dim = None;
        a.intermediate_size = 256;
        a.vocab_size = 512;
        a.sliding_window = None;
        if let Some(m) = a.moe.as_mut() {
            m.experts = m.experts.min(4);
            m.experts_per_token = m.experts_per_token.min(m.experts);
            m.expert_intermediate_size = None;
            m.shared_expert_intermediate_size = None;
        }
    }
    if let Some(v) = s.vision.as_mut() {
        v.image_size = 28;
        v.patch_size = 14;
        v.hidden_size = 64;
        v.layers = 2;
        v.attention_heads = 2;
        v.intermediate_size = 128;
        v.merge = 1;
        v.projector = vec![256, 256];
        v.extra_parameters = 2 * 64;
        v.max_crops = 1;
        v.default_crops = 1;
    }
    s
}

struct NoHooks;

impl Hooks for NoHooks {
    fn begin(&mut self, _: Phase) {}
    fn end(&mut self, _: Phase) {}
}

/// Runs the micro model on the target device; returns the failure message if it failed.
fn warm_up(target: &Target, model: &ModelSpec, format: &'static Format) -> Option<String> {
    let micro = micro_spec(model);
    let run = RunSpec {
        spec: &micro,
        format,
        prompt: 8,
        decode: 2,
        batch: 1,
        images: usize::from(micro.vision.is_some()),
        crop_grid: (1, 1),
        // two chunks: the offset mask and the KV concatenation run too
        chunk: 4,
    };
    let loader = Arc::new(Loader::new(Box::new(Synthetic), format, target.device(), &micro));
    match guarded(|| runner::run(&run, loader, None, &mut NoHooks, false)) {
        Ok(out) => out.failure.map(|f| format!("{} at {}", f.message, f.step)),
        Err(p) => Some(format!("panic: {p}")),
    }
}

/// A memory reading at phase boundaries.
#[derive(Debug, Clone, Copy, Default)]
struct PhaseMem {
    start: Option<u64>,
    end: Option<u64>,
    peak: Option<u64>,
}

/// Hooks that read NVML or RSS at the runner's phase boundaries.
struct Meter<'a> {
    gpu: Option<&'a Gpu>,
    load: PhaseMem,
    prefill: PhaseMem,
    decode: PhaseMem,
    current: Option<Phase>,
    process_peak: Option<u64>,
}

impl Meter<'_> {
    fn now(&self) -> Option<u64> {
        match self.gpu {
            Some(g) => Some(g.sampler.now().device_used),
            None => {
                rss::trim();
                rss::read().ok().map(|r| r.current)
            }
        }
    }

    fn peak(&mut self) -> Option<u64> {
        match self.gpu {
            Some(g) => {
                let p = g.sampler.peak();
                if let Some(pp) = p.process_used {
                    self.process_peak = Some(self.process_peak.unwrap_or(0).max(pp));
                }
                Some(p.device_used)
            }
            None => rss::read().ok().map(|r| r.peak),
        }
    }

    fn reset(&self) {
        match self.gpu {
            Some(g) => g.sampler.reset_peak(),
            None => {
                rss::reset_peak();
            }
        }
    }

    fn slot(&mut self, p: Phase) -> &mut PhaseMem {
        match p {
            Phase::Load => &mut self.load,
            Phase::Prefill => &mut self.prefill,
            Phase::Decode => &mut self.decode,
        }
    }

    /// Closes the phase a failure interrupted: its peak still counts.
    fn finish(&mut self) {
        if let Some(p) = self.current.take() {
            let peak = self.peak();
            self.slot(p).peak = peak;
        }
    }
}

impl Hooks for Meter<'_> {
    fn begin(&mut self, phase: Phase) {
        let start = self.now();
        self.reset();
        *self.slot(phase) = PhaseMem {
            start,
            end: None,
            peak: None,
        };
        self.current = Some(phase);
    }

    fn end(&mut self, phase: Phase) {
        let peak = self.peak();
        let end = self.now();
        let s = self.slot(phase);
        s.peak = peak;
        s.end = end;
        self.current = None;
    }
}

/// What the runner runs for `case`: the prompt is context - decode, prefilled in the runtime
/// profile's chunks, images cut into the case's HD crop grid.
fn run_spec<'a>(model: &'a ModelSpec, format: &'static Format, rt: &Runtime, case: &Case) -> RunSpec<'a> {
    let grid = crop_grid(case.crops.max(1));
    RunSpec {
        spec: model,
        format,
        prompt: (case.context - case.decode) as usize,
        decode: case.decode as usize,
        batch: case.batch as usize,
        images: case.images as usize,
        crop_grid: (grid.0 as usize, grid.1 as usize),
        chunk: rt.prefill_chunk.unwrap_or(case.context) as usize,
    }
}

fn run_one(
    opts: &ValidateOptions,
    target: &Target,
    model: &ModelSpec,
    format: &'static Format,
) -> anyhow::Result<Record> {
    let case = case_for(opts, model)?;
    let rt = target.runtime();
    let known = matches!(target, Target::Cuda(g) if g.known);
    let pred = predict(model, format, rt, target.spec(), known, &case);
    let run = run_spec(model, format, rt, &case);
    let source: Box<dyn Source> = match &opts.weights {
        Some(dir) => Box::new(Safetensors::open(dir)?),
        None => Box::new(Synthetic),
    };
    let gpu = match target {
        Target::Cuda(g) => Some(g.as_ref()),
        Target::Cpu { .. } => None,
    };
    let read_now = || -> Option<u64> {
        match gpu {
            Some(g) => {
                g.device.synchronize().ok()?;
                Some(g.sampler.now().device_used)
            }
            None => {
                rss::trim();
                rss::read().ok().map(|r| r.current)
            }
        }
    };
    let before_warmup = read_now();
    let warmup_failure = warm_up(target, model, format);
    let after_warmup = read_now();
    if std::env::var_os("GPUPLAN_DEBUG").is_some() {
        eprintln!(
            "{} {}: before warm-up {before_warmup:?}, after {after_warmup:?}",
            model.id, format.id
        );
    }
    let warmup_bytes = match (before_warmup, after_warmup) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    // CUDA: everything this process added (context included); CPU: the model's own RSS
    let baseline = match gpu {
        Some(g) => Some(g.baseline),
        None => after_warmup,
    };
    let loader = Loader::new(source, format, target.device(), model)
        .with_progress(opts.progress.then(|| runner::load_bar(pred.memory.weights_bytes)));
    let loader = Arc::new(loader);
    let mut meter = Meter {
        gpu,
        load: PhaseMem::default(),
        prefill: PhaseMem::default(),
        decode: PhaseMem::default(),
        current: None,
        process_peak: None,
    };
    let started = std::time::Instant::now();
    let out = match guarded(|| runner::run(&run, loader.clone(), opts.weights.as_deref(), &mut meter, opts.progress)) {
        Ok(out) => out,
        Err(p) => RunOutput {
            counted: loader.counted(),
            weights_source: loader.describe(),
            failure: Some(runner::Failure {
                step: "unknown".into(),
                message: format!("panic: {p}"),
                out_of_memory: runner::is_oom(&p),
            }),
            ..RunOutput::default()
        },
    };
    meter.finish();
    if std::env::var_os("GPUPLAN_DEBUG").is_some() {
        eprintln!(
            "load {:?} prefill {:?} decode {:?}",
            meter.load, meter.prefill, meter.decode
        );
    }
    drop(loader);
    let total_s = started.elapsed().as_secs_f64();
    let mut r = assemble(
        target, model, format, &case, &pred, &run, &out, &meter, baseline, total_s,
    );
    r.measured.memory.warmup_bytes = warmup_bytes;
    if gpu.is_some() {
        // the warm-up's growth is runtime overhead (modules, workspace), already in the peak
        if let (Some(a), Some(w)) = (r.measured.memory.activations_bytes, warmup_bytes) {
            r.measured.memory.activations_bytes = Some(a.saturating_sub(w));
        }
    }
    if let Some(f) = warmup_failure {
        r.notes.push(format!("the warm-up micro model failed: {f}"));
    }
    Ok(r)
}

/// A candle record's name: model, format, device, context, batch (and images).
fn candle_record_name(model: &str, format: &str, device_slug: &str, case: &Case) -> String {
    format!(
        "{model}_{format}_{device_slug}_ctx{}_b{}{}",
        case.context,
        case.batch,
        if case.images > 0 {
            format!("_img{}x{}", case.images, case.crops)
        } else {
            String::new()
        }
    )
}

/// The candle runs `validate` would make with `opts` on `gpu` (named as NVML names it), each with
/// the prediction made now: what `gpuplan predict --engine candle` registers.
pub fn plan_candle(
    opts: &ValidateOptions,
    gpu: &GpuSpec,
    device_name: &str,
) -> anyhow::Result<Vec<predictions::Planned>> {
    let cpu = device_name == "cpu";
    let rt: &'static Runtime = if cpu { &CANDLE_CPU } else { &CANDLE };
    let mut out = Vec::new();
    for model in &opts.models {
        let format = match opts.precision {
            Some(f) => f,
            None => Format::parse(&model.dtype).ok_or_else(|| anyhow::anyhow!("unknown format {}", model.dtype))?,
        };
        let case = case_for(opts, model)?;
        let pred = predict(model, format, rt, gpu, !cpu, &case);
        let mut command = format!(
            "gpuplan validate {} --precision {} --context {} --batch {} --decode {}",
            model.id, format.id, case.context, case.batch, case.decode
        );
        if case.images > 0 {
            command.push_str(&format!(" --images {} --crops {}", case.images, case.crops));
        }
        out.push(predictions::Planned {
            id: candle_record_name(
                &model.id,
                format.id,
                &if cpu { "cpu".into() } else { slug(device_name) },
                &case,
            ),
            engine: rt.id,
            model: model.id.clone(),
            precision: format.id.into(),
            context: case.context,
            batch: case.batch,
            images: case.images,
            settings: None,
            command,
            predicted: Predicted {
                memory: pred.memory,
                throughput: pred.throughput,
                engine: None,
            },
        });
    }
    Ok(out)
}

/// The record of a run the estimator ruled out: the prediction, nothing measured.
fn skipped(
    opts: &ValidateOptions,
    target: &Target,
    model: &ModelSpec,
    format: &'static Format,
    reason: String,
) -> anyhow::Result<Record> {
    let case = case_for(opts, model)?;
    let known = matches!(target, Target::Cuda(g) if g.known);
    let pred = predict(model, format, target.runtime(), target.spec(), known, &case);
    let run = run_spec(model, format, target.runtime(), &case);
    let meter = Meter {
        gpu: None,
        load: PhaseMem::default(),
        prefill: PhaseMem::default(),
        decode: PhaseMem::default(),
        current: None,
        process_peak: None,
    };
    let out = RunOutput {
        weights_source: "none".into(),
        ..RunOutput::default()
    };
    let mut r = assemble(target, model, format, &case, &pred, &run, &out, &meter, None, 0.0);
    r.measured.memory.context_bytes = None;
    r.measured.memory.method = "none".into();
    r.timings.total_s = None;
    r.outcome = Outcome {
        status: "skipped".into(),
        step: None,
        message: Some(reason),
        predicted_fits: false,
    };
    Ok(r)
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    target: &Target,
    model: &ModelSpec,
    format: &'static Format,
    case: &Case,
    pred: &Prediction,
    run: &RunSpec,
    out: &RunOutput,
    meter: &Meter,
    baseline: Option<u64>,
    total_s: f64,
) -> Record {
    let sub = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    let gpu = match target {
        Target::Cuda(g) => Some(g.as_ref()),
        Target::Cpu { .. } => None,
    };
    let context_bytes = gpu.map(|g| g.context_bytes);
    let weights_bytes = sub(meter.load.end, meter.load.start);
    let kv = sub(meter.decode.end, meter.load.end);
    let peak_abs = [meter.load.peak, meter.prefill.peak, meter.decode.peak]
        .into_iter()
        .flatten()
        .max();
    let peak = sub(peak_abs, baseline);
    let activations = match (peak, weights_bytes, kv) {
        (Some(p), Some(w), Some(k)) => Some(p.saturating_sub(w + k + context_bytes.unwrap_or(0))),
        _ => None,
    };
    let (samples, hz) = match gpu {
        Some(g) => {
            let (n, hz) = g.sampler.stats();
            (Some(n), Some(hz))
        }
        None => (None, None),
    };
    let t = &out.timings;
    let ttft = match (t.prefill_s, t.vision_s) {
        (Some(p), v) => Some(p + v.unwrap_or(0.0)),
        _ => None,
    };
    let b = case.batch as f64;
    let decode_steps = out.timings.decode_steps_s.len();
    let measured_tp = record::Throughput {
        prefill_tokens_per_s: t
            .prefill_s
            .filter(|&s| s > 0.0)
            .map(|s| out.prompt_tokens as f64 * b / s),
        decode_tokens_per_s: t
            .decode_s
            .filter(|&s| s > 0.0 && out.decoded > 0)
            .map(|s| out.decoded as f64 * b / s),
        ttft_s: ttft,
    };
    let (status, step, message) = match &out.failure {
        None => ("ran", None, None),
        Some(f) => (
            if f.out_of_memory { "out_of_memory" } else { "error" },
            Some(f.step.clone()),
            Some(f.message.clone()),
        ),
    };
    let mut notes = Vec::new();
    if out.weights_source == "synthetic" {
        notes.push("synthetic weights: memory and speed depend only on tensor shapes and dtypes, not on values".into());
    }
    if gpu.is_none() {
        notes.push("CPU: memory is process RSS (VmRSS/VmHWM) above the RSS before loading, with glibc's mmap threshold fixed at 128 KiB so freed buffers leave RSS; throughput is not predicted (the CPU's bandwidth and FLOPS are unknown)".into());
        if !rss::reset_peak() {
            notes.push("the kernel refused /proc/self/clear_refs: phase peaks are cumulative".into());
        }
    } else {
        notes.push("CUDA: memory is NVML device used memory above the reading before this process created its CUDA context; other processes on the GPU would count too".into());
        if meter.process_peak.is_none() {
            notes.push("NVML did not attribute memory to this process (containers): process_peak_bytes is null".into());
        }
    }
    if matches!(gpu, Some(g) if !g.known) {
        notes.push("GPU not in the catalog: memory predicted from NVML's total; throughput not predicted".into());
    }
    let name = candle_record_name(&model.id, format.id, &target.slug(), case);
    Record {
        schema: record::SCHEMA,
        name,
        model: model.id.clone(),
        model_name: model.name.clone(),
        precision: format.id.into(),
        kv_precision: pred.kv.clone(),
        runtime: target.runtime().id,
        context: case.context,
        batch: case.batch,
        prompt_tokens: run.prompt as u64,
        decode_steps: decode_steps as u64,
        images: case.images,
        crops: case.crops,
        image_tokens: if out.image_tokens > 0 {
            out.image_tokens as u64
        } else {
            pred.image_tokens
        },
        prefill_chunk: run.chunk as u64,
        weights: out.weights_source.clone(),
        device: target.info().clone(),
        gpuplan: build_info(),
        params: Params {
            total: pred.params.0,
            active: pred.params.1,
            runner_total: (out.counted.params > 0 && meter.load.end.is_some()).then_some(out.counted.params),
            runner_tensors: (out.counted.tensors > 0 && meter.load.end.is_some()).then_some(out.counted.tensors),
        },
        predicted: Predicted {
            memory: pred.memory.clone(),
            throughput: pred.throughput.clone(),
            engine: None,
        },
        measured: Measured {
            memory: MeasuredMemory {
                method: if gpu.is_some() { "nvml" } else { "rss" }.into(),
                baseline_bytes: baseline,
                context_bytes,
                first_matmul_bytes: None,
                warmup_bytes: None,
                weights_bytes,
                kv_cache_bytes: kv,
                kv_cache_tensor_bytes: out.kv_cache_tensor_bytes,
                prefill_activations_bytes: sub(meter.prefill.peak, meter.prefill.start),
                decode_activations_bytes: sub(meter.decode.peak, meter.decode.start),
                activations_bytes: activations,
                prefill_peak_bytes: sub(meter.prefill.peak, baseline),
                decode_peak_bytes: sub(meter.decode.peak, baseline),
                peak_bytes: peak,
                process_peak_bytes: meter.process_peak,
                samples,
                sample_hz: hz,
            },
            throughput: measured_tp,
            engine: None,
        },
        outcome: Outcome {
            status: status.into(),
            step,
            message,
            predicted_fits: pred.memory.fits,
        },
        timings: record::Timings {
            load_s: t.load_s,
            vision_s: t.vision_s,
            prefill_s: t.prefill_s,
            decode_s: t.decode_s,
            decode_step_mean_s: (decode_steps > 0).then(|| t.decode_steps_s.iter().sum::<f64>() / decode_steps as f64),
            total_s: Some(total_s),
        },
        notes,
        created_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        engine: None,
        prediction: None,
    }
}

/// `--probe`: the CUDA context alone, or the context and the first cuBLAS matmul.
fn run_probe(target: &Target, probe: Probe) -> anyhow::Result<Record> {
    let Target::Cuda(g) = target else {
        anyhow::bail!("--probe measures CUDA overheads: it needs --device cuda");
    };
    let mut first_matmul = None;
    let mut message = None;
    if probe == Probe::Cublas {
        let r = (|| -> candle_core::Result<u64> {
            let a = Tensor::ones((512, 4096), DType::BF16, &g.device)?;
            let b = Tensor::ones((4096, 4096), DType::BF16, &g.device)?;
            g.device.synchronize()?;
            let before = g.sampler.now().device_used;
            let c = a.matmul(&b)?;
            g.device.synchronize()?;
            let after = g.sampler.now().device_used;
            let out = (c.elem_count() * 2) as u64;
            Ok(after.saturating_sub(before).saturating_sub(out))
        })();
        match r {
            Ok(b) => first_matmul = Some(b),
            Err(e) => message = Some(e.to_string()),
        }
    }
    let ctx = overhead::cuda_context(&CANDLE);
    let ws = if probe == Probe::Cublas {
        overhead::blas_workspace(&g.spec, &CANDLE)
    } else {
        0
    };
    let id = match probe {
        Probe::Context => "cuda-context",
        Probe::Cublas => "cublas-workspace",
    };
    let mut peak = g.sampler.peak().device_used.saturating_sub(g.baseline);
    peak = peak.max(g.context_bytes);
    let memory = PredictedMemory {
        weights_bytes: 0,
        kv_cache_bytes: 0,
        activations_bytes: 0,
        activation_peak_phase: "none".into(),
        overhead_bytes: ctx + ws,
        total_bytes: ctx + ws,
        available_bytes: overhead::visible_total(&g.spec, estimate::EccMode::Default),
        fits: true,
        load_bytes: 0,
        rope_tables_bytes: 0,
        context_bytes: ctx,
        workspace_bytes: ws,
        allocator_rounding_bytes: 0,
    };
    let (samples, hz) = g.sampler.stats();
    Ok(Record {
        schema: record::SCHEMA,
        name: format!("{id}_{}", slug(&g.info.name)),
        model: id.into(),
        model_name: match probe {
            Probe::Context => "CUDA context (candle device: context, stream, cuBLAS handle)".into(),
            Probe::Cublas => "first cuBLAS matmul (bf16 512x4096 @ 4096x4096) after the context".into(),
        },
        precision: "bf16".into(),
        kv_precision: "none".into(),
        runtime: CANDLE.id,
        context: 0,
        batch: 0,
        prompt_tokens: 0,
        decode_steps: 0,
        images: 0,
        crops: 0,
        image_tokens: 0,
        prefill_chunk: 0,
        weights: "none".into(),
        device: g.info.clone(),
        gpuplan: build_info(),
        params: Params {
            total: 0,
            active: 0,
            runner_total: None,
            runner_tensors: None,
        },
        predicted: Predicted {
            memory,
            throughput: None,
            engine: None,
        },
        measured: Measured {
            memory: MeasuredMemory {
                method: "nvml".into(),
                baseline_bytes: Some(g.baseline),
                context_bytes: Some(g.context_bytes),
                first_matmul_bytes: first_matmul,
                warmup_bytes: None,
                weights_bytes: None,
                kv_cache_bytes: None,
                kv_cache_tensor_bytes: None,
                prefill_activations_bytes: None,
                decode_activations_bytes: None,
                activations_bytes: None,
                prefill_peak_bytes: None,
                decode_peak_bytes: None,
                peak_bytes: Some(peak),
                process_peak_bytes: g.sampler.peak().process_used,
                samples: Some(samples),
                sample_hz: Some(hz),
            },
            throughput: record::Throughput {
                prefill_tokens_per_s: None,
                decode_tokens_per_s: None,
                ttft_s: None,
            },
            engine: None,
        },
        outcome: Outcome {
            status: if message.is_some() { "error" } else { "ran" }.into(),
            step: message.as_ref().map(|_| "first matmul".to_string()),
            message,
            predicted_fits: true,
        },
        timings: record::Timings {
            load_s: None,
            vision_s: None,
            prefill_s: None,
            decode_s: None,
            decode_step_mean_s: None,
            total_s: None,
        },
        notes: vec!["overhead probe: predicted = the candle profile's cuda context (+ cuBLAS workspace) terms".into()],
        created_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        engine: None,
        prediction: None,
    })
}

/// Writes records: skipped runs are not written (nothing was measured). Into a directory, one file
/// per record named after it; a name taken already gets the next free `-2`, `-3`, ... (in the file
/// and in the record's `name`): a record is never overwritten. Into a `.json` file, appended to its
/// array. Returns the files written.
pub fn write_records(records: &[Record], target: Option<&Path>) -> anyhow::Result<Vec<PathBuf>> {
    let ran: Vec<&Record> = records.iter().filter(|r| r.outcome.status != "skipped").collect();
    if ran.is_empty() {
        return Ok(vec![]);
    }
    let default = PathBuf::from("validation/records");
    let path = target.unwrap_or(&default);
    if path.extension().is_some_and(|e| e == "json") {
        let mut all: Vec<serde_json::Value> = match std::fs::read_to_string(path) {
            Ok(text) if !text.trim().is_empty() => serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: not a JSON array of records ({e}); refusing to overwrite",
                    path.display()
                )
            })?,
            _ => vec![],
        };
        for r in ran {
            all.push(serde_json::to_value(r)?);
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| anyhow::anyhow!("{}: {e}", parent.display()))?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&all)? + "\n")
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(vec![path.to_path_buf()])
    } else {
        std::fs::create_dir_all(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut written = Vec::new();
        for r in ran {
            let mut r = r.clone();
            let stem = r.name.clone();
            let mut n = 1;
            let file = loop {
                let f = path.join(format!("{}.json", r.name));
                // create_new: a file that appears between the check and the write is not overwritten
                match std::fs::OpenOptions::new().write(true).create_new(true).open(&f) {
                    Ok(_) => break f,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        n += 1;
                        r.name = format!("{stem}-{n}");
                    }
                    Err(e) => anyhow::bail!("{}: {e}", f.display()),
                }
            };
            std::fs::write(&file, serde_json::to_string_pretty(&r)? + "\n")
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            written.push(file);
        }
        Ok(written)
    }
}

/// Today's estimator on a committed record's setup: the prediction `validate` would make now for the
/// same model, format, runtime profile, device, context, batch and images. The CI check of committed
/// records and the README's "Validated on" table use it, so both follow the estimator as it changes.
pub fn repredict(rec: &Record, catalog: &Catalog) -> anyhow::Result<(PredictedMemory, Option<record::Throughput>)> {
    let model = catalog.model(&rec.model, crate::estimate::arch::check_declared)?;
    let format = Format::parse(&rec.precision).ok_or_else(|| anyhow::anyhow!("unknown precision {}", rec.precision))?;
    let rt = rec.runtime.profile();
    let (spec, known) = match &rec.device.gpu_spec {
        Some(id) => (catalog.gpu(id)?, true),
        None => {
            let total = rec.device.memory_total_bytes.unwrap_or(0);
            (
                synthetic_spec(&rec.device.kind, &rec.device.name, total, None, None),
                false,
            )
        }
    };
    let case = Case {
        context: rec.context,
        batch: rec.batch,
        decode: rec.decode_steps,
        images: rec.images,
        crops: rec.crops,
    };
    let p = predict(&model, format, rt, &spec, known, &case);
    Ok((p.memory, p.throughput))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices() {
        assert_eq!(DeviceRequest::parse("auto").unwrap(), DeviceRequest::Auto);
        assert_eq!(DeviceRequest::parse("CPU").unwrap(), DeviceRequest::Cpu);
        assert_eq!(DeviceRequest::parse("cuda").unwrap(), DeviceRequest::Cuda(0));
        assert_eq!(DeviceRequest::parse("cuda:1").unwrap(), DeviceRequest::Cuda(1));
        assert!(DeviceRequest::parse("cuda:x").is_err());
        assert!(DeviceRequest::parse("tpu").is_err());
    }

    #[test]
    fn slugs_device_names() {
        assert_eq!(slug("NVIDIA H100 80GB HBM3"), "nvidia-h100-80gb-hbm3");
    }
}
