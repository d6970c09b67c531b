//! The validation record: one run's predicted and measured figures, as committed under
//! `validation/records/`. Bytes are integers; a figure not measured (or not predicted) is null,
//! never 0.

use crate::estimate::EngineId;
use serde::{Deserialize, Serialize};

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub schema: u32,
    /// file stem under validation/records/
    pub name: String,
    pub model: String,
    pub model_name: String,
    /// weight format id (bf16, fp16, q8_0, q4_k)
    pub precision: String,
    pub kv_precision: String,
    /// the estimator's runtime profile used for the prediction (candle, candle-cpu)
    pub runtime: EngineId,
    /// tokens per sequence at the end (prompt + decoded), image tokens excluded
    pub context: u64,
    pub batch: u64,
    /// text tokens per sequence in the prompt
    pub prompt_tokens: u64,
    pub decode_steps: u64,
    pub images: u64,
    pub crops: u64,
    pub image_tokens: u64,
    pub prefill_chunk: u64,
    /// "synthetic" or "safetensors: DIR"
    pub weights: String,
    pub device: DeviceInfo,
    pub gpuplan: BuildInfo,
    pub params: Params,
    pub predicted: Predicted,
    pub measured: Measured,
    pub outcome: Outcome,
    pub timings: Timings,
    pub notes: Vec<String>,
    /// seconds since the Unix epoch when the run ended
    pub created_unix_s: u64,
    /// the inference engine that ran (records of real engines; candle runs have none)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineRun>,
    /// the prediction registered before the run that this record answers
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Registered>,
}

/// What ran: the engine, its version and the command line a user would type for the same settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EngineRun {
    /// "llama.cpp"
    pub name: String,
    pub version: String,
    /// the equivalent `llama-server` command line
    pub command: String,
    pub settings: super::llamacpp::RunSettings,
}

/// An engine's own memory accounting (llama.cpp's start-up buffer lines), in bytes. Device buffers
/// (`CUDA0`) and host buffers (`CPU`, `CPU_Mapped`, `CUDA_Host`) apart; None where not predicted or
/// not printed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EngineFigures {
    pub model_buffer_bytes: Option<u64>,
    pub host_model_buffer_bytes: Option<u64>,
    pub kv_buffer_bytes: Option<u64>,
    /// the KV of layers left on the CPU beside a device (`CPU KV buffer`); records made before it
    /// was checked have none
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_kv_buffer_bytes: Option<u64>,
    pub compute_buffer_bytes: Option<u64>,
    pub host_compute_buffer_bytes: Option<u64>,
    pub output_buffer_bytes: Option<u64>,
    /// each device's buffers when a run has several (a split over GPUs or RPC devices); the fields
    /// above sum them
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceFigures>,
}

/// One device's buffers in a run over several (llama.cpp's `CUDA1`, `RPC1[HOST:PORT]` lines).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DeviceFigures {
    /// the device's index (the digits of its name)
    pub device: usize,
    pub model_buffer_bytes: u64,
    pub kv_buffer_bytes: u64,
    pub compute_buffer_bytes: u64,
}

/// What a buffer line of llama.cpp's start-up log holds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BufferKind {
    /// "model buffer size"
    Model,
    /// "KV buffer size"
    Kv,
    /// "compute buffer size"
    Compute,
    /// "output buffer size"
    Output,
}

/// One buffer line as llama.cpp printed it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BufferLine {
    pub kind: BufferKind,
    /// llama.cpp's buffer type name: CPU, CPU_Mapped, CUDA0, CUDA_Host, ...
    pub device: String,
    /// as printed: two decimals (four for the compute buffers the context prints when freed)
    pub mib: f64,
    pub line: String,
}

/// What the engine printed: the figures (bytes from the printed MiB, so exact to 0.005 MiB) and the
/// lines they come from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MeasuredEngine {
    #[serde(flatten)]
    pub figures: EngineFigures,
    pub buffers: Vec<BufferLine>,
}

