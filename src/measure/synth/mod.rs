//! `gpuplan synth`: a GGUF file llama.cpp loads, with every tensor at the exact shape and GGML
//! storage type gpuplan sizes the model with, the metadata llama.cpp reads for the architecture and a
//! minimal byte-level tokenizer. The data region is a hole: weights read as zeros, never real ones.
//!
//! Storage per tensor:
//! - GGUF formats (q4_k_m, q8_0, ...): [`Format::storage_for`], i.e. llama-quantize's per-tensor
//!   rules as gpuplan transcribes them, the same call the estimator's weight bytes use;
//! - fp32 / fp16 / bf16: 2-D weights in that type, 1-D tensors (norms, biases) and the MoE router in
//!   F32, as llama.cpp's `convert_hf_to_gguf.py` writes them (only `*.weight` tensors of 2+
//!   dimensions that are not `ffn_gate_inp` take the output type). gpuplan's uniform formats size
//!   those few tensors at 16 bits; [`Synth::difference_bytes`] is that gap, to the byte.
//!
//! The tensor list is checked against gpuplan's inventory (`estimate::arch`): the same parameter
//! count, and for GGUF formats the same bytes as the estimator's weights.

pub mod layout;
pub mod writer;

use crate::estimate::{ModelFacts, WeightFacts};
use crate::import::gguf::format_file_type;
use crate::spec::precision::{Format, FormatKind, Ggml, GgufModel, QuantTensor, Role, StorageType, TypeRules};
use crate::spec::ModelSpec;
use serde::Serialize;
use std::path::{Path, PathBuf};
use writer::{Meta, TensorInfo};

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// a model or format gpuplan has no GGUF form for
    #[error("cannot write a GGUF file: {0}")]
    Unsupported(String),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// the writer's tensor list and the estimator's inventory disagree (a bug in one of them)
    #[error("synth and the estimator disagree: {0}")]
    Disagrees(String),
}

/// Tokens besides the bytes: `<unk>`, `<s>`, `</s>`, and `<|endoftext|>`, which llama.cpp's
/// vocabulary loader looks up by name in models named Phi-3 (`llama_vocab::impl::load`).
const SPECIAL_TOKENS: u64 = 4;

/// One tensor as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthTensor {
    pub name: String,
    pub role: Role,
    /// ggml order: ne[0] (the row) first
    pub dims: Vec<u64>,
    /// GGML type (serialized as ggml names it: Q4_K, F32, ...)
    #[serde(serialize_with = "ggml_name")]
    pub ggml: Ggml,
    pub bytes: u64,
}

/// Tensors of one GGML type together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeLine {
    #[serde(serialize_with = "ggml_name")]
    pub ggml: Ggml,
    pub tensors: u64,
    pub bytes: u64,
}

/// What `synth` writes for a model and format.
#[derive(Debug, Clone, Serialize)]
pub struct Synth {
    pub model: String,
    pub format: &'static str,
    /// GGUF `general.architecture`
    pub arch: &'static str,
    /// GGUF `general.file_type` (absent for formats llama.cpp has no file type for, e.g. q4_k)
    pub file_type: Option<u64>,
    pub tensors: Vec<SynthTensor>,
    pub by_type: Vec<TypeLine>,
    /// Σ tensor bytes
    pub tensor_bytes: u64,
    pub parameters: u64,
    /// gpuplan's weight bytes for this model and format (`WeightFacts::total`)
    pub estimated_bytes: u64,
    /// tensor_bytes - estimated_bytes: 0 for GGUF formats; for fp32/fp16/bf16 the 1-D tensors and
    /// router the converter keeps in F32
    pub difference_bytes: i64,
    #[serde(skip)]
    metadata: Vec<(String, Meta)>,
}

/// A file written.
#[derive(Debug, Clone, Serialize)]
pub struct SynthFile {
    pub path: PathBuf,
    #[serde(flatten)]
    pub synth: Synth,
    pub header_bytes: u64,
    /// data region incl. the 32-byte alignment padding between tensors
    pub data_bytes: u64,
    pub padding_bytes: u64,
    pub file_bytes: u64,
}

fn ggml_name<S: serde::Serializer>(g: &Ggml, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(g.name())
}

