//! Tiny writers for the files the import tests read: safetensors (header + data, or a sparse data
//! region), GGUF (header, metadata, tensor infos, sparse data), and a transformers config.json built
//! from a spec. Written here from the formats' descriptions, independent of the importer.
#![allow(dead_code)]

use gpuplan::spec::model::{
    ArchType, Architecture, ModelSpec, MoeSpec, NormKind, RecurrentSpec, StateDtype, VisionTower,
};
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
    /// an array of int32 (per-layer lists)
    I32s(Vec<i32>),
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
            Kv::I32s(list) => {
                out.extend_from_slice(&9u32.to_le_bytes());
                out.extend_from_slice(&5u32.to_le_bytes());
                out.extend_from_slice(&(list.len() as u64).to_le_bytes());
                for x in list {
                    out.extend_from_slice(&x.to_le_bytes());
                }
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
/// expert fields; multimodal models: text_config + vision_config; hybrids: their layer lists and
/// mixer fields). Every field the importer could default is stated.
pub fn hf_config(spec: &ModelSpec) -> Value {
    let a = spec.architecture.as_ref().expect("architecture-level spec");
    let mut text = json!({
        "hidden_size": a.hidden_size,
        "num_hidden_layers": a.layers,
        "num_attention_heads": a.attention_heads,
        "num_key_value_heads": a.kv_heads(),
        "vocab_size": a.vocab_size,
        "max_position_embeddings": spec.max_context,
        "tie_word_embeddings": a.tie_embeddings,
        "sliding_window": a.sliding_window,
    });
    let t = text.as_object_mut().unwrap();
    if a.kind == ArchType::Phi3small {
        t.insert("ff_intermediate_size".into(), json!(a.intermediate_size));
        t.insert("hidden_act".into(), json!("gegelu"));
    } else {
        t.insert("intermediate_size".into(), json!(a.intermediate_size));
    }
    if a.head_dim.is_some() && a.mla.is_none() {
        t.insert("head_dim".into(), json!(a.head_dim()));
    }
    let mut top = Map::new();
    family_fields(spec, a, t, &mut top);
    let mut c = json!({
        "model_type": model_type(spec),
        "torch_dtype": match spec.dtype.as_str() { "fp16" => "float16", "fp32" => "float32", _ => "bfloat16" },
    });
    let m = c.as_object_mut().unwrap();
    match spec.dtype.as_str() {
        // DeepSeek-V3/R1 and Kimi-K2 ship FP8 in 128 x 128 blocks
        "fp8-block" => {
            m.insert(
                "quantization_config".into(),
                json!({"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": [128, 128]}),
            );
        }
        // gpt-oss: the experts in MXFP4, the rest bf16
        "mxfp4" => {
            m.insert("quantization_config".into(), json!({"quant_method": "mxfp4"}));
        }
        _ => {}
    }
    let nested = matches!(a.kind, ArchType::Llama4 | ArchType::Mistral3)
        || (a.kind == ArchType::Gemma3 && spec.vision.is_some());
    if nested {
        m.insert("text_config".into(), text);
    } else {
        m.extend(text.as_object().unwrap().clone());
    }
    m.extend(top);
    c
}

fn model_type(spec: &ModelSpec) -> &'static str {
    let a = spec.architecture.as_ref().unwrap();
    match a.kind {
        ArchType::Gemma3 if spec.vision.is_none() => "gemma3_text",
        k => k.name(),
    }
}

/// The MoE fields DeepSeek-V2/V3 and GLM-4.5 name alike: routed experts, top-k, the expert width,
/// shared experts as a multiple of it, and the dense first layers.
fn deepseek_style_moe(t: &mut Map<String, Value>, m: &MoeSpec) {
    let width = m.expert_intermediate_size.unwrap();
    t.insert("n_routed_experts".into(), json!(m.experts));
    t.insert("num_experts_per_tok".into(), json!(m.experts_per_token));
    t.insert("moe_intermediate_size".into(), json!(width));
    t.insert(
        "n_shared_experts".into(),
        json!(m.shared_expert_intermediate_size.unwrap_or(0) / width),
    );
    t.insert("first_k_dense_replace".into(), json!(m.dense_layers));
}

