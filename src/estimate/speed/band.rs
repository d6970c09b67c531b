//! Error bands on speed figures, from the leave-one-GPU-out residuals of the published rows
//! (`tests/field_speed.rs` recomputes them and fails when the committed values go stale).

use super::GpuClass;
use crate::estimate::engine::EngineId;
use serde::Serialize;

/// Which engine and phase a band is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    LlamaCppDecode,
    LlamaCppPrefill,
    VllmDecode,
}

impl Phase {
    /// The phases of `engine` its published rows measure: (decode, prefill); None where no
    /// published row measures the phase.
    pub fn of(engine: EngineId) -> (Option<Phase>, Option<Phase>) {
        match engine {
            EngineId::LlamaCpp => (Some(Phase::LlamaCppDecode), Some(Phase::LlamaCppPrefill)),
            EngineId::Vllm => (Some(Phase::VllmDecode), None),
            _ => (None, None),
        }
    }
}

/// What a band was measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "over", content = "class")]
pub enum Basis {
    /// the rows of GPUs of this class (at least [`MIN_CLASS_ROWS`] rows from two GPUs)
    Class(GpuClass),
    /// every row of the engine and phase
    Engine,
}

/// Rows a class needs (from at least two GPUs) before it gets its own band.
pub const MIN_CLASS_ROWS: u32 = 12;

/// The measured/predicted ratio of 80 % of the rows lies in `low ..= high` (their 10th and 90th
/// percentiles). With `held_out` each row was predicted by coefficients fitted without its GPU
/// (leave one GPU out); without (rows from a single GPU) by the coefficients fitted on them, which
/// understates the error on other GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    pub phase: Phase,
    pub basis: Basis,
    pub low: f64,
    pub high: f64,
    /// rows behind the percentiles
    pub rows: u32,
    /// GPUs those rows were measured on
    pub gpus: u32,
    pub held_out: bool,
}

/// The committed bands (see the module doc).
pub const BANDS: &[Band] = &[
    Band {
        phase: Phase::LlamaCppDecode,
        basis: Basis::Engine,
        low: 0.8813,
        high: 1.0719,
        rows: 97,
        gpus: 9,
        held_out: true,
    },
    Band {
        phase: Phase::LlamaCppDecode,
        basis: Basis::Class(GpuClass::AmpereDatacenter),
        low: 0.8423,
        high: 1.0018,
        rows: 24,
        gpus: 2,
        held_out: true,
    },
    Band {
        phase: Phase::LlamaCppDecode,
        basis: Basis::Class(GpuClass::Ampere),
        low: 0.9193,
        high: 0.9768,
        rows: 21,
        gpus: 2,
        held_out: true,
    },
    Band {
        phase: Phase::LlamaCppDecode,
        basis: Basis::Class(GpuClass::Ada),
        low: 0.9132,
        high: 1.0651,
        rows: 40,
        gpus: 4,
        held_out: true,
    },
    Band {
        phase: Phase::LlamaCppPrefill,
        basis: Basis::Engine,
        low: 0.827,
        high: 1.1458,
        rows: 89,
        gpus: 9,
        held_out: true,
    },
    Band {
        phase: Phase::LlamaCppPrefill,
        basis: Basis::Class(GpuClass::AmpereDatacenter),
        low: 0.8566,
        high: 0.9789,
        rows: 20,
        gpus: 2,
        held_out: true,
    },
    Band {
        phase: Phase::LlamaCppPrefill,
        basis: Basis::Class(GpuClass::Ampere),
        low: 0.9012,
        high: 1.1683,
        rows: 21,
        gpus: 2,
        held_out: true,
    },
    Band {
        phase: Phase::LlamaCppPrefill,
        basis: Basis::Class(GpuClass::Ada),
        low: 0.7002,
        high: 1.1605,
        rows: 36,
        gpus: 4,
        held_out: true,
    },
    Band {
        phase: Phase::VllmDecode,
        basis: Basis::Engine,
        low: 0.817,
        high: 1.2326,
        rows: 25,
        gpus: 2,
        held_out: true,
    },
];

/// The band for `phase` on a GPU of `class`: the class's own when it has one, else the engine's.
pub fn band(phase: Phase, class: Option<GpuClass>) -> Option<Band> {
    BANDS
        .iter()
        .find(|b| b.phase == phase && class.is_some_and(|c| b.basis == Basis::Class(c)))
        .or_else(|| BANDS.iter().find(|b| b.phase == phase && b.basis == Basis::Engine))
        .copied()
}
