//! Falcon-H1 (`FalconH1ForCausalLM`): every layer runs attention and a Mamba-2 mixer side by side on
//! the same normed input, then a gated MLP; two RMSNorms per layer. The mixer's gated norm only with
//! `mamba_rms_norm`. GGUF `falcon-h1`.

use super::mamba2;
use super::{check_gated_act, d, Decoder, Family};
use crate::import::hf_config::Cfg;
use crate::import::ImportError;
use crate::spec::model::ArchType;

pub const FAMILY: Family = Family {
    model_type: "falcon_h1",
    classes: &["FalconH1ForCausalLM"],
    kind: ArchType::FalconH1,
    defaults: d(
        "FalconH1Config",
        128000,
        4096,
        14336,
        32,
        32,
        Some(8),
        None,
        8192,
        false,
    ),
    text_config: false,
    config,
    gguf: &["falcon-h1"],
    gguf_match: super::any,
    gguf_fn: gguf,
};

/// GGUF: a Mamba-2 mixer beside attention in every layer (llama.cpp `LLM_ARCH_FALCON_H1`).
fn gguf(ctx: &mut crate::import::gguf::Ctx, a: &mut crate::spec::model::Architecture) -> Result<(), ImportError> {
    a.recurrent = Some(mamba2::from_gguf(ctx, a.layers)?);
    Ok(())
}

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    super::attention_bias_qkvo(c, &mut m.arch, "FalconH1Attention")?;
    m.arch.mlp_bias = c.flag("mlp_bias", "architecture.mlp_bias", false)?;
    let (layers, hidden) = (m.arch.layers, m.arch.hidden_size);
    let d_ssm = c.opt_count("mamba_d_ssm", "architecture.recurrent.inner", None)?;
    let mut r = mamba2::read(c, &mamba2::MAMBA_PREFIXED, layers, hidden, d_ssm)?;
    r.gated_norm = c.flag("mamba_rms_norm", "architecture.recurrent.gated_norm", false)?;
    let out_bias = c.flag("projectors_bias", "architecture.recurrent.proj_bias", false)?;
    if out_bias != r.proj_bias {
        c.warn(format!(
            "mamba_proj_bias {} but projectors_bias {out_bias}: the mixer's in_proj and out_proj are both taken as {}",
            r.proj_bias, r.proj_bias
        ));
    }
    m.arch.recurrent = Some(r);
    check_gated_act(c)
}
