//! Every published benchmark row in validation/field/ (kinds `llamacpp_bench`, `vllm_bench`)
//! re-checked against today's speed estimator (issue 14):
//! - llama.cpp: decode median error within 10 %, prefill within 15 %; vLLM: TPOT within 10 % at
//!   concurrency 1-16; the worst case is printed;
//! - the coefficients committed in src/estimate/speed/ equal a refit on these rows (relative least
//!   squares, Huber-weighted), and the error bands equal the leave-one-GPU-out residuals;
//! - the README's "Checked against published benchmarks" table is generated from the same rows.
//!
//! `GPUPLAN_BLESS=1 cargo test --test field_speed` prints the refitted tables and rewrites the README
//! table instead of failing on them.

mod common;

use common::speed::{self, Row};
use gpuplan::estimate::speed::band::{Band, Basis, Phase, BANDS, MIN_CLASS_ROWS};
use gpuplan::estimate::speed::llamacpp;
use gpuplan::estimate::speed::GpuClass;
use std::collections::BTreeMap;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn bless() -> bool {
    std::env::var("GPUPLAN_BLESS").is_ok_and(|v| v == "1")
}

#[test]
fn llamacpp_rows_meet_the_targets() {
    let rows = speed::llamacpp_rows();
    assert!(rows.len() >= 60, "at least 60 llama.cpp rows ({})", rows.len());
    let gpus: std::collections::BTreeSet<_> = rows.iter().map(|r| r.gpu.clone()).collect();
    assert!(gpus.len() >= 9, "rows over at least 9 catalog GPUs ({gpus:?})");
    let mut by_phase: BTreeMap<Phase, Vec<(f64, &Row)>> = BTreeMap::new();
    for r in &rows {
        let err = r.predicted_rate(&|c| llamacpp::coefficient(c)) / r.published_rate - 1.0;
        by_phase.entry(r.phase).or_default().push((err, r));
    }
    for (phase, target) in [(Phase::LlamaCppDecode, 0.10), (Phase::LlamaCppPrefill, 0.15)] {
        let errs = &by_phase[&phase];
        let med = median(errs.iter().map(|(e, _)| e.abs()).collect());
        let (worst, wr) = errs
            .iter()
            .max_by(|a, b| a.0.abs().total_cmp(&b.0.abs()))
            .expect("rows");
        println!(
            "{phase:?}: {} rows, median |error| {:.1} %, worst {:+.1} % ({} {} {})",
            errs.len(),
            med * 100.0,
            worst * 100.0,
            wr.file,
            wr.gpu,
            wr.test
        );
        assert!(
            med <= target,
            "{phase:?}: median |error| {:.1} % > {:.0} %",
            med * 100.0,
            target * 100.0
        );
    }
}

#[test]
fn llamacpp_coefficients_equal_the_refit() {
    let rows = speed::llamacpp_rows();
    let refit = speed::fit_llamacpp(&rows, |_| true);
    let text = speed::rust_table(&refit);
    if bless() {
        println!("{text}");
        return;
    }
    let mut stale = Vec::new();
    for f in &refit {
        let committed = llamacpp::COEFFICIENTS.iter().find(|c| c.coef == f.coef);
        match committed {
            Some(c) if (c.value - f.value).abs() <= 0.01 * f.value.abs().max(1e-12) && c.rows == f.rows => {}
            other => stale.push(format!(
                "{:?}: committed {:?}, refit {}",
                f.coef,
                other.map(|c| c.value),
                f.value
            )),
        }
    }
    assert!(
        stale.is_empty() && llamacpp::COEFFICIENTS.len() == refit.len(),
        "src/estimate/speed/llamacpp.rs COEFFICIENTS are stale:\n{}\nrefit:\n{text}",
        stale.join("\n")
    );
}

