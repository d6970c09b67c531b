//! Model directories (config.json + safetensors headers) and GGUF files that the tests write:
//! exact per-tensor bytes for several dtypes and GGML types, the parameter count from the tensors
//! equal to the one from the config, and clean errors on truncated or hostile headers.

mod common;

use common::{write_gguf, write_safetensors, Kv};
use gpuplan::estimate::{kv, ModelFacts};
use gpuplan::import::{self, Basis, SourceKind};
use gpuplan::spec::KvPrecision;
use std::io::Write;
use std::path::Path;

const TINY_LLAMA: &str = r#"{"model_type":"llama","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,
  "num_key_value_heads":2,"intermediate_size":128,"vocab_size":100,"max_position_embeddings":2048,
  "tie_word_embeddings":false,"torch_dtype":"bfloat16"}"#;

/// The HF tensors of the tiny llama, each (name, dtype, shape) with `dtype(role)` choosing the dtype.
fn llama_tensors(dtype: impl Fn(&str) -> &'static str, lm_head: bool) -> Vec<(String, &'static str, Vec<u64>)> {
    let mut t = vec![("model.embed_tokens.weight".to_string(), dtype("embed"), vec![100, 64])];
    for l in 0..2 {
        let p = format!("model.layers.{l}.");
        for (n, shape, role) in [
            ("self_attn.q_proj.weight", vec![64, 64], "attn"),
            ("self_attn.k_proj.weight", vec![32, 64], "attn"),
            ("self_attn.v_proj.weight", vec![32, 64], "attn"),
            ("self_attn.o_proj.weight", vec![64, 64], "attn"),
            ("mlp.gate_proj.weight", vec![128, 64], "mlp"),
            ("mlp.up_proj.weight", vec![128, 64], "mlp"),
            ("mlp.down_proj.weight", vec![64, 128], "mlp"),
            ("input_layernorm.weight", vec![64], "norm"),
            ("post_attention_layernorm.weight", vec![64], "norm"),
        ] {
            t.push((format!("{p}{n}"), dtype(role), shape));
        }
    }
    t.push(("model.norm.weight".into(), dtype("norm"), vec![64]));
    if lm_head {
        t.push(("lm_head.weight".into(), dtype("embed"), vec![100, 64]));
    }
    t
}

fn as_refs<'a>(t: &'a [(String, &'static str, Vec<u64>)]) -> Vec<(&'a str, &'a str, Vec<u64>)> {
    t.iter().map(|(n, d, s)| (n.as_str(), *d, s.clone())).collect()
}

/// 100x64 x2 (embed, lm_head) + 2 x (4096 + 2048 + 2048 + 4096 + 3 x 8192 + 128) + 64
const TINY_PARAMS: u64 = 86_848;

#[test]
fn bf16_directory_counts_match_and_bytes_are_exact() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("config.json"), TINY_LLAMA).unwrap();
    let t = llama_tensors(|_| "BF16", true);
    let len = write_safetensors(&tmp.path().join("model.safetensors"), &as_refs(&t));
    let imp = import::import_path(tmp.path()).unwrap();
    assert_eq!(imp.kind, SourceKind::Directory);
    assert!(imp.parameters_checked, "{:?}", imp.warnings);
    assert_eq!(imp.derived_parameters, TINY_PARAMS);
    assert_eq!(imp.spec.parameters, Some(TINY_PARAMS));
    let s = imp.tensors.as_ref().unwrap();
    assert_eq!(s.parameters, TINY_PARAMS);
    assert_eq!(s.total_bytes, 2 * TINY_PARAMS);
    assert_eq!(s.files[0].header_bytes + s.files[0].data_bytes, len);
    assert_eq!(
        s.get("model.layers.1.mlp.down_proj.weight").unwrap().bytes,
        64 * 128 * 2
    );
    assert_eq!(ModelFacts::new(&imp.spec).parameters, TINY_PARAMS);
    // 2 x 2 layers x 2 kv heads x 16 x 2 B
    assert_eq!(kv::per_token(&imp.spec, KvPrecision::F16, 1).total(), 256);
    assert!(imp
        .provenance
        .iter()
        .any(|n| n.field == "parameters" && n.basis == Basis::Exact));
}

