//! llama.cpp's memory accounting, buffer by buffer as it prints them at start-up
//! (docs/engines/llamacpp.md), for the build vendored by the crates.io crate llama-cpp-sys-2 0.1.161:
//!
//! - model buffers: every weight tensor on the device of its layer (`-ngl`), token embeddings on the
//!   host ([`weights`]);
//! - KV buffers: the padded cells of each slot's stream, per layer, and the sliding-window cache
//!   ([`context`]);
//! - compute buffers: the worst-case graphs replayed op by op ([`graph`]), split over the GPU and the
//!   CPU by a port of ggml's scheduler and sized by a port of its graph allocator ([`compute`]);
//! - the output buffer: one row of logits per slot.
//!
//! gpuplan's context is tokens per sequence and its batch the slots, so llama.cpp runs with
//! `-c context x batch -np batch`.

pub mod backend;
pub mod compute;
pub mod context;
pub mod fit;
mod gallocr;
pub mod ggml;
pub mod graph;
pub mod model;
pub mod profile;
mod sched;
pub mod weights;

pub use profile::{Entry, Flags, FlashAttn, Settings, LLAMA_CPP, VERSION};

use super::report::Refusal;
use crate::estimate::breakdown::{Memory, Phase, Term};
use crate::estimate::overhead;
use crate::estimate::prepared::Prepared;
use crate::estimate::search::largest;
use crate::estimate::weights::Component;
use crate::spec::precision::{KvPrecision, TypeRules};
use backend::Alloc;
use compute::{ComputeBuffers, Devices};
use context::{Context, KvBuffers, Params};
use ggml::Type;
use serde::Serialize;
use std::borrow::Cow;
use weights::ModelBuffers;

/// Whether the compute graph replayed is the one llama.cpp builds for the architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComputeGraph {
    /// the architecture's own graph family (src/models/<name>.cpp)
    Modeled,
    /// llama.cpp has the architecture but gpuplan does not replay its graph (phi2.cpp; DeepSeek's
    /// multi-head latent attention in deepseek2.cpp), or the spec has no architecture: the Llama
    /// graph of the same shapes stands in (compute buffer approximate, KV as plain attention)
    Approximated,
    /// the modeled llama.cpp has no such architecture (Phi-3-small, Phi-3-vision: its
    /// convert_hf_to_gguf.py rejects them), so a GGUF of the model would not load; the figures are
    /// the Llama graph's of the same shapes
    Unsupported,
}

/// llama.cpp's start-up figures for one GPU, under the names its log uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    /// `n_ctx` as the KV cache holds it (padded), over all slots
    pub n_ctx: u64,
    /// `n_ctx_seq`: the context one slot gets
    pub n_ctx_per_seq: u64,
    /// `n_seq_max`: the slots (`--parallel`)
    pub n_seq_max: u64,
    /// `n_ubatch`: tokens per graph
    pub n_ubatch: u64,
    /// rows of logits the compute graph is reserved for
    pub n_outputs_max: u64,
    /// whether flash attention runs (`--flash-attn auto` resolved)
    pub flash_attn: bool,
    /// layers on the GPU of `n_layer + 1` (the output layer counts as one)
    pub gpu_layers: u64,
    /// "CUDA0 model buffer size"
    pub model_buffer_bytes: u64,
    /// "CPU_Mapped model buffer size" (or "CUDA_Host model buffer size" with `--no-mmap`): the
    /// token embeddings and the layers left on the CPU
    pub host_model_buffer_bytes: u64,
    /// "CUDA0 KV buffer size", both caches of a sliding-window model together
    pub kv_buffer_bytes: u64,
    /// the sliding-window cache's share of `kv_buffer_bytes` (its own "KV buffer" line)
    pub kv_swa_buffer_bytes: u64,
    /// cells per slot of the sliding-window cache (0 without one)
    pub kv_swa_cells: u64,
    /// "CPU KV buffer size": the KV of layers left on the CPU
    pub host_kv_buffer_bytes: u64,
    /// "CUDA0 compute buffer size"
    pub compute_buffer_bytes: u64,
    /// "CUDA_Host compute buffer size"
    pub host_compute_buffer_bytes: u64,
    /// "CUDA_Host output buffer size": one row of f32 logits per slot
    pub output_buffer_bytes: u64,
    /// the CUDA context and cuBLAS workspace: not printed by llama.cpp, seen by NVML
    pub cuda_context_bytes: u64,
    pub compute_graph: ComputeGraph,
}

