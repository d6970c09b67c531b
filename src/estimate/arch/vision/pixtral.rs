//! Pixtral vision tower with Mistral 3's projector (transformers `PixtralVisionModel`,
//! `Mistral3MultiModalProjector`): a bias-free patch conv, `ln_pre` RMSNorm, per layer two RMSNorms,
//! bias-free q/k/v/o and a bias-free gated MLP (gate, up, down), 2D RoPE (no position table). The
//! projector RMS-normalizes, merges each 2x2 block of patches (`patch_merger.merging_layer`, 4d -> d,
//! no bias), then `linear_1` (d -> text hidden) and `linear_2` (text -> text), biased per
//! `multimodal_projector_bias`. Images keep their aspect ratio: any size up to `image_size` per side.

use super::super::TensorGroup;
use super::{projector, t};
use crate::spec::model::VisionSpec;
use crate::spec::precision::Role;

pub fn tower(v: &VisionSpec, text_hidden: u64) -> Vec<TensorGroup> {
    let (d, i, l) = (v.hidden_size, v.intermediate_size, v.layers);
    let mut g = vec![
        t(
            "vision.patch_conv.weight",
            Role::Vision,
            d,
            v.channels * v.patch_size * v.patch_size,
            1,
            1,
        ),
        t("vision.ln_pre.weight", Role::Vision, 1, d, 1, 1),
        t(
            "vision.layers.*.attention.q/k/v/o_proj.weight",
            Role::Vision,
            d,
            d,
            l,
            4,
        ),
        t(
            "vision.layers.*.feed_forward.gate+up_proj.weight",
            Role::Vision,
            i,
            d,
            l,
            2,
        ),
        t(
            "vision.layers.*.feed_forward.down_proj.weight",
            Role::Vision,
            d,
            i,
            l,
            1,
        ),
        t(
            "vision.layers.*.attention_norm+ffn_norm.weight",
            Role::Vision,
            1,
            d,
            l,
            2,
        ),
        t("multi_modal_projector.norm.weight", Role::Projector, 1, d, 1, 1),
        t(
            "multi_modal_projector.patch_merger.merging_layer.weight",
            Role::Projector,
            d,
            d * v.merge * v.merge,
            1,
            1,
        ),
    ];
    g.extend(projector(v, d, text_hidden));
    g
}

/// The merged-token grid of one image as Mistral 3's processor sizes it: scaled down (never up) so
/// neither side exceeds `image_size`, each side rounded down to whole pixels, then up to whole
/// merged patches of (patch x merge) pixels (transformers `PixtralImageProcessor` resize with the
/// processor's `patch_size x spatial_merge_size`). Returns (rows, columns) of merged tokens.
fn grid(v: &VisionSpec, width: u64, height: u64) -> (u64, u64) {
    let (w, h) = (width.max(1), height.max(1));
    let longest = w.max(h);
    let (w, h) = if longest > v.image_size {
        (w * v.image_size / longest, h * v.image_size / longest)
    } else {
        (w, h)
    };
    let cell = v.patch_size * v.merge;
    (h.max(1).div_ceil(cell), w.max(1).div_ceil(cell))
}

/// Patches the encoder sees for one image (merge x merge per merged token).
pub fn patches(v: &VisionSpec, width: u64, height: u64) -> u64 {
    let (rows, cols) = grid(v, width, height);
    rows * cols * v.merge * v.merge
}

/// Image tokens: one per merged patch plus one `[IMG_BREAK]` ending each row (the last one is
/// `[IMG_END]`) (transformers `PixtralProcessor`).
pub fn tokens(v: &VisionSpec, width: u64, height: u64) -> u64 {
    let (rows, cols) = grid(v, width, height);
    rows * cols + rows
}
