//! Declarative inputs: model, GPU and host specs, weight formats, and the catalog that holds them.

pub mod catalog;
pub mod error;
pub mod gpu;
pub mod host;
pub mod intern;
pub mod locate;
pub mod model;
pub mod precision;

/// The most tokens any count may hold (contexts, batches, step budgets): 2^40, far beyond any
/// model's context and small enough that bytes per token x tokens x sequences stays within u64.
pub const MAX_TOKENS: u64 = 1 << 40;

pub use catalog::Catalog;
pub use error::SpecError;
pub use gpu::GpuSpec;
pub use host::{Host, HostSpec};
pub use model::ModelSpec;
pub use precision::{Format, KvPrecision};
