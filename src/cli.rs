//! Command-line definitions (clap derive). Nothing here computes.

use crate::estimate::engine::command::{self, parse_gib, Command as EngineCommand};
use crate::estimate::engine::offload::{GpuLayers, TensorOverride};
use crate::estimate::{EngineId, Runtime};
use crate::measure::llamacpp::RunSettings;
use crate::measure::DeviceRequest;
use crate::params::{de_with, parse_batch, parse_context, parse_gpu_count, parse_image_count, ModelKey};
use crate::report::charts::{ChartKind, ImageFormat};
use crate::report::units::{parse_bytes, parse_rate, parse_tokens};
use crate::report::OutputFormat;
use crate::spec::{Format, KvPrecision};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use std::net::SocketAddr;
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
unknown id, a context past the model's maximum without --allow-long-context, I/O, `--gpu local`
without a GPU), 2 bad command-line usage (also a value out of range or an unknown precision).";

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
    /// List the host platforms (system RAM, its peak bandwidth, the GPU's PCIe slot) for CPU+GPU
    /// offload.
    Hosts,
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
    /// Load and run models with candle, or the real llama.cpp (--engine llama.cpp), on this machine's
    /// GPU (or CPU), measure memory and speed, and compare with the estimate; writes a JSON record
    /// per run.
    #[command(after_help = VALIDATE_HELP)]
    Validate(ValidateArgs),
    /// Read a config.json, a model directory (config.json + safetensors headers) or a GGUF file into
    /// a model spec: exact tensor bytes, what each field rests on, optional YAML output.
    Import(ImportArgs),
    /// The validation records (default validation/records/) against today's estimator: predicted vs
    /// measured memory, decode and prefill. `--format markdown` gives the README's "Validated on" table.
    Records(RecordsArgs),
    /// Every engine start-up log in validation/field/ (published vLLM and llama.cpp logs, runs of
    /// the pinned llama.cpp) against today's estimator: source, engine version, model, GPU, the
    /// headline figure predicted and printed. `--format markdown` gives the README's "Checked
    /// against engine logs" table.
    Evidence(EvidenceArgs),
    /// Write a GGUF file llama.cpp loads: every tensor at the exact shape and GGML type gpuplan
    /// sizes it with, the architecture's metadata and a byte-level tokenizer; the data is a hole
    /// (zeros, no disk), never real weights.
    Synth(SynthArgs),
    /// Register predictions before a campaign runs: every run `validate` would make with these
    /// arguments, with gpuplan's prediction made now and the commit that made it, added to the
    /// campaign's file (validation/predictions/<date>-<device>.json). Records of the campaign name
    /// the entry they answer (`validate --registered FILE`).
    Predict(PredictArgs),
    /// The planner as a local web page and a JSON API (fit, matrix, compare, report, import).
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Print a shell completion script: `gpuplan completions bash > /etc/bash_completion.d/gpuplan`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The campaign's predictions file; created, or added to (an id is registered once).
    #[arg(long)]
    pub campaign: PathBuf,
    /// The GPU the campaign runs on (catalog id); without it, this machine's CPU.
    #[arg(long = "for-gpu")]
    pub for_gpu: Option<String>,
    /// The commit whose estimator makes the predictions (`git rev-parse HEAD`); default the one
    /// this binary was built from.
    #[arg(long)]
    pub commit: Option<String>,
    #[command(flatten)]
    pub run: ValidateArgs,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Model id, alias or spec (llama, mistral, mixtral, qwen2, qwen3, qwen3moe, phi3 and phimoe
    /// architectures).
    pub model: String,
    /// Weight format: a GGUF format (q4_k_m, q8_0, ...), fp16, bf16 or fp32.
    #[arg(long, short = 'p', value_parser = parse_format)]
    pub precision: &'static Format,
    /// The .gguf file to write.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

const SERVE_HELP: &str = "\
The page and its API answer from the same estimator as the command line: POST /api/fit with
{\"model\": \"phi-3.5-mini\", \"gpu\": \"rtx-4090\", \"context\": \"32k\"} returns what
`gpuplan fit phi-3.5-mini --gpu rtx-4090 --context 32k --format json` prints. The API is described
at /api/openapi.json. Ctrl-C (SIGINT) or SIGTERM stops it after the requests in flight.";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Allow an address other than loopback (the API has no authentication: anyone who can reach
    /// the address can use it).
    #[arg(long)]
    pub allow_remote: bool,
}

#[derive(Debug, Args)]
pub struct EvidenceArgs {
    /// Directory of evidence files (validation/field/<id>.json).
    #[arg(long, default_value = "validation/field")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RecordsArgs {
    /// Directory of record files (*.json, one record or an array each).
    #[arg(default_value = "validation/records")]
    pub dir: PathBuf,
    /// Fail (exit 1) unless every llama.cpp record's buffers are within bounds: model, KV and
    /// output equal to the printed 0.01 MiB, compute within 5%; each failure names the term and
    /// both numbers (scripts/llamacpp-check.sh).
    #[arg(long)]
    pub check: bool,
    /// With --check: terms gpuplan does not predict are reported, not failed.
    #[arg(long, requires = "check")]
    pub allow_unpredicted: bool,
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
  gpuplan validate --engine llama.cpp phi-3.5-mini -p q4_k_m --no-repack \
      --setting ctx=4096,fa=on --setting ctx=32768,ubatch=2048,fa=off,parallel=4,ctk=q8_0

With --engine llama.cpp the model is written as a synthetic GGUF (gpuplan synth), loaded once in the
real llama.cpp (scripts/llamacpp-build.sh builds it), and each --setting becomes a context and a
record: llama.cpp's own buffer lines beside gpuplan's prediction of them.

Exit codes: 0 every run finished (a run that ran out of memory is data, recorded as such),
1 an error, 2 bad command-line usage, 3 the requested device is unavailable (no GPU, no NVML,
missing CUDA libraries, or a build without CUDA).";

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Models to run (ids, aliases, YAML paths); none: the three Phi-3.5 variants at every
    /// precision the estimator says fits the GPU.
    pub models: Vec<String>,
    /// The engine that runs them: gpuplan's own candle runner, or the real llama.cpp
    /// (tools/llamacpp-probe, built by scripts/llamacpp-build.sh).
    #[arg(long, value_enum, default_value_t = Engine::Candle)]
    pub engine: Engine,
    /// Weight format. candle: bf16, fp16, q8_0 or q4_k (default: the model's dtype); llama.cpp:
    /// a GGUF format, fp16, bf16 or fp32 (default q4_k_m).
    #[arg(long, short = 'p', value_parser = parse_format)]
    pub precision: Option<&'static Format>,
    /// Tokens per sequence at the end of the run: the prompt is context - decode (default 4096).
    #[arg(long, short = 'c', value_parser = parse_tokens)]
    pub context: Option<u64>,
    #[arg(long, short = 'b', default_value_t = 1)]
    pub batch: u64,
    /// Decode steps timed after the prefill.
    #[arg(long, default_value_t = 16)]
    pub decode: u64,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    pub device: DeviceRequest,
    /// A Hugging Face checkpoint directory (*.safetensors, config.json) instead of synthetic weights.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Where records go: a directory (one file per run; a name taken already gets -2, -3, ...:
    /// nothing is overwritten) or a .json file (appended to its array).
    #[arg(long, visible_alias = "out", default_value = "validation/records")]
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
    /// The predictions registered for this campaign (validation/predictions/...): each record
    /// copies the entry made for it before the run.
    #[arg(long)]
    pub registered: Option<PathBuf>,
    #[command(flatten)]
    pub llamacpp: LlamaCppArgs,
}

/// `validate --engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    Candle,
    #[value(name = "llama.cpp", alias = "llamacpp")]
    LlamaCpp,
}

