//! Overheads that are not weights, KV or activations, and the memory a program can actually use.

use super::engine::Runtime;
use crate::spec::gpu::{Ecc, GpuSpec, MIB};

/// CUDA context plus the engine's resident modules, per GPU: the runtime profile's `context_mib`
/// (lazy module loading keeps it at ~300-600 MiB: pytorch/pytorch #107667, #109888; measured for
/// candle by `gpuplan validate`).
pub fn cuda_context(rt: &Runtime) -> u64 {
    rt.context_mib * MIB
}

/// cuBLAS/cuBLASLt workspace per handle: 32 MiB on Hopper and newer, 4 MiB before (cuBLAS docs,
/// `cublasSetWorkspace`, as quoted in pytorch/pytorch PR #120925). None on the CPU.
pub fn blas_workspace(gpu: &GpuSpec, rt: &Runtime) -> u64 {
    if rt.is_cpu() {
        0
    } else if let Some(mib) = rt.blas_workspace_mib {
        mib * MIB
    } else if gpu.is_hopper_or_newer() {
        32 * MIB
    } else {
        4 * MIB
    }
}

/// Kernel modules the runtime loads on first use: `modules_mib` (candle: measured as the growth over
/// a warm-up forward pass).
pub fn kernel_modules(rt: &Runtime) -> u64 {
    rt.modules_mib * MIB
}

/// Other fixed allocations of the runtime (CUDA graphs, NCCL buffers): `fixed_mib`.
pub fn runtime_fixed(rt: &Runtime) -> u64 {
    rt.fixed_mib * MIB
}

/// Pool/fragmentation slack: `slack_fraction` x dynamic memory (KV + activations).
pub fn fragmentation(rt: &Runtime, dynamic: u64) -> u64 {
    (dynamic as f64 * rt.slack_fraction).round() as u64
}

/// ECC state to assume: the board default or an override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EccMode {
    Default,
    On,
    Off,
}

/// Memory a CUDA program can allocate (cudaMemGetInfo's total): the measured `cuda_visible_mib` when
/// the spec has it, otherwise nvidia-smi's total minus the driver's reservation, taken as 438/81559 of
/// it (H100 80GB: 81,559 MiB in nvidia-smi, 79.22 GiB = 81,121 MiB in vLLM, PR #10511). GDDR boards
/// whose ECC is switched from the default lose or regain 1/16 (RTX 4090 24564 -> 23028 MiB).
///
/// A pool the GPU shares with the operating system (GB10, Thor) is usable only beyond what the OS and
/// its services hold: the spec's `unified.os_reserved_mib`, measured at idle (MemTotal - MemAvailable).
/// Other processes on the machine take more; the figure is the most a model can count on.
pub fn visible_total(gpu: &GpuSpec, ecc: EccMode) -> u64 {
    if let Some(u) = gpu.memory.unified.as_ref().filter(|u| u.shared_pool) {
        return gpu.reported_bytes().saturating_sub(u.os_reserved_mib * MIB);
    }
    let reported = gpu.reported_bytes();
    let adjusted = match (gpu.memory.ecc, ecc) {
        (Ecc::Off, EccMode::On) => reported / 16 * 15,
        (Ecc::On, EccMode::Off) => reported / 15 * 16,
        _ => reported,
    };
    match (gpu.memory.cuda_visible_mib, adjusted == reported) {
        (Some(v), true) => v * MIB,
        _ => adjusted - adjusted / 81559 * 438,
    }
}
