//! Speed of a CPU+GPU split (docs/engines/offload.md, "Large batches ... small batches").
//!
//! - Decode (batch below llama.cpp's op-offload threshold): every weight is read where it lives.
//!   The GPU reads its weights and KV at its bandwidth; the CPU reads its weights (for routed
//!   experts only the k of E a token picks) and its layers' KV from RAM; the scheduler runs the
//!   graph splits one after the other, so a token takes the sum, plus a fixed cost per host split
//!   (synchronize, hand the hidden state over, wake the CPU threads).
//! - Prefill (ubatch of 32+ tokens, op offload on): the GPU computes every layer; host weights cross
//!   PCIe first (a split's input copy precedes its compute on the same stream), experts only for
//!   those the ubatch routes to. Without op offload the CPU computes its layers: gpuplan has no CPU
//!   compute figure and says so instead of guessing.

use crate::estimate::engine::llamacpp::compute::OP_OFFLOAD_MIN_BATCH;
use serde::Serialize;

/// The constants of the split's speed model, with where each comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HybridProfile {
    /// Fraction of the host's peak DRAM bandwidth that the CPU's expert and layer reads reach.
    pub host_stream_efficiency: f64,
    /// Fixed cost of one graph split handed between the GPU and the CPU per decoded token, seconds.
    pub host_split_s: f64,
    /// Fraction of the PCIe link's per-direction peak a host-to-device weight copy reaches.
    pub pcie_efficiency: f64,
    /// Relative error band of the decode and prefill figures.
    pub error_band: f64,
    pub sources: &'static str,
    pub calibrated_from: Option<&'static str>,
}

/// The split's constants (docs/engines/offload.md, "Speed"):
/// - PCIe: 0.70 of the link's per-direction peak, the pinned-copy rate NVIDIA's forum reports on
///   PCIe 3.0 x16 (11 GB/s of 15.75); the published prompt rates of the expert-offload runs
///   (validation/field/llamacpp-offload-qwen3-235b-*.json: 150-200 GB of experts per 512-token
///   ubatch at 58-70 tokens/s on PCIe 4.0 x16) imply 21-23 GB/s, the same share, from pageable
///   memory.
/// - Host reads and hand-overs: fitted jointly to the decode rates of those four runs on two hosts
///   (a Threadripper Pro with 8 channels of DDR5-4800, whose owner measured 225-250 of its 307 GB/s
///   with Intel mlc, and an EPYC 9355 VM with 12 channels of DDR5-6000, whose CPU-only decode of the
///   same model implies 43% of its 576 GB/s), with the graph splits per token llama.cpp printed
///   (162-180). The two hosts reach different shares of their peak, so one share is a compromise:
///   hence the band.
pub const HYBRID: HybridProfile = HybridProfile {
    host_stream_efficiency: 0.55,
    host_split_s: 0.000_12,
    pcie_efficiency: 0.70,
    error_band: 0.25,
    sources: "https://forums.developer.nvidia.com/t/how-to-optimize-data-transfers-in-cuda-c-c/148400 (pinned host-to-device copies on PCIe 3.0 x16: 11 GB/s); validation/field/llamacpp-offload-qwen3-235b-*.json",
    calibrated_from: Some("validation/field/llamacpp-offload-qwen3-235b-a22b-{a6000-ot-ffn13-nommap,a6000-ot-ffn14-nommap,3090-ot-ffn5-epyc9355,2x3090-ot-ffn14-epyc9355}.json"),
};

/// What one decoded token reads, per side of the split.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecodeBytes {
    /// per GPU: weights (experts: those the batch picks) and KV read on it
    pub gpu: Vec<u64>,
    /// weights (experts: those the batch picks) and KV read from host RAM
    pub host: u64,
    /// graph splits of a one-token graph beyond the two of a fully offloaded model
    pub host_splits: u64,
}

/// Which side bounds a decode step or a prefill ubatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// GPU memory bandwidth (everything that matters is on the GPU)
    GpuMemory,
    /// host memory bandwidth and the hand-overs between GPU and CPU
    HostMemory,
    /// GPU compute (prefill)
    GpuCompute,
    /// host weights crossing PCIe (prefill with op offload)
    Pcie,
    /// the CPU computing its layers (prefill without op offload; not modeled numerically)
    HostCompute,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Decode {
    pub tokens_per_s: f64,
    pub gpu_s: f64,
    pub host_s: f64,
    pub bound: Bound,
    /// tokens_per_s x (1 - band) .. x (1 + band)
    pub low: f64,
    pub high: f64,
}

