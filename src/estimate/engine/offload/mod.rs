//! llama.cpp CPU+GPU offload: which weights, KV and buffers land on which device under `-ngl`,
//! `-ot`, `--cpu-moe`, `--n-cpu-moe` and mmap, what must stay resident in system RAM, and the speed
//! of the split. It places every GGUF tensor of llama.cpp's accounting
//! ([`crate::estimate::engine::llamacpp`]) and replays the compute graph over the GPUs and the CPU
//! with that placement. Method and sources: docs/engines/offload.md.

pub mod flags;
pub mod placement;
pub mod solve;
pub mod speed;

pub use flags::{GpuLayers, OffloadFlags, Target, TensorOverride};
pub use placement::{Device, HostBuffer, NglRule, Rules, MODELED};

use super::llamacpp::backend::{Alloc, GpuBackend};
use super::llamacpp::compute::{self, Split as ComputeSplit};
use super::llamacpp::context::{self, Context};
use super::llamacpp::graph::Weight;
use super::llamacpp::model::Model;
use super::llamacpp::weights::{self, Name, Place, Tensor};
use super::llamacpp::{self, Figures, Settings};
use crate::estimate::arch::moe::expected_share_touched;
use crate::estimate::overhead;
use crate::estimate::prepared::Prepared;
use crate::estimate::recent::{remembered, Recent};
use serde::Serialize;
use speed::DecodeBytes;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// One GPU's share of a split model, under the names llama.cpp prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuPart {
    /// `CUDA0`, `CUDA1`, ...
    pub device: String,
    /// blocks whose layer (attention, norms, KV) is on this GPU
    pub blocks: u64,
    /// the output layer (`output.weight`, `output_norm`) is here
    pub output: bool,
    /// blocks whose routed experts are on this GPU (MoE)
    pub expert_blocks: u64,
    /// "CUDAi model buffer size"
    pub model_buffer_bytes: u64,
    /// "CUDAi KV buffer size"
    pub kv_buffer_bytes: u64,
    /// "CUDAi compute buffer size" (for prompts it holds the copies of the host weights one graph
    /// split multiplies on the GPU)
    pub compute_buffer_bytes: u64,
    /// CUDA context and cuBLAS workspace (not printed by llama.cpp)
    pub cuda_context_bytes: u64,
    pub total_bytes: u64,
}

/// The host's share: its buffers as printed and the RAM they hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostPart {
    /// blocks left on the CPU by `-ngl` (their weights and KV)
    pub blocks: u64,
    /// blocks whose routed experts are on the CPU (MoE)
    pub expert_blocks: u64,
    /// the model buffers as printed: "CPU_Mapped" (a span of the file), "CUDA_Host", "CPU"
    pub model_buffer_bytes: BTreeMap<HostBuffer, u64>,
    /// the bytes of the weights kept on the host: with mmap the pages the CPU reads (the rest of
    /// the printed span is page cache the kernel may drop), without mmap the buffers themselves
    pub weight_bytes: u64,
    /// "CPU KV buffer size": the KV of the blocks on the CPU (all of it with `--no-kv-offload`)
    pub kv_buffer_bytes: u64,
    /// "CUDA_Host compute buffer size" (graph inputs, the token-embedding lookup, CPU-side ops)
    pub compute_buffer_bytes: u64,
    /// logits: "CUDA_Host output buffer size" when the output layer is on a GPU, else "CPU"
    pub output_buffer_bytes: u64,
    /// RAM the run needs: weights, KV, compute and output buffers
    pub total_bytes: u64,
    /// pinned (page-locked) share of `total_bytes`: `CUDA_Host` buffers
    pub pinned_bytes: u64,
    pub mmap: bool,
}

