//! Phi-3.5-MoE (`PhiMoEForCausalLM`): 16 experts top 2, LayerNorm with bias, attention biases per
//! `attention_bias`, an LM head bias. GGUF `phimoe`.

use super::{attention_bias_qkvo, check_gated_act, d, Decoder, Family};
use crate::import::hf_config::Cfg;
use crate::import::ImportError;
use crate::spec::model::{ArchType, NormKind};

pub const FAMILY: Family = Family {
    model_type: "phimoe",
    classes: &["PhiMoEForCausalLM"],
    kind: ArchType::Phimoe,
    defaults: d("PhimoeConfig", 32064, 4096, 6400, 32, 32, Some(8), None, 131072, false),
    text_config: false,
    config,
    gguf: &["phimoe"],
    gguf_match: super::any,
    gguf_fn: super::no_gguf_fields,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    super::mixtral::sliding_experts(c, m, 16)?;
    let a = &mut m.arch;
    attention_bias_qkvo(c, a, "PhimoeAttention")?;
    a.lm_head_bias = c.flag("lm_head_bias", "architecture.lm_head_bias", false)?;
    a.norm = NormKind::Layer;
    c.fixed(
        "architecture.norm",
        "layer",
        "PhimoeDecoderLayer: nn.LayerNorm (weight + bias)",
    );
    check_gated_act(c)
}