/// One token: Σ_gpu bytes_i / (bw_i x eff_gpu) + `fixed_s` + host bytes / (host bw x stream eff)
/// + splits x split cost. None without a host bandwidth when the host has work to do.
pub fn decode(
    bytes: &DecodeBytes,
    gpu_gbps: f64,
    gpu_efficiency: f64,
    fixed_s: f64,
    host_gbps: Option<f64>,
    p: &HybridProfile,
) -> Option<Decode> {
    let gpu_s: f64 = bytes
        .gpu
        .iter()
        .map(|&b| b as f64 / (gpu_gbps * 1e9 * gpu_efficiency))
        .sum::<f64>()
        + fixed_s;
    let host_s = if bytes.host == 0 && bytes.host_splits == 0 {
        0.0
    } else {
        let bw = host_gbps?;
        bytes.host as f64 / (bw * 1e9 * p.host_stream_efficiency) + bytes.host_splits as f64 * p.host_split_s
    };
    let total = gpu_s + host_s;
    if !total.is_finite() || total <= 0.0 {
        return None;
    }
    let tokens_per_s = 1.0 / total;
    Some(Decode {
        tokens_per_s,
        gpu_s,
        host_s,
        bound: if host_s > gpu_s {
            Bound::HostMemory
        } else {
            Bound::GpuMemory
        },
        low: tokens_per_s * (1.0 - p.error_band),
        high: tokens_per_s * (1.0 + p.error_band),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prefill {
    /// None when the CPU computes its layers (no CPU compute model)
    pub tokens_per_s: Option<f64>,
    pub bound: Bound,
    /// per ubatch: GPU compute and PCIe copy, seconds
    pub gpu_s: f64,
    pub pcie_s: f64,
}

/// One ubatch of `tokens`: with op offload (and at least [`OP_OFFLOAD_MIN_BATCH`] tokens) the GPU
/// computes it all (`gpu_s_full`, the all-on-GPU compute time of the ubatch) after the host
/// weights (`copy_bytes`) crossed the link at `pcie_gbps` x efficiency: a split's input copy
/// precedes its compute on the same stream, so the two add. Otherwise the CPU computes its share and
/// no figure is given.
pub fn prefill(
    tokens: u64,
    gpu_s_full: f64,
    copy_bytes: u64,
    pcie_gbps: f64,
    op_offload: bool,
    p: &HybridProfile,
) -> Prefill {
    if copy_bytes > 0 && (!op_offload || tokens < OP_OFFLOAD_MIN_BATCH) {
        return Prefill {
            tokens_per_s: None,
            bound: Bound::HostCompute,
            gpu_s: gpu_s_full,
            pcie_s: 0.0,
        };
    }
    let pcie_s = copy_bytes as f64 / (pcie_gbps * 1e9 * p.pcie_efficiency);
    let total = gpu_s_full + pcie_s;
    Prefill {
        tokens_per_s: (total > 0.0).then(|| tokens as f64 / total),
        bound: if pcie_s > gpu_s_full {
            Bound::Pcie
        } else {
            Bound::GpuCompute
        },
        gpu_s: gpu_s_full,
        pcie_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> HybridProfile {
        HybridProfile {
            host_stream_efficiency: 0.5,
            host_split_s: 0.001,
            pcie_efficiency: 0.5,
            error_band: 0.25,
            sources: "test",
            calibrated_from: None,
        }
    }

    #[test]
    fn decode_adds_the_two_sides() {
        let mut b = DecodeBytes {
            gpu: vec![1_000_000_000],
            host: 10_000_000_000,
            host_splits: 10,
        };
        let d = decode(&b, 1000.0, 0.5, 0.0, Some(100.0), &profile()).unwrap();
        // 2 ms on the GPU, 200 ms + 10 ms on the host
        assert!((d.gpu_s - 0.002).abs() < 1e-12);
        assert!((d.host_s - 0.210).abs() < 1e-12);
        assert_eq!(d.bound, Bound::HostMemory);
        assert!((d.tokens_per_s - 1.0 / 0.212).abs() < 1e-9);
        assert!(d.low < d.tokens_per_s && d.tokens_per_s < d.high);
        // no host bandwidth: no speed, when the host has work
        assert_eq!(decode(&b, 1000.0, 0.5, 0.0, None, &profile()), None);
        // nothing on the host: the host's bandwidth does not matter
        b.host = 0;
        b.host_splits = 0;
        let gpu_only = decode(&b, 1000.0, 0.5, 0.001, None, &profile()).unwrap();
        assert_eq!(gpu_only.bound, Bound::GpuMemory);
        assert!((gpu_only.gpu_s - 0.003).abs() < 1e-12);
    }

    #[test]
    fn prefill_waits_for_the_copies_or_has_no_figure() {
        let p = prefill(512, 0.1, 10_000_000_000, 32.0, true, &profile());
        assert_eq!(p.bound, Bound::Pcie);
        assert!((p.pcie_s - 0.625).abs() < 1e-12);
        assert!((p.tokens_per_s.unwrap() - 512.0 / 0.725).abs() < 1e-9);
        let cpu = prefill(16, 0.1, 1, 32.0, true, &profile());
        assert_eq!((cpu.bound, cpu.tokens_per_s), (Bound::HostCompute, None));
        let off = prefill(512, 0.1, 1, 32.0, false, &profile());
        assert_eq!(off.bound, Bound::HostCompute);
        let gpu = prefill(512, 0.1, 0, 32.0, true, &profile());
        assert_eq!(gpu.bound, Bound::GpuCompute);
    }
}
