//! Weight formats and KV-cache precisions: how many bytes a tensor of a given shape takes, and which
//! tensors a format leaves in 16 bits.
//!
//! Sizes are exact integer formulas per tensor (never bits x params in floating point):
//! - GGML blocks (ggml/src/ggml-common.h): Q8_0 34 B / 32 weights, Q4_0 18 B / 32, Q5_0 22 B / 32,
//!   Q5_1 24 B / 32, Q4_K 144 B / 256, Q5_K 176 B / 256, Q6_K 210 B / 256. Blocks run along rows.
//! - GPTQ (AutoGPTQ `QuantLinear`): qweight in*out/2 B, qzeros (in/g)*out/2 B, scales (in/g)*out*2 B
//!   (fp16), g_idx in*4 B (int32). AWQ (AutoAWQ `WQLinear_GEMM`): the same without g_idx.
//! - bitsandbytes LLM.int8: one int8 per weight plus one f32 scale per output row (`SCB`).
//! - FP8 (vLLM `--quantization fp8`, e4m3): one byte per weight plus one f32 per-tensor scale.
//!
//! GGUF type rules transcribe llama.cpp's `src/llama-quant.cpp` (`llama_tensor_get_type_impl`,
//! `tensor_type_fallback`; read at ggml-org/llama.cpp 007dbbf3fd17eefe9b47fee45f48f7ba5e62b714) for the
//! file types in [`Ftype`]; see [`Format::storage_for`]. Published GGUF files of Llama 3.1 8B, Llama 3.2
//! 3B, Llama 3.3 70B, Qwen2.5 7B and phi-4 reproduce to the byte up to their metadata header
//! (tests/catalog_models.rs).

use super::model::{ArchType, Architecture};
use serde::Serialize;
use std::fmt;

/// The role a tensor plays; formats decide per role which tensors they quantize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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
}

/// GGML block types used by the GGUF formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Ggml {
    F32,
    F16,
    Q8_0,
    Q6K,
    Q5K,
    Q5_1,
    Q5_0,
    Q4K,
    Q4_0,
}

impl Ggml {
    /// (bytes per block, weights per block), from ggml-common.h.
    pub const fn block(self) -> (u64, u64) {
        match self {
            Ggml::F32 => (4, 1),
            Ggml::F16 => (2, 1),
            Ggml::Q8_0 => (34, 32),
            Ggml::Q6K => (210, 256),
            Ggml::Q5K => (176, 256),
            Ggml::Q5_1 => (24, 32),
            Ggml::Q5_0 => (22, 32),
            Ggml::Q4K => (144, 256),
            Ggml::Q4_0 => (18, 32),
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Ggml::F32 => "F32",
            Ggml::F16 => "F16",
            Ggml::Q8_0 => "Q8_0",
            Ggml::Q6K => "Q6_K",
            Ggml::Q5K => "Q5_K",
            Ggml::Q5_1 => "Q5_1",
            Ggml::Q5_0 => "Q5_0",
            Ggml::Q4K => "Q4_K",
            Ggml::Q4_0 => "Q4_0",
        }
    }

    /// The 32-wide type a K-quant falls back to when a row is not a whole number of 256-wide blocks
    /// (llama-quant.cpp `tensor_type_fallback`: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0).
    const fn fallback(self) -> Ggml {
        match self {
            Ggml::Q4K => Ggml::Q5_0,
            Ggml::Q5K => Ggml::Q5_1,
            Ggml::Q6K => Ggml::Q8_0,
            other => other,
        }
    }

    /// This type, its fallback when `cols` does not fill whole blocks, or F16 when the fallback does not
    /// either (`tensor_type_fallback`: "must use F16 due to unusual shape"). llama-quantize refuses a
    /// 32-wide type (Q8_0, Q4_0) on ragged rows; F16 stands in for that case too.
    pub fn for_row(self, cols: u64) -> Ggml {
        if cols % self.block().1 == 0 {
            return self;
        }
        let fb = self.fallback();
        if cols % fb.block().1 == 0 {
            fb
        } else {
            Ggml::F16
        }
    }
}

/// The llama.cpp file types (`llama_ftype`) gpuplan sizes. Each names the default tensor type
/// (`llama_ftype_get_default_type`) and selects the per-tensor rules in [`Format::storage_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Ftype {
    Q8_0,
    Q6K,
    Q5KM,
    Q4KM,
    Q4_0,
}

