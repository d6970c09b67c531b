//! The format table: what `--precision` accepts, each entry with the source of its byte layout and of
//! which tensors it keeps in higher precision.

use super::checkpoint::{Bnb4, Fp8Scale, Packed, ScaleDtype};
use super::{ComputeType, Format, FormatKind, Ftype, Ggml, Method, StorageType};

const VLLM_FP8: &str = "vLLM Fp8LinearMethod (https://github.com/vllm-project/vllm/blob/main/vllm/model_executor/layers/quantization/fp8.py): e4m3 weight + one f32 weight_scale per tensor; embeddings, lm_head, norms and the MoE router stay bf16";
const CT_FP8_CHANNEL: &str = "compressed-tensors FP8_DYNAMIC preset (https://github.com/vllm-project/compressed-tensors/blob/main/src/compressed_tensors/quantization/quant_scheme.py): e4m3 weight + weight_scale [out, 1] in the model dtype (initialize_qparams CHANNEL); ignore: lm_head";
const FP8_BLOCK: &str = "DeepSeek-V3 quantization_config {fmt: e4m3, weight_block_size: [128, 128]} (https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json) and inference/kernel.py weight_dequant (https://github.com/deepseek-ai/DeepSeek-V3/blob/main/inference/kernel.py): weight_scale_inv f32 [ceil(out/128), ceil(in/128)]; transformers FineGrainedFP8 replaces every nn.Linear but modules_to_not_convert (lm_head); Qwen3 FP8 releases write the scales in bf16 (a model's `quantization.scale_dtype`)";
const BNB_INT8: &str = "bitsandbytes Int8Params (https://github.com/bitsandbytes-foundation/bitsandbytes/blob/main/bitsandbytes/nn/modules.py): int8 CB + f32 SCB per output row; llm_int8_skip_modules keeps lm_head";
const CT_W8A8: &str = "compressed-tensors int-quantized (llm-compressor W8A8 preset, https://github.com/vllm-project/compressed-tensors/blob/main/src/compressed_tensors/quantization/quant_scheme.py): int8 weight + weight_scale [out, 1] in the model dtype, dynamic per-token activations; ignore: lm_head";
const CT_PACKED: &str = "compressed-tensors pack-quantized (https://github.com/vllm-project/compressed-tensors/blob/main/src/compressed_tensors/compressors/quantized_compressors/pack_quantized.py): weight_packed int32 [out, in/(32/bits)], weight_scale [out, groups] in the model dtype, weight_shape int64 [2], packed zero points when asymmetric; ignore: lm_head";
const GPTQ: &str = "AutoGPTQ QuantLinear (https://github.com/AutoGPTQ/AutoGPTQ/blob/main/auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py): qweight int32 [in/32*bits, out], qzeros int32 [in/g, out/32*bits], scales f16 [in/g, out], g_idx int32 [in]; lm_head and embeddings stay f16";
const AWQ: &str = "AutoAWQ WQLinear_GEMM (https://github.com/casper-hansen/AutoAWQ/blob/main/awq/modules/linear/gemm.py): qweight int32 [in, out/8], qzeros int32 [in/g, out/8], scales f16 [in/g, out]; 4-bit only (vLLM awq.py refuses other widths); lm_head stays f16";
const BNB4: &str = "bitsandbytes Params4bit + QuantState.as_dict(packed=True) (https://github.com/bitsandbytes-foundation/bitsandbytes/blob/main/bitsandbytes/functional.py): 4-bit weight, one absmax per 64 weights (u8 + nested f32 per 256 blocks with double quantization, f32 without), quant maps and the JSON quant_state; transformers keeps lm_head (llm_int8_skip_modules)";
const MXFP4: &str = "OCP MX v1.0 (https://www.opencompute.org/documents/ocp-microscaling-formats-mx-v1-0-spec-final-pdf): 32 e2m1 + one e8m0 scale = 17 B; gpt-oss config modules_to_not_convert [self_attn, router, embed_tokens, lm_head] (https://huggingface.co/openai/gpt-oss-20b/blob/main/config.json); transformers replace_with_mxfp4_linear and vLLM Mxfp4Config quantize only the MoE experts";
const NVFP4: &str = "NVFP4: 16 e2m1 + one e4m3 scale = 9 B, plus f32 weight_scale_2 / input_scale per tensor (ModelOpt hf_quant_config, https://github.com/NVIDIA/TensorRT-Model-Optimizer; compressed-tensors nvfp4-pack-quantized, https://github.com/vllm-project/compressed-tensors/blob/main/src/compressed_tensors/compressors/quantized_compressors/fp4_quantized.py); exclude_modules: lm_head";
const GGUF: &str = "llama.cpp src/llama-quant.cpp llama_tensor_get_type_impl at 007dbbf (https://github.com/ggml-org/llama.cpp/blob/007dbbf3fd17eefe9b47fee45f48f7ba5e62b714/src/llama-quant.cpp); block sizes ggml-common.h";
const CANDLE_Q4K: &str =
    "ggml-common.h block_q4_K (144 B / 256 weights); gpuplan's candle runner quantizes every 2-D tensor to Q4_K";

