//! The compute buffers: `llama_context::sched_reserve` builds the worst-case graph three times
//! (prompt, one token per sequence, prompt again), the scheduler splits each over the backends, and
//! the graph allocator sizes each backend's buffer; a buffer keeps the largest size any pass needed.

use super::backend::{cuda_row_padding, GpuBackend};
use super::gallocr::{self, BufferType};
use super::ggml::{Graph, Id, Op, Type};
use super::graph::{self, Cache, Placement, Ubatch, Weight};
use super::model::Model;
use super::sched::{self, Backend};

/// The batch from which the CUDA backend claims ops on weights in host memory and copies the
/// weights over (`ggml_backend_cuda_device_offload_op`, `GGML_OP_OFFLOAD_MIN_BATCH`).
pub const OP_OFFLOAD_MIN_BATCH: u64 = 32;

/// ggml's `TENSOR_ALIGNMENT`: the CPU and CUDA host (pinned) buffer types.
pub const HOST_ALIGNMENT: u64 = 32;
/// The CUDA buffer type's alignment (`ggml_backend_cuda_buffer_type_get_alignment`).
pub const CUDA_ALIGNMENT: u64 = 128;
/// CUDA's `MATRIX_ROW_PADDING`: quantized rows are padded to a multiple of this many elements.
pub const MATRIX_ROW_PADDING: u64 = 512;

/// The CPU backend's buffers (and CUDA's pinned host buffers): `ggml_nbytes`, 32-byte aligned.
pub struct HostBuffer;

impl BufferType for HostBuffer {
    fn alignment(&self) -> u64 {
        HOST_ALIGNMENT
    }
    fn alloc_size(&self, g: &Graph, t: Id) -> u64 {
        g.t[t].nbytes()
    }
}

/// A CUDA device buffer (`ggml_backend_cuda_buffer_type_get_alloc_size`).
pub struct CudaBuffer;

impl BufferType for CudaBuffer {
    fn alignment(&self) -> u64 {
        CUDA_ALIGNMENT
    }
    fn alloc_size(&self, g: &Graph, t: Id) -> u64 {
        let tensor = &g.t[t];
        let size = if tensor.op == Op::FlashAttnExt {
            flash_attn_alloc_size(g, t)
        } else {
            tensor.nbytes()
        };
        size + cuda_row_padding(tensor.ty, tensor.ne[0])
    }
}

/// `ggml_cuda_flash_attn_ext_get_alloc_size`: the output plus room for f16 copies of a K and V that
/// are not f16 (the tile and MMA kernels, which run the prompt batches, read f16 only).
fn flash_attn_alloc_size(g: &Graph, t: Id) -> u64 {
    let tensor = &g.t[t];
    let mut end = tensor.nbytes();
    for &src in tensor.src.iter().skip(1).take(2) {
        if g.t[src].ty != Type::F16 {
            end = end.div_ceil(128) * 128 + g.t[src].elements() * 2;
        }
    }
    end
}

/// Where the model runs: the CPU backend alone, or one CUDA device with the CPU beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Devices {
    Cpu,
    /// one GPU holding the last `gpu_layers` of the `n_layer + 1` layers (the output counts as one)
    Cuda {
        gpu_layers: u64,
    },
}

impl Devices {
    /// Layers on the GPU of the `n_layer + 1` (the output layer counts as one).
    pub fn gpu_layers(self, n_layer: u64) -> u64 {
        match self {
            Devices::Cpu => 0,
            Devices::Cuda { gpu_layers } => gpu_layers.min(n_layer + 1),
        }
    }
}

/// The context the graphs are reserved for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reserve {
    pub cache: Cache,
    pub n_ubatch: u64,
    /// `n_seq_max`
    pub n_seqs: u64,
    /// rows of logits the context reserves (`n_outputs_max`)
    pub n_outputs_max: u64,
}