impl Ftype {
    pub const fn base(self) -> Ggml {
        match self {
            Ftype::Q8_0 => Ggml::Q8_0,
            Ftype::Q6K => Ggml::Q6K,
            Ftype::Q5KM => Ggml::Q5K,
            Ftype::Q4KM => Ggml::Q4K,
            Ftype::Q4_0 => Ggml::Q4_0,
        }
    }

    /// Q4_K_M and Q5_K_M choose attn_v / ffn_down types per layer ([`use_more_bits`]).
    pub const fn layer_dependent(self) -> bool {
        matches!(self, Ftype::Q4KM | Ftype::Q5KM)
    }
}

/// What llama.cpp's quantizer knows about the whole model when it types one tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GgufModel {
    /// q, k, v stored as one `attn_qkv` tensor (Phi-3)
    pub fused_qkv: bool,
    /// no `output.weight`: `token_embd` is typed like the output (`has_tied_embeddings`)
    pub tied_embeddings: bool,
    /// `hparams.n_expert` (0 for dense models); 8 triggers the Mixtral rules
    pub experts: u64,
    /// llama.cpp classifies the model as `LLM_TYPE_70B`
    pub is_70b: bool,
}

impl GgufModel {
    /// From the architecture. `LLM_TYPE_70B` (llama-model.cpp `load_hparams`, read at ggml-org/llama.cpp
    /// 00342301d01add50835550e8a916f12097d94517): LLAMA-arch GGUFs (Llama, Mistral and Mixtral convert to
    /// it) with 80 layers, GQA and no 8 experts; Qwen2 with 80 layers.
    pub fn from_architecture(a: &Architecture) -> GgufModel {
        let experts = a.moe.as_ref().map_or(0, |m| m.experts);
        let is_70b = match a.kind {
            ArchType::Llama | ArchType::Mistral | ArchType::Mixtral => {
                a.layers == 80 && a.kv_heads() != a.attention_heads && experts != 8
            }
            ArchType::Qwen2 => a.layers == 80,
            _ => false,
        };
        GgufModel {
            fused_qkv: a.fused_qkv,
            tied_embeddings: a.tie_embeddings,
            experts,
            is_70b,
        }
    }
}

/// How one tensor is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StorageType {
    F32,
    F16,
    Bf16,
    /// FP8 e4m3 with one f32 per-tensor scale.
    Fp8,
    /// int8 with one f32 scale per output row (bitsandbytes LLM.int8).
    Int8Row,
    /// 4-bit with fp16 scales and packed 4-bit zeros per group of `group` input columns.
    Int4 {
        group: u64,
        g_idx: bool,
    },
    Ggml(Ggml),
}

impl StorageType {
    /// Exact bytes of a `rows x cols` tensor (rows = output features; a 1-D tensor has rows = 1).
    pub fn bytes(self, rows: u64, cols: u64) -> u64 {
        let numel = rows * cols;
        match self {
            StorageType::F32 => numel * 4,
            StorageType::F16 | StorageType::Bf16 => numel * 2,
            StorageType::Fp8 => numel + 4,
            StorageType::Int8Row => numel + rows * 4,
            StorageType::Int4 { group, g_idx } => {
                let groups = cols.div_ceil(group);
                numel.div_ceil(2) + (groups * rows).div_ceil(2) + groups * rows * 2 + if g_idx { cols * 4 } else { 0 }
            }
            StorageType::Ggml(t) => {
                let t = t.for_row(cols);
                let (bytes, per) = t.block();
                rows * cols.div_ceil(per) * bytes
            }
        }
    }

    pub fn label(self) -> String {
        match self {
            StorageType::F32 => "f32".into(),
            StorageType::F16 => "f16".into(),
            StorageType::Bf16 => "bf16".into(),
            StorageType::Fp8 => "fp8".into(),
            StorageType::Int8Row => "int8".into(),
            StorageType::Int4 { group, .. } => format!("int4-g{group}"),
            StorageType::Ggml(t) => t.name().into(),
        }
    }
}

