//! Engine command lines, both ways: a pasted `vllm serve …` / `llama-server …` command parsed into
//! gpuplan's settings ([`parse`]), and the command that runs a planned setup ([`emit`]). The two
//! round-trip: parsing an emitted command gives back the settings it was emitted from.
//!
//! gpuplan's context is tokens per sequence and its batch the concurrent sequences. vLLM's
//! `--max-model-len` is the context. llama.cpp's `-c` is the KV cache of all slots together, each of
//! the `-np` slots getting `-c / -np` tokens, so `-c 32768 -np 4` is a context of 8192 at batch 4.

use super::llamacpp::fit::FitParams;
use super::llamacpp::profile::{self as llamacpp, FlashAttn};
use super::offload::flags::{intern, GpuLayers, OffloadFlags, TensorOverride};
use super::profile::EngineId;
use super::report::Ollama;
use super::settings::{Flags, Settings};
use super::vllm::profile as vllm;
use crate::estimate::prepared::Prepared;
use crate::spec::precision::{Format, FormatKind, KvPrecision};
use crate::spec::MAX_TOKENS;
use thiserror::Error;

/// What a pasted command line asks for.
#[derive(Debug, Clone, Default)]
pub struct Command {
    /// None until the command names an engine
    pub engine: Option<EngineId>,
    /// the model as the command names it: a Hugging Face id, a path or a repository
    pub model: Option<String>,
    /// tokens per sequence (vLLM `--max-model-len`, default the model's maximum; llama.cpp
    /// `-c / -np`, unset or 0 meaning what `--fit` makes of the model's training context)
    pub context: Option<ContextArg>,
    /// concurrent sequences (llama.cpp `-np`)
    pub batch: Option<u64>,
    pub tp: Option<u64>,
    pub pp: Option<u64>,
    pub kv: Option<KvPrecision>,
    /// the weight format, when the command says it (`--dtype`, `--quantization`, a GGUF file name)
    pub precision: Option<&'static Format>,
    pub flags: Flags,
    /// flags accepted that do not change memory (listed so a user sees what was not modeled)
    pub ignored: Vec<String>,
}

/// A context as a command gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextArg {
    Tokens(u64),
    /// the model's own maximum (vLLM without `--max-model-len`; llama.cpp `-c 0` or no `-c` with
    /// `--fit off`: `n_ctx_train`, shared by the slots)
    ModelMax,
    /// llama.cpp without `-c` (or `-c 0`) and `--fit` on, its default: the context `--fit` picks on
    /// the GPU (`estimate::engine::llamacpp::fit`)
    Fit(FitParams),
}

