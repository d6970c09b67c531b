//! Weight formats and KV-cache precisions: how many bytes a tensor of a given shape takes, and which
//! tensors a format leaves in higher precision.
//!
//! Sizes are exact integer formulas per tensor (never bits x params in floating point), one module
//! per format family:
//! - [`ggml`]: every GGML block type (GGUF files);
//! - [`llama_quant`]: llama.cpp's file types and the per-tensor type rules of llama-quantize;
//! - [`checkpoint`]: safetensors checkpoint formats (FP8 per tensor / channel / 128x128 block, GPTQ,
//!   AWQ, compressed-tensors, bitsandbytes, MXFP4, NVFP4);
//! - [`table`]: the formats users pick with `--precision`, each with the source of its rule;
//! - [`kv`]: KV-cache element types.
//!
//! A checkpoint's own choices win over a format's defaults: a model spec's [`Quantization`] (read
//! from config.json `quantization_config` or a GGUF file's tensor infos) says which tensors it left
//! unquantized, which scale dtype it wrote, and, for GGUF, every tensor's type.

pub mod checkpoint;
pub mod ggml;
pub mod kv;
pub mod llama_quant;
pub mod table;

pub use checkpoint::{Bnb4, Fp8Scale, PackLayout, Packed, ScaleDtype};
pub use ggml::Ggml;
pub use kv::KvPrecision;
pub use llama_quant::{tensor_type, use_more_bits, Ftype, GgufModel, QuantTensor};
pub use table::FORMATS;

use serde::{Deserialize, Serialize};
use std::fmt;

/// The role a tensor plays; formats decide per role which tensors they quantize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Embedding,
    LmHead,
    /// the q projection; with fused qkv (Phi-3) q, k and v, which GGUF stores as one `attn_qkv`
    AttnQkv,
    /// a separate k projection (`attn_k`)
    AttnK,
    AttnV,
    AttnOut,
    MlpUp,
    MlpDown,
    Expert,
    ExpertDown,
    Router,
    Norm,
    Bias,
    Vision,
    Projector,
    /// anything else that is kept as stored (position tables, separators)
    Other,
}

impl Role {
    pub fn is_linear(self) -> bool {
        matches!(
            self,
            Role::AttnQkv
                | Role::AttnK
                | Role::AttnV
                | Role::AttnOut
                | Role::MlpUp
                | Role::MlpDown
                | Role::Expert
                | Role::ExpertDown
        )
    }

    /// The kind of tensor a checkpoint's ignore list names.
    pub fn kind(self) -> TensorKind {
        match self {
            Role::AttnQkv | Role::AttnK | Role::AttnV | Role::AttnOut => TensorKind::Attention,
            Role::MlpUp | Role::MlpDown => TensorKind::Mlp,
            Role::Expert | Role::ExpertDown => TensorKind::Experts,
            Role::Embedding => TensorKind::Embeddings,
            Role::LmHead => TensorKind::LmHead,
            Role::Router => TensorKind::Router,
            Role::Vision | Role::Projector => TensorKind::Vision,
            Role::Norm | Role::Bias | Role::Other => TensorKind::Other,
        }
    }
}

/// Coarse tensor kinds, as quantization ignore lists name them (`self_attn`, `mlp`, `lm_head`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorKind {
    Attention,
    /// dense MLPs and shared experts
    Mlp,
    /// routed experts
    Experts,
    Embeddings,
    LmHead,
    Router,
    Vision,
    Other,
}

/// How one tensor is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageType {
    F32,
    F16,
    Bf16,
    /// FP8 e4m3 weights with scales of the given granularity.
    Fp8(Fp8Scale),
    /// int8 weights with one scale per output row: bitsandbytes LLM.int8 (f32 `SCB`),
    /// compressed-tensors W8A8 (`weight_scale` [out, 1] in the model dtype).
    Int8Row(ScaleDtype),
    /// GPTQ / AWQ / compressed-tensors packed integers with group scales.
    Packed(Packed),
    /// bitsandbytes NF4 / FP4.
    Bnb4(Bnb4),
    /// OCP MXFP4 blocks (17 B / 32 weights).
    Mxfp4,
    /// NVFP4 blocks (9 B / 16 weights) plus two f32 per tensor.
    Nvfp4,
    Ggml(Ggml),
}

