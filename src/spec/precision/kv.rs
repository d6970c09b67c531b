//! KV-cache element formats: what one cached K or V element costs per runtime cache type.

use super::{Format, StorageType};
use serde::Serialize;

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
