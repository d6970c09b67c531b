//! Hugging Face `config.json` -> [`ModelSpec`].
//!
//! The common decoder fields (sizes, heads, vocabulary, context, tied embeddings) are read here; each
//! architecture family reads its own fields in `import/family/<family>.rs`. Absent fields take the
//! value the family's transformers config class gives them, and every field's provenance is recorded.

mod cfg;
mod dtype;

pub use cfg::Cfg;

use super::family::{self, Decoder, Family};
use super::{Basis, FieldNote, ImportError, SourceKind};
use crate::spec::model::{Architecture, MAX_LAYERS};
use crate::spec::ModelSpec;
use cfg::short;
use serde_json::{Map, Value};
use std::path::Path;

/// config.json files are kilobytes; a longrope config with its factor lists stays far below this.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

pub use super::quantization::Quant;

/// A parsed config: the spec and what each field rests on.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub spec: ModelSpec,
    pub notes: Vec<FieldNote>,
    pub warnings: Vec<String>,
    pub quant: Quant,
    /// the transformers config class whose defaults applied
    pub class: &'static str,
}

/// Imports a config.json on its own (no tensors to check against).
pub fn import_file(path: &Path) -> Result<super::Imported, ImportError> {
    import_text(path, &super::read_text(path, MAX_CONFIG_BYTES)?)
}

/// Imports a config.json given as text (`gpuplan serve`'s API); `path` names it in errors.
pub fn import_text(path: &Path, text: &str) -> Result<super::Imported, ImportError> {
    let p = parse(path, text)?;
    super::finish(path, SourceKind::Config, p.spec, p.notes, None, p.warnings)
}

/// Names of the supported `model_type`s.
pub fn supported() -> Vec<&'static str> {
    family::ALL.iter().map(|f| f.model_type).collect()
}

/// Parses a config.json text. `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<Parsed, ImportError> {
    let json = python_floats(text);
    let value: Value = serde_json::from_str(&json).map_err(|e| ImportError::json(path, &e))?;
    let Value::Object(map) = &value else {
        return Err(ImportError::Json {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: "config.json must be a JSON object".into(),
        });
    };
    let model_type = model_type(path, text, map)?;
    let Some(fam) = family::by_model_type(&model_type) else {
        let remote = match map.get("auto_map") {
            Some(Value::Object(m)) => format!(
                "; it needs remote code (`auto_map` points at {}), which gpuplan does not run",
                m.values()
                    .filter_map(Value::as_str)
                    .next()
                    .unwrap_or("the repository's Python")
            ),
            _ => String::new(),
        };
        return Err(ImportError::field(
            path,
            text,
            "model_type",
            format!(
                "`{model_type}` is not an architecture gpuplan imports (supported: {}){remote}. \
                 For a coarse estimate, import the model directory with its .safetensors files: \
                 gpuplan then takes the parameters from the tensor headers alone (summary level)",
                supported().join(", ")
            ),
        ));
    };
    let mut c = Cfg::new(path, text, map, fam.defaults.class);
    c.note(
        "architecture.type",
        fam.kind.name(),
        Basis::Config,
        format!("config.json `model_type` {model_type}"),
    );
    if fam.text_config {
        c.enter("text_config")?;
    }
    let mut m = decoder(&mut c, fam)?;
    (fam.config)(&mut c, &mut m)?;
    c.leave();

    let checkpoint = dtype::dtype_and_quant(&mut c)?;
    if let Some(rope) = c.object("rope_scaling")?.or(c.object("rope_parameters")?) {
        let t = rope
            .get("rope_type")
            .or(rope.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        c.note(
            "notes",
            format!("rope scaling `{t}`"),
            Basis::Config,
            "config.json `rope_scaling`".into(),
        );
    }
    let name = super::source_name(path);
    let hf_id = c
        .string("_name_or_path")
        .ok()
        .flatten()
        .filter(|s| {
            s.split('/').count() == 2
                && !s.starts_with('/')
                && !s.starts_with('.')
                && s.chars().all(|ch| ch.is_ascii_alphanumeric() || "/._-".contains(ch))
        })
        .map(str::to_string);
    let notes_text = c.prov.value("notes").map(str::to_string);
    let spec = ModelSpec {
        id: super::id_from(&name),
        name,
        hf_id,
        aliases: Vec::new(),
        max_context: m.max_context,
        dtype: checkpoint.dtype,
        parameters: None,
        active_parameters: None,
        architecture: Some(m.arch),
        kv_cache: None,
        vision: m.vision,
        quantization: checkpoint.quantization,
        sources: Vec::new(),
        notes: notes_text,
    };
    let notes = c.prov.notes.into_iter().filter(|n| n.field != "notes").collect();
    Ok(Parsed {
        spec,
        notes,
        warnings: c.prov.warnings,
        quant: checkpoint.quant,
        class: fam.defaults.class,
    })
}

