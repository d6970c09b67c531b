//! The GGUF tensors of an architecture, named and shaped as llama.cpp creates them
//! (`src/models/{llama,qwen2,phi3,phimoe}.cpp` `load_arch_tensors`, llama.cpp vendored by
//! llama-cpp-sys-2 0.1.161), each with the [`Role`] gpuplan's format rules type it by.
//!
//! [`super::plan`] writes them in `llama-quantize`'s order (the tensors outside the blocks by name,
//! then the blocks in layer order), as a downloaded GGUF has them: the span llama.cpp maps for the
//! part of a split model left on the CPU depends on it.

use super::SynthError;
use crate::spec::model::{ArchType, Architecture, MlpKind, NormKind};
use crate::spec::precision::Role;

/// The GGUF `general.architecture` gpuplan writes for a family, or why it cannot.
pub fn gguf_arch(a: &Architecture) -> Result<&'static str, SynthError> {
    let unsupported = |why: &str| {
        Err(SynthError::Unsupported(format!(
            "architecture `{}`: {why}; gpuplan writes GGUF for llama, mistral, mixtral, qwen2, qwen3, qwen3moe, phi3 and phimoe",
            a.kind.name()
        )))
    };
    let arch = match a.kind {
        ArchType::Llama | ArchType::Mistral | ArchType::Mixtral => "llama",
        ArchType::Qwen2 => "qwen2",
        ArchType::Qwen3 => "qwen3",
        ArchType::Qwen3Moe => "qwen3moe",
        ArchType::Phi3 => "phi3",
        ArchType::Phimoe => "phimoe",
        _ => return unsupported("no GGUF layout in gpuplan's writer"),
    };
    if a.mla.is_some() {
        return unsupported("multi-head latent attention");
    }
    if a.norms_per_layer != 2 {
        return unsupported(&format!(
            "{} norms per layer (llama.cpp's {arch} has 2)",
            a.norms_per_layer
        ));
    }
    if a.mlp == MlpKind::GatedFusedWide {
        return unsupported("a gegelu MLP");
    }
    if let Some(m) = &a.moe {
        if m.shared_expert_intermediate_size.is_some() || m.dense_layers > 0 || m.router_bias {
            return unsupported("shared experts, dense layers or a router bias");
        }
        // qwen3moe reads the experts' width from `expert_feed_forward_length`; the others size
        // experts by `feed_forward_length`
        if a.kind != ArchType::Qwen3Moe && m.expert_intermediate_size.is_some_and(|i| i != a.intermediate_size) {
            return unsupported("an expert width other than feed_forward_length");
        }
    }
    if a.fused_qkv && a.kind != ArchType::Phi3 {
        return unsupported("fused qkv outside phi3");
    }
    if a.qk_norm && !matches!(a.kind, ArchType::Qwen3 | ArchType::Qwen3Moe) {
        return unsupported("q/k norms outside qwen3");
    }
    Ok(arch)
}

/// One GGUF tensor: `dims` in ggml order (ne[0] = row length first; experts last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutTensor {
    pub name: String,
    pub role: Role,
    /// (layer, layers) for block tensors: the K-quant mixes type some tensors by layer
    pub layer: Option<(u64, u64)>,
    pub dims: Vec<u64>,
}

impl LayoutTensor {
    /// Row length (the GGML block dimension).
    pub fn cols(&self) -> u64 {
        self.dims[0]
    }

