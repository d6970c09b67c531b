//! SigLIP vision tower with Gemma 3's projector (transformers `SiglipVisionModel` without its head,
//! `Gemma3MultiModalProjector`): a patch conv with bias, learned positions for the patches (no class
//! token), per layer LayerNorm x2 (weight + bias), q/k/v/out with bias, fc1/fc2 with bias, a post
//! LayerNorm; the projector average-pools the patch grid by `merge` per side, RMS-normalizes
//! (`mm_soft_emb_norm`) and multiplies by `mm_input_projection_weight` (vision hidden x text hidden,
//! no bias). SigLIP so400m at 896 pixels: 4096 patches pooled 4x4 to 256 tokens per image.

use super::super::TensorGroup;
use super::{projector, t};
use crate::spec::model::VisionSpec;
use crate::spec::precision::Role;

pub fn tower(v: &VisionSpec, text_hidden: u64) -> Vec<TensorGroup> {
    let (d, i, l) = (v.hidden_size, v.intermediate_size, v.layers);
    let patches = (v.image_size / v.patch_size).pow(2);
    let mut g = vec![
        t(
            "vision.embeddings.patch_embedding.weight",
            Role::Vision,
            d,
            v.channels * v.patch_size * v.patch_size,
            1,
            1,
        ),
        t("vision.embeddings.patch_embedding.bias", Role::Vision, 1, d, 1, 1),
        t("vision.embeddings.position_embedding", Role::Vision, patches, d, 1, 1),
        t("vision.layers.*.q/k/v/out_proj.weight", Role::Vision, d, d, l, 4),
        t("vision.layers.*.q/k/v/out_proj.bias", Role::Vision, 1, d, l, 4),
        t("vision.layers.*.mlp.fc1.weight", Role::Vision, i, d, l, 1),
        t("vision.layers.*.mlp.fc1.bias", Role::Vision, 1, i, l, 1),
        t("vision.layers.*.mlp.fc2.weight", Role::Vision, d, i, l, 1),
        t("vision.layers.*.mlp.fc2.bias", Role::Vision, 1, d, l, 1),
        t("vision.layers.*.layer_norm1+2", Role::Vision, 1, d, l, 4),
        t("vision.post_layernorm", Role::Vision, 1, d, 1, 2),
        t("multi_modal_projector.mm_soft_emb_norm", Role::Projector, 1, d, 1, 1),
    ];
    // average pooling keeps the width: the projection reads `d` features
    g.extend(projector(v, d, text_hidden));
    g
}

/// Gemma 3's image tokens: the pooled grid ((896/14)/4)^2 = 256 soft tokens between
/// `<start_of_image>` and `<end_of_image>` (transformers `Gemma3Processor`: `boi` + 256 x image
/// token + `eoi`, with a blank line on each side).
pub fn tokens(v: &VisionSpec) -> u64 {
    v.tokens_per_crop() + 2
}
