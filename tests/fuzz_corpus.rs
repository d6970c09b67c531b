//! Replays every committed fuzz corpus file (fuzz/corpus/<target>/) through the same entry
//! functions the cargo-fuzz targets call, on stable Rust: inputs that once found a bug, and the
//! minimized coverage corpus, stay regression tests. A panic here is a parser bug.

use gpuplan::import::fuzz_entry;
use gpuplan::plan::fuzz_entry as plan_fuzz_entry;
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

#[test]
fn engine_cmd_corpus() {
    replay("engine_cmd", plan_fuzz_entry::engine_cmd);
}

/// Random engine commands built from the fuzz dictionary's words and hostile numbers: parsing and
/// planning them must never panic (on stable Rust, in every test run, beside the libFuzzer target).
mod engine_cmd_words {
    use proptest::prelude::*;

    const HEADS: &[&str] = &[
        "vllm serve m",
        "llama-server",
        "llama-cli -m x-Q4_K_M.gguf",
        "python3 -m vllm.entrypoints.openai.api_server",
    ];
    const WORDS: &[&str] = &[
        "--max-model-len",
        "--gpu-memory-utilization",
        "--max-num-seqs",
        "--max-num-batched-tokens",
        "--block-size",
        "--enforce-eager",
        "--kv-cache-memory",
        "--kv-cache-dtype",
        "-tp",
        "-pp",
        "--dtype",
        "--quantization",
        "-m",
        "-hf",
        "-c",
        "-b",
        "-ub",
        "-np",
        "-fa",
        "-ctk",
        "-ctv",
        "-ngl",
        "--no-mmap",
        "fp8",
        "q8_0",
        "q4_0",
        "on",
        "off",
        "auto",
        "bfloat16",
        "awq",
    ];
    const NUMBERS: &[&str] = &[
        "0",
        "1",
        "3",
        "16",
        "4096",
        "16k",
        "16K",
        "1G",
        "0.9",
        "1.5",
        "-1",
        "1099511627776",
        "18446744073709551615",
        "1e308",
        "nan",
    ];

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(WORDS).prop_map(str::to_string),
            proptest::sample::select(NUMBERS).prop_map(str::to_string),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]
        #[test]
        fn never_panics(head in proptest::sample::select(HEADS), words in proptest::collection::vec(word(), 0..12)) {
            let line = format!("{head} {}", words.join(" "));
            gpuplan::plan::fuzz_entry::engine_cmd(line.as_bytes());
        }
    }
}