/// The GGML type a tensor of `role` is stored in, in a file of `format`.
fn storage(format: &Format, t: &layout::LayoutTensor, model: &GgufModel) -> Result<Ggml, SynthError> {
    let st = match format.kind {
        FormatKind::Gguf => {
            let tensor = QuantTensor {
                role: t.role,
                layer: t.layer.map(|(l, _)| l),
                rows: t.dims.get(1).copied().unwrap_or(1),
                cols: t.cols(),
            };
            let rules = TypeRules {
                model,
                checkpoint: None,
            };
            format.storage_for(&tensor, &rules)
        }
        FormatKind::Uniform => match t.role {
            Role::Norm | Role::Bias | Role::Router => StorageType::F32,
            _ => format.storage,
        },
        FormatKind::LinearOnly | FormatKind::ExpertsOnly => {
            return Err(SynthError::Unsupported(format!(
                "--precision {}: not a GGUF storage (use a GGUF format, fp16, bf16 or fp32)",
                format.id
            )))
        }
    };
    Ok(match st {
        StorageType::Ggml(g) => g.for_row(t.cols()),
        StorageType::F32 => Ggml::F32,
        StorageType::F16 => Ggml::F16,
        StorageType::Bf16 => Ggml::BF16,
        other => {
            return Err(SynthError::Unsupported(format!(
                "--precision {}: storage {} has no GGML type",
                format.id,
                other.label()
            )))
        }
    })
}

/// Bytes of `elements` in the GGML type `ggml` (rows are whole blocks: `storage` picked the type).
fn bytes_of(ggml: Ggml, t: &layout::LayoutTensor) -> u64 {
    let (block, per) = ggml.block();
    t.rows() * t.cols().div_ceil(per) * block
}

