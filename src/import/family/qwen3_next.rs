//! Qwen3-Next (`Qwen3NextForCausalLM`): Gated DeltaNet (`linear_attention`) layers with a gated
//! full-attention layer every `full_attention_interval`-th (4), q/k norms, MoE with a gated shared
//! expert in every layer. The multi-token-prediction weights (`mtp.*`) are not part of the decoder.
//! GGUF `qwen3next`.

use super::{check_gated_act, d, Decoder, Family};
use crate::import::gguf::Ctx;
use crate::import::hf_config::Cfg;
use crate::import::{Basis, ImportError};
use crate::spec::model::{ArchType, Architecture, RecurrentKind, RecurrentSpec};

pub const FAMILY: Family = Family {
    model_type: "qwen3_next",
    classes: &["Qwen3NextForCausalLM"],
    kind: ArchType::Qwen3Next,
    defaults: d(
        "Qwen3NextConfig",
        151936,
        2048,
        5632,
        48,
        16,
        Some(2),
        Some(256),
        32768,
        false,
    ),
    text_config: false,
    config,
    gguf: &["qwen3next"],
    gguf_match: super::any,
    gguf_fn: gguf,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    let a = &mut m.arch;
    let bias = c.flag("attention_bias", "architecture.qkv_bias", false)?;
    (a.qkv_bias, a.o_bias) = (bias, bias);
    a.qk_norm = true;
    a.attn_output_gate = true;
    c.fixed(
        "architecture.attn_output_gate",
        true,
        "Qwen3NextAttention: q_proj emits query and gate (2 x heads x head_dim), q_norm, k_norm",
    );
    let full = match super::layer_types(c)? {
        Some(types) => {
            if types.len() as u64 != a.layers {
                return Err(c.err(
                    "layer_types",
                    format!("{} entries for {} layers", types.len(), a.layers),
                ));
            }
            types.iter().filter(|t| **t == "full_attention").count() as u64
        }
        None => {
            let interval = c.count("full_attention_interval", "architecture.attention_layers", Some(4))?;
            if interval == 0 {
                return Err(c.err("full_attention_interval", "must be positive"));
            }
            a.layers / interval
        }
    };
    a.attention_layers = Some(full);
    c.note(
        "architecture.attention_layers",
        full,
        Basis::Derived,
        "layer_types full_attention (else every full_attention_interval-th layer); the others Gated DeltaNet".into(),
    );
    let r = RecurrentSpec {
        kind: RecurrentKind::GatedDeltaNet,
        layers: a.layers - full,
        heads: c.count("linear_num_value_heads", "architecture.recurrent.heads", Some(32))?,
        head_dim: c.count("linear_value_head_dim", "architecture.recurrent.head_dim", Some(128))?,
        groups: c.count("linear_num_key_heads", "architecture.recurrent.groups", Some(16))?,
        state_size: c.count("linear_key_head_dim", "architecture.recurrent.state_size", Some(128))?,
        conv_kernel: c.count("linear_conv_kernel_dim", "architecture.recurrent.conv_kernel", Some(4))?,
        proj_bias: false,
        conv_bias: false,
        gated_norm: true,
        ssm_state_dtype: None,
    };
    a.recurrent = Some(r);
    let layers = a.layers;
    let mut e = super::qwen3::experts(c, layers, (512, 10, 512))?;
    let shared = c.count(
        "shared_expert_intermediate_size",
        "architecture.moe.shared_expert_intermediate_size",
        Some(512),
    )?;
    e.shared_expert_intermediate_size = (shared > 0).then_some(shared);
    c.fixed(
        "architecture.moe.shared_expert_gate",
        true,
        "Qwen3NextSparseMoeBlock: shared_expert_gate (hidden -> 1)",
    );
    m.arch.moe = Some(e);
    check_gated_act(c)
}

/// GGUF: the DeltaNet geometry from `ssm.*` (llama.cpp `LLM_ARCH_QWEN3NEXT`: inner_size = value
/// dim, state_size = key head dim, group_count = key heads, time_step_rank = value heads), a full
/// attention layer every `full_attention_interval`-th.
fn gguf(ctx: &mut Ctx, a: &mut Architecture) -> Result<(), ImportError> {
    let interval = ctx.meta("full_attention_interval")?.unwrap_or(4).max(1);
    let full = a.layers / interval;
    let heads = ctx.required("ssm.time_step_rank")?;
    let inner = ctx.required("ssm.inner_size")?;
    a.qk_norm = true;
    a.attn_output_gate = true;
    a.attention_layers = Some(full);
    a.recurrent = Some(RecurrentSpec {
        kind: RecurrentKind::GatedDeltaNet,
        layers: a.layers - full,
        heads,
        head_dim: inner.checked_div(heads).unwrap_or(0),
        groups: ctx.required("ssm.group_count")?,
        state_size: ctx.required("ssm.state_size")?,
        conv_kernel: ctx.required("ssm.conv_kernel")?,
        proj_bias: false,
        conv_bias: false,
        gated_norm: true,
        ssm_state_dtype: None,
    });
    ctx.prov.record(
        "architecture.recurrent",
        format!("gated delta net, {} layers", a.layers - full),
        Basis::Config,
        "GGUF ssm.* and full_attention_interval",
    );
    Ok(())
}
