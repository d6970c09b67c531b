//! Qwen2.5-VL (`Qwen2_5_VLForConditionalGeneration`): Qwen2's decoder (its fields at the top level,
//! or in `text_config` in configs transformers 4.5x rewrote) and a ViT in `vision_config` that takes
//! images at their own size (2 frames x 14 x 14 patches, merged 2x2). GGUF `qwen2vl` (the decoder;
//! the tower lives in a separate mmproj file).

use super::{check_gated_act, d, enter_vision, Decoder, Family};
use crate::import::hf_config::Cfg;
use crate::import::{Basis, ImportError};
use crate::spec::model::{ArchType, VisionSpec, VisionTower};

pub const FAMILY: Family = Family {
    model_type: "qwen2_5_vl",
    classes: &["Qwen2_5_VLForConditionalGeneration"],
    kind: ArchType::Qwen2_5Vl,
    defaults: d(
        "Qwen2_5_VLTextConfig",
        152064,
        8192,
        29568,
        80,
        64,
        Some(8),
        None,
        128000,
        false,
    ),
    text_config: true,
    config,
    gguf: &["qwen2vl"],
    gguf_match: super::any,
    gguf_fn: super::no_gguf_fields,
};

/// The default image the estimate assumes when none is given: 1008 x 1008 pixels, 36 x 36 merged
/// tokens (the processor accepts any size from 56 x 56 to 28 x 28 x 16384 pixels).
pub const DEFAULT_IMAGE: u64 = 1008;

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    super::qwen2::attention(c, m, true)?;
    check_gated_act(c)?;
    if enter_vision(c, "Qwen2_5_VLVisionConfig")? {
        m.vision = Some(vision(c, m.arch.hidden_size)?);
    }
    Ok(())
}

/// The ViT from `vision_config` (Qwen2_5_VLVisionConfig defaults; `hidden_size` 1280 as every
/// release states it).
fn vision(c: &mut Cfg, text_hidden: u64) -> Result<VisionSpec, ImportError> {
    let hidden = c.count("hidden_size", "vision.hidden_size", Some(1280))?;
    let layers = c.count("depth", "vision.layers", Some(32))?;
    let heads = c.count("num_heads", "vision.attention_heads", Some(16))?;
    let intermediate = c.count("intermediate_size", "vision.intermediate_size", Some(3420))?;
    let patch = c.count("patch_size", "vision.patch_size", Some(14))?;
    let channels = c.count("in_chans", "vision.channels", Some(3))?;
    let merge = c.count("spatial_merge_size", "vision.merge", Some(2))?;
    let temporal = c.count("temporal_patch_size", "vision.temporal_patch_size", Some(2))?;
    if temporal != crate::estimate::arch::vision::qwen2_vl::TEMPORAL_PATCH {
        return Err(c.err("temporal_patch_size", format!("{temporal}: only 2 is known")));
    }
    let out = c.count("out_hidden_size", "vision.projector", Some(text_hidden))?;
    if out != text_hidden {
        return Err(c.err(
            "out_hidden_size",
            format!("{out} differs from the text hidden size {text_hidden}"),
        ));
    }
    let merged = hidden.saturating_mul(merge).saturating_mul(merge);
    c.note(
        "vision.projector",
        format!("[{merged}, {text_hidden}]"),
        Basis::Derived,
        "Qwen2_5_VLPatchMerger: Linear(4d, 4d), GELU, Linear(4d, out_hidden_size), with biases".into(),
    );
    c.note(
        "vision.image_size",
        DEFAULT_IMAGE,
        Basis::Default,
        "dynamic resolution: the default image an estimate assumes (1008 x 1008 pixels)".into(),
    );
    Ok(VisionSpec {
        encoder: format!("qwen2.5-vl-vit-{hidden}-{layers}l"),
        tower: VisionTower::Qwen2Vl,
        image_size: DEFAULT_IMAGE,
        patch_size: patch,
        hidden_size: hidden,
        layers,
        attention_heads: heads,
        intermediate_size: intermediate,
        channels,
        merge,
        projector: vec![merged, text_hidden],
        projector_bias: true,
        extra_parameters: 0,
        max_crops: 1,
        default_crops: 1,
    })
}
