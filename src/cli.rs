//! Command-line definitions (clap derive). Nothing here computes.

use crate::report::charts::{ChartKind, ImageFormat};
use crate::report::OutputFormat;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  gpuplan fit phi-3.5-mini --gpu rtx-4090 --context 32k
  gpuplan fit phi-3.5-moe --gpu rtx-3090 --precision q4_k_m --context 8k
  gpuplan fit phi-3.5-moe --gpu h100-sxm --gpus 2 --runtime vllm --batch 32 --format json
  gpuplan matrix --models phi-3.5-mini,phi-3.5-moe --precision bf16,q4_k_m --context 4k,32k
  gpuplan fit phi-3.5-moe --gpu rtx-4090 --gpus 2 --pipeline 2 --precision q4_k_m
  gpuplan compare phi-3.5-mini phi-3.5-moe phi-3-medium-4k --gpu l40s
  gpuplan report --workload examples/workloads/moe-chat-50-users.yaml --out report.html
  gpuplan plot memory --workload examples/workloads/moe-chat-50-users.yaml --out memory.png
  gpuplan detect
  gpuplan fit phi-3.5-mini --gpu local --context 32k
  gpuplan models --format markdown
  gpuplan import ./Phi-3.5-mini-instruct --out phi-3.5-mini.yaml
  gpuplan fit ./Phi-3.5-mini-instruct-Q4_K_M.gguf --gpu rtx-4090 --context 16k

A model may be a catalog id, a model YAML, a config.json, a model directory (config.json +
safetensors) or a .gguf file; imports read headers only.

Exit codes: 0 success (also when a model does not fit: see `fits` in the output, and for `detect`
when no NVIDIA GPU or driver is found: it says so in one line), 1 an error (bad spec or workload,
unknown id, I/O, `--gpu local` without a GPU), 2 bad command-line usage.";

#[derive(Debug, Parser)]
#[command(name = "gpuplan", version, about = "GPU capacity planner and VRAM calculator for LLM inference", after_help = EXAMPLES)]
pub struct Cli {
    /// Output format.
    #[arg(long, short = 'f', global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Extra catalog directory holding models/*.yaml and/or gpus/*.yaml (repeatable); entries with an
    /// existing id replace the embedded ones.
    #[arg(long, global = true, env = "GPUPLAN_CATALOG", value_delimiter = ':')]
    pub catalog: Vec<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the model catalog with exact parameter counts and KV bytes per token.
    Models,
    /// List the GPU catalog: memory as nvidia-smi reports it, what a program can use, speeds, prices.
    Gpus,
    /// List the weight formats and their exact bits per weight.
    Formats,
    /// Does MODEL fit on GPU? Itemized memory, largest context and batch, throughput.
    Fit(FitArgs),
    /// Which GPU fits which model: max context and decode tok/s per cell (whole catalog by default).
    Matrix(MatrixArgs),
    /// Several models side by side on one GPU.
    Compare(CompareArgs),
    /// Size a workload (YAML): GPUs, layout and replicas per option, latency targets, cost; ranked,
    /// with a recommendation. HTML (self-contained, charts inline) or Markdown (charts beside it).
    Report(ReportArgs),
    /// Write one chart of a sizing (PNG or SVG, from the --out extension).
    Plot(PlotArgs),
    /// List local NVIDIA GPUs (NVML), match them to the catalog, and show what fits in their free
    /// memory now. No driver or no GPU: one line saying so, exit code 0.
    Detect(DetectArgs),
    /// Load and run models with candle on this machine's GPU (or CPU), measure memory and speed,
    /// and compare with the estimate; writes a JSON record per run.
    #[command(after_help = VALIDATE_HELP)]
    Validate(ValidateArgs),
    /// Read a config.json, a model directory (config.json + safetensors headers) or a GGUF file into
    /// a model spec: exact tensor bytes, what each field rests on, optional YAML output.
    Import(ImportArgs),
    /// The validation records (default validation/records/) against today's estimator: predicted vs
    /// measured memory, decode and prefill. `--format markdown` gives the README's "Validated on" table.
    Records(RecordsArgs),
}

