//! What backs a number: the estimator alone, or a validation record (a run of the model on that GPU,
//! measured with NVML, committed under `validation/records/*.json` by `gpuplan validate`).
//!
//! The hook is [`validation_record`]: sizing asks it for every (model, GPU, precision) it shows and
//! labels the memory and speed figures with the answer. No records exist yet, so it answers `None`
//! and every figure says "estimated"; when records land, this is the one function to fill in.

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