/// The family a weight format belongs to; it decides which tensors stay in 16 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FormatKind {
    /// every tensor in one dtype (checkpoint formats)
    Uniform,
    /// linear layers quantized; embeddings, lm_head, norms, biases, router and vision tower kept 16-bit
    LinearOnly,
    /// GGUF: 1-D tensors and router f32, vision tower (mmproj) f16; 2-D tensors by llama.cpp's
    /// per-tensor rules for `ftype`, or all `storage` when there is none
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
}

/// A weight format: `--precision` picks one by id.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Format {
    pub id: &'static str,
    pub description: &'static str,
    pub kind: FormatKind,
    /// storage of quantized tensors (for GGUF, the base type of the mix)
    pub storage: StorageType,
    /// the dtype the tensors that are not quantized keep
    pub keep: StorageType,
    pub compute: ComputeType,
    /// the llama.cpp file type whose per-tensor rules apply (GGUF formats made by llama-quantize)
    pub ftype: Option<Ftype>,
    pub source: &'static str,
}

const GGUF_SRC: &str = "llama.cpp src/llama-quant.cpp llama_tensor_get_type_impl (output and tied token_embd Q6_K; Q4_K_M/Q5_K_M attn_v and ffn_down Q6_K where use_more_bits; fused attn_qkv Q5_K/Q6_K; 70B attn_v Q5_K; 8 experts: attn_k/attn_v Q8_0), no imatrix; ggml-common.h block sizes";

/// The format table. Ids are what users type; aliases in [`Format::parse`].
pub const FORMATS: &[Format] = &[
    Format {
        id: "fp32",
        description: "32-bit float",
        kind: FormatKind::Uniform,
        storage: StorageType::F32,
        keep: StorageType::F32,
        compute: ComputeType::F32,
        ftype: None,
        source: "4 bytes per weight",
    },
    Format {
        id: "bf16",
        description: "bfloat16 (how most checkpoints ship)",
        kind: FormatKind::Uniform,
        storage: StorageType::Bf16,
        keep: StorageType::Bf16,
        compute: ComputeType::F16,
        ftype: None,
        source: "2 bytes per weight",
    },
    Format {
        id: "fp16",
        description: "float16",
        kind: FormatKind::Uniform,
        storage: StorageType::F16,
        keep: StorageType::F16,
        compute: ComputeType::F16,
        ftype: None,
        source: "2 bytes per weight",
    },
    Format {
        id: "fp8",
        description: "FP8 e4m3 weights, per-tensor scale (vLLM --quantization fp8)",
        kind: FormatKind::LinearOnly,
        storage: StorageType::Fp8,
        keep: StorageType::Bf16,
        compute: ComputeType::Fp8,
        ftype: None,
        source: "vLLM Fp8LinearMethod: e4m3 weight + f32 weight_scale; embeddings, lm_head, norms and MoE gate stay bf16",
    },
    Format {
        id: "int8",
        description: "int8 weights, per-row f32 scale (bitsandbytes LLM.int8)",
        kind: FormatKind::LinearOnly,
        storage: StorageType::Int8Row,
        keep: StorageType::F16,
        compute: ComputeType::F16,
        ftype: None,
        source: "bitsandbytes Int8Params (int8 CB + f32 SCB per row); llm_int8_skip_modules keeps lm_head",
    },
    Format {
        id: "gptq-int4",
        description: "GPTQ 4-bit, group size 128, act-order g_idx",
        kind: FormatKind::LinearOnly,
        storage: StorageType::Int4 { group: 128, g_idx: true },
        keep: StorageType::F16,
        compute: ComputeType::F16,
        ftype: None,
        source: "AutoGPTQ QuantLinear: qweight int32[in/8,out], qzeros int32[in/g,out/8], scales f16[in/g,out], g_idx int32[in]",
    },
    Format {
        id: "awq-int4",
        description: "AWQ 4-bit, group size 128",
        kind: FormatKind::LinearOnly,
        storage: StorageType::Int4 { group: 128, g_idx: false },
        keep: StorageType::F16,
        compute: ComputeType::F16,
        ftype: None,
        source: "AutoAWQ WQLinear_GEMM: qweight int32[in,out/8], qzeros int32[in/g,out/8], scales f16[in/g,out]",
    },
    Format {
        id: "q8_0",
        description: "GGUF Q8_0 (8.5 bits per weight)",
        kind: FormatKind::Gguf,
        storage: StorageType::Ggml(Ggml::Q8_0),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        ftype: Some(Ftype::Q8_0),
        source: GGUF_SRC,
    },
    Format {
        id: "q6_k",
        description: "GGUF Q6_K (6.5625 bits per weight)",
        kind: FormatKind::Gguf,
        storage: StorageType::Ggml(Ggml::Q6K),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        ftype: Some(Ftype::Q6K),
        source: GGUF_SRC,
    },
    Format {
        id: "q5_k_m",
        description: "GGUF Q5_K_M (Q5_K, attn_v/ffn_down partly Q6_K)",
        kind: FormatKind::Gguf,
        storage: StorageType::Ggml(Ggml::Q5K),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        ftype: Some(Ftype::Q5KM),
        source: GGUF_SRC,
    },
    Format {
        id: "q4_k_m",
        description: "GGUF Q4_K_M (Q4_K, attn_v/ffn_down partly Q6_K)",
        kind: FormatKind::Gguf,
        storage: StorageType::Ggml(Ggml::Q4K),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        ftype: Some(Ftype::Q4KM),
        source: GGUF_SRC,
    },
    Format {
        id: "q4_k",
        description: "Q4_K everywhere (candle's quantized matmul; no promoted tensors)",
        kind: FormatKind::Gguf,
        storage: StorageType::Ggml(Ggml::Q4K),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        ftype: None,
        source: "ggml-common.h block_q4_K (144 B / 256 weights); gpuplan's candle runner quantizes every 2-D tensor to Q4_K",
    },
    Format {
        id: "q4_0",
        description: "GGUF Q4_0 (4.5 bits per weight; output Q6_K)",
        kind: FormatKind::Gguf,
        storage: StorageType::Ggml(Ggml::Q4_0),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        ftype: Some(Ftype::Q4_0),
        source: GGUF_SRC,
    },
];

