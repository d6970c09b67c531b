//! What the safetensors headers of a transformers checkpoint say beyond the config: the parameter
//! count (packed quantized weights unpacked, quantization scales and buffers left out), and layout
//! facts the config only implies (tied embeddings, biases, norm kind, vocabulary rows), which replace
//! the config's values as exact.

use super::hf_config::{Parsed, Quant};
use super::{Basis, FieldNote, TensorSummary};
use crate::spec::model::NormKind;
use crate::spec::precision::{Quantization, ScaleDtype};

/// Suffixes of quantization side tensors (not model parameters): GPTQ/AWQ zeros, scales and
/// act-order indices; bitsandbytes int8 row scales and 4-bit quant state; FP8 scales.
const QUANT_AUX: &[&str] = &[
    ".qzeros",
    ".scales",
    ".g_idx",
    ".SCB",
    ".weight_format",
    ".weight_scale",
    ".weight_scale_inv",
    ".input_scale",
    ".absmax",
    ".quant_map",
    ".nested_absmax",
    ".nested_quant_map",
    // gpt-oss MXFP4 scales; NVFP4 / compressed-tensors side tensors
    "_scales",
    ".weight_scale_2",
    ".weight_global_scale",
    ".input_global_scale",
    ".weight_shape",
    ".weight_zero_point",
    ".weight_g_idx",
];

/// Non-parameter buffers some checkpoints save.
const BUFFERS: &[&str] = &[".inv_freq", ".masked_bias", ".position_ids"];

/// Counts parameters from the tensors (into `s.parameters`, with what was left out) and refines the
/// spec from tensor presence and shapes.
pub fn refine_from_hf_tensors(p: &mut Parsed, s: &mut TensorSummary) {
    let layers = p.spec.architecture.as_ref().map_or(u64::MAX, |a| a.layers);
    count_parameters(s, p.quant, layers);
    let tied = p.spec.architecture.as_ref().is_some_and(|a| a.tie_embeddings);
    if tied {
        drop_tied_head(s);
    }
    refine_layout(p, s);
    refine_scale_dtype(p, s);
}

/// A tied model whose checkpoint also stores `lm_head.weight` (Qwen3-0.6B / 1.7B): the engines load
/// the embedding once and reuse it, so the copy is left out of the count (its bytes stay in the
/// file's total).
fn drop_tied_head(s: &mut TensorSummary) {
    let Some(head) = s.tensors.iter().find(|t| text_name(&t.name) == Some("lm_head.weight")) else {
        return;
    };
    let has_embed = s
        .tensors
        .iter()
        .any(|t| text_name(&t.name) == Some("embed_tokens.weight"));
    if has_embed {
        s.parameters = s.parameters.saturating_sub(head.elements());
        s.not_counted
            .push("lm_head.weight: a copy of the tied embedding (tie_word_embeddings), loaded once".to_string());
    }
}

/// The scale dtype a quantized checkpoint wrote, where its format lets the writer choose: FP8 block
/// `weight_scale_inv` (DeepSeek f32, Qwen3 bf16), FP8 / int8 `weight_scale`. Read from the first such
/// tensor; it replaces the format's default as exact.
fn refine_scale_dtype(p: &mut Parsed, s: &TensorSummary) {
    if p.quant == Quant::None {
        return;
    }
    let found = s.tensors.iter().find_map(|t| {
        let scale = t.name.ends_with(".weight_scale_inv") || t.name.ends_with(".weight_scale");
        scale.then(|| ScaleDtype::from_safetensors(&t.dtype).map(|d| (d, t.name.as_str())))?
    });
    let Some((dtype, name)) = found else { return };
    p.spec
        .quantization
        .get_or_insert_with(Quantization::default)
        .scale_dtype = Some(dtype);
    p.notes.retain(|n| n.field != "quantization.scale_dtype");
    p.notes.push(FieldNote {
        field: "quantization.scale_dtype".into(),
        value: dtype.label().into(),
        basis: Basis::Exact,
        source: format!("tensor {name}"),
    });
}