/// The graphs `sched_reserve` reserves: the prompt (`n_tokens = min(n_ctx, n_ubatch)`, at most
/// `n_outputs_max` outputs) and one token per sequence; `graph_reserve` rounds `n_tokens` up to a
/// multiple of `n_seqs`. (It then reserves the prompt graph again, which needs the same sizes.)
fn passes(r: &Reserve) -> [Ubatch; 2] {
    let n_ctx = r.cache.kv_size.saturating_mul(r.cache.n_stream);
    let seqs = r.n_seqs.max(1);
    let prompt = Ubatch {
        n_tokens: n_ctx.min(r.n_ubatch).div_ceil(seqs).saturating_mul(seqs),
        n_seqs: seqs,
        n_outputs: n_ctx.min(r.n_ubatch).min(r.n_outputs_max).max(1),
    };
    let token = Ubatch {
        n_tokens: seqs,
        n_seqs: seqs,
        n_outputs: seqs,
    };
    [prompt, token]
}

/// Compute buffer sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ComputeBuffers {
    /// the GPU's buffer ("CUDA0 compute buffer"), or the CPU's when there is no GPU
    pub device: u64,
    /// the CPU backend's buffer beside a GPU ("CUDA_Host compute buffer"); 0 without a GPU
    pub host: u64,
}

/// Above this, a reserve is sized as "more than any device" without replaying it (2^56 bytes).
const REPLAY_LIMIT: u64 = 1 << 56;

/// A bound on the bytes of the largest tensors a reserve creates (scores, K and V, the per-token
/// activations and logits): when it passes [`REPLAY_LIMIT`], no device could hold the graph and
/// replaying it could overflow byte arithmetic.
fn size_bound(m: &Model, r: &Reserve) -> u64 {
    let product = |xs: &[u64]| xs.iter().fold(1u64, |a, &x| a.saturating_mul(x.max(1)));
    let cells = r.cache.kv_size.saturating_mul(r.cache.n_stream);
    let tokens = r.n_ubatch.max(r.n_seqs);
    let ff = m.experts.map_or(m.n_ff, |x| x.ff.saturating_mul(x.used)).max(m.n_ff);
    let width = [m.n_vocab, ff, m.n_embd, m.n_head.saturating_mul(m.head_dim)]
        .into_iter()
        .fold(0u64, u64::saturating_add);
    [
        product(&[cells, tokens, m.n_head, 4]),
        product(&[cells, m.n_embd_gqa(), 4]),
        product(&[tokens, width, 4]),
    ]
    .into_iter()
    .fold(0u64, u64::saturating_add)
    .saturating_mul(64)
}

/// A model split over GPUs and the CPU: backends `0..gpus` are the GPUs in order, backend `gpus`
/// the CPU (llama.cpp lists the CPU last).
pub struct Split<'a> {
    pub gpus: usize,
    /// the backend of the GPUs
    pub backend: GpuBackend,
    /// each layer's backend (its weights and KV)
    pub layers: &'a [usize],
    /// the output layer's backend
    pub output: usize,
    /// weights a tensor override moved off their layer's backend
    pub weight_backend: Option<&'a dyn Fn(Weight, Option<u64>) -> Option<usize>>,
    /// llama.cpp's pipeline parallelism is on (see [`pipeline_parallel`])
    pub pipeline_parallel: bool,
}

/// Copies of every graph input and split input the scheduler keeps with pipeline parallelism
/// (`GGML_SCHED_MAX_COPIES`, ggml/src/ggml-backend.cpp), 1 without.
const SCHED_MAX_COPIES: usize = 4;

/// Whether llama.cpp turns pipeline parallelism on (src/llama-context.cpp, before `sched_reserve`):
/// several GPUs, every layer and the output layer on them (`n_gpu_layers > n_layer`), the layer
/// split, the KV cache on the GPUs (`offload_kqv`) and no tensor override (`-ot`, `--cpu-moe`,
/// `--n-cpu-moe`); the CUDA backend has the async copies and events it also asks for.
pub fn pipeline_parallel(gpus: usize, every_unit_on_gpus: bool, kv_on_gpus: bool, overrides: bool) -> bool {
    gpus > 1 && every_unit_on_gpus && kv_on_gpus && !overrides
}