/// `validate --engine llama.cpp` options.
#[derive(Debug, Args)]
#[command(next_help_heading = "llama.cpp (--engine llama.cpp)")]
pub struct LlamaCppArgs {
    /// A context to create, as llama-server's settings (repeatable; each is a record):
    /// ctx=32768,batch=2048,ubatch=512,parallel=4,fa=on|off|auto,ctk=f16,ctv=q8_0,kvu=on.
    /// Keys not given take llama-server's defaults (ctx 4096, batch 2048, ubatch 512, 1 slot,
    /// fa auto, f16 caches).
    #[arg(long = "setting", value_name = "K=V,...")]
    pub settings: Vec<RunSettings>,
    /// Layers on the GPU (-1: all); 0 runs on the CPU.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub n_gpu_layers: i64,
    /// Turn off weight repacking into CPU_REPACK buffers (llama-server --no-repack); repacked
    /// weights are copied into memory instead of mapped from the file.
    #[arg(long)]
    pub no_repack: bool,
    /// Keep the routed experts of the first N blocks in host memory (llama.cpp --n-cpu-moe).
    #[arg(long, default_value_t = 0)]
    pub n_cpu_moe: u64,
    /// Keep the dense feed-forward matrices of the first N blocks in host memory (llama.cpp
    /// --n-cpu-ffn).
    #[arg(long, default_value_t = 0)]
    pub n_cpu_ffn: u64,
    /// Offload to N RPC servers on this CPU (the probe serves its CPU backend over ggml-rpc on
    /// localhost) instead of GPUs: a CPU-only build then splits the model over several devices.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "1", default_value_t = 0)]
    pub rpc: u64,
    /// Load this GGUF file instead of writing a synthetic one.
    #[arg(long)]
    pub gguf: Option<PathBuf>,
    /// The probe binary (default target/llamacpp-probe/release/llamacpp-probe).
    #[arg(long, env = "GPUPLAN_LLAMACPP_PROBE")]
    pub probe_bin: Option<PathBuf>,
    /// Directory for the synthetic GGUF files (default: the system's temporary directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Keep the synthetic GGUF files (they are sparse: no data on disk).
    #[arg(long)]
    pub keep_gguf: bool,
    /// Also run llama-bench's tests on every context: pp512 and tg128 (prefill and decode tokens/s).
    #[arg(long)]
    pub bench: bool,
    /// Seconds the engine may take for one model (load and every context).
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
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

/// Options every estimate takes. The API reads the same fields from JSON (serde) through the same
/// parsers (`params::de_with`), with the same defaults.
#[derive(Debug, Args, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EstimateArgs {
    /// Weight format (see `gpuplan formats`); default: the model's own dtype.
    #[arg(long, short = 'p', value_parser = parse_format)]
    #[serde(deserialize_with = "de_with::format")]
    pub precision: Option<&'static Format>,
    /// KV-cache precision: fp16, bf16, fp8, int8, q8_0, q4_0, fp32; default: the engine's.
    #[arg(long, visible_alias = "kv-cache-dtype", value_parser = parse_kv)]
    #[serde(deserialize_with = "de_with::kv")]
    pub kv_precision: Option<KvPrecision>,
    /// Engine: vllm, llama.cpp (ollama), candle, transformers; default: llama.cpp for GGUF formats,
    /// vllm for the others.
    #[arg(long, short = 'r', visible_alias = "engine", value_parser = parse_runtime)]
    #[serde(deserialize_with = "de_with::runtime")]
    pub runtime: Option<&'static Runtime>,
    /// Sequences decoded together (llama.cpp: its `--parallel` slots).
    #[arg(long, short = 'b', visible_alias = "parallel", value_parser = parse_batch)]
    #[serde(deserialize_with = "de_with::batch")]
    pub batch: Option<u64>,
    /// GPUs in tensor parallel per pipeline stage (per-GPU figures are reported).
    #[arg(long, visible_alias = "tensor-parallel-size", value_parser = parse_gpu_count)]
    #[serde(deserialize_with = "de_with::gpu_count")]
    pub gpus: Option<u64>,
    /// Pipeline-parallel stages (decoder layers split in order; total GPUs = gpus x pipeline).
    #[arg(long, visible_alias = "pipeline-parallel-size", value_parser = parse_gpu_count)]
    #[serde(deserialize_with = "de_with::gpu_count")]
    pub pipeline: Option<u64>,
    /// Images per sequence (vision models).
    #[arg(long, default_value_t = 0, value_parser = parse_image_count)]
    #[serde(deserialize_with = "de_with::image_count")]
    pub images: u64,
    /// HD crops per image (vision models; default: the model's).
    #[arg(long, default_value_t = 0, value_parser = parse_image_count)]
    #[serde(deserialize_with = "de_with::image_count")]
    pub crops: u64,
    /// Assume ECC on or off instead of the board's default (GDDR boards lose 1/16 with ECC on).
    #[arg(long, value_enum)]
    pub ecc: Option<EccArg>,
    /// Estimate a context longer than the model's maximum (position embeddings) instead of refusing it.
    #[arg(long)]
    pub allow_long_context: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub host: HostArgs,
}

