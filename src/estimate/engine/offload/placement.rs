//! Where each weight of a GGUF model lands under llama.cpp's placement rules
//! (`llama_model::load_tensors`, `llama_model_loader::create_tensor`), which host buffer a host
//! weight goes to, and the size llama.cpp prints for a mapped file (docs/engines/offload.md).

use super::flags::{OffloadFlags, Target};
use crate::estimate::engine::llamacpp::backend::GpuBackend;
use crate::estimate::engine::llamacpp::ggml::Type;
use crate::estimate::engine::llamacpp::weights::{Name, Place, Tensor};
use serde::Serialize;

/// How `-ngl` counts (llama.cpp PR #18148, December 2025).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NglRule {
    /// `i_gpu_start = n_layer + 1 - ngl`: the output layer is the first unit offloaded (PR #18148
    /// and later, the build modeled).
    OutputFirst,
    /// `i_gpu_start = n_layer - ngl`: blocks first, the output layer only when `ngl > n_layer`
    /// (builds before PR #18148).
    OutputLast,
}

/// Which host buffer a weight overridden to the CPU gets without mmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CpuOverride {
    /// the CPU list, pinned `CUDA_Host` first (PR #14990, July 2025, and later)
    HostList,
    /// the plain `CPU` type (before PR #14990)
    PlainCpu,
}

/// The placement rules of one llama.cpp build and the backend it offloads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rules {
    pub ngl: NglRule,
    pub cpu_override: CpuOverride,
    /// the GPU backend can gather rows of a K-quant token embedding from pinned memory (without
    /// mmap such an embedding then lands in `CUDA_Host`, otherwise in plain `CPU`)
    pub kquant_gather: bool,
    pub backend: GpuBackend,
}

/// The rules of the build gpuplan models (vendored by llama-cpp-sys-2 0.1.161) on CUDA GPUs.
pub const MODELED: Rules = Rules {
    ngl: NglRule::OutputFirst,
    cpu_override: CpuOverride::HostList,
    kquant_gather: true,
    backend: GpuBackend::Cuda,
};

/// The device of every unit, index `il` for block `il` and `n_layer` for the output layer; `None`
/// is the CPU. `gpu_layers` None offloads every unit. `shares` are the GPUs' relative sizes (free
/// memory, or `--tensor-split`); llama.cpp normalizes their running sums in single precision and
/// gives unit `il` to the first GPU whose cumulative share exceeds `(il - i_gpu_start) /
/// act_gpu_layers`.
pub fn unit_devices(n_layer: u64, gpu_layers: Option<u64>, rule: NglRule, shares: &[f64]) -> Vec<Option<usize>> {
    let units = n_layer + 1;
    let n_gpu = gpu_layers.map_or(units, |n| n.min(units));
    let total: f32 = shares.iter().map(|&s| s as f32).sum();
    if shares.is_empty() || total <= 0.0 || n_gpu == 0 {
        return vec![None; units as usize];
    }
    let mut cumulative = Vec::with_capacity(shares.len());
    let mut sum = 0.0f32;
    for &s in shares {
        sum += s as f32;
        cumulative.push(sum / total);
    }
    let start = match rule {
        NglRule::OutputFirst => units - n_gpu,
        NglRule::OutputLast => n_layer.saturating_sub(n_gpu),
    };
    (0..units)
        .map(|il| {
            if il < start || il - start >= n_gpu {
                return None;
            }
            let at = (il - start) as f32 / n_gpu as f32;
            Some(cumulative.iter().position(|&c| c > at).unwrap_or(shares.len() - 1))
        })
        .collect()
}

/// Where a weight (or a layer's KV) lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "index")]
pub enum Device {
    Host,
    Gpu(usize),
}

/// The unit of a tensor: its block, `n_layer` for the output layer, None for the input layer.
pub fn unit_of(place: Place, n_layer: u64) -> Option<u64> {
    match place {
        Place::Input => None,
        Place::Layer(il) => Some(il),
        Place::Output => Some(n_layer),
    }
}

