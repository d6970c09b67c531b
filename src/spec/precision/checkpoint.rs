//! Byte layouts of the quantized checkpoint formats (safetensors): what one quantized linear layer of
//! `rows` outputs x `cols` inputs stores, tensor by tensor. Each layout cites the code that writes it.

use serde::{Deserialize, Serialize};

/// The element type of a scale tensor where the writer chooses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleDtype {
    F32,
    Bf16,
    F16,
}

impl ScaleDtype {
    pub const fn bytes(self) -> u64 {
        match self {
            ScaleDtype::F32 => 4,
            ScaleDtype::Bf16 | ScaleDtype::F16 => 2,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ScaleDtype::F32 => "f32",
            ScaleDtype::Bf16 => "bf16",
            ScaleDtype::F16 => "f16",
        }
    }

    /// The safetensors dtype name (`F32`, `BF16`, `F16`).
    pub fn from_safetensors(dtype: &str) -> Option<ScaleDtype> {
        Some(match dtype {
            "F32" => ScaleDtype::F32,
            "BF16" => ScaleDtype::Bf16,
            "F16" => ScaleDtype::F16,
            _ => return None,
        })
    }
}

/// How an FP8 (e4m3) weight is scaled; the weight itself is one byte per element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "granularity")]
pub enum Fp8Scale {
    /// One f32 `weight_scale` per tensor (vLLM `Fp8LinearMethod` for `--quantization fp8`;
    /// compressed-tensors static per-tensor FP8).
    Tensor,
    /// One scale per output row: compressed-tensors `FP8_DYNAMIC` (`weight_scale` [out, 1] in the
    /// model dtype, `initialize_qparams` CHANNEL).
    Channel { dtype: ScaleDtype },
    /// One scale per `size x size` block, `weight_scale_inv` [ceil(out/size), ceil(in/size)]:
    /// DeepSeek-V3 (f32, `inference/kernel.py`), Qwen3 FP8 releases (bf16).
    Block { size: u64, dtype: ScaleDtype },
}

impl Fp8Scale {
    pub fn scale_bytes(self, rows: u64, cols: u64) -> u64 {
        match self {
            Fp8Scale::Tensor => 4,
            Fp8Scale::Channel { dtype } => rows * dtype.bytes(),
            Fp8Scale::Block { size, dtype } => rows.div_ceil(size) * cols.div_ceil(size) * dtype.bytes(),
        }
    }
}

/// Who packed the integer weights; the tensors differ per writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PackLayout {
    /// AutoGPTQ / GPTQModel `QuantLinear` (https://github.com/AutoGPTQ/AutoGPTQ/blob/main/auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py):
    /// qweight int32 [in/32*bits, out], qzeros int32 [groups, out/32*bits], scales f16 [groups, out],
    /// g_idx int32 [in].
    Gptq,
    /// AutoAWQ `WQLinear_GEMM` (https://github.com/casper-hansen/AutoAWQ/blob/main/awq/modules/linear/gemm.py):
    /// qweight int32 [in, out/(32/bits)], qzeros int32 [groups, out/(32/bits)], scales f16 [groups, out].
    Awq,
    /// compressed-tensors `pack-quantized` (https://github.com/vllm-project/compressed-tensors/blob/main/src/compressed_tensors/compressors/quantized_compressors/pack_quantized.py):
    /// weight_packed int32 [out, ceil(in/(32/bits))], weight_scale [out, groups] in the model dtype,
    /// weight_shape int64 [2]; asymmetric: weight_zero_point int32 [ceil(out/(32/bits)), groups];
    /// activation order: weight_g_idx int32 [in].
    CompressedTensors,
}

/// Integer weights packed into int32 words with per-group scales (GPTQ, AWQ, compressed-tensors W4A16
/// / W8A16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Packed {
    pub layout: PackLayout,
    pub bits: u64,
    /// input columns per scale; None: one per output row (per-channel, GPTQ `group_size: -1`)
    pub group: Option<u64>,
    /// zero points stored (GPTQ/AWQ always; compressed-tensors only when asymmetric)
    pub zero_points: bool,
    /// activation-order index stored (GPTQ always; compressed-tensors with `actorder`)
    pub g_idx: bool,
    /// scale dtype (GPTQ and AWQ write f16)
    pub scale: ScaleDtype,
}

impl Packed {
    pub const fn gptq(bits: u64, group: u64) -> Packed {
        Packed {
            layout: PackLayout::Gptq,
            bits,
            group: Some(group),
            zero_points: true,
            g_idx: true,
            scale: ScaleDtype::F16,
        }
    }

    pub const fn awq(group: u64) -> Packed {
        Packed {
            layout: PackLayout::Awq,
            bits: 4,
            group: Some(group),
            zero_points: true,
            g_idx: false,
            scale: ScaleDtype::F16,
        }
    }

