//! gpt-oss (`GptOssForCausalLM`): biases on q/k/v/o, a learned sink per head, 128-token windows on
//! every other layer (layer_types: sliding, full, ...), experts with biases on gate_up and down,
//! a router with a bias, all experts `intermediate_size` wide. The experts ship in MXFP4
//! (`quantization_config.quant_method` mxfp4). GGUF `gpt-oss`.

use super::{d, moe, Decoder, Family};
use crate::import::gguf::Ctx;
use crate::import::hf_config::Cfg;
use crate::import::ImportError;
use crate::spec::model::{ArchType, Architecture};

pub const FAMILY: Family = Family {
    model_type: "gpt_oss",
    classes: &["GptOssForCausalLM"],
    kind: ArchType::GptOss,
    defaults: d(
        "GptOssConfig",
        201088,
        2880,
        2880,
        36,
        64,
        Some(8),
        Some(64),
        131072,
        false,
    ),
    text_config: false,
    config,
    gguf: &["gpt-oss"],
    gguf_match: super::any,
    gguf_fn: gguf,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    let a = &mut m.arch;
    let bias = c.flag("attention_bias", "architecture.qkv_bias", true)?;
    (a.qkv_bias, a.o_bias) = (bias, bias);
    a.attention_sinks = true;
    c.fixed(
        "architecture.attention_sinks",
        true,
        "GptOssAttention: sinks, one per head",
    );
    super::sliding_window(c, a, Some(128), 2)?;
    let experts = c.count("num_local_experts", "architecture.moe.experts", Some(128))?;
    // `num_experts_per_tok` (transformers), `experts_per_token` (the original checkpoint's name)
    let key = if c.stated("num_experts_per_tok").is_some() {
        "num_experts_per_tok"
    } else {
        "experts_per_token"
    };
    let top = c.count(key, "architecture.moe.experts_per_token", Some(4))?;
    let mut e = moe(experts, top);
    e.router_bias = true;
    e.expert_bias = true;
    c.fixed(
        "architecture.moe",
        "router with bias, expert biases",
        "GptOssTopKRouter: weight + bias; GptOssExperts: gate_up_proj_bias, down_proj_bias",
    );
    a.moe = Some(e);
    if let Some(act) = c.string("hidden_act")? {
        if act != "silu" {
            c.warn(format!(
                "hidden_act `{act}`: gpt-oss's clamped SwiGLU layout is assumed"
            ));
        }
    }
    Ok(())
}

/// GGUF: sinks (`attn_sinks`), expert biases (`ffn_gate_up_exps.bias` / `ffn_down_exps.bias`) and
/// the alternating window (llama.cpp `LLM_ARCH_OPENAI_MOE`: `swa_pattern` 2).
fn gguf(ctx: &mut Ctx, a: &mut Architecture) -> Result<(), ImportError> {
    a.attention_sinks = ctx.b0("attn_sinks.weight");
    if let Some(m) = a.moe.as_mut() {
        m.expert_bias = ctx.b0("ffn_down_exps.bias");
    }
    if a.sliding_window.is_some() {
        a.sliding_window_pattern = 2;
    }
    Ok(())
}
