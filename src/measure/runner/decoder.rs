//! The text decoder the runner builds on candle-nn for what candle-transformers' `phi3` cannot
//! serve: quantized Phi-3 (Q8_0 / Q4_K through QMatMul), the Phi-3-V backbone fed with image
//! embeddings, and PhiMoE (LayerNorm with bias, q/k/v/o and lm_head biases, 16 experts top-2).
//!
//! The op sequence mirrors candle-transformers 0.11.1 `models/phi3.rs` on purpose, so all variants
//! allocate the way the estimator's `candle` profile describes: eager attention whose scaled,
//! masked and softmaxed score matrices are alive together, K/V repeated to all heads for GQA
//! (`repeat_kv().contiguous()`), a KV cache grown by `Tensor::cat`, logits for the last position
//! only, RoPE sin/cos tables for every position in the compute dtype (candle's own
//! `phi3::RotaryEmbedding`).

use super::layers::{Embedding, Linear, Norm};
use super::weights::Vb;
use crate::spec::model::{ArchType, ModelSpec, NormKind};
use crate::spec::precision::Role;
use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_transformers::models::phi3;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MoeConfig {
    pub experts: usize,
    pub top_k: usize,
    pub intermediate: usize,
}

/// The decoder's shape, from a model spec (and, with real weights, the checkpoint's config.json
/// for RoPE and norm constants).
#[derive(Debug, Clone)]
pub struct TextConfig {
    pub kind: ArchType,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub norm: NormKind,
    pub eps: f64,
    pub fused_qkv: bool,
    pub qkv_bias: bool,
    pub o_bias: bool,
    pub lm_head_bias: bool,
    pub moe: Option<MoeConfig>,
    /// RoPE table length: the model's maximum context (what candle-transformers allocates)
    pub max_position: usize,
    pub rope_theta: f64,
    pub rope_scaling: Option<phi3::RopeScaling>,
    pub original_max_position: Option<usize>,
}

impl TextConfig {
    pub fn from_spec(spec: &ModelSpec) -> anyhow::Result<TextConfig> {
        let a = spec
            .architecture
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("{}: a summary-level spec has no tensor shapes to build", spec.id))?;
        if !matches!(a.kind, ArchType::Phi3 | ArchType::Phi3V | ArchType::Phimoe) {
            anyhow::bail!(
                "{}: the validation runner builds the Phi-3 family (phi3, phi3_v, phimoe), not {}",
                spec.id,
                a.kind.name()
            );
        }
        if a.tie_embeddings || a.mlp != crate::spec::model::MlpKind::Gated || a.mlp_bias {
            anyhow::bail!(
                "{}: the runner expects an untied LM head and a gated MLP without biases",
                spec.id
            );
        }
        if a.head_dim() * a.attention_heads != a.hidden_size {
            anyhow::bail!(
                "{}: head_dim x heads must equal hidden_size (as candle's phi3 RoPE assumes)",
                spec.id
            );
        }
        if a.kind == ArchType::Phimoe && a.moe.is_none() {
            anyhow::bail!("{}: phimoe needs `moe:`", spec.id);
        }
        let u = |v: u64| v as usize;
        Ok(TextConfig {
            kind: a.kind,
            hidden: u(a.hidden_size),
            layers: u(a.layers),
            heads: u(a.attention_heads),
            kv_heads: u(a.kv_heads()),
            head_dim: u(a.head_dim()),
            intermediate: u(a.intermediate_size),
            vocab: u(a.vocab_size),
            norm: a.norm,
            eps: 1e-5,
            fused_qkv: a.fused_qkv,
            qkv_bias: a.qkv_bias,
            o_bias: a.o_bias,
            lm_head_bias: a.lm_head_bias,
            moe: a.moe.as_ref().map(|m| MoeConfig {
                experts: u(m.experts),
                top_k: u(m.experts_per_token),
                intermediate: u(m.expert_intermediate_size.unwrap_or(a.intermediate_size)),
            }),
            max_position: u(spec.max_context),
            rope_theta: 10_000.0,
            rope_scaling: None,
            original_max_position: None,
        })
    }

    /// Takes RoPE and norm constants from a checkpoint's config.json when there is one (real text
    /// needs them; memory and speed do not).
    pub fn with_checkpoint_config(mut self, dir: &std::path::Path) -> anyhow::Result<TextConfig> {
        let path = dir.join("config.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(self);
        };
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if let Some(t) = v.get("rope_theta").and_then(|x| x.as_f64()) {
            self.rope_theta = t;
        }
        if let Some(e) = v
            .get("rms_norm_eps")
            .or_else(|| v.get("layer_norm_eps"))
            .and_then(|x| x.as_f64())
        {
            self.eps = e;
        }
        if let Some(o) = v.get("original_max_position_embeddings").and_then(|x| x.as_u64()) {
            self.original_max_position = Some(o as usize);
        }
        if let Some(rs) = v.get("rope_scaling").filter(|x| !x.is_null()) {
            let short: Option<Vec<f32>> = rs
                .get("short_factor")
                .and_then(|x| serde_json::from_value(x.clone()).ok());
            let long: Option<Vec<f32>> = rs
                .get("long_factor")
                .and_then(|x| serde_json::from_value(x.clone()).ok());
            if let (Some(short_factor), Some(long_factor)) = (short, long) {
                self.rope_scaling = Some(phi3::RopeScaling {
                    short_factor,
                    long_factor,
                    type_: phi3::RopeScalingType::LongRope,
                });
            }
        }
        Ok(self)
    }

    /// candle-transformers' phi3 config with the same shapes (for `phi3::Model` and its RoPE).
    pub fn phi3_config(&self) -> phi3::Config {
        phi3::Config {
            vocab_size: self.vocab,
            hidden_act: candle_nn::Activation::Silu,
            hidden_size: self.hidden,
            intermediate_size: self.intermediate,
            num_hidden_layers: self.layers,
            num_attention_heads: self.heads,
            num_key_value_heads: self.kv_heads,
            rms_norm_eps: self.eps,
            rope_theta: self.rope_theta,
            bos_token_id: None,
            eos_token_id: None,
            rope_scaling: self.rope_scaling.clone(),
            max_position_embeddings: self.max_position,
            original_max_position_embeddings: self.original_max_position,
            partial_rotary_factor: None,
            tie_word_embeddings: false,
        }
    }
}