/// The family's own fields: `t` is the decoder's object (top level or text_config), `top` the
/// multimodal wrapper's.
fn family_fields(spec: &ModelSpec, a: &Architecture, t: &mut Map<String, Value>, top: &mut Map<String, Value>) {
    let moe = a.moe.as_ref();
    let put = |t: &mut Map<String, Value>, k: &str, v: Value| {
        t.insert(k.to_string(), v);
    };
    match a.kind {
        ArchType::Phimoe => {
            let moe = moe.unwrap();
            put(t, "num_local_experts", json!(moe.experts));
            put(t, "num_experts_per_tok", json!(moe.experts_per_token));
            put(t, "attention_bias", json!(a.qkv_bias));
            put(t, "lm_head_bias", json!(a.lm_head_bias));
        }
        ArchType::Mixtral => {
            let moe = moe.unwrap();
            put(t, "num_local_experts", json!(moe.experts));
            put(t, "num_experts_per_tok", json!(moe.experts_per_token));
        }
        ArchType::Llama | ArchType::Gemma | ArchType::Gemma2 | ArchType::SmolLm3 | ArchType::Granite => {
            put(t, "attention_bias", json!(a.qkv_bias));
        }
        ArchType::Qwen3 | ArchType::Qwen3Moe => {
            put(t, "attention_bias", json!(a.qkv_bias));
            put(t, "use_sliding_window", json!(false));
            if let Some(m) = moe {
                put(t, "num_experts", json!(m.experts));
                put(t, "num_experts_per_tok", json!(m.experts_per_token));
                put(t, "moe_intermediate_size", json!(m.expert_intermediate_size.unwrap()));
                put(t, "decoder_sparse_step", json!(1));
                put(t, "mlp_only_layers", json!((0..m.dense_layers).collect::<Vec<_>>()));
            }
        }
        ArchType::Qwen3Next => {
            let m = moe.unwrap();
            let r = a.recurrent.as_ref().unwrap();
            let full = a.attention_layer_count();
            let types: Vec<&str> = (0..a.layers)
                .map(|i| if i < full { "full_attention" } else { "linear_attention" })
                .collect();
            put(t, "layer_types", json!(types));
            put(t, "linear_num_value_heads", json!(r.heads));
            put(t, "linear_value_head_dim", json!(r.head_dim));
            put(t, "linear_num_key_heads", json!(r.groups));
            put(t, "linear_key_head_dim", json!(r.state_size));
            put(t, "linear_conv_kernel_dim", json!(r.conv_kernel));
            put(t, "num_experts", json!(m.experts));
            put(t, "num_experts_per_tok", json!(m.experts_per_token));
            put(t, "moe_intermediate_size", json!(m.expert_intermediate_size.unwrap()));
            put(
                t,
                "shared_expert_intermediate_size",
                json!(m.shared_expert_intermediate_size.unwrap_or(0)),
            );
            put(t, "decoder_sparse_step", json!(1));
            put(t, "mlp_only_layers", json!((0..m.dense_layers).collect::<Vec<_>>()));
        }
        ArchType::Gemma3 => {
            put(t, "attention_bias", json!(a.qkv_bias));
            put(t, "sliding_window_pattern", json!(a.sliding_window_pattern));
            if let Some(v) = &spec.vision {
                top.insert(
                    "vision_config".into(),
                    json!({"hidden_size": v.hidden_size, "num_hidden_layers": v.layers, "num_attention_heads": v.attention_heads,
                           "intermediate_size": v.intermediate_size, "image_size": v.image_size, "patch_size": v.patch_size,
                           "num_channels": v.channels, "vision_use_head": false, "model_type": "siglip_vision_model"}),
                );
                top.insert("mm_tokens_per_image".into(), json!(v.tokens_per_crop()));
            }
        }
        ArchType::GptOss => {
            let m = moe.unwrap();
            put(t, "attention_bias", json!(a.qkv_bias));
            put(t, "num_local_experts", json!(m.experts));
            put(t, "num_experts_per_tok", json!(m.experts_per_token));
            let types: Vec<&str> = (0..a.layers)
                .map(|i| {
                    if (i + 1) % a.sliding_window_pattern != 0 {
                        "sliding_attention"
                    } else {
                        "full_attention"
                    }
                })
                .collect();
            put(t, "layer_types", json!(types));
        }
        ArchType::Llama4 => {
            let m = moe.unwrap();
            let width = m.expert_intermediate_size.unwrap();
            put(t, "intermediate_size", json!(width));
            put(t, "intermediate_size_mlp", json!(a.intermediate_size));
            put(t, "num_local_experts", json!(m.experts));
            put(t, "num_experts_per_tok", json!(m.experts_per_token));
            put(
                t,
                "interleave_moe_layer_step",
                json!(a.layers / (a.layers - m.dense_layers)),
            );
            put(t, "attention_chunk_size", json!(a.sliding_window));
            put(t, "attention_bias", json!(a.qkv_bias));
            t.remove("sliding_window");
            if let Some(v) = &spec.vision {
                let p = &v.projector;
                top.insert(
                    "vision_config".into(),
                    json!({"hidden_size": v.hidden_size, "num_hidden_layers": v.layers, "num_attention_heads": v.attention_heads,
                           "intermediate_size": v.intermediate_size, "image_size": v.image_size, "patch_size": v.patch_size,
                           "num_channels": v.channels, "projector_input_dim": p[0], "projector_output_dim": p[1],
                           "pixel_shuffle_ratio": 1.0 / v.merge as f64, "multi_modal_projector_bias": v.projector_bias}),
                );
            }
        }
        ArchType::Glm4Moe => {
            put(t, "attention_bias", json!(a.qkv_bias));
            put(t, "use_qk_norm", json!(a.qk_norm));
            deepseek_style_moe(t, moe.unwrap());
        }
        ArchType::Mistral3 => {
            let v = spec.vision.as_ref().unwrap();
            top.insert(
                "vision_config".into(),
                json!({"hidden_size": v.hidden_size, "num_hidden_layers": v.layers, "num_attention_heads": v.attention_heads,
                       "intermediate_size": v.intermediate_size, "image_size": v.image_size, "patch_size": v.patch_size,
                       "num_channels": v.channels, "model_type": "pixtral"}),
            );
            top.insert("spatial_merge_size".into(), json!(v.merge));
            top.insert("multimodal_projector_bias".into(), json!(v.projector_bias));
        }
        ArchType::Qwen2_5Vl => {
            put(t, "use_sliding_window", json!(false));
            let v = spec.vision.as_ref().unwrap();
            top.insert(
                "vision_config".into(),
                json!({"hidden_size": v.hidden_size, "depth": v.layers, "num_heads": v.attention_heads,
                       "intermediate_size": v.intermediate_size, "patch_size": v.patch_size, "in_chans": v.channels,
                       "spatial_merge_size": v.merge, "temporal_patch_size": 2, "out_hidden_size": a.hidden_size}),
            );
        }
        ArchType::DeepseekV2 | ArchType::DeepseekV3 => {
            let mla = a.mla.as_ref().unwrap();
            put(t, "q_lora_rank", json!(mla.q_lora_rank));
            put(t, "kv_lora_rank", json!(mla.kv_lora_rank));
            put(t, "qk_nope_head_dim", json!(mla.qk_nope_head_dim));
            put(t, "qk_rope_head_dim", json!(mla.qk_rope_head_dim));
            put(t, "v_head_dim", json!(mla.v_head_dim));
            deepseek_style_moe(t, moe.unwrap());
            put(t, "topk_method", json!("noaux_tc"));
        }
        ArchType::GraniteMoeHybrid => {
            put(t, "attention_bias", json!(a.qkv_bias));
            let full = a.attention_layer_count();
            let types: Vec<&str> = (0..a.layers)
                .map(|i| if i < full { "attention" } else { "mamba" })
                .collect();
            put(t, "layer_types", json!(types));
            match moe {
                Some(m) => {
                    put(t, "num_local_experts", json!(m.experts));
                    put(t, "num_experts_per_tok", json!(m.experts_per_token));
                    put(t, "intermediate_size", json!(m.expert_intermediate_size.unwrap()));
                    put(
                        t,
                        "shared_intermediate_size",
                        json!(m.shared_expert_intermediate_size.unwrap()),
                    );
                }
                None => {
                    put(t, "num_local_experts", json!(0));
                    put(t, "shared_intermediate_size", json!(a.intermediate_size));
                }
            }
            if let Some(r) = &a.recurrent {
                mamba_fields(
                    t,
                    r,
                    [
                        "mamba_n_heads",
                        "mamba_d_head",
                        "mamba_n_groups",
                        "mamba_d_state",
                        "mamba_d_conv",
                        "mamba_conv_bias",
                        "mamba_proj_bias",
                    ],
                );
            }
        }
        ArchType::NemotronH => {
            let r = a.recurrent.as_ref().unwrap();
            let (attn, mlp) = (a.attention_layer_count(), a.mlp_layer_count());
            let pattern: String = std::iter::repeat_n('*', attn as usize)
                .chain(std::iter::repeat_n('-', mlp as usize))
                .chain(std::iter::repeat_n('M', r.layers as usize))
                .collect();
            put(t, "hybrid_override_pattern", json!(pattern));
            put(t, "attention_bias", json!(a.qkv_bias));
            put(t, "mlp_bias", json!(a.mlp_bias));
            mamba_fields(
                t,
                r,
                [
                    "mamba_num_heads",
                    "mamba_head_dim",
                    "n_groups",
                    "ssm_state_size",
                    "conv_kernel",
                    "use_conv_bias",
                    "use_bias",
                ],
            );
            if r.ssm_state_dtype == Some(StateDtype::Bf16) {
                put(t, "mamba_ssm_cache_dtype", json!("bfloat16"));
            }
        }
        ArchType::FalconH1 => {
            let r = a.recurrent.as_ref().unwrap();
            put(t, "attention_bias", json!(a.qkv_bias));
            put(t, "mlp_bias", json!(a.mlp_bias));
            mamba_fields(
                t,
                r,
                [
                    "mamba_n_heads",
                    "mamba_d_head",
                    "mamba_n_groups",
                    "mamba_d_state",
                    "mamba_d_conv",
                    "mamba_conv_bias",
                    "mamba_proj_bias",
                ],
            );
            put(t, "mamba_d_ssm", json!(r.inner()));
            put(t, "projectors_bias", json!(r.proj_bias));
            put(t, "mamba_rms_norm", json!(r.gated_norm));
        }
        _ => {}
    }
    if let Some(v) = &spec.vision {
        if v.tower == VisionTower::Clip {
            assert_eq!(v.encoder, "clip-vit-l-14-336");
            top.insert(
                "img_processor".into(),
                json!({"model_name": "openai/clip-vit-large-patch14-336", "name": "clip_vision_model", "image_dim_out": v.hidden_size, "num_img_tokens": 144}),
            );
            top.insert(
                "embd_layer".into(),
                json!({"embedding_cls": "image", "projection_cls": if v.projector.len() == 2 { "mlp" } else { "linear" }, "use_hd_transform": true, "with_learnable_separator": v.extra_parameters > 0, "hd_transform_order": "sub_glb"}),
            );
        }
    }
    if a.kind == ArchType::Phi3small {
        assert_eq!(a.norm, NormKind::Layer);
    }
}

/// Mamba-2 fields under one family's key names: heads, head dim, groups, state, conv, conv bias, bias.
fn mamba_fields(t: &mut Map<String, Value>, r: &RecurrentSpec, keys: [&str; 7]) {
    let values = [
        json!(r.heads),
        json!(r.head_dim),
        json!(r.groups),
        json!(r.state_size),
        json!(r.conv_kernel),
        json!(r.conv_bias),
        json!(r.proj_bias),
    ];
    for (k, v) in keys.iter().zip(values) {
        t.insert(k.to_string(), v);
    }
}
pub mod speed;
