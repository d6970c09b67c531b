//! `validate` as a document: per run, predicted vs measured memory by component and throughput.

use crate::measure::record::{error_pct, Record};
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{bytes, rate, seconds, tokens};

fn opt_bytes(b: Option<u64>) -> Cell {
    b.map_or_else(|| Cell::toned("-", Tone::Muted), |b| bytes(b).into())
}

/// Error in %, toned: within 5% good, within 20% plain, beyond bad.
fn err_cell(predicted: Option<f64>, measured: Option<f64>) -> Cell {
    match error_pct(predicted, measured) {
        None => Cell::toned("-", Tone::Muted),
        Some(e) => {
            let tone = if e.abs() <= 5.0 {
                Tone::Good
            } else if e.abs() <= 20.0 {
                Tone::Plain
            } else {
                Tone::Bad
            };
            Cell::toned(format!("{e:+.1}%"), tone)
        }
    }
}

fn memory_row(t: &mut Table, name: &str, predicted: u64, measured: Option<u64>, detail: &str) {
    t.row(vec![
        name.into(),
        bytes(predicted).into(),
        opt_bytes(measured),
        err_cell(Some(predicted as f64), measured.map(|m| m as f64)),
        Cell::toned(detail, Tone::Muted),
    ]);
}

fn rate_cell(x: Option<f64>) -> Cell {
    x.map_or_else(|| Cell::toned("-", Tone::Muted), |v| rate(v).into())
}

fn secs_cell(x: Option<f64>) -> Cell {
    x.map_or_else(|| Cell::toned("-", Tone::Muted), |v| seconds(v).into())
}

pub fn validate(records: &Vec<Record>) -> Doc {
    let mut d = Doc::default();
    if records.is_empty() {
        d.text("nothing was run");
        return d;
    }
    for r in records {
        match &r.engine {
            Some(_) => engine(&mut d, r),
            None => one(&mut d, r),
        }
    }
    if records.iter().any(|r| r.weights == "synthetic") {
        d.text("Weights are synthetic: memory and speed depend only on tensor shapes and dtypes, not on values.");
    }
    d
}

fn one(d: &mut Doc, r: &Record) {
    let device = match r.device.index {
        Some(i) => format!("{} (cuda:{i})", r.device.name),
        None => format!("{} (cpu)", r.device.name),
    };
    d.heading(format!("{} {} on {device}", r.model_name, r.precision));
    let pm = &r.predicted.memory;
    let verdict = if pm.fits { "fits" } else { "does not fit" };
    let outcome = match r.outcome.status.as_str() {
        "ran" => Cell::toned(
            format!("ran (estimator: {verdict})"),
            if pm.fits { Tone::Good } else { Tone::Bad },
        ),
        "out_of_memory" => Cell::toned(
            format!(
                "DID NOT FIT: out of memory at {} (estimator: {verdict})",
                r.outcome.step.as_deref().unwrap_or("?")
            ),
            if pm.fits { Tone::Bad } else { Tone::Good },
        ),
        "skipped" => Cell::toned(
            format!("skipped: {}", r.outcome.message.as_deref().unwrap_or("")),
            Tone::Muted,
        ),
        _ => Cell::toned(
            format!(
                "error at {}: {}",
                r.outcome.step.as_deref().unwrap_or("?"),
                r.outcome.message.as_deref().unwrap_or("")
            ),
            Tone::Bad,
        ),
    };
    let mut kv = vec![("outcome".to_string(), outcome)];
    if r.context > 0 {
        kv.push((
            "setup".into(),
            format!(
                "{} context ({} prompt + {} decoded), batch {}, {} KV, {} runtime profile, prefill chunk {}{}",
                tokens(r.context),
                r.prompt_tokens,
                r.decode_steps,
                r.batch,
                r.kv_precision,
                r.runtime,
                r.prefill_chunk,
                if r.images > 0 {
                    format!(
                        ", {} image(s) x {} crops = {} tokens",
                        r.images, r.crops, r.image_tokens
                    )
                } else {
                    String::new()
                }
            )
            .into(),
        ));
        let runner = r.params.runner_total.map_or("-".to_string(), |n| n.to_string());
        let same = r.params.runner_total == Some(r.params.total);
        kv.push((
            "parameters".into(),
            Cell::toned(
                format!(
                    "estimator {}, runner built {runner}{}",
                    r.params.total,
                    if same { " (equal)" } else { "" }
                ),
                if same || r.params.runner_total.is_none() {
                    Tone::Plain
                } else {
                    Tone::Bad
                },
            ),
        ));
    }
    kv.push(("weights".into(), r.weights.clone().into()));
    d.kv(kv);
    if r.outcome.status == "skipped" {
        return;
    }
    let m = &r.measured.memory;
    let mut t = Table::new(&["memory", "predicted", "measured", "error", "measured as"]).numeric(&[1, 2, 3]);
    if r.context == 0 {
        memory_row(
            &mut t,
            "cuda context",
            pm.context_bytes,
            m.context_bytes,
            "NVML used after the context, minus before",
        );
        if let Some(first) = m.first_matmul_bytes {
            memory_row(
                &mut t,
                "cublas workspace",
                pm.workspace_bytes,
                Some(first),
                "growth over the first bf16 matmul",
            );
        }
    } else {
        memory_row(
            &mut t,
            "weights (load)",
            pm.load_bytes,
            m.weights_bytes,
            "growth while building: weights + RoPE tables",
        );
        memory_row(
            &mut t,
            "kv cache",
            pm.kv_cache_bytes,
            m.kv_cache_bytes,
            "growth from end of load to end of decode",
        );
        memory_row(
            &mut t,
            "activations",
            pm.activations_bytes,
            m.activations_bytes,
            "peak - weights - kv - overhead",
        );
        memory_row(
            &mut t,
            "overhead (context etc.)",
            pm.overhead_without_rope(),
            m.overhead_bytes(),
            "CUDA context + warm-up (kernel modules, cuBLAS); none on the CPU",
        );
        t.row(vec![
            "total peak".into(),
            bytes(pm.total_bytes).into(),
            opt_bytes(m.peak_bytes),
            err_cell(Some(pm.total_bytes as f64), m.peak_bytes.map(|b| b as f64)),
            Cell::toned(
                if m.method == "nvml" {
                    "NVML device used, peak"
                } else {
                    "RSS peak (VmHWM)"
                },
                Tone::Muted,
            ),
        ]);
    }
    d.table(t);
    if r.context == 0 {
        return;
    }
    let pt = r.predicted.throughput.as_ref();
    let mt = &r.measured.throughput;
    let mut t = Table::new(&["throughput", "predicted", "measured", "error"]).numeric(&[1, 2, 3]);
    t.row(vec![
        "prefill tok/s".into(),
        rate_cell(pt.and_then(|p| p.prefill_tokens_per_s)),
        rate_cell(mt.prefill_tokens_per_s),
        err_cell(pt.and_then(|p| p.prefill_tokens_per_s), mt.prefill_tokens_per_s),
    ]);
    t.row(vec![
        "decode tok/s".into(),
        rate_cell(pt.and_then(|p| p.decode_tokens_per_s)),
        rate_cell(mt.decode_tokens_per_s),
        err_cell(pt.and_then(|p| p.decode_tokens_per_s), mt.decode_tokens_per_s),
    ]);
    t.row(vec![
        "time to first token".into(),
        secs_cell(pt.and_then(|p| p.ttft_s)),
        secs_cell(mt.ttft_s),
        err_cell(pt.and_then(|p| p.ttft_s), mt.ttft_s),
    ]);
    d.table(t);
}