/// Engine settings, spelled as the engines spell them. Explicit flags win over a pasted `--cmd`.
#[derive(Debug, Args, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EngineArgs {
    /// A pasted engine command, e.g. "vllm serve Qwen/Qwen3-32B --max-model-len 16000 -tp 2" or
    /// "llama-server -m ./model.gguf -c 32768 -np 4 -fa on": its model, context, parallelism and
    /// settings are used (explicit gpuplan flags win).
    #[arg(long, value_name = "COMMAND", value_parser = parse_command)]
    #[serde(deserialize_with = "de_with::command")]
    pub cmd: Option<EngineCommand>,
    /// vLLM --gpu-memory-utilization (default 0.9).
    #[arg(long, help_heading = "vLLM")]
    pub gpu_memory_utilization: Option<f64>,
    /// vLLM --max-num-seqs (default: 1024 on GPUs of 70 GiB or more other than the A100, else 256).
    #[arg(long, help_heading = "vLLM")]
    pub max_num_seqs: Option<u64>,
    /// vLLM --max-num-batched-tokens (default: 8192 on GPUs of 70 GiB or more other than the A100,
    /// else 2048, for `vllm serve`).
    #[arg(long, help_heading = "vLLM", value_parser = parse_tokens)]
    #[serde(deserialize_with = "de_with::tokens")]
    pub max_num_batched_tokens: Option<u64>,
    /// vLLM --block-size (default 16).
    #[arg(long, help_heading = "vLLM")]
    pub block_size: Option<u64>,
    /// vLLM --enforce-eager (no CUDA graphs).
    #[arg(long, help_heading = "vLLM")]
    pub enforce_eager: bool,
    /// vLLM --kv-cache-memory: KV-cache bytes per GPU instead of what the utilization leaves (e.g. 20GiB).
    #[arg(long, help_heading = "vLLM", value_parser = parse_bytes)]
    #[serde(deserialize_with = "de_with::bytes")]
    pub kv_cache_memory: Option<u64>,
    /// vLLM: size for the offline `LLM` class instead of `vllm serve` (other batch defaults).
    #[arg(long, help_heading = "vLLM")]
    pub llm_class: bool,
    /// vLLM's top-k/top-p sampler, which sizes the profile run's peak: native (a pip install, no
    /// FlashInfer; the default) or flashinfer (the vllm/vllm-openai image).
    #[arg(long, help_heading = "vLLM", value_enum)]
    pub vllm_sampler: Option<SamplerArg>,
    /// The vLLM release whose accounting to follow: 0.11 (the default; 0.10.x-0.11.x) or 0.19 (its
    /// Triton sampler and non-torch memory).
    #[arg(long, help_heading = "vLLM", value_enum)]
    pub vllm_release: Option<ReleaseArg>,
    /// llama.cpp -c/--ctx-size: the context of all --parallel slots together (each slot gets an
    /// equal share); instead of --context.
    #[arg(long, help_heading = "llama.cpp", value_parser = parse_tokens, conflicts_with = "context")]
    #[serde(deserialize_with = "de_with::tokens")]
    pub ctx_size: Option<u64>,
    /// llama.cpp -b/--batch-size (default 2048).
    #[arg(long, help_heading = "llama.cpp", value_parser = parse_tokens)]
    #[serde(deserialize_with = "de_with::tokens")]
    pub batch_size: Option<u64>,
    /// llama.cpp -ub/--ubatch-size (default 512).
    #[arg(long, help_heading = "llama.cpp", value_parser = parse_tokens)]
    #[serde(deserialize_with = "de_with::tokens")]
    pub ubatch_size: Option<u64>,
    /// llama.cpp -fa/--flash-attn (default auto).
    #[arg(long, help_heading = "llama.cpp", value_enum)]
    pub flash_attn: Option<FlashAttnArg>,
    /// llama.cpp -ctk/--cache-type-k (default f16, or --kv-precision).
    #[arg(long, help_heading = "llama.cpp", value_parser = parse_kv)]
    #[serde(deserialize_with = "de_with::kv")]
    pub cache_type_k: Option<KvPrecision>,
    /// llama.cpp -ctv/--cache-type-v (default f16, or --kv-precision).
    #[arg(long, help_heading = "llama.cpp", value_parser = parse_kv)]
    #[serde(deserialize_with = "de_with::kv")]
    pub cache_type_v: Option<KvPrecision>,
    /// llama.cpp -ngl/--n-gpu-layers: units (blocks and the output layer) on the GPUs; a count,
    /// `auto` or `all` (default all).
    #[arg(long, visible_aliases = ["ngl", "gpu-layers"], help_heading = "llama.cpp offload", value_parser = GpuLayers::parse)]
    #[serde(deserialize_with = "de_with::gpu_layers")]
    pub n_gpu_layers: Option<GpuLayers>,
    /// llama.cpp -ncmoe/--n-cpu-moe N: the routed experts of the first N blocks stay on the CPU.
    #[arg(long, visible_alias = "ncmoe", help_heading = "llama.cpp offload")]
    pub n_cpu_moe: Option<u64>,
    /// llama.cpp -cmoe/--cpu-moe: every routed expert stays on the CPU.
    #[arg(long, visible_alias = "cmoe", help_heading = "llama.cpp offload")]
    pub cpu_moe: bool,
    /// llama.cpp -ncffn/--n-cpu-ffn N: the dense FFN of the first N blocks stays on the CPU.
    #[arg(long, visible_alias = "ncffn", help_heading = "llama.cpp offload")]
    pub n_cpu_ffn: Option<u64>,
    /// llama.cpp -ot/--override-tensor PATTERN=BUFT[,...]: tensors whose GGUF name matches the
    /// regular expression go to that buffer (CPU, CUDA0, CUDA1, ...), e.g. "exps=CPU"; repeatable.
    #[arg(long, visible_alias = "ot", help_heading = "llama.cpp offload", value_parser = parse_overrides)]
    #[serde(deserialize_with = "de_with::overrides_list")]
    pub override_tensor: Vec<Overrides>,
    /// llama.cpp --no-mmap: host weights are read into memory instead of mapping the file.
    #[arg(long, help_heading = "llama.cpp offload")]
    pub no_mmap: bool,
    /// llama.cpp -nkvo/--no-kv-offload: every layer's KV cache on the CPU.
    #[arg(long, visible_alias = "nkvo", help_heading = "llama.cpp offload")]
    pub no_kv_offload: bool,
    /// llama.cpp --no-op-offload: prompts do not copy host weights to the GPU (the CPU computes
    /// its share).
    #[arg(long, help_heading = "llama.cpp offload")]
    pub no_op_offload: bool,
    /// vLLM --cpu-offload-gb: GiB of decoder-layer weights per GPU kept in pinned host memory and
    /// read over PCIe every step (the KV cache grows by what leaves the GPU; give --host to check
    /// its RAM and PCIe slot).
    #[arg(long, help_heading = "vLLM", value_name = "GiB", value_parser = parse_gib)]
    #[serde(deserialize_with = "de_with::gib")]
    pub cpu_offload_gb: Option<f64>,
}