/// A llama.cpp run split over GPUs and the host: every buffer per device, what one decoded token
/// reads on each side and the graph splits between them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Split {
    /// blocks in the model (`n_layer`); units are the blocks and the output layer
    pub n_layer: u64,
    /// units on the GPUs (llama.cpp's "offloaded N/n_layer+1 layers to GPU")
    pub gpu_units: u64,
    pub gpus: Vec<GpuPart>,
    pub host: HostPart,
    /// the log's `graph splits = A (with bs=<ubatch>), B (with bs=1)`
    pub graph_splits_prompt: u64,
    pub graph_splits_token: u64,
    /// what one decode step reads, per GPU and on the host
    #[serde(skip)]
    pub decode: DecodeBytes,
    /// host weights one prompt ubatch copies to the GPU (op offload; 0 when off or below 32 tokens)
    pub ubatch_copy_bytes: u64,
    /// the tensor overrides matched a tensor on a GPU index beyond those in use
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_gpu: Option<String>,
    /// whether the compute buffers hold pipeline parallelism's copies
    pub pipeline: Pipeline,
}

/// llama.cpp's pipeline parallelism for a split (src/llama-context.cpp): what `sched_reserve`
/// reserved the compute buffers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pipeline {
    /// not turned on (one GPU, a layer or the KV cache on the host, tensor overrides)
    Off,
    /// on: four copies of every graph input and every split input ([`compute::pipeline_parallel`])
    On,
    /// on, but the four-copy compute buffers did not fit a GPU that held its weights and KV cache:
    /// "compute buffer allocation failed, retrying without pipeline parallelism", one copy
    Dropped,
}

impl Split {
    /// Whether any weight or layer is on the host beyond the token embeddings.
    pub fn is_hybrid(&self) -> bool {
        self.host.blocks > 0 || self.host.expert_blocks > 0 || self.decode.host > 0
    }
}

/// Tokens of KV one decode step reads per sequence on a layer: the context, or the window of a
/// sliding-window layer.
pub(crate) fn kv_read_tokens(m: &Model, il: u64, context: u64) -> u64 {
    match m.window {
        Some(w) if m.is_swa(il) => context.min(w.size),
        _ => context,
    }
}

/// The backend index of a device for the scheduler: GPUs in order, the CPU last.
fn backend(d: Option<usize>, gpus: usize) -> usize {
    d.unwrap_or(gpus)
}

/// The context-independent part of a split: where every tensor is, the model buffers per device,
/// and what the weights cost a decode step and a prompt ubatch.
pub struct Layout {
    pub model: Model,
    pub gpus: usize,
    pub backend: GpuBackend,
    /// device of each unit (blocks, then the output layer); None: the CPU
    pub units: Vec<Option<usize>>,
    pub gpu_model: Vec<u64>,
    pub gpu_expert_blocks: Vec<u64>,
    pub host_expert_blocks: u64,
    pub host_buffers: BTreeMap<HostBuffer, u64>,
    pub host_weights: u64,
    pub pinned_weights: u64,
    /// weight bytes a decode step of `batch` reads per GPU and on the host
    pub gpu_reads: Vec<u64>,
    pub host_reads: u64,
    /// host weights a prompt ubatch copies to the GPU (op offload)
    pub ubatch_copy_bytes: u64,
    pub unknown_gpu: Option<String>,
    pub flags: OffloadFlags,
    pub no_kv_offload: bool,
    pub mmap: bool,
}

impl Layout {
    /// Where layer `il`'s KV cache lives.
    pub fn kv_device(&self, il: u64) -> Option<usize> {
        if self.no_kv_offload {
            None
        } else {
            self.units[il as usize]
        }
    }
}

