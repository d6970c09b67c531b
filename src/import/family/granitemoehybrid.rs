//! Granite 4.0-H (`GraniteMoeHybridForCausalLM`): Mamba-2 layers with an attention layer where
//! `layer_types` says `attention`, no positional encoding; every layer ends in a shared gated MLP
//! (`shared_intermediate_size`) and, with `num_local_experts` > 0, routed experts
//! (`intermediate_size` wide) beside it. Tied embeddings. GGUF `granitehybrid`.

use super::mamba2;
use super::{check_gated_act, d, moe, Decoder, Family};
use crate::import::hf_config::Cfg;
use crate::import::{Basis, ImportError};
use crate::spec::model::ArchType;

pub const FAMILY: Family = Family {
    model_type: "granitemoehybrid",
    classes: &["GraniteMoeHybridForCausalLM"],
    kind: ArchType::GraniteMoeHybrid,
    defaults: d(
        "GraniteMoeHybridConfig",
        32000,
        4096,
        11008,
        32,
        32,
        None,
        None,
        2048,
        false,
    ),
    text_config: false,
    config,
    gguf: &["granitehybrid"],
    gguf_match: super::any,
    gguf_fn: gguf,
};

/// GGUF: the per-layer KV head list marks the attention layers; the others are Mamba-2
/// (llama.cpp `LLM_ARCH_GRANITE_HYBRID`); the shared MLP has no gate.
fn gguf(ctx: &mut crate::import::gguf::Ctx, a: &mut crate::spec::model::Architecture) -> Result<(), ImportError> {
    let mamba = a.layers - a.attention_layer_count();
    if mamba > 0 {
        a.recurrent = Some(mamba2::from_gguf(ctx, mamba)?);
    }
    if let Some(m) = a.moe.as_mut() {
        m.shared_expert_gate = false;
    }
    Ok(())
}

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    super::attention_bias_qkvo(c, &mut m.arch, "GraniteMoeHybridAttention")?;
    let layers = m.arch.layers;
    let attention = match super::layer_types(c)? {
        Some(types) => {
            if types.len() as u64 != layers {
                return Err(c.err("layer_types", format!("{} entries for {layers} layers", types.len())));
            }
            types.iter().filter(|t| **t == "attention").count() as u64
        }
        None => 0,
    };
    m.arch.attention_layers = Some(attention);
    c.note(
        "architecture.attention_layers",
        attention,
        Basis::Config,
        "config.json `layer_types`: attention; the others Mamba-2".into(),
    );
    let hidden = m.arch.hidden_size;
    if attention < layers {
        m.arch.recurrent = Some(mamba2::read(
            c,
            &mamba2::MAMBA_PREFIXED,
            layers - attention,
            hidden,
            None,
        )?);
    }
    let shared = c.count(
        "shared_intermediate_size",
        "architecture.moe.shared_expert_intermediate_size",
        Some(1024),
    )?;
    let experts = c.count("num_local_experts", "architecture.moe.experts", Some(8))?;
    if experts == 0 {
        // the shared MLP alone: a dense gated MLP
        m.arch.intermediate_size = shared;
        c.note(
            "architecture.intermediate_size",
            shared,
            Basis::Config,
            "num_local_experts 0: the shared_mlp (shared_intermediate_size) is the dense MLP".into(),
        );
    } else {
        let top = c.count("num_experts_per_tok", "architecture.moe.experts_per_token", Some(2))?;
        let mut e = moe(experts, top);
        e.expert_intermediate_size = Some(m.arch.intermediate_size);
        e.shared_expert_intermediate_size = Some(shared);
        e.shared_expert_gate = false;
        c.fixed(
            "architecture.moe",
            "router without bias, shared_mlp without gate",
            "GraniteMoeHybridMoE: router.layer, input_linear (2 x intermediate), output_linear; GraniteMoeHybridMLP shared_mlp",
        );
        m.arch.moe = Some(e);
    }
    check_gated_act(c)
}
