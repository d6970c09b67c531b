//! Tiny writers for the files the import tests read: safetensors (header + data, or a sparse data
//! region), GGUF (header, metadata, tensor infos, sparse data), and a transformers config.json built
//! from a spec. Written here from the formats' descriptions, independent of the importer.
#![allow(dead_code)]

use gpuplan::spec::model::{ArchType, ModelSpec, NormKind};
use serde_json::{json, Map, Value};
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Bytes per element of a safetensors dtype (all byte-sized here).
pub fn st_size(dtype: &str) -> u64 {
    match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
        other => panic!("test writer: dtype {other}"),
    }
}

/// The safetensors header JSON for tensors laid out back to back, and the data length.
pub fn st_header(tensors: &[(&str, &str, Vec<u64>)]) -> (String, u64) {
    let mut map = Map::new();
    map.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut at = 0u64;
    for (name, dtype, shape) in tensors {
        let n: u64 = shape.iter().product::<u64>() * st_size(dtype);
        map.insert(
            name.to_string(),
            json!({"dtype": dtype, "shape": shape, "data_offsets": [at, at + n]}),
        );
        at += n;
    }
    (Value::Object(map).to_string(), at)
}

/// Writes a safetensors file: 8-byte length, JSON header, then the data region as a hole (set_len),
/// so multi-GB files cost nothing on disk.
pub fn write_safetensors(path: &Path, tensors: &[(&str, &str, Vec<u64>)]) -> u64 {
    let (header, data) = st_header(tensors);
    let mut f = File::create(path).unwrap();
    f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    let total = 8 + header.len() as u64 + data;
    f.set_len(total).unwrap();
    total
}

/// (type id, weights per block, bytes per block) of the GGML types the tests use (ggml-common.h).
pub fn ggml(name: &str) -> (u32, u64, u64) {
    match name {
        "F32" => (0, 1, 4),
        "F16" => (1, 1, 2),
        "Q4_0" => (2, 32, 18),
        "Q8_0" => (8, 32, 34),
        "Q4_K" => (12, 256, 144),
        "Q5_K" => (13, 256, 176),
        "Q6_K" => (14, 256, 210),
        "BF16" => (30, 1, 2),
        other => panic!("test writer: ggml type {other}"),
    }
}

/// A GGUF metadata value.
pub enum Kv {
    Str(String),
    U32(u32),
    U64(u64),
    F32(f32),
    Strs(Vec<String>),
}

fn gguf_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The GGUF v3 header bytes up to the aligned data start, and the data length. `tensors` are
/// (name, ggml type, dims in ne order: ne[0] = row length).
pub fn gguf_header(kvs: &[(&str, Kv)], tensors: &[(&str, &str, Vec<u64>)]) -> (Vec<u8>, u64) {
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
    for (k, v) in kvs {
        gguf_str(&mut out, k);
        match v {
            Kv::Str(s) => {
                out.extend_from_slice(&8u32.to_le_bytes());
                gguf_str(&mut out, s);
            }
            Kv::U32(x) => {
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&x.to_le_bytes());
            }
            Kv::U64(x) => {
                out.extend_from_slice(&10u32.to_le_bytes());
                out.extend_from_slice(&x.to_le_bytes());
            }
            Kv::F32(x) => {
                out.extend_from_slice(&6u32.to_le_bytes());
                out.extend_from_slice(&x.to_le_bytes());
            }
            Kv::Strs(list) => {
                out.extend_from_slice(&9u32.to_le_bytes());
                out.extend_from_slice(&8u32.to_le_bytes());
                out.extend_from_slice(&(list.len() as u64).to_le_bytes());
                for s in list {
                    gguf_str(&mut out, s);
                }
            }
        }
    }
    let mut offset = 0u64;
    for (name, ty, dims) in tensors {
        let (id, per, bytes) = ggml(ty);
        gguf_str(&mut out, name);
        out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        let n: u64 = dims.iter().product();
        offset += (n / per * bytes).div_ceil(32) * 32;
    }
    while out.len() % 32 != 0 {
        out.push(0);
    }
    (out, offset)
}

/// Writes a GGUF file with a sparse data region; returns its length.
pub fn write_gguf(path: &Path, kvs: &[(&str, Kv)], tensors: &[(&str, &str, Vec<u64>)]) -> u64 {
    let (header, data) = gguf_header(kvs, tensors);
    let mut f = File::create(path).unwrap();
    f.write_all(&header).unwrap();
    let total = header.len() as u64 + data;
    f.set_len(total).unwrap();
    total
}

/// A transformers config.json for a spec, written the way each architecture's config names its
/// fields (Phi-3-small: ff_intermediate_size; Phi-3-V: img_processor + embd_layer; DeepSeek: MLA and
/// expert fields). Every field the importer could default is stated.
pub fn hf_config(spec: &ModelSpec) -> Value {
    let a = spec.architecture.as_ref().expect("architecture-level spec");
    let model_type = a.kind.name();
    let mut c = json!({
        "model_type": model_type,
        "hidden_size": a.hidden_size,
        "num_hidden_layers": a.layers,
        "num_attention_heads": a.attention_heads,
        "num_key_value_heads": a.kv_heads(),
        "vocab_size": a.vocab_size,
        "max_position_embeddings": spec.max_context,
        "tie_word_embeddings": a.tie_embeddings,
        "torch_dtype": match spec.dtype.as_str() { "fp16" => "float16", "fp32" => "float32", _ => "bfloat16" },
        "sliding_window": a.sliding_window,
    });
    let m = c.as_object_mut().unwrap();
    if a.kind == ArchType::Phi3small {
        m.insert("ff_intermediate_size".into(), json!(a.intermediate_size));
        m.insert("hidden_act".into(), json!("gegelu"));
    } else {
        m.insert("intermediate_size".into(), json!(a.intermediate_size));
    }
    if a.head_dim.is_some() && a.mla.is_none() {
        m.insert("head_dim".into(), json!(a.head_dim()));
    }
    match a.kind {
        ArchType::Phimoe => {
            let moe = a.moe.as_ref().unwrap();
            m.insert("num_local_experts".into(), json!(moe.experts));
            m.insert("num_experts_per_tok".into(), json!(moe.experts_per_token));
            m.insert("attention_bias".into(), json!(a.qkv_bias));
            m.insert("lm_head_bias".into(), json!(a.lm_head_bias));
        }
        ArchType::Mixtral => {
            let moe = a.moe.as_ref().unwrap();
            m.insert("num_local_experts".into(), json!(moe.experts));
            m.insert("num_experts_per_tok".into(), json!(moe.experts_per_token));
        }
        ArchType::Llama | ArchType::Gemma | ArchType::Gemma2 => {
            m.insert("attention_bias".into(), json!(a.qkv_bias));
        }
        _ => {}
    }
    if let Some(v) = &spec.vision {
        assert_eq!(v.encoder, "clip-vit-l-14-336");
        m.insert(
            "img_processor".into(),
            json!({"model_name": "openai/clip-vit-large-patch14-336", "name": "clip_vision_model", "image_dim_out": v.hidden_size, "num_img_tokens": 144}),
        );
        m.insert(
            "embd_layer".into(),
            json!({"embedding_cls": "image", "projection_cls": if v.projector.len() == 2 { "mlp" } else { "linear" }, "use_hd_transform": true, "with_learnable_separator": v.extra_parameters > 0, "hd_transform_order": "sub_glb"}),
        );
    }
    if a.kind == ArchType::Phi3small {
        assert_eq!(a.norm, NormKind::Layer);
    }
    c
}
pub mod speed;
