//! Layers that serve every precision: a linear layer over a dense or a GGML-quantized matrix (one
//! model code for bf16, f16, Q8_0 and Q4_K), the token embedding, and the two norms.

use super::weights::{Matrix, Vb};
use crate::spec::precision::Role;
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Module, Result, Tensor};
use std::sync::Arc;

/// `y = x Wᵀ (+ b)`: candle-nn's Linear for dense weights, candle's quantized matmul (QMatMul)
/// for GGML blocks.
#[derive(Clone)]
pub enum Linear {
    Dense(candle_nn::Linear),
    Quant { w: QMatMul, b: Option<Tensor> },
}

impl Linear {
    /// `in_dim -> out_dim` under `vb` (`weight`, and `bias` when `bias`). The vision tower and
    /// projector keep their biases with their weights (GGUF mmproj: f16); text biases are biases.
    pub fn load(vb: &Vb, in_dim: usize, out_dim: usize, bias: bool, role: Role) -> Result<Linear> {
        let w = vb.matrix(out_dim, in_dim, "weight", role)?;
        let bias_role = match role {
            Role::Vision | Role::Projector => role,
            _ => Role::Bias,
        };
        let b = if bias {
            Some(vb.tensor(out_dim, "bias", bias_role)?)
        } else {
            None
        };
        Ok(match w {
            Matrix::Dense(w) => Linear::Dense(candle_nn::Linear::new(w, b)),
            Matrix::Quant(q) => Linear::Quant {
                w: QMatMul::from_arc(q)?,
                b,
            },
        })
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Dense(l) => l.forward(xs),
            Linear::Quant { w, b } => {
                let y = w.forward(xs)?;
                match b {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            }
        }
    }
}

/// Token embedding: a dense table (index_select) or a quantized one (rows dequantized on lookup,
/// the table stays in its blocks).
#[derive(Clone)]
pub enum Embedding {
    Dense(candle_nn::Embedding),
    Quant(Arc<QTensor>),
}

impl Embedding {
    pub fn load(vb: &Vb, vocab: usize, hidden: usize) -> Result<Embedding> {
        Ok(match vb.matrix(vocab, hidden, "weight", Role::Embedding)? {
            Matrix::Dense(w) => Embedding::Dense(candle_nn::Embedding::new(w, hidden)),
            Matrix::Quant(q) => Embedding::Quant(q),
        })
    }

    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Embedding::Dense(e) => e.forward(ids),
            Embedding::Quant(q) => q.embedding(ids),
        }
    }
}

/// RMSNorm (Phi-3) or LayerNorm with bias (PhiMoE, CLIP).
#[derive(Clone)]
pub enum Norm {
    Rms(candle_nn::RmsNorm),
    Layer(candle_nn::LayerNorm),
}

impl Norm {
    pub fn rms(vb: &Vb, size: usize, eps: f64) -> Result<Norm> {
        Ok(Norm::Rms(candle_nn::RmsNorm::new(
            vb.tensor(size, "weight", Role::Norm)?,
            eps,
        )))
    }

    pub fn layer(vb: &Vb, size: usize, eps: f64, role: Role) -> Result<Norm> {
        let w = vb.tensor(size, "weight", role)?;
        let b = vb.tensor(size, "bias", if role == Role::Norm { Role::Bias } else { role })?;
        Ok(Norm::Layer(candle_nn::LayerNorm::new(w, b, eps)))
    }
}

impl Module for Norm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Norm::Rms(n) => n.forward(xs),
            Norm::Layer(n) => n.forward(xs),
        }
    }
}
