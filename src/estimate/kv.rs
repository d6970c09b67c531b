//! KV cache: bytes per token from the attention geometry, the fixed recurrent state hybrid and
//! state-space layers hold per sequence instead, and the cache for a context and batch.

use crate::spec::model::{spread, Architecture, ModelSpec, RecurrentKind, RecurrentSpec};
use crate::spec::precision::KvPrecision;
use serde::Serialize;
use std::ops::Range;

/// KV bytes per token on one GPU, split into layers with full attention and layers with a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KvPerToken {
    /// bytes per token summed over full-attention layers
    pub full: u64,
    /// bytes per token summed over sliding-window layers
    pub windowed: u64,
    /// the window, when `windowed` > 0
    pub window: u64,
    /// attention layers, KV heads on this GPU, head dim (0 when the spec gave bytes only)
    pub layers: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    /// recurrent-state bytes per sequence on this GPU (Mamba-2 / Gated DeltaNet layers): the same at
    /// any context
    pub state: u64,
    /// recurrent layers counted in `state`
    pub recurrent_layers: u64,
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

/// Element sizes of a recurrent layer's two states: the conv state (the last kernel-1 inputs of
/// the depthwise conv) and the SSM / delta-rule state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StateBytes {
    pub conv: u64,
    pub ssm: u64,
}

impl StateBytes {
    /// Both in f32: llama.cpp's recurrent memory (`llama_memory_recurrent`, r and s buffers in
    /// GGML_TYPE_F32 for every recurrent and hybrid model).
    pub const F32: StateBytes = StateBytes { conv: 4, ssm: 4 };

    /// vLLM with `mamba_cache_dtype` / `mamba_ssm_cache_dtype` "auto": both in the model dtype
    /// (`MambaStateDtypeCalculator`), 2 bytes for bf16/fp16 checkpoints, except that the SSM state
    /// takes the dtype a model pins (Nemotron-H: `mamba_ssm_cache_dtype`, float32 by default in
    /// vLLM's `NemotronHForCausalLMConfig`).
    pub fn model_dtype(r: &RecurrentSpec) -> StateBytes {
        StateBytes {
            conv: 2,
            ssm: r.ssm_state_dtype.map_or(2, |d| d.bytes()),
        }
    }
}

/// How an engine keeps a recurrent layer's state (hybrid and state-space models).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatePolicy {
    /// [`StateBytes::model_dtype`]: vLLM V1, one state per request in its mamba cache blocks
    /// (`mamba_cache_dtype` / `mamba_ssm_cache_dtype` "auto"); transformers' hybrid caches
    ModelDtype,
    /// [`StateBytes::F32`]: llama.cpp, one f32 state per sequence slot (`llama_memory_recurrent`)
    F32,
}

impl StatePolicy {
    pub fn bytes(self, r: &RecurrentSpec) -> StateBytes {
        match self {
            StatePolicy::ModelDtype => StateBytes::model_dtype(r),
            StatePolicy::F32 => StateBytes::F32,
        }
    }
}

/// Recurrent-state bytes one sequence holds in `layers` layers of mixer `r` on one of `tp` GPUs:
/// layers x (conv_dim x (kernel - 1) x conv bytes + heads x head_dim x state_size x ssm bytes).
/// conv_dim = heads x head_dim + 2 x groups x state_size (Mamba-2: x, B, C; Gated DeltaNet: v, q, k).
/// Under tensor parallelism conv channels and heads split; Mamba-2 groups that do not divide are
/// replicated up to `tp` (vLLM `MambaStateShapeCalculator.mamba2_state_shape` /
/// `gated_delta_net_state_shape`; llama.cpp `n_embd_r()` / `n_embd_s()` count the same elements).
pub fn recurrent_state(r: &RecurrentSpec, layers: u64, tp: u64, bytes: StateBytes) -> u64 {
    let tp = tp.max(1);
    let groups = match r.kind {
        RecurrentKind::Mamba2 if r.groups % tp != 0 => r.groups.max(tp),
        _ => r.groups,
    };
    let conv_dim = (r.inner() + 2 * groups * r.state_size).div_ceil(tp);
    let conv = conv_dim * r.conv_kernel.saturating_sub(1) * bytes.conv;
    let ssm = r.heads.div_ceil(tp) * r.head_dim * r.state_size * bytes.ssm;
    layers * (conv + ssm)
}

/// Per-token KV bytes = 2 (K and V) x layers x kv_heads x head_dim x bytes(kv precision)
/// (multi-head latent attention: layers x (kv_lora_rank + qk_rope_head_dim) x bytes)
/// (e.g. Phi-3.5-mini: 2 x 32 x 32 x 96 x 2 = 393,216 B = 384 KiB). Summary specs that give only
/// `bytes_per_token_16bit` scale it by the precision's size relative to 2 bytes. Hybrid models count
/// their attention layers only, and add their recurrent layers' state per sequence, in the model
/// dtype ([`StateBytes::model_dtype`]).
pub fn per_token(spec: &ModelSpec, kv: KvPrecision, tp: u64) -> KvPerToken {
    let state = spec
        .architecture
        .as_ref()
        .and_then(|a| a.recurrent.as_ref())
        .map_or(StateBytes::F32, StateBytes::model_dtype);
    let layers = spec.architecture.as_ref().map_or(0, |a| a.layers);
    per_token_in(spec, kv, tp, 0..layers, state)
}

