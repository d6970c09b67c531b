//! The checkpoint's dtype and `quantization_config`: the default `--precision` of an imported model.

use super::cfg::Cfg;
use super::Quant;
use crate::import::{quantization, Basis, ImportError};
use crate::spec::precision::{Quantization, ScaleDtype};

/// What config.json says about the checkpoint's numbers.
pub struct Checkpoint {
    /// the default `--precision`: the quantization's format, else the dtype's
    pub dtype: String,
    pub quant: Quant,
    /// the quantization's layout where it differs from the format's defaults (group, scales, ignores)
    pub quantization: Option<Quantization>,
}

/// The checkpoint dtype (`torch_dtype`, or `dtype` in newer configs) and, when present, the
/// quantization method that overrides it as the default `--precision`.
pub fn dtype_and_quant(c: &mut Cfg) -> Result<Checkpoint, ImportError> {
    let key = if c.stated("torch_dtype").is_some() {
        "torch_dtype"
    } else {
        "dtype"
    };
    let dtype = match c.string(key)? {
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
        return Ok(Checkpoint {
            dtype: dtype.into(),
            quant: Quant::None,
            quantization: None,
        });
    };
    let scales = match dtype {
        "fp16" => ScaleDtype::F16,
        "fp32" => ScaleDtype::F32,
        _ => ScaleDtype::Bf16,
    };
    let read =
        quantization::read(q, scales).map_err(|e| c.err(&format!("quantization_config.{}", e.key), e.message))?;
    for w in read.warnings {
        c.warn(w);
    }
    let Some(format) = read.format else {
        return Ok(Checkpoint {
            dtype: dtype.into(),
            quant: read.quant,
            quantization: None,
        });
    };
    let facts: Vec<String> = read.read.iter().map(|(k, v)| format!("{k} {v}")).collect();
    c.note(
        "dtype",
        format.id,
        Basis::Config,
        format!("config.json `quantization_config` {}", facts.join(", ")),
    );
    Ok(Checkpoint {
        dtype: format.id.into(),
        quant: read.quant,
        quantization: (read.quantization != Quantization::default()).then_some(read.quantization),
    })
}
