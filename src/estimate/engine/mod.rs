//! Inference engines: what each one is (a profile: data), what a user sets on its command line
//! (flags, resolved into settings with the defaults of the release modeled), and, for vLLM and
//! llama.cpp, the engine's own memory accounting, term by term as the engine prints it at start-up.
//! candle and transformers follow the generic itemized estimate (`estimate::generic`).
//!
//! Data files (`profile.rs`, `settings.rs`, `report.rs`, each engine's `profile.rs`) import nothing
//! that computes; the accounting files (`vllm/mod.rs`, `llamacpp/mod.rs`) read a `Prepared`;
//! `estimate::memory` dispatches to them. No module imports one that imports it back.

pub mod candle;
pub mod command;
pub mod llamacpp;
pub mod offload;
pub mod profile;
pub mod report;
pub mod settings;
pub mod transformers;
pub mod vllm;

pub use profile::{AttentionImpl, Device, EngineId, KvAlloc, KvDefault, Runtime};
pub use report::{EngineReport, Figures, Refusal};
pub use settings::{Flags, Settings};

use crate::spec::precision::{Format, FormatKind};

/// Every profile, in the order `gpuplan` lists them.
pub const RUNTIMES: &[&Runtime] = &[
    &candle::CANDLE,
    &vllm::profile::VLLM,
    &llamacpp::profile::LLAMA_CPP,
    &transformers::TRANSFORMERS,
    &candle::CANDLE_CPU,
];

impl EngineId {
    /// The profile of this engine.
    pub fn profile(self) -> &'static Runtime {
        match self {
            EngineId::Candle => &candle::CANDLE,
            EngineId::CandleCpu => &candle::CANDLE_CPU,
            EngineId::Vllm => &vllm::profile::VLLM,
            EngineId::LlamaCpp => &llamacpp::profile::LLAMA_CPP,
            EngineId::Transformers => &transformers::TRANSFORMERS,
        }
    }
}

/// The engine a user would run `format` with: GGUF files on llama.cpp, everything else on vLLM.
pub fn default_for(format: &Format) -> &'static Runtime {
    match format.kind {
        FormatKind::Gguf => &llamacpp::profile::LLAMA_CPP,
        FormatKind::Uniform | FormatKind::LinearOnly => &vllm::profile::VLLM,
    }
}

impl Runtime {
    /// A profile by engine name or alias ([`EngineId::parse`]).
    pub fn parse(s: &str) -> Option<&'static Runtime> {
        EngineId::parse(s).map(EngineId::profile)
    }
}