/// Places `p`'s model over `gpus` equal GPUs and the host with `s`'s flags under a build's `rules`;
/// `batch` and `ubatch` size what a decode step and a prompt ubatch touch of the experts.
pub fn layout(p: &Prepared, s: &Settings, gpus: usize, batch: u64, ubatch: u64, rules: &Rules) -> Layout {
    let (m, file, _) = llamacpp::model_of(p);
    let n_layer = m.n_layer;
    let tensors = llamacpp::file_tensors(p, &file);
    let units = placement::unit_devices(n_layer, s.n_gpu_layers, rules.ngl, &vec![1.0; gpus]);
    let flags = s.offload;
    let devices = placement::place(&tensors, &units, &flags);
    let (experts, used) = m.experts.map_or((0, 0), |x| (x.count, x.used));
    let touched_share = |tokens: u64| expected_share_touched(experts, used, tokens);
    let (step_share, ubatch_share) = (touched_share(batch.max(1)), touched_share(ubatch));
    let op_offload = rules.backend.offloads_ops(ubatch, gpus, flags.no_op_offload);
    let mut l = Layout {
        model: m,
        gpus,
        backend: rules.backend,
        units,
        gpu_model: vec![0; gpus],
        gpu_expert_blocks: vec![0; gpus],
        host_expert_blocks: 0,
        host_buffers: BTreeMap::new(),
        host_weights: 0,
        pinned_weights: 0,
        gpu_reads: vec![0; gpus],
        host_reads: 0,
        ubatch_copy_bytes: 0,
        unknown_gpu: placement::unknown_gpu(&flags, gpus).map(|t| t.to_string()),
        flags,
        no_kv_offload: flags.no_kv_offload,
        mmap: s.mmap,
    };
    let mut expert_blocks: BTreeMap<u64, Device> = BTreeMap::new();
    let mut mapped = vec![false; tensors.len()];
    for (i, (t, d)) in tensors.iter().zip(&devices).enumerate() {
        let block = match t.place {
            Place::Layer(il) => Some(il),
            _ => None,
        };
        if let (true, Some(il)) = (t.routed, block) {
            expert_blocks.insert(il, *d);
        }
        // a decode step gathers `batch` rows of the token embeddings (GET_ROWS is never offloaded)
        let input = t.place == Place::Input;
        let read = match (input, t.routed) {
            (true, _) => 0,
            (false, true) => (t.nbytes as f64 * step_share) as u64,
            (false, false) => t.nbytes,
        };
        match d {
            Device::Gpu(g) if *g < gpus => {
                l.gpu_model[*g] += t.bytes_in(rules.backend.alloc());
                l.gpu_reads[*g] += read;
            }
            _ => {
                l.host_reads += read;
                if op_offload && !input {
                    l.ubatch_copy_bytes += if t.routed {
                        (t.nbytes as f64 * ubatch_share) as u64
                    } else {
                        t.nbytes
                    };
                }
                let overridden = flags.target_of(|| t.name.at(t.place), t.routed, block) == Some(Target::Cpu);
                match placement::host_buffer(t, overridden, s.mmap, gpus, rules) {
                    HostBuffer::CpuMapped => {
                        mapped[i] = true;
                        l.host_weights += t.nbytes;
                    }
                    buffer => {
                        let bytes = t.bytes_in(Alloc::Host);
                        *l.host_buffers.entry(buffer).or_default() += bytes;
                        l.host_weights += bytes;
                        if buffer == HostBuffer::CudaHost {
                            l.pinned_weights += bytes;
                        }
                    }
                }
            }
        }
    }
    for d in expert_blocks.values() {
        match d {
            Device::Gpu(g) if *g < gpus => l.gpu_expert_blocks[*g] += 1,
            _ => l.host_expert_blocks += 1,
        }
    }
    if mapped.iter().any(|&x| x) {
        let order = file_order(p, &tensors);
        if let Some(span) = placement::mapped_span(&tensors, &mapped, &order, placement::GGUF_ALIGNMENT) {
            l.host_buffers.insert(HostBuffer::CpuMapped, span);
        }
    }
    l
}

/// [`placement::quantize_order`] of `tensors`, `p`'s [`llamacpp::file_tensors`]: kept beside them
/// in the weight facts when they are kept there (every split of a search reads the same file).
fn file_order<'a>(p: &Prepared<'a>, tensors: &Cow<'a, [Tensor]>) -> Cow<'a, [usize]> {
    match tensors {
        Cow::Borrowed(t) => Cow::Borrowed(p.weights.llamacpp_order.get_or_init(|| placement::quantize_order(t))),
        Cow::Owned(t) => Cow::Owned(placement::quantize_order(t)),
    }
}