/// One `-ot` value: its rules, in order.
#[derive(Debug, Clone)]
pub struct Overrides(pub Vec<TensorOverride>);

pub fn parse_overrides(s: &str) -> Result<Overrides, String> {
    TensorOverride::parse_list(s).map(Overrides)
}

/// The host a model may spill into: its RAM, RAM bandwidth and GPU link.
#[derive(Debug, Args, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HostArgs {
    /// The host (CPU + RAM): an id from `gpuplan hosts`, a host YAML, or `local` for this machine
    /// (/proc/meminfo and the SMBIOS memory devices). With a host, a model that does not fit the GPU
    /// is planned with llama.cpp's CPU offload.
    #[arg(long, help_heading = "Host")]
    pub host: Option<String>,
    /// Installed RAM, e.g. 64GiB or 96GB (instead of the host's, or a host known only by size).
    #[arg(long, help_heading = "Host", value_parser = parse_bytes)]
    #[serde(deserialize_with = "de_with::bytes")]
    pub host_memory: Option<u64>,
    /// RAM bandwidth in GB/s, theoretical peak (e.g. 89.6 for DDR5-5600 dual channel); gpuplan
    /// applies its own efficiency.
    #[arg(long, help_heading = "Host", value_parser = parse_rate)]
    #[serde(deserialize_with = "de_with::rate")]
    pub host_bandwidth: Option<f64>,
}