/// `use_more_bits` from llama.cpp llama-quant.cpp: the first and last eighth of the layers, and every
/// third layer in between, get the promoted type in Q4_K_M / Q5_K_M. The same expression as the C++;
/// short-circuiting keeps the u64 subtraction from underflowing.
pub fn use_more_bits(layer: u64, layers: u64) -> bool {
    layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
}

/// The type llama-quantize gives a 2-D tensor of `role` (llama-quant.cpp `llama_tensor_get_type_impl`,
/// without an imatrix; rows that do not fill whole blocks fall back in [`Ggml::for_row`]):
/// - `output.weight`, and `token_embd` when the embeddings are tied: Q6_K, unless the base is Q8_0
///   (a row not divisible by the base block makes it Q8_0, which [`Ggml::for_row`] also yields);
/// - untied `token_embd`: the base type;
/// - `attn_v`: Q6_K in [`use_more_bits`] layers for Q4_K_M/Q5_K_M; a remaining Q4_K becomes Q5_K in
///   `LLM_TYPE_70B` models; Q8_0 whenever the model has 8 experts (Mixtral), whatever the file type;
/// - `attn_k`: Q8_0 with 8 experts; `attn_output`: Q5_K with 8 experts in Q4_K_M;
/// - fused `attn_qkv`: Q5_K in Q4_K_M, Q6_K in Q5_K_M, in every layer. At 007dbbf llama.cpp routes
///   `attn_qkv` through the `attn_v` branch instead (`category_is_attn_v`), leaving this rule
///   unreachable; the published phi-4 Q4_K_M and Q5_K_M files (bartowski/phi-4-GGUF, llama.cpp b4456)
///   match this rule to the byte and not that one (tests/catalog_models.rs), so gpuplan sizes the
///   files people download;
/// - `ffn_down` (dense, shared expert or routed experts): Q6_K in [`use_more_bits`] layers for
///   Q4_K_M/Q5_K_M (MoE layers are parsed from the tensor name, so the index is the decoder layer).
///
/// Not modelled: with an imatrix, Q4_0 stores `ffn_down` of the first layers/8 layers as Q4_1
/// (20 B / 32), which the published bartowski/unsloth Q4_0 files show.
pub fn llama_tensor_type(ft: Ftype, role: Role, layer: Option<(u64, u64)>, model: &GgufModel) -> Ggml {
    let base = ft.base();
    let more_bits = ft.layer_dependent() && layer.is_some_and(|(i, n)| use_more_bits(i, n));
    let eight_experts = model.experts == 8;
    let output = if base == Ggml::Q8_0 { Ggml::Q8_0 } else { Ggml::Q6K };
    match role {
        Role::LmHead => output,
        Role::Embedding if model.tied_embeddings => output,
        Role::AttnQkv if model.fused_qkv => match ft {
            Ftype::Q4KM => Ggml::Q5K,
            Ftype::Q5KM => Ggml::Q6K,
            _ => base,
        },
        Role::AttnV => {
            let mut t = if more_bits { Ggml::Q6K } else { base };
            if model.is_70b && t == Ggml::Q4K {
                t = Ggml::Q5K;
            }
            if eight_experts {
                t = Ggml::Q8_0;
            }
            t
        }
        Role::AttnK if eight_experts => Ggml::Q8_0,
        Role::AttnOut if eight_experts && ft == Ftype::Q4KM => Ggml::Q5K,
        Role::MlpDown | Role::ExpertDown if more_bits => Ggml::Q6K,
        _ => base,
    }
}