/// Placement of every tensor: the first override that matches its name decides, else its unit's
/// device; the input layer is on the CPU. A rule naming a GPU beyond the `gpus` in use is reported by
/// [`unknown_gpu`] before placement.
pub fn place(tensors: &[Tensor], units: &[Option<usize>], flags: &OffloadFlags) -> Vec<Device> {
    let n_layer = units.len().saturating_sub(1) as u64;
    tensors
        .iter()
        .map(|t| {
            let block = match t.place {
                Place::Layer(il) => Some(il),
                _ => None,
            };
            match flags.target_of(|| t.name.at(t.place), t.routed, block) {
                Some(Target::Cpu) => Device::Host,
                Some(Target::Gpu(i)) => Device::Gpu(i as usize),
                None => unit_of(t.place, n_layer)
                    .and_then(|u| units.get(u as usize).copied().flatten())
                    .map_or(Device::Host, Device::Gpu),
            }
        })
        .collect()
}

/// The first `-ot` target that names a GPU beyond the `gpus` in use (llama.cpp: "unknown buffer
/// type").
pub fn unknown_gpu(flags: &OffloadFlags, gpus: usize) -> Option<Target> {
    flags
        .overrides
        .iter()
        .map(|r| r.target)
        .find(|t| matches!(t, Target::Gpu(i) if *i as usize >= gpus))
}

/// Host-side buffer names as llama.cpp prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum HostBuffer {
    /// the mapped file (mmap): the printed size is a span of the file, see [`mapped_span`]
    #[serde(rename = "CPU_Mapped")]
    CpuMapped,
    /// pinned host memory of the first GPU
    #[serde(rename = "CUDA_Host")]
    CudaHost,
    /// plain host memory
    #[serde(rename = "CPU")]
    Cpu,
}

impl HostBuffer {
    pub fn name(self) -> &'static str {
        match self {
            HostBuffer::CpuMapped => "CPU_Mapped",
            HostBuffer::CudaHost => "CUDA_Host",
            HostBuffer::Cpu => "CPU",
        }
    }
}

/// The buffer a host-placed tensor goes to. With mmap: the mapping. Without: the first type of the
/// CPU list whose device takes the tensor's op, pinned `CUDA_Host` when a GPU that lends pinned
/// memory is in use — except a K-quant token embedding the GPU cannot gather rows from (older
/// builds), and, before PR #14990, a tensor an override sent to the CPU, which both land in plain
/// `CPU`.
pub fn host_buffer(t: &Tensor, overridden: bool, mmap: bool, gpus: usize, rules: &Rules) -> HostBuffer {
    if mmap {
        return HostBuffer::CpuMapped;
    }
    let kquant = matches!(t.ty, Type::Q4_K | Type::Q5_K | Type::Q6_K);
    let gather_blocked = t.place == Place::Input && kquant && !rules.kquant_gather;
    let plain_override = overridden && rules.cpu_override == CpuOverride::PlainCpu;
    if gpus == 0 || !rules.backend.pinned_host() || gather_blocked || plain_override {
        HostBuffer::Cpu
    } else {
        HostBuffer::CudaHost
    }
}

/// Tensor data alignment in a GGUF file (`general.alignment`, 32 unless the file says otherwise).
pub const GGUF_ALIGNMENT: u64 = 32;

/// File order of a `llama-quantize` output: the tensors outside the blocks by name, then block 0,
/// 1, 2, ... each by name (`weight_name_comparer` in src/llama-model-loader.h). Indices into
/// `tensors`.
pub fn quantize_order(tensors: &[Tensor]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    let layer = |t: &Tensor| match t.place {
        Place::Layer(il) => il as i64,
        Place::Input | Place::Output => -1,
    };
    // stable: a tensor gpuplan cannot name shares its role's name, and keeps its place among them
    order.sort_by(|&a, &b| {
        let (a, b) = (&tensors[a], &tensors[b]);
        layer(a).cmp(&layer(b)).then_with(|| name_order(a.name, b.name))
    });
    order
}

