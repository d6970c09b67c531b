//! Every published benchmark row in validation/field/ (kinds `llamacpp_bench`, `vllm_bench`)
//! re-checked against today's speed estimator (issue 14):
//! - llama.cpp: decode median error within 10 %, prefill within 15 %; vLLM: TPOT within 10 % at
//!   concurrency 1-16; the worst case is printed;
//! - the coefficients committed in src/estimate/speed/ equal a refit on these rows (relative least
//!   squares, Huber-weighted), and the error bands equal the leave-one-GPU-out residuals (in-sample
//!   where the rows come from one GPU);
//! - the README's "Checked against published benchmarks" tables are generated from the same rows.
//!
//! `GPUPLAN_BLESS=1 cargo test --test field_speed` prints the refitted tables and rewrites the README
//! tables instead of failing on them.

mod common;

use common::speed::{self, Key, Ratio, Row};
use gpuplan::estimate::speed::band::{Band, Basis, Phase, BANDS, MIN_CLASS_ROWS};
use gpuplan::estimate::speed::GpuClass;
use gpuplan::estimate::speed::{llamacpp, vllm};
use std::collections::BTreeSet;

fn bless() -> bool {
    std::env::var("GPUPLAN_BLESS").is_ok_and(|v| v == "1")
}

fn ratio<K: Key>(r: &Row<K>, rate: f64) -> Ratio {
    Ratio {
        ratio: r.published_rate / rate,
        phase: r.phase,
        class: r.class,
        gpu: r.gpu.clone(),
        file: r.file.clone(),
        test: r.test.clone(),
        concurrency: r.concurrency,
        fitted: r.fitted,
    }
}

/// Checks the median |error| of `phase` against `target` and prints it with the worst row.
fn check(ratios: &[Ratio], phase: Phase, target: f64, what: &str) {
    let spread = speed::error_spread(ratios, phase);
    let (n, med) = (spread.rows, spread.median);
    let worst = ratios
        .iter()
        .filter(|r| r.phase == phase)
        .max_by(|a, b| {
            speed::error(phase, a.ratio)
                .abs()
                .total_cmp(&speed::error(phase, b.ratio).abs())
        })
        .expect("rows");
    println!(
        "{phase:?} ({what}): {n} rows, median |error| {:.1} %, worst {:+.1} % ({} {} {})",
        med * 100.0,
        speed::error(phase, worst.ratio) * 100.0,
        worst.file,
        worst.gpu,
        worst.test
    );
    assert!(
        med <= target,
        "{phase:?} ({what}): median |error| {:.1} % > {:.0} %",
        med * 100.0,
        target * 100.0
    );
}

#[test]
fn llamacpp_rows_meet_the_targets() {
    let rows = speed::llamacpp_rows();
    assert!(rows.len() >= 60, "at least 60 llama.cpp rows ({})", rows.len());
    let gpus: BTreeSet<_> = rows.iter().map(|r| r.gpu.clone()).collect();
    assert!(gpus.len() >= 9, "rows over at least 9 catalog GPUs ({gpus:?})");
    let ratios: Vec<Ratio> = rows
        .iter()
        .map(|r| ratio(r, r.predicted_rate(&llamacpp::coefficient)))
        .collect();
    check(&ratios, Phase::LlamaCppDecode, 0.10, "committed coefficients");
    check(&ratios, Phase::LlamaCppPrefill, 0.15, "committed coefficients");
}

#[test]
fn vllm_rows_meet_the_targets() {
    let rows = speed::vllm_rows();
    assert!(!rows.is_empty(), "vLLM rows on catalog GPUs");
    let ratios: Vec<Ratio> = rows
        .iter()
        .filter(|r| (1..=16).contains(&r.concurrency))
        .map(|r| ratio(r, r.predicted_rate(&vllm::coefficient)))
        .collect();
    check(&ratios, Phase::VllmDecode, 0.10, "concurrency 1-16");
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
    let fresh = refit.iter().all(|f| {
        llamacpp::COEFFICIENTS.iter().any(|c| {
            c.coef == f.coef && (c.value - f.value).abs() <= 0.01 * f.value.abs().max(1e-12) && c.rows == f.rows
        })
    });
    assert!(
        fresh && llamacpp::COEFFICIENTS.len() == refit.len(),
        "src/estimate/speed/llamacpp.rs COEFFICIENTS are stale; refit:\n{text}"
    );
}