struct Attention {
    qkv: Qkv,
    o_proj: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    rope: Arc<phi3::RotaryEmbedding>,
    cache: Option<(Tensor, Tensor)>,
}

enum Qkv {
    /// Phi-3: one `qkv_proj`
    Fused(Linear),
    /// PhiMoE: `q_proj`, `k_proj`, `v_proj` (with biases)
    Split(Linear, Linear, Linear),
}

impl Attention {
    fn new(cfg: &TextConfig, rope: Arc<phi3::RotaryEmbedding>, vb: &Vb) -> Result<Self> {
        let (h, q, kv) = (cfg.hidden, cfg.heads * cfg.head_dim, cfg.kv_heads * cfg.head_dim);
        let qkv = if cfg.fused_qkv {
            Qkv::Fused(Linear::load(
                &vb.pp("qkv_proj"),
                h,
                q + 2 * kv,
                cfg.qkv_bias,
                Role::AttnQkv,
            )?)
        } else {
            Qkv::Split(
                Linear::load(&vb.pp("q_proj"), h, q, cfg.qkv_bias, Role::AttnQkv)?,
                Linear::load(&vb.pp("k_proj"), h, kv, cfg.qkv_bias, Role::AttnQkv)?,
                Linear::load(&vb.pp("v_proj"), h, kv, cfg.qkv_bias, Role::AttnV)?,
            )
        };
        Ok(Attention {
            qkv,
            o_proj: Linear::load(&vb.pp("o_proj"), q, h, cfg.o_bias, Role::AttnOut)?,
            heads: cfg.heads,
            kv_heads: cfg.kv_heads,
            head_dim: cfg.head_dim,
            rope,
            cache: None,
        })
    }

