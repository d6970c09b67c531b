//! `gpuplan evidence`: every published or locally measured engine start-up log
//! (validation/field/) against today's estimator, each printed figure with its error and verdict.

use crate::estimate::engine::offload::speed::HYBRID;
use crate::measure::field::summary::{Compared, EvidenceReport, LogSummary, Verdict};
use crate::measure::field::{llamacpp, offload, vllm, Check, Field, Figure, Kind, Scope, Tolerance};
use crate::report::doc::{Cell, Doc, Table, Tone};

fn engine_name(k: Kind) -> &'static str {
    match k {
        Kind::VllmStartup | Kind::VllmBench => "vLLM",
        Kind::LlamacppBuffers | Kind::LlamacppBench => "llama.cpp",
        Kind::LlamacppOffload => "llama.cpp, CPU+GPU split",
    }
}

/// A printed field in words: `AvailableKvCacheGib` → "available KV cache (GiB)".
fn field_label(field: Field) -> &'static str {
    match field {
        Field::ModelWeightsGib => "model weights (GiB)",
        Field::ActivationPeakGib => "activation peak (GiB)",
        Field::NonTorchGib => "non-torch memory (GiB)",
        Field::AvailableKvCacheGib => "available KV cache (GiB)",
        Field::KvCacheTokens => "KV cache tokens",
        Field::MaxConcurrency => "max concurrency (x)",
        Field::Starts => "engine starts",
        Field::GraphSplitsBs1 => "graph splits (batch 1)",
        Field::DecodeTps => "decode (tokens/s)",
        Field::ModelBufferMib => "model buffer (MiB)",
        Field::KvBufferMib => "KV buffer (MiB)",
        Field::ComputeBufferMib => "compute buffer (MiB)",
        Field::OutputBufferMib => "output buffer (MiB)",
    }
}

/// A figure in words: "CUDA0 compute buffer (MiB)", "CPU KV buffer (MiB) (SWA cache)".
fn figure_label(figure: &Figure) -> String {
    let field = field_label(figure.field);
    match &figure.scope {
        Scope::Whole => field.to_string(),
        Scope::Device(d) => format!("{d} {field}"),
        Scope::SwaCache(d) => format!("{d} {field} (SWA cache)"),
        Scope::AllDevices => format!("{field} (all devices)"),
    }
}

/// The unit a field's tolerance and error are given in, after the number.
fn unit(field: Field) -> &'static str {
    match field {
        Field::ModelWeightsGib | Field::ActivationPeakGib | Field::NonTorchGib | Field::AvailableKvCacheGib => " GiB",
        Field::ModelBufferMib | Field::KvBufferMib | Field::ComputeBufferMib | Field::OutputBufferMib => " MiB",
        Field::KvCacheTokens => " tokens",
        Field::MaxConcurrency => "x",
        Field::DecodeTps => " tokens/s",
        Field::Starts | Field::GraphSplitsBs1 => "",
    }
}

/// A figure's value as the engine prints it.
fn value(field: Field, v: f64) -> String {
    match field {
        Field::Starts => if v >= 0.5 { "starts" } else { "refuses" }.into(),
        Field::KvCacheTokens | Field::GraphSplitsBs1 => format!("{v:.0}"),
        _ => format!("{v:.2}"),
    }
}

/// The tolerance in the figure's unit: "±3%", "±0.01 MiB", "exact".
fn tolerance(c: &Check) -> String {
    match c.tolerance {
        Tolerance::Relative(r) => format!("±{}%", (r * 1000.0).round() / 10.0),
        Tolerance::Absolute(0.0) => "exact".into(),
        Tolerance::Absolute(t) => format!("±{}{}", (t * 1000.0).round() / 1000.0, unit(c.figure.field)),
    }
}

/// The error relative to the printed figure: "+5.1%", the verdict's "right" or "wrong".
fn error(c: &Check) -> String {
    if c.figure.field == Field::Starts {
        return if c.ok() { "right" } else { "wrong" }.into();
    }
    c.error_pct().map_or("-".into(), |e| format!("{e:+.1}%"))
}

/// The error in the tolerance's terms: "+5.1% of ±3%", "+0.18 GiB of ±0.25 GiB".
fn error_against_tolerance(c: &Check) -> String {
    match c.tolerance {
        Tolerance::Relative(_) => format!("{} of {}", error(c), tolerance(c)),
        Tolerance::Absolute(_) if c.figure.field == Field::Starts => error(c),
        Tolerance::Absolute(_) => {
            let d = c.predicted - c.printed;
            let digits = if c.figure.field == Field::KvCacheTokens { 0 } else { 2 };
            format!("{d:+.digits$}{} of {}", unit(c.figure.field), tolerance(c))
        }
    }
}