/// `llama-quantize`'s file order (`weight_name_comparer`, src/llama-model-loader.h): the tensors
/// outside the blocks by name, then block 0, 1, 2, ... each by name. A synthetic file laid out like a
/// downloaded one maps the same span when a split leaves some of it on the CPU.
fn quantize_key(name: &str) -> (i64, String) {
    let layer = name
        .strip_prefix("blk.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap_or(-1);
    (layer, name.to_string())
}

/// The plan of a file: tensors, types, metadata; checked against the estimator.
pub fn plan(spec: &ModelSpec, format: &'static Format) -> Result<Synth, SynthError> {
    let a = spec.architecture.as_ref().ok_or_else(|| {
        SynthError::Unsupported(format!(
            "model `{}` is a summary-level spec (no architecture): its tensor shapes are unknown",
            spec.id
        ))
    })?;
    if spec.vision.is_some() {
        return Err(SynthError::Unsupported(format!(
            "model `{}` has a vision tower, which llama.cpp keeps in a separate mmproj file",
            spec.id
        )));
    }
    let arch = layout::gguf_arch(a)?;
    if a.vocab_size < SPECIAL_TOKENS + 256 {
        return Err(SynthError::Unsupported(format!(
            "vocabulary of {} tokens: the byte-level tokenizer needs at least {}",
            a.vocab_size,
            SPECIAL_TOKENS + 256
        )));
    }
    let gguf = GgufModel::from_architecture(a);
    let mut tensors = Vec::new();
    for t in layout::tensors(a) {
        let ggml = storage(format, &t, &gguf)?;
        tensors.push(SynthTensor {
            bytes: bytes_of(ggml, &t),
            name: t.name,
            role: t.role,
            dims: t.dims,
            ggml,
        });
    }
    tensors.sort_by_cached_key(|t| quantize_key(&t.name));
    let facts = ModelFacts::new(spec);
    let parameters: u64 = tensors.iter().map(|t| t.dims.iter().product::<u64>()).sum();
    if parameters != facts.parameters {
        return Err(SynthError::Disagrees(format!(
            "the GGUF tensors hold {parameters} parameters, the inventory {}",
            facts.parameters
        )));
    }
    let estimated_bytes = WeightFacts::new(spec, &facts, format, 1).total;
    let tensor_bytes: u64 = tensors.iter().map(|t| t.bytes).sum();
    let difference_bytes = tensor_bytes as i64 - estimated_bytes as i64;
    if format.kind == FormatKind::Gguf && difference_bytes != 0 {
        return Err(SynthError::Disagrees(format!(
            "{tensor_bytes} B of {} tensors, but the estimator sizes the weights at {estimated_bytes} B",
            format.id
        )));
    }
    let mut by_type: Vec<TypeLine> = Vec::new();
    for t in &tensors {
        match by_type.iter_mut().find(|l| l.ggml == t.ggml) {
            Some(l) => {
                l.tensors += 1;
                l.bytes += t.bytes;
            }
            None => by_type.push(TypeLine {
                ggml: t.ggml,
                tensors: 1,
                bytes: t.bytes,
            }),
        }
    }
    by_type.sort_by_key(|l| std::cmp::Reverse(l.bytes));
    let file_type = format_file_type(format.id).map(|ft| ft.id());
    Ok(Synth {
        model: spec.id.clone(),
        format: format.id,
        arch,
        file_type,
        metadata: metadata(spec, a, arch, file_type),
        tensors,
        by_type,
        tensor_bytes,
        parameters,
        estimated_bytes,
        difference_bytes,
    })
}

/// The keys llama.cpp reads (`llama_model_base::load_hparams`, the architectures'
/// `load_arch_hparams`, `llama_vocab::load`), and the ones gpuplan's importer reads back.
fn metadata(
    spec: &ModelSpec,
    a: &crate::spec::model::Architecture,
    arch: &str,
    file_type: Option<u64>,
) -> Vec<(String, Meta)> {
    let u32_of = |v: u64| Meta::U32(u32::try_from(v).unwrap_or(u32::MAX));
    let k = |s: &str| format!("{arch}.{s}");
    let mut m: Vec<(String, Meta)> = vec![
        ("general.architecture".into(), Meta::Str(arch.into())),
        ("general.name".into(), Meta::Str(spec.name.clone())),
    ];
    if let Some(ft) = file_type {
        m.push(("general.file_type".into(), u32_of(ft)));
    }
    m.extend([
        (k("context_length"), u32_of(spec.max_context)),
        (k("embedding_length"), u32_of(a.hidden_size)),
        (k("block_count"), u32_of(a.layers)),
        (k("feed_forward_length"), u32_of(a.intermediate_size)),
        (k("attention.head_count"), u32_of(a.attention_heads)),
        (k("attention.head_count_kv"), u32_of(a.kv_heads())),
        (k("attention.key_length"), u32_of(a.head_dim())),
        (k("attention.value_length"), u32_of(a.head_dim())),
        (k("rope.dimension_count"), u32_of(a.head_dim())),
        // phimoe reads the RMS key too, though its norms are LayerNorms
        (k("attention.layer_norm_rms_epsilon"), Meta::F32(1e-5)),
        (k("vocab_size"), u32_of(a.vocab_size)),
    ]);
    if let Some(w) = a.sliding_window {
        // phi3 and phimoe ignore it (llama.cpp disables Phi SWA); gpuplan's importer reads it back
        m.push((k("attention.sliding_window"), u32_of(w)));
    }
    if let Some(moe) = &a.moe {
        m.push((k("expert_count"), u32_of(moe.experts)));
        m.push((k("expert_used_count"), u32_of(moe.experts_per_token)));
        if let Some(w) = moe.expert_intermediate_size {
            m.push((k("expert_feed_forward_length"), u32_of(w)));
        }
    }
    // a SentencePiece ("llama") vocabulary of the 256 byte tokens plus fillers, as many tokens as
    // token_embd has rows (llama.cpp checks the two agree)
    let n = a.vocab_size;
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into(), "<|endoftext|>".into()];
    tokens.extend((0..256).map(|b| format!("<0x{b:02X}>")));
    tokens.extend((tokens.len() as u64..n).map(|i| format!("▁t{i}")));
    // llama_token_type: UNKNOWN 2, CONTROL 3, BYTE 6, NORMAL 1
    let mut types = vec![2, 3, 3, 3];
    types.extend(std::iter::repeat_n(6, 256));
    types.resize(n as usize, 1);
    m.extend([
        ("tokenizer.ggml.model".into(), Meta::Str("llama".into())),
        ("tokenizer.ggml.tokens".into(), Meta::Strs(tokens)),
        ("tokenizer.ggml.scores".into(), Meta::F32s(vec![0.0; n as usize])),
        ("tokenizer.ggml.token_type".into(), Meta::I32s(types)),
        ("tokenizer.ggml.unknown_token_id".into(), Meta::U32(0)),
        ("tokenizer.ggml.bos_token_id".into(), Meta::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Meta::U32(2)),
    ]);
    m
}

impl Synth {
    /// The tensor infos in file order.
    pub fn tensor_infos(&self) -> Vec<TensorInfo> {
        self.tensors
            .iter()
            .map(|t| TensorInfo {
                name: t.name.clone(),
                dims: t.dims.clone(),
                ggml_type: t.ggml.id(),
                bytes: t.bytes,
            })
            .collect()
    }

