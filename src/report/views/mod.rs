//! Views: typed plan results -> documents. Formatting only; every number comes from `plan`.

pub mod bands;
pub mod catalog;
pub mod detect;
pub mod engine;
pub mod fit;
pub mod import;
pub mod matrix;
pub mod offload;
pub mod predictions;
pub mod records;
pub mod sizing;
pub mod synth;
pub mod validate;
