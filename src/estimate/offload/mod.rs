//! llama.cpp CPU+GPU offload: which weights, KV and buffers land on which device under `-ngl`,
//! `-ot`, `--cpu-moe`, `--n-cpu-moe` and mmap, what must stay resident in system RAM, and the
//! speed of the split. Method and sources: docs/engines/offload.md.

pub mod flags;
pub mod placement;
pub mod speed;

pub use flags::{GpuLayers, OffloadFlags, Target, TensorOverride};
pub use placement::{NglRule, Place, Unit, Weight};
