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

use super::super::arch::moe::expected_experts_touched;
use serde::Serialize;

/// The constants of the split's speed model, with where each comes from.
#[derive(Debug, Clone, Serialize)]
pub struct HybridProfile {
    /// Fraction of the host's peak DRAM bandwidth that streaming reads reach.
    pub host_stream_efficiency: f64,
    /// Fixed cost of one host graph split per decoded token, seconds.
    pub host_split_s: f64,
    /// Fraction of the PCIe link's per-direction peak a host-to-device copy reaches.
    pub pcie_efficiency: f64,
    /// Batch size from which the GPU backend claims ops on host weights
    /// (`GGML_OP_OFFLOAD_MIN_BATCH`, 32 in ggml-cuda).
    pub op_offload_min_batch: u64,
    /// Relative error band of the decode and prefill figures.
    pub error_band: f64,
    pub sources: &'static str,
    pub calibrated_from: Option<&'static str>,
}

/// What one decoded token reads, per side of the split.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecodeBytes {
    /// per GPU in layer order: weights (experts: the k of E picked) and KV read on it
    pub gpu: Vec<u64>,
    /// weights (experts: the k of E picked) and KV read from host RAM
    pub host: u64,
    /// host graph splits of a one-token graph (`graph splits = .. (with bs=1)` minus the GPU's)
    pub host_splits: u64,
}

/// Which side bounds a decode step or a prefill ubatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// GPU memory bandwidth (everything that matters is on the GPU)
    GpuMemory,
    /// host memory bandwidth and the per-split handovers
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

/// One token: Σ_gpu bytes_i / (bw_i x eff_gpu) + host bytes / (host bw x stream eff) + splits x
/// split cost. `gpu_gbps` per GPU, `gpu_efficiency` the engine profile's decode bandwidth share.
/// None without a host bandwidth when the host has work to do.
pub fn decode(
    bytes: &DecodeBytes,
    gpu_gbps: &[f64],
    gpu_efficiency: f64,
    host_gbps: Option<f64>,
    p: &HybridProfile,
) -> Option<Decode> {
    let gpu_s: f64 = bytes
        .gpu
        .iter()
        .zip(gpu_gbps)
        .map(|(&b, &bw)| b as f64 / (bw * 1e9 * gpu_efficiency))
        .sum();
    let host_s = if bytes.host == 0 && bytes.host_splits == 0 {
        0.0
    } else {
        let bw = host_gbps?;
        bytes.host as f64 / (bw * 1e9 * p.host_stream_efficiency) + bytes.host_splits as f64 * p.host_split_s
    };
    let total = gpu_s + host_s;
    if total.is_nan() || total <= 0.0 {
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

/// Host weights one prefill ubatch copies to the GPU: dense host weights whole, host expert
/// tensors for the E(1-(1-k/E)^T) experts `tokens` route to (llama.cpp copies only the used
/// experts, PR #15346).
pub fn ubatch_copy_bytes(dense_host: u64, expert_host: u64, experts: u64, used: u64, tokens: u64) -> u64 {
    if expert_host == 0 || experts == 0 {
        return dense_host;
    }
    let touched = expected_experts_touched(experts, used, tokens).min(experts as f64);
    dense_host + (expert_host as f64 * touched / experts as f64) as u64
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

/// One ubatch of `tokens`: with op offload (and tokens >= the threshold) the GPU computes it all
/// (`gpu_s_full`, the all-on-GPU compute time of the ubatch) after the host weights crossed the
/// link at `pcie_gbps` x efficiency; otherwise the CPU computes its share and no figure is given.
pub fn prefill(
    tokens: u64,
    gpu_s_full: f64,
    copy_bytes: u64,
    pcie_gbps: f64,
    op_offload: bool,
    p: &HybridProfile,
) -> Prefill {
    if copy_bytes > 0 && (!op_offload || tokens < p.op_offload_min_batch) {
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
            op_offload_min_batch: 32,
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
        let d = decode(&b, &[1000.0], 0.5, Some(100.0), &profile()).unwrap();
        // 2 ms on the GPU, 200 ms + 10 ms on the host
        assert!((d.gpu_s - 0.002).abs() < 1e-12);
        assert!((d.host_s - 0.210).abs() < 1e-12);
        assert_eq!(d.bound, Bound::HostMemory);
        assert!((d.tokens_per_s - 1.0 / 0.212).abs() < 1e-9);
        assert!(d.low < d.tokens_per_s && d.tokens_per_s < d.high);
        // no host bandwidth: no speed, when the host has work
        assert_eq!(decode(&b, &[1000.0], 0.5, None, &profile()), None);
        // nothing on the host: the host's bandwidth does not matter
        b.host = 0;
        b.host_splits = 0;
        assert_eq!(
            decode(&b, &[1000.0], 0.5, None, &profile()).unwrap().bound,
            Bound::GpuMemory
        );
    }

    #[test]
    fn prefill_copies_only_touched_experts() {
        // 128 experts, 4 used: one token touches 4, 512 tokens nearly all
        assert_eq!(ubatch_copy_bytes(0, 128_000, 128, 4, 1), 4_000);
        let many = ubatch_copy_bytes(0, 128_000, 128, 4, 512);
        assert!(many > 127_000 && many <= 128_000);
        assert_eq!(ubatch_copy_bytes(5, 0, 0, 0, 512), 5);
        let p = prefill(512, 0.1, 10_000_000_000, 32.0, true, &profile());
        assert_eq!(p.bound, Bound::Pcie);
        assert!((p.pcie_s - 0.625).abs() < 1e-12);
        assert!((p.tokens_per_s.unwrap() - 512.0 / 0.725).abs() < 1e-9);
        let cpu = prefill(16, 0.1, 1, 32.0, true, &profile());
        assert_eq!((cpu.bound, cpu.tokens_per_s), (Bound::HostCompute, None));
        let off = prefill(512, 0.1, 1, 32.0, false, &profile());
        assert_eq!(off.bound, Bound::HostCompute);
    }
}