#[test]
fn mixed_dtypes_are_summed_per_dtype() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("config.json"), TINY_LLAMA).unwrap();
    let t = llama_tensors(
        |role| match role {
            "embed" => "F32",
            "attn" => "F16",
            "mlp" => "I8",
            _ => "BF16",
        },
        true,
    );
    write_safetensors(&tmp.path().join("model.safetensors"), &as_refs(&t));
    let imp = import::import_path(tmp.path()).unwrap();
    let s = imp.tensors.unwrap();
    let line = |d: &str| {
        s.by_dtype
            .iter()
            .find(|l| l.dtype == d)
            .map(|l| (l.tensors, l.elements, l.bytes))
            .unwrap()
    };
    assert_eq!(line("F32"), (2, 12_800, 51_200));
    assert_eq!(line("F16"), (8, 24_576, 49_152));
    assert_eq!(line("I8"), (6, 49_152, 49_152));
    assert_eq!(line("BF16"), (5, 320, 640));
    assert_eq!(s.total_bytes, 51_200 + 49_152 + 49_152 + 640);
    assert!(imp.parameters_checked);
}

#[test]
fn missing_lm_head_means_tied_whatever_the_config_says() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("config.json"), TINY_LLAMA).unwrap();
    write_safetensors(
        &tmp.path().join("model.safetensors"),
        &as_refs(&llama_tensors(|_| "F16", false)),
    );
    let imp = import::import_path(tmp.path()).unwrap();
    assert!(imp.spec.architecture.as_ref().unwrap().tie_embeddings);
    assert!(
        imp.warnings.iter().any(|w| w.contains("tie_embeddings")),
        "{:?}",
        imp.warnings
    );
    assert!(imp.parameters_checked);
    assert_eq!(imp.derived_parameters, TINY_PARAMS - 6400);
}

#[test]
fn sharded_checkpoint_with_index() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("config.json"), TINY_LLAMA).unwrap();
    let t = llama_tensors(|_| "BF16", true);
    let (a, b) = t.split_at(10);
    write_safetensors(&tmp.path().join("model-00001-of-00002.safetensors"), &as_refs(a));
    write_safetensors(&tmp.path().join("model-00002-of-00002.safetensors"), &as_refs(b));
    let map: serde_json::Map<String, serde_json::Value> = t
        .iter()
        .enumerate()
        .map(|(i, (n, _, _))| {
            (
                n.clone(),
                serde_json::json!(if i < 10 {
                    "model-00001-of-00002.safetensors"
                } else {
                    "model-00002-of-00002.safetensors"
                }),
            )
        })
        .collect();
    let index = serde_json::json!({"metadata": {"total_size": 2 * TINY_PARAMS}, "weight_map": map});
    std::fs::write(tmp.path().join("model.safetensors.index.json"), index.to_string()).unwrap();
    // a stray consolidated file next to the shards is not read when the index names the shards
    write_safetensors(&tmp.path().join("consolidated.safetensors"), &as_refs(&t));
    let imp = import::import_path(tmp.path()).unwrap();
    let s = imp.tensors.as_ref().unwrap();
    assert_eq!(s.files.len(), 2);
    assert_eq!(s.total_bytes, 2 * TINY_PARAMS);
    assert!(imp.parameters_checked);
    assert!(imp.warnings.is_empty(), "{:?}", imp.warnings);

    // a path to one shard imports the directory
    let one = import::import_path(&tmp.path().join("model-00002-of-00002.safetensors")).unwrap();
    assert_eq!(one.derived_parameters, TINY_PARAMS);

    // an index naming a shard outside the directory is refused
    std::fs::write(
        tmp.path().join("model.safetensors.index.json"),
        r#"{"weight_map":{"a":"../x.safetensors"}}"#,
    )
    .unwrap();
    let e = import::import_path(tmp.path()).unwrap_err().to_string();
    assert!(
        e.contains("model.safetensors.index.json") && e.contains("plain file name"),
        "{e}"
    );
    // an index naming a missing shard names it
    std::fs::write(
        tmp.path().join("model.safetensors.index.json"),
        r#"{"weight_map":{"a":"model-9.safetensors"}}"#,
    )
    .unwrap();
    let e = import::import_path(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("model-9.safetensors"), "{e}");
}