/// The fields every decoder family shares: sizes, heads, vocabulary, context, tied embeddings.
fn decoder(c: &mut Cfg, fam: &Family) -> Result<Decoder, ImportError> {
    let defaults = &fam.defaults;
    let hidden = c.count("hidden_size", "architecture.hidden_size", defaults.hidden)?;
    let layers = c.count("num_hidden_layers", "architecture.layers", defaults.layers)?;
    let heads = c.count("num_attention_heads", "architecture.attention_heads", defaults.heads)?;
    let vocab = c.count("vocab_size", "architecture.vocab_size", defaults.vocab)?;
    if heads == 0 {
        return Err(c.err("num_attention_heads", "must be positive"));
    }
    if layers > MAX_LAYERS {
        return Err(c.err(
            "num_hidden_layers",
            format!("{layers} layers: more than the {MAX_LAYERS} a spec may have"),
        ));
    }
    let intermediate = c.count(
        defaults.intermediate_key,
        "architecture.intermediate_size",
        defaults.intermediate,
    )?;
    let max_context = c.count("max_position_embeddings", "max_context", defaults.max_position)?;
    let kv_heads = match c.opt_count("num_key_value_heads", "architecture.kv_heads", defaults.kv_heads)? {
        Some(k) => k,
        None => {
            c.note(
                "architecture.kv_heads",
                heads,
                Basis::Derived,
                "no `num_key_value_heads`: one KV head per attention head".into(),
            );
            heads
        }
    };
    let head_dim = match c.opt_count("head_dim", "architecture.head_dim", defaults.head_dim)? {
        Some(h) => h,
        None => {
            c.note(
                "architecture.head_dim",
                hidden / heads,
                Basis::Derived,
                "hidden_size / num_attention_heads".into(),
            );
            hidden / heads
        }
    };
    let tie = c.flag("tie_word_embeddings", "architecture.tie_embeddings", defaults.tie)?;
    Ok(Decoder {
        arch: Architecture {
            kv_heads: Some(kv_heads),
            head_dim: Some(head_dim),
            tie_embeddings: tie,
            ..Architecture::decoder(fam.kind, hidden, layers, heads, intermediate, vocab)
        },
        max_context,
        vision: None,
    })
}

/// The `model_type` a config names when gpuplan has no family for it (None: known, or no JSON
/// object with a model_type at all).
pub fn unknown_model_type(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(&python_floats(text)).ok()?;
    let t = value.get("model_type")?.as_str()?;
    family::by_model_type(t).is_none().then(|| t.to_string())
}

/// Python's json writes `NaN`, `Infinity` and `-Infinity` for float fields (some Nemotron-H configs:
/// `"time_step_limit": [0.0, Infinity]`); strict JSON has none of them. Outside strings, each becomes
/// the string `"NaN"` / `"Infinity"` / `"-Infinity"`: fields gpuplan does not read accept anything,
/// and a field it reads as a number reports the value by name. Lines stay where they were.
pub fn python_floats(text: &str) -> std::borrow::Cow<'_, str> {
    const TOKENS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];
    if !TOKENS.iter().any(|t| text.contains(t)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(ch) = rest.chars().next() {
        if in_string {
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if ch == '"' {
            in_string = true;
        } else if let Some(t) = TOKENS.iter().find(|t| rest.starts_with(**t)) {
            let follows = rest[t.len()..].chars().next();
            let after_value = out.trim_end().ends_with([':', ',', '[']);
            if after_value && follows.is_none_or(|c| c.is_whitespace() || ",]}".contains(c)) {
                out.push('"');
                out.push_str(t);
                out.push('"');
                rest = &rest[t.len()..];
                continue;
            }
        }
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    std::borrow::Cow::Owned(out)
}

/// `model_type`, or the first `architectures` entry mapped back to one.
fn model_type(path: &Path, text: &str, map: &Map<String, Value>) -> Result<String, ImportError> {
    match map.get("model_type") {
        Some(Value::String(s)) => return Ok(s.clone()),
        Some(v) if !v.is_null() => {
            return Err(ImportError::field(
                path,
                text,
                "model_type",
                format!("expected a string, got {}", short(v)),
            ))
        }
        _ => {}
    }
    if let Some(Value::Array(list)) = map.get("architectures") {
        if let Some(Value::String(class)) = list.first() {
            if let Some(f) = family::by_class(class) {
                return Ok(f.model_type.to_string());
            }
            return Err(ImportError::field(
                path,
                text,
                "architectures",
                format!("`{class}` is not an architecture gpuplan imports"),
            ));
        }
    }
    Err(ImportError::field(
        path,
        text,
        "model_type",
        "missing (and no known `architectures` entry): cannot tell the architecture",
    ))
}

/// Reads `preprocessor_config.json` next to a phi3_v config for the processor's `num_crops`.
pub fn read_processor(dir: &Path, p: &mut Parsed) -> Result<(), ImportError> {
    let Some(v) = p.spec.vision.as_mut() else {
        return Ok(());
    };
    let path = dir.join("preprocessor_config.json");
    if !path.is_file() {
        return Ok(());
    }
    let text = super::read_text(&path, 1 << 20)?;
    let value: Value = serde_json::from_str(&text).map_err(|e| ImportError::json(&path, &e))?;
    if let Some(n) = value.get("num_crops") {
        let crops = n
            .as_u64()
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| ImportError::field(&path, &text, "num_crops", "expected 1..64"))?;
        v.default_crops = crops;
        v.max_crops = v.max_crops.max(crops);
        p.notes.push(FieldNote {
            field: "vision.default_crops".into(),
            value: crops.to_string(),
            basis: Basis::Config,
            source: "preprocessor_config.json `num_crops`".into(),
        });
    }
    Ok(())
}
