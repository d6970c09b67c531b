//! The committed validation records, re-predicted with today's estimator: what `gpuplan records`
//! shows and the README's "Validated on" table is generated from.

use super::llamacpp::check::Term;
use super::predictions::Fits;
use super::record::{error_pct, EngineFigures, Record};
use crate::spec::Catalog;
use serde::Serialize;
use std::path::Path;

/// Whether a record was used to fit a constant (`validation/fits.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sample {
    /// a constant was fitted on it: its error today is in sample
    Fitted,
    OutOfSample,
}

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
    pub sample: Sample,
    /// the fits that used this record
    pub fitted_on: Vec<String>,
    /// the commit whose prediction was registered before the run (None: none was)
    pub registered_commit: Option<String>,
    /// the registered prediction's errors, out of sample by construction
    pub registered_memory_error_pct: Option<f64>,
    pub registered_decode_error_pct: Option<f64>,
    /// engine records (llama.cpp): the runtime, its settings and every buffer term against today's
    /// prediction
    pub runtime: crate::estimate::EngineId,
    pub settings: Option<String>,
    pub terms: Vec<Term>,
    /// the process's measured peak (engine records: RSS or NVML; `measured_peak_bytes` there is Σ
    /// of the printed buffers)
    pub rss_peak_bytes: Option<u64>,
}

fn parts(f: &EngineFigures) -> [Option<u64>; 6] {
    [
        f.model_buffer_bytes,
        f.host_model_buffer_bytes,
        f.kv_buffer_bytes,
        f.compute_buffer_bytes,
        f.host_compute_buffer_bytes,
        f.output_buffer_bytes,
    ]
}

/// Σ of the predicted buffers and Σ of the same buffers as printed: a buffer gpuplan does not
/// predict is left out of both (None when nothing is predicted or nothing printed).
fn engine_totals(predicted: Option<&EngineFigures>, printed: Option<&EngineFigures>) -> (Option<u64>, Option<u64>) {
    let (Some(p), Some(m)) = (predicted, printed) else {
        return (None, printed.map(|m| parts(m).iter().flatten().sum()));
    };
    let both: Vec<(u64, u64)> = parts(p)
        .into_iter()
        .zip(parts(m))
        .filter_map(|(p, m)| Some((p?, m?)))
        .collect();
    if both.is_empty() {
        return (None, None);
    }
    (
        Some(both.iter().map(|x| x.0).sum()),
        Some(both.iter().map(|x| x.1).sum()),
    )
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

/// Model runs (not the overhead probes) with today's prediction beside what was measured, and the
/// prediction registered before the run where there was one. Engine records (llama.cpp) compare the
/// engine's own buffers: Σ predicted against Σ printed, term by term in `terms`.
pub fn check(records: &[Record], catalog: &Catalog, fits: &Fits) -> anyhow::Result<Vec<Checked>> {
    let mut out = Vec::new();
    for r in records
        .iter()
        .filter(|r| !r.name.starts_with("cuda-context") && !r.name.starts_with("cublas-workspace"))
    {
        let (pm, pt) = super::repredict(r, catalog).map_err(|e| anyhow::anyhow!("record {}: {e:#}", r.name))?;
        let m = &r.measured;
        let ran = r.outcome.status == "ran";
        let p = |f: fn(&super::record::Throughput) -> Option<f64>| pt.as_ref().and_then(f);
        let fitted_on: Vec<String> = fits.fitted_on(&r.name).iter().map(|f| f.what.clone()).collect();
        let reg = r.prediction.as_ref();
        let (mut predicted_total, mut measured_peak, mut registered_total) = (
            pm.total_bytes,
            m.memory.peak_bytes,
            reg.map(|g| g.predicted.memory.total_bytes),
        );
        let mut terms = Vec::new();
        let mut registered_measured = m.memory.peak_bytes;
        if r.engine.is_some() {
            let today = super::llamacpp::repredict_engine(r, catalog)
                .map_err(|e| anyhow::anyhow!("record {}: {e:#}", r.name))?;
            let printed = m.engine.as_ref().map(|e| &e.figures);
            terms = super::llamacpp::check::terms(today.as_ref(), printed);
            let (p, printed_total) = engine_totals(today.as_ref(), printed);
            measured_peak = printed_total;
            predicted_total = p.unwrap_or(0);
            let (r, printed_for_registered) = engine_totals(reg.and_then(|g| g.predicted.engine.as_ref()), printed);
            registered_total = r;
            registered_measured = printed_for_registered;
        }
        let today_total = (predicted_total > 0).then_some(predicted_total as f64);
        out.push(Checked {
            sample: if fitted_on.is_empty() {
                Sample::OutOfSample
            } else {
                Sample::Fitted
            },
            fitted_on,
            registered_commit: reg.map(|g| g.commit.clone()),
            registered_memory_error_pct: if ran {
                error_pct(
                    registered_total.map(|b| b as f64),
                    registered_measured.map(|b| b as f64),
                )
            } else {
                None
            },
            registered_decode_error_pct: error_pct(
                reg.and_then(|g| g.predicted.throughput.as_ref())
                    .and_then(|t| t.decode_tokens_per_s),
                m.throughput.decode_tokens_per_s,
            ),
            runtime: r.runtime,
            settings: r.engine.as_ref().map(|e| e.settings.slug()),
            terms,
            rss_peak_bytes: if ran { m.memory.peak_bytes } else { None },
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
            predicted_total_bytes: predicted_total,
            measured_peak_bytes: if ran { measured_peak } else { None },
            memory_error_pct: if ran {
                error_pct(today_total, measured_peak.map(|b| b as f64))
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
