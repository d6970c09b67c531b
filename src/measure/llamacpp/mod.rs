//! `gpuplan validate --engine llama.cpp`: write the model as a synthetic GGUF ([`super::synth`]), load
//! it in the real llama.cpp (tools/llamacpp-probe) once, create one context per setting, and record
//! what llama.cpp itself prints it allocated (model, KV, compute and output buffers, per device) next
//! to gpuplan's prediction of the same lines. Memory is also measured: the probe's RSS on the CPU,
//! NVML's device peak on a GPU.
//!
//! What RSS shows on the CPU: the model is a mapping of the file (its pages count as RssFile as far as
//! they are resident), the KV buffer is written at creation (llama.cpp clears it) and so is resident,
//! and the compute buffer is reserved but not touched until a batch runs, so it is not.
//!
//! Faults are outcomes, never panics: no probe, a GGUF gpuplan cannot write or llama.cpp cannot load,
//! a killed or timed-out engine, an allocation that failed.

pub mod check;
pub mod probe;
pub mod settings;

pub use settings::{CacheType, FlashAttn, RunSettings};

use super::record::{
    BufferKind, BufferLine, DeviceFigures, DeviceInfo, EngineFigures, EngineRun, Measured, MeasuredEngine,
    MeasuredMemory, Outcome, Params, Predicted, Record, Registered, Throughput, Timings,
};
use super::synth;
use crate::estimate::engine::llamacpp::{LLAMA_CPP, VERSION};
use crate::estimate::EngineId;
use crate::spec::gpu::MIB;
use crate::spec::{Catalog, Format, GpuSpec, ModelSpec};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

pub struct Options {
    pub models: Vec<ModelSpec>,
    /// weight format; default q4_k_m (what people download)
    pub precision: Option<&'static Format>,
    /// contexts to create; each becomes a record
    pub settings: Vec<RunSettings>,
    /// an existing GGUF to load instead of a synthetic one (one model)
    pub gguf: Option<PathBuf>,
    pub probe: Option<PathBuf>,
    /// where synthetic files go (default: the system temp directory); removed after the run
    pub work_dir: Option<PathBuf>,
    pub keep_gguf: bool,
    /// llama-bench's pp512 and tg128 on every context (measured.throughput)
    pub bench: bool,
    /// a predictions file: each record copies the entry registered for it
    pub registered: Option<PathBuf>,
    pub timeout: Duration,
    pub log: fn(&str),
}

/// The default weight format for llama.cpp runs.
pub const DEFAULT_PRECISION: &str = "q4_k_m";

/// The device the probe runs on, as a record states it, and the spec the prediction uses.
struct Device {
    info: DeviceInfo,
    spec: GpuSpec,
    /// NVML sampler on a GPU
    sampler: Option<super::nvml::Sampler>,
}

fn open_device(settings: &[RunSettings], catalog: &Catalog) -> anyhow::Result<Device> {
    // an RPC device is this CPU's backend behind a socket: the host is the device
    if settings.iter().all(|s| s.n_gpu_layers == 0 || s.rpc > 0) {
        let (info, spec) = super::host_device()?;
        return Ok(Device {
            info,
            spec,
            sampler: None,
        });
    }
    let found = super::detect::detect().map_err(|e| super::DeviceUnavailable(format!("--n-gpu-layers: {e}")))?;
    let local = found
        .gpus
        .first()
        .ok_or_else(|| super::DeviceUnavailable("no NVIDIA GPU".into()))?;
    let matched = super::detect::match_catalog(local, catalog);
    let spec = match &matched {
        Some(m) => catalog.gpu(&m.id)?,
        None => super::synthetic_spec(
            "local-gpu",
            &local.name,
            local.memory_total_bytes,
            None,
            local.compute_capability.clone(),
        ),
    };
    let nvml = super::nvml::open()?;
    let sampler = super::nvml::Sampler::start(nvml, local.index, 200.0)?;
    Ok(Device {
        info: DeviceInfo {
            kind: "cuda".into(),
            index: Some(local.index),
            name: local.name.clone(),
            memory_total_bytes: Some(local.memory_total_bytes),
            driver_version: found.driver_version.clone(),
            cuda_version: found.cuda_version.clone(),
            compute_capability: local.compute_capability.clone(),
            gpu_spec: matched.map(|m| m.id),
        },
        spec,
        sampler: Some(sampler),
    })
}