/// The compute buffers and graph splits of `l` for context `ctx`: the worst-case graphs replayed
/// over the GPUs and the CPU with this placement; `dropped`: without pipeline parallelism where
/// llama.cpp would turn it on (its retry, [`Pipeline::Dropped`]).
pub fn compute_buffers(p: &Prepared, l: &Layout, ctx: &Context, dropped: bool) -> compute::SplitBuffers {
    let gpus = l.gpus;
    let m = &l.model;
    let n_layer = m.n_layer;
    let format = p.setup.format;
    let layer_backends: Vec<usize> = (0..n_layer).map(|il| backend(l.units[il as usize], gpus)).collect();
    let flags = l.flags;
    let weight_backend = |w: Weight, layer: Option<u64>| {
        let place = layer.map_or(Place::Output, Place::Layer);
        let name = || {
            Name {
                base: w.gguf(),
                bias: false,
            }
            .at(place)
        };
        flags.target_of(name, w.routed(), layer).map(|t| match t {
            Target::Cpu => gpus,
            Target::Gpu(i) => (i as usize).min(gpus.saturating_sub(1)),
        })
    };
    let rules = llamacpp::type_rules(p);
    let weight_type = |w, layer| weights::weight_type(format, &rules, m, w, layer);
    let cs = ComputeSplit {
        gpus,
        backend: l.backend,
        layers: &layer_backends,
        output: backend(l.units[n_layer as usize], gpus),
        weight_backend: flags
            .has_overrides()
            .then_some(&weight_backend as &dyn Fn(Weight, Option<u64>) -> Option<usize>),
        pipeline_parallel: pipeline_parallel(l) && !dropped,
    };
    compute::split_buffers(m, &ctx.reserve(), &cs, &weight_type)
}

/// What a device holds beside llama.cpp's buffers: a CUDA GPU its context and cuBLAS workspace.
pub(super) fn context_bytes(p: &Prepared, backend: GpuBackend) -> u64 {
    if backend.has_cuda_context() {
        overhead::cuda_context(p.setup.runtime) + overhead::blas_workspace(p.gpu, p.setup.runtime)
    } else {
        0
    }
}

/// Whether llama.cpp turns pipeline parallelism on for layout `l` ([`compute::pipeline_parallel`]).
fn pipeline_parallel(l: &Layout) -> bool {
    compute::pipeline_parallel(
        l.gpus,
        l.units.iter().all(Option::is_some),
        !l.no_kv_offload,
        l.flags.has_overrides(),
    )
}