impl Format {
    /// Looks a format up by id or alias (case-insensitive).
    pub fn parse(s: &str) -> Option<&'static Format> {
        let s = s.trim().to_ascii_lowercase();
        let id = match s.as_str() {
            "f32" | "float32" => "fp32",
            "f16" | "float16" | "half" => "fp16",
            "bfloat16" => "bf16",
            "int4" | "gptq" | "4bit" => "gptq-int4",
            "awq" => "awq-int4",
            "q8" | "q8-0" => "q8_0",
            "q4_k_m" | "q4-k-m" | "q4km" => "q4_k_m",
            "q5_k_m" | "q5-k-m" | "q5km" => "q5_k_m",
            "q6k" | "q6-k" => "q6_k",
            "q4k" | "q4-k" => "q4_k",
            "fp8-e4m3" | "f8" => "fp8",
            other => other,
        };
        FORMATS.iter().find(|f| f.id == id)
    }

    pub fn ids() -> Vec<&'static str> {
        FORMATS.iter().map(|f| f.id).collect()
    }

    /// Storage of one tensor of `role`, in layer `layer` of `layers` (None for non-layer tensors);
    /// `model` carries what GGUF type rules need to know about the whole model.
    pub fn storage_for(&self, role: Role, layer: Option<(u64, u64)>, model: &GgufModel) -> StorageType {
        match self.kind {
            FormatKind::Uniform => self.storage,
            FormatKind::LinearOnly => {
                if role.is_linear() {
                    self.storage
                } else {
                    self.keep
                }
            }
            FormatKind::Gguf => self.gguf_storage(role, layer, model),
        }
    }

    /// True when a tensor's storage can depend on its layer index (Q4_K_M, Q5_K_M).
    pub fn layer_dependent(&self) -> bool {
        self.ftype.is_some_and(Ftype::layer_dependent)
    }

    /// 1-D tensors (norms, biases) stay f32 and the MoE router is never quantized
    /// (`tensor_allows_quantization`: only 2-D/3-D `*weight`, not `ffn_gate_inp`); the vision tower
    /// ships as an f16 mmproj file. 2-D tensors follow [`llama_tensor_type`] for the format's `ftype`;
    /// without one (gpuplan's candle runner) every 2-D tensor takes `storage`.
    fn gguf_storage(&self, role: Role, layer: Option<(u64, u64)>, model: &GgufModel) -> StorageType {
        let base = match self.storage {
            StorageType::Ggml(t) => t,
            other => return other,
        };
        match role {
            Role::Norm | Role::Bias | Role::Router => StorageType::F32,
            Role::Vision | Role::Projector | Role::Other => StorageType::F16,
            _ => StorageType::Ggml(match self.ftype {
                Some(ft) => llama_tensor_type(ft, role, layer, model),
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
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id)
    }
}

/// KV-cache element formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KvPrecision {
    F32,
    F16,
    Bf16,
    Fp8,
    Int8,
    Q8_0,
    Q4_0,
}

