//! What backs a number: the estimator alone, or a validation record (a run of the model on that GPU,
//! measured with NVML, committed under `validation/records/*.json` by `gpuplan validate`).
//!
//! The hook is [`validation_record`]: sizing asks it for every (model, GPU, precision) it shows and
//! labels the memory and speed figures with the answer. No records exist yet, so it answers `None`
//! and every figure says "estimated"; when records land, this is the one function to fill in.

use crate::estimate::speed::band::{self, Phase};
use crate::estimate::speed::GpuClass;
use crate::estimate::{EngineId, Runtime};
use crate::spec::GpuSpec;
use serde::Serialize;

/// A validation record that backs a figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordRef {
    /// path of the record, e.g. `validation/records/phi-3.5-mini.h100-sxm.bf16.json`
    pub path: String,
    /// measured / predicted - 1 for the peak memory, as the record states it
    pub memory_error: Option<f64>,
    /// measured / predicted - 1 for decode tokens/s
    pub decode_error: Option<f64>,
}

/// Where a figure comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Basis {
    /// the analytic estimate, not checked by a run on this GPU
    Estimated,
    /// an estimate with runtime efficiencies calibrated from the named records
    Calibrated { from: String },
    /// checked against a run of this model on this GPU at this precision
    Validated { record: RecordRef },
    /// a catalog fact (a price) with its source and date
    Catalog { source: String, date: String },
}

impl Basis {
    pub fn is_estimated(&self) -> bool {
        matches!(self, Basis::Estimated)
    }
}

/// Bases of an option's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub memory: Basis,
    pub throughput: Basis,
    /// how far the memory and speed figures may be off
    pub bands: Bands,
    /// None when the catalog has no price for the cost mode
    pub price: Option<Basis>,
}

/// The validation record for (model, GPU, precision), if one exists. Records are not committed yet
/// (`validation/records/` is written by `gpuplan validate`), so this answers None for every input.
pub fn validation_record(_model: &str, _gpu: &str, _precision: &str) -> Option<RecordRef> {
    None
}

/// The basis of the memory and throughput figures for one option.
pub fn figures_basis(model: &str, gpu: &str, precision: &str, runtime_calibrated_from: Option<&str>) -> (Basis, Basis) {
    match validation_record(model, gpu, precision) {
        Some(record) => (Basis::Validated { record: record.clone() }, Basis::Validated { record }),
        None => (
            Basis::Estimated,
            match runtime_calibrated_from {
                Some(from) => Basis::Calibrated { from: from.to_string() },
                None => Basis::Estimated,
            },
        ),
    }
}

/// How far a figure may be off: the measured value lies within `value x (1 + low)` to
/// `value x (1 + high)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    /// measured / predicted - 1 at the low end (negative: measured below the prediction)
    pub low: f64,
    pub high: f64,
    pub basis: BandBasis,
}

impl Band {
    /// The band of a reciprocal figure (a time from a rate): x in [1+low, 1+high] gives 1/x in
    /// [1/(1+high), 1/(1+low)].
    pub fn inverse(&self) -> Band {
        Band {
            low: 1.0 / (1.0 + self.high) - 1.0,
            high: 1.0 / (1.0 + self.low) - 1.0,
            basis: self.basis,
        }
    }
}

/// What a band rests on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum BandBasis {
    /// the spread of measured / predicted - 1 over this many committed validation records of the
    /// profile (`gpuplan records`), rounded outward to 0.1%
    Records { records: u32 },
    /// no record calibrates the profile: a stated band, wider than any calibrated one
    Stated,
    /// where 80% of the engine's published benchmark rows in `validation/field/` fell around the
    /// speed model's figures, each row predicted by coefficients fitted without its GPU
    /// (`estimate::speed::band`); `class`: the rows of that GPU class only
    Published {
        rows: u32,
        gpus: u32,
        class: Option<GpuClass>,
    },
}

/// The bands of one runtime profile's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bands {
    /// total memory (and so the largest context and batch that fit)
    pub memory: Band,
    pub decode: Band,
    pub prefill: Band,
}

/// The bands of one engine's figures (a matrix mixes engines when each format runs on its usual one).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EngineBands {
    pub engine: EngineId,
    #[serde(flatten)]
    pub bands: Bands,
}

const fn recorded(low: f64, high: f64, records: u32) -> Band {
    Band {
        low,
        high,
        basis: BandBasis::Records { records },
    }
}

