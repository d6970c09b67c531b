//! SmolLM3 (`SmolLM3ForCausalLM`): Llama's layout with RoPE left out on every fourth layer (no
//! tensors), tied embeddings. GGUF `smollm3`.

use super::{check_gated_act, d, Decoder, Family};
use crate::import::hf_config::Cfg;
use crate::import::ImportError;
use crate::spec::model::ArchType;

pub const FAMILY: Family = Family {
    model_type: "smollm3",
    classes: &["SmolLM3ForCausalLM"],
    kind: ArchType::SmolLm3,
    defaults: d("SmolLM3Config", 128256, 2048, 11008, 36, 16, Some(4), None, 32768, true),
    text_config: false,
    config,
    gguf: &["smollm3"],
    gguf_match: super::any,
    gguf_fn: super::no_gguf_fields,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    super::attention_bias_qkvo(c, &mut m.arch, "SmolLM3Attention")?;
    m.arch.mlp_bias = c.flag("mlp_bias", "architecture.mlp_bias", false)?;
    if c.flag("use_sliding_window", "architecture.sliding_window", false)? {
        super::sliding_window(c, &mut m.arch, Some(4096), 1)?;
    }
    check_gated_act(c)
}