fn verdict(f: &Compared) -> Cell {
    match f.verdict {
        Verdict::Within if f.check.tolerance == Tolerance::Absolute(0.0) => Cell::toned("exact", Tone::Good),
        Verdict::Within => Cell::toned(format!("within {}", tolerance(&f.check)), Tone::Good),
        Verdict::Miss if f.check.tolerance == Tolerance::Absolute(0.0) => Cell::toned("MISS: not exact", Tone::Bad),
        Verdict::Miss => Cell::toned(format!("MISS: outside {}", tolerance(&f.check)), Tone::Bad),
        Verdict::Reported => Cell::toned("reported, not held (another build's graph)", Tone::Muted),
    }
}

/// The source: its URL, or the description of where it was found up to its first clause and at
/// most about 80 characters (the log's file has the rest).
fn source(s: &LogSummary) -> String {
    if let Some(url) = &s.source.url {
        return url.clone();
    }
    let what = &s.source.what;
    let clause = what.find(';').unwrap_or(what.len());
    let mut end = clause;
    if end > 80 {
        end = what[..80].rfind(' ').unwrap_or(80);
    }
    while !what.is_char_boundary(end) {
        end -= 1;
    }
    let head = what[..end].trim_end_matches([' ', ',', ':']);
    if end < what.len() {
        format!("{head} …")
    } else {
        head.to_string()
    }
}

/// The engine and its version up to the first remark ("0.10.2 (line numbers …)" → "0.10.2").
fn engine(s: &LogSummary) -> String {
    let version = s.engine.version.as_deref().unwrap_or("version not printed");
    let short = version.split(" (").next().unwrap_or(version);
    let short = short.split(", ").next().unwrap_or(short);
    if short.contains(s.engine.name.as_str()) {
        short.to_string()
    } else {
        format!("{} {short}", s.engine.name)
    }
}

fn gpu(s: &LogSummary) -> String {
    match &s.gpu {
        Some(g) => {
            let name = g.name.as_deref().or(g.catalog.as_deref()).unwrap_or("GPU not named");
            if g.count > 1 {
                format!("{} x {name}", g.count)
            } else {
                name.to_string()
            }
        }
        None => "CPU".into(),
    }
}

fn count(n: usize, tone: Tone) -> Cell {
    if n == 0 {
        Cell::toned("0", Tone::Muted)
    } else {
        Cell::toned(n.to_string(), tone)
    }
}

fn logs_table(r: &EvidenceReport) -> Table {
    let mut t = Table::new(&["engine", "logs", "checked", "not checked"])
        .titled("Logs")
        .numeric(&[1, 2, 3]);
    for e in &r.engines {
        t.row(vec![
            engine_name(e.kind).into(),
            e.logs.to_string().into(),
            e.checked.to_string().into(),
            count(e.not_checked, Tone::Muted),
        ]);
    }
    t
}

fn fields_table(r: &EvidenceReport) -> Table {
    let mut t = Table::new(&[
        "engine",
        "figure",
        "within",
        "misses",
        "reported, not held",
        "largest held error (of its tolerance)",
    ])
    .titled("Figures")
    .numeric(&[2, 3, 4, 5]);
    for e in &r.engines {
        for f in &e.fields {
            t.row(vec![
                engine_name(e.kind).into(),
                field_label(f.field).into(),
                count(f.within, Tone::Good),
                count(f.misses, Tone::Bad),
                count(f.reported, Tone::Muted),
                f.largest
                    .as_ref()
                    .map_or(Cell::toned("-", Tone::Muted), |c| error_against_tolerance(c).into()),
            ]);
        }
    }
    t
}