impl StorageType {
    /// Exact bytes of a `rows x cols` tensor (rows = output features; a 1-D tensor has rows = 1).
    pub fn bytes(self, rows: u64, cols: u64) -> u64 {
        let numel = rows * cols;
        match self {
            StorageType::F32 => numel * 4,
            StorageType::F16 | StorageType::Bf16 => numel * 2,
            StorageType::Fp8(s) => numel + s.scale_bytes(rows, cols),
            StorageType::Int8Row(s) => numel + rows * s.bytes(),
            StorageType::Packed(p) => p.bytes(rows, cols),
            StorageType::Bnb4(b) => b.bytes(rows, cols),
            StorageType::Mxfp4 => checkpoint::mxfp4_bytes(rows, cols),
            StorageType::Nvfp4 => checkpoint::nvfp4_bytes(rows, cols),
            StorageType::Ggml(t) => t.for_row(cols).bytes(rows, cols),
        }
    }

    /// Bits per weight of a 4096 x 4096 matrix (scales and zero points included).
    pub fn bits_per_weight(self) -> f64 {
        const N: u64 = 4096;
        self.bytes(N, N) as f64 * 8.0 / (N * N) as f64
    }

    /// Short name for tables: `bf16`, `fp8-block128`, `int4-g128`, `Q4_K`.
    pub fn label(self) -> String {
        match self {
            StorageType::F32 => "f32".into(),
            StorageType::F16 => "f16".into(),
            StorageType::Bf16 => "bf16".into(),
            StorageType::Fp8(Fp8Scale::Tensor) => "fp8".into(),
            StorageType::Fp8(Fp8Scale::Channel { .. }) => "fp8-channel".into(),
            StorageType::Fp8(Fp8Scale::Block { size, .. }) => format!("fp8-block{size}"),
            StorageType::Int8Row(_) => "int8".into(),
            StorageType::Packed(p) => match p.group {
                Some(g) => format!("int{}-g{g}", p.bits),
                None => format!("int{}-channel", p.bits),
            },
            StorageType::Bnb4(_) => "nf4".into(),
            StorageType::Mxfp4 => "mxfp4".into(),
            StorageType::Nvfp4 => "nvfp4".into(),
            StorageType::Ggml(t) => t.name().into(),
        }
    }

    /// The same storage with the scale dtype a checkpoint chose.
    fn with_scale(self, dtype: ScaleDtype) -> StorageType {
        match self {
            StorageType::Fp8(Fp8Scale::Block { size, .. }) => StorageType::Fp8(Fp8Scale::Block { size, dtype }),
            StorageType::Fp8(Fp8Scale::Channel { .. }) => StorageType::Fp8(Fp8Scale::Channel { dtype }),
            StorageType::Int8Row(_) => StorageType::Int8Row(dtype),
            StorageType::Packed(p) => StorageType::Packed(Packed { scale: dtype, ..p }),
            other => other,
        }
    }
}

/// The family a weight format belongs to; it decides which tensors stay in higher precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FormatKind {
    /// every tensor in one dtype (checkpoint formats)
    Uniform,
    /// linear layers quantized; embeddings, lm_head, norms, biases, router and vision tower kept 16-bit
    LinearOnly,
    /// only the routed experts quantized (MXFP4 as gpt-oss ships it, and as transformers' and vLLM's
    /// MXFP4 support implements it: experts only)
    ExpertsOnly,
    /// GGUF: 1-D tensors and router f32, vision tower (mmproj) f16; 2-D tensors by llama.cpp's
    /// per-tensor rules for `ftype`, or all `storage` when there is none
    Gguf,
}

impl FormatKind {
    /// What the kind keeps in higher precision, in words.
    pub fn keeps(self) -> &'static str {
        match self {
            FormatKind::Uniform => "every tensor in this dtype",
            FormatKind::LinearOnly => "embeddings, lm_head, norms, biases, router, vision tower in 16-bit",
            FormatKind::ExpertsOnly => {
                "everything but the routed experts in bf16 (attention, router, embeddings, lm_head)"
            }
            FormatKind::Gguf => "norms, biases, router f32; vision tower (mmproj) f16; the rest per llama.cpp's rules",
        }
    }
}

