//! Mistral Small 3.1 / 3.2, Magistral Small 1.1+, Devstral Small 1.1+ with vision
//! (`Mistral3ForConditionalGeneration`): Mistral's decoder in `text_config` and a Pixtral tower in
//! `vision_config`, joined by a projector that merges 2x2 patches (`spatial_merge_size`). Text-only
//! releases of the same models are `mistral`. GGUF files hold the decoder as `llama`.

use super::{enter_vision, Decoder, Family};
use crate::import::hf_config::Cfg;
use crate::import::{Basis, ImportError};
use crate::spec::model::{ArchType, VisionSpec, VisionTower};

pub const FAMILY: Family = Family {
    model_type: "mistral3",
    classes: &["Mistral3ForConditionalGeneration"],
    kind: ArchType::Mistral3,
    // text_config is a MistralConfig
    defaults: super::mistral::DEFAULTS,
    text_config: true,
    config,
    gguf: &[],
    gguf_match: super::any,
    gguf_fn: super::no_gguf_fields,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    super::mistral::config(c, m)?;
    if enter_vision(c, "PixtralVisionConfig")? {
        m.vision = Some(pixtral(c, m.arch.hidden_size)?);
    }
    Ok(())
}

/// Pixtral from `vision_config` (PixtralVisionConfig defaults) and the projector's fields.
pub fn pixtral(c: &mut Cfg, text_hidden: u64) -> Result<VisionSpec, ImportError> {
    let hidden = c.count("hidden_size", "vision.hidden_size", Some(1024))?;
    let layers = c.count("num_hidden_layers", "vision.layers", Some(24))?;
    let heads = c.count("num_attention_heads", "vision.attention_heads", Some(16))?;
    let intermediate = c.count("intermediate_size", "vision.intermediate_size", Some(4096))?;
    let image = c.count("image_size", "vision.image_size", Some(1024))?;
    let patch = c.count("patch_size", "vision.patch_size", Some(16))?;
    let channels = c.count("num_channels", "vision.channels", Some(3))?;
    c.leave();
    c.class = "Mistral3Config";
    let merge = c.count("spatial_merge_size", "vision.merge", Some(2))?;
    let bias = c.flag("multimodal_projector_bias", "vision.projector_bias", false)?;
    c.note(
        "vision.projector",
        format!("[{text_hidden}, {text_hidden}]"),
        Basis::Default,
        "Mistral3MultiModalProjector: norm, patch_merger (merge^2 x d -> d), linear_1, linear_2".into(),
    );
    Ok(VisionSpec {
        encoder: format!("pixtral-{hidden}-{layers}l"),
        tower: VisionTower::Pixtral,
        image_size: image,
        patch_size: patch,
        hidden_size: hidden,
        layers,
        attention_heads: heads,
        intermediate_size: intermediate,
        channels,
        merge,
        projector: vec![text_hidden, text_hidden],
        projector_bias: bias,
        extra_parameters: 0,
        max_crops: 1,
        default_crops: 1,
    })
}
