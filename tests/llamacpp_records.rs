//! The committed llama.cpp records (`validation/records/llamacpp-cpu-*.json`, written by
//! `scripts/llamacpp-check.sh --save`: the real llama.cpp on synthetic full-size GGUF files) against
//! today's estimator, buffer by buffer: model, KV and output buffers equal to the printed 0.01 MiB,
//! compute buffers within 5%. The matrix of issue 10 must be there: Phi-3.5 Mini Q4_K_M, Q8_0 and
//! F16, Phi-3.5 MoE Q4_K_M and Llama 3.2 3B; contexts 4K and 32K, ubatch 512 and 2048, flash
//! attention on and off, 1 and 4 slots.

use gpuplan::estimate::arch::check_declared;
use gpuplan::measure::llamacpp::check::{Summary, Verdict};
use gpuplan::measure::llamacpp::FlashAttn;
use gpuplan::measure::predictions::{Campaign, Fits};
use gpuplan::measure::record::{BufferKind, Record};
use gpuplan::measure::records;
use gpuplan::spec::gpu::MIB;
use gpuplan::spec::Catalog;
use std::collections::BTreeSet;
use std::path::Path;

fn llamacpp_records() -> Vec<Record> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("validation/records");
    records::load_dir(&dir)
        .unwrap()
        .into_iter()
        .filter(|r| r.engine.is_some())
        .collect()
}

#[test]
fn the_matrix_of_issue_10_is_committed() {
    let recs = llamacpp_records();
    assert!(recs.len() >= 15, "{} llama.cpp records", recs.len());
    let runs: BTreeSet<(String, String)> = recs.iter().map(|r| (r.model.clone(), r.precision.clone())).collect();
    for (m, p) in [
        ("phi-3.5-mini", "q4_k_m"),
        ("phi-3.5-mini", "q8_0"),
        ("phi-3.5-mini", "fp16"),
        ("phi-3.5-moe", "q4_k_m"),
        ("llama-3.2-3b", "q4_k_m"),
    ] {
        assert!(runs.contains(&(m.into(), p.into())), "{m} {p}");
    }
    let settings: Vec<_> = recs
        .iter()
        .map(|r| r.engine.as_ref().unwrap().settings.clone())
        .collect();
    let has = |f: &dyn Fn(&gpuplan::measure::llamacpp::RunSettings) -> bool| settings.iter().any(f);
    assert!(has(&|s| s.ctx_size == 4096) && has(&|s| s.ctx_size == 32768));
    assert!(has(&|s| s.ubatch_size == 512) && has(&|s| s.ubatch_size == 2048));
    assert!(has(&|s| s.flash_attn == FlashAttn::On) && has(&|s| s.flash_attn == FlashAttn::Off));
    assert!(has(&|s| s.parallel == 1) && has(&|s| s.parallel == 4));
    for r in &recs {
        assert_eq!(r.outcome.status, "ran", "{}", r.name);
        assert_eq!(r.runtime, gpuplan::estimate::EngineId::LlamaCpp);
    }
}

