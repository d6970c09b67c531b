//! llama.cpp's memory accounting, buffer by buffer as it prints them at start-up
//! (docs/engines/llamacpp.md): the model buffer on the GPU and the token embeddings' buffer on the
//! host, the KV buffer for the whole `n_ctx` (shared by the `--parallel` slots), the compute buffer
//! the graph allocator reserves for one `n_ubatch` graph, and the host's compute and output
//! buffers. gpuplan's context is tokens per sequence and its batch the slots, so llama.cpp runs
//! with `-c context x batch -np batch`.

pub mod profile;

pub use profile::{Flags, FlashAttn, Settings, LLAMA_CPP, VERSION};

use super::report::Refusal;
use crate::estimate::breakdown::{Memory, Phase, Term};
use crate::estimate::overhead;
use crate::estimate::prepared::Prepared;
use crate::estimate::weights::Component;
use crate::spec::precision::KvPrecision;
use serde::Serialize;

/// llama.cpp's start-up figures for one GPU, under the names its log uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    /// `n_ctx` as the KV cache holds it (padded), over all slots
    pub n_ctx: u64,
    /// `n_ctx_seq`: the context one slot gets
    pub n_ctx_per_seq: u64,
    /// `n_seq_max`: the slots (`--parallel`)
    pub n_seq_max: u64,
    /// whether flash attention runs (`--flash-attn auto` resolved)
    pub flash_attn: bool,
    /// "CUDA0 model buffer size"
    pub model_buffer_bytes: u64,
    /// "CPU_Mapped model buffer size": the token embeddings stay on the host
    pub host_model_buffer_bytes: u64,
    /// "CUDA0 KV buffer size"
    pub kv_buffer_bytes: u64,
    /// "CUDA0 compute buffer size"
    pub compute_buffer_bytes: u64,
    /// "CUDA_Host compute buffer size"
    pub host_compute_buffer_bytes: u64,
    /// "CPU output buffer size": logits of the outputs of one batch
    pub output_buffer_bytes: u64,
    /// the CUDA context and cuBLAS workspace: not printed by llama.cpp, seen by NVML
    pub cuda_context_bytes: u64,
}

/// The KV cache's cell padding: `n_ctx` is rounded up to a multiple of this (first cut; the
/// padding rule of the modeled build is in llama-kv-cache.cpp `get_padding`).
pub const KV_PADDING: u64 = 256;

/// `n_ctx` for `batch` slots of `context` tokens, padded.
pub fn n_ctx(context: u64, batch: u64) -> u64 {
    context
        .saturating_mul(batch.max(1))
        .div_ceil(KV_PADDING)
        .saturating_mul(KV_PADDING)
}

/// KV bytes per token over this GPU's layers with K and V in their own cache types.
fn kv_per_token(p: &Prepared, s: &Settings) -> (u64, u64) {
    let row = p.kv.kv_heads * p.kv.head_dim;
    let per_layer = s.cache_type_k.bytes(1, row) + s.cache_type_v.bytes(1, row);
    let layers = p.kv.layers.max(1);
    let windowed_layers = if p.kv.windowed > 0 && p.kv.full + p.kv.windowed > 0 {
        layers * p.kv.windowed / (p.kv.full + p.kv.windowed)
    } else {
        0
    };
    (per_layer * (layers - windowed_layers), per_layer * windowed_layers)
}

/// KV buffer: n_ctx cells for full-attention layers; windowed layers hold min(n_ctx, window x slots
/// + n_ubatch) cells.
pub fn kv_buffer(p: &Prepared, s: &Settings, context: u64, batch: u64) -> u64 {
    let cells = n_ctx(context, batch);
    let (full, windowed) = kv_per_token(p, s);
    let swa_cells = if p.kv.window > 0 {
        cells.min(
            p.kv.window
                .saturating_mul(batch.max(1))
                .saturating_add(s.ubatch_size)
                .div_ceil(KV_PADDING)
                .saturating_mul(KV_PADDING),
        )
    } else {
        cells
    };
    full.saturating_mul(cells)
        .saturating_add(windowed.saturating_mul(swa_cells))
}

/// Whether the model's token embeddings are the output matrix too (llama.cpp then duplicates them
/// on the GPU as `output`).
fn tied(p: &Prepared) -> bool {
    p.setup.model.architecture.as_ref().is_some_and(|a| a.tie_embeddings)
}

/// Model buffer on the GPU: every tensor but the token embeddings (plus their duplicate as the
/// output layer when tied).
pub fn model_buffer(p: &Prepared) -> u64 {
    let w = p.weights;
    w.total - w.embedding + if tied(p) { w.embedding } else { 0 }
}