/// Leave one GPU out: fit without it, predict its rows.
fn llamacpp_leave_one_out(rows: &[Row]) -> Vec<(f64, Row)> {
    let gpus: std::collections::BTreeSet<_> = rows.iter().map(|r| r.gpu.clone()).collect();
    let mut out = Vec::new();
    for g in &gpus {
        let table = speed::fit_llamacpp(rows, |r| &r.gpu != g);
        for r in rows.iter().filter(|r| &r.gpu == g) {
            let rate = r.predicted_rate(&|c| llamacpp::lookup(&table, c));
            out.push((r.published_rate / rate, r.clone()));
        }
    }
    out
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Bands from measured/predicted ratios: per engine phase, and per class with enough rows.
fn bands(ratios: &[(f64, Row)]) -> Vec<Band> {
    let mut out = Vec::new();
    let mut phases: Vec<Phase> = ratios.iter().map(|(_, r)| r.phase).collect();
    phases.sort_by_key(|p| format!("{p:?}"));
    phases.dedup();
    for phase in phases {
        let of = |keep: &dyn Fn(&Row) -> bool| {
            let mut v: Vec<f64> = ratios
                .iter()
                .filter(|(_, r)| r.phase == phase && keep(r))
                .map(|(x, _)| *x)
                .collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let all = of(&|_| true);
        out.push(Band {
            phase,
            basis: Basis::Engine,
            low: round4(percentile(&all, 0.1)),
            high: round4(percentile(&all, 0.9)),
            rows: all.len() as u32,
        });
        for class in GpuClass::ALL {
            let v = of(&|r| r.class == class);
            let gpus: std::collections::BTreeSet<_> = ratios
                .iter()
                .filter(|(_, r)| r.phase == phase && r.class == class)
                .map(|(_, r)| r.gpu.clone())
                .collect();
            if v.len() as u32 >= MIN_CLASS_ROWS && gpus.len() >= 2 {
                out.push(Band {
                    phase,
                    basis: Basis::Class(class),
                    low: round4(percentile(&v, 0.1)),
                    high: round4(percentile(&v, 0.9)),
                    rows: v.len() as u32,
                });
            }
        }
    }
    out
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

#[test]
fn leave_one_gpu_out_and_bands() {
    let rows = speed::llamacpp_rows();
    let loo = llamacpp_leave_one_out(&rows);
    for phase in [Phase::LlamaCppDecode, Phase::LlamaCppPrefill] {
        let errs: Vec<f64> = loo
            .iter()
            .filter(|(_, r)| r.phase == phase)
            .map(|(x, _)| (1.0 / x - 1.0).abs())
            .collect();
        println!(
            "{phase:?} leave-one-GPU-out: {} rows, median |error| {:.1} %",
            errs.len(),
            median(errs.clone()) * 100.0
        );
    }
    let fresh = bands(&loo);
    let text = speed::bands_table(&fresh);
    if bless() {
        println!("{text}");
        return;
    }
    let llama: Vec<&Band> = BANDS
        .iter()
        .filter(|b| matches!(b.phase, Phase::LlamaCppDecode | Phase::LlamaCppPrefill))
        .collect();
    assert!(
        llama.len() == fresh.len()
            && fresh.iter().all(|f| llama.iter().any(|b| b.phase == f.phase
                && b.basis == f.basis
                && b.rows == f.rows
                && (b.low - f.low).abs() < 0.002
                && (b.high - f.high).abs() < 0.002)),
        "src/estimate/speed/band.rs BANDS are stale; recomputed:\n{text}"
    );
}

#[test]
fn readme_table_is_generated_from_the_rows() {
    let rows = speed::llamacpp_rows();
    let loo = llamacpp_leave_one_out(&rows);
    let md = speed::readme_table(&rows, &loo);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = ("<!-- speed:begin -->\n", "\n<!-- speed:end -->");
    let start = readme.find(begin).expect("speed:begin marker") + begin.len();
    let stop = readme.find(end).expect("speed:end marker");
    if bless() {
        let updated = format!("{}{}{}", &readme[..start], md.trim(), &readme[stop..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        readme[start..stop].trim(),
        md.trim(),
        "README.md's speed table is stale: run `GPUPLAN_BLESS=1 cargo test --test field_speed`"
    );
}