/// Assembles a [`Split`] from its layout, its context and its compute buffers.
pub fn assemble(
    p: &Prepared,
    l: &Layout,
    ctx: &Context,
    sb: &compute::SplitBuffers,
    context: u64,
    batch: u64,
) -> Split {
    let gpus = l.gpus;
    let m = &l.model;
    let n_layer = m.n_layer;
    let gpu_kv: Vec<u64> = (0..gpus)
        .map(|g| {
            ctx.kv_buffers(m, l.backend.alloc(), |il| l.kv_device(il) == Some(g))
                .total()
        })
        .collect();
    let host_kv = ctx.kv_buffers(m, Alloc::Host, |il| l.kv_device(il).is_none()).total();
    let cuda_context = context_bytes(p, l.backend);
    let mut decode = DecodeBytes {
        gpu: l.gpu_reads.clone(),
        host: l.host_reads,
        host_splits: (sb.splits_token as u64).saturating_sub(FULL_OFFLOAD_SPLITS),
    };
    let kv_row = ctx.type_k.row_size(m.n_embd_gqa()) + ctx.type_v.row_size(m.n_embd_gqa());
    for il in 0..n_layer {
        let bytes = kv_row
            .saturating_mul(kv_read_tokens(m, il, context))
            .saturating_mul(batch.max(1));
        match l.kv_device(il) {
            Some(g) => decode.gpu[g] = decode.gpu[g].saturating_add(bytes),
            None => decode.host = decode.host.saturating_add(bytes),
        }
    }
    let gpu_parts = (0..gpus)
        .map(|g| {
            let compute = sb.compute[g];
            GpuPart {
                device: l.backend.device_name(g),
                blocks: (0..n_layer).filter(|&il| l.units[il as usize] == Some(g)).count() as u64,
                output: l.units[n_layer as usize] == Some(g),
                expert_blocks: l.gpu_expert_blocks[g],
                model_buffer_bytes: l.gpu_model[g],
                kv_buffer_bytes: gpu_kv[g],
                compute_buffer_bytes: compute,
                cuda_context_bytes: cuda_context,
                // a graph too large to replay has a compute buffer of u64::MAX
                total_bytes: l.gpu_model[g]
                    .saturating_add(gpu_kv[g])
                    .saturating_add(compute)
                    .saturating_add(cuda_context),
            }
        })
        .collect();
    let host_compute = sb.compute[gpus];
    let output = context::output_buffer(m.n_vocab, ctx.n_seq_max);
    let output_on_gpu = l.units[n_layer as usize].is_some();
    // the CPU backend's compute buffer and the logits of an offloaded output layer are pinned too
    let lends_pinned = gpus > 0 && l.backend.pinned_host();
    let pinned = l
        .pinned_weights
        .saturating_add(if lends_pinned { host_compute } else { 0 })
        .saturating_add(if output_on_gpu && lends_pinned { output } else { 0 });
    Split {
        n_layer,
        gpu_units: l.units.iter().filter(|u| u.is_some()).count() as u64,
        gpus: gpu_parts,
        host: HostPart {
            blocks: (0..n_layer).filter(|&il| l.units[il as usize].is_none()).count() as u64,
            expert_blocks: l.host_expert_blocks,
            model_buffer_bytes: l.host_buffers.clone(),
            weight_bytes: l.host_weights,
            kv_buffer_bytes: host_kv,
            compute_buffer_bytes: host_compute,
            output_buffer_bytes: output,
            total_bytes: l
                .host_weights
                .saturating_add(host_kv)
                .saturating_add(host_compute)
                .saturating_add(output),
            pinned_bytes: pinned,
            mmap: l.mmap,
        },
        graph_splits_prompt: sb.splits_prompt as u64,
        graph_splits_token: sb.splits_token as u64,
        decode,
        ubatch_copy_bytes: l.ubatch_copy_bytes,
        unknown_gpu: l.unknown_gpu.clone(),
        pipeline: if pipeline_parallel(l) {
            Pipeline::On
        } else {
            Pipeline::Off
        },
    }
}

/// The split of `p`'s model over `gpus` equal GPUs (`p.gpu`, `p.budget` each) and the host, with
/// `s`'s placement flags, for `batch` slots of `context` tokens, under the placement `rules` of a
/// llama.cpp build, as llama.cpp starts it: [`scheduled_split`], or without pipeline parallelism
/// where it retries so ([`retries_without_pipeline`]). GPUs share the units in proportion to their
/// (equal) free memory.
pub fn split(p: &Prepared, s: &Settings, gpus: usize, context: u64, batch: u64, rules: &Rules) -> Split {
    let sp = scheduled_split(p, s, gpus, context, batch, rules);
    if retries_without_pipeline(&sp, p.budget) {
        replayed(p, s, gpus, context, batch, rules, true)
    } else {
        sp
    }
}

/// [`split`] as the scheduler first reserves it, pipeline parallelism on where llama.cpp turns it
/// on, whatever the GPUs' size: what the split search's plans replay (they hold for every GPU).
pub fn scheduled_split(p: &Prepared, s: &Settings, gpus: usize, context: u64, batch: u64, rules: &Rules) -> Split {
    replayed(p, s, gpus, context, batch, rules, false)
}

