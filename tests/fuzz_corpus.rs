//! Replays every committed fuzz corpus file (fuzz/corpus/<target>/) through the same entry
//! functions the cargo-fuzz targets call, on stable Rust: inputs that once found a bug, and the
//! minimized coverage corpus, stay regression tests. A panic here is a parser bug.

use gpuplan::import::fuzz_entry;
use std::path::Path;

fn replay(target: &str, entry: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let outcome = std::panic::catch_unwind(|| entry(&data));
        assert!(outcome.is_ok(), "{target}: {} panics", f.display());
    }
}

#[test]
fn model_yaml_corpus() {
    replay("model_yaml", fuzz_entry::model_yaml);
}

#[test]
fn gpu_yaml_corpus() {
    replay("gpu_yaml", fuzz_entry::gpu_yaml);
}

#[test]
fn hf_config_corpus() {
    replay("hf_config", fuzz_entry::hf_config);
}

#[test]
fn safetensors_header_corpus() {
    replay("safetensors_header", fuzz_entry::safetensors_header);
}

#[test]
fn gguf_header_corpus() {
    replay("gguf_header", fuzz_entry::gguf_header);
}