/// A KV precision as a llama.cpp cache type (`-ctk`/`-ctv` accept f32, f16, bf16, q8_0, q4_0, ...);
/// None for the ones llama.cpp does not have.
pub fn cache_type(k: KvPrecision) -> Option<Type> {
    match k {
        KvPrecision::F32 => Some(Type::F32),
        KvPrecision::F16 => Some(Type::F16),
        KvPrecision::Bf16 => Some(Type::BF16),
        KvPrecision::Q8_0 => Some(Type::Q8_0),
        KvPrecision::Q4_0 => Some(Type::Q4_0),
        KvPrecision::Fp8 | KvPrecision::Int8 => None,
    }
}

/// The cache type a KV precision is sized as: its llama.cpp type, or for 8-bit precisions llama.cpp
/// does not have (which [`config_refusal`] rejects) q8_0, the llama.cpp type of that width.
fn sizing_type(k: KvPrecision) -> Type {
    cache_type(k).unwrap_or(Type::Q8_0)
}

/// The context parameters llama.cpp gets for `batch` slots of `context` tokens.
pub fn params(s: &Settings, context: u64, batch: u64) -> Params {
    let slots = batch.max(1);
    Params {
        n_ctx: context.max(1).saturating_mul(slots),
        n_batch: s.batch_size,
        n_ubatch: s.ubatch_size,
        n_seq_max: slots,
        kv_unified: s.kv_unified,
        swa_full: s.swa_full,
        n_outputs_max: match s.entry {
            Entry::Server => Some(slots),
            Entry::Library => None,
        },
        flash_attn: s.flash_attn_enabled,
        type_k: sizing_type(s.cache_type_k),
        type_v: sizing_type(s.cache_type_v),
    }
}

/// Everything llama.cpp allocates at start-up on one GPU and its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffers {
    pub context: Context,
    pub gpu_layers: u64,
    pub model: ModelBuffers,
    pub kv: KvBuffers,
    pub host_kv: KvBuffers,
    pub compute: ComputeBuffers,
    pub output: u64,
    pub graph: ComputeGraph,
}

/// The type rules `p`'s weights follow: llama-quantize's for the model, and the checkpoint's own
/// per-tensor types where the format is the checkpoint's (an imported GGUF file).
pub fn type_rules<'a>(p: &'a Prepared) -> TypeRules<'a> {
    TypeRules {
        model: &p.facts.inventory.gguf,
        checkpoint: p.setup.model.checkpoint_quantization(p.setup.format),
    }
}

/// The weight tensors of `p`'s GGUF file (empty for a format llama.cpp does not load). The weight
/// facts keep the list of their format, so a search over contexts, splits or GPUs builds it once.
pub fn file_tensors<'a>(p: &Prepared<'a>, layout: &weights::Layout) -> Cow<'a, [weights::Tensor]> {
    let format = p.setup.format;
    let build = || weights::tensors(&p.facts.inventory, layout, format, &type_rules(p)).unwrap_or_default();
    if p.weights.format == format.id {
        Cow::Borrowed(p.weights.llamacpp_tensors.get_or_init(build))
    } else {
        Cow::Owned(build())
    }
}

/// llama.cpp's model and file layout for `p`'s spec; a spec without an architecture (parameter
/// counts only) is taken as a Llama graph of its geometry.
pub fn model_of(p: &Prepared) -> (model::Model, weights::Layout, ComputeGraph) {
    match &p.setup.model.architecture {
        Some(a) => {
            let (m, graph) = weights::model(a);
            (m, weights::Layout::of(a), graph)
        }
        None => {
            let g = &p.geometry;
            let m = model::Model {
                family: model::Family::Llama,
                n_embd: g.hidden,
                n_layer: g.layers.max(1),
                n_head: g.heads.max(1),
                n_head_kv: g.kv_heads.max(1),
                head_dim: g.head_dim.max(1),
                n_ff: g.intermediate,
                n_vocab: g.vocab,
                window: None,
                experts: None,
                bias: model::Biases::NONE,
            };
            let layout = weights::Layout {
                n_layer: m.n_layer,
                fused_qkv: false,
                fused_up: false,
                tied: false,
                norm_bias: false,
            };
            (m, layout, ComputeGraph::Approximated)
        }
    }
}