/// `sched_reserve`'s retry (src/llama-context.cpp): with pipeline parallelism on, the prompt graph's
/// compute buffers fail to allocate on some GPU (its total passes `budget`), and llama.cpp reserves
/// again with one copy. Only once every GPU holds its weights, KV cache and CUDA context within
/// `budget`: else loading the model or creating the cache fails first, and no graph is reserved.
pub fn retries_without_pipeline(sp: &Split, budget: u64) -> bool {
    let before_compute = |g: &GpuPart| {
        [g.kv_buffer_bytes, g.cuda_context_bytes]
            .into_iter()
            .fold(g.model_buffer_bytes, u64::saturating_add)
    };
    sp.pipeline == Pipeline::On
        && sp.gpus.iter().all(|g| before_compute(g) <= budget)
        && sp.gpus.iter().any(|g| g.total_bytes > budget)
}

/// [`place_and_replay`], remembered per thread.
fn replayed(p: &Prepared, s: &Settings, gpus: usize, context: u64, batch: u64, rules: &Rules, dropped: bool) -> Split {
    let key = (
        PlacementKey::of(p, s, rules, gpus, context, batch),
        p.gpu.id.clone(),
        dropped,
    );
    remembered(&SPLITS, key, || {
        place_and_replay(p, s, gpus, context, batch, rules, dropped)
    })
}

/// What a placement of `p`'s model depends on besides the GPU: the spec (its id and its parameter
/// counts, which tell apart two specs of one id), the format, the settings and rules, the devices
/// and the sizes. A split adds the GPU (its CUDA context); a search plan does not. Not the stage:
/// a split places the whole file, so every stage of a replica, and the offload search's setup of
/// the same GPUs, ask for one split.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PlacementKey {
    // the sizes first: the derived equality stops at the first field that differs
    context: u64,
    batch: u64,
    gpus: usize,
    parameters: (u64, u64),
    format: &'static str,
    model: String,
    settings: Settings,
    rules: Rules,
}

impl PlacementKey {
    pub(super) fn of(p: &Prepared, s: &Settings, rules: &Rules, gpus: usize, context: u64, batch: u64) -> Self {
        PlacementKey {
            model: p.setup.model.id.clone(),
            format: p.setup.format.id,
            parameters: (p.facts.parameters, p.facts.active_parameters),
            settings: *s,
            rules: *rules,
            gpus,
            context,
            batch,
        }
    }
}

thread_local! {
    /// Splits remembered per thread: every stage of a replica, its itemized memory and its engine
    /// report ask for the same one, and each costs a graph replay.
    static SPLITS: RefCell<Recent<(PlacementKey, String, bool), Split>> = const { RefCell::new(Recent::new(16)) };
    /// [`totals_before_compute`] remembered as the splits are (the searches ask before each split).
    static PLACED: RefCell<Recent<(PlacementKey, String), Vec<u64>>> = const { RefCell::new(Recent::new(16)) };
}

/// The split placed and its graphs replayed; `dropped`: without pipeline parallelism where
/// llama.cpp would turn it on.
fn place_and_replay(
    p: &Prepared,
    s: &Settings,
    gpus: usize,
    context: u64,
    batch: u64,
    rules: &Rules,
    dropped: bool,
) -> Split {
    let (l, ctx) = place(p, s, gpus, context, batch, rules);
    let sb = compute_buffers(p, &l, &ctx, dropped);
    let sp = assemble(p, &l, &ctx, &sb, context, batch);
    match sp.pipeline {
        Pipeline::On if dropped => Split {
            pipeline: Pipeline::Dropped,
            ..sp
        },
        _ => sp,
    }
}