/// A prediction registered (committed) before the run: where, which entry, made by which commit,
/// and its figures as registered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Registered {
    /// validation/predictions/<date>-<device>.json
    pub file: String,
    /// the entry's id in that file
    pub id: String,
    /// the gpuplan commit that made the prediction
    pub commit: String,
    pub predicted: Predicted,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeviceInfo {
    /// "cuda" or "cpu"
    pub kind: String,
    pub index: Option<u32>,
    pub name: String,
    pub memory_total_bytes: Option<u64>,
    pub driver_version: Option<String>,
    pub cuda_version: Option<String>,
    pub compute_capability: Option<String>,
    /// the catalog GPU the prediction used (None: a spec built from NVML's memory total)
    pub gpu_spec: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildInfo {
    pub version: String,
    pub git_sha: String,
    /// whether the binary has candle's CUDA backend
    pub cuda: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Params {
    /// the estimator's count
    pub total: u64,
    pub active: u64,
    /// what the runner built, summed tensor by tensor (None when loading failed before the end)
    pub runner_total: Option<u64>,
    pub runner_tensors: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Predicted {
    pub memory: PredictedMemory,
    /// None where the device's bandwidth and FLOPS are unknown (CPU, a GPU not in the catalog)
    pub throughput: Option<Throughput>,
    /// the engine's own accounting as gpuplan predicts it (engine records)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineFigures>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PredictedMemory {
    pub weights_bytes: u64,
    pub kv_cache_bytes: u64,
    pub activations_bytes: u64,
    pub activation_peak_phase: String,
    pub overhead_bytes: u64,
    pub total_bytes: u64,
    /// what the estimator says the device offers (cudaMemGetInfo total; host MemAvailable)
    pub available_bytes: u64,
    pub fits: bool,
    /// allocated while the model is built: weights + RoPE tables (the overhead term)
    pub load_bytes: u64,
    pub rope_tables_bytes: u64,
    /// CUDA context + cuBLAS workspace terms
    pub context_bytes: u64,
    pub workspace_bytes: u64,
    /// each weight tensor rounded up to the allocator's granularity (an overhead term)
    pub allocator_rounding_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Throughput {
    pub prefill_tokens_per_s: Option<f64>,
    pub decode_tokens_per_s: Option<f64>,
    pub ttft_s: Option<f64>,
}

/// Measured memory. On CUDA: NVML device used memory, relative to the reading before this
/// process created its CUDA context (`baseline_bytes`). On CPU: process RSS (VmRSS / VmHWM),
/// relative to the RSS before loading.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MeasuredMemory {
    /// "nvml" or "rss"
    pub method: String,
    pub baseline_bytes: Option<u64>,
    /// CUDA context (+ cuBLAS handle) creation
    pub context_bytes: Option<u64>,
    /// growth over the first cuBLAS matmul (workspace, lazily loaded kernels): probe runs only
    pub first_matmul_bytes: Option<u64>,
    /// growth over a micro model of the same code path run first (kernel modules, cuBLAS
    /// workspace, thread pools: the runtime's one-time costs). Part of the peak on CUDA; on the
    /// CPU the baseline is taken after it.
    pub warmup_bytes: Option<u64>,
    /// growth while the model was built (weights + RoPE tables)
    pub weights_bytes: Option<u64>,
    /// resident growth from the end of loading to the end of decode (KV cache + what the
    /// allocator keeps)
    pub kv_cache_bytes: Option<u64>,
    /// the KV tensors' own bytes at the end (counted from the tensors, not measured)
    pub kv_cache_tensor_bytes: Option<u64>,
    /// peak over prefill / decode minus what was resident before the phase
    pub prefill_activations_bytes: Option<u64>,
    pub decode_activations_bytes: Option<u64>,
    /// peak - context - warm-up - weights - kv: what the forward passes added on top
    pub activations_bytes: Option<u64>,
    pub prefill_peak_bytes: Option<u64>,
    pub decode_peak_bytes: Option<u64>,
    /// highest reading over the whole run, relative to the baseline (context included on CUDA)
    pub peak_bytes: Option<u64>,
    /// this process's own peak as NVML attributes it (None where NVML cannot)
    pub process_peak_bytes: Option<u64>,
    pub samples: Option<u64>,
    pub sample_hz: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Measured {
    pub memory: MeasuredMemory,
    pub throughput: Throughput,
    /// what the engine printed (engine records)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<MeasuredEngine>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    /// "ran", "out_of_memory", "killed", "error", "skipped"
    pub status: String,
    /// the step it stopped at ("decode step 3/16")
    pub step: Option<String>,
    pub message: Option<String>,
    /// the estimator's verdict, next to what happened
    pub predicted_fits: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Timings {
    pub load_s: Option<f64>,
    pub vision_s: Option<f64>,
    pub prefill_s: Option<f64>,
    pub decode_s: Option<f64>,
    pub decode_step_mean_s: Option<f64>,
    pub total_s: Option<f64>,
}

impl MeasuredMemory {
    /// Runtime overhead on CUDA: context creation plus the warm-up's one-time costs (None on the
    /// CPU, where the baseline is taken after them).
    pub fn overhead_bytes(&self) -> Option<u64> {
        match self.method.as_str() {
            "nvml" => self.context_bytes.map(|c| c + self.warmup_bytes.unwrap_or(0)),
            _ => None,
        }
    }
}

impl PredictedMemory {
    /// The overhead terms other than the RoPE tables (which the load figure already holds).
    pub fn overhead_without_rope(&self) -> u64 {
        self.overhead_bytes.saturating_sub(self.rope_tables_bytes)
    }
}

impl Record {
    /// Error of the measured peak against the prediction, in % of the measurement.
    pub fn peak_error_pct(&self) -> Option<f64> {
        error_pct(
            Some(self.predicted.memory.total_bytes as f64),
            self.measured.memory.peak_bytes.map(|b| b as f64),
        )
    }
}

/// (predicted - measured) / measured x 100, when both exist and the measurement is not zero.
pub fn error_pct(predicted: Option<f64>, measured: Option<f64>) -> Option<f64> {
    match (predicted, measured) {
        (Some(p), Some(m)) if m != 0.0 => Some((p - m) / m * 100.0),
        _ => None,
    }
}
