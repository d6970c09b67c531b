//! Image encoders and their projectors into the text model, one file per tower, and how many tokens
//! an image becomes in the text model's sequence (and in the encoder's own pass):
//! [`clip`] (Phi-3-V's HD crops; Llama 4's tiles use the same tensors), [`siglip`] (Gemma 3),
//! [`pixtral`] (Mistral Small 3.x), [`qwen2_vl`] (Qwen2.5-VL).

pub mod clip;
pub mod pixtral;
pub mod qwen2_vl;
pub mod siglip;

pub use clip::{crop_grid, image_tokens};

use super::{Part, Shard, TensorGroup};
use crate::spec::model::{VisionSpec, VisionTower};
use crate::spec::precision::Role;

/// Every tensor of the vision tower and projector.
pub fn tower(v: &VisionSpec, text_hidden: u64) -> Vec<TensorGroup> {
    match v.tower {
        VisionTower::Clip | VisionTower::Llama4 => clip::tower(v, text_hidden),
        VisionTower::Siglip => siglip::tower(v, text_hidden),
        VisionTower::Pixtral => pixtral::tower(v, text_hidden),
        VisionTower::Qwen2Vl => qwen2_vl::tower(v, text_hidden),
    }
}

/// One image as the user describes it: HD crops (Phi-3-V), and its size in pixels for the towers
/// whose token count follows the image (0 x 0: the tower's default image, `image_size` square).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageInput {
    /// HD crops (Phi-3-V) or tiles (Llama 4); 0: the model's default
    pub crops: u64,
    pub width: u64,
    pub height: u64,
}

impl ImageInput {
    fn size(&self, v: &VisionSpec) -> (u64, u64) {
        if self.width == 0 || self.height == 0 {
            (v.image_size, v.image_size)
        } else {
            (self.width, self.height)
        }
    }

    fn crops(&self, v: &VisionSpec) -> u64 {
        if self.crops == 0 {
            v.default_crops
        } else {
            self.crops.min(v.max_crops)
        }
    }
}

/// The encoder's own forward pass for one image: `views` sequences of `tokens` patches each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderPass {
    pub views: u64,
    pub tokens: u64,
}

/// Tokens one image adds to the text model's sequence (and so to the KV cache).
pub fn tokens_per_image(v: &VisionSpec, image: &ImageInput) -> u64 {
    match v.tower {
        VisionTower::Clip => {
            let (h, w) = crop_grid(image.crops(v));
            image_tokens(v, h, w)
        }
        VisionTower::Llama4 => clip::llama4_tokens(v, image.crops(v)),
        VisionTower::Siglip => siglip::tokens(v),
        VisionTower::Pixtral => {
            let (w, h) = image.size(v);
            pixtral::tokens(v, w, h)
        }
        VisionTower::Qwen2Vl => {
            let (w, h) = image.size(v);
            qwen2_vl::tokens(v, w, h)
        }
    }
}

/// The encoder pass for one image.
pub fn encoder_pass(v: &VisionSpec, image: &ImageInput) -> EncoderPass {
    match v.tower {
        // every HD crop and the global view, each patches + the class token
        VisionTower::Clip => EncoderPass {
            views: image.crops(v) + 1,
            tokens: (v.image_size / v.patch_size).pow(2) + 1,
        },
        VisionTower::Llama4 => EncoderPass {
            views: clip::llama4_views(image.crops(v)),
            tokens: (v.image_size / v.patch_size).pow(2) + 1,
        },
        VisionTower::Siglip => EncoderPass {
            views: 1,
            tokens: (v.image_size / v.patch_size).pow(2),
        },
        VisionTower::Pixtral => {
            let (w, h) = image.size(v);
            EncoderPass {
                views: 1,
                tokens: pixtral::patches(v, w, h),
            }
        }
        VisionTower::Qwen2Vl => {
            let (w, h) = image.size(v);
            EncoderPass {
                views: 1,
                tokens: qwen2_vl::patches(v, w, h),
            }
        }
    }
}

/// A vision tensor group (replicated under tensor parallelism, outside the decoder layers).
pub(crate) fn t(name: &'static str, role: Role, rows: u64, cols: u64, layers: u64, count: u64) -> TensorGroup {
    TensorGroup {
        name,
        role,
        rows,
        cols,
        layers,
        count_per_layer: count,
        per_decoder_layer: false,
        routed_expert: false,
        shard: Shard::Replicated,
        part: Part::Vision,
    }
}

/// The projector's linear layers: `v.projector` widths in turn from `input` features, with biases
/// when `v.projector_bias`; the last width is the text model's hidden size.
pub(crate) fn projector(v: &VisionSpec, mut input: u64, text_hidden: u64) -> Vec<TensorGroup> {
    let mut g = Vec::new();
    for &width in &v.projector {
        g.push(t("projector.weight", Role::Projector, width, input, 1, 1));
        if v.projector_bias {
            g.push(t("projector.bias", Role::Projector, 1, width, 1, 1));
        }
        input = width;
    }
    debug_assert_eq!(input, text_hidden, "projector must end at the text hidden size");
    g
}