fn figures_table(r: &EvidenceReport) -> Table {
    let mut t = Table::new(&[
        "log",
        "source",
        "engine",
        "model",
        "GPU",
        "figure",
        "predicted",
        "printed",
        "error",
        "verdict",
    ])
    .titled("Every figure")
    .numeric(&[6, 7, 8]);
    for l in &r.logs {
        let head: Vec<Cell> = vec![
            l.evidence.clone().into(),
            source(l).into(),
            engine(l).into(),
            l.model.clone().unwrap_or_else(|| "-".into()).into(),
            gpu(l).into(),
        ];
        let blank = || -> Vec<Cell> { (0..5).map(|_| Cell::from("")).collect() };
        if l.figures.is_empty() {
            let why = l.skipped.as_deref().unwrap_or("no figure gpuplan predicts was printed");
            let mut row = head;
            row.push(Cell::toned(format!("not checked: {why}"), Tone::Muted));
            row.extend((0..4).map(|_| Cell::toned("-", Tone::Muted)));
            t.row(row);
            continue;
        }
        for (i, f) in l.figures.iter().enumerate() {
            let mut row = if i == 0 { head.clone() } else { blank() };
            row.extend([
                figure_label(&f.check.figure).into(),
                value(f.check.figure.field, f.check.predicted).into(),
                value(f.check.figure.field, f.check.printed).into(),
                error(&f.check).into(),
                verdict(f),
            ]);
            t.row(row);
        }
    }
    t
}

pub fn evidence(r: &EvidenceReport) -> Doc {
    let mut d = Doc::default();
    d.heading("Checked against engine logs");
    let checked = |k: Kind| {
        r.engines
            .iter()
            .filter(|e| e.kind == k)
            .map(|e| e.checked)
            .sum::<usize>()
    };
    let pct = |f: f64| format!("{}%", (f * 1000.0).round() / 10.0);
    d.text(format!(
        "Every engine start-up log in validation/field/ (published logs, each with its source URL and the quoted lines; runs of the pinned llama.cpp on this repository's CPU check) against today's estimator (`gpuplan evidence`): {} vLLM, {} llama.cpp and {} llama.cpp CPU+GPU split logs checked. Each printed figure gpuplan predicts is held to its tolerance: vLLM's available KV cache, KV tokens and concurrency within {}, weights within {}, the activation peak within {} GiB, non-torch memory within the bound of its allowance, the start/refuse verdict exact; llama.cpp's model, KV and output buffers to the printed {} MiB, the compute buffer within {} ({} for the older builds of the split logs), the graph splits exact, a split's decode speed within {}. A figure outside its tolerance is a miss. \"Reported, not held\": the compute and output buffers of llama.cpp builds whose graph differs from the modeled one.",
        checked(Kind::VllmStartup),
        checked(Kind::LlamacppBuffers),
        checked(Kind::LlamacppOffload),
        pct(vllm::AVAILABLE_KV_TOLERANCE),
        pct(vllm::WEIGHTS_TOLERANCE),
        vllm::ACTIVATION_TOLERANCE_GIB,
        llamacpp::PRINTED_MIB,
        pct(llamacpp::COMPUTE_TOLERANCE),
        pct(offload::COMPUTE_TOLERANCE),
        pct(HYBRID.error_band),
    ));
    d.table(logs_table(r));
    d.table(fields_table(r));
    let misses: Vec<String> = r
        .misses()
        .map(|(l, f)| {
            format!(
                "{} {}: predicted {}, printed {} ({}, outside {})",
                l.evidence,
                figure_label(&f.check.figure),
                value(f.check.figure.field, f.check.predicted),
                value(f.check.figure.field, f.check.printed),
                error(&f.check),
                tolerance(&f.check)
            )
        })
        .collect();
    d.text(match misses.len() {
        0 => "Misses: none.".to_string(),
        n => format!("Misses ({n}): {}.", misses.join("; ")),
    });
    d.table(figures_table(r));
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_the_engines_print_them() {
        let whole = Figure::whole(Field::AvailableKvCacheGib);
        assert_eq!(figure_label(&whole), "available KV cache (GiB)");
        let compute = Figure {
            field: Field::ComputeBufferMib,
            scope: Scope::Device("CUDA0".into()),
        };
        assert_eq!(figure_label(&compute), "CUDA0 compute buffer (MiB)");
        let swa = Figure {
            field: Field::KvBufferMib,
            scope: Scope::SwaCache("CPU".into()),
        };
        assert_eq!(figure_label(&swa), "CPU KV buffer (MiB) (SWA cache)");
        let all = Figure {
            field: Field::KvBufferMib,
            scope: Scope::AllDevices,
        };
        assert_eq!(figure_label(&all), "KV buffer (MiB) (all devices)");
    }

    #[test]
    fn the_largest_error_is_given_against_its_tolerance() {
        let c = Check {
            evidence: "x".into(),
            figure: Figure::whole(Field::NonTorchGib),
            predicted: 0.25,
            printed: 0.07,
            tolerance: Tolerance::Absolute(0.25),
        };
        assert_eq!(error_against_tolerance(&c), "+0.18 GiB of ±0.25 GiB");
    }
}
