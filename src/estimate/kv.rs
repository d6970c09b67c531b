//! KV cache: bytes per token from the attention geometry, and the cache for a context and batch.

use crate::spec::model::ModelSpec;
use crate::spec::precision::KvPrecision;
use serde::Serialize;

/// KV bytes per token on one GPU, split into layers with full attention and layers with a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KvPerToken {
    /// bytes per token summed over full-attention layers
    pub full: u64,
    /// bytes per token summed over sliding-window layers
    pub windowed: u64,
    /// the window, when `windowed` > 0
    pub window: u64,
    /// layers, KV heads on this GPU, head dim (0 when the spec gave bytes only)
    pub layers: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
}

impl KvPerToken {
    pub fn total(&self) -> u64 {
        self.full + self.windowed
    }
}

/// KV heads one GPU holds under `tp`-way tensor parallelism: kv_heads / tp, or one whole head each
/// when there are fewer KV heads than GPUs (vLLM replicates them).
pub fn kv_heads_per_gpu(kv_heads: u64, tp: u64) -> u64 {
    if tp <= 1 {
        kv_heads
    } else {
        kv_heads.div_ceil(tp).max(1)
    }
}

/// Per-token KV bytes = 2 (K and V) x layers x kv_heads x head_dim x bytes(kv precision)
/// (multi-head latent attention: layers x (kv_lora_rank + qk_rope_head_dim) x bytes)
/// (e.g. Phi-3.5-mini: 2 x 32 x 32 x 96 x 2 = 393,216 B = 384 KiB). Summary specs that give only
/// `bytes_per_token_16bit` scale it by the precision's size relative to 2 bytes.
pub fn per_token(spec: &ModelSpec, kv: KvPrecision, tp: u64) -> KvPerToken {
    if let Some(a) = &spec.architecture {
        if let Some(m) = &a.mla {
            // MLA caches one latent (kv_lora_rank) plus one rotary key (qk_rope_head_dim) per layer,
            // shared by all heads, so every tensor-parallel rank holds all of it (vLLM MLA backends;
            // DeepSeek-V3: 61 x (512 + 64) x 2 B = 70,272 B). Runtimes without MLA kernels that
            // decompress k and v (transformers eager) need heads x (qk + v) per layer instead.
            let latent = m.kv_lora_rank + m.qk_rope_head_dim;
            return KvPerToken {
                full: kv.bytes(1, latent) * a.layers,
                windowed: 0,
                window: 0,
                layers: a.layers,
                kv_heads: 1,
                head_dim: latent,
            };
        }
        let heads = kv_heads_per_gpu(a.kv_heads(), tp);
        let per_layer = 2 * kv.bytes(1, heads * a.head_dim());
        let windowed_layers = a.windowed_layers();
        return KvPerToken {
            full: per_layer * (a.layers - windowed_layers),
            windowed: per_layer * windowed_layers,
            window: a.sliding_window.unwrap_or(0),
            layers: a.layers,
            kv_heads: heads,
            head_dim: a.head_dim(),
        };
    }
    let shape = spec.kv_cache.as_ref();
    let geometry = shape.and_then(|s| Some((s.layers?, s.kv_heads?, s.head_dim?)));
    let (full, layers, heads, hd) = match geometry {
        Some((l, h, d)) => {
            let heads = kv_heads_per_gpu(h, tp);
            (2 * l * kv.bytes(1, heads * d), l, heads, d)
        }
        None => {
            let b16 = shape.and_then(|s| s.bytes_per_token_16bit).unwrap_or(0);
            // elements per token = b16 / 2; scale by the precision (blocks rounded per 32 elements)
            (kv.bytes(1, b16 / 2) / tp.max(1), 0, 0, 0)
        }
    };
    KvPerToken {
        full,
        windowed: 0,
        window: 0,
        layers,
        kv_heads: heads,
        head_dim: hd,
    }
}

/// Tokens of cache one sequence occupies: the context, rounded up to whole blocks when paged.
pub fn cached_tokens(context: u64, block: u64) -> u64 {
    if block <= 1 {
        context
    } else {
        context.div_ceil(block).saturating_mul(block)
    }
}

/// KV cache bytes = batch x (full x tokens + windowed x min(tokens, window)), where windowed layers
/// keep only the window when the runtime honors it (otherwise they count as full layers).
pub fn cache_bytes(kv: &KvPerToken, tokens: u64, batch: u64, honors_window: bool) -> u64 {
    let windowed_tokens = if honors_window && kv.window > 0 {
        tokens.min(kv.window)
    } else {
        tokens
    };
    let per_sequence = kv
        .full
        .saturating_mul(tokens)
        .saturating_add(kv.windowed.saturating_mul(windowed_tokens));
    batch.saturating_mul(per_sequence)
}