/// The buffers llama.cpp allocates for model `m` (with the weight `tensors` of its file) in a
/// context created with `params` on `devices`; `weight_type` types the weights the graph reads.
pub fn buffers_for(
    m: &model::Model,
    tensors: &[weights::Tensor],
    params: &Params,
    devices: Devices,
    mmap: bool,
    weight_type: &dyn Fn(graph::Weight, Option<u64>) -> Type,
) -> Buffers {
    let model = weights::model_buffers(tensors, m.n_layer, devices.gpu_layers(m.n_layer), mmap);
    context_buffers(m, model, params, devices, weight_type, Compute::Replay)
}

/// [`buffers_for`] with the model's buffers already placed (they do not depend on the context).
fn context_buffers(
    m: &model::Model,
    model: ModelBuffers,
    params: &Params,
    devices: Devices,
    weight_type: &dyn Fn(graph::Weight, Option<u64>) -> Type,
    compute: Compute,
) -> Buffers {
    let n_layer = m.n_layer;
    let gpu_layers = devices.gpu_layers(n_layer);
    let ctx = Context::new(m, params);
    let (kv, host_kv) = match devices {
        Devices::Cpu => (ctx.kv_buffers(m, Alloc::Host, |_| true), KvBuffers::default()),
        Devices::Cuda { .. } => {
            let first_gpu_layer = (n_layer + 1).saturating_sub(gpu_layers);
            (
                ctx.kv_buffers(m, Alloc::Cuda, |il| il >= first_gpu_layer),
                ctx.kv_buffers(m, Alloc::Host, |il| il < first_gpu_layer),
            )
        }
    };
    let devices = match devices {
        Devices::Cpu => Devices::Cpu,
        Devices::Cuda { .. } => Devices::Cuda { gpu_layers },
    };
    Buffers {
        context: ctx,
        gpu_layers,
        model,
        kv,
        host_kv,
        compute: match compute {
            Compute::Replay => compute::compute_buffers(m, &ctx.reserve(), devices, weight_type),
            Compute::Given(b) => b,
        },
        output: context::output_buffer(m.n_vocab, ctx.n_seq_max),
        graph: ComputeGraph::Modeled,
    }
}

/// How [`buffers_for`] finds the compute buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compute {
    /// the reserve graphs replayed (what llama.cpp allocates)
    Replay,
    /// taken as given: the context search bounds a total with the buffers replayed at another
    /// context ([`max_context`])
    Given(ComputeBuffers),
}

/// What llama.cpp has before any context exists: the graph's model and the weights placed by the
/// settings. A context search builds it once and probes every context against it.
struct Loaded {
    model: model::Model,
    graph: ComputeGraph,
    gpu_layers: u64,
    buffers: ModelBuffers,
}

impl Loaded {
    fn of(p: &Prepared, s: &Settings) -> Loaded {
        let (model, layout, graph) = model_of(p);
        let gpu_layers = s.n_gpu_layers.unwrap_or(model.n_layer + 1);
        let tensors = file_tensors(p, &layout);
        let place = || weights::model_buffers(&tensors, model.n_layer, gpu_layers, s.mmap);
        // the weight facts also keep the buffers under the first placement asked for (every probe
        // of a search and every cell of a matrix asks for the same one)
        let key = (gpu_layers, s.mmap);
        let buffers = match &tensors {
            Cow::Borrowed(_) => match p.weights.llamacpp_placed.get_or_init(|| (key, place())) {
                (k, b) if *k == key => *b,
                _ => place(),
            },
            Cow::Owned(_) => place(),
        };
        Loaded {
            model,
            graph,
            gpu_layers,
            buffers,
        }
    }
}

/// The buffers for `p`'s model on one GPU with `s`, `batch` slots of `context` tokens.
pub fn buffers(p: &Prepared, s: &Settings, context: u64, batch: u64) -> Buffers {
    loaded_buffers(p, &Loaded::of(p, s), s, context, batch, Compute::Replay)
}

fn loaded_buffers(p: &Prepared, l: &Loaded, s: &Settings, context: u64, batch: u64, compute: Compute) -> Buffers {
    let m = l.model;
    let format = p.setup.format;
    let rules = type_rules(p);
    let weight_type = |w, layer| weights::weight_type(format, &rules, &m, w, layer);
    let b = context_buffers(
        &m,
        l.buffers,
        &params(s, context, batch),
        Devices::Cuda {
            gpu_layers: l.gpu_layers,
        },
        &weight_type,
        compute,
    );
    Buffers { graph: l.graph, ..b }
}

