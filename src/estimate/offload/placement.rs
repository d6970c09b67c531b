//! Where each weight of a GGUF model lands under llama.cpp's placement rules
//! (`llama_model_base::load_tensors`, `llama_model_loader::create_tensor`), and the model buffers
//! that follows per device (docs/engines/offload.md).

use super::flags::{GpuLayers, OffloadFlags, Target, TensorOverride};
use serde::Serialize;

/// A weight's layer: the input layer (token embeddings), a repeating block, or the output layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "index")]
pub enum Unit {
    Input,
    Block(u32),
    Output,
}

/// One GGUF weight as placement needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Weight {
    /// GGUF name, e.g. `blk.3.ffn_up_exps.weight`
    pub name: String,
    pub unit: Unit,
    /// `ggml_nbytes`: its size in the file and in host buffers
    pub bytes: u64,
    /// what a GPU buffer allocates for it (CUDA pads quantized rows to 512 and aligns to 128)
    pub gpu_bytes: u64,
    /// a routed-expert tensor (read k of E experts per token)
    pub expert: bool,
    /// the input layer's embedding when the GPU backend cannot gather rows from it in host memory:
    /// without mmap it then lands in a plain `CPU` buffer instead of pinned `CUDA_Host`
    pub host_gather_unsupported: bool,
}

/// How `-ngl` counts (llama.cpp PR #18148, December 2025).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NglRule {
    /// `i_gpu_start = n_layer + 1 - ngl`: the output layer is the first unit offloaded (PR #18148
    /// and later).
    OutputFirst,
    /// `i_gpu_start = n_layer - ngl`: blocks first, the output layer only when `ngl > n_layer`
    /// (builds before PR #18148).
    OutputLast,
}

/// Where a weight (or a layer's KV) lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "index")]
pub enum Place {
    Host,
    Gpu(u32),
}

/// The device of every unit, index `il` for block `il` and `n_layer` for the output layer; `None`
/// is the CPU. `shares` are the GPUs' relative sizes (free memory, or `--tensor-split`); llama.cpp
/// normalizes their running sums in single precision and gives unit `il` to the first GPU whose
/// cumulative share exceeds `(il - i_gpu_start) / act_gpu_layers`.
pub fn unit_devices(n_layer: u32, ngl: GpuLayers, rule: NglRule, shares: &[f64]) -> Vec<Option<u32>> {
    let units = n_layer as i64 + 1;
    let n_gpu = ngl.units(n_layer) as i64;
    let total: f32 = shares.iter().map(|&s| s as f32).sum();
    if shares.is_empty() || total <= 0.0 {
        return vec![None; units as usize];
    }
    let mut cumulative = Vec::with_capacity(shares.len());
    let mut sum = 0.0f32;
    for &s in shares {
        sum += s as f32;
        cumulative.push(sum / total);
    }
    let start = match rule {
        NglRule::OutputFirst => (units - n_gpu).max(0),
        NglRule::OutputLast => (n_layer as i64 - n_gpu).max(0),
    };
    let active = n_gpu.min(units);
    (0..units)
        .map(|il| {
            if il < start || il - start >= active {
                return None;
            }
            let at = (il - start) as f32 / active as f32;
            let gpu = cumulative.iter().position(|&c| c > at).unwrap_or(shares.len() - 1);
            Some(gpu as u32)
        })
        .collect()
}

/// Placement of every weight: the first override whose pattern matches the name decides, else
/// the unit's device; the input layer is always on the CPU.
pub fn place(weights: &[Weight], devices: &[Option<u32>], rules: &[TensorOverride]) -> Vec<Place> {
    let n_layer = devices.len().saturating_sub(1);
    weights
        .iter()
        .map(|w| {
            if let Some(rule) = rules.iter().find(|r| r.matches(&w.name)) {
                return match rule.target {
                    Target::Cpu => Place::Host,
                    Target::Gpu(i) => Place::Gpu(i),
                };
            }
            let device = match w.unit {
                Unit::Input => None,
                Unit::Block(il) => devices.get(il as usize).copied().flatten(),
                Unit::Output => devices.get(n_layer).copied().flatten(),
            };
            device.map_or(Place::Host, Place::Gpu)
        })
        .collect()
}

