//! The questions users ask, answered from the estimator: does it fit (and how far it stretches), which
//! GPU fits which model, how models compare, how many GPUs are needed.

pub mod catalog;
pub mod compare;
pub mod evidence;
pub mod fit;
pub mod fuzz_entry;
pub mod layout;
pub mod matrix;
pub mod offload;
pub mod sizing;
pub mod solve;
pub mod support;
pub mod workload;

use crate::estimate::engine::command::{Command, ContextArg};
use crate::estimate::engine::llamacpp::fit::FitParams;
use crate::estimate::engine::{self, Flags};
use crate::estimate::{EccMode, Runtime};
use crate::spec::host::Host;
use crate::spec::{Format, KvPrecision, ModelSpec};

pub use fit::{fit, FitReport};

/// Knobs shared by every planning question.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// weight format; None = the model's own dtype
    pub precision: Option<&'static Format>,
    /// KV-cache precision; None = the runtime's default for the format
    pub kv: Option<KvPrecision>,
    /// the engine; None = the one a user would run the format with ([`engine::default_for`])
    pub runtime: Option<&'static Runtime>,
    /// the engine's command-line settings
    pub engine: Flags,
    /// tokens per sequence; None = min(model max, [`DEFAULT_CONTEXT`])
    pub context: Option<u64>,
    /// llama.cpp picks the context itself (`--fit`, a pasted command without `-c`): used instead of
    /// `context` when the engine is llama.cpp
    pub context_fit: Option<FitParams>,
    pub batch: u64,
    /// tensor-parallel GPUs (per pipeline stage)
    pub gpus: u64,
    /// pipeline-parallel stages (1 = none)
    pub pipeline: u64,
    pub images: u64,
    pub crops: u64,
    pub ecc: EccMode,
    /// the host llama.cpp may offload weights to (`--host`); None: GPU memory only
    pub host: Option<&'static Host>,
}

/// Context assumed when none is given: long enough for real chats, short of most models' maximum.
pub const DEFAULT_CONTEXT: u64 = 4096;

impl Default for Options {
    fn default() -> Self {
        Options {
            precision: None,
            kv: None,
            runtime: None,
            engine: Flags::default(),
            context: None,
            context_fit: None,
            batch: 1,
            gpus: 1,
            pipeline: 1,
            images: 0,
            crops: 0,
            ecc: EccMode::Default,
            host: None,
        }
    }
}

impl Options {
    /// The weight format for `model`: the chosen one or the model's dtype.
    pub fn format_for(&self, model: &ModelSpec) -> &'static Format {
        self.precision
            .or_else(|| Format::parse(&model.dtype))
            .unwrap_or(&crate::spec::precision::FORMATS[1])
    }

    pub fn context_for(&self, model: &ModelSpec) -> u64 {
        self.context.unwrap_or(DEFAULT_CONTEXT.min(model.max_context))
    }

    /// Takes what a pasted engine command sets: engine, model format, context, parallelism, KV type
    /// and engine flags. llama.cpp without `-c` leaves the context to `--fit`; with `--fit off` it
    /// is the model's own maximum, shared by the slots.
    pub fn apply_command(&mut self, cmd: &Command, model: &ModelSpec) {
        self.runtime = cmd.engine.map(|e| e.profile()).or(self.runtime);
        self.precision = cmd.precision.or(self.precision);
        self.kv = cmd.kv.or(self.kv);
        self.batch = cmd.batch.unwrap_or(self.batch);
        self.gpus = cmd.tp.unwrap_or(self.gpus);
        self.pipeline = cmd.pp.unwrap_or(self.pipeline);
        self.engine = cmd.flags;
        self.context_fit = None;
        self.context = match cmd.context {
            Some(ContextArg::Tokens(c)) => Some(c),
            Some(ContextArg::ModelMax) => Some((model.max_context / self.batch.max(1)).max(1)),
            Some(ContextArg::Fit(f)) => {
                self.context_fit = Some(f);
                None
            }
            None => self.context,
        };
    }

    /// The engine for `format`: the chosen one, or the one a user would run it with.
    pub fn runtime_for(&self, format: &Format) -> &'static Runtime {
        self.runtime.unwrap_or_else(|| engine::default_for(format))
    }

    pub fn setup<'a>(&self, model: &'a ModelSpec) -> crate::estimate::Setup<'a> {
        let format = self.format_for(model);
        let runtime = self.runtime_for(format);
        let mut engine = self.engine;
        // the host's slot, for the link vLLM's offloaded weights cross
        engine.vllm.host_link = self.host.and_then(|h| h.pcie).or(engine.vllm.host_link);
        crate::estimate::Setup {
            model,
            format,
            kv: self.kv.unwrap_or_else(|| runtime.default_kv(format)),
            runtime,
            engine,
            tp: self.gpus.max(1),
            pp: self.pipeline.max(1),
            stage: 0,
            images: self.images,
            crops: self.crops,
            ecc: self.ecc,
        }
    }
}
