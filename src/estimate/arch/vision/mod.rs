//! Image encoders and their projectors into the text model, one file per tower, and the image-token
//! counts of each model's image processor.

pub mod clip;

pub use clip::{crop_grid, image_tokens};

use super::TensorGroup;
use crate::spec::model::VisionSpec;

/// Every tensor of the vision tower and projector.
pub fn tower(v: &VisionSpec, text_hidden: u64) -> Vec<TensorGroup> {
    clip::tower(v, text_hidden)
}