/// gpuplan's prediction of llama.cpp's own buffer lines for these settings.
///
/// A model on the GPU (`-ngl` not 0): `estimate::engine::llamacpp::figures`. Wholly on the CPU: the
/// model buffer is the GGUF file's tensor data as gpuplan lays it out ([`synth::plan`]: the
/// estimator's per-tensor types, and for fp16/bf16/fp32 the converter's F32 norms), which llama.cpp
/// maps from the first tensor to the last; the KV buffer the cache cells llama.cpp allocates times
/// gpuplan's bytes per cell; the output buffer one row of f32 logits per slot
/// (`llama_context::output_reserve`); the compute buffer the accounting's replay of the graph on the
/// CPU backend (`estimate::engine::llamacpp::cpu_compute_buffer`), not predicted for architectures
/// whose graph it does not replay.
pub fn predict_engine(
    model: &ModelSpec,
    format: &'static Format,
    s: &RunSettings,
    gpu: &GpuSpec,
) -> Option<EngineFigures> {
    if s.rpc > 0 {
        return Some(rpc_figures(model, format, s, gpu));
    }
    if s.n_gpu_layers != 0 {
        return Some(gpu_figures(model, format, s, gpu));
    }
    let a = model.architecture.as_ref()?;
    let plan = synth::plan(model, format).ok()?;
    let infos = plan.tensor_infos();
    let (offsets, _) = synth::writer::offsets(&infos);
    let weights = match (offsets.last(), infos.last()) {
        (Some(o), Some(t)) => o + t.bytes,
        _ => 0,
    };
    let row = a.kv_dim();
    let per_cell = s.cache_type_k.kv_precision()?.bytes(1, row) + s.cache_type_v.kv_precision()?.bytes(1, row);
    Some(EngineFigures {
        model_buffer_bytes: Some(0),
        host_model_buffer_bytes: Some(weights),
        kv_buffer_bytes: Some(a.layers * kv_cells(s) * per_cell),
        host_kv_buffer_bytes: Some(0),
        compute_buffer_bytes: cpu_compute(model, format, s, gpu),
        host_compute_buffer_bytes: Some(0),
        output_buffer_bytes: Some(a.vocab_size * 4 * s.parallel.max(1)),
        devices: vec![],
    })
}

/// The accounting's CPU compute buffer for these settings.
fn cpu_compute(model: &ModelSpec, format: &'static Format, s: &RunSettings, gpu: &GpuSpec) -> Option<u64> {
    use crate::estimate::engine::llamacpp;
    let facts = crate::estimate::ModelFacts::new(model);
    let weights = crate::estimate::WeightFacts::new(model, &facts, format, 1);
    let p = prepared(model, format, s, gpu, &facts, &weights);
    // the CPU backend runs flash attention for every head size
    let settings = llamacpp::Settings::resolve(&s.flags(), p.setup.kv, true);
    let slots = s.parallel.max(1);
    llamacpp::cpu_compute_buffer(&p, &settings, s.ctx_size / slots, slots)
}

/// The setup the estimator sees for a record's settings: the model in its format with llama.cpp's
/// flags from the settings, on `gpu`.
fn prepared<'a>(
    model: &'a ModelSpec,
    format: &'static Format,
    s: &RunSettings,
    gpu: &'a GpuSpec,
    facts: &'a crate::estimate::ModelFacts,
    weights: &'a crate::estimate::WeightFacts,
) -> crate::estimate::Prepared<'a> {
    let setup = crate::estimate::Setup {
        engine: crate::estimate::engine::Flags {
            llamacpp: s.flags(),
            ..Default::default()
        },
        ..crate::estimate::Setup::new(model, format, &LLAMA_CPP)
    };
    crate::estimate::Prepared::new(setup, gpu, facts, weights)
}

