//! Gemma 2 (`Gemma2ForCausalLM`): sliding-window and full attention alternate, four norms per layer.
//! GGUF `gemma2`.

use super::{check_gated_act, d, Decoder, Family};
use crate::import::gguf::Ctx;
use crate::import::hf_config::Cfg;
use crate::import::ImportError;
use crate::spec::model::{ArchType, Architecture};

pub const FAMILY: Family = Family {
    model_type: "gemma2",
    classes: &["Gemma2ForCausalLM"],
    kind: ArchType::Gemma2,
    defaults: d(
        "Gemma2Config",
        256000,
        2304,
        9216,
        26,
        8,
        Some(4),
        Some(256),
        8192,
        true,
    ),
    text_config: false,
    config,
    gguf: &["gemma2"],
    gguf_match: super::any,
    gguf_fn: gguf,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    super::gemma::attention_bias(c, m)?;
    let a = &mut m.arch;
    a.sliding_window = c.opt_count("sliding_window", "architecture.sliding_window", Some(4096))?;
    a.sliding_window_pattern = 2;
    c.fixed(
        "architecture.sliding_window_pattern",
        2,
        "Gemma2Config layer_types: sliding and full attention alternate",
    );
    a.norms_per_layer = 4;
    c.fixed(
        "architecture.norms_per_layer",
        4,
        "Gemma2DecoderLayer: input, post_attention, pre_feedforward, post_feedforward",
    );
    check_gated_act(c)
}

fn gguf(_: &mut Ctx, a: &mut Architecture) -> Result<(), ImportError> {
    if a.sliding_window.is_some() {
        a.sliding_window_pattern = 2;
    }
    Ok(())
}