#[test]
fn vllm_coefficients_equal_the_refit() {
    let rows = speed::vllm_rows();
    let refit = speed::fit_vllm(&rows, |_| true);
    let text = speed::vllm_rust_table(&refit);
    if bless() {
        println!("{text}");
        return;
    }
    let fresh = refit.iter().all(|f| {
        vllm::COEFFICIENTS.iter().any(|c| {
            c.coef == f.coef && (c.value - f.value).abs() <= 0.01 * f.value.abs().max(1e-12) && c.rows == f.rows
        })
    });
    assert!(
        fresh && vllm::COEFFICIENTS.len() == refit.len(),
        "src/estimate/speed/vllm.rs COEFFICIENTS are stale; refit:\n{text}"
    );
}

/// Leave one GPU out: fit without it, predict its rows.
fn llamacpp_leave_one_out(rows: &[Row]) -> Vec<Ratio> {
    let gpus: BTreeSet<_> = rows.iter().map(|r| r.gpu.clone()).collect();
    let mut out = Vec::new();
    for g in &gpus {
        let table = speed::fit_llamacpp(rows, |r| &r.gpu != g);
        for r in rows.iter().filter(|r| &r.gpu == g) {
            out.push(ratio(r, r.predicted_rate(&|c| llamacpp::lookup(&table, c))));
        }
    }
    out
}