    /// compressed-tensors symmetric `pack-quantized` (llm-compressor's W4A16 / W8A16 presets).
    pub const fn compressed(bits: u64, group: Option<u64>) -> Packed {
        Packed {
            layout: PackLayout::CompressedTensors,
            bits,
            group,
            zero_points: false,
            g_idx: false,
            scale: ScaleDtype::Bf16,
        }
    }

    fn groups(&self, cols: u64) -> u64 {
        match self.group {
            Some(g) if g > 0 => cols.div_ceil(g),
            _ => 1,
        }
    }

    /// Exact bytes of one `rows x cols` linear layer.
    pub fn bytes(&self, rows: u64, cols: u64) -> u64 {
        let bits = self.bits.clamp(1, 32);
        let groups = self.groups(cols);
        let scales = groups * rows * self.scale.bytes();
        let g_idx = if self.g_idx { cols * 4 } else { 0 };
        match self.layout {
            PackLayout::Gptq | PackLayout::Awq => {
                // the packed dimension holds bits/32 words per element
                let qweight = match self.layout {
                    PackLayout::Gptq => (cols * bits).div_ceil(32) * rows,
                    _ => (rows * bits).div_ceil(32) * cols,
                };
                let qzeros = if self.zero_points {
                    groups * (rows * bits).div_ceil(32)
                } else {
                    0
                };
                (qweight + qzeros) * 4 + scales + g_idx
            }
            PackLayout::CompressedTensors => {
                // pack_to_int32: 32 // bits values per word, rows padded
                let per_word = (32 / bits).max(1);
                let packed = rows * cols.div_ceil(per_word) * 4;
                let zeros = if self.zero_points {
                    rows.div_ceil(per_word) * groups * 4
                } else {
                    0
                };
                packed + scales + zeros + g_idx + 16
            }
        }
    }
}

/// bitsandbytes 4-bit (NF4 / FP4) as transformers saves `Linear4bit` (`Params4bit` plus
/// `QuantState.as_dict(packed=True)`,
/// https://github.com/bitsandbytes-foundation/bitsandbytes/blob/main/bitsandbytes/functional.py):
/// `weight` uint8 [ceil(n/2), 1]; `absmax` one per 64 weights, f32, or with double quantization uint8
/// plus `nested_absmax` f32 (one per 256 blocks) and `nested_quant_map` f32 [256]; `quant_map` f32 [16];
/// and `quant_state.bitsandbytes__nf4`, the JSON of the non-tensor fields as uint8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bnb4 {
    pub double_quant: bool,
    /// the dtype the layer computes in, written into the JSON (`bfloat16` / `float16`)
    pub dtype: ScaleDtype,
}

/// bitsandbytes' 4-bit block size (`blocksize=64`) and the nested block size of double quantization.
pub const BNB_BLOCK: u64 = 64;
pub const BNB_NESTED_BLOCK: u64 = 256;
/// Characters Python's `repr` gives the `nested_offset` float (the mean absmax, a float32 widened to
/// a double) in the JSON: 20 for a value in [0.01, 0.1) printed with 17 significant digits. Shorter
/// representations exist, so a real tensor can be a few bytes smaller: this is the one inexact term
/// of the format (at most ~4 B per quantized layer).
pub const BNB_OFFSET_REPR: u64 = 20;

impl Bnb4 {
    /// Length of `json.dumps` of {quant_type, blocksize, dtype, shape, nested_*} for a `rows x cols`
    /// weight (separators ", " and ": ").
    fn json_len(&self, rows: u64, cols: u64) -> u64 {
        let digits = |v: u64| v.to_string().len() as u64;
        let dtype = match self.dtype {
            ScaleDtype::Bf16 => "bfloat16",
            ScaleDtype::F16 => "float16",
            ScaleDtype::F32 => "float32",
        };
        // {"quant_type": "nf4", "blocksize": 64, "dtype": "...", "shape": [r, c]}
        let mut len = r#"{"quant_type": "nf4", "blocksize": 64, "dtype": "", "shape": [, ]}"#.len() as u64
            + dtype.len() as u64
            + digits(rows)
            + digits(cols);
        if self.double_quant {
            len += r#", "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": "#.len() as u64
                + BNB_OFFSET_REPR;
        }
        len
    }

    pub fn bytes(&self, rows: u64, cols: u64) -> u64 {
        let n = rows * cols;
        let blocks = n.div_ceil(BNB_BLOCK);
        let absmax = if self.double_quant {
            blocks + blocks.div_ceil(BNB_NESTED_BLOCK) * 4 + 256 * 4
        } else {
            blocks * 4
        };
        n.div_ceil(2) + absmax + 16 * 4 + self.json_len(rows, cols)
    }
}

