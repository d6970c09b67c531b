//! Local GPU detection with NVML (`gpuplan detect`, `--gpu local`): name, memory total/used/free,
//! driver and CUDA versions, compute capability, power limit and ECC state of every NVIDIA GPU, each
//! matched to the catalog by NVML name and memory. NVML is loaded at run time (nvml-wrapper opens
//! `libnvidia-ml.so.1` with libloading), so the binary runs on machines without a driver: there,
//! detection answers "none found" instead of failing.

use crate::spec::gpu::MIB;
use crate::spec::{Catalog, GpuSpec};
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::Nvml;
use serde::Serialize;
use std::ffi::OsStr;

/// One local GPU as NVML reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalGpu {
    pub index: u32,
    pub name: String,
    pub uuid: Option<String>,
    pub memory_total_bytes: u64,
    pub memory_used_bytes: u64,
    pub memory_free_bytes: u64,
    /// e.g. "8.9"
    pub compute_capability: Option<String>,
    /// enforced power limit, watts
    pub power_limit_w: Option<u64>,
    /// ECC currently enabled (None: not supported or not reported)
    pub ecc_enabled: Option<bool>,
    /// processes using this GPU (compute and graphics), with their memory when reported
    pub processes: Vec<(u32, Option<u64>)>,
}

/// What NVML said about the machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detected {
    pub driver_version: Option<String>,
    /// "12.4"
    pub cuda_version: Option<String>,
    pub gpus: Vec<LocalGpu>,
}

/// Why nothing was detected: not errors, the machine simply has no usable NVIDIA GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum NotFound {
    /// libnvidia-ml could not be loaded (no NVIDIA driver installed)
    NoLibrary { detail: String },
    /// the library loaded but NVML did not start (driver not loaded, no permission)
    NoDriver { detail: String },
    /// NVML runs but reports no device
    NoDevice,
}

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotFound::NoLibrary { detail } => write!(
                f,
                "no NVIDIA GPU found: the NVML library (libnvidia-ml.so.1) is not installed ({detail})"
            ),
            NotFound::NoDriver { detail } => write!(f, "no NVIDIA GPU found: NVML did not start ({detail})"),
            NotFound::NoDevice => write!(f, "no NVIDIA GPU found: the driver reports no device"),
        }
    }
}

/// Library names tried in order: the runtime soname first (always present with a driver), then the
/// development symlink nvml-wrapper uses by default.
const LIBRARIES: [&str; 2] = ["libnvidia-ml.so.1", "libnvidia-ml.so"];

fn open() -> Result<Nvml, NotFound> {
    // report why the first (the runtime soname) failed to load
    let mut first: Option<String> = None;
    for lib in LIBRARIES {
        match Nvml::builder().lib_path(OsStr::new(lib)).init() {
            Ok(n) => return Ok(n),
            Err(nvml_wrapper::error::NvmlError::LibloadingError(e)) => {
                first.get_or_insert_with(|| e.to_string());
            }
            Err(e) => return Err(NotFound::NoDriver { detail: e.to_string() }),
        }
    }
    Err(NotFound::NoLibrary {
        detail: first.unwrap_or_default(),
    })
}

/// Lists the local NVIDIA GPUs. Per-device queries a board does not support are left `None`.
pub fn detect() -> Result<Detected, NotFound> {
    let nvml = open()?;
    let count = nvml
        .device_count()
        .map_err(|e| NotFound::NoDriver { detail: e.to_string() })?;
    if count == 0 {
        return Err(NotFound::NoDevice);
    }
    let cuda_version = nvml.sys_cuda_driver_version().ok().map(|v| {
        format!(
            "{}.{}",
            nvml_wrapper::cuda_driver_version_major(v),
            nvml_wrapper::cuda_driver_version_minor(v)
        )
    });
    let mut gpus = Vec::new();
    for index in 0..count {
        let Ok(d) = nvml.device_by_index(index) else {
            continue;
        };
        let Ok(mem) = d.memory_info() else { continue };
        let processes = d
            .running_compute_processes()
            .unwrap_or_default()
            .into_iter()
            .chain(d.running_graphics_processes().unwrap_or_default())
            .map(|p| {
                let used = match p.used_gpu_memory {
                    UsedGpuMemory::Used(b) => Some(b),
                    UsedGpuMemory::Unavailable => None,
                };
                (p.pid, used)
            })
            .collect();
        gpus.push(LocalGpu {
            index,
            name: d.name().unwrap_or_else(|_| format!("GPU {index}")),
            uuid: d.uuid().ok(),
            memory_total_bytes: mem.total,
            memory_used_bytes: mem.used,
            memory_free_bytes: mem.free,
            compute_capability: d
                .cuda_compute_capability()
                .ok()
                .map(|c| format!("{}.{}", c.major, c.minor)),
            power_limit_w: d.enforced_power_limit().ok().map(|mw| u64::from(mw) / 1000),
            ecc_enabled: d.is_ecc_enabled().ok().map(|e| e.currently_enabled),
            processes,
        });
    }
    if gpus.is_empty() {
        return Err(NotFound::NoDevice);
    }
    Ok(Detected {
        driver_version: nvml.sys_driver_version().ok(),
        cuda_version,
        gpus,
    })
}

