//! Engine speed from the engines' kernels (docs/engines/speed.md). Each engine's model is a sum of
//! terms, each term a physical quantity (bytes over the GPU's bandwidth, FLOPs over its tensor rate,
//! a count of kernel boundaries) times a coefficient; the coefficients are per GPU architecture or
//! memory technology where the physics differs, fitted on the published rows in
//! `validation/field/` (`tests/field_speed.rs` refits them and reports the leave-one-GPU-out error).
//!
//! Everything here is pure; the engines' settings come in as plain values.

pub mod band;
pub mod fit;
pub mod llamacpp;
pub mod vllm;

use crate::estimate::arch::moe::expected_experts_touched;
use crate::estimate::engine::settings::Settings;
use crate::estimate::engine::{EngineId, Runtime};
use crate::estimate::prepared::Prepared;
use crate::spec::gpu::GpuSpec;
use serde::Serialize;

/// A fitted coefficient of an engine's speed model (`C`: its coefficient keys) and what it rests
/// on: the published rows and GPUs that determine it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Fitted<C> {
    pub coef: C,
    pub value: f64,
    pub rows: u32,
    pub gpus: u32,
}

/// NVIDIA GPU generation as the kernels see it (compute capability); what decides which kernel a
/// phase runs and how close it gets to the datasheet rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GpuClass {
    /// 7.0: fp16 tensor cores, no int8 tensor cores
    Volta,
    /// 7.5: first int8 tensor cores (`mma.sync` m8n8k16)
    Turing,
    /// 8.0: A100/A30 (HBM, 64 FP32 lanes per SM, 40 MB L2)
    AmpereDatacenter,
    /// 8.6/8.7: GA10x (GeForce 30, RTX A-series, A10, A40: GDDR, 6 MB L2)
    Ampere,
    /// 8.9: AD10x (GeForce 40, RTX Ada, L4, L40S: GDDR, 48-96 MB L2)
    Ada,
    /// 9.0: H100/H200/GH200 (tensor peaks quoted for `wgmma`)
    Hopper,
    /// 10.x/12.x: B200, GeForce 50, RTX PRO Blackwell
    Blackwell,
}

impl GpuClass {
    pub const ALL: [GpuClass; 7] = [
        GpuClass::Volta,
        GpuClass::Turing,
        GpuClass::AmpereDatacenter,
        GpuClass::Ampere,
        GpuClass::Ada,
        GpuClass::Hopper,
        GpuClass::Blackwell,
    ];

