//! The error bands printed beside memory and speed figures: a calibrated profile's bands are the
//! spread of its committed validation records (re-predicted by today's estimator), rounded outward to
//! 0.1%; this test recomputes them and fails, printing the new values, when records or the estimator
//! move them.

use gpuplan::estimate::arch::check_declared;
use gpuplan::measure::records::{check, load_dir};
use gpuplan::plan::evidence::{BandBasis, RECORD_BANDS, STATED_BANDS};
use gpuplan::spec::Catalog;

/// (count, min, max) of measured / predicted - 1.
fn spread(pairs: impl Iterator<Item = (Option<f64>, Option<f64>)>) -> (u32, f64, f64) {
    let errors: Vec<f64> = pairs.filter_map(|(p, m)| Some(m? / p? - 1.0)).collect();
    let min = errors.iter().copied().fold(f64::INFINITY, f64::min);
    let max = errors.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (errors.len() as u32, min, max)
}

#[test]
fn calibrated_bands_are_the_records_spread() {
    let root = env!("CARGO_MANIFEST_DIR");
    let catalog = Catalog::embedded(check_declared).unwrap();
    let dir = std::path::Path::new(root).join("validation/records");
    let records = load_dir(&dir).unwrap();
    let fits = gpuplan::measure::predictions::Fits::beside(&dir).unwrap();
    // the candle profile's own records (not llama.cpp's, nor the CPU profile's)
    let candle: Vec<&str> = records
        .iter()
        .filter(|r| r.runtime == gpuplan::estimate::EngineId::Candle)
        .map(|r| r.name.as_str())
        .collect();
    let checked: Vec<_> = check(&records, &catalog, &fits)
        .unwrap()
        .into_iter()
        .filter(|c| candle.contains(&c.name.as_str()))
        .collect();
    let (_, candle) = RECORD_BANDS
        .iter()
        .find(|(id, _)| *id == gpuplan::estimate::EngineId::Candle)
        .unwrap();
    let memory = spread(checked.iter().map(|c| {
        (
            Some(c.predicted_total_bytes as f64),
            c.measured_peak_bytes.map(|b| b as f64),
        )
    }));
    let decode = spread(
        checked
            .iter()
            .map(|c| (c.predicted_decode_tokens_per_s, c.measured_decode_tokens_per_s)),
    );
    let prefill = spread(
        checked
            .iter()
            .map(|c| (c.predicted_prefill_tokens_per_s, c.measured_prefill_tokens_per_s)),
    );
    for (name, band, (n, min, max)) in [
        ("memory", candle.memory, memory),
        ("decode", candle.decode, decode),
        ("prefill", candle.prefill, prefill),
    ] {
        // rounded outward to 0.1%
        let low = (min * 1000.0).floor() / 1000.0;
        let high = (max * 1000.0).ceil() / 1000.0;
        assert_eq!(band.basis, BandBasis::Records { records: n }, "{name}: record count");
        assert!(
            (band.low - low).abs() < 1e-9 && (band.high - high).abs() < 1e-9,
            "{name}: the records give {low}..{high} (measured/predicted - 1 over {n} records), the band says {}..{}: update RECORD_BANDS in src/plan/evidence.rs",
            band.low,
            band.high
        );
        // a stated band is wider than any calibrated one
        let stated = match name {
            "memory" => STATED_BANDS.memory,
            "decode" => STATED_BANDS.decode,
            _ => STATED_BANDS.prefill,
        };
        assert!(stated.low < band.low && stated.high > band.high, "{name}");
    }
}

#[test]
fn every_fit_prints_its_bands() {
    let gpuplan = env!("CARGO_BIN_EXE_gpuplan");
    for (runtime, words) in [("candle", "-5.7%..+5.7%"), ("vllm", "-15%..+15%")] {
        let o = std::process::Command::new(gpuplan)
            .args(["fit", "phi-3.5-mini", "--gpu", "h100", "--runtime", runtime])
            .output()
            .unwrap();
        let out = String::from_utf8(o.stdout).unwrap();
        let decode = out.lines().find(|l| l.trim_start().starts_with("decode")).unwrap();
        assert!(decode.contains(" tok/s aggregate ("), "{decode}");
        let total = out.lines().find(|l| l.contains("│ total")).unwrap();
        assert!(total.contains(words), "{runtime}: {total}");
        assert!(out.contains("error bands: memory"), "{out}");
    }
}
