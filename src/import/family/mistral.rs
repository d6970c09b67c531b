//! Mistral 7B (`MistralForCausalLM`): Llama's layout without biases, a sliding window of 4096 by
//! default. GGUF files of Mistral models are `llama`.

use super::{check_gated_act, d, Decoder, Defaults, Family};
use crate::import::hf_config::Cfg;
use crate::import::ImportError;
use crate::spec::model::ArchType;

/// MistralConfig's defaults (also Mistral 3's `text_config`).
pub const DEFAULTS: Defaults = d(
    "MistralConfig",
    32000,
    4096,
    14336,
    32,
    32,
    Some(8),
    None,
    131072,
    false,
);

pub const FAMILY: Family = Family {
    model_type: "mistral",
    classes: &["MistralForCausalLM"],
    kind: ArchType::Mistral,
    defaults: DEFAULTS,
    text_config: false,
    config,
    gguf: &[],
    gguf_match: super::any,
    gguf_fn: super::no_gguf_fields,
};

/// Mistral's decoder fields (also Mistral 3's `text_config`).
pub fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    c.fixed("architecture.qkv_bias", false, "MistralAttention: no biases");
    m.arch.sliding_window = c.opt_count("sliding_window", "architecture.sliding_window", Some(4096))?;
    check_gated_act(c)
}
