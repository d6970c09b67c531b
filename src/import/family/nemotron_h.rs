//! Nemotron-H (`NemotronHForCausalLM`; Nemotron-H 4B/8B/47B/56B, NVIDIA-Nemotron-Nano-9B/12B-v2,
//! Nemotron 3 Nano): a stack of blocks holding one mixer each, spelled by `hybrid_override_pattern`
//! (`M` Mamba-2, `*` attention, `-` MLP, `E` MoE) or `layers_block_type`; one RMSNorm per block; a
//! squared-ReLU MLP (up, down; no gate). The SSM state is kept in float32 unless the config pins
//! `mamba_ssm_cache_dtype` (vLLM `NemotronHForCausalLMConfig`). GGUF `nemotron_h`.

use super::mamba2::{self, Keys};
use super::{d, moe, Decoder, Family};
use crate::import::hf_config::Cfg;
use crate::import::{Basis, ImportError};
use crate::spec::model::{ArchType, MlpKind, StateDtype};

pub const FAMILY: Family = Family {
    model_type: "nemotron_h",
    classes: &["NemotronHForCausalLM"],
    kind: ArchType::NemotronH,
    defaults: d(
        "NemotronHConfig",
        131072,
        4096,
        21504,
        52,
        32,
        Some(8),
        Some(128),
        4096,
        false,
    ),
    text_config: false,
    config,
    gguf: &["nemotron_h"],
    gguf_match: super::any,
    gguf_fn: gguf,
};

/// GGUF: per-layer head and FFN lists mark the attention and MLP blocks; the rest are Mamba-2
/// (llama.cpp `LLM_ARCH_NEMOTRON_H`); the SSM state in f32 as vLLM keeps it.
fn gguf(ctx: &mut crate::import::gguf::Ctx, a: &mut crate::spec::model::Architecture) -> Result<(), ImportError> {
    let mamba = a.layers - a.attention_layer_count() - a.mlp_layer_count();
    let mut r = mamba2::from_gguf(ctx, mamba)?;
    r.ssm_state_dtype = Some(StateDtype::F32);
    (a.norms_per_layer, a.mlp, a.recurrent) = (1, MlpKind::Plain, Some(r));
    if let Some(m) = a.moe.as_mut() {
        m.shared_expert_gate = false;
    }
    Ok(())
}

const KEYS: Keys = Keys {
    heads: ("mamba_num_heads", 128),
    head_dim: "mamba_head_dim",
    groups: ("n_groups", 8),
    state: ("ssm_state_size", 128),
    conv: ("conv_kernel", 4),
    expand: ("expand", 2),
    conv_bias: ("use_conv_bias", true),
    proj_bias: ("use_bias", false),
};

/// NemotronHConfig's default pattern (Nemotron-H-8B).
const DEFAULT_PATTERN: &str = "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-";

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    let pattern: String = match (c.string("hybrid_override_pattern")?, c.stated("layers_block_type")) {
        (Some(p), _) => p.to_string(),
        (None, Some(serde_json::Value::Array(items))) => items
            .iter()
            .map(|v| match v.as_str() {
                Some("mamba") => Ok('M'),
                Some("attention") => Ok('*'),
                Some("mlp") => Ok('-'),
                Some("moe") => Ok('E'),
                _ => Err(c.err("layers_block_type", format!("unknown block type {v}"))),
            })
            .collect::<Result<_, _>>()?,
        (None, _) => DEFAULT_PATTERN.to_string(),
    };
    let count = |ch: char| pattern.chars().filter(|&x| x == ch).count() as u64;
    let (mamba, attention, mlp, experts) = (count('M'), count('*'), count('-'), count('E'));
    if mamba + attention + mlp + experts != pattern.chars().count() as u64 {
        return Err(c.err(
            "hybrid_override_pattern",
            "only M (Mamba-2), * (attention), - (MLP) and E (MoE) are known",
        ));
    }
    let a = &mut m.arch;
    if pattern.chars().count() as u64 != a.layers {
        return Err(c.err(
            "hybrid_override_pattern",
            format!("{} blocks for {} layers", pattern.chars().count(), a.layers),
        ));
    }
    (a.norms_per_layer, a.mlp) = (1, MlpKind::Plain);
    a.attention_layers = Some(attention);
    a.mlp_layers = Some(mlp + experts);
    c.note(
        "architecture.layout",
        format!("{mamba} Mamba-2, {attention} attention, {mlp} MLP, {experts} MoE blocks"),
        Basis::Config,
        "config.json `hybrid_override_pattern`: one mixer per block, one RMSNorm each, squared-ReLU MLP".into(),
    );
    let bias = c.flag("attention_bias", "architecture.qkv_bias", false)?;
    (a.qkv_bias, a.o_bias) = (bias, bias);
    a.mlp_bias = c.flag("mlp_bias", "architecture.mlp_bias", false)?;
    if c.stated("attention_head_dim").is_some() {
        a.head_dim = Some(c.count("attention_head_dim", "architecture.head_dim", None)?);
    }
    let hidden = a.hidden_size;
    let mut r = mamba2::read(c, &KEYS, mamba, hidden, None)?;
    r.ssm_state_dtype = Some(mamba2::state_dtype(c, "mamba_ssm_cache_dtype")?.unwrap_or(StateDtype::F32));
    c.note(
        "architecture.recurrent.ssm_state_dtype",
        format!("{:?}", r.ssm_state_dtype),
        Basis::Default,
        "`mamba_ssm_cache_dtype`, float32 when absent (vLLM NemotronHForCausalLMConfig)".into(),
    );
    m.arch.recurrent = Some(r);
    if experts > 0 {
        let n = c.count("n_routed_experts", "architecture.moe.experts", None)?;
        let top = c.count("num_experts_per_tok", "architecture.moe.experts_per_token", None)?;
        let mut e = moe(n, top);
        e.expert_intermediate_size = Some(c.count(
            "moe_intermediate_size",
            "architecture.moe.expert_intermediate_size",
            None,
        )?);
        let shared = c.count(
            "n_shared_experts",
            "architecture.moe.shared_expert_intermediate_size",
            Some(0),
        )?;
        if shared > 0 {
            e.shared_expert_intermediate_size = Some(c.count(
                "moe_shared_expert_intermediate_size",
                "architecture.moe.shared_expert_intermediate_size",
                None,
            )?);
        }
        e.shared_expert_gate = false;
        e.router_bias = true;
        e.dense_layers = mlp;
        c.fixed(
            "architecture.moe",
            "router with e_score_correction_bias, ungated shared expert, squared-ReLU experts",
            "NemotronHMoE: gate with e_score_correction_bias, experts up/down, shared_experts",
        );
        m.arch.moe = Some(e);
    }
    Ok(())
}