/// A real engine's run: its own buffer lines against gpuplan's prediction of them.
fn engine(d: &mut Doc, r: &Record) {
    use crate::measure::llamacpp::check::{Checked, Verdict};
    let e = r.engine.as_ref().expect("engine records");
    d.heading(format!("{} on {}: {} {}", e.name, r.device.name, r.model, r.precision));
    d.text(e.command.clone());
    if r.outcome.status != "ran" {
        d.text(format!(
            "{}{}: {}",
            r.outcome.status,
            r.outcome.step.as_ref().map(|s| format!(" at {s}")).unwrap_or_default(),
            r.outcome.message.as_deref().unwrap_or("-")
        ));
        return;
    }
    let c = Checked::new(r, r.predicted.engine.as_ref());
    let mut t = Table::new(&["buffer", "predicted", "printed", "error", "check"]).numeric(&[1, 2, 3]);
    let mib = |b: Option<u64>| {
        b.map_or_else(
            || Cell::toned("-", Tone::Muted),
            |b| format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64).into(),
        )
    };
    for term in &c.terms {
        let verdict = match term.verdict {
            Verdict::Pass => Cell::toned("pass", Tone::Good),
            Verdict::Fail => Cell::toned("FAIL", Tone::Bad),
            Verdict::NotPredicted => Cell::toned("not predicted", Tone::Muted),
            Verdict::NotMeasured => Cell::toned("not printed", Tone::Muted),
        };
        t.row(vec![
            term.term.into(),
            mib(term.predicted_bytes),
            mib(term.measured_bytes),
            term.error_pct
                .map_or_else(|| Cell::toned("-", Tone::Muted), |e| format!("{e:+.2}%").into()),
            verdict,
        ]);
    }
    d.table(t);
    let m = &r.measured.memory;
    d.kv(vec![
        ("measured by".to_string(), Cell::from(m.method.clone())),
        ("peak".into(), opt_bytes(m.peak_bytes)),
        ("KV resident (rss)".into(), opt_bytes(m.kv_cache_bytes)),
        (
            "gpuplan's total (llama.cpp profile)".into(),
            bytes(r.predicted.memory.total_bytes).into(),
        ),
    ]);
}
