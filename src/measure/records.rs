//! The committed validation records, re-predicted with today's estimator: what `gpuplan records`
//! shows and the README's "Validated on" table is generated from.

use super::record::{error_pct, Record};
use crate::spec::Catalog;
use serde::Serialize;
use std::path::Path;

/// One record against today's estimator.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub name: String,
    pub device: String,
    pub model: String,
    pub precision: String,
    pub context: u64,
    pub batch: u64,
    pub images: u64,
    /// "ran", "out_of_memory", ...
    pub outcome: String,
    pub outcome_step: Option<String>,
    pub predicted_fits: bool,
    pub predicted_total_bytes: u64,
    pub measured_peak_bytes: Option<u64>,
    pub memory_error_pct: Option<f64>,
    pub predicted_decode_tokens_per_s: Option<f64>,
    pub measured_decode_tokens_per_s: Option<f64>,
    pub decode_error_pct: Option<f64>,
    pub predicted_prefill_tokens_per_s: Option<f64>,
    pub measured_prefill_tokens_per_s: Option<f64>,
    pub prefill_error_pct: Option<f64>,
}

/// Reads every `*.json` record in `dir` (sorted by file name); a file holding an array contributes
/// each of its records.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<Record>> {
    let rd = std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    let mut files: Vec<_> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: line {}: {e}", f.display(), e.line()))?;
        let items = match value {
            serde_json::Value::Array(a) => a,
            one => vec![one],
        };
        for v in items {
            out.push(
                serde_json::from_value(v)
                    .map_err(|e| anyhow::anyhow!("{}: not a validation record: {e}", f.display()))?,
            );
        }
    }
    Ok(out)
}

/// Model runs (not the overhead probes) with today's prediction beside what was measured.
pub fn check(records: &[Record], catalog: &Catalog) -> anyhow::Result<Vec<Checked>> {
    let mut out = Vec::new();
    for r in records
        .iter()
        .filter(|r| !r.name.starts_with("cuda-context") && !r.name.starts_with("cublas-workspace"))
    {
        let (pm, pt) = super::repredict(r, catalog).map_err(|e| anyhow::anyhow!("record {}: {e:#}", r.name))?;
        let m = &r.measured;
        let ran = r.outcome.status == "ran";
        let p = |f: fn(&super::record::Throughput) -> Option<f64>| pt.as_ref().and_then(f);
        out.push(Checked {
            name: r.name.clone(),
            device: r.device.name.clone(),
            model: r.model.clone(),
            precision: r.precision.clone(),
            context: r.context,
            batch: r.batch,
            images: r.images,
            outcome: r.outcome.status.clone(),
            outcome_step: r.outcome.step.clone(),
            predicted_fits: pm.total_bytes <= pm.available_bytes,
            predicted_total_bytes: pm.total_bytes,
            measured_peak_bytes: if ran { m.memory.peak_bytes } else { None },
            memory_error_pct: if ran {
                error_pct(Some(pm.total_bytes as f64), m.memory.peak_bytes.map(|b| b as f64))
            } else {
                None
            },
            predicted_decode_tokens_per_s: p(|t| t.decode_tokens_per_s),
            measured_decode_tokens_per_s: m.throughput.decode_tokens_per_s,
            decode_error_pct: error_pct(p(|t| t.decode_tokens_per_s), m.throughput.decode_tokens_per_s),
            predicted_prefill_tokens_per_s: p(|t| t.prefill_tokens_per_s),
            measured_prefill_tokens_per_s: m.throughput.prefill_tokens_per_s,
            prefill_error_pct: error_pct(p(|t| t.prefill_tokens_per_s), m.throughput.prefill_tokens_per_s),
        });
    }
    Ok(out)
}