const fn float(id: &'static str, description: &'static str, s: StorageType, compute: ComputeType) -> Format {
    Format {
        id,
        description,
        kind: FormatKind::Uniform,
        method: Method::Float,
        storage: s,
        keep: s,
        compute,
        ftype: None,
        imatrix: false,
        source: "IEEE 754 / bfloat16: 4 or 2 bytes per weight",
    }
}

const fn linear(
    id: &'static str,
    description: &'static str,
    method: Method,
    storage: StorageType,
    keep: StorageType,
    compute: ComputeType,
    source: &'static str,
) -> Format {
    Format {
        id,
        description,
        kind: FormatKind::LinearOnly,
        method,
        storage,
        keep,
        compute,
        ftype: None,
        imatrix: false,
        source,
    }
}

const fn gptq(id: &'static str, description: &'static str, bits: u64, group: u64) -> Format {
    linear(
        id,
        description,
        Method::Gptq,
        StorageType::Packed(Packed::gptq(bits, group)),
        StorageType::F16,
        ComputeType::F16,
        GPTQ,
    )
}

const fn awq(id: &'static str, description: &'static str, group: u64) -> Format {
    linear(
        id,
        description,
        Method::Awq,
        StorageType::Packed(Packed::awq(group)),
        StorageType::F16,
        ComputeType::F16,
        AWQ,
    )
}

const fn bnb4(id: &'static str, description: &'static str, double_quant: bool) -> Format {
    linear(
        id,
        description,
        Method::Bitsandbytes,
        StorageType::Bnb4(Bnb4 {
            double_quant,
            dtype: ScaleDtype::Bf16,
        }),
        StorageType::Bf16,
        ComputeType::F16,
        BNB4,
    )
}

/// A GGUF file as llama-quantize writes it for `ftype`.
const fn gguf(id: &'static str, description: &'static str, ftype: Ftype, base: Ggml, imatrix: bool) -> Format {
    Format {
        id,
        description,
        kind: FormatKind::Gguf,
        method: Method::Gguf,
        storage: StorageType::Ggml(base),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        ftype: Some(ftype),
        imatrix,
        source: GGUF,
    }
}

const BF16: StorageType = StorageType::Bf16;
const F16: StorageType = StorageType::F16;

