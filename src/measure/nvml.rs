//! GPU memory through NVML (nvml-wrapper loads libnvidia-ml.so.1 at run time: no link dependency,
//! a clear error where it is absent). A background thread samples the device's used memory and
//! this process's used memory at a fixed rate (default 200 Hz, above the 100 Hz the method asks
//! for) and keeps the peak since the last [`Sampler::reset_peak`].

use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::Nvml;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What NVML says about the GPU.
#[derive(Debug, Clone)]
pub struct GpuInfo {
    pub index: u32,
    pub name: String,
    pub memory_total_bytes: u64,
    pub driver_version: Option<String>,
    /// the CUDA version the driver supports, "13.0"
    pub cuda_version: Option<String>,
    /// "9.0"
    pub compute_capability: Option<String>,
}

/// Opens NVML; the error says why it is unavailable. The driver's runtime soname comes first:
/// nvml-wrapper's default, the `libnvidia-ml.so` development link, is often not installed.
pub fn open() -> anyhow::Result<Arc<Nvml>> {
    let mut first = None;
    for lib in ["libnvidia-ml.so.1", "libnvidia-ml.so"] {
        match Nvml::builder().lib_path(std::ffi::OsStr::new(lib)).init() {
            Ok(n) => return Ok(Arc::new(n)),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    let e = first.map_or_else(String::new, |e| e.to_string());
    anyhow::bail!("NVML is not available ({e}): no NVIDIA driver (libnvidia-ml.so.1) on this machine")
}

pub fn device_count(nvml: &Nvml) -> u32 {
    nvml.device_count().unwrap_or(0)
}

pub fn info(nvml: &Nvml, index: u32) -> anyhow::Result<GpuInfo> {
    let dev = nvml
        .device_by_index(index)
        .map_err(|e| anyhow::anyhow!("NVML device {index}: {e}"))?;
    let mem = dev
        .memory_info()
        .map_err(|e| anyhow::anyhow!("NVML device {index} memory: {e}"))?;
    Ok(GpuInfo {
        index,
        name: dev.name().unwrap_or_else(|_| "unknown NVIDIA GPU".into()),
        memory_total_bytes: mem.total,
        driver_version: nvml.sys_driver_version().ok(),
        cuda_version: nvml.sys_cuda_driver_version().ok().map(|v| {
            format!(
                "{}.{}",
                nvml_wrapper::cuda_driver_version_major(v),
                nvml_wrapper::cuda_driver_version_minor(v)
            )
        }),
        compute_capability: dev
            .cuda_compute_capability()
            .ok()
            .map(|c| format!("{}.{}", c.major, c.minor)),
    })
}

/// One reading: device used bytes, and this process's bytes when NVML can attribute them (it
/// cannot inside some containers, where the PIDs it reports are the host's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    pub device_used: u64,
    pub process_used: Option<u64>,
}

pub fn read(nvml: &Nvml, index: u32, pid: u32) -> anyhow::Result<Reading> {
    let dev = nvml.device_by_index(index)?;
    let device_used = dev.memory_info()?.used;
    let process_used = dev.running_compute_processes().ok().and_then(|ps| {
        ps.iter().find(|p| p.pid == pid).and_then(|p| match p.used_gpu_memory {
            UsedGpuMemory::Used(b) => Some(b),
            UsedGpuMemory::Unavailable => None,
        })
    });
    Ok(Reading {
        device_used,
        process_used,
    })
}

const NONE: u64 = u64::MAX;

struct Shared {
    stop: AtomicBool,
    device_now: AtomicU64,
    device_peak: AtomicU64,
    process_now: AtomicU64,
    process_peak: AtomicU64,
    samples: AtomicU64,
}

/// The background sampler. Dropping it stops the thread.
pub struct Sampler {
    nvml: Arc<Nvml>,
    index: u32,
    pid: u32,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    started: Instant,
    pub hz: f64,
}

impl Sampler {
    pub fn start(nvml: Arc<Nvml>, index: u32, hz: f64) -> anyhow::Result<Sampler> {
        let pid = std::process::id();
        let first = read(&nvml, index, pid)?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            device_now: AtomicU64::new(first.device_used),
            device_peak: AtomicU64::new(first.device_used),
            process_now: AtomicU64::new(first.process_used.unwrap_or(NONE)),
            process_peak: AtomicU64::new(first.process_used.unwrap_or(0)),
            samples: AtomicU64::new(1),
        });
        let (s, n) = (shared.clone(), nvml.clone());
        let period = Duration::from_secs_f64(1.0 / hz.max(1.0));
        let thread = std::thread::Builder::new().name("nvml-sampler".into()).spawn(move || {
            let mut next = Instant::now();
            while !s.stop.load(Ordering::Relaxed) {
                if let Ok(r) = read(&n, index, pid) {
                    record(&s, r);
                }
                next += period;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now; // fell behind (a slow NVML call): do not burst
                }
            }
        })?;
        Ok(Sampler {
            nvml,
            index,
            pid,
            shared,
            thread: Some(thread),
            started: Instant::now(),
            hz,
        })
    }

    /// A reading taken now, on the caller's thread (also folded into the peaks).
    pub fn now(&self) -> Reading {
        match read(&self.nvml, self.index, self.pid) {
            Ok(r) => {
                record(&self.shared, r);
                r
            }
            Err(_) => Reading {
                device_used: self.shared.device_now.load(Ordering::Relaxed),
                process_used: opt(self.shared.process_now.load(Ordering::Relaxed)),
            },
        }
    }

    /// Peak since the last reset (device, process).
    pub fn peak(&self) -> Reading {
        self.now();
        Reading {
            device_used: self.shared.device_peak.load(Ordering::Relaxed),
            process_used: opt(self.shared.process_peak.load(Ordering::Relaxed)).filter(|&p| p > 0),
        }
    }

    /// Starts a new peak window at the current reading.
    pub fn reset_peak(&self) {
        let r = self.now();
        self.shared.device_peak.store(r.device_used, Ordering::Relaxed);
        self.shared
            .process_peak
            .store(r.process_used.unwrap_or(0), Ordering::Relaxed);
    }

    /// Samples taken and the achieved rate.
    pub fn stats(&self) -> (u64, f64) {
        let n = self.shared.samples.load(Ordering::Relaxed);
        (n, n as f64 / self.started.elapsed().as_secs_f64().max(1e-9))
    }
}

fn opt(v: u64) -> Option<u64> {
    (v != NONE).then_some(v)
}

fn record(s: &Shared, r: Reading) {
    s.samples.fetch_add(1, Ordering::Relaxed);
    s.device_now.store(r.device_used, Ordering::Relaxed);
    s.device_peak.fetch_max(r.device_used, Ordering::Relaxed);
    if let Some(p) = r.process_used {
        s.process_now.store(p, Ordering::Relaxed);
        s.process_peak.fetch_max(p, Ordering::Relaxed);
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
