//! `validate --engine llama.cpp` without llama.cpp: faults become records (no probe, a model gpuplan
//! cannot write as GGUF), and records are never overwritten. The runs with the real llama.cpp are
//! scripts/llamacpp-check.sh's; their committed records are re-checked in tests/llamacpp_records.rs.

use gpuplan::estimate::arch::check_declared;
use gpuplan::measure::llamacpp::{self, RunSettings};
use gpuplan::measure::write_records;
use gpuplan::spec::{Catalog, Format};
use std::time::Duration;

fn options(models: &[&str], dir: &std::path::Path) -> llamacpp::Options {
    let catalog = Catalog::embedded(check_declared).unwrap();
    llamacpp::Options {
        models: models
            .iter()
            .map(|m| catalog.model(m, check_declared).unwrap())
            .collect(),
        precision: Format::parse("q4_k_m"),
        settings: vec![RunSettings::default(), "ctx=8k,fa=off".parse().unwrap()],
        gguf: None,
        probe: Some(dir.join("no-such-probe")),
        work_dir: Some(dir.to_path_buf()),
        keep_gguf: false,
        bench: false,
        registered: None,
        timeout: Duration::from_secs(5),
        log: |_| {},
    }
}

#[test]
fn faults_are_records_that_say_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::embedded(check_declared).unwrap();
    let recs = llamacpp::validate(&options(&["llama-3.2-3b", "gemma-2-2b"], dir.path()), &catalog).unwrap();
    assert_eq!(recs.len(), 4, "one record per model and setting");
    let (llama, gemma) = recs.split_at(2);
    for r in llama {
        assert_eq!(r.outcome.status, "error");
        assert_eq!(r.outcome.step.as_deref(), Some("probe"));
        assert!(r
            .outcome
            .message
            .as_deref()
            .unwrap()
            .contains("scripts/llamacpp-build.sh"));
        assert_eq!(r.runtime.as_str(), "llama.cpp");
        assert!(r.measured.engine.is_none());
        assert!(r
            .engine
            .as_ref()
            .unwrap()
            .command
            .starts_with("llama-server -m llama-3.2-3b-q4_k_m.gguf -c"));
    }
    assert_eq!(
        llama[1].name,
        "llamacpp-cpu-llama-3.2-3b_q4_k_m_ctx8192_ub512_np1_faoff"
    );
    for r in gemma {
        assert_eq!(r.outcome.step.as_deref(), Some("synth"));
        assert!(
            r.outcome.message.as_deref().unwrap().contains("gemma2"),
            "{:?}",
            r.outcome
        );
    }
    // the synthetic file is gone
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn records_are_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::embedded(check_declared).unwrap();
    let mut opts = options(&["llama-3.2-3b"], dir.path());
    opts.settings.truncate(1);
    let recs = llamacpp::validate(&opts, &catalog).unwrap();
    let out = dir.path().join("records");
    let first = write_records(&recs, Some(&out)).unwrap();
    let second = write_records(&recs, Some(&out)).unwrap();
    let name = &recs[0].name;
    assert_eq!(first, [out.join(format!("{name}.json"))]);
    assert_eq!(second, [out.join(format!("{name}-2.json"))]);
    let again: gpuplan::measure::record::Record =
        serde_json::from_str(&std::fs::read_to_string(&second[0]).unwrap()).unwrap();
    assert_eq!(again.name, format!("{name}-2"), "the record names its own file");
}