    /// From the spec's compute capability; None for GPUs without one (AMD) or before Volta.
    pub fn of(gpu: &GpuSpec) -> Option<GpuClass> {
        // "9.0", "8.6", "12.0": digits, a dot, digits (parsed by hand: the matrix asks per cell)
        let cc = gpu.compute_capability.as_deref()?.as_bytes();
        let dot = cc.iter().position(|&b| b == b'.').unwrap_or(cc.len());
        let number = |digits: &[u8]| -> Option<u32> {
            digits
                .iter()
                .try_fold(0u32, |n, &b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
        };
        let major = number(&cc[..dot]).filter(|_| dot > 0)?;
        let minor = number(cc.get(dot + 1..).unwrap_or(&[]))?;
        Some(match (major, minor) {
            (7, 0..=2) => GpuClass::Volta,
            (7, _) => GpuClass::Turing,
            (8, 0) => GpuClass::AmpereDatacenter,
            (8, 9) => GpuClass::Ada,
            (8, _) => GpuClass::Ampere,
            (9, _) => GpuClass::Hopper,
            (10.., _) => GpuClass::Blackwell,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            GpuClass::Volta => "Volta",
            GpuClass::Turing => "Turing",
            GpuClass::AmpereDatacenter => "Ampere (A100)",
            GpuClass::Ampere => "Ampere (GA10x)",
            GpuClass::Ada => "Ada",
            GpuClass::Hopper => "Hopper",
            GpuClass::Blackwell => "Blackwell",
        }
    }
}

/// DRAM technology: HBM stacks need far more bytes in flight than GDDR for the same share of their
/// peak (bandwidth x latency), which a batch-1 mat-vec does not keep outstanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryKind {
    Hbm,
    Gddr,
}

impl MemoryKind {
    pub fn of(gpu: &GpuSpec) -> MemoryKind {
        if gpu.memory.kind.get(..3).is_some_and(|k| k.eq_ignore_ascii_case("hbm")) {
            MemoryKind::Hbm
        } else {
            MemoryKind::Gddr
        }
    }
}

/// Peak memory bandwidth, bytes/s.
pub fn bandwidth(gpu: &GpuSpec) -> f64 {
    gpu.bandwidth_gbps * 1e9
}

/// Dense fp16 tensor rate with fp16 accumulation, FLOP/s: half the dense int8 rate on every NVIDIA
/// tensor-core GPU since Turing (the int8 path does twice the MACs per clock; fp16 accumulation runs
/// at full rate on every part, where GeForce parts halve fp32 accumulation, the spec's `bf16`
/// figure). Without an int8 figure (Volta) the `bf16` figure.
pub fn fp16_tensor_flops(gpu: &GpuSpec) -> f64 {
    match gpu.tflops.int8 {
        Some(int8) => int8 / 2.0 * 1e12,
        None => gpu.tflops.bf16 * 1e12,
    }
}

/// Share of the quoted tensor peaks the warp-level `mma.sync` instructions reach. Hopper's and
/// datacenter Blackwell's quoted dense rates need the warpgroup `wgmma` (sm_90) and `tcgen05`
/// (sm_100) instructions that only cuBLAS/CUTLASS-style kernels use; llama.cpp's MMQ and
/// flash-attention kernels are written with `mma.sync`, whose rate per SM and clock on those parts
/// is the previous generation's, half the quoted one (H100 SXM: 989 TFLOPS fp16 over 132 SMs at
/// 1.83 GHz is 4096 FLOP per SM and clock, twice the A100's 2048). An assumption no published row
/// tests yet; the consumer Blackwell parts (sm_120) have no wgmma/tcgen05 and keep 1.
pub fn mma_sync_share(gpu: &GpuSpec) -> f64 {
    match GpuClass::of(gpu) {
        Some(GpuClass::Hopper) => 0.5,
        Some(GpuClass::Blackwell) if gpu.compute_capability.as_deref().is_some_and(|c| c.starts_with("10")) => 0.5,
        _ => 1.0,
    }
}

/// Dense fp16/bf16 tensor rate with fp32 accumulation (the spec's `bf16` figure), FLOP/s.
pub fn fp32_accumulate_flops(gpu: &GpuSpec) -> f64 {
    gpu.tflops.bf16 * 1e12
}

/// Dense int8 tensor rate, OP/s (0 without int8 tensor cores).
pub fn int8_tensor_ops(gpu: &GpuSpec) -> f64 {
    gpu.tflops.int8.unwrap_or(0.0) * 1e12
}

/// Non-tensor fp32 rate, FLOP/s (a quarter of the bf16 tensor rate when the spec has none).
pub fn simt_flops(gpu: &GpuSpec) -> f64 {
    gpu.tflops.fp32.unwrap_or(gpu.tflops.bf16 / 4.0) * 1e12
}

/// Board power a long GEMM may draw, W: the user's power limit, else the board's TDP, else 300 W.
pub fn board_watts(gpu: &GpuSpec, power_limit_w: Option<f64>) -> f64 {
    power_limit_w
        .or(gpu.tdp_w.map(|w| w as f64))
        .filter(|w| *w > 0.0)
        .unwrap_or(300.0)
}

/// Weight bytes one decode step reads per GPU: every resident weight except the vision tower and the
/// (untied) embedding table, of which only `batch` rows are gathered; routed experts count only the
/// expected E(1-(1-k/E)^B) touched per layer.
pub fn decode_weight_bytes(p: &Prepared, batch: u64) -> (u64, Option<f64>) {
    let w = p.weights;
    // tied embeddings are read whole as the LM head (on the last pipeline stage)
    let tied = p.setup.model.architecture.as_ref().is_some_and(|a| a.tie_embeddings);
    let embedding = if tied && p.stage.is_last() { 0 } else { w.embedding };
    let dense = w.total - w.vision - embedding - w.experts;
    match p.facts.inventory.moe {
        Some((k, e)) if k > 0 && w.experts > 0 => {
            let touched = expected_experts_touched(e, k, batch);
            (dense + (w.experts as f64 * touched / e as f64) as u64, Some(touched))
        }
        _ => (dense, None),
    }
}

/// The speed model of an estimate's engine, with the settings that change its speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    LlamaCpp(llamacpp::Run),
    Vllm(crate::estimate::engine::vllm::profile::Settings),
}

