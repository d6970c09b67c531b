//! The context llama.cpp creates (`llama_context::llama_context`): its sizes, the KV cache
//! (`llama_kv_cache`, src/llama-kv-cache.cpp and llama-kv-cache-iswa.cpp) and the output buffer
//! (`llama_context::output_reserve`).

use super::backend::{pad, Alloc};
use super::compute::Reserve;
use super::ggml::Type;
use super::graph::Cache;
use super::model::Model;

/// `llama_kv_cache::get_padding`: cells are allocated in multiples of 256.
pub const KV_PAD: u64 = 256;

/// `GGML_PAD`; saturating, so that absurd requests size as "more than any device" instead of
/// overflowing.
/// The KV cache's cells and streams for a context of `n_ctx` tokens over `n_seq_max` sequences
/// (`llama_context::llama_context`, `llama_model::create_memory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cells {
    /// cells per stream: `n_ctx_seq`
    pub per_stream: u64,
    /// streams: 1 when unified, else `n_seq_max`
    pub streams: u64,
}

impl Cells {
    /// `n_ctx = pad(n_ctx, 256)`; a unified cache is one stream of `n_ctx` cells, per-sequence
    /// streams get `n_ctx_seq = pad(n_ctx / n_seq_max, 256)` cells each.
    pub fn new(n_ctx: u64, n_seq_max: u64, unified: bool) -> Cells {
        let n_ctx = pad(n_ctx, KV_PAD);
        let seqs = n_seq_max.max(1);
        if unified || seqs == 1 {
            Cells {
                per_stream: n_ctx,
                streams: 1,
            }
        } else {
            Cells {
                per_stream: pad(n_ctx / seqs, KV_PAD),
                streams: seqs,
            }
        }
    }

    /// `n_ctx` as the context reports it: all streams' cells.
    pub fn n_ctx(&self) -> u64 {
        self.per_stream.saturating_mul(self.streams)
    }

    /// Cells per stream of the sliding-window cache (`llama_kv_cache_iswa`):
    /// `pad(min(n_ctx_seq, n_swa x (unified ? n_seq_max : 1) + n_ubatch), 256)`, or the full size with
    /// `--swa-full`.
    pub fn swa(&self, window: u64, n_seq_max: u64, unified: bool, n_ubatch: u64, swa_full: bool) -> u64 {
        if swa_full {
            return self.per_stream;
        }
        let seqs = if unified { n_seq_max.max(1) } else { 1 };
        pad(
            self.per_stream
                .min(window.saturating_mul(seqs).saturating_add(n_ubatch)),
            KV_PAD,
        )
    }
}

/// Bytes one K or V tensor of `row` elements per cell takes in a buffer of `alloc`'s type: its
/// allocation size (with CUDA's row padding for quantized types) aligned to the type's alignment.
pub fn kv_tensor_bytes(ty: Type, row: u64, cells: u64, streams: u64, alloc: Alloc) -> u64 {
    let bytes = ty.row_size(row).saturating_mul(cells).saturating_mul(streams);
    alloc.tensor_bytes(ty, row, bytes)
}

/// One device's KV buffers: the full-attention cache and, for sliding-window models, the windowed
/// one (printed as a second "KV buffer" line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KvBuffers {
    pub full: u64,
    pub swa: u64,
}

impl KvBuffers {
    pub fn total(&self) -> u64 {
        self.full.saturating_add(self.swa)
    }
}

/// The KV buffers of the layers `on_device` selects: per layer a K and a V tensor of
/// `n_embd_gqa x cells x streams`, windowed layers with `swa_cells`.
pub fn kv_buffers(
    m: &Model,
    types: (Type, Type),
    cells: Cells,
    swa_cells: u64,
    alloc: Alloc,
    on_device: impl Fn(u64) -> bool,
) -> KvBuffers {
    let row = m.n_embd_gqa();
    let layer = |n: u64| {
        kv_tensor_bytes(types.0, row, n, cells.streams, alloc).saturating_add(kv_tensor_bytes(
            types.1,
            row,
            n,
            cells.streams,
            alloc,
        ))
    };
    // every layer of a kind is the same size: count them, size each kind once
    let (mut full, mut swa) = (0u64, 0u64);
    for il in (0..m.n_layer).filter(|&il| on_device(il)) {
        if m.is_swa(il) {
            swa += 1;
        } else {
            full += 1;
        }
    }
    KvBuffers {
        full: if full > 0 {
            layer(cells.per_stream).saturating_mul(full)
        } else {
            0
        },
        swa: if swa > 0 {
            layer(swa_cells).saturating_mul(swa)
        } else {
            0
        },
    }
}