/// Host-side buffer names as llama.cpp prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum HostBuffer {
    /// the mapped file (mmap): printed size is a span of the file, see [`mapped_span`]
    #[serde(rename = "CPU_Mapped")]
    CpuMapped,
    /// pinned host memory of the first GPU (`--no-mmap`)
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

/// The buffer a host-placed weight goes to: with mmap the mapping; without it pinned `CUDA_Host`
/// when a GPU is in use and can run the weight's op from host memory (`select_weight_buft` tries
/// the pinned type before plain `CPU`), plain `CPU` otherwise.
pub fn host_buffer(w: &Weight, flags: &OffloadFlags, gpus: usize) -> HostBuffer {
    if flags.mmap {
        HostBuffer::CpuMapped
    } else if gpus > 0 && !w.host_gather_unsupported {
        HostBuffer::CudaHost
    } else {
        HostBuffer::Cpu
    }
}

/// Tensor data alignment in a GGUF file (`general.alignment`, 32 unless the file says otherwise).
pub const GGUF_ALIGNMENT: u64 = 32;

/// File order of a `llama-quantize` output: the non-block tensors by name, then block 0, 1, 2, ...
/// each by name (`weight_name_comparer`). Returns indices into `weights`.
pub fn quantize_order(weights: &[Weight]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..weights.len()).collect();
    let key = |w: &Weight| {
        let layer = match w.unit {
            Unit::Block(il) => il as i64,
            Unit::Input | Unit::Output => -1,
        };
        (layer, w.name.clone())
    };
    order.sort_by_key(|&i| key(&weights[i]));
    order
}