/// `gpuplan detect`: the machine, each GPU with its catalog match and what fits in its free memory.
#[derive(Debug, Clone, Serialize)]
pub struct DetectReport {
    /// None when GPUs were found; otherwise the one-line reason
    pub not_found: Option<String>,
    pub driver_version: Option<String>,
    pub cuda_version: Option<String>,
    pub gpus: Vec<DetectedGpu>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetectedGpu {
    pub local: LocalGpu,
    /// None: not in the catalog (add a gpus/*.yaml with its `nvml_names` to get estimates)
    pub catalog: Option<Match>,
    /// each model at each precision against the free memory (empty without a catalog match)
    pub fits: Vec<crate::plan::matrix::Cell>,
}

/// How a local GPU was matched to the catalog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    pub id: String,
    /// |NVML total - catalog nvidia-smi total| in MiB
    pub memory_difference_mib: u64,
}

/// Largest difference between NVML's total and the catalog's `reported_mib` that still counts as the
/// same board: ECC on a GDDR board takes 1/16 (RTX 4090: 24564 -> 23028 MiB), and drivers differ by
/// a few hundred MiB (RTX 3090: 24268 vs 24576 MiB); a different memory size differs by far more.
pub fn match_tolerance_mib(reported_mib: u64) -> u64 {
    reported_mib / 16 + 64
}

/// The catalog entry for a local GPU: its NVML name among the entry's `nvml_names` (or equal to its
/// name or an alias, ignoring case), and NVML's total memory within [`match_tolerance_mib`] of the
/// entry's `reported_mib` (so a 40 GB and an 80 GB board of one name are told apart). Of several,
/// the closest in memory.
pub fn match_catalog(gpu: &LocalGpu, catalog: &Catalog) -> Option<Match> {
    let name = gpu.name.trim();
    let total_mib = gpu.memory_total_bytes / MIB;
    catalog
        .gpu_specs()
        .filter(|s| {
            s.nvml_names
                .iter()
                .chain(std::iter::once(&s.name))
                .chain(s.aliases.iter())
                .any(|n| n.trim().eq_ignore_ascii_case(name))
        })
        .map(|s| (s, total_mib.abs_diff(s.memory.reported_mib)))
        .filter(|(s, diff)| *diff <= match_tolerance_mib(s.memory.reported_mib))
        .min_by_key(|(_, diff)| *diff)
        .map(|(s, diff)| Match {
            id: s.id.clone(),
            memory_difference_mib: diff,
        })
}

/// The catalog spec of a local GPU with its memory set to what is free right now: `cuda_visible_mib`
/// = NVML's free memory, so every estimate counts only what this machine can still allocate (the
/// estimate adds the new process's own CUDA context on top). Speeds and prices stay the catalog's.
pub fn local_spec(gpu: &LocalGpu, catalog_spec: &GpuSpec) -> GpuSpec {
    let mut s = catalog_spec.clone();
    let free_mib = (gpu.memory_free_bytes / MIB).clamp(1, s.memory.reported_mib);
    s.memory.cuda_visible_mib = Some(free_mib);
    s.id = format!("local{}:{}", gpu.index, catalog_spec.id);
    s.name = format!("{} (GPU {}, {} MiB free)", catalog_spec.name, gpu.index, free_mib);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::arch::check_declared;

    fn local(name: &str, total_mib: u64) -> LocalGpu {
        LocalGpu {
            index: 0,
            name: name.into(),
            uuid: None,
            memory_total_bytes: total_mib * MIB,
            memory_used_bytes: 1000 * MIB,
            memory_free_bytes: (total_mib - 1000) * MIB,
            compute_capability: Some("8.9".into()),
            power_limit_w: Some(450),
            ecc_enabled: Some(false),
            processes: vec![],
        }
    }

    #[test]
    fn matches_by_nvml_name_and_memory() {
        let c = Catalog::embedded(check_declared).expect("catalog");
        let m = match_catalog(&local("NVIDIA GeForce RTX 4090", 24564), &c).expect("4090 matches");
        assert_eq!(
            m,
            Match {
                id: "rtx-4090".into(),
                memory_difference_mib: 0
            }
        );
        // with ECC on, NVML reports 15/16 of the memory: still the same board
        assert_eq!(
            match_catalog(&local("NVIDIA GeForce RTX 4090", 23028), &c).map(|m| m.id),
            Some("rtx-4090".into())
        );
        assert_eq!(
            match_catalog(&local("NVIDIA H100 80GB HBM3", 81559), &c).map(|m| m.id),
            Some("h100-sxm".into())
        );
        // the right name with half the memory is another board
        assert_eq!(match_catalog(&local("NVIDIA GeForce RTX 4090", 12282), &c), None);
        assert_eq!(match_catalog(&local("NVIDIA Quadro P400", 2048), &c), None);
    }

    #[test]
    fn local_spec_uses_free_memory() {
        let c = Catalog::embedded(check_declared).expect("catalog");
        let g = local("NVIDIA GeForce RTX 4090", 24564);
        let spec = c.gpu("rtx-4090").expect("in catalog");
        let s = local_spec(&g, &spec);
        assert_eq!(s.memory.cuda_visible_mib, Some(23564));
        assert_eq!(
            crate::estimate::overhead::visible_total(&s, crate::estimate::EccMode::Default),
            23564 * MIB
        );
        assert_eq!(s.bandwidth_gbps, spec.bandwidth_gbps);
    }

    #[test]
    fn no_driver_is_an_answer_not_a_panic() {
        // on machines without an NVIDIA driver this is Err(NotFound); with one, Ok with >= 1 GPU
        match detect() {
            Ok(d) => assert!(!d.gpus.is_empty()),
            Err(e) => assert!(e.to_string().starts_with("no NVIDIA GPU found")),
        }
    }
}
