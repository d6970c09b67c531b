//! Declarative inputs: model and GPU specs, weight formats, and the catalog that holds them.

pub mod catalog;
pub mod error;
pub mod gpu;
pub mod locate;
pub mod model;
pub mod precision;

pub use catalog::Catalog;
pub use error::SpecError;
pub use gpu::GpuSpec;
pub use model::ModelSpec;
pub use precision::{Format, KvPrecision};
