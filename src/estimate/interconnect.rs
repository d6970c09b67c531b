//! Links between GPUs when a spec names none, shared by the tensor-parallel all-reduce
//! (`throughput::tp_comm_s`) and the pipeline's stage-to-stage sends (`pipeline`).

/// GPUs in one node (HGX/DGX baseboards carry 8): tensor parallelism stays inside a node, pipeline
/// stages may span nodes.
pub const GPUS_PER_NODE: u64 = 8;

/// GPU-to-GPU bandwidth when the spec names no interconnect: PCIe 4.0 x16, ~32 GB/s per direction
/// (what `throughput::tp_comm_s` and pipeline sends assume without one).
pub const PCIE_FALLBACK_GBPS: f64 = 32.0;

/// Per-GPU bandwidth between nodes: one 400 Gb/s NDR InfiniBand port per GPU, as in a DGX H100
/// (8 x ConnectX-7) = 50 GB/s.
pub const INTER_NODE_GBPS: f64 = 50.0;

/// Latency of one small NCCL all-reduce, seconds (~10 µs inside an NVLink/PCIe node).
pub const ALL_REDUCE_LATENCY_S: f64 = 10e-6;

/// Latency of one point-to-point send (NCCL send/recv of a small tensor), seconds; the same order as
/// an all-reduce's.
pub const P2P_LATENCY_S: f64 = ALL_REDUCE_LATENCY_S;