/// Why a command could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    #[error("empty command")]
    Empty,
    #[error("unbalanced quote in the command")]
    Quote,
    #[error("not a vLLM or llama.cpp command: expected `vllm serve MODEL …`, `python -m vllm.entrypoints.openai.api_server …` or `llama-server …` / `llama-cli …`, found `{0}`")]
    UnknownEngine(String),
    #[error("{engine}: unknown flag `{flag}`")]
    UnknownFlag { engine: &'static str, flag: String },
    #[error("{engine}: `{flag}` needs a value")]
    MissingValue { engine: &'static str, flag: String },
    #[error("{engine}: `{flag} {value}`: {expected}")]
    BadValue {
        engine: &'static str,
        flag: String,
        value: String,
        expected: &'static str,
    },
    #[error("{engine}: unexpected argument `{0}`", engine = .1)]
    Unexpected(String, &'static str),
    #[error("{0}")]
    Limit(String),
}

/// Splits a command line into words as a POSIX shell would for plain commands: single and double
/// quotes, backslash escapes, and backslash-newline continuations.
pub fn split(line: &str) -> Result<Vec<String>, CommandError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(n) => {
                    word.push(n);
                    in_word = true;
                }
                None => {}
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => word.push(n),
                        None => return Err(CommandError::Quote),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') if matches!(chars.peek(), Some('"' | '\\' | '$')) => {
                            word.extend(chars.next());
                        }
                        Some(n) => word.push(n),
                        None => return Err(CommandError::Quote),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Reads a pasted engine command. Leading `NAME=value` environment settings are skipped (Ollama's
/// are read); the engine is recognised from `vllm serve`, vLLM's OpenAI server module or image,
/// or a llama.cpp server/CLI binary.
pub fn parse(line: &str) -> Result<Command, CommandError> {
    let words = split(line)?;
    let mut rest: &[String] = &words;
    while let Some(w) = rest.first() {
        if is_env_assignment(w) {
            rest = &rest[1..];
        } else {
            break;
        }
    }
    let first = rest.first().ok_or(CommandError::Empty)?;
    match engine_start(rest) {
        Some((EngineId::Vllm, n)) => parse_vllm(&rest[n..]),
        Some((_, n)) => parse_llamacpp(&rest[n..], llamacpp_entry(&rest[0])),
        None => Err(CommandError::UnknownEngine(first.clone())),
    }
}

fn is_env_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            !name.is_empty() && !name.starts_with('-') && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// The engine a command runs and how many words name it (`vllm serve` is two, `python3 -m
/// vllm.entrypoints.openai.api_server` three, a binary one).
fn engine_start(words: &[String]) -> Option<(EngineId, usize)> {
    let base = |w: &String| w.rsplit('/').next().unwrap_or(w).to_string();
    let first = base(words.first()?);
    if first == "vllm" {
        return (words.get(1).map(String::as_str) == Some("serve")).then_some((EngineId::Vllm, 2));
    }
    if first.starts_with("python") && words.get(1).map(String::as_str) == Some("-m") {
        let module = words.get(2)?;
        return module.starts_with("vllm.entrypoints").then_some((EngineId::Vllm, 3));
    }
    let llama = ["llama-server", "llama-cli", "llama-bench", "server", "main"];
    llama
        .iter()
        .any(|b| first == *b || first == format!("{b}.exe"))
        .then_some((EngineId::LlamaCpp, 1))
}

/// A flag and its value from `--flag value` or `--flag=value`.
struct Args<'a> {
    words: &'a [String],
    at: usize,
    engine: &'static str,
}

impl<'a> Args<'a> {
    fn next_flag(&mut self) -> Option<(String, Option<String>)> {
        let w = self.words.get(self.at)?;
        self.at += 1;
        match w.split_once('=') {
            Some((f, v)) if w.starts_with("--") => Some((f.to_string(), Some(v.to_string()))),
            _ => Some((w.clone(), None)),
        }
    }

    fn value(&mut self, flag: &str, inline: Option<String>) -> Result<String, CommandError> {
        if let Some(v) = inline {
            return Ok(v);
        }
        let v = self.words.get(self.at).ok_or_else(|| CommandError::MissingValue {
            engine: self.engine,
            flag: flag.to_string(),
        })?;
        self.at += 1;
        Ok(v.clone())
    }

    /// A value only if the next word is one of `choices` (llama.cpp's `-fa` took none in older builds).
    fn optional_value(&mut self, inline: Option<String>, choices: &[&str]) -> Option<String> {
        if inline.is_some() {
            return inline;
        }
        let v = self.words.get(self.at)?;
        if choices.contains(&v.as_str()) {
            self.at += 1;
            Some(v.clone())
        } else {
            None
        }
    }

    fn bad(&self, flag: &str, value: &str, expected: &'static str) -> CommandError {
        CommandError::BadValue {
            engine: self.engine,
            flag: flag.to_string(),
            value: value.to_string(),
            expected,
        }
    }

    fn int(&mut self, flag: &str, inline: Option<String>) -> Result<u64, CommandError> {
        let v = self.value(flag, inline)?;
        v.trim()
            .parse::<u64>()
            .ok()
            .filter(|&n| n <= MAX_COUNT)
            .ok_or_else(|| self.bad(flag, &v, "a whole number up to 2^40"))
    }

    /// A count in vLLM's human-readable form (16k, 16K), up to 2^40.
    fn count(&mut self, flag: &str, inline: Option<String>, expected: &'static str) -> Result<u64, CommandError> {
        let v = self.value(flag, inline)?;
        human_readable_int(&v)
            .filter(|&n| n <= MAX_COUNT)
            .ok_or_else(|| self.bad(flag, &v, expected))
    }
}

/// The largest count a command may give (tokens, sequences, GPUs): [`MAX_TOKENS`].
const MAX_COUNT: u64 = MAX_TOKENS;

/// vLLM flags that do not change memory: accepted and listed as not modeled.
const VLLM_IGNORED: &[&str] = &[
    "--host",
    "--port",
    "--served-model-name",
    "--trust-remote-code",
    "--api-key",
    "--disable-log-requests",
    "--disable-log-stats",
    "--enable-log-requests",
    "--enable-prefix-caching",
    "--no-enable-prefix-caching",
    "--enable-chunked-prefill",
    "--no-enable-chunked-prefill",
    "--tokenizer",
    "--tokenizer-mode",
    "--revision",
    "--download-dir",
    "--seed",
    "--uvicorn-log-level",
    "--chat-template",
    "--enable-auto-tool-choice",
    "--tool-call-parser",
    "--reasoning-parser",
    "--max-logprobs",
    "--swap-space",
    "--load-format",
    "--disable-custom-all-reduce",
    "--distributed-executor-backend",
    "--generation-config",
    "--async-scheduling",
    "--response-role",
    "--root-path",
    "--allowed-origins",
    "--config-format",
    "--disable-fastapi-docs",
];

/// vLLM flags that take no value.
const VLLM_SWITCHES: &[&str] = &[
    "--trust-remote-code",
    "--disable-log-requests",
    "--disable-log-stats",
    "--enable-log-requests",
    "--enable-prefix-caching",
    "--no-enable-prefix-caching",
    "--enable-chunked-prefill",
    "--no-enable-chunked-prefill",
    "--enable-auto-tool-choice",
    "--disable-custom-all-reduce",
    "--async-scheduling",
    "--disable-fastapi-docs",
];

fn parse_vllm(words: &[String]) -> Result<Command, CommandError> {
    let engine = "vLLM";
    let mut c = Command {
        engine: Some(EngineId::Vllm),
        ..Command::default()
    };
    let mut a = Args { words, at: 0, engine };
    while let Some((flag, inline)) = a.next_flag() {
        let f = flag.as_str();
        match f {
            "--model" => c.model = Some(a.value(f, inline)?),
            "--max-model-len" => {
                let n = a.count(f, inline, "a token count such as 16384, 16k or 16K, up to 2^40")?;
                c.context = Some(ContextArg::Tokens(n));
            }
            "--gpu-memory-utilization" => {
                let v = a.value(f, inline)?;
                let u = v
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| a.bad(f, &v, "a fraction such as 0.9"))?;
                c.flags.vllm.gpu_memory_utilization = Some(u);
            }
            "--max-num-seqs" => c.flags.vllm.max_num_seqs = Some(a.int(f, inline)?),
            "--max-num-batched-tokens" => {
                c.flags.vllm.max_num_batched_tokens = Some(a.count(f, inline, "a token count up to 2^40")?);
            }
            "--block-size" => c.flags.vllm.block_size = Some(a.int(f, inline)?),
            "--enforce-eager" => c.flags.vllm.enforce_eager = true,
            "--cpu-offload-gb" => {
                let v = a.value(f, inline)?;
                let gb = parse_gib(&v).map_err(|_| a.bad(f, &v, "a non-negative number of GiB"))?;
                c.flags.vllm.cpu_offload_gb = Some(gb);
            }
            "--kv-cache-memory" | "--kv-cache-memory-bytes" => {
                let v = a.value(f, inline)?;
                let n = human_readable_int(&v).ok_or_else(|| a.bad(f, &v, "bytes, e.g. 8G"))?;
                c.flags.vllm.kv_cache_memory = Some(n);
            }
            "--kv-cache-dtype" => {
                let v = a.value(f, inline)?;
                c.kv = match v.as_str() {
                    "auto" => None,
                    other => {
                        Some(KvPrecision::parse(other).ok_or_else(|| a.bad(f, &v, "auto, fp8, fp8_e4m3 or fp8_e5m2"))?)
                    }
                };
            }
            "--tensor-parallel-size" | "-tp" => c.tp = Some(a.int(f, inline)?),
            "--pipeline-parallel-size" | "-pp" => c.pp = Some(a.int(f, inline)?),
            "--dtype" => {
                let v = a.value(f, inline)?;
                if v != "auto" {
                    c.precision =
                        Some(Format::parse(&v).ok_or_else(|| a.bad(f, &v, "auto, bfloat16, float16 or float32"))?);
                }
            }
            "--quantization" | "-q" => {
                let v = a.value(f, inline)?;
                // vLLM's GGUF loader: the tensor types come from the file (its name says them)
                if !v.eq_ignore_ascii_case("gguf") {
                    c.precision = Some(
                        Format::parse(&v)
                            .ok_or_else(|| a.bad(f, &v, "a quantization gpuplan models (fp8, awq, gptq, gguf)"))?,
                    );
                }
            }
            _ if VLLM_IGNORED.contains(&f) => {
                if !VLLM_SWITCHES.contains(&f) {
                    a.value(f, inline)?;
                }
                c.ignored.push(flag.clone());
            }
            _ if !f.starts_with('-') && c.model.is_none() => c.model = Some(flag.clone()),
            _ if !f.starts_with('-') => return Err(CommandError::Unexpected(flag.clone(), engine)),
            _ => {
                return Err(CommandError::UnknownFlag {
                    engine,
                    flag: flag.clone(),
                })
            }
        }
    }
    // without --max-model-len vLLM takes the model's own maximum
    c.context = c.context.or(Some(ContextArg::ModelMax));
    Ok(c)
}

