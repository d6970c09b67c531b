//! Granite 3.x (`GraniteForCausalLM`): Llama's tensors (the embedding, residual, attention and
//! logit multipliers are scalars in the config, not weights). GGUF `granite`.

use super::{check_gated_act, d, Decoder, Family};
use crate::import::hf_config::Cfg;
use crate::import::ImportError;
use crate::spec::model::ArchType;

pub const FAMILY: Family = Family {
    model_type: "granite",
    classes: &["GraniteForCausalLM"],
    kind: ArchType::Granite,
    defaults: d("GraniteConfig", 32000, 4096, 11008, 32, 32, None, None, 2048, false),
    text_config: false,
    config,
    gguf: &["granite"],
    gguf_match: super::any,
    gguf_fn: super::no_gguf_fields,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    super::attention_bias_qkvo(c, &mut m.arch, "GraniteAttention")?;
    m.arch.mlp_bias = c.flag("mlp_bias", "architecture.mlp_bias", false)?;
    check_gated_act(c)
}
