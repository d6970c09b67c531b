//! `gpuplan records`: the committed validation records against today's estimator.

use crate::measure::records::Checked;
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{bytes, rate, tokens};

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

pub fn records(rows: &Vec<Checked>) -> Doc {
    let mut d = Doc::default();
    d.heading("Validated on");
    d.text("Each committed record (validation/records/) against today's estimator (candle profile): predicted vs measured total peak memory, decode and prefill tokens/s.");
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
        "decode tok/s predicted",
        "measured",
        "error",
        "prefill tok/s predicted",
        "measured",
        "error",
    ])
    .numeric(&[3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    for r in rows {
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
            opt(r.predicted_decode_tokens_per_s),
            opt(r.measured_decode_tokens_per_s),
            pct(r.decode_error_pct),
            opt(r.predicted_prefill_tokens_per_s),
            opt(r.measured_prefill_tokens_per_s),
            pct(r.prefill_error_pct),
        ]);
    }
    d.table(t);
    d
}