#[test]
fn gptq_packed_weights_unpack_to_the_config_count() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = TINY_LLAMA.replace(
        "\"torch_dtype\":\"bfloat16\"",
        "\"torch_dtype\":\"float16\",\"quantization_config\":{\"quant_method\":\"gptq\",\"bits\":4,\"group_size\":32,\"desc_act\":false}",
    );
    std::fs::write(tmp.path().join("config.json"), cfg).unwrap();
    let mut t: Vec<(String, &str, Vec<u64>)> = Vec::new();
    for (n, _, shape) in llama_tensors(|_| "F16", true) {
        if shape.len() == 2 && n.contains("layers.") {
            // AutoGPTQ QuantLinear: qweight int32 [in/8, out], qzeros int32 [in/g, out/8], scales f16 [in/g, out], g_idx int32 [in]
            let (out, inp) = (shape[0], shape[1]);
            let base = n.trim_end_matches(".weight");
            t.push((format!("{base}.qweight"), "I32", vec![inp / 8, out]));
            t.push((format!("{base}.qzeros"), "I32", vec![inp / 32, out / 8]));
            t.push((format!("{base}.scales"), "F16", vec![inp / 32, out]));
            t.push((format!("{base}.g_idx"), "I32", vec![inp]));
        } else {
            t.push((n, "F16", shape));
        }
    }
    write_safetensors(&tmp.path().join("model.safetensors"), &as_refs(&t));
    let imp = import::import_path(tmp.path()).unwrap();
    assert_eq!(imp.spec.dtype, "gptq-int4-g32");
    let s = imp.tensors.as_ref().unwrap();
    // the format's byte layout is AutoGPTQ's: the estimate equals the checkpoint's tensor bytes
    let f = gpuplan::spec::Format::parse(&imp.spec.dtype).unwrap();
    let facts = gpuplan::estimate::ModelFacts::new(&imp.spec);
    assert_eq!(
        gpuplan::estimate::WeightFacts::new(&imp.spec, &facts, f, 1).total,
        s.total_bytes
    );
    assert_eq!(
        s.parameters, TINY_PARAMS,
        "qweight unpacked 8 per int32, scales/zeros/g_idx not counted"
    );
    assert!(imp.parameters_checked);
    assert_eq!(
        s.get("model.layers.0.self_attn.q_proj.qweight").unwrap().bytes,
        8 * 64 * 4
    );
    assert_eq!(s.get("model.layers.0.mlp.down_proj.scales").unwrap().bytes, 4 * 64 * 2);
    assert!(
        s.not_counted.iter().any(|n| n.starts_with("42 quantization")),
        "{:?}",
        s.not_counted
    );
}

#[test]
fn bitsandbytes_4bit_u8_weights_unpack() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = TINY_LLAMA.replace(
        "\"torch_dtype\":\"bfloat16\"",
        "\"torch_dtype\":\"float16\",\"quantization_config\":{\"quant_method\":\"bitsandbytes\",\"load_in_4bit\":true}",
    );
    std::fs::write(tmp.path().join("config.json"), cfg).unwrap();
    let mut t: Vec<(String, &str, Vec<u64>)> = Vec::new();
    for (n, _, shape) in llama_tensors(|_| "F16", true) {
        if shape.len() == 2 && n.contains("layers.") {
            let numel: u64 = shape.iter().product();
            t.push((n.clone(), "U8", vec![numel / 2, 1]));
            t.push((format!("{n}.absmax"), "F32", vec![numel / 64]));
            t.push((format!("{n}.quant_map"), "F32", vec![16]));
        } else {
            t.push((n, "F16", shape));
        }
    }
    write_safetensors(&tmp.path().join("model.safetensors"), &as_refs(&t));
    let imp = import::import_path(tmp.path()).unwrap();
    assert!(imp.parameters_checked, "{:?}", imp.warnings);
    assert_eq!(
        imp.spec.dtype, "bnb-fp4",
        "transformers' default: fp4, no double quantization"
    );
}

fn st_error(bytes: &[u8]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("model.safetensors");
    std::fs::write(&p, bytes).unwrap();
    import::safetensors::read_file(&p).unwrap_err().to_string()
}