/// The format table. Ids are what users type; aliases in [`ALIASES`].
pub const FORMATS: &[Format] = &[
    float("fp32", "32-bit float", StorageType::F32, ComputeType::F32),
    float("bf16", "bfloat16 (how most checkpoints ship)", BF16, ComputeType::F16),
    float("fp16", "float16", F16, ComputeType::F16),
    // FP8
    linear(
        "fp8",
        "FP8 e4m3 weights, one scale per tensor (vLLM --quantization fp8)",
        Method::Fp8,
        StorageType::Fp8(Fp8Scale::Tensor),
        BF16,
        ComputeType::Fp8,
        VLLM_FP8,
    ),
    linear(
        "fp8-channel",
        "FP8 e4m3, one scale per output row (compressed-tensors FP8_DYNAMIC)",
        Method::Fp8,
        StorageType::Fp8(Fp8Scale::Channel {
            dtype: ScaleDtype::Bf16,
        }),
        BF16,
        ComputeType::Fp8,
        CT_FP8_CHANNEL,
    ),
    linear(
        "fp8-block",
        "FP8 e4m3, 128x128 block scales (DeepSeek-V3/R1, Qwen3 FP8 releases)",
        Method::Fp8,
        StorageType::Fp8(Fp8Scale::Block {
            size: 128,
            dtype: ScaleDtype::F32,
        }),
        BF16,
        ComputeType::Fp8,
        FP8_BLOCK,
    ),
    // 8-bit integers
    linear(
        "int8",
        "int8 weights, per-row f32 scale (bitsandbytes LLM.int8)",
        Method::Bitsandbytes,
        StorageType::Int8Row(ScaleDtype::F32),
        F16,
        ComputeType::F16,
        BNB_INT8,
    ),
    linear(
        "w8a8-int8",
        "int8 weights and activations, per-row scale (compressed-tensors W8A8)",
        Method::CompressedTensors,
        StorageType::Int8Row(ScaleDtype::Bf16),
        BF16,
        ComputeType::Int8,
        CT_W8A8,
    ),
    // compressed-tensors weight-only
    linear(
        "w4a16",
        "4-bit weights, group 128, symmetric (compressed-tensors W4A16)",
        Method::CompressedTensors,
        StorageType::Packed(Packed::compressed(4, Some(128))),
        BF16,
        ComputeType::F16,
        CT_PACKED,
    ),
    linear(
        "w4a16-asym",
        "4-bit weights, group 128, with zero points (compressed-tensors W4A16_ASYM)",
        Method::CompressedTensors,
        StorageType::Packed(Packed {
            zero_points: true,
            ..Packed::compressed(4, Some(128))
        }),
        BF16,
        ComputeType::F16,
        CT_PACKED,
    ),
    linear(
        "w8a16",
        "8-bit weights, per output row (compressed-tensors W8A16)",
        Method::CompressedTensors,
        StorageType::Packed(Packed::compressed(8, None)),
        BF16,
        ComputeType::F16,
        CT_PACKED,
    ),
    // GPTQ / AWQ
    gptq("gptq-int4", "GPTQ 4-bit, group size 128", 4, 128),
    gptq("gptq-int4-g64", "GPTQ 4-bit, group size 64", 4, 64),
    gptq("gptq-int4-g32", "GPTQ 4-bit, group size 32", 4, 32),
    gptq("gptq-int8", "GPTQ 8-bit, group size 128", 8, 128),
    gptq("gptq-int8-g64", "GPTQ 8-bit, group size 64", 8, 64),
    gptq("gptq-int8-g32", "GPTQ 8-bit, group size 32", 8, 32),
    gptq("gptq-int3", "GPTQ 3-bit, group size 128", 3, 128),
    gptq("gptq-int3-g64", "GPTQ 3-bit, group size 64", 3, 64),
    gptq("gptq-int3-g32", "GPTQ 3-bit, group size 32", 3, 32),
    awq("awq-int4", "AWQ 4-bit, group size 128", 128),
    awq("awq-int4-g64", "AWQ 4-bit, group size 64", 64),
    awq("awq-int4-g32", "AWQ 4-bit, group size 32", 32),
    // bitsandbytes 4-bit
    bnb4(
        "bnb-nf4",
        "bitsandbytes NF4 with double quantization (QLoRA, unsloth bnb-4bit)",
        true,
    ),
    bnb4("bnb-nf4-nodq", "bitsandbytes NF4 without double quantization", false),
    bnb4(
        "bnb-fp4",
        "bitsandbytes FP4 (transformers' load_in_4bit default: no double quantization)",
        false,
    ),
    bnb4("bnb-fp4-dq", "bitsandbytes FP4 with double quantization", true),
    // FP4
    Format {
        id: "mxfp4",
        description: "MXFP4 experts, the rest bf16 (gpt-oss)",
        kind: FormatKind::ExpertsOnly,
        method: Method::Mxfp4,
        storage: StorageType::Mxfp4,
        keep: BF16,
        compute: ComputeType::F16,
        ftype: None,
        imatrix: false,
        source: MXFP4,
    },
    linear(
        "nvfp4",
        "NVFP4 weights, 16-element e4m3-scaled blocks (ModelOpt / compressed-tensors)",
        Method::Nvfp4,
        StorageType::Nvfp4,
        BF16,
        ComputeType::F16,
        NVFP4,
    ),
    // GGUF, as llama-quantize makes them
    gguf(
        "q8_0",
        "GGUF Q8_0 (8.5 bits per weight)",
        Ftype::Q8_0,
        Ggml::Q8_0,
        false,
    ),
    gguf(
        "q6_k",
        "GGUF Q6_K (6.5625 bits per weight)",
        Ftype::Q6_K,
        Ggml::Q6_K,
        false,
    ),
    gguf(
        "q5_k_m",
        "GGUF Q5_K_M (Q5_K, attn_v/ffn_down partly Q6_K)",
        Ftype::Q5_K_M,
        Ggml::Q5_K,
        false,
    ),
    gguf("q5_k_s", "GGUF Q5_K_S (Q5_K)", Ftype::Q5_K_S, Ggml::Q5_K, false),
    gguf("q5_1", "GGUF Q5_1 (6 bits per weight)", Ftype::Q5_1, Ggml::Q5_1, false),
    gguf(
        "q5_0",
        "GGUF Q5_0 (5.5 bits per weight)",
        Ftype::Q5_0,
        Ggml::Q5_0,
        false,
    ),
    gguf(
        "q4_k_m",
        "GGUF Q4_K_M (Q4_K, attn_v/ffn_down partly Q6_K)",
        Ftype::Q4_K_M,
        Ggml::Q4_K,
        false,
    ),
    gguf(
        "q4_k_s",
        "GGUF Q4_K_S (Q4_K, first attn_v/ffn_down Q5_K)",
        Ftype::Q4_K_S,
        Ggml::Q4_K,
        false,
    ),
    gguf("q4_1", "GGUF Q4_1 (5 bits per weight)", Ftype::Q4_1, Ggml::Q4_1, false),
    gguf(
        "q4_0",
        "GGUF Q4_0 (4.5 bits per weight; output Q6_K)",
        Ftype::Q4_0,
        Ggml::Q4_0,
        false,
    ),
    gguf(
        "q3_k_l",
        "GGUF Q3_K_L (Q3_K, attn_v/attn_output/ffn_down Q5_K)",
        Ftype::Q3_K_L,
        Ggml::Q3_K,
        false,
    ),
    gguf(
        "q3_k_m",
        "GGUF Q3_K_M (Q3_K, attn_v/ffn_down/attn_output partly Q4_K/Q5_K)",
        Ftype::Q3_K_M,
        Ggml::Q3_K,
        false,
    ),
    gguf("q3_k_s", "GGUF Q3_K_S (Q3_K)", Ftype::Q3_K_S, Ggml::Q3_K, false),
    gguf(
        "q2_k",
        "GGUF Q2_K (Q2_K, ffn_down/attn_output Q3_K, attn_v Q3_K/Q4_K)",
        Ftype::Q2_K,
        Ggml::Q2_K,
        false,
    ),
    gguf("q2_k_s", "GGUF Q2_K_S (Q2_K, imatrix)", Ftype::Q2_K_S, Ggml::Q2_K, true),
    gguf(
        "iq4_xs",
        "GGUF IQ4_XS (4.25 bits per weight, imatrix)",
        Ftype::IQ4_XS,
        Ggml::IQ4_XS,
        true,
    ),
    gguf(
        "iq4_nl",
        "GGUF IQ4_NL (4.5 bits per weight, imatrix)",
        Ftype::IQ4_NL,
        Ggml::IQ4_NL,
        true,
    ),
    gguf(
        "iq3_m",
        "GGUF IQ3_M (IQ3_S, attn_v/ffn_down partly Q4_K)",
        Ftype::IQ3_M,
        Ggml::IQ3_S,
        true,
    ),
    gguf(
        "iq3_s",
        "GGUF IQ3_S (3.4375 bits per weight)",
        Ftype::IQ3_S,
        Ggml::IQ3_S,
        true,
    ),
    gguf(
        "iq3_xs",
        "GGUF IQ3_XS (IQ3_S, q/k and middle gate/up IQ3_XXS)",
        Ftype::IQ3_XS,
        Ggml::IQ3_S,
        true,
    ),
    gguf(
        "iq3_xxs",
        "GGUF IQ3_XXS (3.0625 bits per weight)",
        Ftype::IQ3_XXS,
        Ggml::IQ3_XXS,
        true,
    ),
    gguf("iq2_m", "GGUF IQ2_M (IQ2_S)", Ftype::IQ2_M, Ggml::IQ2_S, true),
    gguf("iq2_s", "GGUF IQ2_S (IQ2_XS)", Ftype::IQ2_S, Ggml::IQ2_XS, true),
    gguf(
        "iq2_xs",
        "GGUF IQ2_XS (2.3125 bits per weight)",
        Ftype::IQ2_XS,
        Ggml::IQ2_XS,
        true,
    ),
    gguf(
        "iq2_xxs",
        "GGUF IQ2_XXS (2.0625 bits per weight)",
        Ftype::IQ2_XXS,
        Ggml::IQ2_XXS,
        true,
    ),
    gguf(
        "iq1_m",
        "GGUF IQ1_M (1.75 bits per weight)",
        Ftype::IQ1_M,
        Ggml::IQ1_M,
        true,
    ),
    gguf(
        "iq1_s",
        "GGUF IQ1_S (1.5625 bits per weight)",
        Ftype::IQ1_S,
        Ggml::IQ1_S,
        true,
    ),
    gguf(
        "tq2_0",
        "GGUF TQ2_0 (ternary, 2.0625 bits per weight)",
        Ftype::TQ2_0,
        Ggml::TQ2_0,
        false,
    ),
    gguf(
        "tq1_0",
        "GGUF TQ1_0 (ternary, 1.6875 bits per weight)",
        Ftype::TQ1_0,
        Ggml::TQ1_0,
        false,
    ),
    gguf(
        "q2_0",
        "GGUF Q2_0 (2.25 bits per weight, 64-element blocks)",
        Ftype::Q2_0,
        Ggml::Q2_0,
        false,
    ),
    gguf(
        "q1_0",
        "GGUF Q1_0 (1.125 bits per weight)",
        Ftype::Q1_0,
        Ggml::Q1_0,
        false,
    ),
    gguf(
        "mxfp4_moe",
        "GGUF MXFP4_MOE (experts MXFP4, everything else Q8_0)",
        Ftype::MXFP4_MOE,
        Ggml::MXFP4,
        false,
    ),
    gguf(
        "gguf-nvfp4",
        "GGUF NVFP4 (64-element blocks of four e4m3-scaled groups)",
        Ftype::NVFP4,
        Ggml::NVFP4,
        false,
    ),
    Format {
        id: "q4_k",
        description: "Q4_K everywhere (candle's quantized matmul; no promoted tensors)",
        kind: FormatKind::Gguf,
        method: Method::Gguf,
        storage: StorageType::Ggml(Ggml::Q4_K),
        keep: StorageType::F32,
        compute: ComputeType::F16,
        ftype: None,
        imatrix: false,
        source: CANDLE_Q4K,
    },
];