    fn forward(&mut self, xs: &Tensor, mask: Option<&Tensor>, offset: usize) -> Result<Tensor> {
        let (b, t, _) = xs.dims3()?;
        let (qd, kvd) = (self.heads * self.head_dim, self.kv_heads * self.head_dim);
        let (q, k, v) = match &self.qkv {
            Qkv::Fused(l) => {
                let qkv = l.forward(xs)?;
                (
                    qkv.narrow(D::Minus1, 0, qd)?,
                    qkv.narrow(D::Minus1, qd, kvd)?,
                    qkv.narrow(D::Minus1, qd + kvd, kvd)?,
                )
            }
            Qkv::Split(q, k, v) => (q.forward(xs)?, k.forward(xs)?, v.forward(xs)?),
        };
        let q = q.reshape((b, t, self.heads, self.head_dim))?.transpose(1, 2)?;
        let k = k.reshape((b, t, self.kv_heads, self.head_dim))?.transpose(1, 2)?;
        let v = v.reshape((b, t, self.kv_heads, self.head_dim))?.transpose(1, 2)?;
        let (q, k) = self.rope.apply_rotary_emb_qkv(&q, &k, offset)?;
        let (k, v) = match &self.cache {
            None => (k, v),
            Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
        };
        self.cache = Some((k.clone(), v.clone()));
        let groups = self.heads / self.kv_heads;
        let k = candle_transformers::utils::repeat_kv(k, groups)?.contiguous()?;
        let v = candle_transformers::utils::repeat_kv(v, groups)?.contiguous()?;
        let scale = 1f64 / (self.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?;
        let scores = match mask {
            None => scores,
            Some(m) => scores.broadcast_add(m)?,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs.matmul(&v)?;
        out.transpose(1, 2)?.reshape((b, t, ()))?.apply(&self.o_proj)
    }

    fn cache_bytes(&self) -> u64 {
        self.cache
            .as_ref()
            .map_or(0, |(k, v)| tensor_bytes(k) + tensor_bytes(v))
    }
}

pub fn tensor_bytes(t: &Tensor) -> u64 {
    (t.elem_count() * t.dtype().size_in_bytes()) as u64
}

enum Mlp {
    /// Phi-3: `gate_up_proj` (gate and up fused) and `down_proj`, SiLU-gated
    Dense {
        gate_up: Linear,
        down: Linear,
        i: usize,
    },
    Moe(Moe),
}

/// PhiMoE's sparse block: a router over `experts` gated MLPs (w1 gate, w3 up, w2 down), the top-k
/// per token. Routing is decided on the host, as candle-transformers' mixtral does. PhiMoE's
/// sparsemixer weighting is replaced by softmax-then-top-k: the same shapes and experts per token,
/// which is what memory and speed depend on (real-text outputs would differ slightly).
struct Moe {
    gate: Linear,
    experts: Vec<(Linear, Linear, Linear)>,
    top_k: usize,
}

impl Mlp {
    fn new(cfg: &TextConfig, vb: &Vb) -> Result<Self> {
        let h = cfg.hidden;
        match cfg.moe {
            None => {
                let i = cfg.intermediate;
                Ok(Mlp::Dense {
                    gate_up: Linear::load(&vb.pp("mlp.gate_up_proj"), h, 2 * i, false, Role::MlpUp)?,
                    down: Linear::load(&vb.pp("mlp.down_proj"), i, h, false, Role::MlpDown)?,
                    i,
                })
            }
            Some(m) => {
                let vb = vb.pp("block_sparse_moe");
                let gate = Linear::load(&vb.pp("gate"), h, m.experts, false, Role::Router)?;
                let mut experts = Vec::with_capacity(m.experts);
                for e in 0..m.experts {
                    let ve = vb.pp("experts").pp(e);
                    experts.push((
                        Linear::load(&ve.pp("w1"), h, m.intermediate, false, Role::Expert)?,
                        Linear::load(&ve.pp("w3"), h, m.intermediate, false, Role::Expert)?,
                        Linear::load(&ve.pp("w2"), m.intermediate, h, false, Role::ExpertDown)?,
                    ));
                }
                Ok(Mlp::Moe(Moe {
                    gate,
                    experts,
                    top_k: m.top_k,
                }))
            }
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Mlp::Dense { gate_up, down, i } => {
                let up_states = xs.apply(gate_up)?;
                let gate = up_states.narrow(D::Minus1, 0, *i)?;
                let up = up_states.narrow(D::Minus1, *i, *i)?;
                (up * candle_nn::ops::silu(&gate)?)?.apply(down)
            }
            Mlp::Moe(m) => m.forward(xs),
        }
    }
}

impl Moe {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, t, h) = xs.dims3()?;
        let xs = xs.reshape(((), h))?;
        let logits = xs.apply(&self.gate)?.to_dtype(DType::F32)?;
        let weights = candle_nn::ops::softmax_last_dim(&logits)?.to_vec2::<f32>()?;
        let n = self.experts.len();
        let mut rows: Vec<Vec<u32>> = vec![vec![]; n];
        let mut scales: Vec<Vec<f32>> = vec![vec![]; n];
        for (row, w) in weights.iter().enumerate() {
            let mut order: Vec<usize> = (0..w.len()).collect();
            order.sort_by(|&i, &j| w[j].total_cmp(&w[i]));
            let top = &order[..self.top_k.min(order.len())];
            let sum: f32 = top.iter().map(|&e| w[e]).sum::<f32>().max(f32::MIN_POSITIVE);
            for &e in top {
                rows[e].push(row as u32);
                scales[e].push(w[e] / sum);
            }
        }
        let mut ys = xs.zeros_like()?;
        for (e, (w1, w3, w2)) in self.experts.iter().enumerate() {
            if rows[e].is_empty() {
                continue;
            }
            let idx = Tensor::new(rows[e].as_slice(), xs.device())?;
            let scale = Tensor::new(scales[e].as_slice(), xs.device())?
                .reshape(((), 1))?
                .to_dtype(xs.dtype())?;
            let x = xs.index_select(&idx, 0)?;
            let gated = (candle_nn::ops::silu(&x.apply(w1)?)? * x.apply(w3)?)?;
            let y = gated.apply(w2)?.broadcast_mul(&scale)?;
            ys = ys.index_add(&idx, &y, 0)?;
        }
        ys.reshape((b, t, h))
    }
}