/// What the scheduler and the allocator make of a split model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SplitBuffers {
    /// compute buffer per backend: the GPUs', then the CPU's ("CUDA_Host compute buffer")
    pub compute: Vec<u64>,
    /// graph splits of the prompt graph and of the one-token graph (the log's `graph splits = A
    /// (with bs=512), B (with bs=1)`)
    pub splits_prompt: usize,
    pub splits_token: usize,
}

/// The compute buffers of `m` reserved as `r` over `split`; `weight_type` gives each weight's type
/// (it matters where a weight is copied to another backend).
pub fn split_buffers(
    m: &Model,
    r: &Reserve,
    split: &Split,
    weight_type: &dyn Fn(Weight, Option<u64>) -> Type,
) -> SplitBuffers {
    if size_bound(m, r) >= REPLAY_LIMIT {
        return SplitBuffers {
            compute: vec![u64::MAX; split.gpus + 1],
            ..SplitBuffers::default()
        };
    }
    let full = split.layers.iter().all(|&b| b < split.gpus) && split.output < split.gpus;
    let mut backends: Vec<Backend> = (0..split.gpus)
        .map(|_| Backend {
            is_cpu: false,
            offload_min_batch: split.backend.offload_min_batch(),
        })
        .collect();
    backends.push(Backend {
        is_cpu: true,
        offload_min_batch: None,
    });
    let gpu_buft = split.backend.alloc().buffer_type();
    let mut bufts: Vec<&dyn BufferType> = vec![gpu_buft; split.gpus];
    bufts.push(&HostBuffer);
    let mut out = SplitBuffers {
        compute: vec![0; split.gpus + 1],
        ..SplitBuffers::default()
    };
    for ub in passes(r) {
        let pl = Placement {
            input: split.gpus,
            layers: split.layers,
            output: split.output,
            // llama_context::graph_get_cb: pinned under full offload or for small batches
            pin_norms: full || ub.n_tokens < 32,
            weight_type,
            weight_backend: split.weight_backend,
        };
        let g = graph::build(m, ub, r.cache, &pl);
        let copies = if split.pipeline_parallel { SCHED_MAX_COPIES } else { 1 };
        let s = sched::split(g, &backends, copies);
        if ub.n_tokens == ub.n_seqs {
            out.splits_token = s.splits;
        } else {
            out.splits_prompt = s.splits;
        }
        let sizes = gallocr::reserve(&s.graph, &s.nodes, &s.leafs, &bufts);
        for (o, size) in out.compute.iter_mut().zip(sizes) {
            *o = (*o).max(size);
        }
    }
    out
}

/// Replays remembered per thread (the searches and the matrix ask for the same reserve on every GPU
/// and weight format); cleared when it holds this many.
const MEMO_CAPACITY: usize = 1 << 14;

type MemoKey = (Model, Reserve, Devices);

thread_local! {
    static MEMO: std::cell::RefCell<std::collections::HashMap<MemoKey, ComputeBuffers>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The compute buffers for `m` reserved as `r` on `devices`; `weight_type` gives each weight's type
/// (it matters only where a weight is copied to another backend).
///
/// With every layer on one backend no weight is copied: the allocator never places weights (they
/// have their buffers), and the activations are f32 whatever the weights' types. The result then
/// depends on `(m, r, devices)` alone and is remembered, so that the context searches of one model
/// on every GPU and in every format replay each reserve once
/// (`without_copies_the_weight_types_do_not_matter`).
pub fn compute_buffers(
    m: &Model,
    r: &Reserve,
    devices: Devices,
    weight_type: &dyn Fn(Weight, Option<u64>) -> Type,
) -> ComputeBuffers {
    let copies_weights = match devices {
        Devices::Cpu => false,
        Devices::Cuda { gpu_layers } => gpu_layers <= m.n_layer,
    };
    if copies_weights {
        return replay(m, r, devices, weight_type);
    }
    let key = (*m, *r, devices);
    if let Some(b) = MEMO.with(|memo| memo.borrow().get(&key).copied()) {
        return b;
    }
    let b = replay(m, r, devices, weight_type);
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        if memo.len() >= MEMO_CAPACITY {
            memo.clear();
        }
        memo.insert(key, b);
    });
    b
}