/// vLLM's ratios: leave one GPU out when the rows come from two GPUs or more (true), else the
/// in-sample ratios of the committed fit (false).
fn vllm_held_out(rows: &[Row<vllm::Coef>]) -> (Vec<Ratio>, bool) {
    let gpus: BTreeSet<_> = rows.iter().map(|r| r.gpu.clone()).collect();
    if gpus.len() < 2 {
        let ratios = rows
            .iter()
            .map(|r| ratio(r, r.predicted_rate(&vllm::coefficient)))
            .collect();
        return (ratios, false);
    }
    let mut out = Vec::new();
    for g in &gpus {
        let table = speed::fit_vllm(rows, |r| &r.gpu != g);
        for r in rows.iter().filter(|r| &r.gpu == g) {
            out.push(ratio(r, r.predicted_rate(&|c| vllm::lookup(&table, c))));
        }
    }
    (out, true)
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// Bands from measured/predicted ratios: per engine phase, and per class with enough rows from two
/// GPUs.
fn bands(ratios: &[Ratio], held_out: bool) -> Vec<Band> {
    let mut out = Vec::new();
    let phases: BTreeSet<Phase> = ratios.iter().map(|r| r.phase).collect();
    for phase in phases {
        let band = |basis: Basis, keep: &dyn Fn(&Ratio) -> bool| {
            let picked: Vec<&Ratio> = ratios
                .iter()
                .filter(|r| r.phase == phase && r.fitted && keep(r))
                .collect();
            let mut v: Vec<f64> = picked.iter().map(|r| r.ratio).collect();
            v.sort_by(f64::total_cmp);
            let gpus: BTreeSet<&str> = picked.iter().map(|r| r.gpu.as_str()).collect();
            let (low, high) = if v.is_empty() {
                (f64::NAN, f64::NAN)
            } else {
                (round4(speed::percentile(&v, 0.1)), round4(speed::percentile(&v, 0.9)))
            };
            Band {
                phase,
                basis,
                low,
                high,
                rows: v.len() as u32,
                gpus: gpus.len() as u32,
                held_out,
            }
        };
        out.push(band(Basis::Engine, &|_| true));
        for class in GpuClass::ALL {
            let b = band(Basis::Class(class), &|r| r.class == class);
            if b.rows >= MIN_CLASS_ROWS && b.gpus >= 2 {
                out.push(b);
            }
        }
    }
    out
}

fn all_bands() -> (Vec<Band>, Vec<Ratio>, Vec<Ratio>, bool) {
    let llama = speed::llamacpp_rows();
    let loo = llamacpp_leave_one_out(&llama);
    let (vllm_ratios, held_out) = vllm_held_out(&speed::vllm_rows());
    let mut all = bands(&loo, true);
    all.extend(bands(&vllm_ratios, held_out));
    (all, loo, vllm_ratios, held_out)
}

#[test]
fn leave_one_gpu_out_and_bands() {
    let (fresh, loo, vllm_ratios, held_out) = all_bands();
    let in_sample = |phase: Phase| -> Vec<Ratio> {
        match phase {
            Phase::VllmDecode => speed::vllm_rows()
                .iter()
                .map(|r| ratio(r, r.predicted_rate(&vllm::coefficient)))
                .collect(),
            _ => speed::llamacpp_rows()
                .iter()
                .map(|r| ratio(r, r.predicted_rate(&llamacpp::coefficient)))
                .collect(),
        }
    };
    for (phase, held, what) in [
        (Phase::LlamaCppDecode, &loo, "leave-one-GPU-out"),
        (Phase::LlamaCppPrefill, &loo, "leave-one-GPU-out"),
        (
            Phase::VllmDecode,
            &vllm_ratios,
            if held_out {
                "leave-one-GPU-out"
            } else {
                "in-sample again (rows from one GPU)"
            },
        ),
    ] {
        for (rows, keep) in [("all rows", false), ("fitted rows", true)] {
            let kept =
                |ratios: &[Ratio]| -> Vec<Ratio> { ratios.iter().filter(|r| r.fitted || !keep).cloned().collect() };
            let fit = speed::error_spread(&kept(&in_sample(phase)), phase);
            let out = speed::error_spread(&kept(held), phase);
            println!(
                "{phase:?}, {rows}: {} rows, |error| in-sample median {:.1} % p90 {:.1} %; {what} median {:.1} % p90 {:.1} %",
                fit.rows,
                fit.median * 100.0,
                fit.p90 * 100.0,
                out.median * 100.0,
                out.p90 * 100.0
            );
        }
    }
    // vLLM per concurrency bucket (issue 14: TPOT at concurrency 1-16, 64 reported)
    let vllm_in = in_sample(Phase::VllmDecode);
    for (low, high) in [(1, 1), (2, 4), (5, 16), (17, 64)] {
        let bucket = |ratios: &[Ratio]| -> Vec<Ratio> {
            ratios
                .iter()
                .filter(|r| (low..=high).contains(&r.concurrency))
                .cloned()
                .collect()
        };
        let (fit, out) = (
            speed::error_spread(&bucket(&vllm_in), Phase::VllmDecode),
            speed::error_spread(&bucket(&vllm_ratios), Phase::VllmDecode),
        );
        println!(
            "VllmDecode, concurrency {low}-{high}: {} rows, |error| in-sample median {:.1} % p90 {:.1} %; leave-one-GPU-out median {:.1} % p90 {:.1} %",
            fit.rows,
            fit.median * 100.0,
            fit.p90 * 100.0,
            out.median * 100.0,
            out.p90 * 100.0
        );
    }
    let text = speed::bands_table(&fresh);
    if bless() {
        println!("{text}");
        return;
    }
    let same = |a: &Band, b: &Band| {
        a.phase == b.phase
            && a.basis == b.basis
            && a.rows == b.rows
            && a.gpus == b.gpus
            && a.held_out == b.held_out
            && (a.low - b.low).abs() < 0.002
            && (a.high - b.high).abs() < 0.002
    };
    assert!(
        BANDS.len() == fresh.len() && fresh.iter().all(|f| BANDS.iter().any(|b| same(b, f))),
        "src/estimate/speed/band.rs BANDS are stale; recomputed:\n{text}"
    );
}

#[test]
fn readme_tables_are_generated_from_the_rows() {
    let (_, loo, vllm_ratios, held_out) = all_bands();
    let md = speed::readme_table(
        &speed::llamacpp_rows(),
        &loo,
        &speed::vllm_rows(),
        &vllm_ratios,
        held_out,
    );
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
        "README.md's speed tables are stale: run `GPUPLAN_BLESS=1 cargo test --test field_speed`"
    );
}
