//! Gemma (`GemmaForCausalLM`): tied embeddings, head_dim 256 by default, biases per
//! `attention_bias`. GGUF `gemma`.

use super::{check_gated_act, d, Decoder, Family};
use crate::import::hf_config::Cfg;
use crate::import::ImportError;
use crate::spec::model::ArchType;

pub const FAMILY: Family = Family {
    model_type: "gemma",
    classes: &["GemmaForCausalLM"],
    kind: ArchType::Gemma,
    defaults: d(
        "GemmaConfig",
        256000,
        3072,
        24576,
        28,
        16,
        Some(16),
        Some(256),
        8192,
        true,
    ),
    text_config: false,
    config,
    gguf: &["gemma"],
    gguf_match: super::any,
    gguf_fn: super::no_gguf_fields,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    attention_bias(c, m)?;
    check_gated_act(c)
}

/// q/k/v/o biases per `attention_bias` (Gemma, Gemma 2, Gemma 3).
pub fn attention_bias(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    let bias = c.flag("attention_bias", "architecture.qkv_bias", false)?;
    (m.arch.qkv_bias, m.arch.o_bias) = (bias, bias);
    Ok(())
}