#[test]
fn safetensors_header_errors_are_clean() {
    let e = st_error(b"abc");
    assert!(
        e.contains("model.safetensors: byte 0") && e.contains("too short"),
        "{e}"
    );
    let e = st_error(&u64::MAX.to_le_bytes());
    assert!(e.contains("exceeds the safetensors limit"), "{e}");
    let mut b = 1000u64.to_le_bytes().to_vec();
    b.extend_from_slice(b"{}");
    let e = st_error(&b);
    assert!(e.contains("runs past the end"), "{e}");
    let mut b = 4u64.to_le_bytes().to_vec();
    b.extend_from_slice(&[b'{', 0xc3, 0x28, b'}']);
    let e = st_error(&b);
    assert!(e.contains("byte 9") && e.contains("UTF-8"), "{e}");
    let mut b = 3u64.to_le_bytes().to_vec();
    b.extend_from_slice(b"{x}");
    let e = st_error(&b);
    assert!(e.contains("invalid header"), "{e}");

    let (h, _) = common::st_header(&[("a", "F32", vec![4, 4])]);
    let mut b = (h.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(&[0u8; 60]);
    let e = st_error(&b);
    assert!(
        e.contains("64 bytes of tensor data but only 60") && e.contains("truncated"),
        "{e}"
    );
    b.extend_from_slice(&[0u8; 8]);
    let e = st_error(&b);
    assert!(e.contains("4 bytes after the last tensor"), "{e}");

    // a shape that overflows, and offsets that do not match the shape
    let h = r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}"#;
    let mut b = (h.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(h.as_bytes());
    let e = st_error(&b);
    assert!(e.contains("invalid header"), "{e}");
}

fn llama_gguf_kvs(arch: &str) -> Vec<(&'static str, Kv)> {
    let k = |s: &str| -> &'static str { Box::leak(format!("{arch}.{s}").into_boxed_str()) };
    vec![
        ("general.architecture", Kv::Str(arch.into())),
        ("general.name", Kv::Str("Tiny Test".into())),
        ("general.file_type", Kv::U32(15)),
        (k("context_length"), Kv::U32(4096)),
        (k("embedding_length"), Kv::U32(256)),
        (k("block_count"), Kv::U32(2)),
        (k("feed_forward_length"), Kv::U32(512)),
        (k("attention.head_count"), Kv::U32(4)),
        (k("attention.head_count_kv"), Kv::U32(2)),
        (k("attention.layer_norm_rms_epsilon"), Kv::F32(1e-5)),
        (
            "tokenizer.ggml.tokens",
            Kv::Strs((0..100).map(|i| format!("tok{i}")).collect()),
        ),
    ]
}

#[test]
fn gguf_bytes_per_quant_type_are_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tiny-Q4_K_M.gguf");
    // GGUF dims are ne order: [row length, rows]
    let mut t: Vec<(String, &str, Vec<u64>)> = vec![
        ("token_embd.weight".into(), "Q4_K", vec![256, 100]),
        ("output_norm.weight".into(), "F32", vec![256]),
        ("output.weight".into(), "Q6_K", vec![256, 100]),
    ];
    for (l, (q, v, down)) in [("Q4_K", "Q6_K", "Q6_K"), ("Q8_0", "Q4_0", "F16")].iter().enumerate() {
        let p = |s: &str| format!("blk.{l}.{s}");
        t.extend([
            (p("attn_norm.weight"), "F32", vec![256]),
            (p("attn_q.weight"), *q, vec![256, 256]),
            (p("attn_k.weight"), *q, vec![256, 128]),
            (p("attn_v.weight"), *v, vec![256, 128]),
            (p("attn_output.weight"), *q, vec![256, 256]),
            (p("ffn_norm.weight"), "F32", vec![256]),
            (p("ffn_gate.weight"), *q, vec![256, 512]),
            (p("ffn_up.weight"), *q, vec![256, 512]),
            (p("ffn_down.weight"), *down, vec![512, 256]),
        ]);
    }
    let len = write_gguf(&path, &llama_gguf_kvs("llama"), &as_refs(&t));
    let imp = import::import_path(&path).unwrap();
    assert_eq!(imp.kind, SourceKind::Gguf);
    assert_eq!(imp.spec.dtype, "q4_k_m");
    assert_eq!(imp.spec.max_context, 4096);
    assert_eq!(imp.spec.name, "Tiny Test");
    let s = imp.tensors.as_ref().unwrap();
    let bytes = |n: &str| s.get(n).unwrap().bytes;
    assert_eq!(bytes("token_embd.weight"), 100 * 144, "Q4_K: 144 B per 256");
    assert_eq!(bytes("output.weight"), 100 * 210, "Q6_K: 210 B per 256");
    assert_eq!(bytes("blk.1.attn_q.weight"), 256 * 8 * 34, "Q8_0: 34 B per 32");
    assert_eq!(bytes("blk.1.attn_v.weight"), 128 * 8 * 18, "Q4_0: 18 B per 32");
    assert_eq!(bytes("blk.1.ffn_down.weight"), 256 * 512 * 2, "F16");
    assert_eq!(bytes("blk.0.ffn_down.weight"), 256 * 2 * 210);
    assert_eq!(bytes("output_norm.weight"), 1024);
    assert_eq!(
        s.get("blk.0.ffn_up.weight").unwrap().shape,
        vec![512, 256],
        "row-major order"
    );
    let q4k = s.by_dtype.iter().find(|l| l.dtype == "Q4_K").unwrap();
    assert_eq!(q4k.bytes, 100 * 144 + (256 + 128 + 256 + 512 + 512) * 144);
    assert_eq!(s.files[0].header_bytes + s.files[0].data_bytes, len);
    // the architecture from metadata and shapes: 256 hidden, 4 heads of 64, 2 KV heads, untied
    let a = imp.spec.architecture.as_ref().unwrap();
    assert_eq!(
        (
            a.hidden_size,
            a.layers,
            a.attention_heads,
            a.kv_heads(),
            a.head_dim(),
            a.vocab_size
        ),
        (256, 2, 4, 2, 64, 100)
    );
    assert!(!a.tie_embeddings);
    // 2 x 25,600 + 256 + 2 x (65,536 + 2 x 32,768 + 65,536 + 3 x 131,072 + 512)
    assert_eq!(
        s.parameters,
        51_200 + 256 + 2 * (65_536 + 65_536 + 65_536 + 393_216 + 512)
    );
    assert!(imp.parameters_checked, "{:?}", imp.warnings);
    // the file's own per-tensor types win over llama.cpp's Q4_K_M rules: the estimate of the file's own
    // format is the file's tensor bytes exactly
    let f = gpuplan::spec::Format::parse(&imp.spec.dtype).unwrap();
    let facts = gpuplan::estimate::ModelFacts::new(&imp.spec);
    let w = gpuplan::estimate::WeightFacts::new(&imp.spec, &facts, f, 1);
    assert_eq!(w.total, s.total_bytes);
    // another format is sized by the rules
    let q8 = gpuplan::spec::Format::parse("q8_0").unwrap();
    assert_ne!(
        gpuplan::estimate::WeightFacts::new(&imp.spec, &facts, q8, 1).total,
        s.total_bytes
    );
}

