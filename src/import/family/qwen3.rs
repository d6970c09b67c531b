//! Qwen3 (`Qwen3ForCausalLM`) and Qwen3-MoE (`Qwen3MoeForCausalLM`): Llama's layout, biases per
//! `attention_bias` (none in any release), RMSNorm on q and k per head; the MoE has no shared expert,
//! its dense layers from `mlp_only_layers` / `decoder_sparse_step`. A sliding window only with
//! `use_sliding_window` (no release uses it). GGUF `qwen3`, `qwen3moe`.

use super::{check_gated_act, d, moe, Decoder, Family};
use crate::import::gguf::Ctx;
use crate::import::hf_config::Cfg;
use crate::import::ImportError;
use crate::spec::model::{ArchType, Architecture};

pub const DENSE: Family = Family {
    model_type: "qwen3",
    classes: &["Qwen3ForCausalLM"],
    kind: ArchType::Qwen3,
    defaults: d(
        "Qwen3Config",
        151936,
        4096,
        22016,
        32,
        32,
        Some(32),
        Some(128),
        32768,
        false,
    ),
    text_config: false,
    config: config_dense,
    gguf: &["qwen3"],
    gguf_match: super::any,
    gguf_fn: gguf,
};

pub const MOE: Family = Family {
    model_type: "qwen3_moe",
    classes: &["Qwen3MoeForCausalLM"],
    kind: ArchType::Qwen3Moe,
    defaults: d(
        "Qwen3MoeConfig",
        151936,
        2048,
        6144,
        24,
        32,
        Some(4),
        None,
        32768,
        false,
    ),
    text_config: false,
    config: config_moe,
    gguf: &["qwen3moe"],
    gguf_match: super::any,
    gguf_fn: gguf,
};

fn config_dense(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    attention(c, &mut m.arch)?;
    check_gated_act(c)
}

fn config_moe(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    attention(c, &mut m.arch)?;
    m.arch.moe = Some(experts(c, m.arch.layers, (128, 8, 768))?);
    check_gated_act(c)
}

/// Qwen3Attention: q/k/v/o biases per `attention_bias`, q_norm and k_norm; the Qwen2-style window.
pub fn attention(c: &mut Cfg, a: &mut Architecture) -> Result<(), ImportError> {
    let bias = c.flag("attention_bias", "architecture.qkv_bias", false)?;
    (a.qkv_bias, a.o_bias) = (bias, bias);
    a.qk_norm = true;
    c.fixed(
        "architecture.qk_norm",
        true,
        "Qwen3Attention: q_norm and k_norm (RMSNorm over head_dim)",
    );
    if c.flag("use_sliding_window", "architecture.sliding_window", false)? {
        super::sliding_window(c, a, Some(4096), 1)?;
        if super::layer_types(c)?.is_none() {
            // Qwen3Config layer_types: the window from max_window_layers on
            let from = c.count("max_window_layers", "architecture.sliding_window_pattern", Some(28))?;
            let windowed: Vec<bool> = (0..a.layers).map(|i| i >= from).collect();
            super::window_from_types(c, a, &windowed);
        }
    }
    Ok(())
}

/// Qwen3-MoE's experts (also Qwen3-Next's routed part): `num_experts` of `moe_intermediate_size`,
/// top `num_experts_per_tok`, dense layers off `decoder_sparse_step` / `mlp_only_layers`.
pub fn experts(
    c: &mut Cfg,
    layers: u64,
    (experts, top, width): (u64, u64, u64),
) -> Result<crate::spec::model::MoeSpec, ImportError> {
    let experts = c.count("num_experts", "architecture.moe.experts", Some(experts))?;
    let top = c.count("num_experts_per_tok", "architecture.moe.experts_per_token", Some(top))?;
    let mut e = moe(experts, top);
    e.expert_intermediate_size = Some(c.count(
        "moe_intermediate_size",
        "architecture.moe.expert_intermediate_size",
        Some(width),
    )?);
    e.dense_layers = super::qwen2_moe::sparse_step_dense_layers(c, layers, experts)?;
    Ok(e)
}

/// GGUF: the q/k norms are tensors (`attn_q_norm`, `attn_k_norm`).
fn gguf(ctx: &mut Ctx, a: &mut Architecture) -> Result<(), ImportError> {
    a.qk_norm = ctx.b0("attn_q_norm.weight");
    Ok(())
}
