//! GPU specs (`gpus/*.yaml`): memory as nvidia-smi reports it, bandwidth, dense tensor throughput per
//! precision, power, interconnect, NVML names and an indicative price with its source and date.

use super::error::SpecError;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GpuSpec {
    pub id: String,
    pub name: String,
    pub vendor: Vendor,
    /// Microarchitecture, lower case (`hopper`, `ada`, `ampere`, `blackwell`, `cdna3`, ...).
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_capability: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Names NVML (nvidia-smi) reports for this board.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nvml_names: Vec<String>,
    pub memory: Memory,
    /// Peak memory bandwidth, GB/s (decimal).
    pub bandwidth_gbps: f64,
    /// Dense (non-sparse) tensor throughput per precision, TFLOPS / TOPS.
    pub tflops: Tflops,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tdp_w: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interconnect: Option<Interconnect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    Nvidia,
    Amd,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Ecc {
    /// no ECC, or ECC that costs no capacity (HBM: always on, inline)
    None,
    /// GDDR with ECC switched on by default (L4, L40S, A10): the reported total is already net
    On,
    /// GDDR with ECC available but off by default (RTX 4090, RTX A6000): turning it on costs 1/16
    Off,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// As marketed, GB.
    pub marketed_gb: f64,
    /// `kind`: HBM3, GDDR6X, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// nvidia-smi `memory.total` in MiB, in the board's default ECC state.
    pub reported_mib: u64,
    /// What a CUDA program sees as total (cudaMemGetInfo), when measured; otherwise estimated from
    /// `reported_mib` (see `estimate::overhead::visible_total`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_visible_mib: Option<u64>,
    #[serde(default = "ecc_none")]
    pub ecc: Ecc,
    /// The GPU shares its memory with the CPU (DGX Spark / GB10, Jetson Thor) or reaches the CPU's
    /// memory coherently beside its own (GH200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified: Option<Unified>,
}

/// Memory shared with the CPU. On a shared pool nvidia-smi prints no framebuffer total (NVML returns
/// Not Supported on GB10); `reported_mib` is then the pool the OS reports (`/proc/meminfo` MemTotal,
/// the total `cudaMemGetInfo` gives), and the operating system and its services hold part of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Unified {
    /// one pool for CPU and GPU (GB10, Thor); false: the GPU has its own memory and reaches the CPU's
    /// coherently (GH200 over NVLink-C2C)
    pub shared_pool: bool,
    /// what the OS and its services hold of a shared pool at idle (MemTotal - MemAvailable), MiB
    #[serde(default)]
    pub os_reserved_mib: u64,
    /// CPU memory the GPU also reaches (GH200: the Grace LPDDR5X), MiB
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_mib: Option<u64>,
    /// bandwidth of that path per direction, GB/s
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_bandwidth_gbps: Option<f64>,
    /// where the OS share and the pool come from
    pub source: String,
}