/// OCP Microscaling MXFP4 (OCP MX spec v1.0, https://www.opencompute.org/documents/ocp-microscaling-formats-mx-v1-0-spec-final-pdf):
/// blocks of 32 e2m1 values (16 B) sharing one e8m0 scale (1 B), along the input dimension. gpt-oss
/// stores them as `*_blocks` uint8 [.., out, in/32, 16] and `*_scales` uint8 [.., out, in/32].
pub fn mxfp4_bytes(rows: u64, cols: u64) -> u64 {
    rows * cols.div_ceil(32) * 17
}

/// NVFP4: blocks of 16 e2m1 values (8 B) with one e4m3 scale (1 B), plus two f32 per tensor: ModelOpt
/// writes `weight` uint8 [out, in/2], `weight_scale` f8e4m3 [out, in/16], `weight_scale_2` and
/// `input_scale` (f32 scalars); compressed-tensors `nvfp4-pack-quantized` the same as `weight_packed`,
/// `weight_scale`, `weight_global_scale` and `input_global_scale` (f32 [1]) (https://github.com/vllm-project/compressed-tensors/blob/main/src/compressed_tensors/compressors/quantized_compressors/fp4_quantized.py).
pub fn nvfp4_bytes(rows: u64, cols: u64) -> u64 {
    rows * cols.div_ceil(2) + rows * cols.div_ceil(16) + 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gptq_matches_autogptq_tensor_sizes() {
        // Llama-7B q_proj 4096x4096, 4-bit g128 (32 groups): qweight 8 MiB, qzeros int32[32, 512] = 64 KiB,
        // scales f16[32, 4096] = 256 KiB, g_idx int32[4096] = 16 KiB
        assert_eq!(
            Packed::gptq(4, 128).bytes(4096, 4096),
            8_388_608 + 65_536 + 262_144 + 16_384
        );
        // 3-bit: qweight int32[4096/32*3, 4096], qzeros int32[32, 4096/32*3]
        assert_eq!(
            Packed::gptq(3, 128).bytes(4096, 4096),
            (384 * 4096 + 32 * 384) * 4 + 32 * 4096 * 2 + 4096 * 4
        );
        // 8-bit g32: 128 groups
        assert_eq!(
            Packed::gptq(8, 32).bytes(4096, 4096),
            (1024 * 4096 + 128 * 1024) * 4 + 128 * 4096 * 2 + 4096 * 4
        );
        // AWQ: the same without g_idx
        assert_eq!(Packed::awq(128).bytes(4096, 4096), 8_388_608 + 65_536 + 262_144);
    }

    #[test]
    fn compressed_tensors_pack_quantized() {
        // W4A16 g128, symmetric: int32[4096, 512] + bf16[4096, 32] + int64[2]
        assert_eq!(
            Packed::compressed(4, Some(128)).bytes(4096, 4096),
            4096 * 512 * 4 + 4096 * 32 * 2 + 16
        );
        // W8A16 per channel: int32[4096, 1024] + bf16[4096, 1]
        assert_eq!(
            Packed::compressed(8, None).bytes(4096, 4096),
            4096 * 1024 * 4 + 4096 * 2 + 16
        );
    }

    #[test]
    fn fp4_formats() {
        // gpt-oss-20b down_proj of one expert: 2880 x 2880 -> blocks [2880, 90, 16] + scales [2880, 90]
        assert_eq!(mxfp4_bytes(2880, 2880), 2880 * 90 * 16 + 2880 * 90);
        assert_eq!(nvfp4_bytes(4096, 4096), 4096 * 2048 + 4096 * 256 + 8);
    }

    #[test]
    fn fp8_scales() {
        let block = Fp8Scale::Block {
            size: 128,
            dtype: ScaleDtype::F32,
        };
        // DeepSeek-V3 kv_a_proj_with_mqa 576 x 7168: 5 x 56 blocks
        assert_eq!(block.scale_bytes(576, 7168), 5 * 56 * 4);
        assert_eq!(Fp8Scale::Tensor.scale_bytes(576, 7168), 4);
    }

    #[test]
    fn bnb4_double_quant_layout() {
        let b = Bnb4 {
            double_quant: true,
            dtype: ScaleDtype::Bf16,
        };
        // 4096 x 4096: 8 MiB of nibbles, 262144 u8 absmax, 1024 f32 nested absmax, 256 + 16 f32 maps
        let json = r#"{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [4096, 4096], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.024169921875000000}"#;
        assert_eq!(json.len() as u64, b.json_len(4096, 4096));
        assert_eq!(
            b.bytes(4096, 4096),
            8_388_608 + 262_144 + 1024 * 4 + 256 * 4 + 16 * 4 + json.len() as u64
        );
    }
}