/// Largest context (tokens per slot, up to the model's maximum) whose GPU total fits `p`'s budget;
/// None when not even one token does. The same answer as probing [`total`] context by context, with
/// a few graph replays instead of one per probe.
///
/// The compute buffer never shrinks as the context grows (the KV views and, without flash
/// attention, the scores grow with `n_ctx`). So the buffers replayed at context `a` bound the
/// total from below for every context above `a`, and from above for every context below it; the
/// other terms (model, KV, CUDA context) cost nothing to evaluate. Searching with a fixed compute
/// buffer gives an upper bound `up` (the compute at 1 token) and a lower bound `lo` (the compute at
/// `up`); each round replays once at each end and narrows them; when they meet, that is the answer.
/// A range still open after [`BOUND_ROUNDS`] is searched probe by probe (tests/max_context_search.rs
/// holds the answer equal to the probe-by-probe search).
pub fn max_context(p: &Prepared, s: &Settings, batch: u64) -> Option<u64> {
    if config_refusal(s).is_some() {
        return None;
    }
    let limit = p.setup.model.max_context;
    let l = Loaded::of(p, s);
    let fits =
        |context, compute| gpu_bytes(&figures_of(p, &loaded_buffers(p, &l, s, context, batch, compute))) <= p.budget;
    let replayed = |context| loaded_buffers(p, &l, s, context, batch, Compute::Replay).compute;
    let bounded = |at: u64| {
        let c = Compute::Given(replayed(at));
        largest(1, limit, |n| fits(n, c))
    };
    // above `up` nothing fits, even with the compute at 1 token; everything up to `lo` fits
    let mut up = bounded(1)?;
    let mut lo = 0;
    for _ in 0..BOUND_ROUNDS {
        lo = lo.max(bounded(up).unwrap_or(0));
        if lo >= up {
            return Some(up);
        }
        up = up.min(bounded(lo + 1).unwrap_or(0)).max(lo);
        if up == lo {
            return (lo > 0).then_some(lo);
        }
    }
    largest(lo.max(1), up, |n| fits(n, Compute::Replay))
}

/// Rounds of [`max_context`]'s bounds before it searches what is left probe by probe: with flash
/// attention the compute buffer is flat in the context and one round settles it; without, the
/// scores grow with the context and each round narrows the range.
const BOUND_ROUNDS: usize = 4;

/// The compute buffer of a run wholly on the CPU backend (a build without a GPU backend): the
/// same replay with one backend and 32-byte host buffers. None where gpuplan does not replay the
/// architecture's graph.
pub fn cpu_compute_buffer(p: &Prepared, s: &Settings, context: u64, batch: u64) -> Option<u64> {
    let (m, _, graph) = model_of(p);
    if graph != ComputeGraph::Modeled {
        return None;
    }
    let format = p.setup.format;
    let rules = type_rules(p);
    let weight_type = |w, layer| weights::weight_type(format, &rules, &m, w, layer);
    let ctx = Context::new(&m, &params(s, context, batch));
    Some(compute::compute_buffers(&m, &ctx.reserve(), Devices::Cpu, &weight_type).device)
}

/// The start-up figures for `batch` slots of `context` tokens.
pub fn figures(p: &Prepared, s: &Settings, context: u64, batch: u64) -> Figures {
    figures_of(p, &buffers(p, s, context, batch))
}

/// [`figures`] with the compute buffers given instead of replayed: a split's own (its placement
/// replayed them), or none for what the GPU holds before them.
pub fn figures_with_compute(p: &Prepared, s: &Settings, context: u64, batch: u64, compute: ComputeBuffers) -> Figures {
    let b = loaded_buffers(p, &Loaded::of(p, s), s, context, batch, Compute::Given(compute));
    figures_of(p, &b)
}

/// [`total`] without the compute buffers (model and KV buffers, CUDA context), from no graph
/// replay: a lower bound of the total, as the compute buffers only add to it.
pub fn total_before_compute(p: &Prepared, s: &Settings, context: u64, batch: u64) -> u64 {
    gpu_bytes(&figures_with_compute(p, s, context, batch, ComputeBuffers::default()))
}