/// The layout and the context of [`split`]'s arguments: everything but the graph replay.
fn place(p: &Prepared, s: &Settings, gpus: usize, context: u64, batch: u64, rules: &Rules) -> (Layout, Context) {
    let (m, _, _) = llamacpp::model_of(p);
    let ctx = Context::new(&m, &llamacpp::params(s, context, batch));
    (layout(p, s, gpus, batch, ctx.n_ubatch, rules), ctx)
}

/// Each GPU's total of [`split`] without its compute buffer (model and KV buffers, CUDA context),
/// from the placement alone: a lower bound of the GPU's total that costs no graph replay (the
/// compute buffer only adds). A GPU over its budget by these bytes alone needs no replay to fail.
pub fn totals_before_compute(
    p: &Prepared,
    s: &Settings,
    gpus: usize,
    context: u64,
    batch: u64,
    rules: &Rules,
) -> Vec<u64> {
    let key = (PlacementKey::of(p, s, rules, gpus, context, batch), p.gpu.id.clone());
    remembered(&PLACED, key, || {
        let (l, ctx) = place(p, s, gpus, context, batch, rules);
        let none = compute::SplitBuffers {
            compute: vec![0; gpus + 1],
            ..compute::SplitBuffers::default()
        };
        let sp = assemble(p, &l, &ctx, &none, context, batch);
        sp.gpus.iter().map(|g| g.total_bytes).collect()
    })
}

/// Graph splits of a one-token graph with every unit on one GPU: the token-embedding lookup on the
/// CPU, the rest on the GPU. A split beyond these hands work between the GPU and the CPU.
pub const FULL_OFFLOAD_SPLITS: u64 = 2;

/// Whether `s` splits the model beyond llama.cpp's default of every unit on one GPU: tensor
/// overrides, a layer count, the KV cache kept on the host, or several GPUs sharing the layers
/// (`p.setup.pp` devices: llama.cpp's default `--split-mode layer`).
pub fn is_split(p: &Prepared, s: &Settings) -> bool {
    let n_layer = p
        .setup
        .model
        .architecture
        .as_ref()
        .map_or(p.geometry.layers, |a| a.layers);
    s.offload.has_overrides()
        || s.offload.no_kv_offload
        || s.n_gpu_layers.is_some_and(|n| n <= n_layer)
        || devices(p) > 1
}

/// The GPUs llama.cpp splits the layers over for `p`: one per pipeline stage of the replica (it has
/// no tensor parallelism of its own; a replica of N GPUs is N stages, stage i on `CUDA{i}`).
pub fn devices(p: &Prepared) -> usize {
    p.setup.pp.max(1) as usize
}

/// llama.cpp's figures for `p`'s GPU of a split (`CUDA{stage}` of [`devices`]): the context's sizes
/// from llama.cpp's own accounting, the buffers from the placement.
pub fn figures(p: &Prepared, s: &Settings, context: u64, batch: u64) -> Figures {
    let sp = split(p, s, devices(p), context, batch, &MODELED);
    let g = &sp.gpus[device(p, &sp)];
    let compute = compute::ComputeBuffers {
        device: g.compute_buffer_bytes,
        host: sp.host.compute_buffer_bytes,
    };
    let base = llamacpp::figures_with_compute(p, s, context, batch, compute);
    Figures {
        gpu_layers: sp.gpu_units,
        model_buffer_bytes: g.model_buffer_bytes,
        host_model_buffer_bytes: sp.host.model_buffer_bytes.values().sum(),
        kv_buffer_bytes: g.kv_buffer_bytes,
        host_kv_buffer_bytes: sp.host.kv_buffer_bytes,
        compute_buffer_bytes: g.compute_buffer_bytes,
        host_compute_buffer_bytes: sp.host.compute_buffer_bytes,
        ..base
    }
}

/// Index into `sp.gpus` of `p`'s GPU (its stage; a split always has at least one GPU).
fn device(p: &Prepared, sp: &Split) -> usize {
    (p.setup.stage as usize).min(sp.gpus.len().saturating_sub(1))
}

