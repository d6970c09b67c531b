//! `gpuplan records`: the committed validation records against today's estimator.

use crate::measure::llamacpp::check::{Term, Verdict};
use crate::measure::records::{Checked, Sample};
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{bytes, rate, tokens};

fn sample(r: &Checked) -> Cell {
    match r.sample {
        Sample::Fitted => Cell::toned("fitted", Tone::Muted),
        Sample::OutOfSample => Cell::from("out of sample"),
    }
}

fn registered(r: &Checked, e: Option<f64>) -> Cell {
    match (&r.registered_commit, e) {
        (Some(_), Some(_)) => pct(e),
        (Some(_), None) => Cell::toned("-", Tone::Muted),
        (None, _) => Cell::toned("not registered", Tone::Muted),
    }
}

/// "predicted / printed MiB" of the device and host terms of one buffer kind together.
fn buffer(terms: &[Term], fields: &[&str]) -> Cell {
    let picked: Vec<&Term> = terms.iter().filter(|t| fields.contains(&t.field)).collect();
    // a term an older record did not print (the host KV) leaves the others' sum alone
    let printed: Vec<&Term> = picked
        .iter()
        .copied()
        .filter(|t| t.verdict != Verdict::NotMeasured)
        .collect();
    let picked = if printed.is_empty() { picked } else { printed };
    let sum = |f: fn(&Term) -> Option<u64>| -> Option<u64> {
        picked.iter().map(|t| f(t)).try_fold(0u64, |acc, b| b.map(|b| acc + b))
    };
    let mib = |b: Option<u64>| b.map_or("-".to_string(), |b| format!("{:.2}", b as f64 / (1u64 << 20) as f64));
    let text = format!(
        "{} / {} MiB",
        mib(sum(|t| t.predicted_bytes)),
        mib(sum(|t| t.measured_bytes))
    );
    let tone = if picked.iter().any(|t| t.verdict == Verdict::Fail) {
        Tone::Bad
    } else if picked.iter().all(|t| t.verdict == Verdict::Pass) {
        Tone::Good
    } else {
        Tone::Muted
    };
    Cell::toned(text, tone)
}

fn pct(e: Option<f64>) -> Cell {
    match e {
        Some(e) => Cell::toned(
            format!("{e:+.1}%"),
            if e.abs() <= 10.0 { Tone::Good } else { Tone::Plain },
        ),
        None => Cell::toned("-", Tone::Muted),
    }
}

fn opt(x: Option<f64>) -> Cell {
    x.map_or(Cell::toned("-", Tone::Muted), |v| rate(v).into())
}

// `report::render` hands the view a reference to the value it renders: a Vec here
#[allow(clippy::ptr_arg)]
pub fn records(rows: &Vec<Checked>) -> Doc {
    let mut d = Doc::default();
    d.heading("Validated on");
    if rows.iter().all(|r| r.settings.is_some()) {
        engine_table(&mut d, rows);
        return d;
    }
    d.text("Each committed record (validation/records/) against today's estimator (candle profile): predicted vs measured total peak memory, decode and prefill tokens/s. \"registered\": the error of the prediction committed before the run (validation/predictions/), out of sample by construction; \"fitted\": a constant was fitted on the record (validation/fits.json).");
    let mut t = Table::new(&[
        "GPU",
        "model",
        "precision",
        "context",
        "batch",
        "outcome",
        "memory predicted",
        "memory measured",
        "error",
        "registered",
        "decode tok/s predicted",
        "measured",
        "error",
        "registered",
        "prefill tok/s predicted",
        "measured",
        "error",
        "sample",
    ])
    .numeric(&[3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    for r in rows.iter().filter(|r| r.settings.is_none()) {
        let outcome = match (r.outcome.as_str(), &r.outcome_step) {
            ("ran", _) => Cell::toned(
                if r.predicted_fits {
                    "ran (predicted: fits)"
                } else {
                    "ran (predicted: does not fit)"
                },
                if r.predicted_fits { Tone::Good } else { Tone::Bad },
            ),
            ("out_of_memory", step) => Cell::toned(
                format!(
                    "out of memory{} (predicted: {})",
                    step.as_ref().map(|s| format!(" at {s}")).unwrap_or_default(),
                    if r.predicted_fits { "fits" } else { "does not fit" }
                ),
                if r.predicted_fits { Tone::Bad } else { Tone::Good },
            ),
            (other, _) => other.into(),
        };
        t.row(vec![
            r.device.clone().into(),
            format!(
                "{}{}",
                r.model,
                if r.images > 0 {
                    format!(" + {} image", r.images)
                } else {
                    String::new()
                }
            )
            .into(),
            r.precision.clone().into(),
            tokens(r.context).into(),
            r.batch.to_string().into(),
            outcome,
            bytes(r.predicted_total_bytes).into(),
            r.measured_peak_bytes
                .map_or(Cell::toned("-", Tone::Muted), |b| bytes(b).into()),
            pct(r.memory_error_pct),
            registered(r, r.registered_memory_error_pct),
            opt(r.predicted_decode_tokens_per_s),
            opt(r.measured_decode_tokens_per_s),
            pct(r.decode_error_pct),
            registered(r, r.registered_decode_error_pct),
            opt(r.predicted_prefill_tokens_per_s),
            opt(r.measured_prefill_tokens_per_s),
            pct(r.prefill_error_pct),
            sample(r),
        ]);
    }
    d.table(t);
    engine_table(&mut d, rows);
    d
}

/// The engine records' buffers, when there are some.
fn engine_table(d: &mut Doc, rows: &[Checked]) {
    let engine: Vec<&Checked> = rows.iter().filter(|r| r.settings.is_some()).collect();
    if !engine.is_empty() {
        d.text("llama.cpp's own buffer lines (the real llama.cpp loading a synthetic GGUF of the model's exact shapes and types): gpuplan's prediction / what llama.cpp printed, in MiB. Model, KV and output buffers must be equal to the printed 0.01 MiB, compute buffers within 5% (scripts/llamacpp-check.sh). RSS: the probe's peak (the weights are a file mapping, the compute buffer is reserved but not touched at start-up). \"registered\": the error of the prediction committed before the run, over the buffers it predicted.");
        let mut t = Table::new(&[
            "device",
            "model",
            "precision",
            "settings",
            "model buffer",
            "KV buffer",
            "compute buffer",
            "output buffer",
            "RSS peak",
            "registered",
            "sample",
        ])
        .numeric(&[4, 5, 6, 7, 8, 9]);
        for r in engine {
            t.row(vec![
                r.device.clone().into(),
                r.model.clone().into(),
                r.precision.clone().into(),
                match r.outcome.as_str() {
                    "ran" => Cell::from(r.settings.clone().unwrap_or_default()),
                    other => Cell::toned(
                        format!("{} ({other})", r.settings.clone().unwrap_or_default()),
                        Tone::Bad,
                    ),
                },
                buffer(&r.terms, &["model_buffer_bytes", "host_model_buffer_bytes"]),
                buffer(&r.terms, &["kv_buffer_bytes", "host_kv_buffer_bytes"]),
                buffer(&r.terms, &["compute_buffer_bytes", "host_compute_buffer_bytes"]),
                buffer(&r.terms, &["output_buffer_bytes"]),
                r.rss_peak_bytes
                    .map_or(Cell::toned("-", Tone::Muted), |b| bytes(b).into()),
                registered(r, r.registered_memory_error_pct),
                sample(r),
            ]);
        }
        d.table(t);
    }
}
