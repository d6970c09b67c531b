//! GLM-4.5 / GLM-4.5-Air (`Glm4MoeForCausalLM`): q/k/v biases per `attention_bias` (o_proj none),
//! optional q/k norms (`use_qk_norm`), the first `first_k_dense_replace` layers dense, then routed
//! experts with a score-correction bias (`e_score_correction_bias`) and `n_shared_experts` ungated
//! shared experts. The multi-token-prediction layers (`num_nextn_predict_layers`) sit beyond
//! `num_hidden_layers` in the checkpoint and are not loaded for inference. GGUF `glm4moe`.

use super::{check_gated_act, d, moe, Decoder, Family};
use crate::import::gguf::Ctx;
use crate::import::hf_config::Cfg;
use crate::import::{Basis, ImportError};
use crate::spec::model::{ArchType, Architecture};

pub const FAMILY: Family = Family {
    model_type: "glm4_moe",
    classes: &["Glm4MoeForCausalLM"],
    kind: ArchType::Glm4Moe,
    defaults: d(
        "Glm4MoeConfig",
        151552,
        4096,
        10944,
        46,
        96,
        Some(8),
        Some(128),
        131072,
        false,
    ),
    text_config: false,
    config,
    gguf: &["glm4moe"],
    gguf_match: super::any,
    gguf_fn: gguf,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    let a = &mut m.arch;
    a.qkv_bias = c.flag("attention_bias", "architecture.qkv_bias", false)?;
    c.fixed("architecture.o_bias", false, "Glm4MoeAttention: o_proj without bias");
    a.qk_norm = c.flag("use_qk_norm", "architecture.qk_norm", false)?;
    let experts = c.count("n_routed_experts", "architecture.moe.experts", Some(128))?;
    let top = c.count("num_experts_per_tok", "architecture.moe.experts_per_token", Some(8))?;
    let mut e = moe(experts, top);
    let width = c.count(
        "moe_intermediate_size",
        "architecture.moe.expert_intermediate_size",
        Some(1408),
    )?;
    e.expert_intermediate_size = Some(width);
    let shared = c.count(
        "n_shared_experts",
        "architecture.moe.shared_expert_intermediate_size",
        Some(1),
    )?;
    e.shared_expert_intermediate_size = (shared > 0).then(|| width.saturating_mul(shared));
    e.shared_expert_gate = false;
    c.note(
        "architecture.moe.shared_expert_intermediate_size",
        width.saturating_mul(shared),
        Basis::Derived,
        "moe_intermediate_size x n_shared_experts (one MLP, no gate)".into(),
    );
    e.router_bias = true;
    c.fixed(
        "architecture.moe.router_bias",
        true,
        "Glm4MoeTopkRouter: e_score_correction_bias",
    );
    e.dense_layers = c.count("first_k_dense_replace", "architecture.moe.dense_layers", Some(1))?;
    a.moe = Some(e);
    check_gated_act(c)
}

/// GGUF: q/k norms when the tensors are there; the router's `exp_probs_b`.
fn gguf(ctx: &mut Ctx, a: &mut Architecture) -> Result<(), ImportError> {
    a.qk_norm = ctx.b0("attn_q_norm.weight");
    if let Some(m) = a.moe.as_mut() {
        m.router_bias = ctx.any_tensor_ends_with(".exp_probs_b.bias");
        m.shared_expert_gate = false;
    }
    Ok(())
}
