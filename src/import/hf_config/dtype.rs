//! The checkpoint's dtype and `quantization_config`: the default `--precision` of an imported model.

use super::cfg::Cfg;
use super::Quant;
use crate::import::{Basis, ImportError};
use serde_json::Value;

/// The checkpoint dtype (`torch_dtype`, or `dtype` in newer configs) and, when present, the
/// quantization method that overrides it as the default `--precision`.
pub fn dtype_and_quant(c: &mut Cfg) -> Result<(String, Quant), ImportError> {
    let key = if c.stated("torch_dtype").is_some() {
        "torch_dtype"
    } else {
        "dtype"
    };
    let mut dtype = match c.string(key)? {
        Some(s) => {
            let id = match s {
                "bfloat16" => "bf16",
                "float16" | "half" => "fp16",
                "float32" | "float" => "fp32",
                "float8_e4m3fn" => "fp8",
                other => return Err(c.err(key, format!("unknown dtype `{other}`"))),
            };
            c.note("dtype", id, Basis::Config, format!("config.json `{key}` {s}"));
            id
        }
        None => {
            c.note(
                "dtype",
                "bf16",
                Basis::Default,
                "no `torch_dtype`: bf16 assumed (how most checkpoints ship)".into(),
            );
            "bf16"
        }
    };
    let Some(q) = c.object("quantization_config")? else {
        return Ok((dtype.into(), Quant::None));
    };
    let method = q.get("quant_method").and_then(Value::as_str).unwrap_or("");
    let num = |k: &str| q.get(k).and_then(Value::as_i64);
    let field = "quantization_config.quant_method";
    let quant = match method {
        "gptq" | "awq" => {
            let bits = num("bits").or(num("w_bit")).unwrap_or(4);
            let group = num("group_size").or(num("q_group_size")).unwrap_or(128);
            let group = (group > 0).then_some(group as u64);
            if bits == 4 {
                dtype = if method == "gptq" { "gptq-int4" } else { "awq-int4" };
                c.note(
                    "dtype",
                    dtype,
                    Basis::Config,
                    format!("config.json `quantization_config` {method}, {bits} bits, group {group:?}"),
                );
                if group != Some(128) {
                    c.warn(format!(
                        "{method} group size {}: gpuplan's {dtype} format assumes 128, so its weight estimate differs slightly from the \
                         checkpoint (the safetensors bytes, when read, are exact)",
                        group.map_or("per-channel".to_string(), |g| g.to_string())
                    ));
                }
            } else {
                c.warn(format!(
                    "{method} with {bits} bits has no format in gpuplan's table: --precision defaults to {dtype}"
                ));
            }
            Quant::Packed {
                bits: bits.clamp(1, 32) as u64,
                group,
            }
        }
        "bitsandbytes" => {
            let on = |k: &str| q.get(k).or(q.get(&format!("_{k}"))).and_then(Value::as_bool) == Some(true);
            if on("load_in_8bit") {
                dtype = "int8";
                c.note(
                    "dtype",
                    dtype,
                    Basis::Config,
                    "config.json `quantization_config` bitsandbytes load_in_8bit".into(),
                );
                Quant::Bnb8
            } else if on("load_in_4bit") {
                c.warn(format!(
                    "bitsandbytes 4-bit has no format in gpuplan's table: --precision defaults to {dtype}"
                ));
                Quant::Bnb4
            } else {
                c.warn("bitsandbytes config without load_in_8bit/load_in_4bit");
                Quant::Other
            }
        }
        "fp8" | "fbgemm_fp8" => {
            dtype = "fp8";
            c.note(
                "dtype",
                dtype,
                Basis::Config,
                format!("config.json `quantization_config` {method}"),
            );
            Quant::Fp8
        }
        "compressed-tensors" if q.get("format").and_then(Value::as_str) == Some("float-quantized") => {
            dtype = "fp8";
            c.note(
                "dtype",
                dtype,
                Basis::Config,
                "config.json `quantization_config` compressed-tensors float-quantized".into(),
            );
            Quant::Fp8
        }
        "mxfp4" => {
            // gpt-oss: experts in MXFP4 (32-element blocks, e8m0 scales), the rest bf16
            if crate::spec::precision::Format::parse("mxfp4").is_some() {
                dtype = "mxfp4";
                c.note(
                    "dtype",
                    dtype,
                    Basis::Config,
                    "config.json `quantization_config` mxfp4".into(),
                );
            } else {
                dtype = "gptq-int4";
                c.warn(
                    "quantization mxfp4 (experts in 4.25-bit MXFP4, attention and embeddings bf16) is not in gpuplan's \
                     format table yet: --precision defaults to the closest, gptq-int4 (4.16 bits on every linear layer)",
                );
            }
            Quant::Other
        }
        "" => return Err(c.err(field, "quantization_config without quant_method")),
        other => {
            c.warn(format!(
                "quantization `{other}` has no format in gpuplan's table: --precision defaults to {dtype}"
            ));
            Quant::Other
        }
    };
    Ok((dtype.into(), quant))
}