fn figures_of(p: &Prepared, b: &Buffers) -> Figures {
    let ctx = b.context;
    Figures {
        n_ctx: ctx.cells.n_ctx(),
        n_ctx_per_seq: ctx.cells.per_stream,
        n_seq_max: ctx.n_seq_max,
        n_ubatch: ctx.n_ubatch,
        n_outputs_max: ctx.n_outputs_max,
        flash_attn: ctx.flash_attn,
        gpu_layers: b.gpu_layers,
        model_buffer_bytes: b.model.gpu,
        host_model_buffer_bytes: b.model.host,
        kv_buffer_bytes: b.kv.total(),
        kv_swa_buffer_bytes: b.kv.swa,
        kv_swa_cells: if b.kv.swa + b.host_kv.swa > 0 { ctx.swa_cells } else { 0 },
        host_kv_buffer_bytes: b.host_kv.total(),
        compute_buffer_bytes: b.compute.device,
        host_compute_buffer_bytes: b.compute.host,
        output_buffer_bytes: b.output,
        cuda_context_bytes: cuda_context_bytes(p),
        compute_graph: b.graph,
    }
}

/// The CUDA context and cuBLAS workspace: not printed by llama.cpp, seen by NVML.
fn cuda_context_bytes(p: &Prepared) -> u64 {
    overhead::cuda_context(p.setup.runtime) + overhead::blas_workspace(p.gpu, p.setup.runtime)
}

/// GPU bytes: model, KV and compute buffers plus the CUDA context.
pub fn total(p: &Prepared, s: &Settings, context: u64, batch: u64) -> u64 {
    gpu_bytes(&figures(p, s, context, batch))
}

fn gpu_bytes(f: &Figures) -> u64 {
    [f.kv_buffer_bytes, f.compute_buffer_bytes, f.cuda_context_bytes]
        .into_iter()
        .fold(f.model_buffer_bytes, u64::saturating_add)
}

/// `LLAMA_MAX_SEQ` (src/llama-cparams.h): the most sequences a context holds.
pub const MAX_SEQ: u64 = 256;

/// Settings llama.cpp rejects before allocating anything: a cache type it does not have, a quantized
/// V cache without flash attention (llama-context.cpp: "V cache quantization requires flash_attn").
pub fn config_refusal(s: &Settings) -> Option<Refusal> {
    for (flag, k) in [("-ctk", s.cache_type_k), ("-ctv", s.cache_type_v)] {
        if cache_type(k).is_none() {
            return Some(Refusal::BadSetting {
                flag,
                value: k.label().into(),
                allowed: "f32, f16, bf16, q8_0 or q4_0",
            });
        }
    }
    let quantized_v = cache_type(s.cache_type_v).is_some_and(Type::is_quantized);
    (quantized_v && !s.flash_attn_enabled).then_some(Refusal::QuantizedVNeedsFlashAttn)
}

/// Why llama.cpp would fail to start: a rejected setting, more slots than `LLAMA_MAX_SEQ` or a
/// context beyond its 32-bit `n_ctx`, an architecture it does not have, a weight format that is not
/// GGUF, or buffers beyond the GPU's memory.
pub fn refusal(p: &Prepared, s: &Settings, f: &Figures) -> Option<Refusal> {
    let bad = |flag, value: u64, allowed| Refusal::BadSetting {
        flag,
        value: value.to_string(),
        allowed,
    };
    config_refusal(s)
        .or_else(|| (f.n_seq_max > MAX_SEQ).then(|| bad("-np", f.n_seq_max, "1 to 256 (LLAMA_MAX_SEQ)")))
        .or_else(|| (f.n_ctx > u64::from(u32::MAX)).then(|| bad("-c", f.n_ctx, "below 2^32 (uint32_t n_ctx)")))
        .or_else(|| {
            let a = p.setup.model.architecture.as_ref()?;
            (f.compute_graph == ComputeGraph::Unsupported).then(|| Refusal::UnsupportedArchitecture {
                architecture: a.kind.name(),
            })
        })
        .or_else(|| {
            (!weights::is_gguf(p.setup.format)).then(|| Refusal::BadSetting {
                flag: "-m",
                value: p.setup.format.id.into(),
                allowed: "a GGUF file (q8_0, q6_k, q5_k_m, q4_k_m, q4_0, fp16, bf16, fp32)",
            })
        })
        .or_else(|| {
            let needed = gpu_bytes(f);
            (needed > p.budget).then_some(Refusal::OutOfMemory {
                needed_bytes: needed,
                available_bytes: p.budget,
            })
        })
}

