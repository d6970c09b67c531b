//! Checkpoint formats against real checkpoints: the safetensors byte total gpuplan derives from the
//! architecture and the format, compared with the checkpoint's own.
//!
//! Exact totals (the sum of every tensor's bytes, which is what `model.safetensors.index.json`
//! `total_size` holds) come from two public files found through the search index:
//! - search index id 69638059123, a measurement that read every `.safetensors` header of each repo and
//!   summed `data_offsets`: RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8-dynamic,
//!   RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w4a16, nvidia/Llama-3.3-70B-Instruct-FP4,
//!   RedHatAI/Llama-3.3-70B-Instruct-quantized.w4a16;
//! - search index id 70938428474, file sizes from the Hugging Face repo listings (the files include
//!   their safetensors headers, so those checks allow for the headers).

use gpuplan::estimate::{arch, ModelFacts, WeightFacts};
use gpuplan::spec::model::ModelSpec;
use gpuplan::spec::precision::{Format, Quantization, ScaleDtype};
use gpuplan::spec::Catalog;

fn spec(id: &str) -> ModelSpec {
    Catalog::embedded(arch::check_declared)
        .expect("embedded catalog loads")
        .model(id, arch::check_declared)
        .expect("model in catalog")
}

/// `id` stored as `format` (the checkpoint's own, with its quantization details).
fn as_checkpoint(id: &str, format: &str, q: Option<Quantization>) -> ModelSpec {
    let mut s = spec(id);
    s.dtype = format.into();
    s.quantization = q;
    s
}

fn bytes(s: &ModelSpec) -> u64 {
    let f = Format::parse(&s.dtype).expect("known format");
    WeightFacts::new(s, &ModelFacts::new(s), f, 1).total
}

/// https://huggingface.co/RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8-dynamic: compressed-tensors
/// FP8_DYNAMIC, e4m3 weights with a bf16 scale per output row, lm_head ignored: 9,083,953,152 B.
#[test]
fn llama_3_1_8b_fp8_dynamic() {
    assert_eq!(
        bytes(&as_checkpoint("llama-3.1-8b", "fp8-channel", None)),
        9_083_953_152
    );
}

/// https://huggingface.co/nvidia/Llama-3.3-70B-Instruct-FP4: ModelOpt NVFP4 (9 B per 16 weights plus
/// weight_scale_2 and input_scale per linear layer), lm_head excluded: 42,709,045,632 B.
#[test]
fn llama_3_3_70b_nvfp4() {
    assert_eq!(bytes(&as_checkpoint("llama-3.3-70b", "nvfp4", None)), 42_709_045_632);
}

/// https://huggingface.co/RedHatAI/Llama-3.3-70B-Instruct-quantized.w4a16: compressed-tensors
/// pack-quantized 4-bit, group 128, symmetric, with activation order (weight_g_idx int32 [in] per
/// layer), bf16 scales: 39,525,311,232 B. Without the g_idx tensors it would be 24,903,680 B less
/// (80 layers x 77,824 input columns x 4 B).
#[test]
fn llama_3_3_70b_w4a16_with_activation_order() {
    let q = Quantization {
        scale_dtype: Some(ScaleDtype::Bf16),
        act_order: true,
        ..Quantization::default()
    };
    let with = as_checkpoint("llama-3.3-70b", "w4a16", Some(q));
    assert_eq!(bytes(&with), 39_525_311_232);
    assert_eq!(
        bytes(&as_checkpoint("llama-3.3-70b", "w4a16", None)),
        39_525_311_232 - 24_903_680
    );
}

/// https://huggingface.co/RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w4a16: 5,735,587,840 B, which
/// is AutoGPTQ's layout (qweight, qzeros, f16 scales per 128 inputs, g_idx) plus an f16 bias for every
/// linear layer: AutoGPTQ's `make_quant` created every QuantLinear with `bias=True` before it switched
/// to `bias = submodule.bias is not None` (auto_gptq/modeling/_utils.py). The checkpoint holds those
/// bias tensors, so its architecture has them (the directory import reads them as biases).
#[test]
fn llama_3_1_8b_gptq_int4_with_autogptq_biases() {
    let mut s = as_checkpoint("llama-3.1-8b", "gptq-int4", None);
    assert_eq!(
        bytes(&s),
        5_735_587_840 - 2_752_512,
        "the same checkpoint without biases"
    );
    let a = s.architecture.as_mut().expect("architecture");
    (a.qkv_bias, a.o_bias, a.mlp_bias) = (true, true, true);
    assert_eq!(bytes(&s), 5_735_587_840);
}

/// AWQ (AutoAWQ GEMM, group 128, zero points) checkpoints by their file sizes: each `.safetensors`
/// file is 8 bytes of length plus a JSON header (about 110 B per tensor) before the tensor data, so
/// the files exceed gpuplan's tensor bytes by the headers alone. Sizes: hugging-quants/
/// Meta-Llama-3.1-8B-Instruct-AWQ-INT4, Qwen/Qwen2.5-7B-Instruct-AWQ, and the Llama-3.3-70B AWQ listed
/// beside them (search index id 70938428474).
#[test]
fn awq_checkpoints_exceed_the_tensor_bytes_by_their_headers_only() {
    for (id, file_bytes, header_bound) in [
        ("llama-3.1-8b", 5_727_938_576u64, 128u64 << 10),
        ("qwen2.5-7b", 5_570_829_760, 128 << 10),
        ("llama-3.3-70b", 39_767_996_256, 512 << 10),
    ] {
        let tensors = bytes(&as_checkpoint(id, "awq-int4", None));
        let headers = file_bytes as i128 - tensors as i128;
        assert!(
            headers > 0 && headers < header_bound as i128,
            "{id}: files - tensors = {headers} B"
        );
    }
}
