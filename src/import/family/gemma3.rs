//! Gemma 3 (`Gemma3ForCausalLM` `gemma3_text`, `Gemma3ForConditionalGeneration` `gemma3`): Gemma 2's
//! four norms per layer with RMSNorm on q and k, five sliding-window layers per global one (every
//! sixth layer full), tied embeddings. The multimodal config nests the decoder in `text_config` and a
//! SigLIP tower in `vision_config`; its projector pools each image to `mm_tokens_per_image` tokens.
//! GGUF `gemma3` (the tower lives in a separate mmproj file).

use super::{check_gated_act, d, enter_vision, Decoder, Family};
use crate::import::gguf::Ctx;
use crate::import::hf_config::Cfg;
use crate::import::{Basis, ImportError};
use crate::spec::model::{ArchType, Architecture, VisionSpec, VisionTower};

const TEXT: super::Defaults = d(
    "Gemma3TextConfig",
    262208,
    2304,
    9216,
    26,
    8,
    Some(4),
    Some(256),
    131072,
    true,
);

pub const TEXT_ONLY: Family = Family {
    model_type: "gemma3_text",
    classes: &["Gemma3ForCausalLM"],
    kind: ArchType::Gemma3,
    defaults: TEXT,
    text_config: false,
    config,
    gguf: &["gemma3"],
    gguf_match: super::any,
    gguf_fn: gguf,
};

pub const MULTIMODAL: Family = Family {
    model_type: "gemma3",
    classes: &["Gemma3ForConditionalGeneration"],
    kind: ArchType::Gemma3,
    defaults: TEXT,
    text_config: true,
    config,
    gguf: &[],
    gguf_match: super::any,
    gguf_fn: gguf,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    super::gemma::attention_bias(c, m)?;
    let a = &mut m.arch;
    a.qk_norm = true;
    a.norms_per_layer = 4;
    c.fixed(
        "architecture.layout",
        "4 norms per layer, q/k norms",
        "Gemma3DecoderLayer: input, post_attention, pre_feedforward, post_feedforward norms; Gemma3Attention q_norm, k_norm",
    );
    // `sliding_window_pattern` (older configs; `_sliding_window_pattern` when transformers rewrites it)
    let key = if c.stated("_sliding_window_pattern").is_some() {
        "_sliding_window_pattern"
    } else {
        "sliding_window_pattern"
    };
    let pattern = c.count(key, "architecture.sliding_window_pattern", Some(6))?.max(1);
    super::sliding_window(c, a, Some(4096), pattern)?;
    check_gated_act(c)?;
    if enter_vision(c, "SiglipVisionConfig")? {
        m.vision = Some(siglip(c, m.arch.hidden_size)?);
    }
    Ok(())
}

/// SigLIP from `vision_config` (SiglipVisionConfig defaults) and Gemma 3's `mm_tokens_per_image`.
fn siglip(c: &mut Cfg, text_hidden: u64) -> Result<VisionSpec, ImportError> {
    let hidden = c.count("hidden_size", "vision.hidden_size", Some(768))?;
    let layers = c.count("num_hidden_layers", "vision.layers", Some(12))?;
    let heads = c.count("num_attention_heads", "vision.attention_heads", Some(12))?;
    let intermediate = c.count("intermediate_size", "vision.intermediate_size", Some(3072))?;
    let image = c.count("image_size", "vision.image_size", Some(224))?;
    let patch = c.count("patch_size", "vision.patch_size", Some(16))?;
    let channels = c.count("num_channels", "vision.channels", Some(3))?;
    if c.flag("vision_use_head", "vision.head", true)? {
        return Err(c.err(
            "vision_use_head",
            "a SigLIP pooling head has no spec form (Gemma 3 has none)",
        ));
    }
    c.leave();
    c.class = "Gemma3Config";
    let tokens = c.count("mm_tokens_per_image", "vision.merge", Some(256))?;
    let side = image.checked_div(patch).unwrap_or(0);
    let per_side = (tokens as f64).sqrt() as u64;
    if per_side == 0 || per_side * per_side != tokens || side % per_side != 0 {
        return Err(c.err(
            "mm_tokens_per_image",
            format!("{tokens} is not a square that pools the {side} x {side} patch grid evenly"),
        ));
    }
    let merge = side / per_side;
    c.note(
        "vision.merge",
        merge,
        Basis::Derived,
        format!("{side} x {side} patches average-pooled to {tokens} tokens"),
    );
    Ok(VisionSpec {
        encoder: format!("siglip-{hidden}-{layers}l-{image}px"),
        tower: VisionTower::Siglip,
        image_size: image,
        patch_size: patch,
        hidden_size: hidden,
        layers,
        attention_heads: heads,
        intermediate_size: intermediate,
        channels,
        merge,
        projector: vec![text_hidden],
        projector_bias: false,
        extra_parameters: 0,
        max_crops: 1,
        default_crops: 1,
    })
}

/// GGUF: `gemma3.attention.sliding_window` with every sixth layer global (llama.cpp
/// `LLM_ARCH_GEMMA3` sets `swa_pattern` 6), q/k norm tensors.
fn gguf(ctx: &mut Ctx, a: &mut Architecture) -> Result<(), ImportError> {
    a.qk_norm = ctx.b0("attn_q_norm.weight");
    if a.sliding_window.is_some() {
        a.sliding_window_pattern = 6;
    }
    Ok(())
}