/// A model split between RPC devices on this CPU and the CPU itself: the offload accounting
/// (`estimate::engine::offload::split`) with the RPC backend's buffers, `s.rpc` equal devices.
fn rpc_figures(model: &ModelSpec, format: &'static Format, s: &RunSettings, gpu: &GpuSpec) -> EngineFigures {
    use crate::estimate::engine::llamacpp::{self, backend::GpuBackend};
    use crate::estimate::engine::offload::{self, Rules, MODELED};
    let facts = crate::estimate::ModelFacts::new(model);
    let weights = crate::estimate::WeightFacts::new(model, &facts, format, 1);
    let p = prepared(model, format, s, gpu, &facts, &weights);
    // the CPU backend (the server's) runs flash attention for every head size
    let settings = llamacpp::Settings::resolve(&s.flags(), p.setup.kv, true);
    let rules = Rules {
        backend: GpuBackend::RpcCpu,
        ..MODELED
    };
    let slots = s.parallel.max(1);
    let sp = offload::split(&p, &settings, s.rpc as usize, s.ctx_size / slots, slots, &rules);
    let sum = |f: fn(&offload::GpuPart) -> u64| sp.gpus.iter().map(f).fold(0u64, u64::saturating_add);
    EngineFigures {
        model_buffer_bytes: Some(sum(|g| g.model_buffer_bytes)),
        host_model_buffer_bytes: Some(sp.host.model_buffer_bytes.values().sum()),
        kv_buffer_bytes: Some(sum(|g| g.kv_buffer_bytes)),
        host_kv_buffer_bytes: Some(sp.host.kv_buffer_bytes),
        compute_buffer_bytes: Some(sum(|g| g.compute_buffer_bytes)),
        host_compute_buffer_bytes: Some(sp.host.compute_buffer_bytes),
        output_buffer_bytes: Some(sp.host.output_buffer_bytes),
        devices: sp
            .gpus
            .iter()
            .enumerate()
            .map(|(device, g)| DeviceFigures {
                device,
                model_buffer_bytes: g.model_buffer_bytes,
                kv_buffer_bytes: g.kv_buffer_bytes,
                compute_buffer_bytes: g.compute_buffer_bytes,
            })
            .collect(),
    }
}

/// A model on the GPU: `estimate::engine::llamacpp::figures`.
fn gpu_figures(model: &ModelSpec, format: &'static Format, s: &RunSettings, gpu: &GpuSpec) -> EngineFigures {
    use crate::estimate::engine::{self, llamacpp};
    let facts = crate::estimate::ModelFacts::new(model);
    let weights = crate::estimate::WeightFacts::new(model, &facts, format, 1);
    let p = prepared(model, format, s, gpu, &facts, &weights);
    let settings = match p.settings {
        engine::Settings::LlamaCpp(ls) => ls,
        _ => llamacpp::Settings::resolve(&s.flags(), p.setup.kv, true),
    };
    let slots = s.parallel.max(1);
    let f = llamacpp::figures(&p, &settings, s.ctx_size / slots, slots);
    EngineFigures {
        model_buffer_bytes: Some(f.model_buffer_bytes),
        host_model_buffer_bytes: Some(f.host_model_buffer_bytes),
        kv_buffer_bytes: Some(f.kv_buffer_bytes),
        host_kv_buffer_bytes: Some(f.host_kv_buffer_bytes),
        compute_buffer_bytes: Some(f.compute_buffer_bytes),
        host_compute_buffer_bytes: Some(f.host_compute_buffer_bytes),
        output_buffer_bytes: Some(f.output_buffer_bytes),
        devices: vec![],
    }
}

/// KV cells llama.cpp allocates (`llama_context` constructor): n_ctx padded to 256; per-slot
/// streams (`-np N` without `-kvu`) of pad(n_ctx / N, 256) cells each.
pub fn kv_cells(s: &RunSettings) -> u64 {
    let pad = |n: u64| n.div_ceil(256) * 256;
    let n_ctx = pad(s.ctx_size);
    if s.kv_unified || s.parallel <= 1 {
        n_ctx
    } else {
        s.parallel * pad(n_ctx / s.parallel)
    }
}

/// Today's engine prediction for a committed record's setup (its model, format, settings, device).
pub fn repredict_engine(r: &Record, catalog: &Catalog) -> anyhow::Result<Option<EngineFigures>> {
    let e = r
        .engine
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("{}: not an engine record", r.name))?;
    let model = catalog.model(&r.model, crate::estimate::arch::check_declared)?;
    let format = Format::parse(&r.precision).ok_or_else(|| anyhow::anyhow!("unknown precision {}", r.precision))?;
    let gpu = match &r.device.gpu_spec {
        Some(id) => catalog.gpu(id)?,
        None => super::synthetic_spec(
            &r.device.kind,
            &r.device.name,
            r.device.memory_total_bytes.unwrap_or(0),
            None,
            None,
        ),
    };
    Ok(predict_engine(&model, format, &e.settings, &gpu))
}

/// The estimator's generic memory prediction for the llama.cpp profile (what `fit` says today).
fn predict_memory(model: &ModelSpec, format: &'static Format, s: &RunSettings, gpu: &GpuSpec) -> super::Prediction {
    // llama-server's slots share -c: each sequence gets ctx / parallel
    let case = super::Case {
        context: s.ctx_size / s.parallel.max(1),
        batch: s.parallel,
        decode: 0,
        images: 0,
        crops: 0,
    };
    let flags = crate::estimate::engine::Flags {
        llamacpp: s.flags(),
        ..Default::default()
    };
    super::predict_with_flags(model, format, &LLAMA_CPP, gpu, false, &case, flags)
}