fn ecc_none() -> Ecc {
    Ecc::None
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Tflops {
    /// Dense FP16/BF16 tensor TFLOPS with FP32 accumulate (what inference kernels use).
    pub bf16: f64,
    /// Dense FP8 tensor TFLOPS, when the GPU has FP8 tensor cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8: Option<f64>,
    /// Dense INT8 tensor TOPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int8: Option<f64>,
    /// Non-tensor FP32 TFLOPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp32: Option<f64>,
    /// Dense FP4 tensor TFLOPS (Blackwell NVFP4/MXFP4, CDNA4 MXFP4), when the GPU has FP4 units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp4: Option<f64>,
    /// Dense FP6 tensor TFLOPS, where stated separately from FP8 (CDNA4 runs FP6 at the FP4 rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp6: Option<f64>,
    /// How the bf16 figure was stated (accumulate mode, source caveats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Interconnect {
    /// `nvlink4`, `pcie5`, `infinity-fabric`, ...
    pub kind: String,
    /// GPU-to-GPU bandwidth per direction, GB/s, as used by all-reduce.
    pub bandwidth_gbps: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_usd: Option<f64>,
    pub source: String,
    /// When the price was read (YYYY-MM-DD).
    pub date: String,
}

impl GpuSpec {
    pub fn reported_bytes(&self) -> u64 {
        self.memory.reported_mib * MIB
    }

    pub fn from_yaml(file: &Path, text: &str) -> Result<GpuSpec, SpecError> {
        let spec: GpuSpec = serde_yaml::from_str(text).map_err(|e| SpecError::from_yaml(file, e))?;
        spec.validate(file, text)?;
        Ok(spec)
    }

    pub fn validate(&self, file: &Path, text: &str) -> Result<(), SpecError> {
        let bad = |field: &str, msg: String| Err(SpecError::invalid(file, text, field, msg));
        if self.id.trim().is_empty() || self.id.contains(char::is_whitespace) {
            return bad("id", format!("`{}` must be a non-empty word without spaces", self.id));
        }
        if self.memory.reported_mib == 0 {
            return bad("memory.reported_mib", "must be positive".into());
        }
        if let Some(v) = self.memory.cuda_visible_mib {
            if v == 0 || v > self.memory.reported_mib {
                return bad(
                    "memory.cuda_visible_mib",
                    format!("must be between 1 and reported_mib ({})", self.memory.reported_mib),
                );
            }
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.memory.marketed_gb) {
            return bad("memory.marketed_gb", "must be a positive number".into());
        }
        if !positive(self.bandwidth_gbps) {
            return bad("bandwidth_gbps", "must be a positive number".into());
        }
        if !positive(self.tflops.bf16) {
            return bad("tflops.bf16", "must be a positive number".into());
        }
        for (field, v) in [
            ("tflops.fp8", self.tflops.fp8),
            ("tflops.int8", self.tflops.int8),
            ("tflops.fp32", self.tflops.fp32),
            ("tflops.fp4", self.tflops.fp4),
            ("tflops.fp6", self.tflops.fp6),
        ] {
            if v.is_some_and(|x| !positive(x)) {
                return bad(field, "must be a positive number when given".into());
            }
        }
        if let Some(u) = &self.memory.unified {
            if u.shared_pool && u.os_reserved_mib >= self.memory.reported_mib {
                return bad(
                    "memory.unified.os_reserved_mib",
                    format!("must be below the pool, reported_mib ({})", self.memory.reported_mib),
                );
            }
            if u.host_bandwidth_gbps.is_some_and(|x| !positive(x)) {
                return bad(
                    "memory.unified.host_bandwidth_gbps",
                    "must be a positive number when given".into(),
                );
            }
            if u.source.trim().is_empty() {
                return bad("memory.unified.source", "say where the OS share comes from".into());
            }
        }
        if let Some(ic) = &self.interconnect {
            if !positive(ic.bandwidth_gbps) {
                return bad("interconnect.bandwidth_gbps", "must be a positive number".into());
            }
        }
        if let Some(p) = &self.price {
            if p.purchase_usd.is_none() && p.hourly_usd.is_none() {
                return bad("price", "give purchase_usd and/or hourly_usd".into());
            }
            for (field, v) in [
                ("price.purchase_usd", p.purchase_usd),
                ("price.hourly_usd", p.hourly_usd),
            ] {
                if v.is_some_and(|x| !positive(x)) {
                    return bad(field, "must be a positive number when given".into());
                }
            }
        }
        Ok(())
    }

    /// Whether this GPU is Hopper or newer (bigger cuBLAS workspace, FP8).
    pub fn is_hopper_or_newer(&self) -> bool {
        self.compute_capability
            .as_deref()
            .and_then(|cc| cc.split('.').next())
            .and_then(|major| major.parse::<u32>().ok())
            .is_some_and(|major| major >= 9)
    }
}