/// Who defines the format: decides which runtimes load it and on which GPUs (`plan::support`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// plain floating point
    Float,
    /// FP8 weights (vLLM `fp8`, DeepSeek/Qwen block FP8, compressed-tensors float-quantized)
    Fp8,
    Gptq,
    Awq,
    /// compressed-tensors integer formats (llm-compressor W8A8, W4A16, W8A16)
    CompressedTensors,
    Bitsandbytes,
    Mxfp4,
    Nvfp4,
    Gguf,
}

/// What a format computes in (for throughput: which tensor-core rate applies; for activations:
/// their element size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComputeType {
    F32,
    F16,
    Fp8,
    Int8,
    /// FP4 tensor cores (NVFP4 W4A4 on Blackwell); GPUs without them run the weights at 16 bits
    Fp4,
}

/// A weight format: `--precision` picks one by id.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Format {
    pub id: &'static str,
    pub description: &'static str,
    pub kind: FormatKind,
    pub method: Method,
    /// storage of quantized tensors (for GGUF, the base type of the mix)
    pub storage: StorageType,
    /// the dtype the tensors that are not quantized keep
    pub keep: StorageType,
    pub compute: ComputeType,
    /// the llama.cpp file type whose per-tensor rules apply (GGUF formats made by llama-quantize)
    pub ftype: Option<Ftype>,
    /// llama-quantize was given an importance matrix (required for IQ1/IQ2/IQ3_XXS, and how the
    /// published i-quant files are made)
    pub imatrix: bool,
    /// where the byte layout and the kept tensors come from (specification or writer's code, by URL)
    pub source: &'static str,
}

/// How a checkpoint applied its format where that differs from the format's defaults. Read from
/// config.json `quantization_config` (ignore lists, scale dtypes) or a GGUF file's tensor infos; it
/// applies when the format chosen is the model's own `dtype`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quantization {
    /// tensor kinds left in 16 bits although the format quantizes them (`ignore`,
    /// `modules_to_not_convert`, `exclude_modules`)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unquantized: Vec<TensorKind>,
    /// the scale dtype the checkpoint wrote, where the format lets the writer choose (FP8 block
    /// scales: DeepSeek f32, Qwen3 bf16; compressed-tensors scales: the model dtype)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_dtype: Option<ScaleDtype>,
    /// packed integer weights carry an activation-order index (compressed-tensors `actorder`:
    /// `weight_g_idx` int32 [in] per layer; GPTQ writes `g_idx` always)
    #[serde(default, skip_serializing_if = "crate::spec::model::is_false")]
    pub act_order: bool,
    /// GGUF: every weight tensor's type as the file holds it (per-tensor "dynamic" mixes included)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gguf_types: Vec<GgufTypes>,
}

/// GGUF tensors of one role and type over a run of consecutive layers, as read from a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GgufTypes {
    pub role: Role,
    /// decoder layers `first..=last`; absent for tensors outside the decoder stack
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<[u64; 2]>,
    #[serde(rename = "type")]
    pub ggml: Ggml,
    /// elements of one tensor (tells q_a / q_b / kv_a apart when one role has several tensors)
    pub elements: u64,
}

impl Quantization {
    /// The type the file gives a tensor of `role` in `layer` with `elements` elements: the row whose
    /// element count matches, or the only row of that role and layer.
    pub fn gguf_type(&self, role: Role, layer: Option<u64>, elements: u64) -> Option<Ggml> {
        let covers = |g: &&GgufTypes| {
            g.role == role
                && match (g.layers, layer) {
                    (Some([a, b]), Some(l)) => a <= l && l <= b,
                    (None, None) => true,
                    _ => false,
                }
        };
        let mut rows = self.gguf_types.iter().filter(covers);
        let first = rows.clone().next()?;
        Some(rows.find(|g| g.elements == elements).unwrap_or(first).ggml)
    }
}

/// What the type rules need beyond the tensor: the model (llama.cpp's rules) and, when the format is
/// the checkpoint's own, how the checkpoint applied it.
#[derive(Debug, Clone, Copy)]
pub struct TypeRules<'a> {
    pub model: &'a GgufModel,
    pub checkpoint: Option<&'a Quantization>,
}

