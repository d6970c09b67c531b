//! Qwen2.5-VL's vision transformer (transformers `Qwen2_5_VisionTransformerPretrainedModel`): a
//! bias-free Conv3d over 2 frames x 14 x 14 patches (a still image is repeated to two frames), per
//! block two RMSNorms, a fused qkv and proj with biases, a gated MLP with biases; window attention
//! with full attention on a few blocks (no extra tensors). The merger RMS-normalizes, concatenates
//! each 2x2 block of patches and runs Linear(4d -> 4d) + GELU + Linear(4d -> text hidden), with biases.
//! Images keep their size: rounded to multiples of 28 pixels within the processor's pixel bounds.

use super::super::TensorGroup;
use super::{projector, t};
use crate::spec::model::VisionSpec;
use crate::spec::precision::Role;

/// Frames per patch (`temporal_patch_size`).
pub const TEMPORAL_PATCH: u64 = 2;
/// The image processor's default bounds on pixels (`min_pixels` 56 x 56, `max_pixels` 28 x 28 x 16384).
pub const MIN_PIXELS: u64 = 56 * 56;
pub const MAX_PIXELS: u64 = 28 * 28 * 16384;

pub fn tower(v: &VisionSpec, text_hidden: u64) -> Vec<TensorGroup> {
    let (d, i, l) = (v.hidden_size, v.intermediate_size, v.layers);
    let mut g = vec![
        t(
            "visual.patch_embed.proj.weight",
            Role::Vision,
            d,
            v.channels * TEMPORAL_PATCH * v.patch_size * v.patch_size,
            1,
            1,
        ),
        t("visual.blocks.*.norm1+norm2.weight", Role::Vision, 1, d, l, 2),
        t("visual.blocks.*.attn.qkv.weight", Role::Vision, 3 * d, d, l, 1),
        t("visual.blocks.*.attn.qkv.bias", Role::Vision, 1, 3 * d, l, 1),
        t("visual.blocks.*.attn.proj.weight", Role::Vision, d, d, l, 1),
        t("visual.blocks.*.attn.proj.bias", Role::Vision, 1, d, l, 1),
        t("visual.blocks.*.mlp.gate+up_proj.weight", Role::Vision, i, d, l, 2),
        t("visual.blocks.*.mlp.gate+up_proj.bias", Role::Vision, 1, i, l, 2),
        t("visual.blocks.*.mlp.down_proj.weight", Role::Vision, d, i, l, 1),
        t("visual.blocks.*.mlp.down_proj.bias", Role::Vision, 1, d, l, 1),
        t("visual.merger.ln_q.weight", Role::Projector, 1, d, 1, 1),
    ];
    g.extend(projector(v, d * v.merge * v.merge, text_hidden));
    g
}

/// The processor's resize (transformers `smart_resize`, factor = patch x merge = 28): each side
/// rounded to the nearest multiple of 28, then scaled into [MIN_PIXELS, MAX_PIXELS] keeping the
/// aspect ratio. Returns (height, width) in pixels.
fn resized(v: &VisionSpec, width: u64, height: u64) -> (u64, u64) {
    let factor = (v.patch_size * v.merge) as f64;
    let (h, w) = (height.max(1) as f64, width.max(1) as f64);
    let mut hb = ((h / factor).round() * factor).max(factor);
    let mut wb = ((w / factor).round() * factor).max(factor);
    if hb * wb > MAX_PIXELS as f64 {
        let beta = (h * w / MAX_PIXELS as f64).sqrt();
        hb = ((h / beta / factor).floor() * factor).max(factor);
        wb = ((w / beta / factor).floor() * factor).max(factor);
    } else if hb * wb < MIN_PIXELS as f64 {
        let beta = (MIN_PIXELS as f64 / (h * w)).sqrt();
        hb = (h * beta / factor).ceil() * factor;
        wb = (w * beta / factor).ceil() * factor;
    }
    (hb as u64, wb as u64)
}

/// Patches the encoder sees for one image: (height / 14) x (width / 14) after the resize.
pub fn patches(v: &VisionSpec, width: u64, height: u64) -> u64 {
    let (h, w) = resized(v, width, height);
    (h / v.patch_size) * (w / v.patch_size)
}

/// Image tokens: the patches merged 2x2, between `<|vision_start|>` and `<|vision_end|>`.
pub fn tokens(v: &VisionSpec, width: u64, height: u64) -> u64 {
    patches(v, width, height) / (v.merge * v.merge) + 2
}