/// `llama_context::output_reserve(n_seq_max)`: f32 logits for `max(n_seq_max, 1)` rows at start-up.
pub fn output_buffer(n_vocab: u64, n_seq_max: u64) -> u64 {
    n_vocab.saturating_mul(n_seq_max.max(1)).saturating_mul(4)
}

/// What a context is created with (`llama_context_params`, as the server or the library sets it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// `n_ctx` as given: all sequences' tokens
    pub n_ctx: u64,
    pub n_batch: u64,
    pub n_ubatch: u64,
    pub n_seq_max: u64,
    pub kv_unified: bool,
    pub swa_full: bool,
    /// rows of logits reserved; None: the library's default, `n_batch`
    pub n_outputs_max: Option<u64>,
    pub flash_attn: bool,
    pub type_k: Type,
    pub type_v: Type,
}

/// The context's sizes once llama.cpp has resolved them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub cells: Cells,
    /// cells per stream of the sliding-window cache (= `cells.per_stream` without a window)
    pub swa_cells: u64,
    /// `n_batch = min(n_ctx, n_batch)`
    pub n_batch: u64,
    /// `n_ubatch = min(n_batch, n_ubatch)`
    pub n_ubatch: u64,
    pub n_seq_max: u64,
    pub n_outputs_max: u64,
    pub unified: bool,
    pub flash_attn: bool,
    pub type_k: Type,
    pub type_v: Type,
}

impl Context {
    /// `llama_context::llama_context`: the batch sizes are clamped to the context as given, the
    /// cells padded, the window cache sized.
    pub fn new(m: &Model, p: &Params) -> Context {
        let n_seq_max = p.n_seq_max.max(1);
        let n_batch = p.n_batch.min(p.n_ctx).max(1);
        let n_ubatch = p.n_ubatch.min(n_batch).max(1);
        let cells = Cells::new(p.n_ctx, n_seq_max, p.kv_unified);
        let swa_cells = match m.window {
            Some(w) => cells.swa(w.size, n_seq_max, p.kv_unified, n_ubatch, p.swa_full),
            None => cells.per_stream,
        };
        Context {
            cells,
            swa_cells,
            n_batch,
            n_ubatch,
            n_seq_max,
            n_outputs_max: p.n_outputs_max.unwrap_or(n_batch).max(1),
            unified: p.kv_unified,
            flash_attn: p.flash_attn,
            type_k: p.type_k,
            type_v: p.type_v,
        }
    }

    /// What the compute graphs are reserved for.
    pub fn reserve(&self) -> Reserve {
        Reserve {
            cache: Cache {
                kv_size: self.cells.per_stream,
                kv_size_swa: self.swa_cells,
                n_stream: self.cells.streams,
                unified: self.unified,
                flash_attn: self.flash_attn,
                type_k: self.type_k,
                type_v: self.type_v,
            },
            n_ubatch: self.n_ubatch,
            n_seqs: self.n_seq_max,
            n_outputs_max: self.n_outputs_max,
        }
    }

