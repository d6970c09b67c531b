//! Entry points the cargo-fuzz targets (fuzz/) and the corpus replay test (tests/fuzz_corpus.rs)
//! call with arbitrary bytes. Each runs one input parser the way gpuplan runs it, plus what it does
//! right after with the result. Any panic is a bug; errors are the expected outcome for most inputs.
//!
//! Invariants checked here (they panic when broken, which the fuzzer reports):
//! - an imported spec serializes to YAML that loads back to the same spec;
//! - an import that succeeds derives a finite parameter count and KV size without overflow.

use super::{gguf, hf_config, safetensors};
use crate::estimate::{arch, kv};
use crate::spec::{GpuSpec, KvPrecision, ModelSpec};
use std::io::Cursor;
use std::path::Path;

/// Model spec YAML: parse, validate, then the catalog's declared-vs-derived check and the KV size.
pub fn model_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(spec) = ModelSpec::from_yaml(Path::new("fuzz/model.yaml"), text) {
        let _ = arch::check_declared(&spec);
        let _ = kv::per_token(&spec, KvPrecision::F16, 1);
        let _ = kv::per_token(&spec, KvPrecision::Q4_0, 8);
    }
}

/// GPU spec YAML.
pub fn gpu_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = GpuSpec::from_yaml(Path::new("fuzz/gpu.yaml"), text);
}

/// config.json: parse, then the same checks and round trip an import does.
pub fn hf_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("fuzz/config.json");
    if let Ok(p) = hf_config::parse(path, text) {
        if let Ok(imp) = super::finish(path, super::SourceKind::Config, p.spec, p.notes, None, p.warnings) {
            check_round_trip(&imp);
        }
    }
}

/// One safetensors file: the header reader on the bytes as a whole file.
pub fn safetensors_header(data: &[u8]) {
    let path = Path::new("fuzz/model.safetensors");
    if let Ok(h) = safetensors::read_header(path, Cursor::new(data), data.len() as u64) {
        let sum: u64 = h.tensors.iter().map(|t| t.3).sum();
        assert_eq!(
            sum, h.data_len,
            "tensor bytes must add up to the data the header describes"
        );
        assert_eq!(8 + h.json_len + h.data_len, data.len() as u64);
    }
    // the index parser sees the same bytes as JSON
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = safetensors::parse_index(Path::new("fuzz/model.safetensors.index.json"), text);
    }
}

/// One GGUF file: header reader, then the spec built from it.
pub fn gguf_header(data: &[u8]) {
    let path = Path::new("fuzz/model.gguf");
    if let Ok(g) = gguf::read(path, Cursor::new(data), data.len() as u64) {
        for t in &g.tensors {
            assert!(
                g.data_start + t.offset + t.bytes <= data.len() as u64,
                "tensor inside the file"
            );
        }
        if let Ok(f) = gguf::to_spec(path, &g) {
            if let Ok(imp) = super::finish(
                path,
                super::SourceKind::Gguf,
                f.spec,
                f.notes,
                Some(f.summary),
                f.warnings,
            ) {
                check_round_trip(&imp);
            }
        }
    }
}

fn check_round_trip(imp: &super::Imported) {
    let yaml = super::to_yaml(imp).expect("an imported spec serializes");
    let back =
        ModelSpec::from_yaml(Path::new("fuzz/imported.yaml"), &yaml).expect("the YAML an import writes loads back");
    assert_eq!(back, imp.spec, "YAML round trip");
    assert!(
        arch::check_declared(&back).is_ok(),
        "declared counts agree with the derivation"
    );
}
