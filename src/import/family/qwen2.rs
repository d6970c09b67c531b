//! Qwen2 / Qwen2.5 (`Qwen2ForCausalLM`): biases on q/k/v (none on o_proj); a sliding window only
//! with `use_sliding_window`, on the layers from `max_window_layers` on. GGUF `qwen2`.

use super::{check_gated_act, d, Decoder, Family};
use crate::import::hf_config::Cfg;
use crate::import::{Basis, ImportError};
use crate::spec::model::ArchType;

pub const FAMILY: Family = Family {
    model_type: "qwen2",
    classes: &["Qwen2ForCausalLM"],
    kind: ArchType::Qwen2,
    defaults: d("Qwen2Config", 151936, 4096, 22016, 32, 32, Some(32), None, 32768, false),
    text_config: false,
    config,
    gguf: &["qwen2"],
    gguf_match: super::any,
    gguf_fn: super::no_gguf_fields,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    attention(c, m, true)?;
    check_gated_act(c)
}

/// Qwen2's attention fields, shared by Qwen2-MoE; `dense` is false for the MoE, whose per-layer
/// window pattern has no spec form.
pub fn attention(c: &mut Cfg, m: &mut Decoder, dense: bool) -> Result<(), ImportError> {
    let a = &mut m.arch;
    a.qkv_bias = c.flag("qkv_bias", "architecture.qkv_bias", true)?;
    if c.stated("qkv_bias").is_none() {
        c.fixed(
            "architecture.qkv_bias",
            true,
            "Qwen2Attention: q/k/v carry biases, o_proj none",
        );
    }
    if c.flag("use_sliding_window", "architecture.sliding_window", false)? {
        let window = c.count("sliding_window", "architecture.sliding_window", Some(4096))?;
        let from = c.count("max_window_layers", "architecture.sliding_window_pattern", Some(28))?;
        if dense && from == 0 {
            a.sliding_window = Some(window);
        } else if dense && from >= a.layers {
            // Qwen2Config layer_types: only layers from max_window_layers on use the window
            c.note(
                "architecture.sliding_window",
                "none",
                Basis::Derived,
                "max_window_layers >= num_hidden_layers: no windowed layer".into(),
            );
        } else {
            c.warn(format!(
                "use_sliding_window with max_window_layers {from}: the windowed layer pattern has no spec form; \
                 every layer is taken as full attention (KV cache an upper bound)"
            ));
            c.note(
                "architecture.sliding_window",
                "none",
                Basis::Derived,
                "layer pattern not representable: full attention assumed".into(),
            );
        }
    }
    Ok(())
}
