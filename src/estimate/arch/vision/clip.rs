//! CLIP ViT image encoder + MLP projector + separator parameters (Phi-3-vision / Phi-3.5-vision), and
//! the image-token count of Phi-3-V's HD transform. Llama 4's ViT has the same tensors (a class token,
//! learned positions for the patches + 1, LayerNorms with bias, q/k/v/o and fc1/fc2 with bias; its
//! patch embedding is a bias-free Linear of the same shape), and a bias-free projector chain after its
//! pixel shuffle.
//!
//! Tensor shapes follow transformers `CLIPVisionModel` (class embedding, conv patch embedding without
//! bias, position embeddings for patches + 1, pre/post LayerNorm, per layer q/k/v/o with bias, fc1/fc2
//! with bias, two LayerNorms) and Phi-3-V's `img_projection` (Linear-GELU-Linear with biases). With
//! ViT-L/14-336 this gives 303,507,456 + 22,026,240 + 8,192 = 325,541,888 parameters, exactly the
//! difference between Phi-3.5-vision (4,146,621,440) and Phi-3.5-mini (3,821,079,552).

use super::super::TensorGroup;
use super::{projector, t};
use crate::spec::model::VisionSpec;
use crate::spec::precision::Role;

pub fn tower(v: &VisionSpec, text_hidden: u64) -> Vec<TensorGroup> {
    let (d, i, l) = (v.hidden_size, v.intermediate_size, v.layers);
    let patches = (v.image_size / v.patch_size).pow(2);
    let mut g = vec![
        t("vision.embeddings.class_embedding", Role::Vision, 1, d, 1, 1),
        t(
            "vision.embeddings.patch_embedding",
            Role::Vision,
            d,
            v.channels * v.patch_size * v.patch_size,
            1,
            1,
        ),
        t(
            "vision.embeddings.position_embedding",
            Role::Vision,
            patches + 1,
            d,
            1,
            1,
        ),
        // pre_layrnorm and post_layernorm, weight + bias each
        t("vision.pre+post_layernorm", Role::Vision, 1, d, 1, 4),
        t("vision.layers.*.q/k/v/out_proj.weight", Role::Vision, d, d, l, 4),
        t("vision.layers.*.q/k/v/out_proj.bias", Role::Vision, 1, d, l, 4),
        t("vision.layers.*.mlp.fc1.weight", Role::Vision, i, d, l, 1),
        t("vision.layers.*.mlp.fc1.bias", Role::Vision, 1, i, l, 1),
        t("vision.layers.*.mlp.fc2.weight", Role::Vision, d, i, l, 1),
        t("vision.layers.*.mlp.fc2.bias", Role::Vision, 1, d, l, 1),
        t("vision.layers.*.layer_norm1+2", Role::Vision, 1, d, l, 4),
    ];
    g.extend(projector(v, d * v.merge * v.merge, text_hidden));
    if v.extra_parameters > 0 {
        g.push(t("glb_GN+sub_GN", Role::Other, 1, v.extra_parameters, 1, 1));
    }
    g
}

/// Image tokens for one image cut into `h x w` HD crops (plus the global view), as Phi-3-V's image
/// processor counts them: (h*w + 1) * tokens_per_crop + 1 + (h + 1) * sqrt(tokens_per_crop)
/// (`Phi3VImageProcessor.calc_num_image_tokens`: sub-image rows end in a separator, one global separator).
pub fn image_tokens(v: &VisionSpec, h: u64, w: u64) -> u64 {
    let per_crop = v.tokens_per_crop();
    let side = v.image_size / v.patch_size / v.merge;
    (h * w + 1) * per_crop + 1 + (h + 1) * side
}

/// The crop grid for `crops` crops: the most square h x w with h*w <= crops.
pub fn crop_grid(crops: u64) -> (u64, u64) {
    let crops = crops.max(1);
    let mut h = (crops as f64).sqrt().floor() as u64;
    while h > 1 && crops % h != 0 {
        h -= 1;
    }
    (h.max(1), crops / h.max(1))
}

/// Llama 4's image tokens for `tiles` 336-pixel tiles: (336/14/2)^2 = 144 per tile after the pixel
/// shuffle, plus a global 144 when the image is cut into more than one tile, a separator after each
/// tile and `<|image_start|>`, `<|image|>`, `<|image_end|>` (transformers `Llama4Processor`
/// `_prompt_split_image`).
pub fn llama4_tokens(v: &VisionSpec, tiles: u64) -> u64 {
    let per_tile = v.tokens_per_crop();
    llama4_views(tiles) * per_tile + tiles.max(1) + 3
}

/// Tiles the encoder runs: each tile, plus the global view when there is more than one.
pub fn llama4_views(tiles: u64) -> u64 {
    let tiles = tiles.max(1);
    if tiles > 1 {
        tiles + 1
    } else {
        1
    }
}
