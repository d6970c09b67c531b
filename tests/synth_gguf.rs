//! `gpuplan synth` round trip: the GGUF file written for a catalog model imports back into the same
//! architecture, format and context, its tensor bytes are exactly what the importer reads and (for GGUF
//! formats) what the estimator sizes the weights at, and the data region is a hole.

use gpuplan::estimate::arch::check_declared;
use gpuplan::estimate::{ModelFacts, WeightFacts};
use gpuplan::import;
use gpuplan::measure::synth;
use gpuplan::spec::model::{ArchType, Architecture};
use gpuplan::spec::{Catalog, Format, ModelSpec};

fn spec(id: &str) -> ModelSpec {
    Catalog::embedded(check_declared)
        .unwrap()
        .model(id, check_declared)
        .unwrap()
}

/// The fields a GGUF file states, with the defaults spelled out (the importer states them all).
fn stated(a: &Architecture) -> Architecture {
    let mut a = a.clone();
    a.kv_heads = Some(a.kv_heads());
    a.head_dim = Some(a.head_dim());
    // Mistral converts to llama.cpp's llama architecture
    if a.kind == ArchType::Mistral {
        a.kind = ArchType::Llama;
    }
    // a shared expert's gate means nothing without a shared expert
    if let Some(m) = a.moe.as_mut() {
        m.shared_expert_gate &= m.shared_expert_intermediate_size.is_some();
    }
    a
}

fn round_trip(id: &str, precision: &str) {
    let m = spec(id);
    let format = Format::parse(precision).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{id}-{precision}.gguf"));
    let file = synth::plan(&m, format).unwrap().write(&path).unwrap();
    let imp = import::import_path(&path).unwrap_or_else(|e| panic!("{id} {precision}: {e}"));
    let what = format!("{id} {precision}");
    assert_eq!(
        stated(imp.spec.architecture.as_ref().unwrap()),
        stated(m.architecture.as_ref().unwrap()),
        "{what}"
    );
    assert_eq!(imp.spec.dtype, format.id, "{what}");
    assert_eq!(imp.spec.max_context, m.max_context, "{what}");
    assert_eq!(imp.spec.name, m.name, "{what}");
    assert!(imp.parameters_checked, "{what}: {:?}", imp.warnings);
    let t = imp.tensors.as_ref().unwrap();
    assert_eq!(t.total_bytes, file.synth.tensor_bytes, "{what}");
    assert_eq!(t.files[0].header_bytes, file.header_bytes, "{what}");
    assert_eq!(
        t.files[0].header_bytes + t.files[0].data_bytes,
        file.file_bytes,
        "{what}"
    );
    // the imported spec keeps every tensor's type from the file: its estimate is the file's bytes
    let facts = ModelFacts::new(&imp.spec);
    let estimated = WeightFacts::new(&imp.spec, &facts, format, 1).total;
    assert_eq!(estimated, t.total_bytes, "{what}");
    // the catalog's estimate in a GGUF file type is those bytes too (llama-quantize's rules); in a
    // plain 16-bit format it counts norms at 16 bits, where GGUF files keep them f32
    if format.ftype.is_some() || format.id == "q4_k" {
        assert_eq!(
            file.synth.estimated_bytes, estimated,
            "{what}: GGUF formats are sized exactly"
        );
    }
    // every tensor as planned: name, shape (row-major in the import), type and bytes
    for (w, r) in file.synth.tensors.iter().zip(&t.tensors) {
        assert_eq!(
            (&w.name, w.ggml.name(), w.bytes),
            (&r.name, r.dtype.as_str(), r.bytes),
            "{what}"
        );
        assert_eq!(w.dims.iter().rev().copied().collect::<Vec<_>>(), r.shape, "{what}");
    }
    assert_eq!(file.synth.tensors.len(), t.tensors.len(), "{what}");
}

#[test]
fn catalog_models_round_trip_through_import() {
    for p in [
        "q4_k_m", "q8_0", "fp16", "q4_k", "bf16", "q6_k", "q4_0", "q5_k_m", "fp32",
    ] {
        round_trip("phi-3.5-mini", p);
    }
    round_trip("phi-3.5-moe", "q4_k_m");
    round_trip("llama-3.2-3b", "q4_k_m");
    round_trip("llama-3.2-3b", "fp16");
    round_trip("llama-3.1-70b", "q4_k_m");
    round_trip("mixtral-8x7b", "q4_k_m");
    round_trip("qwen2.5-7b", "q4_k_m");
    // q/k norms, and experts narrower than the dense width (`expert_feed_forward_length`)
    round_trip("qwen3-8b", "q4_k_m");
    round_trip("qwen3-30b-a3b", "q4_k_m");
    round_trip("qwen3-235b-a22b", "q8_0");
    round_trip("mistral-7b-v0.3", "q8_0");
    round_trip("phi-3-medium-4k", "q5_k_m");
}

#[cfg(unix)]
#[test]
fn the_data_region_is_a_hole() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moe.gguf");
    let file = synth::plan(&spec("phi-3.5-moe"), Format::parse("q4_k_m").unwrap())
        .unwrap()
        .write(&path)
        .unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), file.file_bytes);
    assert!(file.file_bytes > 20_000_000_000, "{}", file.file_bytes);
    // only the header (a few MB of tokenizer) takes blocks
    assert!(meta.blocks() * 512 < 8 << 20, "{} blocks", meta.blocks());
}
