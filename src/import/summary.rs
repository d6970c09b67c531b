//! The summary-level fallback for a model directory whose `model_type` gpuplan has no family for:
//! the parameter count from the safetensors headers alone, the KV cache from the config's layer and
//! head counts, everything else coarse (`arch::summary`).

use super::hf_config::{python_floats, Quant};
use super::{tensors, Basis, FieldNote, ImportError, SourceKind, TensorSummary};
use crate::spec::model::{KvShape, ModelSpec};
use serde_json::Value;
use std::path::Path;

/// Imports `dir` at summary level; `s` holds its tensors.
pub fn import(
    dir: &Path,
    config: &Path,
    text: &str,
    model_type: &str,
    mut s: TensorSummary,
    mut warnings: Vec<String>,
) -> Result<super::Imported, ImportError> {
    let value: Value = serde_json::from_str(&python_floats(text)).map_err(|e| ImportError::json(config, &e))?;
    // multimodal configs keep the decoder's sizes in text_config
    let text_cfg = value.get("text_config").filter(|v| v.is_object()).unwrap_or(&value);
    let get = |k: &str| {
        text_cfg
            .get(k)
            .or(value.get(k))
            .and_then(Value::as_u64)
            .filter(|&v| v > 0)
    };
    let layers = get("num_hidden_layers").or(get("n_layer")).or(get("num_layers"));
    let heads = get("num_attention_heads").or(get("n_head"));
    let kv_heads = get("num_key_value_heads").or(heads);
    let head_dim = get("head_dim").or_else(|| Some(get("hidden_size")? / heads?));
    let (Some(layers), Some(kv_heads), Some(head_dim)) = (layers, kv_heads, head_dim) else {
        return Err(ImportError::field(
            config,
            text,
            "model_type",
            format!(
                "`{model_type}` is not an architecture gpuplan imports, and the config lacks num_hidden_layers / \\
                 num_key_value_heads / head_dim for even a summary-level KV estimate"
            ),
        ));
    };
    tensors::count_parameters(&mut s, Quant::None, u64::MAX);
    let dtype = match value.get("torch_dtype").or(value.get("dtype")).and_then(Value::as_str) {
        Some("float16") => "fp16",
        Some("float32") => "fp32",
        _ => "bf16",
    };
    warnings.push(format!(
        "`{model_type}` is not an architecture gpuplan knows: summary level. The parameters ({}) come from the \\
         safetensors headers alone and the KV cache from the config's layer and head counts (every layer full \\
         attention); the weights split, activations and throughput are coarse",
        s.parameters
    ));
    let name = super::source_name(dir);
    let max_context = get("max_position_embeddings").unwrap_or(4096);
    let spec = ModelSpec {
        id: super::id_from(&name),
        name,
        hf_id: None,
        aliases: Vec::new(),
        max_context,
        dtype: dtype.into(),
        parameters: Some(s.parameters),
        active_parameters: None,
        architecture: None,
        quantization: None,
        kv_cache: Some(KvShape {
            layers: Some(layers),
            kv_heads: Some(kv_heads),
            head_dim: Some(head_dim),
            bytes_per_token_16bit: None,
            hidden_size: get("hidden_size"),
            vocab_size: get("vocab_size"),
        }),
        vision: None,
        sources: Vec::new(),
        notes: Some(format!(
            "summary level: model_type `{model_type}` has no family in gpuplan"
        )),
    };
    let notes = vec![FieldNote {
        field: "parameters".into(),
        value: s.parameters.to_string(),
        basis: Basis::Exact,
        source: format!("sum of {} tensors' elements (summary level)", s.tensors.len()),
    }];
    super::finish(dir, SourceKind::Directory, spec, notes, Some(s), warnings)
}
