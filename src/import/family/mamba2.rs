//! The Mamba-2 mixer's config fields, read alike by the families that carry one (Granite 4.0-H,
//! Nemotron-H, Falcon-H1), each under its own key names.

use crate::import::hf_config::Cfg;
use crate::import::{Basis, ImportError};
use crate::spec::model::{RecurrentKind, RecurrentSpec, StateDtype};

/// One family's key names and its config class's defaults for them.
pub struct Keys {
    pub heads: (&'static str, u64),
    /// per-head width; `"auto"` or absent: d_inner / heads
    pub head_dim: &'static str,
    pub groups: (&'static str, u64),
    pub state: (&'static str, u64),
    pub conv: (&'static str, u64),
    pub expand: (&'static str, u64),
    pub conv_bias: (&'static str, bool),
    pub proj_bias: (&'static str, bool),
}

/// The `mamba_*` names and defaults Falcon-H1 (FalconH1Config) and Granite 4.0-H
/// (GraniteMoeHybridConfig) share.
pub const MAMBA_PREFIXED: Keys = Keys {
    heads: ("mamba_n_heads", 128),
    head_dim: "mamba_d_head",
    groups: ("mamba_n_groups", 1),
    state: ("mamba_d_state", 256),
    conv: ("mamba_d_conv", 4),
    expand: ("mamba_expand", 2),
    conv_bias: ("mamba_conv_bias", true),
    proj_bias: ("mamba_proj_bias", false),
};

/// Reads a Mamba-2 mixer in `layers` layers of a model `hidden` wide. d_inner is `expand x hidden`
/// unless `d_inner` (Falcon-H1 `mamba_d_ssm`) gives it.
pub fn read(
    c: &mut Cfg,
    k: &Keys,
    layers: u64,
    hidden: u64,
    d_inner: Option<u64>,
) -> Result<RecurrentSpec, ImportError> {
    let heads = c.count(k.heads.0, "architecture.recurrent.heads", Some(k.heads.1))?;
    if heads == 0 {
        return Err(c.err(k.heads.0, "must be positive"));
    }
    let inner = match d_inner {
        Some(d) => d,
        None => c
            .count(k.expand.0, "architecture.recurrent.expand", Some(k.expand.1))?
            .saturating_mul(hidden),
    };
    let head_dim = match c.stated(k.head_dim) {
        Some(serde_json::Value::String(s)) if s == "auto" => {
            c.note(
                "architecture.recurrent.head_dim",
                inner / heads,
                Basis::Derived,
                format!("`{}` auto: d_inner {inner} / {heads} heads", c.key(k.head_dim)),
            );
            inner / heads
        }
        Some(_) => c.count(k.head_dim, "architecture.recurrent.head_dim", None)?,
        None => {
            c.note(
                "architecture.recurrent.head_dim",
                inner / heads,
                Basis::Derived,
                format!("d_inner {inner} / {heads} heads"),
            );
            inner / heads
        }
    };
    Ok(RecurrentSpec {
        kind: RecurrentKind::Mamba2,
        layers,
        heads,
        head_dim,
        groups: c.count(k.groups.0, "architecture.recurrent.groups", Some(k.groups.1))?,
        state_size: c.count(k.state.0, "architecture.recurrent.state_size", Some(k.state.1))?,
        conv_kernel: c.count(k.conv.0, "architecture.recurrent.conv_kernel", Some(k.conv.1))?,
        proj_bias: c.flag(k.proj_bias.0, "architecture.recurrent.proj_bias", k.proj_bias.1)?,
        conv_bias: c.flag(k.conv_bias.0, "architecture.recurrent.conv_bias", k.conv_bias.1)?,
        gated_norm: true,
        ssm_state_dtype: None,
    })
}

/// A state dtype name as configs spell it (`float32`, `bfloat16`, `float16`).
pub fn state_dtype(c: &Cfg, key: &str) -> Result<Option<StateDtype>, ImportError> {
    Ok(match c.string(key)? {
        None | Some("auto") => None,
        Some("float32") => Some(StateDtype::F32),
        Some("bfloat16") => Some(StateDtype::Bf16),
        Some("float16") => Some(StateDtype::F16),
        Some(other) => return Err(c.err(key, format!("unknown dtype `{other}`"))),
    })
}

/// A Mamba-2 mixer from GGUF metadata (llama.cpp `ssm.*`: inner_size = d_inner, time_step_rank =
/// heads, group_count, state_size, conv_kernel) in `layers` layers; biases and the gated norm from
/// the tensors present.
pub fn from_gguf(ctx: &mut crate::import::gguf::Ctx, layers: u64) -> Result<RecurrentSpec, ImportError> {
    let heads = ctx.required("ssm.time_step_rank")?;
    let inner = ctx.required("ssm.inner_size")?;
    let r = RecurrentSpec {
        kind: RecurrentKind::Mamba2,
        layers,
        heads,
        head_dim: inner.checked_div(heads).unwrap_or(0),
        groups: ctx.meta("ssm.group_count")?.unwrap_or(1),
        state_size: ctx.required("ssm.state_size")?,
        conv_kernel: ctx.required("ssm.conv_kernel")?,
        proj_bias: ctx.any_tensor_ends_with("ssm_in.bias"),
        conv_bias: ctx.any_tensor_ends_with("ssm_conv1d.bias"),
        gated_norm: ctx.any_tensor_ends_with("ssm_norm.weight"),
        ssm_state_dtype: None,
    };
    ctx.prov.record(
        "architecture.recurrent",
        format!("Mamba-2, {layers} layers, {heads} heads x {}", r.head_dim),
        Basis::Config,
        "GGUF ssm.* and the layers without attention",
    );
    Ok(r)
}