/// Logical parameters: elements of every tensor, GPTQ/AWQ `qweight` and compressed-tensors
/// `weight_packed` (int32 holding 32/bits weights) unpacked, 4-bit bytes (bitsandbytes `weight`,
/// MXFP4 `*_blocks`, NVFP4 `weight`: two weights per byte) unpacked; quantization side
/// tensors, buffers and decoder layers beyond `layers` (DeepSeek-V3's multi-token-prediction layer,
/// which transformers does not load) not counted.
pub fn count_parameters(s: &mut TensorSummary, quant: Quant, layers: u64) {
    let (mut total, mut aux, mut buffers, mut extra) = (0u64, 0u64, 0u64, 0u64);
    for t in &s.tensors {
        let n = t.elements();
        if QUANT_AUX.iter().any(|suf| t.name.ends_with(suf)) || t.name.contains(".quant_state.") {
            aux += 1;
        } else if BUFFERS.iter().any(|suf| t.name.ends_with(suf)) {
            buffers += 1;
        } else if text_name(&t.name).and_then(layer_index).is_some_and(|i| i >= layers) {
            extra += 1;
        } else if t.name.ends_with(".qweight") && t.dtype == "I32" {
            let bits = match quant {
                Quant::Packed { bits, .. } => bits,
                _ => 4,
            };
            total = total.saturating_add(n.saturating_mul(32) / bits.max(1));
        } else if t.name.ends_with(".weight_packed") && t.dtype == "I32" {
            let bits = match quant {
                Quant::Packed { bits, .. } => bits,
                _ => 4,
            };
            total = total.saturating_add(n.saturating_mul(32 / bits.clamp(1, 32)));
        } else if t.dtype == "U8"
            && ((quant == Quant::Bnb4 && t.name.ends_with(".weight"))
                || (quant == Quant::Fp4
                    && (t.name.ends_with("_blocks")
                        || t.name.ends_with(".weight")
                        || t.name.ends_with(".weight_packed"))))
        {
            // two 4-bit weights per byte (bitsandbytes, MXFP4 blocks, NVFP4)
            total = total.saturating_add(n.saturating_mul(2));
        } else {
            total = total.saturating_add(n);
        }
    }
    s.parameters = total;
    s.not_counted.clear();
    for (k, what) in [
        (aux, "quantization scales/zeros/indices"),
        (buffers, "non-parameter buffers (rotary inv_freq, ...)"),
        (
            extra,
            "tensors of decoder layers beyond num_hidden_layers (not loaded by transformers)",
        ),
    ] {
        if k > 0 {
            s.not_counted.push(format!("{k} {what}"));
        }
    }
}

/// The decoder layer a tensor belongs to (`model.layers.12.mlp...` -> 12).
fn layer_index(name: &str) -> Option<u64> {
    let at = name.find("layers.")?;
    if at > 0 && !name[..at].ends_with('.') {
        return None;
    }
    let rest = &name[at + "layers.".len()..];
    let digits: &str = &rest[..rest.find('.').unwrap_or(rest.len())];
    digits.parse().ok()
}

/// The text decoder's name for a tensor (prefixes stripped), None for vision-tower tensors.
fn text_name(name: &str) -> Option<&str> {
    if [
        "vision",
        "img_processor",
        "img_projection",
        "visual",
        "glb_GN",
        "sub_GN",
    ]
    .iter()
    .any(|v| name.contains(v))
    {
        return None;
    }
    let mut n = name;
    for prefix in ["language_model.", "model.", "transformer."] {
        if let Some(rest) = n.strip_prefix(prefix) {
            n = rest;
        }
    }
    Some(n)
}

