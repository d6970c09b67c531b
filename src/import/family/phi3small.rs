//! Phi-3-small (`Phi3SmallForCausalLM`, remote code): LayerNorm, a gegelu up-projection twice
//! `ff_intermediate_size` wide, biases on qkv/dense/up/down.

use super::{required, Decoder, Defaults, Family};
use crate::import::hf_config::Cfg;
use crate::import::ImportError;
use crate::spec::model::{ArchType, MlpKind, NormKind};

pub const SMALL: Family = Family {
    model_type: "phi3small",
    classes: &["Phi3SmallForCausalLM"],
    kind: ArchType::Phi3small,
    // remote code, class not read: sizes required; PretrainedConfig's tie_word_embeddings default
    // (true) applies to Phi-3-small, whose config does not state it
    defaults: Defaults {
        intermediate_key: "ff_intermediate_size",
        ..required("Phi3SmallConfig (remote code)", true)
    },
    text_config: false,
    config,
    gguf: &[],
    gguf_match: super::any,
    gguf_fn: super::no_gguf_fields,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    let a = &mut m.arch;
    (a.norm, a.mlp, a.fused_qkv) = (NormKind::Layer, MlpKind::GatedFusedWide, true);
    (a.qkv_bias, a.o_bias, a.mlp_bias) = (true, true, true);
    c.fixed(
        "architecture.layout",
        "layer norm, gegelu up-projection 2 x ff_intermediate_size, biases on qkv/dense/up/down",
        "Phi-3-small remote modeling code (microsoft/Phi-3-small-8k-instruct modeling_phi3_small.py)",
    );
    if let Some(act) = c.string("hidden_act")? {
        if act != "gegelu" {
            return Err(c.err(
                "hidden_act",
                format!("`{act}`: only Phi-3-small's gegelu layout is known"),
            ));
        }
    }
    Ok(())
}
