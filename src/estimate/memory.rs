//! The memory estimate for one (model, format, engine, GPU) at a context and batch. Each engine
//! with accounting of its own (vLLM, llama.cpp) answers under its own names; the others follow the
//! generic itemized estimate. Everything that asks "does it fit?" (fit, matrix, the solvers, the
//! sizing report) comes through here, so all of them see the engine's own numbers.

pub use super::breakdown::{Memory, Phase, Term};
use super::engine::{command, llamacpp, offload, vllm, EngineReport, Figures, Refusal, Settings};
use super::generic;
use super::prepared::Prepared;

impl Prepared<'_> {
    /// Bytes per GPU for `batch` sequences of `context` tokens (the fast path of [`Self::memory`]).
    pub fn total(&self, context: u64, batch: u64) -> u64 {
        match &self.settings {
            Settings::Vllm(s) => vllm::total(self, s, context, batch),
            Settings::LlamaCpp(s) if offload::is_split(self, s) => offload::total(self, s, context, batch),
            Settings::LlamaCpp(s) => llamacpp::total(self, s, context, batch),
            Settings::Plain => generic::total(self, context, batch),
        }
    }

    /// Whether the engine starts and the sequences fit in what it lets itself use.
    pub fn fits(&self, context: u64, batch: u64) -> bool {
        self.holds(self.total(context, batch), context)
    }

    /// Whether `total` bytes (this setup's [`Self::total`] at `context`) fit and the engine starts.
    pub fn holds(&self, total: u64, context: u64) -> bool {
        total <= self.budget && self.config_refusal(context).is_none()
    }

    /// The refusals an engine decides from its configuration alone (cheap enough for the solvers).
    pub fn config_refusal(&self, context: u64) -> Option<Refusal> {
        match &self.settings {
            Settings::Vllm(s) => vllm::config_refusal(self, s, context),
            Settings::LlamaCpp(s) => llamacpp::config_refusal(s),
            Settings::Plain => None,
        }
    }

    /// The itemized estimate.
    pub fn memory(&self, context: u64, batch: u64) -> Memory {
        match &self.settings {
            Settings::Vllm(s) => vllm::memory(self, s, context, batch),
            Settings::LlamaCpp(s) if offload::is_split(self, s) => {
                llamacpp::memory_of(self, s, &offload::figures(self, s, context, batch))
            }
            Settings::LlamaCpp(s) => llamacpp::memory(self, s, context, batch),
            Settings::Plain => generic::memory(self, context, batch),
        }
    }

    /// What the engine itself would do and print: whether it starts, why not, its figures, and the
    /// command that runs this setup.
    pub fn engine_report(&self, context: u64, batch: u64) -> EngineReport {
        let (figures, refusal) = match &self.settings {
            Settings::Vllm(s) => {
                let f = vllm::figures(self, s, context);
                let refusal = vllm::refusal(self, s, context, &f);
                (Some(Figures::Vllm(f)), refusal)
            }
            Settings::LlamaCpp(s) => {
                let f = if offload::is_split(self, s) {
                    offload::figures(self, s, context, batch)
                } else {
                    llamacpp::figures(self, s, context, batch)
                };
                let refusal = llamacpp::refusal(self, s, &f);
                (Some(Figures::LlamaCpp(f)), refusal)
            }
            Settings::Plain => {
                let total = self.total(context, batch);
                let refusal = (total > self.budget).then_some(Refusal::OutOfMemory {
                    needed_bytes: total,
                    available_bytes: self.budget,
                });
                (None, refusal)
            }
        };
        let rt = self.setup.runtime;
        EngineReport {
            name: rt.id,
            version: rt.version,
            command: command::emit(self, context, batch),
            ollama: command::ollama(self, context, batch),
            starts: refusal.is_none(),
            refusal,
            settings: self.settings,
            figures,
        }
    }
}
