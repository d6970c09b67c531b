//! Mixtral (`MixtralForCausalLM`): Mistral's attention with 8 experts, top 2. GGUF `llama` with
//! `expert_count` > 0.

use super::{check_gated_act, d, moe, Decoder, Family};
use crate::import::gguf::Ctx;
use crate::import::hf_config::Cfg;
use crate::import::ImportError;
use crate::spec::model::ArchType;

pub const FAMILY: Family = Family {
    model_type: "mixtral",
    classes: &["MixtralForCausalLM"],
    kind: ArchType::Mixtral,
    defaults: d(
        "MixtralConfig",
        32000,
        4096,
        14336,
        32,
        32,
        Some(8),
        None,
        131072,
        false,
    ),
    text_config: false,
    config,
    gguf: &["llama"],
    gguf_match: experts,
    gguf_fn: super::no_gguf_fields,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    sliding_experts(c, m, 8)?;
    check_gated_act(c)
}

/// Mixtral-style MoE fields (also PhiMoE's): an optional window, `num_local_experts`, top-k.
pub fn sliding_experts(c: &mut Cfg, m: &mut Decoder, experts: u64) -> Result<(), ImportError> {
    m.arch.sliding_window = c.opt_count("sliding_window", "architecture.sliding_window", None)?;
    let experts = c.count("num_local_experts", "architecture.moe.experts", Some(experts))?;
    let top = c.count("num_experts_per_tok", "architecture.moe.experts_per_token", Some(2))?;
    m.arch.moe = Some(moe(experts, top));
    Ok(())
}

fn experts(ctx: &Ctx) -> bool {
    ctx.experts > 0
}