/// GPU bytes of `p`'s GPU of a split (model, KV, compute, CUDA context).
pub fn total(p: &Prepared, s: &Settings, context: u64, batch: u64) -> u64 {
    let sp = split(p, s, devices(p), context, batch, &MODELED);
    sp.gpus[device(p, &sp)].total_bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::arch::check_declared;
    use crate::plan::layout::{Layout as Gpus, Replica};
    use crate::plan::Options;
    use crate::spec::{Catalog, Format};

    fn q4_k_m_on_rtx_3090() -> (Catalog, crate::spec::GpuSpec, Options) {
        let c = Catalog::embedded(check_declared).expect("embedded catalog");
        let g = c.gpu("rtx-3090").expect("gpu");
        let opts = Options {
            precision: Format::parse("q4_k_m"),
            ..Options::default()
        };
        (c, g, opts)
    }

    /// The placement key leaves out the stage: every stage of a replica on N GPUs places the whole
    /// file over them, as the whole model does (the offload search's setup), and the figures built
    /// on a split's own compute buffers are those built on a replay of one GPU's, but for them.
    #[test]
    fn every_stage_places_and_replays_the_same_split() {
        let (c, g, opts) = q4_k_m_on_rtx_3090();
        for id in ["gemma-3-27b", "qwen3-235b-a22b"] {
            let m = c.model(id, check_declared).expect("model");
            let whole = Replica::new(&m, &g, &opts, Gpus::SINGLE);
            let whole = whole.stages();
            let w = whole.first();
            let crate::estimate::engine::Settings::LlamaCpp(s) = w.settings else {
                panic!("{id}: llama.cpp");
            };
            for gpus in [2, 3] {
                let replica = Replica::new(&m, &g, &opts, Gpus { tp: 1, pp: gpus });
                let stages = replica.stages();
                let expected = place_and_replay(w, &s, gpus as usize, 8192, 1, &MODELED, false);
                for p in stages.all() {
                    assert_eq!(
                        PlacementKey::of(p, &s, &MODELED, 2, 8192, 1),
                        PlacementKey::of(w, &s, &MODELED, 2, 8192, 1)
                    );
                    assert_eq!(
                        place_and_replay(p, &s, gpus as usize, 8192, 1, &MODELED, false),
                        expected,
                        "{id} stage {}",
                        p.setup.stage
                    );
                    let before = totals_before_compute(p, &s, gpus as usize, 8192, 1, &MODELED);
                    let totals: Vec<u64> = expected
                        .gpus
                        .iter()
                        .map(|g| g.total_bytes - g.compute_buffer_bytes)
                        .collect();
                    assert_eq!(before, totals, "{id}");
                    let replayed = llamacpp::figures(p, &s, 8192, 1);
                    let given = compute::ComputeBuffers {
                        device: replayed.compute_buffer_bytes,
                        host: replayed.host_compute_buffer_bytes,
                    };
                    assert_eq!(llamacpp::figures_with_compute(p, &s, 8192, 1, given), replayed, "{id}");
                }
            }
        }
    }

    /// The file order compares names byte by byte without building them: the order of the full
    /// names, for every catalog model's GGUF tensors.
    #[test]
    fn the_file_order_is_the_full_names_order() {
        let (c, g, opts) = q4_k_m_on_rtx_3090();
        for m in c.model_specs() {
            let replica = Replica::new(m, &g, &opts, Gpus::SINGLE);
            let stages = replica.stages();
            let p = stages.first();
            let (_, file, _) = llamacpp::model_of(p);
            let tensors = llamacpp::file_tensors(p, &file);
            let mut named: Vec<usize> = (0..tensors.len()).collect();
            named.sort_by_cached_key(|&i| {
                let t = &tensors[i];
                let layer = match t.place {
                    Place::Layer(il) => il as i64,
                    _ => -1,
                };
                (layer, t.name.at(t.place))
            });
            assert_eq!(placement::quantize_order(&tensors), named, "{}", m.id);
        }
    }
}