#[test]
fn gguf_phi3_and_gemma2_layouts() {
    let tmp = tempfile::tempdir().unwrap();
    // Phi-3: fused qkv, 2x-wide ffn_up, RoPE factor tables that are not parameters
    let path = tmp.path().join("phi3.gguf");
    let mut kvs = llama_gguf_kvs("phi3");
    kvs.retain(|(k, _)| !k.ends_with("head_count_kv"));
    kvs.push(("phi3.attention.sliding_window", Kv::U32(2047)));
    let mut t: Vec<(String, &str, Vec<u64>)> = vec![
        ("token_embd.weight".into(), "Q8_0", vec![256, 100]),
        ("output_norm.weight".into(), "F32", vec![256]),
        ("output.weight".into(), "Q8_0", vec![256, 100]),
        ("rope_factors_long.weight".into(), "F32", vec![32]),
        ("rope_factors_short.weight".into(), "F32", vec![32]),
    ];
    for l in 0..2 {
        let p = |s: &str| format!("blk.{l}.{s}");
        t.extend([
            (p("attn_norm.weight"), "F32", vec![256]),
            (p("attn_qkv.weight"), "Q8_0", vec![256, 768]),
            (p("attn_output.weight"), "Q8_0", vec![256, 256]),
            (p("ffn_norm.weight"), "F32", vec![256]),
            (p("ffn_up.weight"), "Q8_0", vec![256, 1024]),
            (p("ffn_down.weight"), "Q8_0", vec![512, 256]),
        ]);
    }
    write_gguf(&path, &kvs, &as_refs(&t));
    let imp = import::import_path(&path).unwrap();
    let a = imp.spec.architecture.as_ref().unwrap();
    assert!(a.fused_qkv && a.sliding_window == Some(2047));
    assert!(imp.parameters_checked, "{:?}", imp.warnings);
    assert!(imp.tensors.as_ref().unwrap().not_counted[0].starts_with("2 RoPE"));

    // Gemma 2: tied (no output.weight), four norms per layer, alternating 4096 window
    let path = tmp.path().join("gemma2.gguf");
    let mut kvs = llama_gguf_kvs("gemma2");
    kvs.push(("gemma2.attention.sliding_window", Kv::U32(4096)));
    kvs.push(("gemma2.attention.key_length", Kv::U32(128)));
    kvs.retain(|(k, _)| *k != "general.file_type");
    let mut t: Vec<(String, &str, Vec<u64>)> = vec![
        ("token_embd.weight".into(), "BF16", vec![256, 100]),
        ("output_norm.weight".into(), "F32", vec![256]),
    ];
    for l in 0..2 {
        let p = |s: &str| format!("blk.{l}.{s}");
        t.extend([
            (p("attn_norm.weight"), "F32", vec![256]),
            (p("attn_q.weight"), "BF16", vec![256, 512]),
            (p("attn_k.weight"), "BF16", vec![256, 256]),
            (p("attn_v.weight"), "BF16", vec![256, 256]),
            (p("attn_output.weight"), "BF16", vec![512, 256]),
            (p("post_attention_norm.weight"), "F32", vec![256]),
            (p("ffn_norm.weight"), "F32", vec![256]),
            (p("ffn_gate.weight"), "BF16", vec![256, 512]),
            (p("ffn_up.weight"), "BF16", vec![256, 512]),
            (p("ffn_down.weight"), "BF16", vec![512, 256]),
            (p("post_ffw_norm.weight"), "F32", vec![256]),
        ]);
    }
    write_gguf(&path, &kvs, &as_refs(&t));
    let imp = import::import_path(&path).unwrap();
    let a = imp.spec.architecture.as_ref().unwrap();
    assert!(a.tie_embeddings);
    assert_eq!(
        (
            a.norms_per_layer,
            a.sliding_window,
            a.sliding_window_pattern,
            a.head_dim()
        ),
        (4, Some(4096), 2, 128)
    );
    assert!(imp.parameters_checked, "{:?}", imp.warnings);
    assert_eq!(imp.spec.dtype, "bf16", "no file_type: the dtype holding most bytes");
}

