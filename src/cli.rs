//! Command-line definitions (clap derive). Nothing here computes.

use crate::report::OutputFormat;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  gpuplan fit phi-3.5-mini --gpu rtx-4090 --context 32k
  gpuplan fit phi-3.5-moe --gpu rtx-3090 --precision q4_k_m --context 8k
  gpuplan fit phi-3.5-moe --gpu h100-sxm --gpus 2 --runtime vllm --batch 32 --format json
  gpuplan matrix --models phi-3.5-mini,phi-3.5-moe --precision bf16,q4_k_m --context 4k,32k
  gpuplan compare phi-3.5-mini phi-3.5-moe phi-3-medium-4k --gpu l40s
  gpuplan models --format markdown
  gpuplan import ./Phi-3.5-mini-instruct --out phi-3.5-mini.yaml
  gpuplan fit ./Phi-3.5-mini-instruct-Q4_K_M.gguf --gpu rtx-4090 --context 16k

A model may be a catalog id, a model YAML, a config.json, a model directory (config.json +
safetensors) or a .gguf file; imports read headers only.

Exit codes: 0 success (also when a model does not fit: see `fits` in the output),
1 an error (bad spec, unknown id, I/O), 2 bad command-line usage.";

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
    /// Read a config.json, a model directory (config.json + safetensors headers) or a GGUF file into
    /// a model spec: exact tensor bytes, what each field rests on, optional YAML output.
    Import(ImportArgs),
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
    /// GPUs in tensor parallel (per-GPU figures are reported).
    #[arg(long, default_value_t = 1)]
    pub gpus: u64,
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
    /// GPU id, alias, NVML name, or path to a GPU YAML.
    #[arg(long, short = 'g')]
    pub gpu: String,
    /// Tokens per sequence (prompt + output), e.g. 4096, 32k, 128K; default min(4K, model max).
    #[arg(long, short = 'c')]
    pub context: Option<String>,
    #[command(flatten)]
    pub est: EstimateArgs,
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Models (comma-separated); default: the whole catalog.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// GPUs (comma-separated); default: the whole catalog.
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