#[derive(Debug, Args)]
pub struct RecordsArgs {
    /// Directory of record files (*.json, one record or an array each).
    #[arg(default_value = "validation/records")]
    pub dir: PathBuf,
}

const VALIDATE_HELP: &str = "\
Weights are synthetic unless --weights DIR is given: memory and speed depend only on tensor shapes
and dtypes, so the exact shapes are built directly on the device.

Examples:
  gpuplan validate                                   (GPU: Mini, MoE, Vision at each precision that fits)
  gpuplan validate phi-3.5-mini --context 32k --decode 8
  gpuplan validate phi-3.5-moe --precision q4_k --record runs.json
  gpuplan validate phi-3.5-mini --device cpu --context 256 --decode 4
  gpuplan validate --probe cublas --device cuda:0

Exit codes: 0 every run finished (a run that ran out of memory is data, recorded as such),
1 an error, 2 bad command-line usage, 3 the requested device is unavailable (no GPU, no NVML,
missing CUDA libraries, or a build without CUDA).";

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Models to run (ids, aliases, YAML paths); none: the three Phi-3.5 variants at every
    /// precision the estimator says fits the GPU.
    pub models: Vec<String>,
    /// Weight format: bf16, fp16, q8_0 or q4_k (default: the model's dtype).
    #[arg(long, short = 'p')]
    pub precision: Option<String>,
    /// Tokens per sequence at the end of the run: the prompt is context - decode (default 4096).
    #[arg(long, short = 'c')]
    pub context: Option<String>,
    #[arg(long, short = 'b', default_value_t = 1)]
    pub batch: u64,
    /// Decode steps timed after the prefill.
    #[arg(long, default_value_t = 16)]
    pub decode: u64,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// A Hugging Face checkpoint directory (*.safetensors, config.json) instead of synthetic weights.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Where records go: a directory (one file per run) or a .json file (appended to its array).
    #[arg(long, default_value = "validation/records")]
    pub record: PathBuf,
    /// Do not write records.
    #[arg(long)]
    pub no_record: bool,
    /// Images per sequence for vision models (default 1).
    #[arg(long)]
    pub images: Option<u64>,
    /// HD crops per image for vision models (default: the model's).
    #[arg(long)]
    pub crops: Option<u64>,
    /// Measure an overhead alone instead of a model: the CUDA context, or the first cuBLAS matmul.
    #[arg(long, value_enum)]
    pub probe: Option<ProbeArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProbeArg {
    Context,
    Cublas,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// config.json, model directory, or .gguf file.
    pub path: PathBuf,
    /// Write the imported spec as YAML here (usable with --catalog DIR/models or as a model argument).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

/// Options every estimate takes.
#[derive(Debug, Args, Clone)]
pub struct EstimateArgs {
    /// Weight format (see `gpuplan formats`); default: the model's own dtype.
    #[arg(long, short = 'p')]
    pub precision: Option<String>,
    /// KV-cache precision: fp16, bf16, fp8, int8, q8_0, q4_0, fp32; default: the runtime's.
    #[arg(long)]
    pub kv_precision: Option<String>,
    /// Inference runtime profile: candle, vllm, llama.cpp, transformers.
    #[arg(long, short = 'r', default_value = "candle")]
    pub runtime: String,
    /// Sequences decoded together.
    #[arg(long, short = 'b', default_value_t = 1)]
    pub batch: u64,
    /// GPUs in tensor parallel per pipeline stage (per-GPU figures are reported).
    #[arg(long, default_value_t = 1)]
    pub gpus: u64,
    /// Pipeline-parallel stages (decoder layers split in order; total GPUs = gpus x pipeline).
    #[arg(long, default_value_t = 1)]
    pub pipeline: u64,
    /// Images per sequence (vision models).
    #[arg(long, default_value_t = 0)]
    pub images: u64,
    /// HD crops per image (vision models; default: the model's).
    #[arg(long, default_value_t = 0)]
    pub crops: u64,
    /// Assume ECC on or off instead of the board's default (GDDR boards lose 1/16 with ECC on).
    #[arg(long, value_enum)]
    pub ecc: Option<EccArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EccArg {
    On,
    Off,
}

#[derive(Debug, Args)]
pub struct FitArgs {
    /// Model id, alias, Hugging Face id, or a path: model YAML, config.json, model directory, .gguf.
    pub model: String,
    /// GPU id, alias, NVML name, path to a GPU YAML, or `local` (`local:N`) for this machine's GPU
    /// with its free memory.
    #[arg(long, short = 'g')]
    pub gpu: String,
    /// Tokens per sequence (prompt + output), e.g. 4096, 32k, 128K; default min(4K, model max).
    #[arg(long, short = 'c')]
    pub context: Option<String>,
    #[command(flatten)]
    pub est: EstimateArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Workload YAML (see examples/workloads/).
    #[arg(long, short = 'w')]
    pub workload: PathBuf,
    /// Write the report here: .html (one page, charts inline) or .md (charts written beside it);
    /// without it the report goes to stdout in --format.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Image format of the charts beside a Markdown report.
    #[arg(long, value_enum, default_value_t = ImageFormat::Svg)]
    pub charts: ImageFormat,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Which chart.
    #[arg(value_enum)]
    pub kind: ChartKind,
    /// Output file; .png or .svg.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Workload YAML to chart (as in `report`).
    #[arg(long, short = 'w', conflicts_with_all = ["model", "gpu", "precision", "context"])]
    pub workload: Option<PathBuf>,
    /// Without a workload: the model (one sequence at --context).
    #[arg(long, short = 'm', required_unless_present = "workload")]
    pub model: Option<String>,
    /// Without a workload: GPUs (comma-separated); default the whole catalog.
    #[arg(long, short = 'g', value_delimiter = ',')]
    pub gpu: Vec<String>,
    /// Without a workload: weight formats (comma-separated); default the model's dtype.
    #[arg(long, short = 'p', value_delimiter = ',')]
    pub precision: Vec<String>,
    /// Without a workload: tokens per sequence (default 4K).
    #[arg(long, short = 'c')]
    pub context: Option<String>,
    /// Without a workload: runtime profile.
    #[arg(long, short = 'r', default_value = "vllm")]
    pub runtime: String,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Models to check against the free memory (comma-separated); default the whole catalog.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Weight formats (comma-separated); default each model's dtype.
    #[arg(long, short = 'p', value_delimiter = ',')]
    pub precision: Vec<String>,
    /// Tokens per sequence; default min(4K, model max).
    #[arg(long, short = 'c')]
    pub context: Option<String>,
    #[arg(long, short = 'r', default_value = "candle")]
    pub runtime: String,
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Models (comma-separated); default: the whole catalog.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// GPUs (comma-separated); default: the whole catalog; `local` = this machine's GPUs with their
    /// free memory.
    #[arg(long = "gpu", visible_alias = "gpus-list", value_delimiter = ',')]
    pub gpu: Vec<String>,
    /// Contexts (comma-separated), e.g. 4k,32k,128k; default min(4K, model max).
    #[arg(long, short = 'c', value_delimiter = ',')]
    pub context: Vec<String>,
    /// Weight formats (comma-separated); default: each model's dtype.
    #[arg(long, short = 'p', value_delimiter = ',')]
    pub precision: Vec<String>,
    #[arg(long, short = 'r', default_value = "candle")]
    pub runtime: String,
    #[arg(long, short = 'b', default_value_t = 1)]
    pub batch: u64,
    #[arg(long)]
    pub kv_precision: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Models to compare.
    #[arg(required = true, num_args = 2..)]
    pub models: Vec<String>,
    #[arg(long, short = 'g')]
    pub gpu: String,
    #[arg(long, short = 'c')]
    pub context: Option<String>,
    #[command(flatten)]
    pub est: EstimateArgs,
}