#[test]
fn multi_gigabyte_gguf_imports_from_the_header() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.gguf");
    // a 65,536 x 16,384 F32 embedding table: 4 GiB of (sparse) data behind a short header
    let kvs = llama_gguf_kvs("llama");
    let t = vec![("token_embd.weight", "F32", vec![16_384, 65_536])];
    let len = write_gguf(&path, &kvs, &t);
    assert!(len > 4 << 30);
    let g = import::gguf::read_file(&path).unwrap();
    assert_eq!(g.tensors[0].bytes, 4 << 30);
    assert_eq!(g.data_start + (4 << 30), len);
}

fn gguf_err(bytes: &[u8]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("m.gguf");
    std::fs::write(&p, bytes).unwrap();
    import::gguf::read_file(&p).unwrap_err().to_string()
}

/// A GGUF header with `n_tensors` and `n_kv` counts and the raw bytes that follow.
fn raw_gguf(version: u32, n_tensors: u64, n_kv: u64, rest: &[u8]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&version.to_le_bytes());
    b.extend_from_slice(&n_tensors.to_le_bytes());
    b.extend_from_slice(&n_kv.to_le_bytes());
    b.extend_from_slice(rest);
    b
}

#[test]
fn gguf_header_errors_are_clean() {
    assert!(gguf_err(b"GGML").contains("byte 0"));
    assert!(gguf_err(b"GGUF").contains("m.gguf: byte 4: version"));
    assert!(gguf_err(&raw_gguf(1, 0, 0, &[])).contains("version 1"));
    assert!(gguf_err(&raw_gguf(3u32.swap_bytes(), 0, 0, &[])).contains("big-endian"));
    let e = gguf_err(&raw_gguf(3, u64::MAX, 0, &[]));
    assert!(e.contains("byte 8") && e.contains("tensors"), "{e}");
    let e = gguf_err(&raw_gguf(3, 0, 1_000_000, &[]));
    assert!(e.contains("byte 24") && e.contains("truncated"), "{e}");
    // a key whose length field claims 2^64-1 bytes
    let e = gguf_err(&raw_gguf(3, 0, 1, &[0xff; 16]));
    assert!(
        e.contains("metadata key") && e.contains("needs 18446744073709551615 bytes"),
        "{e}"
    );
    // a string value cut short
    let mut kv = Vec::new();
    kv.extend_from_slice(&1u64.to_le_bytes());
    kv.push(b'k');
    kv.extend_from_slice(&8u32.to_le_bytes());
    kv.extend_from_slice(&100u64.to_le_bytes());
    kv.extend_from_slice(b"short");
    let e = gguf_err(&raw_gguf(3, 0, 1, &kv));
    assert!(e.contains("value of `k`") && e.contains("truncated"), "{e}");
    // non-UTF-8 key
    let mut kv = Vec::new();
    kv.extend_from_slice(&2u64.to_le_bytes());
    kv.extend_from_slice(&[0xc3, 0x28]);
    kv.extend_from_slice(&4u32.to_le_bytes());
    kv.extend_from_slice(&1u32.to_le_bytes());
    let e = gguf_err(&raw_gguf(3, 0, 1, &kv));
    assert!(e.contains("byte 32") && e.contains("UTF-8"), "{e}");
    // an array claiming 2^60 u32 elements
    let mut kv = Vec::new();
    kv.extend_from_slice(&1u64.to_le_bytes());
    kv.push(b'a');
    kv.extend_from_slice(&9u32.to_le_bytes());
    kv.extend_from_slice(&4u32.to_le_bytes());
    kv.extend_from_slice(&(1u64 << 60).to_le_bytes());
    let e = gguf_err(&raw_gguf(3, 0, 1, &kv));
    assert!(e.contains("array `a`"), "{e}");

    let tensor = |dims: &[u64], ty: u32, offset: u64| {
        let mut t = Vec::new();
        t.extend_from_slice(&1u64.to_le_bytes());
        t.push(b'w');
        t.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            t.extend_from_slice(&d.to_le_bytes());
        }
        t.extend_from_slice(&ty.to_le_bytes());
        t.extend_from_slice(&offset.to_le_bytes());
        t
    };
    let e = gguf_err(&raw_gguf(3, 1, 0, &tensor(&[1, 1, 1, 1, 1], 0, 0)));
    assert!(e.contains("5 dimensions"), "{e}");
    let e = gguf_err(&raw_gguf(3, 1, 0, &tensor(&[32], 99, 0)));
    assert!(e.contains("unknown GGML type 99"), "{e}");
    let e = gguf_err(&raw_gguf(3, 1, 0, &tensor(&[100, 2], 12, 0)));
    assert!(e.contains("not a multiple of the Q4_K block"), "{e}");
    let e = gguf_err(&raw_gguf(3, 1, 0, &tensor(&[u64::MAX, u64::MAX], 0, 0)));
    assert!(e.contains("overflow"), "{e}");
    let e = gguf_err(&raw_gguf(3, 1, 0, &tensor(&[32], 0, 7)));
    assert!(e.contains("not aligned"), "{e}");
    let e = gguf_err(&raw_gguf(3, 1, 0, &tensor(&[1024], 0, 0)));
    assert!(e.contains("tensor `w` ends at byte") && e.contains("truncated"), "{e}");
}

