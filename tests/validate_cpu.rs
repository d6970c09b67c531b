//! `validate` on the CPU with the three Phi-3.5 variants scaled down (same model code, tiny
//! dimensions): they load, run a real prefill and decode, and their records hold.
//!
//! Exact where the truth is exact: the runner builds exactly the estimator's parameter count.
//! Measured where it is measured: weights memory is the process RSS growth while the model is
//! built, which must be within 3% of the estimator's weights + RoPE tables. RSS counts whole 4 KiB
//! pages and the allocator's bookkeeping for each of a few dozen tensors (tens of KB against tens
//! of MB); everything else in it is the tensors themselves.
//!
//! RSS is per process and the test harness runs tests on threads: every test here holds one lock.

use gpuplan::measure::record::Record;
use gpuplan::measure::{self, DeviceRequest, ValidateOptions};
use gpuplan::spec::{Catalog, Format, ModelSpec};
use std::path::Path;
use std::sync::Mutex;

static RSS: Mutex<()> = Mutex::new(());

/// Takes the RSS lock, and fixes glibc's mmap threshold before this test allocates anything (a
/// test's own large buffers, e.g. a checkpoint it writes, would otherwise stay resident in a
/// thread heap that a later run reuses, hiding that run's growth).
fn measuring() -> std::sync::MutexGuard<'static, ()> {
    let g = RSS.lock().unwrap_or_else(|e| e.into_inner());
    measure::rss::track_large_allocations();
    g
}

const TINY_MINI: &str = "
id: tiny-phi3
name: tiny Phi-3 (test)
max_context: 2048
dtype: bf16
architecture:
  type: phi3
  hidden_size: 512
  layers: 4
  attention_heads: 8
  kv_heads: 8
  intermediate_size: 1536
  vocab_size: 8192
  norm: rms
  mlp: gated
  fused_qkv: true
";

const TINY_MOE: &str = "
id: tiny-phimoe
name: tiny PhiMoE (test)
max_context: 2048
dtype: bf16
architecture:
  type: phimoe
  hidden_size: 512
  layers: 2
  attention_heads: 8
  kv_heads: 2
  intermediate_size: 512
  vocab_size: 4096
  norm: layer
  mlp: gated
  qkv_bias: true
  o_bias: true
  lm_head_bias: true
  moe:
    experts: 4
    experts_per_token: 2
";

const TINY_VISION: &str = "
id: tiny-phi3v
name: tiny Phi-3-V (test)
max_context: 2048
dtype: bf16
architecture:
  type: phi3_v
  hidden_size: 512
  layers: 2
  attention_heads: 8
  kv_heads: 8
  intermediate_size: 1536
  vocab_size: 4096
  norm: rms
  mlp: gated
  fused_qkv: true
vision:
  encoder: tiny-clip
  image_size: 56
  patch_size: 14
  hidden_size: 256
  layers: 3
  attention_heads: 4
  intermediate_size: 1024
  merge: 2
  projector: [512, 512]
  extra_parameters: 2048
  max_crops: 4
  default_crops: 4
";

fn spec(yaml: &str) -> ModelSpec {
    ModelSpec::from_yaml(Path::new("test.yaml"), yaml).expect("tiny spec parses")
}

fn run(model: ModelSpec, precision: &str, context: u64, decode: u64, weights: Option<&Path>) -> Record {
    let catalog = Catalog::embedded(gpuplan::estimate::arch::check_declared).expect("catalog");
    let opts = ValidateOptions {
        models: vec![model],
        precision: Format::parse(precision),
        context: Some(context),
        decode,
        device: DeviceRequest::Cpu,
        weights: weights.map(Path::to_path_buf),
        write_records: false,
        ..ValidateOptions::default()
    };
    let mut records = measure::validate(&opts, &catalog).expect("validate runs");
    assert_eq!(records.len(), 1);
    records.remove(0)
}

/// The checks every tiny run must pass.
fn check(r: &Record, tolerance_pct: f64) {
    assert_eq!(r.outcome.status, "ran", "{}: {:?}", r.name, r.outcome.message);
    assert_eq!(
        r.params.runner_total,
        Some(r.params.total),
        "{}: runner vs estimator parameters",
        r.name
    );
    let m = &r.measured.memory;
    let w = m.weights_bytes.expect("weights measured") as f64;
    let p = r.predicted.memory.load_bytes as f64;
    let err = (w - p).abs() / p * 100.0;
    assert!(
        err <= tolerance_pct,
        "{}: weights measured {w} vs predicted {p} ({err:.2}%)",
        r.name
    );
    assert!(m.peak_bytes.expect("peak measured") >= m.weights_bytes.unwrap_or(0));
    assert_eq!(r.decode_steps, 4);
    assert!(r.measured.throughput.decode_tokens_per_s.is_some_and(|t| t > 0.0));
    assert!(r.measured.throughput.prefill_tokens_per_s.is_some_and(|t| t > 0.0));
    // not measured on the CPU: null, never 0
    assert_eq!(m.context_bytes, None);
    assert!(r.predicted.throughput.is_none());
}

#[test]
fn tiny_mini_runs_in_every_precision() {
    let _g = measuring();
    for precision in ["bf16", "fp16", "q8_0", "q4_k"] {
        let r = run(spec(TINY_MINI), precision, 96, 4, None);
        check(&r, 3.0);
        // 2 x 8192 x 512 (embeddings, head) + 512 + 4 x (4 x 512² + 2 x 512 + 3 x 1536 x 512)
        assert_eq!(r.params.total, 22_024_704);
        // the KV cache holds context tokens: 2 x 4 layers x 512 x bytes (f32 for GGML formats)
        let bytes = if precision.starts_with('q') { 4 } else { 2 };
        assert_eq!(r.predicted.memory.kv_cache_bytes, 96 * 2 * 4 * 512 * bytes);
    }
}