impl Model {
    /// None for the engines whose speed is the runtime profile's roofline (candle, transformers).
    pub fn of(p: &Prepared) -> Option<Model> {
        match p.settings {
            Settings::LlamaCpp(s) => Some(Model::LlamaCpp(llamacpp::Run::of(&s))),
            Settings::Vllm(s) => Some(Model::Vllm(s)),
            Settings::Plain => None,
        }
    }

    /// One decode step of `batch` sequences at `kv_tokens` cached tokens each, seconds.
    pub fn decode_step_s(&self, p: &Prepared, kv_tokens: u64, batch: u64) -> f64 {
        match self {
            Model::LlamaCpp(run) => llamacpp::decode_step_s(p, kv_tokens, batch, run),
            Model::Vllm(s) => vllm::decode_step_s(p, kv_tokens, batch, s),
        }
    }

    /// Prefill of `tokens` prompt tokens for each of `batch` sequences, seconds.
    pub fn prefill_s(&self, p: &Prepared, tokens: u64, batch: u64) -> f64 {
        match self {
            Model::LlamaCpp(run) => llamacpp::prefill_s(p, tokens, batch, run),
            Model::Vllm(s) => vllm::prefill_s(p, tokens, batch, s),
        }
    }
}

/// Where an engine's throughput figures are calibrated from: the published rows its speed model is
/// fitted on (llama.cpp, vLLM), else the runtime profile's own validation records.
pub fn calibrated_from(rt: &Runtime) -> Option<&'static str> {
    match rt.id {
        EngineId::LlamaCpp => Some("published llama-bench results in validation/field/"),
        EngineId::Vllm => Some("published vllm bench serve results in validation/field/"),
        _ => rt.calibrated_from,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::arch::check_declared;
    use crate::spec::Catalog;

    #[test]
    fn classes_and_memory_kinds_of_the_catalog() {
        let catalog = Catalog::embedded(check_declared).unwrap();
        let of = |id: &str| catalog.gpu(id).unwrap();
        assert_eq!(GpuClass::of(&of("h100-sxm")), Some(GpuClass::Hopper));
        assert_eq!(GpuClass::of(&of("a100-80gb-sxm")), Some(GpuClass::AmpereDatacenter));
        assert_eq!(GpuClass::of(&of("rtx-3090")), Some(GpuClass::Ampere));
        assert_eq!(GpuClass::of(&of("rtx-4090")), Some(GpuClass::Ada));
        assert_eq!(GpuClass::of(&of("t4")), Some(GpuClass::Turing));
        assert_eq!(GpuClass::of(&of("v100-pcie-32gb")), Some(GpuClass::Volta));
        assert_eq!(GpuClass::of(&of("rtx-5090")), Some(GpuClass::Blackwell));
        assert_eq!(GpuClass::of(&of("mi300x")), None);
        assert_eq!(MemoryKind::of(&of("h100-sxm")), MemoryKind::Hbm);
        assert_eq!(MemoryKind::of(&of("rtx-4090")), MemoryKind::Gddr);
        assert_eq!(mma_sync_share(&of("h100-sxm")), 0.5);
        assert_eq!(mma_sync_share(&of("rtx-5090")), 1.0);
    }
}
