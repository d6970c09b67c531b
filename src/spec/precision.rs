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

use serde::Serialize;
use std::fmt;

/// The role a tensor plays; formats decide per role which tensors they quantize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Embedding,
    LmHead,
    /// q/k/v projections (or the fused qkv)
    AttnQkv,
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

    /// llama.cpp falls back when a row is not a whole number of 256-wide K-quant blocks
    /// (llama-quant.cpp, `llama_tensor_get_type`, "fallback" switch).
    const fn fallback(self) -> Ggml {
        match self {
            Ggml::Q4K => Ggml::Q5_0,
            Ggml::Q5K => Ggml::Q5_1,
            Ggml::Q6K => Ggml::Q8_0,
            other => other,
        }
    }

    /// This type, or its fallback when `cols` does not fill whole blocks.
    pub fn for_row(self, cols: u64) -> Ggml {
        let (_, per) = self.block();
        if cols % per == 0 {
            self
        } else {
            self.fallback()
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
    Int4 { group: u64, g_idx: bool },
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
    /// llama.cpp GGUF: 1-D tensors f32, router f32, per-tensor type rules, vision tower (mmproj) f16
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
    /// GGUF K-quant mixes that promote attn_v / ffn_down in some layers (Q4_K_M, Q5_K_M)
    pub promote: Option<Ggml>,
    /// GGUF type for a fused attn_qkv tensor (llama.cpp: Q4_K_M -> Q5_K, Q5_K_M -> Q6_K)
    pub fused_qkv: Option<Ggml>,
    /// GGUF type for output.weight (llama.cpp uses Q6_K unless the base is Q8_0 or wider)
    pub output: Option<Ggml>,
    pub source: &'static str,
}

const GGUF_SRC: &str = "llama.cpp src/llama-quant.cpp llama_tensor_get_type (Q4_K_M/Q5_K_M promote attn_v and ffn_down with use_more_bits, output.weight Q6_K); ggml-common.h block sizes";

/// The format table. Ids are what users type; aliases in [`Format::parse`].
pub const FORMATS: &[Format] = &[
    Format {
        id: "fp32",
        description: "32-bit float",
        kind: FormatKind::Uniform,
        storage: StorageType::F32,
        keep: StorageType::F32,
        compute: ComputeType::F32,
        promote: None,
        fused_qkv: None,
        output: None,
        source: "4 bytes per weight",
    },
    Format {
        id: "bf16",
        description: "bfloat16 (how most checkpoints ship)",
        kind: FormatKind::Uniform,
        storage: StorageType::Bf16,
        keep: StorageType::Bf16,
        compute: ComputeType::F16,
        promote: None,
        fused_qkv: None,
        output: None,
        source: "2 bytes per weight",
    },
    Format {
        id: "fp16",
        description: "float16",
        kind: FormatKind::Uniform,
        storage: StorageType::F16,
        keep: StorageType::F16,
        compute: ComputeType::F16,
        promote: None,
        fused_qkv: None,
        output: None,
        source: "2 bytes per weight",
    },
    Format {
        id: "fp8",
        description: "FP8 e4m3 weights, per-tensor scale (vLLM --quantization fp8)",
        kind: FormatKind::LinearOnly,
        storage: StorageType::Fp8,
        keep: StorageType::Bf16,
        compute: ComputeType::Fp8,
        promote: None,
        fused_qkv: None,
        output: None,
        source: "vLLM Fp8LinearMethod: e4m3 weight + f32 weight_scale; embeddings, lm_head, norms and MoE gate stay bf16",
    },
    Format {
        id: "int8",
        description: "int8 weights, per-row f32 scale (bitsandbytes LLM.int8)",
        kind: FormatKind::LinearOnly,
        storage: StorageType::Int8Row,
        keep: StorageType::F16,
        compute: ComputeType::F16,
        promote: None,
        fused_qkv: None,
        output: None,
        source: "bitsandbytes Int8Params (int8 CB + f32 SCB per row); llm_int8_skip_modules keeps lm_head",
    },
    Format {
        id: "gptq-int4",
        description: "GPTQ 4-bit, group size 128, act-order g_idx",
        kind: FormatKind::LinearOnly,
        storage: StorageType::Int4 { group: 128, g_idx: true },
        keep: StorageType::F16,
        compute: ComputeType::F16,
        promote: None,
        fused_qkv: None,
        output: None,
        source: "AutoGPTQ QuantLinear: qweight int32[in/8,out], qzeros int32[in/g,out/8], scales f16[in/g,out], g_idx int32[in]",
    },
    Format {
        id: "awq-int4",
        description: "AWQ 4-bit, group size 128",
        kind: FormatKind::LinearOnly,
        storage: StorageType::Int4 { group: 128, g_idx: false },
        keep: StorageType::F16,
        compute: ComputeType::F16,
        promote: None,
        fused_qkv: None,
        output: None,
        source: "AutoAWQ WQLinear_GEMM: qweight int32[in,out/8], qzeros int32[in/g,out/8], scales f16[in/g,out]",
    },
    Format {
        id: "q8_0",
        description: "GGUF Q8_0 (8.5 bits per weight)",
        kind: FormatKind::Gguf,
        storage: StorageType::Ggml(Ggml::Q8_0),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        promote: None,
        fused_qkv: None,
        output: Some(Ggml::Q8_0),
        source: GGUF_SRC,
    },
    Format {
        id: "q6_k",
        description: "GGUF Q6_K (6.5625 bits per weight)",
        kind: FormatKind::Gguf,
        storage: StorageType::Ggml(Ggml::Q6K),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        promote: None,
        fused_qkv: None,
        output: Some(Ggml::Q6K),
        source: GGUF_SRC,
    },
    Format {
        id: "q5_k_m",
        description: "GGUF Q5_K_M (Q5_K, attn_v/ffn_down partly Q6_K)",
        kind: FormatKind::Gguf,
        storage: StorageType::Ggml(Ggml::Q5K),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        promote: Some(Ggml::Q6K),
        fused_qkv: Some(Ggml::Q6K),
        output: Some(Ggml::Q6K),
        source: GGUF_SRC,
    },
    Format {
        id: "q4_k_m",
        description: "GGUF Q4_K_M (Q4_K, attn_v/ffn_down partly Q6_K)",
        kind: FormatKind::Gguf,
        storage: StorageType::Ggml(Ggml::Q4K),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        promote: Some(Ggml::Q6K),
        fused_qkv: Some(Ggml::Q5K),
        output: Some(Ggml::Q6K),
        source: GGUF_SRC,
    },
    Format {
        id: "q4_k",
        description: "Q4_K everywhere (candle's quantized matmul; no promoted tensors)",
        kind: FormatKind::Gguf,
        storage: StorageType::Ggml(Ggml::Q4K),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        promote: None,
        fused_qkv: Some(Ggml::Q4K),
        output: Some(Ggml::Q4K),
        source: "ggml-common.h block_q4_K (144 B / 256 weights); gpuplan's candle runner quantizes every 2-D tensor to Q4_K",
    },
    Format {
        id: "q4_0",
        description: "GGUF Q4_0 (4.5 bits per weight)",
        kind: FormatKind::Gguf,
        storage: StorageType::Ggml(Ggml::Q4_0),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        promote: None,
        fused_qkv: None,
        output: Some(Ggml::Q6K),
        source: GGUF_SRC,
    },
];

/// `use_more_bits` from llama.cpp llama-quant.cpp: the first and last eighth of the layers, and every
/// third layer in between, get the promoted type in Q4_K_M / Q5_K_M.
pub fn use_more_bits(layer: u64, layers: u64) -> bool {
    layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
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

    /// Storage of one tensor of `role`, in layer `layer` of `layers` (None for non-layer tensors).
    /// `cols` is the row length (for GGUF block fallbacks); `fused_qkv` says the architecture stores
    /// q, k and v in one tensor.
    pub fn storage_for(&self, role: Role, layer: Option<(u64, u64)>, fused_qkv: bool) -> StorageType {
        match self.kind {
            FormatKind::Uniform => self.storage,
            FormatKind::LinearOnly => {
                if role.is_linear() {
                    self.storage
                } else {
                    self.keep
                }
            }
            FormatKind::Gguf => self.gguf_storage(role, layer, fused_qkv),
        }
    }

    fn gguf_storage(&self, role: Role, layer: Option<(u64, u64)>, fused_qkv: bool) -> StorageType {
        let base = match self.storage {
            StorageType::Ggml(t) => t,
            other => return other,
        };
        let promoted = |t: Ggml| match (self.promote, layer) {
            (Some(p), Some((i, n))) if use_more_bits(i, n) => p,
            _ => t,
        };
        let t = match role {
            Role::Norm | Role::Bias | Role::Router => return StorageType::F32,
            Role::Vision | Role::Projector | Role::Other => return StorageType::F16,
            Role::LmHead => self.output.unwrap_or(base),
            Role::Embedding => base,
            Role::AttnQkv if fused_qkv => self.fused_qkv.unwrap_or(base),
            Role::AttnV | Role::MlpDown | Role::ExpertDown => promoted(base),
            _ => base,
        };
        StorageType::Ggml(t)
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
        // 3072-wide rows are 12 K-blocks; 100-wide rows fall back to Q5_0 (4 blocks of 22 B)
        assert_eq!(q4k.bytes(1, 3072), 12 * 144);
        assert_eq!(q4k.bytes(1, 100), 4 * 22);
    }

    #[test]
    fn gptq_matches_autogptq_tensor_sizes() {
        // Llama-7B q_proj 4096x4096, g128: qweight 8 MiB, qzeros 64 KiB, scales 1 MiB, g_idx 16 KiB
        let b = StorageType::Int4 { group: 128, g_idx: true }.bytes(4096, 4096);
        assert_eq!(b, 8_388_608 + 65_536 + 1_048_576 + 16_384);
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