#[derive(Debug, Clone, Copy, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SamplerArg {
    Native,
    Flashinfer,
}

#[derive(Debug, Clone, Copy, ValueEnum, Deserialize)]
pub enum ReleaseArg {
    #[value(name = "0.11")]
    #[serde(rename = "0.11")]
    V0_11,
    #[value(name = "0.19")]
    #[serde(rename = "0.19")]
    V0_19,
}

#[derive(Debug, Clone, Copy, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashAttnArg {
    On,
    Off,
    Auto,
}

#[derive(Debug, Clone, Copy, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EccArg {
    On,
    Off,
}

#[derive(Debug, Args, Deserialize)]
pub struct FitArgs {
    /// Model id, alias, Hugging Face id, or a path: model YAML, config.json, model directory, .gguf.
    /// May be left out when --cmd names the model.
    #[arg(required_unless_present = "cmd")]
    #[serde(default)]
    pub model: Option<ModelKey>,
    /// GPU id, alias, NVML name, path to a GPU YAML, or `local` (`local:N`) for this machine's GPU
    /// with its free memory.
    #[arg(long, short = 'g')]
    pub gpu: String,
    /// Tokens per sequence (prompt + output), e.g. 4096, 32k, 128K (k = 1024); vLLM's
    /// --max-model-len. Default min(4K, model max).
    #[arg(long, short = 'c', visible_alias = "max-model-len", value_parser = parse_context)]
    #[serde(default, deserialize_with = "de_with::context")]
    pub context: Option<u64>,
    #[command(flatten)]
    #[serde(flatten)]
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
    #[arg(long, short = 'p', value_delimiter = ',', value_parser = parse_format)]
    pub precision: Vec<&'static Format>,
    /// Without a workload: tokens per sequence (default 4K).
    #[arg(long, short = 'c', value_parser = parse_tokens)]
    pub context: Option<u64>,
    /// Without a workload: the engine (default: llama.cpp for GGUF formats, vllm for the others).
    #[arg(long, short = 'r', visible_alias = "engine", value_parser = parse_runtime)]
    pub runtime: Option<&'static Runtime>,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Models to check against the free memory (comma-separated); default the whole catalog.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Weight formats (comma-separated); default each model's dtype.
    #[arg(long, short = 'p', value_delimiter = ',', value_parser = parse_format)]
    pub precision: Vec<&'static Format>,
    /// Tokens per sequence; default min(4K, model max).
    #[arg(long, short = 'c', value_parser = parse_tokens)]
    pub context: Option<u64>,
    /// The engine (default: llama.cpp for GGUF formats, vllm for the others).
    #[arg(long, short = 'r', visible_alias = "engine", value_parser = parse_runtime)]
    pub runtime: Option<&'static Runtime>,
}