/// Compute buffer, first cut: the larger of the output phase (n_ubatch rows of f32 logits plus the
/// hidden state) and the attention phase (without flash attention the f32 scores and their softmax,
/// n_kv x n_ubatch x heads each). To be replaced by the graph allocator's mechanism.
pub fn compute_buffer(p: &Prepared, s: &Settings, context: u64, batch: u64) -> u64 {
    let g = &p.geometry;
    let u = s.ubatch_size.max(1);
    let hidden = u * g.hidden * 4;
    let output = u * g.vocab * 4 + hidden;
    let attention = if s.flash_attn_enabled {
        3 * u * g.heads * g.head_dim * 4 + hidden
    } else {
        crate::estimate::activations::product(&[2, n_ctx(context, batch), u, g.heads, 4]) + hidden
    };
    let mlp = u * (3 * g.intermediate) * 4 + hidden;
    output.max(attention).max(mlp)
}

/// Host compute buffer: the token-embedding lookup for one ubatch runs where the embeddings are.
pub fn host_compute_buffer(p: &Prepared, s: &Settings) -> u64 {
    s.ubatch_size * p.geometry.hidden * 4
}

/// Output buffer: one row of f32 logits per slot.
pub fn output_buffer(p: &Prepared, batch: u64) -> u64 {
    crate::estimate::activations::product(&[batch.max(1), p.geometry.vocab, p.setup.tp.max(1), 4])
}

/// The start-up figures for `batch` slots of `context` tokens each.
pub fn figures(p: &Prepared, s: &Settings, context: u64, batch: u64) -> Figures {
    let cells = n_ctx(context, batch);
    Figures {
        n_ctx: cells,
        n_ctx_per_seq: cells / batch.max(1),
        n_seq_max: batch.max(1),
        flash_attn: s.flash_attn_enabled,
        model_buffer_bytes: model_buffer(p),
        host_model_buffer_bytes: p.weights.embedding,
        kv_buffer_bytes: kv_buffer(p, s, context, batch),
        compute_buffer_bytes: compute_buffer(p, s, context, batch),
        host_compute_buffer_bytes: host_compute_buffer(p, s),
        output_buffer_bytes: output_buffer(p, batch),
        cuda_context_bytes: overhead::cuda_context(p.setup.runtime) + overhead::blas_workspace(p.gpu, p.setup.runtime),
    }
}

/// GPU bytes: model, KV and compute buffers plus the CUDA context.
pub fn total(p: &Prepared, s: &Settings, context: u64, batch: u64) -> u64 {
    let f = figures(p, s, context, batch);
    gpu_bytes(&f)
}

fn gpu_bytes(f: &Figures) -> u64 {
    [f.kv_buffer_bytes, f.compute_buffer_bytes, f.cuda_context_bytes]
        .into_iter()
        .fold(f.model_buffer_bytes, u64::saturating_add)
}

/// Settings llama.cpp rejects before allocating anything.
pub fn config_refusal(s: &Settings) -> Option<Refusal> {
    let quantized = |k: KvPrecision| !matches!(k, KvPrecision::F16 | KvPrecision::Bf16 | KvPrecision::F32);
    if quantized(s.cache_type_v) && !s.flash_attn_enabled {
        return Some(Refusal::QuantizedVNeedsFlashAttn);
    }
    None
}

/// Why llama.cpp would fail to start: a rejected setting, or buffers beyond the GPU's memory.
pub fn refusal(p: &Prepared, s: &Settings, f: &Figures) -> Option<Refusal> {
    config_refusal(s).or_else(|| {
        let needed = gpu_bytes(f);
        (needed > p.budget).then_some(Refusal::OutOfMemory {
            needed_bytes: needed,
            available_bytes: p.budget,
        })
    })
}

/// The itemized estimate under llama.cpp's buffer names.
pub fn memory(p: &Prepared, s: &Settings, context: u64, batch: u64) -> Memory {
    let f = figures(p, s, context, batch);
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
            "n_ctx {} ({} slots x {} tokens, padded to {KV_PADDING}) x K {} + V {}",
            f.n_ctx,
            f.n_seq_max,
            context,
            s.cache_type_k.label(),
            s.cache_type_v.label()
        ),
        "llama-kv-cache.cpp",
    );
    let activations = vec![term(
        "compute buffer",
        f.compute_buffer_bytes,
        format!(
            "one graph of n_ubatch {} tokens, flash attention {}",
            s.ubatch_size,
            if f.flash_attn { "on" } else { "off" }
        ),
        "llama-context.cpp graph_reserve, ggml-alloc.c",
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
            "token embeddings (looked up on the host)".into(),
            "llama-model.cpp load_tensors",
        ),
        term(
            "host compute buffer",
            f.host_compute_buffer_bytes,
            format!("{} tokens x {} hidden x 4 B", s.ubatch_size, p.geometry.hidden),
            "llama-context.cpp",
        ),
        term(
            "output buffer",
            f.output_buffer_bytes,
            format!("{} slots x vocab x 4 B", f.n_seq_max),
            "llama-context.cpp output_reserve",
        ),
    ];
    let mut weights = p.weights.lines.clone();
    weights.retain(|w| w.component != Component::Embeddings || tied(p));
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
        total_bytes: gpu_bytes(&f),
        available_bytes: p.budget,
        visible_bytes: p.visible,
        host_bytes: f.host_model_buffer_bytes + f.host_compute_buffer_bytes + f.output_buffer_bytes,
        host,
    }
}