/// gpuplan's llama.cpp throughput for llama-bench's tests: prefill of a 512-token prompt, decode of
/// one sequence at a short context (tg128 starts from an empty cache). None off the catalog's GPUs.
fn predict_throughput(
    model: &ModelSpec,
    format: &'static Format,
    s: &RunSettings,
    device: &Device,
) -> Option<Throughput> {
    device.info.gpu_spec.as_ref()?;
    let facts = crate::estimate::ModelFacts::new(model);
    let weights = crate::estimate::WeightFacts::new(model, &facts, format, 1);
    let p = prepared(model, format, s, &device.spec, &facts, &weights);
    let pp = crate::estimate::throughput::estimate(&p, probe::PP, 1);
    let tg = crate::estimate::throughput::estimate(&p, probe::TG, 1);
    Some(Throughput {
        prefill_tokens_per_s: Some(pp.prefill_tokens_per_s),
        decode_tokens_per_s: Some(tg.decode_tokens_per_s),
        ttft_s: None,
    })
}

/// The record's name: engine, device, model, format, settings.
pub fn record_name(device: &DeviceInfo, model: &str, format: &str, s: &RunSettings) -> String {
    let dev = if device.kind == "cpu" {
        "cpu".to_string()
    } else {
        super::slug(&device.name)
    };
    format!("llamacpp-{dev}-{model}_{format}_{}", s.slug())
}

/// Bytes from a printed MiB figure (exact to the printed decimals).
fn bytes_of(mib: f64) -> u64 {
    (mib * MIB as f64).round() as u64
}

/// Host buffers: the CPU's own (`CPU`, `CPU_Mapped`, `CPU_REPACK`) and a GPU backend's pinned host
/// memory (`CUDA_Host`).
pub fn is_host(device: &str) -> bool {
    device.starts_with("CPU") || device.ends_with("_Host")
}

/// Which figure a buffer line adds to, `true` for the host one. Model buffers on the CPU are host
/// buffers (a file mapping); without a GPU the CPU backend is the device, so its KV and compute
/// buffers are the device's (as `estimate::engine::llamacpp` counts a CPU-only run).
fn on_host(kind: BufferKind, device: &str, gpu_present: bool) -> bool {
    match kind {
        BufferKind::Model => is_host(device),
        _ => device.ends_with("_Host") || (gpu_present && is_host(device)),
    }
}

/// The model's device a buffer's name stands for: an RPC device by its server's place in `rpc` (each
/// server's one device prints as `RPC0[HOST:PORT]`), another by its digits (`CUDA1` is device 1).
fn device_index(device: &str, rpc: &[String]) -> Option<usize> {
    if let Some(endpoint) = device.split_once('[').and_then(|(_, e)| e.strip_suffix(']')) {
        return rpc.iter().position(|r| r == endpoint);
    }
    let digits: String = device
        .trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '_')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Each device's model, KV and compute buffers when the lines name several devices (none otherwise).
fn per_device(counted: &[&probe::Buffer], rpc: &[String]) -> Vec<DeviceFigures> {
    let mut devices: std::collections::BTreeMap<usize, DeviceFigures> = Default::default();
    for b in counted.iter().filter(|b| !is_host(&b.device)) {
        let Some(index) = device_index(&b.device, rpc) else {
            continue;
        };
        let d = devices.entry(index).or_insert_with(|| DeviceFigures {
            device: index,
            ..DeviceFigures::default()
        });
        let bytes = bytes_of(b.mib);
        match b.kind {
            BufferKind::Model => d.model_buffer_bytes += bytes,
            BufferKind::Kv => d.kv_buffer_bytes += bytes,
            BufferKind::Compute => d.compute_buffer_bytes += bytes,
            BufferKind::Output => {}
        }
    }
    if devices.len() < 2 {
        return vec![];
    }
    devices.into_values().collect()
}