#[derive(Debug, Args, Deserialize)]
pub struct MatrixArgs {
    /// Models (comma-separated); default: the whole catalog.
    #[arg(long, value_delimiter = ',')]
    #[serde(default)]
    pub models: Vec<ModelKey>,
    /// GPUs (comma-separated); default: the whole catalog; `local` = this machine's GPUs with their
    /// free memory.
    #[arg(long = "gpu", visible_alias = "gpus-list", value_delimiter = ',')]
    #[serde(default)]
    pub gpu: Vec<String>,
    /// Contexts (comma-separated), e.g. 4k,32k,128k; default min(4K, model max). Contexts above a
    /// model's maximum are left out for that model.
    #[arg(long, short = 'c', value_delimiter = ',', value_parser = parse_context)]
    #[serde(default, deserialize_with = "de_with::contexts")]
    pub context: Vec<u64>,
    /// Weight formats (comma-separated); default: each model's dtype.
    #[arg(long, short = 'p', value_delimiter = ',', value_parser = parse_format)]
    #[serde(default, deserialize_with = "de_with::formats")]
    pub precision: Vec<&'static Format>,
    /// The engine (default: llama.cpp for GGUF formats, vllm for the others).
    #[arg(long, short = 'r', visible_alias = "engine", value_parser = parse_runtime)]
    #[serde(default, deserialize_with = "de_with::runtime")]
    pub runtime: Option<&'static Runtime>,
    /// Sequences per GPU (llama.cpp: --parallel slots).
    #[arg(long, short = 'b', visible_alias = "parallel", default_value_t = 1, value_parser = parse_batch)]
    #[serde(default = "crate::params::one", deserialize_with = "de_with::batch_value")]
    pub batch: u64,
    #[arg(long, visible_alias = "kv-cache-dtype", value_parser = parse_kv)]
    #[serde(default, deserialize_with = "de_with::kv")]
    pub kv_precision: Option<KvPrecision>,
    /// Print every GPU column, however wide (default on a terminal: as many as its width shows).
    #[arg(long)]
    #[serde(skip)]
    pub wide: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub host: HostArgs,
}