#[test]
fn tiny_moe_runs_with_experts_and_biases() {
    let _g = measuring();
    for precision in ["bf16", "q4_k"] {
        let r = run(spec(TINY_MOE), precision, 600, 4, None);
        check(&r, 3.0);
        assert!(r.prefill_chunk == 512 && r.prompt_tokens == 596, "two prefill chunks");
        // counted by the runner as it builds: its KV tensors hold exactly the context
        let per_token = 2 * 2 * 2 * 64 * if precision == "q4_k" { 4 } else { 2 };
        assert_eq!(r.measured.memory.kv_cache_tensor_bytes, Some(600 * per_token));
    }
}

#[test]
fn tiny_vision_encodes_an_image_into_the_prompt() {
    let _g = measuring();
    // q4_k keeps the vision tower in f16 (GGUF mmproj) next to Q4_K text weights
    for precision in ["bf16", "q4_k"] {
        let r = run(spec(TINY_VISION), precision, 64, 4, None);
        check(&r, 3.0);
        // one image, 2x2 crops of 2x2 merged patches: (4+1)x4 + 1 + (2+1)x2 = 27 tokens
        assert_eq!(r.image_tokens, 27);
        assert_eq!(r.images, 1);
        assert!(r.timings.vision_s.is_some());
    }
}

/// Writes a checkpoint with the names and shapes the runner asks for (found by the shape walk),
/// random bf16 values.
fn write_checkpoint(model: &ModelSpec, dir: &Path, skip: Option<&str>) {
    use candle_core::{DType, Device, Tensor};
    let walk = measure::shapewalk::walk(model).expect("walk");
    let mut tensors = std::collections::HashMap::new();
    for (name, shape) in walk.shapes {
        if Some(name.as_str()) == skip {
            continue;
        }
        let t = Tensor::randn(0f32, 0.02, shape, &Device::Cpu)
            .and_then(|t| t.to_dtype(DType::BF16))
            .expect("tensor");
        tensors.insert(name, t);
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).expect("save");
    std::fs::write(
        dir.join("config.json"),
        r#"{"rope_theta": 10000.0, "rms_norm_eps": 1e-5}"#,
    )
    .expect("config");
}

#[test]
fn real_safetensors_checkpoint_loads_and_runs() {
    let _g = measuring();
    let dir = tempfile::tempdir().expect("tempdir");
    let model = spec(TINY_MINI);
    write_checkpoint(&model, dir.path(), None);
    for precision in ["bf16", "q8_0"] {
        let r = run(model.clone(), precision, 96, 4, Some(dir.path()));
        check(&r, 3.0);
        assert!(r.weights.starts_with("safetensors: "), "{}", r.weights);
        assert!(!r.notes.iter().any(|n| n.contains("synthetic")));
    }
}

#[test]
fn a_missing_checkpoint_tensor_is_named_in_the_failure() {
    let _g = measuring();
    let dir = tempfile::tempdir().expect("tempdir");
    let model = spec(TINY_MINI);
    write_checkpoint(&model, dir.path(), Some("model.layers.2.mlp.down_proj.weight"));
    let r = run(model, "bf16", 96, 4, Some(dir.path()));
    assert_eq!(r.outcome.status, "error");
    assert_eq!(r.outcome.step.as_deref(), Some("loading weights"));
    assert!(r
        .outcome
        .message
        .as_deref()
        .unwrap_or("")
        .contains("model.layers.2.mlp.down_proj.weight"));
    assert_eq!(r.measured.memory.weights_bytes, None, "not measured: null");
}

#[test]
fn records_serialize_with_the_documented_fields() {
    let _g = measuring();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("runs.json");
    let r = run(spec(TINY_MINI), "bf16", 64, 4, None);
    measure::write_records(&[r.clone(), r], Some(&file)).expect("write");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
    let arr = v.as_array().expect("an array");
    assert_eq!(arr.len(), 2);
    let rec = &arr[0];
    for path in [
        "/model",
        "/precision",
        "/context",
        "/batch",
        "/device/name",
        "/params/total",
        "/predicted/memory/total_bytes",
        "/measured/memory/peak_bytes",
        "/predicted/throughput",
        "/measured/throughput/decode_tokens_per_s",
    ] {
        assert!(rec.pointer(path).is_some(), "missing {path}");
    }
    assert!(rec.pointer("/measured/memory/peak_bytes").is_some_and(|v| v.is_u64()));
    assert!(rec
        .pointer("/measured/memory/context_bytes")
        .is_some_and(|v| v.is_null()));
    assert!(rec.pointer("/predicted/throughput").is_some_and(|v| v.is_null()));
    // the table view: predicted vs measured per component, then throughput
    let text = gpuplan::report::render(
        gpuplan::report::OutputFormat::Markdown,
        &vec![serde_json::from_value::<Record>(rec.clone()).expect("round trip")],
        gpuplan::report::views::validate::validate,
    )
    .expect("render");
    for row in [
        "weights (load)",
        "kv cache",
        "activations",
        "total peak",
        "decode tok/s",
        "time to first token",
    ] {
        assert!(text.contains(row), "missing {row} in\n{text}");
    }
    assert!(text.contains("synthetic"));
    // appending keeps what was there
    let r = run(spec(TINY_MINI), "bf16", 64, 4, None);
    measure::write_records(&[r], Some(&file)).expect("append");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(3));
}