/// Other spellings users type (compared case-insensitively, `-` and `_` alike).
pub const ALIASES: &[(&str, &str)] = &[
    ("f32", "fp32"),
    ("float32", "fp32"),
    ("f16", "fp16"),
    ("float16", "fp16"),
    ("half", "fp16"),
    ("bfloat16", "bf16"),
    ("int4", "gptq-int4"),
    ("gptq", "gptq-int4"),
    ("4bit", "gptq-int4"),
    ("gptq-int4-g128", "gptq-int4"),
    ("gptq-int8-g128", "gptq-int8"),
    ("gptq-int3-g128", "gptq-int3"),
    ("awq", "awq-int4"),
    ("awq-int4-g128", "awq-int4"),
    ("q8", "q8_0"),
    ("q4km", "q4_k_m"),
    ("q5km", "q5_k_m"),
    ("q6k", "q6_k"),
    ("q4k", "q4_k"),
    ("fp8-e4m3", "fp8"),
    ("f8", "fp8"),
    ("fp8-dynamic", "fp8-channel"),
    ("w8a8", "w8a8-int8"),
    ("nf4", "bnb-nf4"),
    ("mxfp4-moe", "mxfp4_moe"),
    // vLLM --quantization names
    ("bitsandbytes", "bnb-nf4"),
    ("modelopt_fp4", "nvfp4"),
    ("modelopt", "fp8"),
];