/// vLLM's `--cpu-offload-gb`: GiB as a non-negative number (vLLM: `Field(default=0, ge=0)`).
pub fn parse_gib(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` must be a non-negative number of GiB")),
    }
}

/// vLLM's `human_readable_int` (vllm/engine/arg_utils.py): a plain integer, or a number with a
/// suffix, lower case decimal (1k = 1000) and upper case binary (1K = 1024).
pub fn human_readable_int(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Some(n);
    }
    let (num, suffix) = v.split_at(v.len().checked_sub(1)?);
    let scale: u64 = match suffix {
        "k" => 1_000,
        "m" => 1_000_000,
        "g" => 1_000_000_000,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return None,
    };
    let x = num.parse::<f64>().ok()?;
    (x.is_finite() && x >= 0.0).then(|| (x * scale as f64).round() as u64)
}

/// llama.cpp flags that do not change memory: accepted and listed as not modeled.
const LLAMA_IGNORED: &[&str] = &[
    "-t",
    "--threads",
    "-tb",
    "--threads-batch",
    "--host",
    "--port",
    "--temp",
    "--top-k",
    "--top-p",
    "--min-p",
    "--repeat-penalty",
    "-n",
    "--n-predict",
    "-a",
    "--alias",
    "--api-key",
    "-s",
    "--seed",
    "-p",
    "--prompt",
    "--chat-template",
    "--reasoning-format",
    "--reasoning-budget",
    "--jinja",
    "-v",
    "--verbose",
    "--log-disable",
    "--metrics",
    "--slots",
    "-cb",
    "--cont-batching",
    "--no-webui",
    "--no-warmup",
    "-cnv",
    "-no-cnv",
    "--special",
    "--mlock",
];

/// llama.cpp flags that take no value.
const LLAMA_SWITCHES: &[&str] = &[
    "--jinja",
    "-v",
    "--verbose",
    "--log-disable",
    "--metrics",
    "--slots",
    "-cb",
    "--cont-batching",
    "--no-webui",
    "--no-warmup",
    "-cnv",
    "-no-cnv",
    "--special",
    "--mlock",
];

/// llama-server reserves logits for its slots; the other llama.cpp programs keep the library's
/// default (`n_batch` rows).
fn llamacpp_entry(binary: &str) -> llamacpp::Entry {
    let base = binary.rsplit('/').next().unwrap_or(binary);
    let base = base.strip_suffix(".exe").unwrap_or(base);
    if matches!(base, "llama-server" | "server") {
        llamacpp::Entry::Server
    } else {
        llamacpp::Entry::Library
    }
}

fn parse_llamacpp(words: &[String], entry: llamacpp::Entry) -> Result<Command, CommandError> {
    let engine = "llama.cpp";
    let mut c = Command {
        engine: Some(EngineId::LlamaCpp),
        ..Command::default()
    };
    c.flags.llamacpp.entry = entry;
    let mut ctx: Option<u64> = None;
    let mut fit = FitParams::default();
    let mut fit_on = true;
    let mut overrides = Vec::new();
    let mut a = Args { words, at: 0, engine };
    while let Some((flag, inline)) = a.next_flag() {
        let f = flag.as_str();
        match f {
            "-m" | "--model" => {
                let v = a.value(f, inline)?;
                c.precision = c.precision.or_else(|| precision_in_name(&v));
                c.model = Some(v);
            }
            "-hf" | "-hfr" | "--hf-repo" => {
                let v = a.value(f, inline)?;
                let (repo, quant) = v.split_once(':').unwrap_or((&v, ""));
                c.precision = c
                    .precision
                    .or_else(|| Format::parse(quant))
                    .or_else(|| precision_in_name(repo));
                c.model = Some(repo.to_string());
            }
            "-c" | "--ctx-size" => ctx = Some(a.int(f, inline)?),
            "-b" | "--batch-size" => c.flags.llamacpp.batch_size = Some(a.int(f, inline)?),
            "-ub" | "--ubatch-size" => c.flags.llamacpp.ubatch_size = Some(a.int(f, inline)?),
            "-np" | "--parallel" => {
                let v = a.value(f, inline)?;
                let n = v
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|&n| n != 0 || entry != llamacpp::Entry::Server)
                    .ok_or_else(|| a.bad(f, &v, "a slot count, or -1 for auto"))?;
                // llama-server: a negative count is auto (4 slots, unified KV)
                c.batch = match u64::try_from(n) {
                    Ok(n) => Some(n.clamp(1, MAX_COUNT)),
                    Err(_) if entry == llamacpp::Entry::Server => None,
                    Err(_) => Some(1),
                };
            }
            "-fit" | "--fit" => {
                let v = a.value(f, inline)?;
                fit_on = match v.as_str() {
                    "on" | "1" | "true" | "enabled" => true,
                    "off" | "0" | "false" | "disabled" => false,
                    _ => return Err(a.bad(f, &v, "on or off")),
                };
            }
            "-fitc" | "--fit-ctx" => fit.min_ctx = a.int(f, inline)?,
            "-fitt" | "--fit-target" => {
                // one margin per device; gpuplan's llama.cpp runs on one GPU: the first
                let v = a.value(f, inline)?;
                let mib = v
                    .split([',', '/'])
                    .next()
                    .and_then(|m| m.trim().parse::<u64>().ok())
                    .filter(|&m| m <= MAX_COUNT)
                    .ok_or_else(|| a.bad(f, &v, "MiB per device, e.g. 1024 or 2048,1024"))?;
                fit.margin_bytes = mib * crate::spec::gpu::MIB;
            }
            "-fa" | "--flash-attn" => {
                let v = a.optional_value(inline, &["on", "off", "auto", "1", "0", "true", "false"]);
                c.flags.llamacpp.flash_attn = Some(match v.as_deref() {
                    None | Some("on" | "1" | "true") => FlashAttn::On,
                    Some("off" | "0" | "false") => FlashAttn::Off,
                    _ => FlashAttn::Auto,
                });
            }
            "-ctk" | "--cache-type-k" | "-ctv" | "--cache-type-v" => {
                let v = a.value(f, inline)?;
                let k = KvPrecision::parse(&v).ok_or_else(|| a.bad(f, &v, "f32, f16, bf16, q8_0 or q4_0"))?;
                if f.ends_with('k') {
                    c.flags.llamacpp.cache_type_k = Some(k);
                } else {
                    c.flags.llamacpp.cache_type_v = Some(k);
                }
            }
            "-ngl" | "--n-gpu-layers" | "--gpu-layers" => {
                let v = a.value(f, inline)?;
                let n = GpuLayers::parse(&v).map_err(|_| a.bad(f, &v, "a layer count, auto or all (-1, -2)"))?;
                // 999 and above (what the emitter writes for "all") is every layer of any model
                c.flags.llamacpp.n_gpu_layers = n.count().filter(|&n| n < 999);
            }
            "--no-mmap" => c.flags.llamacpp.no_mmap = true,
            "--load-mode" => {
                let v = a.value(f, inline)?;
                c.flags.llamacpp.no_mmap = match v.as_str() {
                    "none" => true,
                    "mmap" => false,
                    _ => return Err(a.bad(f, &v, "mmap or none")),
                };
            }
            "-ot" | "--override-tensor" => {
                let v = a.value(f, inline)?;
                let rules = TensorOverride::parse_list(&v)
                    .map_err(|_| a.bad(f, &v, "PATTERN=BUFFER_TYPE[,...], e.g. exps=CPU"))?;
                overrides.extend(rules);
            }
            "-cmoe" | "--cpu-moe" => c.flags.llamacpp.offload.cpu_moe = true,
            "-ncmoe" | "--n-cpu-moe" => c.flags.llamacpp.offload.n_cpu_moe = a.int(f, inline)?,
            "-ncffn" | "--n-cpu-ffn" => c.flags.llamacpp.offload.n_cpu_ffn = a.int(f, inline)?,
            "-nkvo" | "--no-kv-offload" => c.flags.llamacpp.offload.no_kv_offload = true,
            "--no-op-offload" => c.flags.llamacpp.offload.no_op_offload = true,
            "-kvu" | "--kv-unified" => c.flags.llamacpp.kv_unified = true,
            "-no-kvu" | "--no-kv-unified" => c.flags.llamacpp.kv_unified = false,
            "--swa-full" => c.flags.llamacpp.swa_full = true,
            _ if LLAMA_IGNORED.contains(&f) => {
                if !LLAMA_SWITCHES.contains(&f) {
                    a.value(f, inline)?;
                }
                c.ignored.push(flag.clone());
            }
            _ => {
                return Err(CommandError::UnknownFlag {
                    engine,
                    flag: flag.clone(),
                })
            }
        }
    }
    c.flags.llamacpp.offload.overrides = intern(overrides).map_err(CommandError::Limit)?;
    // llama-server without -np (or -np -1): 4 slots sharing one unified KV cache
    if c.batch.is_none() {
        c.batch = Some(match entry {
            llamacpp::Entry::Server => {
                c.flags.llamacpp.kv_unified = true;
                llamacpp::SERVER_AUTO_PARALLEL
            }
            llamacpp::Entry::Library => llamacpp::DEFAULT_PARALLEL,
        });
    }
    let slots = c.batch.unwrap_or(1).max(1);
    // -c is every slot's context together; each slot gets an equal share. Unset, it is n_ctx 0:
    // the model's training context, which --fit lowers to fit the GPU; -c 0 asks for it whole
    c.context = Some(match (ctx, fit_on) {
        (Some(0), true) => ContextArg::Fit(FitParams { lower: false, ..fit }),
        (None, true) => ContextArg::Fit(fit),
        (Some(0) | None, false) => ContextArg::ModelMax,
        (Some(n), _) => ContextArg::Tokens((n / slots).max(1)),
    });
    Ok(c)
}

/// The GGUF format a file or repository name states, e.g. `Qwen3-8B-Q4_K_M.gguf` → q4_k_m.
fn precision_in_name(name: &str) -> Option<&'static Format> {
    let stem = name.rsplit('/').next().unwrap_or(name);
    let stem = stem.strip_suffix(".gguf").unwrap_or(stem);
    stem.rsplit(['-', '.']).find_map(|part| {
        Format::parse(part).filter(|f| f.kind == FormatKind::Gguf || matches!(f.id, "bf16" | "fp16" | "fp32"))
    })
}

/// Catalog keys to try for a command's model, most specific first: the name as given, then a GGUF
/// repository's name without its `-GGUF` suffix (with and without the organisation), then a GGUF
/// file's name without its directory, `.gguf` and quantization suffix
/// (`./Phi-3.5-mini-instruct-Q4_K_M.gguf` → `Phi-3.5-mini-instruct`).
pub fn model_keys(model: &str) -> Vec<String> {
    let mut keys = vec![model.to_string()];
    let trimmed = model.trim_end_matches(".gguf");
    for suffix in ["-GGUF", "-gguf"] {
        if let Some(base) = trimmed.strip_suffix(suffix) {
            keys.push(base.to_string());
            if let Some((_, name)) = base.rsplit_once('/') {
                keys.push(name.to_string());
            }
        }
    }
    let file = trimmed.rsplit('/').next().unwrap_or(trimmed);
    if let Some((name, quant)) = file.rsplit_once(['-', '.']) {
        if Format::parse(quant).is_some() {
            keys.push(name.to_string());
        }
    }
    keys
}

/// The command that runs this setup with `batch` sequences of `context` tokens, or None for
/// engines without a command line (transformers is a Python API).
pub fn emit(p: &Prepared, context: u64, batch: u64) -> Option<String> {
    match &p.settings {
        Settings::Vllm(s) => Some(emit_vllm(p, s, context)),
        Settings::LlamaCpp(s) => Some(emit_llamacpp(p, s, context, batch)),
        Settings::Plain => (p.setup.runtime.id == EngineId::Candle).then(|| {
            format!(
                "gpuplan validate {} --precision {} --context {context} --batch {batch}",
                p.setup.model.id, p.setup.format.id
            )
        }),
    }
}

fn emit_vllm(p: &Prepared, s: &vllm::Settings, context: u64) -> String {
    let m = p.setup.model;
    let mut cmd = format!(
        "vllm serve {} --max-model-len {context} --gpu-memory-utilization {} --max-num-seqs {}",
        m.hf_id.as_deref().unwrap_or(&m.id),
        s.gpu_memory_utilization,
        s.max_num_seqs
    );
    let own = Format::parse(&m.dtype).map(|f| f.id);
    if own != Some(p.setup.format.id) {
        if let Some(q) = p.setup.format.vllm_quantization() {
            cmd += &format!(" --quantization {q}");
        }
    }
    if p.setup.tp > 1 {
        cmd += &format!(" -tp {}", p.setup.tp);
    }
    if p.setup.pp > 1 {
        cmd += &format!(" -pp {}", p.setup.pp);
    }
    if p.setup.kv != p.setup.runtime.default_kv(p.setup.format) {
        cmd += &format!(" --kv-cache-dtype {}", p.setup.kv.label());
    }
    let flags = &p.setup.engine.vllm;
    if flags.max_num_batched_tokens.is_some() {
        cmd += &format!(" --max-num-batched-tokens {}", s.max_num_batched_tokens);
    }
    if flags.block_size.is_some() {
        cmd += &format!(" --block-size {}", s.block_size);
    }
    if s.enforce_eager {
        cmd += " --enforce-eager";
    }
    if let Some(bytes) = s.kv_cache_memory {
        cmd += &format!(" --kv-cache-memory {bytes}");
    }
    if s.cpu_offload_gb > 0.0 {
        cmd += &format!(" --cpu-offload-gb {}", s.cpu_offload_gb);
    }
    cmd
}

/// A GGUF file name for the setup: the checkpoint's name and the format, e.g.
/// `Phi-3.5-mini-instruct-Q4_K_M.gguf`.
fn gguf_name(p: &Prepared) -> String {
    let m = p.setup.model;
    let name = m.hf_id.as_deref().and_then(|h| h.rsplit('/').next()).unwrap_or(&m.id);
    format!("{name}-{}.gguf", p.setup.format.id.to_ascii_uppercase())
}

/// The `llama-server` command for settings `s` (also a split's, which the planner chooses).
pub fn emit_llamacpp(p: &Prepared, s: &llamacpp::Settings, context: u64, batch: u64) -> String {
    let slots = batch.max(1);
    let mut cmd = format!(
        "llama-server -m {} -c {} -np {slots} -ngl {} -fa {}",
        gguf_name(p),
        context * slots,
        s.n_gpu_layers.unwrap_or(999),
        match s.flash_attn {
            FlashAttn::On => "on",
            FlashAttn::Off => "off",
            FlashAttn::Auto => "auto",
        }
    );
    if s.cache_type_k != KvPrecision::F16 || s.cache_type_v != KvPrecision::F16 {
        cmd += &format!(" -ctk {} -ctv {}", s.cache_type_k.label(), s.cache_type_v.label());
    }
    if s.batch_size != llamacpp::DEFAULT_BATCH {
        cmd += &format!(" -b {}", s.batch_size);
    }
    if s.ubatch_size != llamacpp::DEFAULT_UBATCH {
        cmd += &format!(" -ub {}", s.ubatch_size);
    }
    if !s.mmap {
        cmd += " --no-mmap";
    }
    if s.kv_unified {
        cmd += " -kvu";
    }
    if s.swa_full {
        cmd += " --swa-full";
    }
    cmd + &offload_flags(&s.offload)
}

/// llama.cpp's offload flags for `o`, `-ot` rules first (the order gpuplan evaluates them in).
fn offload_flags(o: &OffloadFlags) -> String {
    let mut cmd = String::new();
    for rule in o.overrides {
        cmd += &format!(" -ot '{}'", rule.to_string().replace('\'', r"'\''"));
    }
    if o.cpu_moe {
        cmd += " --cpu-moe";
    }
    if o.n_cpu_moe > 0 {
        cmd += &format!(" --n-cpu-moe {}", o.n_cpu_moe);
    }
    if o.n_cpu_ffn > 0 {
        cmd += &format!(" --n-cpu-ffn {}", o.n_cpu_ffn);
    }
    if o.no_kv_offload {
        cmd += " --no-kv-offload";
    }
    if o.no_op_offload {
        cmd += " --no-op-offload";
    }
    cmd
}

/// Ollama's settings for a llama.cpp setup (None for other engines).
pub fn ollama(p: &Prepared, context: u64, batch: u64) -> Option<Ollama> {
    let Settings::LlamaCpp(s) = &p.settings else {
        return None;
    };
    Some(Ollama {
        num_ctx: context,
        num_parallel: batch.max(1),
        kv_cache_type: match s.cache_type_k {
            KvPrecision::Q8_0 => "q8_0",
            KvPrecision::Q4_0 => "q4_0",
            _ => "f16",
        },
        flash_attention: s.flash_attn_enabled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        let w = split("vllm serve 'a b' --x=\"c d\" \\\n  -tp 2").unwrap_or_default();
        assert_eq!(w, vec!["vllm", "serve", "a b", "--x=c d", "-tp", "2"]);
        assert_eq!(split("a 'b"), Err(CommandError::Quote));
    }

    #[test]
    fn reads_vllm_serve() {
        let c = parse("CUDA_VISIBLE_DEVICES=0 vllm serve Qwen/Qwen3-32B --max-model-len 16k -tp 2 --kv-cache-dtype fp8 --port 8000")
            .expect("parses");
        assert_eq!(c.engine, Some(EngineId::Vllm));
        assert_eq!(c.model.as_deref(), Some("Qwen/Qwen3-32B"));
        assert_eq!(c.context, Some(ContextArg::Tokens(16_000)));
        assert_eq!(c.tp, Some(2));
        assert_eq!(c.kv, Some(KvPrecision::Fp8));
        assert_eq!(c.ignored, vec!["--port".to_string()]);
    }

    #[test]
    fn vllm_gguf_takes_its_types_from_the_file() {
        // what gpuplan emits for a GGUF format on vLLM parses back
        let c = parse("vllm serve ./Qwen3-8B-Q8_0.gguf --quantization gguf").expect("parses");
        assert_eq!(c.engine, Some(EngineId::Vllm));
        assert!(c.precision.is_none());
        assert!(parse("vllm serve m --quantization int3").is_err());
    }

    #[test]
    fn llama_context_is_shared_by_the_slots() {
        let c = parse("llama-server -m ./model-Q4_K_M.gguf -c 32768 -np 4 -fa on").expect("parses");
        assert_eq!(c.context, Some(ContextArg::Tokens(8192)));
        assert_eq!(c.batch, Some(4));
        assert_eq!(c.precision.map(|f| f.id), Some("q4_k_m"));
        assert_eq!(c.flags.llamacpp.flash_attn, Some(FlashAttn::On));
    }

    #[test]
    fn llama_unified_cache_window_and_entry_point_are_read() {
        let c = parse("llama-server -m x-Q8_0.gguf -c 16384 -np 4 -kvu --swa-full").expect("parses");
        assert!(c.flags.llamacpp.kv_unified && c.flags.llamacpp.swa_full);
        assert_eq!(c.flags.llamacpp.entry, llamacpp::Entry::Server);
        // llama-cli and llama-bench keep the library's n_outputs_max (n_batch rows)
        let c = parse("./build/bin/llama-cli -m x-Q8_0.gguf -c 4096").expect("parses");
        assert_eq!(c.flags.llamacpp.entry, llamacpp::Entry::Library);
        assert!(!c.flags.llamacpp.kv_unified);
    }

    #[test]
    fn llama_server_defaults_are_the_builds() {
        // no -np: auto, 4 slots over one unified KV cache; no -c: n_ctx 0, which --fit sizes
        let c = parse("llama-server -m x-Q4_K_M.gguf").expect("parses");
        assert_eq!(c.batch, Some(llamacpp::SERVER_AUTO_PARALLEL));
        assert!(c.flags.llamacpp.kv_unified);
        assert_eq!(c.context, Some(ContextArg::Fit(FitParams::default())));
        let c = parse("llama-server -m x.gguf -np -1 -c 16384").expect("parses");
        assert_eq!((c.batch, c.context), (Some(4), Some(ContextArg::Tokens(4096))));
        assert!(c.flags.llamacpp.kv_unified);
        // an explicit -np: per-slot streams unless -kvu
        let c = parse("llama-server -m x.gguf -np 2 -c 8192").expect("parses");
        assert_eq!((c.batch, c.context), (Some(2), Some(ContextArg::Tokens(4096))));
        assert!(!c.flags.llamacpp.kv_unified);
        // -c 0 asks for the training context whole; --fit off takes it as llama_context does
        let c = parse("llama-server -m x.gguf -c 0").expect("parses");
        assert!(matches!(
            c.context,
            Some(ContextArg::Fit(FitParams { lower: false, .. }))
        ));
        let c = parse("llama-server -m x.gguf --fit off").expect("parses");
        assert_eq!(c.context, Some(ContextArg::ModelMax));
        let c = parse("llama-server -m x.gguf -fitc 8192 -fitt 2048,1024").expect("parses");
        assert_eq!(
            c.context,
            Some(ContextArg::Fit(FitParams {
                min_ctx: 8192,
                margin_bytes: 2048 << 20,
                lower: true
            }))
        );
        // llama-cli decodes one sequence
        let c = parse("llama-cli -m x.gguf").expect("parses");
        assert_eq!(c.batch, Some(1));
        assert!(!c.flags.llamacpp.kv_unified);
        assert!(parse("llama-server -m x.gguf -np 0").is_err());
        assert!(parse("llama-server -m x.gguf --fit maybe").is_err());
    }

    #[test]
    fn unknown_flags_name_the_flag_and_the_engine() {
        let e = parse("vllm serve m --frobnicate 3").expect_err("unknown flag");
        assert_eq!(e.to_string(), "vLLM: unknown flag `--frobnicate`");
        let e = parse("llama-server -m x.gguf --frobnicate").expect_err("unknown flag");
        assert_eq!(e.to_string(), "llama.cpp: unknown flag `--frobnicate`");
        let e = parse("vllm serve m --max-model-len lots").expect_err("bad value");
        assert!(e.to_string().contains("--max-model-len lots"), "{e}");
        assert!(matches!(parse("ollama run x"), Err(CommandError::UnknownEngine(_))));
    }

    #[test]
    fn human_readable_ints_follow_vllm() {
        assert_eq!(human_readable_int("16384"), Some(16384));
        assert_eq!(human_readable_int("16k"), Some(16_000));
        assert_eq!(human_readable_int("16K"), Some(16_384));
        assert_eq!(human_readable_int("1.5m"), Some(1_500_000));
        assert_eq!(human_readable_int("x"), None);
    }
}