#[derive(Debug, Args, Deserialize)]
pub struct CompareArgs {
    /// Models to compare.
    #[arg(required = true, num_args = 2..)]
    pub models: Vec<ModelKey>,
    #[arg(long, short = 'g')]
    pub gpu: String,
    #[arg(long, short = 'c', visible_alias = "max-model-len", value_parser = parse_context)]
    #[serde(default, deserialize_with = "de_with::context")]
    pub context: Option<u64>,
    #[command(flatten)]
    #[serde(flatten)]
    pub est: EstimateArgs,
}

/// A weight format by id or alias.
pub fn parse_format(s: &str) -> Result<&'static Format, String> {
    Format::parse(s).ok_or_else(|| format!("unknown precision `{s}` (known: {})", Format::ids().join(", ")))
}

/// A KV-cache precision.
pub fn parse_kv(s: &str) -> Result<KvPrecision, String> {
    KvPrecision::parse(s).ok_or_else(|| format!("unknown KV precision `{s}` (known: {})", KvPrecision::ALL.join(", ")))
}

/// An engine by name or alias.
pub fn parse_runtime(s: &str) -> Result<&'static Runtime, String> {
    Runtime::parse(s).ok_or_else(|| format!("unknown engine `{s}` (known: {})", EngineId::names().join(", ")))
}

/// A device for `validate`.
pub fn parse_device(s: &str) -> Result<DeviceRequest, String> {
    DeviceRequest::parse(s).map_err(|e| e.to_string())
}

/// A pasted engine command.
pub fn parse_command(s: &str) -> Result<EngineCommand, String> {
    command::parse(s).map_err(|e| e.to_string())
}