impl KvPrecision {
    pub fn parse(s: &str) -> Option<KvPrecision> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "fp32" | "f32" => KvPrecision::F32,
            "fp16" | "f16" | "16" | "16bit" => KvPrecision::F16,
            "bf16" => KvPrecision::Bf16,
            "fp8" | "fp8_e4m3" | "fp8_e5m2" => KvPrecision::Fp8,
            "int8" => KvPrecision::Int8,
            "q8_0" => KvPrecision::Q8_0,
            "q4_0" => KvPrecision::Q4_0,
            _ => return None,
        })
    }

    pub const ALL: &'static [&'static str] = &["fp32", "fp16", "bf16", "fp8", "int8", "q8_0", "q4_0"];

    /// The KV precision a runtime uses by default with weight format `format`: the 16-bit compute
    /// dtype, or f16 for GGUF (llama.cpp's default cache type; candle's quantized models cache f32).
    pub fn default_for(format: &Format) -> KvPrecision {
        match format.keep {
            StorageType::F32 => KvPrecision::F32,
            StorageType::Bf16 => KvPrecision::Bf16,
            _ => KvPrecision::F16,
        }
    }

    /// Exact bytes for `n` cache elements stored contiguously in rows of `row` elements.
    pub fn bytes(self, rows: u64, row: u64) -> u64 {
        match self {
            KvPrecision::F32 => rows * row * 4,
            KvPrecision::F16 | KvPrecision::Bf16 => rows * row * 2,
            KvPrecision::Fp8 | KvPrecision::Int8 => rows * row,
            KvPrecision::Q8_0 => rows * row.div_ceil(32) * 34,
            KvPrecision::Q4_0 => rows * row.div_ceil(32) * 18,
        }
    }

    /// Bytes per cached element (block formats averaged over their 32-element blocks).
    pub fn element_bytes(self) -> f64 {
        match self {
            KvPrecision::F32 => 4.0,
            KvPrecision::F16 | KvPrecision::Bf16 => 2.0,
            KvPrecision::Fp8 | KvPrecision::Int8 => 1.0,
            KvPrecision::Q8_0 => 34.0 / 32.0,
            KvPrecision::Q4_0 => 18.0 / 32.0,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            KvPrecision::F32 => "fp32",
            KvPrecision::F16 => "fp16",
            KvPrecision::Bf16 => "bf16",
            KvPrecision::Fp8 => "fp8",
            KvPrecision::Int8 => "int8",
            KvPrecision::Q8_0 => "q8_0",
            KvPrecision::Q4_0 => "q4_0",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ggml_block_sizes_are_exact() {
        let q4k = StorageType::Ggml(Ggml::Q4K);
        assert_eq!(q4k.bytes(1, 256), 144);
        assert_eq!(q4k.bytes(10, 512), 2880);
        assert_eq!(StorageType::Ggml(Ggml::Q8_0).bytes(1, 32), 34);
        // 3072-wide rows are 12 K-blocks; 160-wide rows fall back to Q5_0 (5 blocks of 22 B); 100-wide
        // rows fit neither and become F16
        assert_eq!(q4k.bytes(1, 3072), 12 * 144);
        assert_eq!(q4k.bytes(1, 160), 5 * 22);
        assert_eq!(q4k.bytes(1, 100), 200);
        assert_eq!(Ggml::Q6K.for_row(96), Ggml::Q8_0);
    }

    fn fmt(id: &str) -> Ftype {
        Format::parse(id).and_then(|f| f.ftype).expect("llama.cpp file type")
    }

    #[test]
    fn output_and_tied_embeddings_follow_the_output_rule() {
        let tied = GgufModel {
            tied_embeddings: true,
            ..GgufModel::default()
        };
        let untied = GgufModel::default();
        for (id, out, embd) in [
            ("q4_k_m", Ggml::Q6K, Ggml::Q4K),
            ("q4_0", Ggml::Q6K, Ggml::Q4_0),
            ("q8_0", Ggml::Q8_0, Ggml::Q8_0),
        ] {
            assert_eq!(llama_tensor_type(fmt(id), Role::LmHead, None, &untied), out, "{id}");
            assert_eq!(
                llama_tensor_type(fmt(id), Role::Embedding, None, &tied),
                out,
                "{id} tied"
            );
            assert_eq!(
                llama_tensor_type(fmt(id), Role::Embedding, None, &untied),
                embd,
                "{id} untied"
            );
        }
    }

    #[test]
    fn attn_v_rules_for_70b_and_eight_experts() {
        let l70 = GgufModel {
            is_70b: true,
            ..GgufModel::default()
        };
        // layer 10 of 80 is not a use_more_bits layer: Q4_K, bumped to Q5_K for 70B; layer 0 is Q6_K
        assert!(!use_more_bits(10, 80));
        assert_eq!(
            llama_tensor_type(Ftype::Q4KM, Role::AttnV, Some((10, 80)), &GgufModel::default()),
            Ggml::Q4K
        );
        assert_eq!(
            llama_tensor_type(Ftype::Q4KM, Role::AttnV, Some((10, 80)), &l70),
            Ggml::Q5K
        );
        assert_eq!(
            llama_tensor_type(Ftype::Q4KM, Role::AttnV, Some((0, 80)), &l70),
            Ggml::Q6K
        );
        // Mixtral: attn_v and attn_k Q8_0 in every file type, attn_output Q5_K in Q4_K_M, q untouched
        let mix = GgufModel {
            experts: 8,
            ..GgufModel::default()
        };
        for ft in [Ftype::Q4KM, Ftype::Q5KM, Ftype::Q6K, Ftype::Q4_0] {
            assert_eq!(llama_tensor_type(ft, Role::AttnV, Some((0, 32)), &mix), Ggml::Q8_0);
            assert_eq!(llama_tensor_type(ft, Role::AttnK, Some((5, 32)), &mix), Ggml::Q8_0);
            assert_eq!(llama_tensor_type(ft, Role::AttnQkv, Some((5, 32)), &mix), ft.base());
        }
        assert_eq!(
            llama_tensor_type(Ftype::Q4KM, Role::AttnOut, Some((5, 32)), &mix),
            Ggml::Q5K
        );
        assert_eq!(
            llama_tensor_type(Ftype::Q5KM, Role::AttnOut, Some((5, 32)), &mix),
            Ggml::Q5K
        );
        // 16 experts (Phi-3.5-MoE) get none of this
        let phimoe = GgufModel {
            experts: 16,
            ..GgufModel::default()
        };
        assert_eq!(
            llama_tensor_type(Ftype::Q4KM, Role::AttnK, Some((5, 32)), &phimoe),
            Ggml::Q4K
        );
    }

    #[test]
    fn fused_qkv_takes_one_type_in_every_layer() {
        let phi3 = GgufModel {
            fused_qkv: true,
            ..GgufModel::default()
        };
        for layer in [0, 5, 31] {
            assert_eq!(
                llama_tensor_type(Ftype::Q4KM, Role::AttnQkv, Some((layer, 32)), &phi3),
                Ggml::Q5K
            );
            assert_eq!(
                llama_tensor_type(Ftype::Q5KM, Role::AttnQkv, Some((layer, 32)), &phi3),
                Ggml::Q6K
            );
            assert_eq!(
                llama_tensor_type(Ftype::Q6K, Role::AttnQkv, Some((layer, 32)), &phi3),
                Ggml::Q6K
            );
        }
        // ffn_down still follows use_more_bits
        assert_eq!(
            llama_tensor_type(Ftype::Q4KM, Role::MlpDown, Some((0, 32)), &phi3),
            Ggml::Q6K
        );
        assert_eq!(
            llama_tensor_type(Ftype::Q4KM, Role::MlpDown, Some((4, 32)), &phi3),
            Ggml::Q4K
        );
    }

    #[test]
    fn gptq_matches_autogptq_tensor_sizes() {
        // Llama-7B q_proj 4096x4096, g128 (32 groups): qweight 8 MiB, qzeros int32[32, 512] = 64 KiB,
        // scales f16[32, 4096] = 256 KiB, g_idx int32[4096] = 16 KiB
        let b = StorageType::Int4 {
            group: 128,
            g_idx: true,
        }
        .bytes(4096, 4096);
        assert_eq!(b, 8_388_608 + 65_536 + 262_144 + 16_384);
    }

    #[test]
    fn use_more_bits_matches_llama_cpp_for_32_layers() {
        let more: Vec<u64> = (0..32).filter(|&i| use_more_bits(i, 32)).collect();
        assert_eq!(more, vec![0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
    }

    #[test]
    fn formats_parse_by_id_and_alias() {
        for f in FORMATS {
            assert_eq!(Format::parse(f.id).map(|x| x.id), Some(f.id));
        }
        assert_eq!(Format::parse("INT4").map(|f| f.id), Some("gptq-int4"));
        assert!(Format::parse("int3").is_none());
    }
}