impl Format {
    /// Looks a format up by id or alias (case-insensitive).
    pub fn parse(s: &str) -> Option<&'static Format> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        let id = table::ALIASES
            .iter()
            .find(|(alias, _)| alias.replace('-', "_") == s)
            .map(|(_, id)| *id);
        FORMATS.iter().find(|f| Some(f.id) == id || f.id.replace('-', "_") == s)
    }

    pub fn ids() -> Vec<&'static str> {
        FORMATS.iter().map(|f| f.id).collect()
    }

    /// Storage of one tensor: the checkpoint's own choice when it made one, else the format's rule.
    pub fn storage_for(&self, t: &QuantTensor, rules: &TypeRules) -> StorageType {
        if let Some(q) = rules.checkpoint {
            if let Some(g) = q.gguf_type(t.role, t.layer, t.rows * t.cols) {
                return StorageType::Ggml(g);
            }
            if q.unquantized.contains(&t.role.kind()) {
                return self.keep;
            }
        }
        let s = match self.kind {
            FormatKind::Uniform => self.storage,
            FormatKind::LinearOnly if t.role.is_linear() => self.storage,
            FormatKind::ExpertsOnly if matches!(t.role, Role::Expert | Role::ExpertDown) => self.storage,
            FormatKind::LinearOnly | FormatKind::ExpertsOnly => self.keep,
            FormatKind::Gguf => self.gguf_storage(t, rules.model),
        };
        let Some(q) = rules.checkpoint else { return s };
        let s = match q.scale_dtype {
            Some(d) => s.with_scale(d),
            None => s,
        };
        match s {
            StorageType::Packed(p) if q.act_order => StorageType::Packed(Packed { g_idx: true, ..p }),
            other => other,
        }
    }

    /// Whether the format quantizes tensors of `kind` (before any checkpoint's ignore list).
    pub fn quantizes(&self, kind: TensorKind) -> bool {
        match self.kind {
            FormatKind::Uniform => false,
            FormatKind::LinearOnly => matches!(kind, TensorKind::Attention | TensorKind::Mlp | TensorKind::Experts),
            FormatKind::ExpertsOnly => kind == TensorKind::Experts,
            FormatKind::Gguf => !matches!(kind, TensorKind::Router | TensorKind::Vision | TensorKind::Other),
        }
    }

    /// True when a tensor's storage can depend on its layer index (the K-quant and i-quant mixes).
    pub fn layer_dependent(&self) -> bool {
        self.ftype.is_some_and(Ftype::layer_dependent)
    }

    /// 1-D tensors (norms, biases) stay f32 and the MoE router is never quantized
    /// (`tensor_allows_quantization`: only 2-D/3-D `*weight`, not `ffn_gate_inp`); the vision tower
    /// ships as an f16 mmproj file. 2-D tensors follow [`tensor_type`] for the format's `ftype`;
    /// without one (gpuplan's candle runner) every 2-D tensor takes `storage`.
    fn gguf_storage(&self, t: &QuantTensor, model: &GgufModel) -> StorageType {
        let base = match self.storage {
            StorageType::Ggml(g) => g,
            other => return other,
        };
        match t.role {
            Role::Norm | Role::Bias | Role::Router => StorageType::F32,
            Role::Vision | Role::Projector | Role::Other => StorageType::F16,
            _ => StorageType::Ggml(match self.ftype {
                Some(ft) => tensor_type(ft, self.imatrix, t, model),
                None => base,
            }),
        }
    }

    /// Bytes per element of activations when running this format: quantized GGUF kernels in candle and
    /// llama.cpp keep activations in f32; everything else computes in the 16-bit keep dtype.
    pub fn activation_bytes(&self) -> u64 {
        match (self.kind, self.keep) {
            (FormatKind::Gguf, _) | (_, StorageType::F32) => 4,
            _ => 2,
        }
    }

    /// vLLM's `--quantization` name for the format's method (vllm/model_executor/layers/quantization/
    /// __init__.py `QUANTIZATION_METHODS`); None for plain floats.
    pub fn vllm_quantization(&self) -> Option<&'static str> {
        Some(match self.method {
            Method::Float => return None,
            Method::Fp8 => "fp8",
            Method::Gptq => "gptq",
            Method::Awq => "awq",
            Method::CompressedTensors => "compressed-tensors",
            Method::Bitsandbytes => "bitsandbytes",
            Method::Mxfp4 => "mxfp4",
            Method::Nvfp4 => "modelopt_fp4",
            Method::Gguf => "gguf",
        })
    }

    /// Bits per weight of the quantized tensors (a 4096 x 4096 matrix, overheads included; for a
    /// GGUF mix, its base type).
    pub fn bits_per_weight(&self) -> f64 {
        self.storage.bits_per_weight()
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_by_id_and_alias() {
        for f in FORMATS {
            assert_eq!(Format::parse(f.id).map(|x| x.id), Some(f.id), "{}", f.id);
        }
        assert_eq!(Format::parse("INT4").map(|f| f.id), Some("gptq-int4"));
        assert_eq!(Format::parse("Q4-K-M").map(|f| f.id), Some("q4_k_m"));
        assert!(Format::parse("int3").is_none());
    }

    #[test]
    fn format_ids_are_unique() {
        let mut ids = Format::ids();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn every_llama_file_type_has_a_format() {
        for ft in Ftype::all() {
            assert!(
                FORMATS.iter().any(|f| f.ftype == Some(ft)) || matches!(ft, Ftype::F32 | Ftype::F16 | Ftype::BF16),
                "{ft:?}"
            );
        }
    }

    fn rules(m: &GgufModel) -> TypeRules<'_> {
        TypeRules {
            model: m,
            checkpoint: None,
        }
    }

    #[test]
    fn experts_only_and_linear_only_keep_the_rest() {
        let m = GgufModel::default();
        let t = |role| QuantTensor {
            role,
            layer: Some(0),
            rows: 2880,
            cols: 2880,
        };
        let mx = Format::parse("mxfp4").expect("mxfp4");
        assert_eq!(mx.storage_for(&t(Role::Expert), &rules(&m)), StorageType::Mxfp4);
        assert_eq!(mx.storage_for(&t(Role::AttnQkv), &rules(&m)), StorageType::Bf16);
        let nv = Format::parse("nvfp4").expect("nvfp4");
        assert_eq!(nv.storage_for(&t(Role::AttnQkv), &rules(&m)), StorageType::Nvfp4);
        assert_eq!(nv.storage_for(&t(Role::LmHead), &rules(&m)), StorageType::Bf16);
    }

    #[test]
    fn a_checkpoint_overrides_the_format_defaults() {
        let m = GgufModel::default();
        let q = Quantization {
            unquantized: vec![TensorKind::Attention],
            scale_dtype: Some(ScaleDtype::Bf16),
            ..Quantization::default()
        };
        let with = TypeRules {
            model: &m,
            checkpoint: Some(&q),
        };
        let fp8 = Format::parse("fp8-block").expect("fp8-block");
        let t = |role| QuantTensor {
            role,
            layer: Some(0),
            rows: 4096,
            cols: 4096,
        };
        assert_eq!(fp8.storage_for(&t(Role::AttnQkv), &with), StorageType::Bf16);
        assert_eq!(
            fp8.storage_for(&t(Role::MlpUp), &with),
            StorageType::Fp8(Fp8Scale::Block {
                size: 128,
                dtype: ScaleDtype::Bf16
            })
        );
    }

    #[test]
    fn gguf_types_from_a_file_win() {
        let m = GgufModel {
            layers: 32,
            ..GgufModel::default()
        };
        let q = Quantization {
            gguf_types: vec![
                GgufTypes {
                    role: Role::MlpDown,
                    layers: Some([0, 1]),
                    ggml: Ggml::Q8_0,
                    elements: 4096 * 14336,
                },
                GgufTypes {
                    role: Role::MlpDown,
                    layers: Some([2, 31]),
                    ggml: Ggml::IQ2_XXS,
                    elements: 4096 * 14336,
                },
            ],
            ..Quantization::default()
        };
        let with = TypeRules {
            model: &m,
            checkpoint: Some(&q),
        };
        let f = Format::parse("q4_k_m").expect("q4_k_m");
        let down = |layer| QuantTensor {
            role: Role::MlpDown,
            layer: Some(layer),
            rows: 4096,
            cols: 14336,
        };
        assert_eq!(f.storage_for(&down(1), &with), StorageType::Ggml(Ggml::Q8_0));
        assert_eq!(f.storage_for(&down(2), &with), StorageType::Ggml(Ggml::IQ2_XXS));
        // a role the file does not list falls back to llama.cpp's rules
        let up = QuantTensor {
            role: Role::MlpUp,
            layer: Some(2),
            rows: 14336,
            cols: 4096,
        };
        assert_eq!(f.storage_for(&up, &with), StorageType::Ggml(Ggml::Q4_K));
    }
}