/// Bands of the profiles calibrated from validation records, by runtime id: the extremes of
/// measured / predicted - 1 over `validation/records/` as `gpuplan records` re-predicts them today
/// (20 memory and 20 speed records, H100 SXM 80GB and H200; `tests/error_bands.rs` recomputes them
/// and fails when the records or the estimator move them).
pub const RECORD_BANDS: &[(EngineId, Bands)] = &[(
    EngineId::Candle,
    Bands {
        memory: recorded(-0.057, 0.057, 20),
        decode: recorded(-0.145, 0.065, 20),
        prefill: recorded(-0.169, 0.129, 20),
    },
)];

/// The band stated for a profile without records: memory within 15% (the terms are modelled from the
/// engine's code but no run checked their sum), speed within a factor of two either way (an
/// uncalibrated roofline: efficiencies and per-step costs are engineering defaults). Not measured.
pub const STATED_BANDS: Bands = Bands {
    memory: Band {
        low: -0.15,
        high: 0.15,
        basis: BandBasis::Stated,
    },
    decode: Band {
        low: -0.5,
        high: 1.0,
        basis: BandBasis::Stated,
    },
    prefill: Band {
        low: -0.5,
        high: 1.0,
        basis: BandBasis::Stated,
    },
};

/// The bands for a runtime profile: its records' when it is calibrated, else the stated ones; the
/// speed bands of an engine with a speed model are its published rows' (those of `gpu`'s class when
/// the class has a band of its own; every GPU's for a figure over several GPUs, `gpu` None) where
/// they were measured on GPUs left out of the fit.
pub fn bands(runtime: &Runtime, gpu: Option<&GpuSpec>) -> Bands {
    let own = RECORD_BANDS
        .iter()
        .find(|(id, _)| runtime.calibrated_from.is_some() && *id == runtime.id)
        .map_or(STATED_BANDS, |(_, b)| *b);
    let class = gpu.and_then(GpuClass::of);
    let published = |phase: Option<Phase>, fallback: Band| {
        phase
            .and_then(|ph| band::band(ph, class))
            .and_then(published_band)
            .unwrap_or(fallback)
    };
    let (decode, prefill) = Phase::of(runtime.id);
    Bands {
        memory: own.memory,
        decode: published(decode, own.decode),
        prefill: published(prefill, own.prefill),
    }
}

/// A speed band of published rows as an error band: measured / predicted in `low..high` is
/// measured / predicted - 1 in `low - 1..high - 1`. None for an in-sample band (rows from one GPU:
/// it says nothing of the error on others).
fn published_band(b: band::Band) -> Option<Band> {
    b.held_out.then_some(Band {
        low: b.low - 1.0,
        high: b.high - 1.0,
        basis: BandBasis::Published {
            rows: b.rows,
            gpus: b.gpus,
            class: match b.basis {
                band::Basis::Class(c) => Some(c),
                band::Basis::Engine => None,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::arch::check_declared;
    use crate::estimate::speed::band::{band, Basis};
    use crate::spec::Catalog;

    #[test]
    fn engines_with_a_speed_model_take_their_published_bands() {
        let catalog = Catalog::embedded(check_declared).unwrap();
        let rtx4090 = catalog.gpu("rtx-4090").unwrap();
        let rt = |id: &str| Runtime::parse(id).unwrap();
        // llama.cpp on an Ada card: the Ada class's leave-one-GPU-out bands, as measured / predicted - 1
        let llama = bands(rt("llama.cpp"), Some(&rtx4090));
        let ada = band(Phase::LlamaCppDecode, Some(GpuClass::Ada)).unwrap();
        assert_eq!(ada.basis, Basis::Class(GpuClass::Ada));
        assert_eq!((llama.decode.low, llama.decode.high), (ada.low - 1.0, ada.high - 1.0));
        assert!(matches!(
            llama.prefill.basis,
            BandBasis::Published {
                class: Some(GpuClass::Ada),
                ..
            }
        ));
        assert_eq!(llama.memory, STATED_BANDS.memory);
        // over several GPUs (the matrix): every GPU's rows
        let all = bands(rt("llama.cpp"), None);
        assert!(matches!(all.decode.basis, BandBasis::Published { class: None, .. }));
        // vLLM's decode rows come from two GPUs (an H100 and an RTX 4090): each predicted by a fit
        // without its GPU gives the band; no published prefill row, so the stated band stays
        let vllm = bands(rt("vllm"), Some(&rtx4090));
        let vllm_decode = band(Phase::VllmDecode, None).unwrap();
        assert_eq!(
            (vllm.decode.low, vllm.decode.high),
            (vllm_decode.low - 1.0, vllm_decode.high - 1.0)
        );
        assert!(matches!(vllm.decode.basis, BandBasis::Published { gpus: 2, .. }));
        assert_eq!(vllm.prefill, STATED_BANDS.prefill);
        // candle keeps its records' bands
        assert_eq!(bands(rt("candle"), Some(&rtx4090)), RECORD_BANDS[0].1);
    }
}
