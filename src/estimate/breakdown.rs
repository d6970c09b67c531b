//! The itemized memory estimate as data: what every accounting (generic, vLLM, llama.cpp) returns
//! and every view renders.

use super::weights::WeightLine;
use serde::Serialize;

/// One itemized term.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Term {
    pub name: &'static str,
    pub bytes: u64,
    pub formula: String,
    pub source: &'static str,
}

/// The itemized estimate for one GPU (under tensor parallelism, every GPU of a stage holds the same;
/// under pipeline parallelism, one `Prepared` per stage).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Memory {
    pub weights: Vec<WeightLine>,
    pub weights_bytes: u64,
    pub kv_cache: Term,
    pub kv_cache_bytes: u64,
    /// the activation terms alive at the peak phase
    pub activations: Vec<Term>,
    pub activations_bytes: u64,
    /// which phase sets the activation peak
    pub activation_peak_phase: Phase,
    pub overhead: Vec<Term>,
    pub overhead_bytes: u64,
    pub total_bytes: u64,
    /// what the runtime may use on this GPU (vLLM: gpu_memory_utilization x visible total)
    pub available_bytes: u64,
    /// what a CUDA program can allocate at all
    pub visible_bytes: u64,
    /// host-memory buffers the engine keeps beside the GPU's (llama.cpp: token embeddings, host
    /// compute and output buffers); not part of `total_bytes`
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host: Vec<Term>,
    pub host_bytes: u64,
}

/// The phase of a forward pass whose buffers set the activation peak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Phase {
    #[serde(rename = "attention")]
    Attention,
    #[serde(rename = "mlp")]
    Mlp,
    #[serde(rename = "logits")]
    Logits,
    /// candle on the CPU widening bf16 operands to f32
    #[serde(rename = "f32 widening")]
    Widening,
    #[serde(rename = "vision encoder")]
    Vision,
    /// vLLM's profile run: a dummy forward of max_num_batched_tokens and the sampler's dummy run
    #[serde(rename = "profile run")]
    ProfileRun,
    /// llama.cpp's compute buffer: the graph allocator's peak for one n_ubatch graph
    #[serde(rename = "compute buffer")]
    ComputeBuffer,
}

impl Phase {
    /// The name JSON, records and tables use.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Attention => "attention",
            Phase::Mlp => "mlp",
            Phase::Logits => "logits",
            Phase::Widening => "f32 widening",
            Phase::Vision => "vision encoder",
            Phase::ProfileRun => "profile run",
            Phase::ComputeBuffer => "compute buffer",
        }
    }
}