/// The order of two weights' names without their `blk.{il}.` (the same for every tensor of a
/// block): `{base}.{suffix}` byte by byte, as the full names compare, without building them.
fn name_order(a: Name, b: Name) -> std::cmp::Ordering {
    use std::cmp::Ordering::Equal;
    let (x, y) = (a.base.as_bytes(), b.base.as_bytes());
    let n = x.len().min(y.len());
    let next = |s: &[u8]| s.get(n).copied().unwrap_or(b'.');
    match x[..n].cmp(&y[..n]).then_with(|| next(x).cmp(&next(y))) {
        // both bases end here: the suffixes decide
        Equal if x.len() == y.len() => a.suffix().cmp(b.suffix()),
        // one base ends where the other has a '.': the rest of the names, byte by byte
        Equal => {
            let full = |m: Name| m.base.bytes().chain(std::iter::once(b'.')).chain(m.suffix().bytes());
            full(a).cmp(full(b))
        }
        o => o,
    }
}

/// The `CPU_Mapped` size llama.cpp prints for one file: from the first byte of the first
/// host-placed tensor to the last byte of the last one, GPU tensors in between included
/// (`llama_model_loader::get_mapping_range`). `order` is the file's tensor order; offsets advance by
/// each tensor's bytes rounded up to the file alignment. None when nothing is mapped.
pub fn mapped_span(tensors: &[Tensor], mapped: &[bool], order: &[usize], alignment: u64) -> Option<u64> {
    let mut offset = 0u64;
    let mut span: Option<(u64, u64)> = None;
    for &i in order {
        let t = &tensors[i];
        if mapped[i] {
            let first = span.map_or(offset, |(f, _)| f);
            span = Some((first, offset + t.nbytes));
        }
        offset += t.nbytes.div_ceil(alignment) * alignment;
    }
    span.map(|(first, last)| last - first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::engine::llamacpp::weights::Name;

    #[test]
    fn ngl_counts_the_output_layer_first_since_18148() {
        // 36 blocks: -ngl 10 puts the output and blocks 27..35 on the GPU
        let d = unit_devices(36, Some(10), NglRule::OutputFirst, &[1.0]);
        assert_eq!(d.len(), 37);
        assert_eq!(d.iter().filter(|x| x.is_some()).count(), 10);
        assert_eq!((d[36], d[27], d[26]), (Some(0), Some(0), None));
        // before: blocks 26..35, output on the CPU
        let old = unit_devices(36, Some(10), NglRule::OutputLast, &[1.0]);
        assert_eq!(old.iter().filter(|x| x.is_some()).count(), 10);
        assert_eq!((old[36], old[26]), (None, Some(0)));
        // the old rule needs n_layer + 1 to move the output
        assert!(unit_devices(36, Some(37), NglRule::OutputLast, &[1.0])
            .iter()
            .all(Option::is_some));
        assert!(unit_devices(36, Some(0), NglRule::OutputFirst, &[1.0])
            .iter()
            .all(Option::is_none));
        assert!(unit_devices(36, None, NglRule::OutputFirst, &[])
            .iter()
            .all(Option::is_none));
        // counts beyond the model mean every unit
        assert_eq!(
            unit_devices(36, Some(999), NglRule::OutputFirst, &[1.0]),
            unit_devices(36, None, NglRule::OutputFirst, &[1.0])
        );
    }

    #[test]
    fn equal_gpus_split_the_units_in_order() {
        let d = unit_devices(94, None, NglRule::OutputFirst, &[1.0, 1.0]);
        // 95 units: k/95 < 0.5 for k <= 47
        assert_eq!(d.iter().filter(|x| **x == Some(0)).count(), 48);
        assert_eq!(d.iter().filter(|x| **x == Some(1)).count(), 47);
        assert_eq!((d[47], d[48], d[94]), (Some(0), Some(1), Some(1)));
    }

    fn t(base: &'static str, place: Place, nbytes: u64) -> Tensor {
        Tensor {
            name: Name { base, bias: false },
            routed: base.ends_with("_exps"),
            place,
            ty: Type::Q8_0,
            ne0: 32,
            nbytes,
        }
    }

    fn toy() -> Vec<Tensor> {
        let mut v = vec![
            t("token_embd", Place::Input, 100),
            t("output", Place::Output, 100),
            t("output_norm", Place::Output, 4),
        ];
        for il in 0..3 {
            v.push(t("attn_q", Place::Layer(il), 10));
            v.push(t("ffn_up_exps", Place::Layer(il), 64));
        }
        v
    }

    #[test]
    fn overrides_win_over_the_layer_and_the_span_covers_what_lies_between() {
        let tensors = toy();
        let flags = OffloadFlags {
            n_cpu_moe: 2,
            ..OffloadFlags::default()
        };
        let units = unit_devices(3, None, NglRule::OutputFirst, &[1.0]);
        let devices = place(&tensors, &units, &flags);
        let host: Vec<String> = tensors
            .iter()
            .zip(&devices)
            .filter(|(_, d)| **d == Device::Host)
            .map(|(t, _)| t.name.at(t.place))
            .collect();
        assert_eq!(
            host,
            [
                "token_embd.weight",
                "blk.0.ffn_up_exps.weight",
                "blk.1.ffn_up_exps.weight"
            ]
        );
        let order = quantize_order(&tensors);
        let names: Vec<String> = order.iter().map(|&i| tensors[i].name.at(tensors[i].place)).collect();
        assert_eq!(
            names[..5],
            [
                "output.weight",
                "output_norm.weight",
                "token_embd.weight",
                "blk.0.attn_q.weight",
                "blk.0.ffn_up_exps.weight"
            ]
        );
        let mapped: Vec<bool> = devices.iter().map(|d| *d == Device::Host).collect();
        // token_embd .. blk.1.ffn_up_exps, each tensor padded to 32 bytes in the file (100 -> 128,
        // 10 -> 32), the GPU's attention tensors in between included
        assert_eq!(
            mapped_span(&tensors, &mapped, &order, 32),
            Some(128 + 32 + 64 + 32 + 64)
        );
        let none = place(&tensors, &units, &OffloadFlags::default());
        let mapped: Vec<bool> = none.iter().map(|d| *d == Device::Host).collect();
        assert_eq!(mapped_span(&tensors, &mapped, &order, 32), Some(100));
    }

    #[test]
    fn host_buffers_follow_mmap_the_build_and_the_gpu() {
        let embd = t("token_embd", Place::Input, 1);
        let kquant = Tensor { ty: Type::Q4_K, ..embd };
        let old = Rules {
            ngl: NglRule::OutputLast,
            cpu_override: CpuOverride::PlainCpu,
            kquant_gather: false,
            backend: GpuBackend::Cuda,
        };
        assert_eq!(host_buffer(&embd, false, true, 1, &MODELED), HostBuffer::CpuMapped);
        assert_eq!(host_buffer(&embd, false, false, 1, &MODELED), HostBuffer::CudaHost);
        assert_eq!(host_buffer(&embd, false, false, 0, &MODELED), HostBuffer::Cpu);
        assert_eq!(host_buffer(&kquant, false, false, 1, &MODELED), HostBuffer::CudaHost);
        assert_eq!(host_buffer(&kquant, false, false, 1, &old), HostBuffer::Cpu);
        let exps = t("ffn_up_exps", Place::Layer(3), 1);
        assert_eq!(host_buffer(&exps, true, false, 1, &MODELED), HostBuffer::CudaHost);
        assert_eq!(host_buffer(&exps, true, false, 1, &old), HostBuffer::Cpu);
        // an RPC device lends no host buffer type: plain CPU memory
        let rpc = Rules {
            backend: GpuBackend::RpcCpu,
            ..MODELED
        };
        assert_eq!(host_buffer(&embd, false, false, 1, &rpc), HostBuffer::Cpu);
        assert_eq!(host_buffer(&embd, false, true, 1, &rpc), HostBuffer::CpuMapped);
    }
}