/// The figures from the printed lines. The compute buffers come from the four-decimal lines the
/// context prints when freed where there are some (the two-decimal start-up lines stay in `buffers`).
pub fn measured_engine(model: &[probe::Buffer], rpc: &[String], run: &probe::Run) -> MeasuredEngine {
    let precise_compute = !run.freed.is_empty();
    let counted: Vec<&probe::Buffer> = model
        .iter()
        .chain(
            run.buffers
                .iter()
                .filter(|b| !(precise_compute && b.kind == BufferKind::Compute)),
        )
        .chain(run.freed.iter())
        .collect();
    let gpu_present = counted.iter().any(|b| !is_host(&b.device));
    let sum = |kind: BufferKind, host: Option<bool>| -> Option<u64> {
        Some(
            counted
                .iter()
                .filter(|b| b.kind == kind && host.is_none_or(|h| on_host(kind, &b.device, gpu_present) == h))
                .map(|b| bytes_of(b.mib))
                .sum(),
        )
    };
    MeasuredEngine {
        figures: EngineFigures {
            devices: per_device(&counted, rpc),
            model_buffer_bytes: sum(BufferKind::Model, Some(false)),
            host_model_buffer_bytes: sum(BufferKind::Model, Some(true)),
            kv_buffer_bytes: sum(BufferKind::Kv, Some(false)),
            host_kv_buffer_bytes: sum(BufferKind::Kv, Some(true)),
            compute_buffer_bytes: sum(BufferKind::Compute, Some(false)),
            host_compute_buffer_bytes: sum(BufferKind::Compute, Some(true)),
            output_buffer_bytes: sum(BufferKind::Output, None),
        },
        buffers: model
            .iter()
            .chain(&run.buffers)
            .chain(&run.freed)
            .map(|b| BufferLine {
                kind: b.kind,
                device: b.device.clone(),
                mib: b.mib,
                line: b.line.clone(),
            })
            .collect(),
    }
}

/// The model to load: a synthetic GGUF written for the run, or the file given.
enum Source {
    Synthetic { path: PathBuf, keep: bool },
    File(PathBuf),
}

