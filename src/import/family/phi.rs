//! Phi-1 / 1.5 / 2 (`PhiForCausalLM`): parallel attention and MLP under one LayerNorm, a plain MLP
//! (fc1/fc2), biases everywhere including the LM head. GGUF `phi2`.

use super::{d, Decoder, Family};
use crate::import::hf_config::Cfg;
use crate::import::ImportError;
use crate::spec::model::{ArchType, MlpKind, NormKind};

pub const FAMILY: Family = Family {
    model_type: "phi",
    classes: &["PhiForCausalLM"],
    kind: ArchType::Phi,
    defaults: d("PhiConfig", 51200, 2048, 8192, 24, 32, None, None, 2048, false),
    text_config: false,
    config,
    gguf: &["phi2"],
    gguf_match: super::any,
    gguf_fn: super::no_gguf_fields,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    if c.flag("qk_layernorm", "architecture.norms_per_layer", false)? {
        return Err(c.err("qk_layernorm", "per-head q/k LayerNorms have no spec form yet"));
    }
    let a = &mut m.arch;
    (a.norm, a.norms_per_layer, a.mlp) = (NormKind::Layer, 1, MlpKind::Plain);
    (a.qkv_bias, a.o_bias, a.mlp_bias, a.lm_head_bias) = (true, true, true, true);
    c.fixed(
        "architecture.layout",
        "layer norm x1, plain MLP, all biases",
        "PhiDecoderLayer: one LayerNorm before parallel attention and MLP; q/k/v/dense, fc1/fc2 and lm_head with biases",
    );
    // any activation: the MLP is not gated (read only to check its type)
    c.string("hidden_act")?;
    c.string("hidden_activation")?;
    Ok(())
}
