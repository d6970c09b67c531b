//! Bad specs get a clear error naming file, line and field; never a panic.

use gpuplan::estimate::arch::check_declared;
use gpuplan::spec::{Catalog, GpuSpec};
use std::path::Path;

const MINI: &str = include_str!("../models/phi-3.5-mini.yaml");
const GPU: &str = include_str!("../gpus/h100-sxm.yaml");

fn model_err(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, text).unwrap();
    let c = Catalog::embedded(check_declared).unwrap();
    match c.model(path.to_str().unwrap(), check_declared) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string().replace(&path.display().to_string(), "bad.yaml"),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle in text")
}

#[test]
fn unknown_field_names_line_and_field() {
    let text = MINI.replace("  vocab_size: 32064", "  vocab_size: 32064\n  vocab_sise: 1");
    let e = model_err(&text);
    assert!(
        e.starts_with(&format!("bad.yaml:{}", line_of(&text, "vocab_sise"))),
        "{e}"
    );
    assert!(e.contains("unknown field `vocab_sise`"), "{e}");
}

#[test]
fn missing_field_is_named() {
    let text = MINI.replace("  hidden_size: 3072\n", "");
    let e = model_err(&text);
    assert!(e.contains("missing field `hidden_size`"), "{e}");
}

#[test]
fn zero_sizes_are_rejected_with_their_line() {
    let text = MINI.replace("  layers: 32", "  layers: 0");
    let e = model_err(&text);
    assert_eq!(
        e,
        format!(
            "bad.yaml:{}: field `architecture.layers`: must be positive",
            line_of(&text, "layers: 0")
        )
    );
}

#[test]
fn negative_sizes_are_a_type_error() {
    let e = model_err(&MINI.replace("max_context: 131072", "max_context: -5"));
    assert!(e.starts_with("bad.yaml:"), "{e}");
    assert!(e.contains("max_context") || e.contains("invalid value"), "{e}");
}

#[test]
fn heads_that_do_not_divide_hidden_need_head_dim() {
    let text = MINI
        .replace("  attention_heads: 32", "  attention_heads: 7")
        .replace("  kv_heads: 32", "  kv_heads: 7");
    let e = model_err(&text);
    assert!(
        e.contains("field `architecture.head_dim`") && e.contains("does not divide"),
        "{e}"
    );
    assert!(e.starts_with("bad.yaml:"), "{e}");
}

#[test]
fn kv_heads_must_divide_heads() {
    let e = model_err(&MINI.replace("  kv_heads: 32", "  kv_heads: 5"));
    assert!(e.contains("field `architecture.kv_heads`"), "{e}");
}

#[test]
fn active_above_total_is_rejected() {
    let text = MINI.replace("active_parameters: 3821079552", "active_parameters: 4000000000");
    let e = model_err(&text);
    assert!(
        e.contains(&format!(
            ":{}: field `active_parameters`",
            line_of(&text, "active_parameters")
        )),
        "{e}"
    );
    assert!(e.contains("exceed"), "{e}");
}

#[test]
fn declared_parameters_must_match_the_architecture() {
    let text = MINI.replace("3821079552", "3800000000");
    let e = model_err(&text);
    assert!(
        e.contains(&format!(
            ":{}: field `parameters`",
            line_of(&text, "parameters: 3800000000")
        )),
        "{e}"
    );
    assert!(
        e.contains("declared 3800000000 but the architecture has 3821079552"),
        "{e}"
    );
}

#[test]
fn moe_top_k_above_experts_is_rejected() {
    let moe = include_str!("../models/phi-3.5-moe.yaml").replace("experts_per_token: 2", "experts_per_token: 17");
    let e = model_err(&moe);
    assert!(e.contains("field `architecture.moe.experts_per_token`"), "{e}");
}

#[test]
fn summary_spec_needs_parameters_and_a_kv_shape() {
    let ok = "id: tiny\nname: Tiny\nmax_context: 4096\nparameters: 1000000000\nkv_cache:\n  layers: 16\n  kv_heads: 8\n  head_dim: 64\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.yaml");
    std::fs::write(&path, ok).unwrap();
    let c = Catalog::embedded(check_declared).unwrap();
    assert!(c.model(path.to_str().unwrap(), check_declared).is_ok());
    let e = model_err(&ok.replace("parameters: 1000000000\n", ""));
    assert!(e.contains("field `parameters`"), "{e}");
    let e = model_err(&ok.replace("  head_dim: 64\n", ""));
    assert!(e.contains("field `kv_cache.layers`"), "{e}");
}

#[test]
fn gpu_errors_name_the_field() {
    let text = GPU.replace("  reported_mib: 81559", "  reported_mib: 0");
    let e = GpuSpec::from_yaml(Path::new("g.yaml"), &text).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "g.yaml:{}: field `memory.reported_mib`: must be positive",
            line_of(&text, "reported_mib: 0")
        )
    );
    let e = GpuSpec::from_yaml(
        Path::new("g.yaml"),
        &GPU.replace("bandwidth_gbps: 3350", "bandwidth_gbps: -1"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("field `bandwidth_gbps`"), "{e}");
    let e = GpuSpec::from_yaml(Path::new("g.yaml"), "id: x\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("g.yaml") && e.contains("missing field"), "{e}");
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "[",
        "id: [",
        "\u{0}\u{1}",
        "- - - -",
        "id: x\nname: y\nmax_context: 99999999999999999999999",
    ] {
        let _ = model_err(text);
        let _ = GpuSpec::from_yaml(Path::new("g.yaml"), text);
    }
}