/// The `CPU_Mapped` size llama.cpp prints for one file: from the first byte of the first
/// host-placed tensor to the last byte of the last one, GPU tensors in between included
/// (`llama_model_loader::get_mapping_range`). `order` is the file's tensor order; offsets advance
/// by each tensor's bytes rounded up to the file alignment. None when nothing is on the host.
pub fn mapped_span(weights: &[Weight], places: &[Place], order: &[usize], alignment: u64) -> Option<u64> {
    let mut offset = 0u64;
    let mut span: Option<(u64, u64)> = None;
    for &i in order {
        let w = &weights[i];
        if places[i] == Place::Host {
            let (first, _) = span.unwrap_or((offset, 0));
            span = Some((first, offset + w.bytes));
        }
        offset += w.bytes.div_ceil(alignment) * alignment;
    }
    span.map(|(first, last)| last - first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngl_counts_the_output_layer_first_since_18148() {
        // 36 blocks: -ngl 10 puts the output and blocks 27..35 on the GPU
        let d = unit_devices(36, GpuLayers::Count(10), NglRule::OutputFirst, &[1.0]);
        assert_eq!(d.len(), 37);
        assert_eq!(d.iter().filter(|x| x.is_some()).count(), 10);
        assert_eq!(d[36], Some(0));
        assert_eq!(d[27], Some(0));
        assert_eq!(d[26], None);
        // before: blocks 26..35, output on the CPU
        let old = unit_devices(36, GpuLayers::Count(10), NglRule::OutputLast, &[1.0]);
        assert_eq!(old.iter().filter(|x| x.is_some()).count(), 10);
        assert_eq!(old[36], None);
        assert_eq!(old[26], Some(0));
        // the old rule needs n_layer + 1 to move the output
        let all = unit_devices(36, GpuLayers::Count(37), NglRule::OutputLast, &[1.0]);
        assert!(all.iter().all(|x| x.is_some()));
        assert!(unit_devices(36, GpuLayers::Count(0), NglRule::OutputFirst, &[1.0])
            .iter()
            .all(|x| x.is_none()));
        // no GPU at all
        assert!(unit_devices(36, GpuLayers::All, NglRule::OutputFirst, &[])
            .iter()
            .all(|x| x.is_none()));
    }

    #[test]
    fn equal_gpus_split_the_units_in_order() {
        let d = unit_devices(94, GpuLayers::All, NglRule::OutputFirst, &[1.0, 1.0]);
        // 95 units: k/95 < 0.5 for k <= 47
        assert_eq!(d.iter().filter(|x| **x == Some(0)).count(), 48);
        assert_eq!(d.iter().filter(|x| **x == Some(1)).count(), 47);
        assert_eq!(d[47], Some(0));
        assert_eq!(d[48], Some(1));
        assert_eq!(d[94], Some(1));
    }

    fn w(name: &str, unit: Unit, bytes: u64) -> Weight {
        Weight {
            name: name.into(),
            unit,
            bytes,
            gpu_bytes: bytes,
            expert: name.contains("_exps"),
            host_gather_unsupported: false,
        }
    }

    fn toy() -> Vec<Weight> {
        let mut v = vec![
            w("token_embd.weight", Unit::Input, 100),
            w("output.weight", Unit::Output, 100),
            w("output_norm.weight", Unit::Output, 4),
        ];
        for il in 0..3 {
            v.push(w(&format!("blk.{il}.attn_q.weight"), Unit::Block(il), 10));
            v.push(w(&format!("blk.{il}.ffn_up_exps.weight"), Unit::Block(il), 64));
        }
        v
    }

    #[test]
    fn overrides_win_over_the_layer() {
        let weights = toy();
        let flags = OffloadFlags {
            n_cpu_moe: 2,
            ..OffloadFlags::default()
        };
        let devices = unit_devices(3, flags.n_gpu_layers, NglRule::OutputFirst, &[1.0]);
        let places = place(&weights, &devices, &flags.rules());
        let host: Vec<&str> = weights
            .iter()
            .zip(&places)
            .filter(|(_, p)| **p == Place::Host)
            .map(|(w, _)| w.name.as_str())
            .collect();
        assert_eq!(
            host,
            [
                "token_embd.weight",
                "blk.0.ffn_up_exps.weight",
                "blk.1.ffn_up_exps.weight"
            ]
        );
    }

    #[test]
    fn the_mapped_span_covers_gpu_tensors_between_host_ones() {
        let weights = toy();
        let order = quantize_order(&weights);
        let names: Vec<&str> = order.iter().map(|&i| weights[i].name.as_str()).collect();
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
        let flags = OffloadFlags {
            n_cpu_moe: 2,
            ..OffloadFlags::default()
        };
        let devices = unit_devices(3, flags.n_gpu_layers, NglRule::OutputFirst, &[1.0]);
        let places = place(&weights, &devices, &flags.rules());
        // token_embd .. blk.1.ffn_up_exps, each tensor padded to 32 bytes in the file (100 -> 128,
        // 10 -> 32), the GPU's attention tensors in between included
        assert_eq!(
            mapped_span(&weights, &places, &order, 32),
            Some(128 + 32 + 64 + 32 + 64)
        );
        // everything on the GPU but the embeddings: the span is the embeddings
        let none = place(&weights, &devices, &[]);
        assert_eq!(mapped_span(&weights, &none, &order, 32), Some(100));
    }

    #[test]
    fn host_buffers_follow_mmap_and_the_gather_support() {
        let mut embd = w("token_embd.weight", Unit::Input, 1);
        let mmap = OffloadFlags::default();
        let no_mmap = OffloadFlags {
            mmap: false,
            ..OffloadFlags::default()
        };
        assert_eq!(host_buffer(&embd, &mmap, 1), HostBuffer::CpuMapped);
        assert_eq!(host_buffer(&embd, &no_mmap, 1), HostBuffer::CudaHost);
        assert_eq!(host_buffer(&embd, &no_mmap, 0), HostBuffer::Cpu);
        embd.host_gather_unsupported = true;
        assert_eq!(host_buffer(&embd, &no_mmap, 1), HostBuffer::Cpu);
    }
}