/// [`compute_buffers`] without the memo: the three reserves replayed op by op.
fn replay(
    m: &Model,
    r: &Reserve,
    devices: Devices,
    weight_type: &dyn Fn(Weight, Option<u64>) -> Type,
) -> ComputeBuffers {
    if size_bound(m, r) >= REPLAY_LIMIT {
        return ComputeBuffers {
            device: u64::MAX,
            host: u64::MAX,
        };
    }
    let n_layer = m.n_layer as usize;
    match devices {
        Devices::Cpu => {
            let mut device = 0;
            for ub in passes(r) {
                let layers = vec![0; n_layer];
                let pl = Placement {
                    input: 0,
                    layers: &layers,
                    output: 0,
                    pin_norms: false,
                    weight_type,
                    weight_backend: None,
                };
                let g = graph::build(m, ub, r.cache, &pl);
                let nodes: Vec<(Id, usize)> = g.nodes.iter().map(|&n| (n, 0)).collect();
                let leafs: Vec<(Id, usize)> = g.leafs.iter().map(|&n| (n, 0)).collect();
                let sizes = gallocr::reserve(&g, &nodes, &leafs, &[&HostBuffer]);
                device = device.max(sizes[0]);
            }
            ComputeBuffers { device, host: 0 }
        }
        Devices::Cuda { gpu_layers } => {
            let first_gpu = (m.n_layer + 1).saturating_sub(gpu_layers);
            let layers: Vec<usize> = (0..m.n_layer).map(|il| usize::from(il < first_gpu)).collect();
            let split = Split {
                gpus: 1,
                backend: GpuBackend::Cuda,
                layers: &layers,
                output: usize::from(gpu_layers == 0),
                weight_backend: None,
                // one GPU
                pipeline_parallel: false,
            };
            let b = split_buffers(m, r, &split, weight_type);
            ComputeBuffers {
                device: b.compute[0],
                host: b.compute[1],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::Context;
    use super::super::model::measured::{mib, run, RUNS};
    use super::*;

    /// The CPU compute buffer llama.cpp printed for a measured run.
    fn check(id: &str) {
        let r = run(id);
        let ctx = Context::new(&r.model, &r.params);
        let bytes = compute_buffers(&r.model, &ctx.reserve(), Devices::Cpu, &|_, _| Type::Q8_0).device;
        assert_eq!(mib(bytes, 4), r.compute, "{id}");
    }

    /// The memo's premise: with every layer on one backend, the weight types change nothing.
    #[test]
    fn without_copies_the_weight_types_do_not_matter() {
        for id in ["llama-3.1-8b-ctx8192-fa-off", "gpt-oss-20b-ctx16384-fa-off-swa"] {
            let r = run(id);
            let reserve = Context::new(&r.model, &r.params).reserve();
            for devices in [
                Devices::Cpu,
                Devices::Cuda {
                    gpu_layers: r.model.n_layer + 1,
                },
            ] {
                let sizes: Vec<ComputeBuffers> = [Type::F32, Type::F16, Type::Q8_0, Type::Q4_K]
                    .into_iter()
                    .map(|ty| replay(&r.model, &reserve, devices, &|_, _| ty))
                    .collect();
                assert!(sizes.windows(2).all(|w| w[0] == w[1]), "{id} {devices:?}: {sizes:?}");
                assert_eq!(
                    compute_buffers(&r.model, &reserve, devices, &|_, _| Type::Q6_K),
                    sizes[0]
                );
            }
        }
    }

    #[test]
    fn without_flash_attention_the_f32_scores_dominate() {
        check("llama-3.1-8b-ctx8192-fa-off");
        check("llama-3.1-8b-ctx16384-np4-unified");
        check("gpt-oss-20b-ctx16384-fa-off-swa");
    }

    #[test]
    fn with_flash_attention_the_logits_or_the_ffn_dominate() {
        check("llama-3.1-8b-ctx8192-fa-on");
        check("qwen2.5-7b-ctx32768-fa-on");
        check("phi-3.5-mini-ctx16384-fa-on");
    }

    #[test]
    fn the_ubatch_sizes_every_activation() {
        check("llama-3.1-8b-ctx4096-ub2048");
        check("llama-3.1-8b-ctx5000-ub128");
    }

    #[test]
    fn n_outputs_max_sizes_the_logits() {
        check("llama-3.1-8b-ctx16384-np4-unified-outs4");
        check("mixtral-8x7b-ctx8192-fa-on-outs1");
        check("qwen3-30b-a3b-ctx32768-np4-unified-outs4");
    }

    #[test]
    fn per_slot_streams_split_the_mask() {
        check("llama-3.1-8b-ctx16384-np4-streams");
        check("gemma-3-4b-ctx32768-np2-fa-off-swa");
    }

    #[test]
    fn sliding_window_models_attend_over_two_caches() {
        check("gemma-2-2b-ctx8192-fa-on-swa");
        check("gemma-3-4b-ctx32768-fa-on-swa");
        check("gpt-oss-20b-ctx65536-np4-unified-swa");
    }

    #[test]
    fn expert_layers_route_top_k() {
        check("mixtral-8x7b-ctx4096-fa-off");
        check("qwen1.5-moe-a2.7b-ctx8192-fa-on");
        check("qwen3-30b-a3b-ctx8192-fa-on");
    }

    /// PhiMoE (phimoe.cpp: Phi-3's graph with biased LayerNorm weights, biased q, k, v and output
    /// projections, 16 experts top-2, an output bias) in the three runs of the llama.cpp check:
    /// validation/records/llamacpp-cpu-phi-3.5-moe_q4_k_m_*.json, the compute size printed at exit.
    #[test]
    fn phimoe_adds_every_bias_of_its_file() {
        use super::super::context::Params;
        use super::super::model::measured::PHI_3_5_MOE;
        let params = |n_ctx, n_ubatch, n_seq_max, flash_attn, ty| Params {
            n_ctx,
            n_batch: 2048,
            n_ubatch,
            n_seq_max,
            kv_unified: false,
            swa_full: false,
            // the probe reserves llama-server's logit rows: one per slot
            n_outputs_max: Some(n_seq_max),
            flash_attn,
            type_k: ty,
            type_v: ty,
        };
        for (p, printed) in [
            (params(4096, 512, 1, true, Type::F16), "119.0176"),
            (params(4096, 2048, 4, false, Type::F16), "484.0547"),
            (params(32768, 512, 1, true, Type::Q8_0), "147.0957"),
        ] {
            let ctx = Context::new(&PHI_3_5_MOE, &p);
            let bytes = compute_buffers(&PHI_3_5_MOE, &ctx.reserve(), Devices::Cpu, &|_, _| Type::Q4_K).device;
            assert_eq!(mib(bytes, 4), printed);
        }
    }

    #[test]
    fn quantized_caches_add_rotation_inputs() {
        check("llama-3.1-8b-ctx32768-fa-on-q8");
        check("qwen3-8b-ctx40960-fa-on-q8");
    }

    #[test]
    fn every_measured_run_reproduces() {
        for r in RUNS {
            check(r.id);
        }
    }

    #[test]
    fn the_gpu_gets_the_graph_and_the_host_the_inputs() {
        // llama-server, Qwen3-4B Q4_K_M, -c 8192 -np 4 (unified), all layers on the GPU: the log of
        // validation/field/llamacpp-server-qwen3-4b-q4km-ctx8192.json prints 85.01 and 28.02 MiB
        let m = Model {
            n_embd: 2560,
            n_ff: 9728,
            ..super::super::model::measured::QWEN3_8B
        };
        let ctx = Context::new(
            &m,
            &super::super::context::Params {
                n_ctx: 8192,
                n_seq_max: 4,
                kv_unified: true,
                n_outputs_max: Some(4),
                ..run("qwen3-8b-ctx40960-fa-on-q8").params
            },
        );
        let ctx = Context {
            type_k: Type::F16,
            type_v: Type::F16,
            ..ctx
        };
        let b = compute_buffers(&m, &ctx.reserve(), Devices::Cuda { gpu_layers: 37 }, &|_, _| Type::Q4_K);
        assert_eq!((mib(b.device, 2), mib(b.host, 2)), ("85.01".into(), "28.02".into()));
    }
}