/// Issue 12's CI check: real splits over a second device (the probe's RPC server on the CPU) with
/// `-ngl` and `--n-cpu-moe`, each buffer held per device.
#[test]
fn the_splits_of_issue_12_are_committed() {
    let recs = llamacpp_records();
    let split: Vec<&Record> = recs
        .iter()
        .filter(|r| r.engine.as_ref().unwrap().settings.rpc > 0)
        .collect();
    let s = |r: &Record| r.engine.as_ref().unwrap().settings.clone();
    assert!(split.iter().any(|r| s(r).n_gpu_layers == 1), "the output layer alone");
    assert!(
        split.iter().any(|r| (2..28).contains(&s(r).n_gpu_layers)),
        "some blocks"
    );
    assert!(split.iter().any(|r| s(r).n_cpu_moe > 0 && s(r).n_gpu_layers == 99));
    assert!(split.iter().any(|r| s(r).n_cpu_moe > 0 && s(r).n_gpu_layers < 32));
    // a dense model's feed-forward on the CPU, attention on the device
    assert!(split.iter().any(|r| s(r).n_cpu_ffn > 0));
    // a 2025 MoE (Qwen3's: q/k norms, 128 narrow experts) split as people run it at home
    assert!(split.iter().any(|r| r.model == "qwen3-30b-a3b" && s(r).n_cpu_moe > 0));
    for r in &split {
        let e = &r.measured.engine.as_ref().unwrap().figures;
        // both devices hold model buffers, and the device's lines are the RPC server's
        assert!(
            e.model_buffer_bytes.unwrap() > 0 && e.host_model_buffer_bytes.unwrap() > 0,
            "{}",
            r.name
        );
        let lines = &r.measured.engine.as_ref().unwrap().buffers;
        assert!(lines.iter().any(|b| b.device.starts_with("RPC0[")), "{}", r.name);
    }
    // two devices, each held on its own, pipeline parallelism among them
    let two: Vec<&&Record> = split.iter().filter(|r| s(r).rpc == 2).collect();
    assert!(two.iter().any(|r| s(r).n_gpu_layers == 99 && s(r).n_cpu_moe == 0));
    for r in &two {
        let e = &r.measured.engine.as_ref().unwrap().figures;
        assert_eq!(e.devices.len(), 2, "{}", r.name);
        assert!(e.devices.iter().all(|d| d.model_buffer_bytes > 0), "{}", r.name);
    }
    // a split with layers on the CPU has KV on both
    assert!(split.iter().any(|r| {
        let e = &r.measured.engine.as_ref().unwrap().figures;
        e.kv_buffer_bytes.unwrap() > 0 && e.host_kv_buffer_bytes.unwrap() > 0
    }));
}

/// The figures are the printed lines: a record edited by hand would not add up.
#[test]
fn the_figures_are_what_llama_cpp_printed() {
    for r in llamacpp_records() {
        let e = r.measured.engine.as_ref().expect("printed buffers");
        let host_model: f64 = e
            .buffers
            .iter()
            .filter(|b| b.kind == BufferKind::Model && b.device.starts_with("CPU"))
            .map(|b| b.mib)
            .sum();
        let printed = e.figures.host_model_buffer_bytes.unwrap() as f64 / MIB as f64;
        assert!(
            (host_model - printed).abs() < 0.006,
            "{}: {host_model} vs {printed}",
            r.name
        );
        for b in &e.buffers {
            assert!(
                b.line.contains(&format!("{:.2}", b.mib)) || b.line.contains(&format!("{:.4}", b.mib)),
                "{}: {}",
                r.name,
                b.line
            );
        }
    }
}

#[test]
fn committed_llamacpp_records_hold_against_todays_estimator() {
    let catalog = Catalog::embedded(check_declared).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fits = Fits::beside(&root.join("validation/records")).unwrap();
    let rows = records::check(&llamacpp_records(), &catalog, &fits).unwrap();
    let summary = Summary::of(&rows);
    println!("{}", summary.line());
    assert!(summary.failures.is_empty(), "{}", summary.failures.join("\n"));
    assert!(summary.not_run.is_empty(), "{}", summary.not_run.join("\n"));
    // every term of every run is predicted, the compute buffers of Phi-3.5-MoE (phimoe.cpp) too
    for r in &rows {
        for t in &r.terms {
            assert_ne!(t.verdict, Verdict::NotPredicted, "{}: {}", r.name, t.describe());
        }
    }
}

/// Every committed run answers a prediction registered before it (validation/predictions/), and
/// carries that prediction as the file has it.
#[test]
fn registered_predictions_are_the_committed_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for r in llamacpp_records() {
        let reg = r
            .prediction
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no registered prediction", r.name));
        assert_eq!(reg.id, r.name);
        let c = Campaign::load(&root.join(&reg.file)).unwrap();
        let entry = c
            .registered_for(&reg.id)
            .unwrap_or_else(|| panic!("{}: no entry {}", r.name, reg.id));
        assert_eq!(entry.predicted, reg.predicted, "{}", r.name);
        assert_eq!(entry.commit, reg.commit, "{}", r.name);
    }
}
