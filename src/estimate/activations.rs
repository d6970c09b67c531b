//! Activation memory: the peak of one forward pass. Buffers are reused layer to layer, so the peak is
//! that of one layer (the largest of its attention and MLP phases) plus the residual stream, or the
//! logits at the end, whichever is larger. `t` = tokens in flight = batch x chunk.

use serde::Serialize;

/// The product of `factors`, saturating at u64::MAX: absurd requests (a 2^40-token context at a
/// large batch) give "more than any GPU has" instead of an overflow.
pub fn product(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |acc, &x| acc.saturating_mul(x))
}

/// Shapes the activation terms need, per GPU.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Geometry {
    pub hidden: u64,
    pub layers: u64,
    /// query heads on this GPU
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    /// MLP width on this GPU (one expert's width for MoE)
    pub intermediate: u64,
    /// (experts per token, experts) for MoE
    pub moe: Option<(u64, u64)>,
    pub vocab: u64,
}

/// Residual stream: the layer input and its normed copy, 2 x t x hidden x a.
pub fn residual_stream(g: &Geometry, t: u64, a: u64) -> u64 {
    product(&[2, t, g.hidden, a])
}

/// q, k, v projections: t x (heads + 2 kv_heads) x head_dim x a, plus the rotated q and k copies
/// (RoPE writes new tensors): t x (heads + kv_heads) x head_dim x a.
pub fn qkv(g: &Geometry, t: u64, a: u64) -> u64 {
    product(&[t, 2 * g.heads + 3 * g.kv_heads, g.head_dim, a])
}

/// Materialized attention scores: copies x batch x heads x chunk x kv_len x a (eager attention; the
/// scaled, masked and softmaxed matrices are alive together in candle's phi3).
pub fn attention_scores(g: &Geometry, batch: u64, chunk: u64, kv_len: u64, a: u64, copies: u64) -> u64 {
    product(&[copies, batch, g.heads, chunk, kv_len, a])
}

/// Additive causal mask expanded to batch x chunk x kv_len in the compute dtype (eager attention).
pub fn attention_mask(batch: u64, chunk: u64, kv_len: u64, a: u64) -> u64 {
    if chunk <= 1 {
        0
    } else {
        product(&[batch, chunk, kv_len, a])
    }
}

/// GQA expansion: eager attention repeats K and V to all query heads, 2 x batch x heads x kv_len x
/// head_dim x a (zero when heads == kv_heads).
pub fn gqa_expansion(g: &Geometry, batch: u64, kv_len: u64, a: u64) -> u64 {
    if g.heads == g.kv_heads {
        0
    } else {
        product(&[2, batch, g.heads, kv_len, g.head_dim, a])
    }
}

/// Attention output before o_proj plus o_proj's output: t x (heads x head_dim + hidden) x a.
pub fn attention_output(g: &Geometry, t: u64, a: u64) -> u64 {
    product(&[t, g.heads * g.head_dim + g.hidden, a])
}

/// Gated MLP intermediates: the fused gate/up output (2 x I), the activated gate (I) and the product
/// (I), plus the down projection's output: t x (4 I + hidden) x a. For MoE, the tokens routed to the
/// busiest expert (t x k / E, rounded up) go through the expert, plus f32 router logits t x E x 4 and
/// the combined output t x hidden x a.
pub fn mlp(g: &Geometry, t: u64, a: u64) -> u64 {
    match g.moe {
        None => product(&[t, 4 * g.intermediate + g.hidden, a]),
        Some((k, e)) => {
            let routed = t.saturating_mul(k).div_ceil(e.max(1)).min(t);
            product(&[routed, 4 * g.intermediate + 2 * g.hidden, a])
                .saturating_add(product(&[t, e, 4]))
                .saturating_add(product(&[t, g.hidden, a]))
        }
    }
}

/// Fused MoE kernels (vLLM `fused_moe`, llama.cpp `mul_mat_id`) process every routed token at once:
/// intermediate caches t x k x 2I (gate/up), t x k x I (activated) and t x k x hidden (per-expert
/// outputs before the weighted sum), plus f32 router logits t x E x 4.
pub fn mlp_fused_moe(g: &Geometry, t: u64, a: u64) -> u64 {
    match g.moe {
        None => mlp(g, t, a),
        Some((k, e)) => product(&[t, k, 3 * g.intermediate + g.hidden, a]).saturating_add(product(&[t, e, 4])),
    }
}

/// Logits for the last position of each sequence: batch x vocab x bytes (4 when computed in f32).
pub fn logits(g: &Geometry, batch: u64, bytes: u64) -> u64 {
    product(&[batch, g.vocab, bytes])
}

/// candle on the CPU has no bf16 gemm: both operands are widened to f32 and the f32 output narrowed
/// back (candle-core cpu_backend `matmul`). The peak is the largest weight matrix widened:
/// numel x 4, plus its input and output widened (t x (in + out) x 4) and the narrowed output.
pub fn cpu_bf16_widening(largest_matrix: u64, rows_out: u64, t: u64) -> u64 {
    product(&[largest_matrix, 4]).saturating_add(product(&[t, rows_out, 6]))
}

/// Image encoder activations for `views` crops (all images' HD crops plus their global views), each
/// `tokens` long with width d: during attention the residual (2d) and q/k/v/out (4d) per token plus
/// `copies` eager score matrices views x heads x tokens²; during the MLP the residual, fc1's output and
/// its GELU (2 x intermediate) and fc2's output (d). The larger phase is the peak.
pub fn vision_encoder(views: u64, tokens: u64, d: u64, heads: u64, intermediate: u64, a: u64, copies: u64) -> u64 {
    let t = views.saturating_mul(tokens);
    let attention = product(&[t, 6, d, a]).saturating_add(product(&[copies, views, heads, tokens, tokens, a]));
    let mlp = product(&[t, 3 * d + 2 * intermediate, a]);
    attention.max(mlp)
}
