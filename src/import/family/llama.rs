//! Llama 2 / 3.x (`LlamaForCausalLM`): biases on q/k/v/o follow `attention_bias`, MLP biases
//! `mlp_bias`. GGUF `llama` without experts.

use super::{attention_bias_qkvo, check_gated_act, d, Decoder, Family};
use crate::import::gguf::Ctx;
use crate::import::hf_config::Cfg;
use crate::import::ImportError;
use crate::spec::model::ArchType;

pub const FAMILY: Family = Family {
    model_type: "llama",
    classes: &["LlamaForCausalLM"],
    kind: ArchType::Llama,
    defaults: d("LlamaConfig", 32000, 4096, 11008, 32, 32, None, None, 2048, false),
    text_config: false,
    config,
    gguf: &["llama"],
    gguf_match: dense,
    gguf_fn: super::no_gguf_fields,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    attention_bias_qkvo(c, &mut m.arch, "LlamaAttention")?;
    m.arch.mlp_bias = c.flag("mlp_bias", "architecture.mlp_bias", false)?;
    check_gated_act(c)
}

/// llama.cpp stores Mixtral under `llama` too: this family is the one without experts.
fn dense(ctx: &Ctx) -> bool {
    ctx.experts == 0
}
