//! Import reads headers only: a Llama-3.1-8B-shaped checkpoint (16 GB of bf16 safetensors in four
//! shards with an index, and a 5.2 GB Q4_K/Q6_K GGUF with a 128,256-token vocabulary array) imports
//! in milliseconds. The data regions are sparse (set_len), the headers real.
//!
//! `cargo bench --bench import`

#[path = "../tests/common/mod.rs"]
mod common;

use common::{write_gguf, write_safetensors, Kv};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::Path;

const CONFIG: &str = r#"{"architectures":["LlamaForCausalLM"],"model_type":"llama","vocab_size":128256,"hidden_size":4096,
  "intermediate_size":14336,"num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,
  "max_position_embeddings":131072,"tie_word_embeddings":false,"torch_dtype":"bfloat16"}"#;

/// (name, shape) of every Llama-3.1-8B tensor, HF names and row-major shapes.
fn llama8b() -> Vec<(String, Vec<u64>)> {
    let mut t = vec![("model.embed_tokens.weight".to_string(), vec![128_256, 4096])];
    for l in 0..32 {
        for (n, s) in [
            ("self_attn.q_proj.weight", vec![4096, 4096]),
            ("self_attn.k_proj.weight", vec![1024, 4096]),
            ("self_attn.v_proj.weight", vec![1024, 4096]),
            ("self_attn.o_proj.weight", vec![4096, 4096]),
            ("mlp.gate_proj.weight", vec![14_336, 4096]),
            ("mlp.up_proj.weight", vec![14_336, 4096]),
            ("mlp.down_proj.weight", vec![4096, 14_336]),
            ("input_layernorm.weight", vec![4096]),
            ("post_attention_layernorm.weight", vec![4096]),
        ] {
            t.push((format!("model.layers.{l}.{n}"), s));
        }
    }
    t.push(("model.norm.weight".into(), vec![4096]));
    t.push(("lm_head.weight".into(), vec![128_256, 4096]));
    t
}

fn write_dir(dir: &Path) -> u64 {
    std::fs::write(dir.join("config.json"), CONFIG).unwrap();
    let t = llama8b();
    let mut map = serde_json::Map::new();
    let mut total = 0;
    for (i, chunk) in t.chunks(t.len().div_ceil(4)).enumerate() {
        let file = format!("model-{:05}-of-00004.safetensors", i + 1);
        let refs: Vec<(&str, &str, Vec<u64>)> = chunk.iter().map(|(n, s)| (n.as_str(), "BF16", s.clone())).collect();
        total += write_safetensors(&dir.join(&file), &refs);
        for (n, _) in chunk {
            map.insert(n.clone(), serde_json::json!(file));
        }
    }
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::json!({"weight_map": map}).to_string(),
    )
    .unwrap();
    total
}

fn write_gguf_file(path: &Path) -> u64 {
    let kvs = vec![
        ("general.architecture", Kv::Str("llama".into())),
        ("general.name", Kv::Str("Llama 3.1 8B shape".into())),
        ("general.file_type", Kv::U32(15)),
        ("llama.context_length", Kv::U32(131_072)),
        ("llama.embedding_length", Kv::U32(4096)),
        ("llama.block_count", Kv::U32(32)),
        ("llama.feed_forward_length", Kv::U32(14_336)),
        ("llama.attention.head_count", Kv::U32(32)),
        ("llama.attention.head_count_kv", Kv::U32(8)),
        (
            "tokenizer.ggml.tokens",
            Kv::Strs((0..128_256).map(|i| format!("token-{i}")).collect()),
        ),
    ];
    let mut t: Vec<(String, &str, Vec<u64>)> = vec![
        ("token_embd.weight".into(), "Q4_K", vec![4096, 128_256]),
        ("output_norm.weight".into(), "F32", vec![4096]),
        ("output.weight".into(), "Q6_K", vec![4096, 128_256]),
    ];
    for l in 0..32 {
        let p = |s: &str| format!("blk.{l}.{s}");
        t.extend([
            (p("attn_norm.weight"), "F32", vec![4096]),
            (p("attn_q.weight"), "Q4_K", vec![4096, 4096]),
            (p("attn_k.weight"), "Q4_K", vec![4096, 1024]),
            (p("attn_v.weight"), "Q6_K", vec![4096, 1024]),
            (p("attn_output.weight"), "Q4_K", vec![4096, 4096]),
            (p("ffn_norm.weight"), "F32", vec![4096]),
            (p("ffn_gate.weight"), "Q4_K", vec![4096, 14_336]),
            (p("ffn_up.weight"), "Q4_K", vec![4096, 14_336]),
            (p("ffn_down.weight"), "Q6_K", vec![14_336, 4096]),
        ]);
    }
    let refs: Vec<(&str, &str, Vec<u64>)> = t.iter().map(|(n, d, s)| (n.as_str(), *d, s.clone())).collect();
    write_gguf(path, &kvs, &refs)
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("Llama-3.1-8B");
    std::fs::create_dir(&dir).unwrap();
    let st_bytes = write_dir(&dir);
    let gguf = tmp.path().join("llama-3.1-8b-q4_k_m.gguf");
    let gguf_bytes = write_gguf_file(&gguf);
    let imp = gpuplan::import::import_path(&dir).unwrap();
    assert!(imp.parameters_checked && imp.derived_parameters == 8_030_261_248);
    let g = gpuplan::import::import_path(&gguf).unwrap();
    assert!(g.parameters_checked);
    eprintln!("safetensors directory: {st_bytes} bytes in 4 shards; GGUF: {gguf_bytes} bytes");
    c.bench_function("import 16 GB safetensors directory (4 shards + index)", |b| {
        b.iter(|| black_box(gpuplan::import::import_path(black_box(&dir)).unwrap()))
    });
    c.bench_function("import 5.2 GB GGUF (128k-token vocabulary)", |b| {
        b.iter(|| black_box(gpuplan::import::import_path(black_box(&gguf)).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