#[test]
fn directory_with_only_a_gguf_imports_it_and_errors_name_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let e = import::import_path(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("no config.json"), "{e}");
    let t = [("token_embd.weight", "F32", vec![256, 100])];
    write_gguf(&tmp.path().join("m.gguf"), &llama_gguf_kvs("llama"), &t);
    // a file with only the embedding: it imports, and says the tensors do not add up
    let imp = import::import_path(tmp.path()).unwrap();
    assert_eq!(imp.kind, SourceKind::Gguf);
    assert!(!imp.parameters_checked);
    assert!(
        imp.warnings.iter().any(|w| w.contains("tensors hold 25600 parameters")),
        "{:?}",
        imp.warnings
    );
    let p = tmp.path().join("notes.txt");
    std::fs::File::create(&p).unwrap().write_all(b"hello").unwrap();
    let e = import::import_path(&p).unwrap_err().to_string();
    assert!(e.contains("notes.txt") && e.contains("not a config.json"), "{e}");
    assert!(import::import_path(Path::new("/nonexistent/model.gguf"))
        .unwrap_err()
        .to_string()
        .contains("/nonexistent/model.gguf"));
}

#[test]
fn deepseek_v3_directory_mla_tensors_and_mtp_layer() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("config.json"),
        r#"{"model_type":"deepseek_v3","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":4,
            "q_lora_rank":32,"kv_lora_rank":16,"qk_nope_head_dim":8,"qk_rope_head_dim":4,"v_head_dim":8,"vocab_size":50,
            "intermediate_size":96,"moe_intermediate_size":16,"n_routed_experts":4,"n_shared_experts":1,"num_experts_per_tok":2,
            "first_k_dense_replace":1,"num_nextn_predict_layers":1,"max_position_embeddings":4096,"torch_dtype":"bfloat16"}"#,
    )
    .unwrap();
    let mut t: Vec<(String, &str, Vec<u64>)> = vec![("model.embed_tokens.weight".into(), "BF16", vec![50, 64])];
    // layer 2 is the multi-token-prediction layer the checkpoint carries and transformers skips
    for l in 0..3 {
        let p = |s: &str| format!("model.layers.{l}.{s}");
        t.extend([
            (p("input_layernorm.weight"), "BF16", vec![64]),
            (p("post_attention_layernorm.weight"), "BF16", vec![64]),
            (p("self_attn.q_a_proj.weight"), "BF16", vec![32, 64]),
            (p("self_attn.q_a_layernorm.weight"), "BF16", vec![32]),
            (p("self_attn.q_b_proj.weight"), "BF16", vec![48, 32]),
            (p("self_attn.kv_a_proj_with_mqa.weight"), "BF16", vec![20, 64]),
            (p("self_attn.kv_a_layernorm.weight"), "BF16", vec![16]),
            (p("self_attn.kv_b_proj.weight"), "BF16", vec![64, 16]),
            (p("self_attn.o_proj.weight"), "BF16", vec![64, 32]),
        ]);
        if l == 0 {
            t.extend([
                (p("mlp.gate_proj.weight"), "BF16", vec![96, 64]),
                (p("mlp.up_proj.weight"), "BF16", vec![96, 64]),
                (p("mlp.down_proj.weight"), "BF16", vec![64, 96]),
            ]);
        } else {
            t.push((p("mlp.gate.weight"), "BF16", vec![4, 64]));
            t.push((p("mlp.gate.e_score_correction_bias"), "F32", vec![4]));
            for e in 0..4 {
                t.extend([
                    (p(&format!("mlp.experts.{e}.gate_proj.weight")), "BF16", vec![16, 64]),
                    (p(&format!("mlp.experts.{e}.up_proj.weight")), "BF16", vec![16, 64]),
                    (p(&format!("mlp.experts.{e}.down_proj.weight")), "BF16", vec![64, 16]),
                ]);
            }
            t.extend([
                (p("mlp.shared_experts.gate_proj.weight"), "BF16", vec![16, 64]),
                (p("mlp.shared_experts.up_proj.weight"), "BF16", vec![16, 64]),
                (p("mlp.shared_experts.down_proj.weight"), "BF16", vec![64, 16]),
            ]);
        }
    }
    t.push(("model.layers.2.eh_proj.weight".into(), "BF16", vec![64, 128]));
    t.push(("model.norm.weight".into(), "BF16", vec![64]));
    t.push(("lm_head.weight".into(), "BF16", vec![50, 64]));
    write_safetensors(&tmp.path().join("model.safetensors"), &as_refs(&t));
    let imp = import::import_path(tmp.path()).unwrap();
    assert!(imp.parameters_checked, "{:?}", imp.warnings);
    let s = imp.tensors.as_ref().unwrap();
    assert!(
        s.not_counted.iter().any(|n| n.contains("beyond num_hidden_layers")),
        "{:?}",
        s.not_counted
    );
    // attention (q_a 2,048 + 32 + q_b 1,536 + kv_a 1,280 + 16 + kv_b 1,024 + o 2,048 = 7,984) x 2 + norms 128 x 2 + dense MLP 18,432 + router 256 + bias 4 + 5 experts x 3,072
    // + embeddings and head 6,400 + final norm 64
    assert_eq!(
        imp.derived_parameters,
        2 * 7984 + 2 * 128 + 18_432 + 256 + 4 + 5 * 3072 + 6400 + 64
    );
    // MLA cache: 2 layers x (16 + 4) x 2 B
    assert_eq!(imp.kv_bytes_per_token_16bit, 80);
    assert_eq!(imp.derived_active_parameters, imp.derived_parameters - 2 * 3072);
}