    /// Rows of `cols` elements (all dimensions after the first).
    pub fn rows(&self) -> u64 {
        self.dims[1..].iter().product()
    }

    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// Every tensor llama.cpp loads for the architecture (checked by [`gguf_arch`] first).
pub fn tensors(a: &Architecture) -> Vec<LayoutTensor> {
    let (h, v, l) = (a.hidden_size, a.vocab_size, a.layers);
    let (q, kv, i) = (a.q_dim(), a.kv_dim(), a.intermediate_size);
    let layer_norm = a.norm == NormKind::Layer;
    let mut out = Vec::new();
    let mut push = |name: String, role: Role, layer: Option<u64>, dims: Vec<u64>| {
        out.push(LayoutTensor {
            name,
            role,
            layer: layer.map(|i| (i, l)),
            dims,
        })
    };
    push("token_embd.weight".into(), Role::Embedding, None, vec![h, v]);
    for n in 0..l {
        let b = |s: &str| format!("blk.{n}.{s}");
        let at = Some(n);
        push(b("attn_norm.weight"), Role::Norm, at, vec![h]);
        if layer_norm {
            push(b("attn_norm.bias"), Role::Norm, at, vec![h]);
        }
        if a.fused_qkv {
            push(b("attn_qkv.weight"), Role::AttnQkv, at, vec![h, q + 2 * kv]);
            if a.qkv_bias {
                push(b("attn_qkv.bias"), Role::Bias, at, vec![q + 2 * kv]);
            }
        } else {
            push(b("attn_q.weight"), Role::AttnQkv, at, vec![h, q]);
            push(b("attn_k.weight"), Role::AttnK, at, vec![h, kv]);
            push(b("attn_v.weight"), Role::AttnV, at, vec![h, kv]);
            if a.qk_norm {
                // src/models/qwen3.cpp, qwen3moe.cpp: one RMSNorm weight of head_dim each
                push(b("attn_q_norm.weight"), Role::Norm, at, vec![a.head_dim()]);
                push(b("attn_k_norm.weight"), Role::Norm, at, vec![a.head_dim()]);
            }
            if a.qkv_bias {
                push(b("attn_q.bias"), Role::Bias, at, vec![q]);
                push(b("attn_k.bias"), Role::Bias, at, vec![kv]);
                push(b("attn_v.bias"), Role::Bias, at, vec![kv]);
            }
        }
        push(b("attn_output.weight"), Role::AttnOut, at, vec![q, h]);
        if a.o_bias {
            push(b("attn_output.bias"), Role::Bias, at, vec![h]);
        }
        push(b("ffn_norm.weight"), Role::Norm, at, vec![h]);
        if layer_norm {
            push(b("ffn_norm.bias"), Role::Norm, at, vec![h]);
        }
        match &a.moe {
            Some(m) => {
                let e = m.experts;
                let i = m.expert_intermediate_size.unwrap_or(i);
                push(b("ffn_gate_inp.weight"), Role::Router, at, vec![h, e]);
                push(b("ffn_gate_exps.weight"), Role::Expert, at, vec![h, i, e]);
                push(b("ffn_up_exps.weight"), Role::Expert, at, vec![h, i, e]);
                push(b("ffn_down_exps.weight"), Role::ExpertDown, at, vec![i, h, e]);
            }
            // Phi-3 stores gate and up as one 2x-wide ffn_up
            None if a.kind == ArchType::Phi3 => {
                push(b("ffn_up.weight"), Role::MlpUp, at, vec![h, 2 * i]);
                push(b("ffn_down.weight"), Role::MlpDown, at, vec![i, h]);
                if a.mlp_bias {
                    push(b("ffn_up.bias"), Role::Bias, at, vec![2 * i]);
                    push(b("ffn_down.bias"), Role::Bias, at, vec![h]);
                }
            }
            None => {
                let gated = a.mlp == MlpKind::Gated;
                if gated {
                    push(b("ffn_gate.weight"), Role::MlpUp, at, vec![h, i]);
                }
                push(b("ffn_up.weight"), Role::MlpUp, at, vec![h, i]);
                push(b("ffn_down.weight"), Role::MlpDown, at, vec![i, h]);
                if a.mlp_bias {
                    if gated {
                        push(b("ffn_gate.bias"), Role::Bias, at, vec![i]);
                    }
                    push(b("ffn_up.bias"), Role::Bias, at, vec![i]);
                    push(b("ffn_down.bias"), Role::Bias, at, vec![h]);
                }
            }
        }
    }
    push("output_norm.weight".into(), Role::Norm, None, vec![h]);
    if layer_norm {
        push("output_norm.bias".into(), Role::Norm, None, vec![h]);
    }
    if !a.tie_embeddings {
        push("output.weight".into(), Role::LmHead, None, vec![h, v]);
    }
    if a.lm_head_bias {
        push("output.bias".into(), Role::Bias, None, vec![v]);
    }
    out
}
