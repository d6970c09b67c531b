//! `gpuplan models` / `gpuplan gpus` / `gpuplan hosts`: the catalog with the derived facts users look for.

use crate::estimate::{kv, ModelFacts, WeightFacts};
use crate::spec::host::HostKind;
use crate::spec::{Format, GpuSpec, HostSpec, KvPrecision, ModelSpec};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    pub id: String,
    pub name: String,
    pub architecture: String,
    pub parameters: u64,
    pub active_parameters: u64,
    pub exact: bool,
    pub max_context: u64,
    /// KV cache bytes per token at 16 bits
    pub kv_bytes_per_token: u64,
    /// weights in the model's own dtype
    pub weights_bytes: u64,
    pub dtype: String,
    pub vision: bool,
    pub hf_id: Option<String>,
}

pub fn models<'a>(specs: impl Iterator<Item = &'a ModelSpec>) -> Vec<ModelRow> {
    specs
        .map(|m| {
            let facts = ModelFacts::new(m);
            let format = Format::parse(&m.dtype).unwrap_or(&crate::spec::precision::FORMATS[1]);
            let weights = WeightFacts::new(m, &facts, format, 1);
            ModelRow {
                id: m.id.clone(),
                name: m.name.clone(),
                architecture: m
                    .architecture
                    .as_ref()
                    .map_or("summary".into(), |a| a.kind.name().to_string()),
                parameters: facts.parameters,
                active_parameters: facts.active_parameters,
                exact: facts.exact,
                max_context: m.max_context,
                kv_bytes_per_token: kv::per_token(m, KvPrecision::Bf16, 1).total(),
                weights_bytes: weights.total,
                dtype: m.dtype.clone(),
                vision: m.vision.is_some(),
                hf_id: m.hf_id.clone(),
            }
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct GpuRow {
    pub id: String,
    pub name: String,
    pub vendor: String,
    pub architecture: String,
    pub memory_marketed_gb: f64,
    pub memory_reported_mib: u64,
    /// what a CUDA program can allocate (measured or estimated)
    pub memory_visible_bytes: u64,
    pub memory_type: String,
    pub bandwidth_gbps: f64,
    pub bf16_tflops: f64,
    pub fp8_tflops: Option<f64>,
    pub tdp_w: Option<u64>,
    pub hourly_usd: Option<f64>,
    pub purchase_usd: Option<f64>,
}

pub fn gpus<'a>(specs: impl Iterator<Item = &'a GpuSpec>) -> Vec<GpuRow> {
    specs
        .map(|g| GpuRow {
            id: g.id.clone(),
            name: g.name.clone(),
            vendor: format!("{:?}", g.vendor).to_lowercase(),
            architecture: g.architecture.clone(),
            memory_marketed_gb: g.memory.marketed_gb,
            memory_reported_mib: g.memory.reported_mib,
            memory_visible_bytes: crate::estimate::overhead::visible_total(g, crate::estimate::EccMode::Default),
            memory_type: g.memory.kind.clone(),
            bandwidth_gbps: g.bandwidth_gbps,
            bf16_tflops: g.tflops.bf16,
            fp8_tflops: g.tflops.fp8,
            tdp_w: g.tdp_w,
            hourly_usd: g.price.as_ref().and_then(|p| p.hourly_usd),
            purchase_usd: g.price.as_ref().and_then(|p| p.purchase_usd),
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    pub id: String,
    pub name: String,
    pub kind: HostKind,
    /// e.g. "DDR5-6000, 128-bit"
    pub memory: String,
    pub size_bytes: u64,
    pub usable_bytes: u64,
    /// theoretical peak
    pub bandwidth_gbps: f64,
    /// "PCIe 5.0 x16"; None on unified-memory machines
    pub pcie: Option<String>,
}

pub fn hosts<'a>(specs: impl Iterator<Item = &'a HostSpec>) -> Vec<HostRow> {
    specs
        .map(|h| {
            let host = h.host();
            let m = &h.memory;
            let memory = match (m.speed_mts, m.bus_width_bits) {
                (Some(s), Some(w)) => format!("{}-{s}, {w}-bit", m.kind),
                _ => m.kind.clone(),
            };
            HostRow {
                id: h.id.clone(),
                name: h.name.clone(),
                kind: h.kind,
                memory,
                size_bytes: host.total_bytes,
                usable_bytes: host.usable_bytes(),
                bandwidth_gbps: h.bandwidth_gbps(),
                pcie: h.pcie.map(|p| format!("PCIe {}.0 x{}", p.generation, p.lanes)),
            }
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct FormatRow {
    pub id: &'static str,
    pub description: &'static str,
    /// bits per weight of a quantized 4096x4096 matrix, storage overheads included
    pub bits_per_weight: f64,
    pub keeps: &'static str,
    pub source: &'static str,
}

pub fn formats() -> Vec<FormatRow> {
    use crate::spec::precision::{FormatKind, Role, FORMATS};
    FORMATS
        .iter()
        .map(|f| {
            let bytes = f.storage_for(Role::MlpUp, None, &Default::default()).bytes(4096, 4096);
            FormatRow {
                id: f.id,
                description: f.description,
                bits_per_weight: bytes as f64 * 8.0 / (4096.0 * 4096.0),
                keeps: match f.kind {
                    FormatKind::Uniform => "every tensor in this dtype",
                    FormatKind::LinearOnly => "embeddings, lm_head, norms, biases, router, vision tower in 16-bit",
                    FormatKind::Gguf => "norms, biases, router f32; vision tower f16; output.weight per llama.cpp",
                },
                source: f.source,
            }
        })
        .collect()
}