    /// Writes the file (data as a hole).
    pub fn write(self, path: &Path) -> Result<SynthFile, SynthError> {
        let w = writer::write(path, &self.metadata, &self.tensor_infos()).map_err(|source| SynthError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(SynthFile {
            path: path.to_path_buf(),
            synth: self,
            header_bytes: w.header_bytes,
            data_bytes: w.data_bytes,
            padding_bytes: w.padding_bytes,
            file_bytes: w.file_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::arch::check_declared;
    use crate::spec::Catalog;

    fn spec(id: &str) -> ModelSpec {
        Catalog::embedded(check_declared)
            .unwrap()
            .model(id, check_declared)
            .unwrap()
    }

    #[test]
    fn phi3_mini_q4_k_m_types_follow_llama_quantize() {
        let s = plan(&spec("phi-3.5-mini"), Format::parse("q4_k_m").unwrap()).unwrap();
        let t = |n: &str| s.tensors.iter().find(|t| t.name == n).unwrap();
        assert_eq!(t("blk.0.attn_qkv.weight").ggml, Ggml::Q5_K);
        assert_eq!(t("blk.0.attn_qkv.weight").dims, vec![3072, 9216]);
        assert_eq!(t("blk.0.ffn_up.weight").dims, vec![3072, 16384]);
        assert_eq!(t("blk.0.ffn_down.weight").ggml, Ggml::Q6_K);
        assert_eq!(t("blk.4.ffn_down.weight").ggml, Ggml::Q4_K);
        assert_eq!(t("output.weight").ggml, Ggml::Q6_K);
        assert_eq!(t("output_norm.weight").ggml, Ggml::F32);
        assert_eq!(s.difference_bytes, 0);
        assert_eq!(s.tensors.len(), 1 + 32 * 6 + 2);
    }

    #[test]
    fn tensors_are_in_llama_quantizes_order() {
        let s = plan(&spec("phi-3.5-mini"), Format::parse("q4_k_m").unwrap()).unwrap();
        let names: Vec<&str> = s.tensors.iter().map(|t| t.name.as_str()).collect();
        // outside the blocks by name, then block 0, 1, ... 10 (numerically, not as text), each by name
        assert_eq!(
            names[..5],
            [
                "output.weight",
                "output_norm.weight",
                "token_embd.weight",
                "blk.0.attn_norm.weight",
                "blk.0.attn_output.weight"
            ]
        );
        let blk = |i: usize| names.iter().position(|n| n.starts_with(&format!("blk.{i}."))).unwrap();
        assert!(blk(2) < blk(10) && blk(9) < blk(10));
        assert_eq!(names.last(), Some(&"blk.31.ffn_up.weight"));
    }

    #[test]
    fn uniform_formats_keep_norms_in_f32_and_say_by_how_much() {
        let m = spec("phi-3.5-mini");
        let s = plan(&m, Format::parse("fp16").unwrap()).unwrap();
        // 65 norm vectors of 3072 (2 per layer + the final one) at 4 instead of 2 bytes
        assert_eq!(s.difference_bytes, 65 * 3072 * 2);
        assert!(s.tensors.iter().all(|t| (t.dims.len() == 1) == (t.ggml == Ggml::F32)));
    }

    #[test]
    fn moe_experts_are_3d_and_the_router_f32() {
        let s = plan(&spec("phi-3.5-moe"), Format::parse("q4_k_m").unwrap()).unwrap();
        let t = |n: &str| s.tensors.iter().find(|t| t.name == n).unwrap();
        assert_eq!(t("blk.0.ffn_gate_exps.weight").dims, vec![4096, 6400, 16]);
        assert_eq!(t("blk.0.ffn_down_exps.weight").dims, vec![6400, 4096, 16]);
        assert_eq!(t("blk.0.ffn_down_exps.weight").ggml, Ggml::Q6_K);
        assert_eq!(t("blk.0.ffn_gate_inp.weight").ggml, Ggml::F32);
        assert_eq!(t("output.bias").ggml, Ggml::F32);
        assert_eq!(s.difference_bytes, 0);
    }

    #[test]
    fn unsupported_models_and_formats_are_named() {
        let e = plan(&spec("gemma-2-2b"), Format::parse("q8_0").unwrap()).unwrap_err();
        assert!(e.to_string().contains("gemma2"), "{e}");
        let e = plan(&spec("phi-3.5-vision"), Format::parse("q8_0").unwrap()).unwrap_err();
        assert!(e.to_string().contains("mmproj"), "{e}");
        let e = plan(&spec("phi-3.5-mini"), Format::parse("awq-int4").unwrap()).unwrap_err();
        assert!(e.to_string().contains("awq-int4"), "{e}");
    }
}
