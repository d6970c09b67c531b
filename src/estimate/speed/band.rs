//! Error bands on speed figures, from the leave-one-GPU-out residuals of the published rows
//! (`tests/field_speed.rs` recomputes them and fails when the committed values go stale).

use super::GpuClass;
use serde::Serialize;

/// Which engine and phase a band is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    LlamaCppDecode,
    LlamaCppPrefill,
    VllmDecode,
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
/// percentiles, leave-one-GPU-out: each row predicted by coefficients fitted without its GPU).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    pub phase: Phase,
    pub basis: Basis,
    pub low: f64,
    pub high: f64,
    /// rows behind the percentiles
    pub rows: u32,
}

impl Band {
    /// The range a predicted rate maps to.
    pub fn range(&self, predicted: f64) -> (f64, f64) {
        (predicted * self.low, predicted * self.high)
    }
}

/// Bands a throughput figure carries, as absolute rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpeedBands {
    /// decode tokens/s (aggregate over the batch): (low, high)
    pub decode_tokens_per_s: (f64, f64),
    /// prefill tokens/s: (low, high); None when the engine's prefill is not validated
    pub prefill_tokens_per_s: Option<(f64, f64)>,
    pub decode: Band,
    pub prefill: Option<Band>,
}

/// The committed bands (see the module doc).
pub const BANDS: &[Band] = &[
    Band {
        phase: Phase::LlamaCppDecode,
        basis: Basis::Engine,
        low: 0.8814,
        high: 1.0727,
        rows: 97,
    },
    Band {
        phase: Phase::LlamaCppDecode,
        basis: Basis::Class(GpuClass::AmpereDatacenter),
        low: 0.8422,
        high: 1.0017,
        rows: 24,
    },
    Band {
        phase: Phase::LlamaCppDecode,
        basis: Basis::Class(GpuClass::Ampere),
        low: 0.9194,
        high: 0.9767,
        rows: 21,
    },
    Band {
        phase: Phase::LlamaCppDecode,
        basis: Basis::Class(GpuClass::Ada),
        low: 0.9131,
        high: 1.0657,
        rows: 40,
    },
    Band {
        phase: Phase::LlamaCppPrefill,
        basis: Basis::Engine,
        low: 0.6798,
        high: 1.1513,
        rows: 97,
    },
    Band {
        phase: Phase::LlamaCppPrefill,
        basis: Basis::Class(GpuClass::AmpereDatacenter),
        low: 0.1555,
        high: 0.9815,
        rows: 24,
    },
    Band {
        phase: Phase::LlamaCppPrefill,
        basis: Basis::Class(GpuClass::Ampere),
        low: 0.9062,
        high: 1.1712,
        rows: 21,
    },
    Band {
        phase: Phase::LlamaCppPrefill,
        basis: Basis::Class(GpuClass::Ada),
        low: 0.5763,
        high: 1.1645,
        rows: 40,
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