fn refine_layout(p: &mut Parsed, s: &TensorSummary) {
    let Some(a) = p.spec.architecture.as_mut() else { return };
    let names: Vec<&str> = s.tensors.iter().filter_map(|t| text_name(&t.name)).collect();
    let has = |n: &str| names.contains(&n);
    let layer0 = |suffix: &str| has(&format!("layers.0.{suffix}"));
    let set =
        |notes: &mut Vec<FieldNote>, warnings: &mut Vec<String>, field: &str, old: String, new: String, why: &str| {
            if old != new {
                warnings.push(format!(
                    "{field}: the config implies {old}, the tensors show {new}; using the tensors"
                ));
            }
            notes.retain(|n| n.field != field);
            notes.push(FieldNote {
                field: field.to_string(),
                value: new,
                basis: Basis::Exact,
                source: why.to_string(),
            });
        };
    let (notes, warnings) = (&mut p.notes, &mut p.warnings);

    let embed = s
        .tensors
        .iter()
        .find(|t| text_name(&t.name) == Some("embed_tokens.weight"));
    if let Some(e) = embed {
        let head = names.iter().any(|n| n.starts_with("lm_head."));
        // a tied config whose checkpoint stores a copy of the head stays tied (drop_tied_head)
        let tie = !head || a.tie_embeddings;
        set(
            notes,
            warnings,
            "architecture.tie_embeddings",
            a.tie_embeddings.to_string(),
            tie.to_string(),
            match (head, tie) {
                (true, true) => "tie_word_embeddings, and lm_head.weight stored as a copy of embed_tokens",
                (true, false) => "tensor lm_head.* present",
                _ => "no lm_head tensor: the head reuses embed_tokens",
            },
        );
        a.tie_embeddings = tie;
        if let (Some(&rows), 2) = (e.shape.first(), e.shape.len()) {
            set(
                notes,
                warnings,
                "architecture.vocab_size",
                a.vocab_size.to_string(),
                rows.to_string(),
                "rows of embed_tokens.weight",
            );
            a.vocab_size = rows;
        }
        let lm_bias = has("lm_head.bias");
        set(
            notes,
            warnings,
            "architecture.lm_head_bias",
            a.lm_head_bias.to_string(),
            lm_bias.to_string(),
            "tensor lm_head.bias present or not",
        );
        a.lm_head_bias = lm_bias;
    }
    if a.mla.is_some() {
        return;
    }
    let attn = ["self_attn.q_proj", "self_attn.qkv_proj", "self_attn.query_key_value"];
    let weight_or_q = |base: &str| layer0(&format!("{base}.weight")) || layer0(&format!("{base}.qweight"));
    if attn.iter().any(|b| weight_or_q(b)) {
        let qkv = attn.iter().any(|b| layer0(&format!("{b}.bias")));
        set(
            notes,
            warnings,
            "architecture.qkv_bias",
            a.qkv_bias.to_string(),
            qkv.to_string(),
            "layer 0 q/k/v bias tensors present or not",
        );
        a.qkv_bias = qkv;
        let o = layer0("self_attn.o_proj.bias") || layer0("self_attn.dense.bias");
        set(
            notes,
            warnings,
            "architecture.o_bias",
            a.o_bias.to_string(),
            o.to_string(),
            "layer 0 o_proj/dense bias present or not",
        );
        a.o_bias = o;
    }
    let mlp = ["mlp.down_proj", "mlp.fc2"];
    if a.moe.is_none() && mlp.iter().any(|b| weight_or_q(b)) {
        let bias = ["mlp.down_proj.bias", "mlp.fc2.bias", "mlp.up_proj.bias", "mlp.fc1.bias"]
            .iter()
            .any(|b| layer0(b));
        set(
            notes,
            warnings,
            "architecture.mlp_bias",
            a.mlp_bias.to_string(),
            bias.to_string(),
            "layer 0 MLP bias tensors present or not",
        );
        a.mlp_bias = bias;
    }
    if layer0("input_layernorm.weight") {
        let norm = if layer0("input_layernorm.bias") {
            NormKind::Layer
        } else {
            NormKind::Rms
        };
        let show = |n: NormKind| if n == NormKind::Layer { "layer" } else { "rms" };
        set(
            notes,
            warnings,
            "architecture.norm",
            show(a.norm).into(),
            show(norm).into(),
            "layer 0 input_layernorm has a bias (LayerNorm) or not (RMSNorm)",
        );
        a.norm = norm;
    }
}

#[cfg(test)]
mod tests {
    use super::layer_index;

    #[test]
    fn layer_index_reads_decoder_layers_only() {
        assert_eq!(layer_index("model.layers.12.mlp.gate.weight"), Some(12));
        assert_eq!(layer_index("layers.0.x"), Some(0));
        assert_eq!(layer_index("model.vision.encoder_layers.3.x"), None);
        assert_eq!(layer_index("model.norm.weight"), None);
    }
}