struct Layer {
    attn: Attention,
    mlp: Mlp,
    ln1: Norm,
    ln2: Norm,
}

/// The decoder stack with embeddings and LM head.
pub struct TextModel {
    embed: Embedding,
    layers: Vec<Layer>,
    norm: Norm,
    lm_head: Linear,
    /// activations' dtype: the 16-bit dtype, or f32 for GGML formats (candle's quantized kernels)
    pub dtype: DType,
    device: Device,
}

impl TextModel {
    /// Builds the decoder under `vb` (`model.*` and `lm_head`, the Hugging Face layout).
    pub fn new(cfg: &TextConfig, vb: &Vb, dtype: DType) -> Result<Self> {
        let vm = vb.pp("model");
        let embed = Embedding::load(&vm.pp("embed_tokens"), cfg.vocab, cfg.hidden)?;
        let rope = Arc::new(phi3::RotaryEmbedding::new(dtype, &cfg.phi3_config(), vb.device())?);
        let norm = |v: &Vb| match cfg.norm {
            NormKind::Rms => Norm::rms(v, cfg.hidden, cfg.eps),
            NormKind::Layer => Norm::layer(v, cfg.hidden, cfg.eps, Role::Norm),
        };
        let mut layers = Vec::with_capacity(cfg.layers);
        for l in 0..cfg.layers {
            let vl = vm.pp("layers").pp(l);
            layers.push(Layer {
                attn: Attention::new(cfg, rope.clone(), &vl.pp("self_attn"))?,
                mlp: Mlp::new(cfg, &vl)?,
                ln1: norm(&vl.pp("input_layernorm"))?,
                ln2: norm(&vl.pp("post_attention_layernorm"))?,
            });
        }
        Ok(TextModel {
            embed,
            layers,
            norm: norm(&vm.pp("norm"))?,
            lm_head: Linear::load(&vb.pp("lm_head"), cfg.hidden, cfg.vocab, cfg.lm_head_bias, Role::LmHead)?,
            dtype,
            device: vb.device().clone(),
        })
    }

    /// Token embeddings in the activation dtype.
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        self.embed.forward(ids)?.to_dtype(self.dtype)
    }

    /// Causal mask for `t` new tokens after `offset` cached ones, as candle's phi3 builds it
    /// (f32, then expanded to the batch in the compute dtype).
    fn mask(&self, b: usize, t: usize, offset: usize) -> Result<Tensor> {
        let mask: Vec<f32> = (0..t)
            .flat_map(|i| (0..t).map(move |j| if i < j { f32::NEG_INFINITY } else { 0. }))
            .collect();
        let mask = Tensor::from_slice(&mask, (t, t), &self.device)?;
        let mask = if offset > 0 {
            let zeros = Tensor::zeros((t, offset), DType::F32, &self.device)?;
            Tensor::cat(&[&zeros, &mask], D::Minus1)?
        } else {
            mask
        };
        mask.expand((b, 1, t, t + offset))?.to_dtype(self.dtype)
    }

    /// One forward pass over embeddings `xs` (batch x tokens x hidden) starting at position
    /// `offset`; returns the last position's logits (batch x 1 x vocab).
    pub fn forward_embeds(&mut self, xs: &Tensor, offset: usize) -> Result<Tensor> {
        let (b, t, _) = xs.dims3()?;
        let mask = if t <= 1 { None } else { Some(self.mask(b, t, offset)?) };
        let mut xs = xs.clone();
        for layer in &mut self.layers {
            let residual = &xs;
            let h = layer.attn.forward(&layer.ln1.forward(&xs)?, mask.as_ref(), offset)?;
            let h = (h + residual)?;
            let out = layer.mlp.forward(&layer.ln2.forward(&h)?)?;
            xs = (out + h)?;
        }
        xs.narrow(1, t - 1, 1)?.apply(&self.norm)?.apply(&self.lm_head)
    }

    pub fn forward_ids(&mut self, ids: &Tensor, offset: usize) -> Result<Tensor> {
        let xs = self.embed(ids)?;
        self.forward_embeds(&xs, offset)
    }

    /// Bytes the KV cache tensors hold now.
    pub fn kv_cache_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.attn.cache_bytes()).sum()
    }
}