/// The itemized estimate under llama.cpp's buffer names.
pub fn memory(p: &Prepared, s: &Settings, context: u64, batch: u64) -> Memory {
    memory_of(p, s, &figures(p, s, context, batch))
}

/// The itemized estimate of figures `f` (llama.cpp's own, or a CPU+GPU split's first GPU).
pub fn memory_of(p: &Prepared, s: &Settings, f: &Figures) -> Memory {
    let term = |name, bytes, formula: String, source| Term {
        name,
        bytes,
        formula,
        source,
    };
    let kv_cache = term(
        "KV buffer",
        f.kv_buffer_bytes,
        format!(
            "{} slot stream(s) of {} cells (n_ctx {} padded to 256) x K {} + V {} per layer on the GPU{}",
            if s.kv_unified { 1 } else { f.n_seq_max },
            f.n_ctx_per_seq,
            f.n_ctx,
            s.cache_type_k.label(),
            s.cache_type_v.label(),
            if f.kv_swa_cells > 0 {
                format!("; sliding-window layers {} cells", f.kv_swa_cells)
            } else {
                String::new()
            }
        ),
        "llama-kv-cache.cpp, llama-kv-cache-iswa.cpp",
    );
    let activations = vec![term(
        "compute buffer",
        f.compute_buffer_bytes,
        format!(
            "graph allocator's peak over the reserved graphs: n_ubatch {}, {} output row(s), flash attention {}{}",
            f.n_ubatch,
            f.n_outputs_max,
            if f.flash_attn { "on" } else { "off" },
            match f.compute_graph {
                ComputeGraph::Modeled => "",
                ComputeGraph::Approximated => " (graph not replayed: the Llama graph of the same shapes stands in)",
                ComputeGraph::Unsupported =>
                    " (llama.cpp has no graph for this architecture: the Llama graph of the same shapes stands in)",
            }
        ),
        "llama-context.cpp sched_reserve, ggml-backend.cpp, ggml-alloc.c",
    )];
    let overhead = vec![term(
        "cuda context",
        f.cuda_context_bytes,
        "CUDA context and cuBLAS workspace (not in llama.cpp's log)".into(),
        p.setup.runtime.sources,
    )];
    let host = vec![
        term(
            "host model buffer",
            f.host_model_buffer_bytes,
            format!(
                "token embeddings and the {} layer(s) left on the CPU ({})",
                (p.kv.layers + 1).saturating_sub(f.gpu_layers),
                if s.mmap { "mapped file" } else { "pinned copy" }
            ),
            "llama-model.cpp load_tensors",
        ),
        term(
            "host KV buffer",
            f.host_kv_buffer_bytes,
            "KV of the layers left on the CPU".into(),
            "llama-kv-cache.cpp",
        ),
        term(
            "host compute buffer",
            f.host_compute_buffer_bytes,
            "graph inputs and the token-embedding lookup, on the CPU backend".into(),
            "ggml-backend.cpp ggml_backend_sched_split_graph",
        ),
        term(
            "output buffer",
            f.output_buffer_bytes,
            format!("{} slot(s) x vocab x 4 B of logits", f.n_seq_max),
            "llama-context.cpp output_reserve",
        ),
    ];
    let mut weights = p.weights.lines.clone();
    let tied = p.setup.model.architecture.as_ref().is_some_and(|a| a.tie_embeddings);
    weights.retain(|w| w.component != Component::Embeddings || tied);
    Memory {
        weights,
        weights_bytes: f.model_buffer_bytes,
        kv_cache,
        kv_cache_bytes: f.kv_buffer_bytes,
        activations,
        activations_bytes: f.compute_buffer_bytes,
        activation_peak_phase: Phase::ComputeBuffer,
        overhead,
        overhead_bytes: f.cuda_context_bytes,
        total_bytes: gpu_bytes(f),
        available_bytes: p.budget,
        visible_bytes: p.visible,
        host_bytes: [
            f.host_kv_buffer_bytes,
            f.host_compute_buffer_bytes,
            f.output_buffer_bytes,
        ]
        .into_iter()
        .fold(f.host_model_buffer_bytes, u64::saturating_add),
        host,
    }
}