impl Source {
    fn path(&self) -> &Path {
        match self {
            Source::Synthetic { path, .. } | Source::File(path) => path,
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::Synthetic { .. } => {
                "synthetic GGUF (gpuplan synth: exact shapes and types, data a hole of zeros)".into()
            }
            Source::File(p) => format!("gguf: {}", p.display()),
        }
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        if let Source::Synthetic { path, keep: false } = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The runs `validate --engine llama.cpp` would make with `opts` on `gpu` (`device` as records state
/// it), each with the prediction made now: what `gpuplan predict --engine llama.cpp` registers.
pub fn plan(opts: &Options, gpu: &GpuSpec, device: &DeviceInfo) -> anyhow::Result<Vec<super::predictions::Planned>> {
    let format = opts
        .precision
        .unwrap_or_else(|| Format::parse(DEFAULT_PRECISION).expect("a format in the table"));
    let settings = if opts.settings.is_empty() {
        vec![RunSettings::default()]
    } else {
        opts.settings.clone()
    };
    let dev = Device {
        info: device.clone(),
        spec: gpu.clone(),
        sampler: None,
    };
    let mut out = Vec::new();
    for model in &opts.models {
        for s in &settings {
            let pred = predict_memory(model, format, s, gpu);
            out.push(super::predictions::Planned {
                id: record_name(device, &model.id, format.id, s),
                engine: EngineId::LlamaCpp,
                model: model.id.clone(),
                precision: format.id.into(),
                context: s.ctx_size / s.parallel.max(1),
                batch: s.parallel,
                images: 0,
                settings: Some(s.clone()),
                command: s.command(&format!("{}-{}.gguf", model.id, format.id)),
                predicted: Predicted {
                    memory: pred.memory,
                    throughput: if opts.bench {
                        predict_throughput(model, format, s, &dev)
                    } else {
                        None
                    },
                    engine: predict_engine(model, format, s, gpu),
                },
            });
        }
    }
    Ok(out)
}

/// What happened to one setting.
enum SettingResult {
    /// the probe ran; the setting is `runs[index]` of its output
    Ran { out: Rc<probe::Output>, index: usize },
    /// no context: the record's outcome status, the step that failed, what was said
    Failed {
        status: &'static str,
        step: &'static str,
        message: String,
    },
}

/// Runs every model at every setting; one record per (model, setting).
pub fn validate(opts: &Options, catalog: &Catalog) -> anyhow::Result<Vec<Record>> {
    if opts.models.is_empty() {
        anyhow::bail!("name the model(s) to run in llama.cpp");
    }
    if opts.gguf.is_some() && opts.models.len() != 1 {
        anyhow::bail!("--gguf FILE holds one model: name exactly one MODEL with it");
    }
    let settings = if opts.settings.is_empty() {
        vec![RunSettings::default()]
    } else {
        opts.settings.clone()
    };
    let load = |s: &RunSettings| (s.n_gpu_layers, s.repack, s.n_cpu_moe, s.n_cpu_ffn, s.rpc);
    if settings.windows(2).any(|w| load(&w[0]) != load(&w[1])) {
        anyhow::bail!(
            "one llama.cpp load per model: every setting needs the same --n-gpu-layers, --n-cpu-moe, --n-cpu-ffn, --rpc and repacking"
        );
    }
    let registered = match &opts.registered {
        Some(p) => Some(super::predictions::Campaign::load(p)?),
        None => None,
    };
    let bin = probe::locate(opts.probe.as_deref());
    let device = open_device(&settings, catalog)?;
    let format = opts
        .precision
        .unwrap_or_else(|| Format::parse(DEFAULT_PRECISION).expect("a format in the table"));
    let mut records = Vec::new();
    for model in &opts.models {
        (opts.log)(&format!(
            "llama.cpp: {} {} ({} settings)",
            model.id,
            format.id,
            settings.len()
        ));
        let source = match &opts.gguf {
            Some(p) => Ok(Source::File(p.clone())),
            None => {
                let dir = opts.work_dir.clone().unwrap_or_else(std::env::temp_dir);
                let path = dir.join(format!(
                    "gpuplan-{}-{}-{}.gguf",
                    model.id,
                    format.id,
                    std::process::id()
                ));
                synth::plan(model, format)
                    .and_then(|s| s.write(&path))
                    .map(|_| Source::Synthetic {
                        path,
                        keep: opts.keep_gguf,
                    })
            }
        };
        let results: Vec<SettingResult> = match &source {
            Err(e) => settings
                .iter()
                .map(|_| SettingResult::Failed {
                    status: "error",
                    step: "synth",
                    message: e.to_string(),
                })
                .collect(),
            Ok(src) => {
                if let Some(s) = &device.sampler {
                    s.reset_peak();
                }
                match probe::run(&bin, src.path(), &settings, opts.bench, opts.timeout) {
                    Err(f) => settings
                        .iter()
                        .map(|_| SettingResult::Failed {
                            status: f.fault.status(),
                            step: "probe",
                            message: f.message.clone(),
                        })
                        .collect(),
                    Ok(out) if out.model.status != "ok" => {
                        let msg = out.model.error.clone().unwrap_or_default();
                        let status = if probe::says_out_of_memory(&msg) {
                            "out_of_memory"
                        } else {
                            "error"
                        };
                        settings
                            .iter()
                            .map(|_| SettingResult::Failed {
                                status,
                                step: "load",
                                message: format!("llama.cpp did not load the model: {msg}"),
                            })
                            .collect()
                    }
                    Ok(out) => {
                        let out = Rc::new(out);
                        (0..settings.len())
                            .map(|index| SettingResult::Ran {
                                out: out.clone(),
                                index,
                            })
                            .collect()
                    }
                }
            }
        };
        let source_text = source.as_ref().map_or_else(|_| "none".to_string(), Source::describe);
        let gguf_name = match &opts.gguf {
            Some(p) => p.display().to_string(),
            None => format!("{}-{}.gguf", model.id, format.id),
        };
        for (s, result) in settings.iter().zip(results) {
            let mut r = record(model, format, s, &device, &source_text, &gguf_name, result);
            if opts.bench {
                r.predicted.throughput = predict_throughput(model, format, s, &device);
            }
            if let Some(c) = &registered {
                r.prediction = c.registered_for(&r.name);
                if r.prediction.is_none() {
                    r.notes
                        .push(format!("no prediction registered for {} in {}", r.name, c.file));
                }
            }
            records.push(r);
        }
        drop(source);
    }
    Ok(records)
}

/// What the probe's run says about memory: NVML's device peak on a GPU, RSS on the CPU. Returns the
/// note that says how to read it.
fn measure_memory(memory: &mut MeasuredMemory, device: &Device, m: &probe::Model, run: &probe::Run) -> &'static str {
    match &device.sampler {
        Some(sampler) => {
            let peak = sampler.peak();
            memory.peak_bytes = Some(peak.device_used);
            memory.process_peak_bytes = peak.process_used;
            let (n, hz) = sampler.stats();
            memory.samples = Some(n);
            memory.sample_hz = Some(hz);
            "nvml peak: device used memory over the whole probe (all contexts), the CUDA context included"
        }
        None => {
            memory.baseline_bytes = Some(m.rss_before.rss);
            memory.weights_bytes = Some(m.rss_after.file.saturating_sub(m.rss_before.file));
            memory.kv_cache_bytes = Some(run.rss_after.anon.saturating_sub(run.rss_before.anon));
            memory.peak_bytes = Some(run.rss_after.peak.saturating_sub(m.rss_before.rss));
            "rss: weights = file pages resident after the load (the model is mmapped); kv_cache = anonymous memory the context added (the KV buffer is cleared, so resident); peak = VmHWM over the context's creation minus the RSS before the load; the compute buffer is reserved, not touched"
        }
    }
}

/// One record from one setting's result.
fn record(
    model: &ModelSpec,
    format: &'static Format,
    s: &RunSettings,
    device: &Device,
    source: &str,
    gguf_name: &str,
    result: SettingResult,
) -> Record {
    let pred = predict_memory(model, format, s, &device.spec);
    let engine_pred = predict_engine(model, format, s, &device.spec);
    let mut notes = vec![
        "llama.cpp's buffer lines are the measurement checked: model and KV buffers exact (to the printed 0.01 MiB), compute within 5%".into(),
    ];
    if engine_pred.as_ref().is_none_or(|e| e.compute_buffer_bytes.is_none()) {
        notes.push(
            "the compute buffer is not predicted for a model wholly on the CPU yet (estimate::engine::llamacpp)".into(),
        );
    }
    let mut memory = MeasuredMemory {
        method: if device.sampler.is_some() { "nvml" } else { "rss" }.into(),
        baseline_bytes: None,
        context_bytes: None,
        first_matmul_bytes: None,
        warmup_bytes: None,
        weights_bytes: None,
        kv_cache_bytes: None,
        kv_cache_tensor_bytes: None,
        prefill_activations_bytes: None,
        decode_activations_bytes: None,
        activations_bytes: None,
        prefill_peak_bytes: None,
        decode_peak_bytes: None,
        peak_bytes: None,
        process_peak_bytes: None,
        samples: None,
        sample_hz: None,
    };
    let mut timings = Timings {
        load_s: None,
        vision_s: None,
        prefill_s: None,
        decode_s: None,
        decode_step_mean_s: None,
        total_s: None,
    };
    let mut runner = (None, None);
    let mut measured_tp = Throughput {
        prefill_tokens_per_s: None,
        decode_tokens_per_s: None,
        ttft_s: None,
    };
    let (outcome, engine_measured) = match result {
        SettingResult::Failed { status, step, message } => (
            Outcome {
                status: status.into(),
                step: Some(step.into()),
                message: Some(message),
                predicted_fits: pred.memory.fits,
            },
            None,
        ),
        SettingResult::Ran { out, index } => {
            let run = &out.runs[index];
            let m = &out.model;
            runner = (m.n_params, m.size_bytes);
            timings.load_s = Some(m.load_s);
            timings.total_s = Some(m.load_s + run.context_s);
            notes.push(measure_memory(&mut memory, device, m, run).into());
            let ran = run.status == "ok";
            let outcome = Outcome {
                status: if ran {
                    "ran"
                } else if run.error.as_deref().is_some_and(probe::says_out_of_memory) {
                    "out_of_memory"
                } else {
                    "error"
                }
                .into(),
                step: (!ran).then(|| "context".to_string()),
                message: run.error.clone(),
                predicted_fits: pred.memory.fits,
            };
            if let Some(b) = &run.bench {
                measured_tp = Throughput {
                    prefill_tokens_per_s: b.pp_tokens_per_s(),
                    decode_tokens_per_s: b.tg_tokens_per_s(),
                    ttft_s: None,
                };
                notes.push(format!(
                    "throughput: llama-bench's tests in the probe: pp{} (one batch) and tg{} (one token at a time from an empty cache){}",
                    b.pp_tokens,
                    b.tg_tokens,
                    b.error.as_ref().map(|e| format!("; {e}")).unwrap_or_default()
                ));
            }
            notes.push(format!("probe: {}; {}", out.engine, out.system_info));
            (outcome, ran.then(|| measured_engine(&m.buffers, &m.rpc, run)))
        }
    };
    let kv_precision = if s.cache_type_k == s.cache_type_v {
        s.cache_type_k.as_str().to_string()
    } else {
        format!("k {} / v {}", s.cache_type_k.as_str(), s.cache_type_v.as_str())
    };
    Record {
        schema: super::record::SCHEMA,
        name: record_name(&device.info, &model.id, format.id, s),
        model: model.id.clone(),
        model_name: model.name.clone(),
        precision: format.id.into(),
        kv_precision,
        runtime: EngineId::LlamaCpp,
        // per sequence, as for every record: llama-server's slots share -c
        context: s.ctx_size / s.parallel.max(1),
        batch: s.parallel,
        prompt_tokens: 0,
        decode_steps: 0,
        images: 0,
        crops: 0,
        image_tokens: 0,
        prefill_chunk: s.ubatch_size,
        weights: source.into(),
        device: device.info.clone(),
        gpuplan: super::build_info(),
        params: Params {
            total: pred.params.0,
            active: pred.params.1,
            runner_total: runner.0,
            runner_tensors: None,
        },
        predicted: Predicted {
            memory: pred.memory,
            throughput: None,
            engine: engine_pred,
        },
        measured: Measured {
            memory,
            throughput: measured_tp,
            engine: engine_measured,
        },
        outcome,
        timings,
        notes: {
            if let Some(bytes) = runner.1 {
                notes.push(format!("llama_model_size: {bytes} B of tensors"));
            }
            notes
        },
        created_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        engine: Some(EngineRun {
            name: EngineId::LlamaCpp.as_str().into(),
            version: VERSION.into(),
            command: s.command(gguf_name),
            settings: s.clone(),
        }),
        prediction: None::<Registered>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(kind: BufferKind, device: &str, mib: f64) -> probe::Buffer {
        probe::Buffer {
            kind,
            device: device.into(),
            mib,
            line: String::new(),
        }
    }

    #[test]
    fn devices_are_told_apart_by_index_or_rpc_server() {
        let servers = ["127.0.0.1:41853".to_string(), "127.0.0.1:46185".to_string()];
        // each server's one device prints as RPC0: its server's place is its index
        assert_eq!(device_index("RPC0[127.0.0.1:46185]", &servers), Some(1));
        assert_eq!(device_index("RPC0[127.0.0.1:41853]", &servers), Some(0));
        assert_eq!(device_index("RPC0[127.0.0.1:9]", &servers), None);
        assert_eq!(device_index("CUDA1", &[]), Some(1));
        assert_eq!(device_index("ROCm0", &[]), Some(0));
    }

    /// The lines of a split over an RPC device (Llama 3.2 3B Q4_K_M, `-ngl 14 --rpc`, 4K context):
    /// the RPC device's buffers are the device's, the CPU's the host's, KV included.
    #[test]
    fn an_rpc_split_counts_each_device_apart() {
        let rpc = "RPC0[127.0.0.1:44165]";
        let model = [
            buffer(BufferKind::Model, "CPU_Mapped", 1167.31),
            buffer(BufferKind::Model, rpc, 1059.28),
        ];
        let run = probe::Run {
            status: "ok".into(),
            error: None,
            buffers: vec![
                buffer(BufferKind::Output, "CPU", 0.49),
                buffer(BufferKind::Kv, "CPU", 240.0),
                buffer(BufferKind::Kv, rpc, 208.0),
                buffer(BufferKind::Compute, rpc, 64.01),
                buffer(BufferKind::Compute, "CPU", 82.02),
            ],
            freed: vec![
                buffer(BufferKind::Compute, rpc, 64.0098),
                buffer(BufferKind::Compute, "CPU", 82.0176),
            ],
            lines: vec![],
            context_s: 0.0,
            bench: None,
            rss_before: Default::default(),
            rss_after: Default::default(),
        };
        let f = measured_engine(&model, &[], &run).figures;
        assert_eq!(f.model_buffer_bytes, Some(bytes_of(1059.28)));
        assert_eq!(f.host_model_buffer_bytes, Some(bytes_of(1167.31)));
        assert_eq!(f.kv_buffer_bytes, Some(208 << 20));
        assert_eq!(f.host_kv_buffer_bytes, Some(240 << 20));
        assert_eq!(f.compute_buffer_bytes, Some(bytes_of(64.0098)));
        assert_eq!(f.host_compute_buffer_bytes, Some(bytes_of(82.0176)));
        // on the CPU alone the CPU is the device: its KV is the device's
        let cpu_only = probe::Run {
            buffers: vec![buffer(BufferKind::Kv, "CPU", 448.0)],
            freed: vec![],
            ..run
        };
        let f = measured_engine(&model[..1], &[], &cpu_only).figures;
        assert_eq!((f.kv_buffer_bytes, f.host_kv_buffer_bytes), (Some(448 << 20), Some(0)));
    }
}
