//! Links between GPUs when a spec names none, shared by the tensor-parallel all-reduce
//! ([`tp_comm_s`]) and the pipeline's stage-to-stage sends (`pipeline`).

use super::prepared::Prepared;

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

/// Tensor-parallel all-reduce time per forward pass: 2 all-reduces per layer of t x hidden x a bytes,
/// ring algorithm 2(N-1)/N x bytes / link bandwidth, plus [`ALL_REDUCE_LATENCY_S`] each.
pub fn tp_comm_s(p: &Prepared, tokens_in_flight: u64) -> f64 {
    let n = p.setup.tp;
    if n <= 1 {
        return 0.0;
    }
    let link = p
        .gpu
        .interconnect
        .as_ref()
        .map_or(PCIE_FALLBACK_GBPS, |i| i.bandwidth_gbps)
        * 1e9;
    let bytes = (tokens_in_flight * p.geometry.hidden * p.act_bytes) as f64;
    let per = 2.0 * (n - 1) as f64 / n as f64 * bytes / link + ALL_REDUCE_LATENCY_S;
    2.0 * p.geometry.layers as f64 * per
}