/// [`per_token`] for the decoder layers `range` only (a pipeline stage), with the recurrent state in
/// `state` element sizes. Attention and recurrent layers of a hybrid sit where
/// [`spread`] places them; windowed layers where the pattern places them.
pub fn per_token_in(spec: &ModelSpec, kv: KvPrecision, tp: u64, range: Range<u64>, state: StateBytes) -> KvPerToken {
    if let Some(a) = &spec.architecture {
        let range = range.start.min(a.layers)..range.end.min(a.layers);
        let attention = attention_in(a, range.clone());
        let (recurrent_layers, state) = match &a.recurrent {
            Some(r) => {
                let n = recurrent_in(a, r, range.clone());
                (n, recurrent_state(r, n, tp, state))
            }
            None => (0, 0),
        };
        if let Some(m) = &a.mla {
            // MLA caches one latent (kv_lora_rank) plus one rotary key (qk_rope_head_dim) per layer,
            // shared by all heads, so every tensor-parallel rank holds all of it (vLLM MLA backends;
            // DeepSeek-V3: 61 x (512 + 64) x 2 B = 70,272 B). Runtimes without MLA kernels that
            // decompress k and v (transformers eager) need heads x (qk + v) per layer instead.
            let latent = m.kv_lora_rank + m.qk_rope_head_dim;
            return KvPerToken {
                full: kv.bytes(1, latent) * attention,
                windowed: 0,
                window: 0,
                layers: attention,
                kv_heads: 1,
                head_dim: latent,
                state,
                recurrent_layers,
            };
        }
        let heads = kv_heads_per_gpu(a.kv_heads(), tp);
        let per_layer = 2 * kv.bytes(1, heads * a.head_dim());
        let windowed_layers = windowed_in(a, range);
        return KvPerToken {
            full: per_layer * (attention - windowed_layers),
            windowed: per_layer * windowed_layers,
            window: a.sliding_window.unwrap_or(0),
            layers: attention,
            kv_heads: heads,
            head_dim: a.head_dim(),
            state,
            recurrent_layers,
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
        state: 0,
        recurrent_layers: 0,
    }
}

/// Attention layers among `range`: all of them, or for a hybrid the ones [`spread`] places.
fn attention_in(a: &Architecture, range: Range<u64>) -> u64 {
    let n = a.attention_layer_count();
    if n == a.layers {
        range.end - range.start
    } else {
        range.filter(|&i| spread(i, n, a.layers)).count() as u64
    }
}

/// Recurrent layers among `range`: the layers without attention when the two kinds fill the stack
/// (Qwen3-Next, Granite 4.0-H), else the ones [`spread`] places (all of them for Falcon-H1).
fn recurrent_in(a: &Architecture, r: &RecurrentSpec, range: Range<u64>) -> u64 {
    let attention = a.attention_layer_count();
    let n = r.layers.min(a.layers);
    if n == a.layers {
        range.end - range.start
    } else if n + attention == a.layers {
        (range.end - range.start) - attention_in(a, range)
    } else {
        range.filter(|&i| spread(i, n, a.layers)).count() as u64
    }
}

/// Sliding-window layers among the attention layers of `range`: with a pattern n every n-th layer
/// is global (layer i slides unless (i + 1) % n == 0, as `Architecture::windowed_layers` counts).
fn windowed_in(a: &Architecture, range: Range<u64>) -> u64 {
    match a.sliding_window {
        None => 0,
        Some(_) if a.sliding_window_pattern <= 1 => attention_in(a, range),
        Some(_) => {
            let n = a.attention_layer_count();
            range
                .filter(|&i| (n == a.layers || spread(i, n, a.layers)) && (i + 1) % a.sliding_window_pattern != 0)
                .count() as u64
        }
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

/// KV cache bytes = batch x (full x tokens + windowed x min(tokens, window) + recurrent state), where
/// windowed layers keep only the window when the runtime honors it (otherwise they count as full
/// layers) and recurrent layers hold one fixed state per sequence.
pub fn cache_bytes(kv: &KvPerToken, tokens: u64, batch: u64, honors_window: bool) -> u64 {
    let windowed_tokens = if honors_window && kv.window > 0 {
        tokens.min(kv.window)
    } else {
        tokens
    };
    let per_sequence = kv
        .full
        .saturating_mul(tokens)
        .saturating_add(kv.windowed.saturating_mul(windowed_tokens))
        .saturating_add(kv.state);
    batch.saturating_mul(per_sequence)
}
