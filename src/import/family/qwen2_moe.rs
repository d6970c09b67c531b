//! Qwen1.5-MoE / Qwen2-MoE (`Qwen2MoeForCausalLM`): Qwen2's attention, fine-grained experts and one
//! shared expert with a sigmoid gate; dense layers from `mlp_only_layers` / `decoder_sparse_step`.
//! GGUF `qwen2moe`.

use super::{check_gated_act, d, moe, Decoder, Family};
use crate::import::hf_config::Cfg;
use crate::import::{Basis, ImportError};
use crate::spec::model::ArchType;

pub const FAMILY: Family = Family {
    model_type: "qwen2_moe",
    classes: &["Qwen2MoeForCausalLM"],
    kind: ArchType::Qwen2Moe,
    defaults: d(
        "Qwen2MoeConfig",
        151936,
        2048,
        5632,
        24,
        16,
        Some(16),
        None,
        32768,
        false,
    ),
    text_config: false,
    config,
    gguf: &["qwen2moe"],
    gguf_match: super::any,
    gguf_fn: super::no_gguf_fields,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    super::qwen2::attention(c, m, false)?;
    let experts = c.count("num_experts", "architecture.moe.experts", Some(60))?;
    let top = c.count("num_experts_per_tok", "architecture.moe.experts_per_token", Some(4))?;
    let mut e = moe(experts, top);
    e.expert_intermediate_size = Some(c.count(
        "moe_intermediate_size",
        "architecture.moe.expert_intermediate_size",
        Some(1408),
    )?);
    let shared = c.count(
        "shared_expert_intermediate_size",
        "architecture.moe.shared_expert_intermediate_size",
        Some(5632),
    )?;
    e.shared_expert_intermediate_size = (shared > 0).then_some(shared);
    e.dense_layers = sparse_step_dense_layers(c, m.arch.layers, experts)?;
    m.arch.moe = Some(e);
    check_gated_act(c)
}

/// Layers with a dense MLP, as Qwen2MoeDecoderLayer (and Qwen3-MoE, Qwen3-Next) choose them: experts
/// where the layer is not in `mlp_only_layers` and num_experts > 0 and (layer + 1) %
/// decoder_sparse_step == 0.
pub fn sparse_step_dense_layers(c: &mut Cfg, layers: u64, experts: u64) -> Result<u64, ImportError> {
    let step = c.count("decoder_sparse_step", "architecture.moe.dense_layers", Some(1))?;
    let only = c.int_list("mlp_only_layers")?;
    let dense = (0..layers)
        .filter(|i| only.contains(i) || experts == 0 || step == 0 || (i + 1) % step != 0)
        .count() as u64;
    c.note(
        "architecture.moe.dense_layers",
        dense,
        Basis::Derived,
        "layers in mlp_only_layers or off decoder_sparse_step".into(),
    );
    Ok(dense)
}