    /// The KV buffers of the layers `on_device` selects.
    pub fn kv_buffers(&self, m: &Model, alloc: Alloc, on_device: impl Fn(u64) -> bool) -> KvBuffers {
        kv_buffers(
            m,
            (self.type_k, self.type_v),
            self.cells,
            self.swa_cells,
            alloc,
            on_device,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::measured::{mib, run};
    use super::*;

    /// The KV and output buffers llama.cpp printed for a measured run (CPU backend).
    fn check(id: &str) {
        let r = run(id);
        let ctx = Context::new(&r.model, &r.params);
        let kv = ctx.kv_buffers(&r.model, Alloc::Host, |_| true);
        assert_eq!(
            (mib(kv.full, 2), mib(kv.swa, 2)),
            (r.kv.0.into(), r.kv.1.into()),
            "{id} KV"
        );
        assert_eq!(
            mib(output_buffer(r.model.n_vocab, ctx.n_seq_max), 2),
            r.output,
            "{id} output"
        );
    }

    #[test]
    fn cells_are_padded_to_256() {
        assert_eq!(Cells::new(5000, 1, false).n_ctx(), 5120);
        check("llama-3.1-8b-ctx5000-ub128");
    }

    #[test]
    fn slots_get_a_stream_each_unless_unified() {
        assert_eq!(
            Cells::new(16384, 4, false),
            Cells {
                per_stream: 4096,
                streams: 4
            }
        );
        // 10000 -> 10240 cells, 3413 per slot -> 3584
        assert_eq!(Cells::new(10000, 3, false).n_ctx(), 3 * 3584);
        check("llama-3.1-8b-ctx16384-np4-streams");
        check("llama-3.1-8b-ctx16384-np4-unified");
    }

    #[test]
    fn windowed_layers_hold_window_plus_ubatch_cells() {
        // Gemma 3: 29 windowed layers of pad(1024 + 512) cells; gpt-oss: 4 unified slots of 128
        check("gemma-3-4b-ctx32768-fa-on-swa");
        check("gemma-3-4b-ctx16384-np2-outs2-fa-off-swa");
        check("gpt-oss-20b-ctx32768-np4-unified-outs4-swa");
        // --swa-full (the library default) keeps every layer at full size
        check("gemma-2-2b-ctx8192-fa-off");
        check("gemma-2-2b-ctx8192-fa-on-swa");
    }

    #[test]
    fn quantized_caches_take_their_row_size() {
        check("llama-3.1-8b-ctx32768-fa-on-q8");
        check("qwen3-8b-ctx40960-fa-on-q8");
    }

    #[test]
    fn the_output_buffer_holds_one_row_of_logits_per_sequence() {
        for id in [
            "llama-3.1-8b-ctx8192-fa-on",
            "gpt-oss-20b-ctx65536-np4-unified-swa",
            "phi-3.5-mini-ctx4096-fa-off",
        ] {
            check(id);
        }
    }

    #[test]
    fn every_measured_run_reproduces() {
        for r in super::super::model::measured::RUNS {
            check(r.id);
        }
    }

    #[test]
    fn each_layer_keeps_its_kv_on_its_own_device() {
        // validation/field/llamacpp-ollama-llama-3-8b-q4_0-ctx24576-kv-split.json: Llama 3 8B at
        // n_ctx 24576 with 16 of 32 layers on the GPU prints 1536.00 MiB on CUDA_Host and on CUDA0
        let m = super::super::model::measured::LLAMA_3_1_8B;
        let ctx = Context::new(
            &m,
            &Params {
                n_ctx: 24576,
                ..run("llama-3.1-8b-ctx8192-fa-off").params
            },
        );
        let gpu = ctx.kv_buffers(&m, Alloc::Cuda, |il| il >= 16);
        let host = ctx.kv_buffers(&m, Alloc::Host, |il| il < 16);
        assert_eq!(
            (mib(gpu.total(), 2), mib(host.total(), 2)),
            ("1536.00".into(), "1536.00".into())
        );
    }

    #[test]
    fn cuda_pads_quantized_rows_to_512_and_aligns_to_128() {
        // a 576-wide q8_0 row: one 448-element partial row is added once per tensor
        assert_eq!(
            kv_tensor_bytes(Type::Q8_0, 576, 256, 1, Alloc::Cuda),
            (612 * 256 + 476_u64).div_ceil(128) * 128
        );
        assert_eq!(kv_tensor_bytes(Type::Q8_0, 576, 256, 1, Alloc::Host), 612 * 256);
        assert_eq!(kv_tensor_bytes(Type::F16, 100, 3, 1, Alloc::Cuda), 640);
    }
}
