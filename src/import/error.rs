//! Import errors: each names the file and where in it (line for JSON, byte offset for binary
//! headers) and what is wrong.

use crate::spec::SpecError;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// JSON syntax error, or a document of the wrong shape.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A config.json field with an impossible or unsupported value.
    #[error("{}{}: field `{field}`: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Field {
        path: PathBuf,
        line: Option<usize>,
        field: String,
        message: String,
    },
    /// A binary header (safetensors, GGUF) that is malformed, truncated or hostile.
    #[error("{}: byte {offset}: {message}", path.display())]
    Header {
        path: PathBuf,
        offset: u64,
        message: String,
    },
    /// A file or directory gpuplan cannot import (unknown architecture, no config.json, ...).
    #[error("{}: {message}", path.display())]
    Unsupported { path: PathBuf, message: String },
    /// The imported spec failed the spec checks.
    #[error(transparent)]
    Spec(#[from] SpecError),
}

impl ImportError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        ImportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn header(path: &Path, offset: u64, message: impl Into<String>) -> Self {
        ImportError::Header {
            path: path.to_path_buf(),
            offset,
            message: message.into(),
        }
    }

    pub fn unsupported(path: &Path, message: impl Into<String>) -> Self {
        ImportError::Unsupported {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub fn json(path: &Path, err: &serde_json::Error) -> Self {
        // serde_json appends " at line L column C"; the location is already in front
        let mut message = err.to_string();
        if let Some(pos) = message.find(" at line ") {
            message.truncate(pos);
        }
        ImportError::Json {
            path: path.to_path_buf(),
            line: err.line(),
            column: err.column(),
            message,
        }
    }

    /// A field error; `text` (the JSON) locates the field's line.
    pub fn field(path: &Path, text: &str, field: &str, message: impl Into<String>) -> Self {
        ImportError::Field {
            path: path.to_path_buf(),
            line: json_line_of(text, field),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// 1-based line of a dotted field path in a JSON text: each segment's `"key":` searched after the
/// one before (`text_config.hidden_size` finds the `hidden_size` inside `text_config`); when a segment
/// is not there, the first `"key":` of the last segment anywhere.
pub fn json_line_of(text: &str, field: &str) -> Option<usize> {
    let mut nested = Some(0);
    for key in field.split('.') {
        nested = nested.and_then(|from| key_at(text, key, from));
    }
    let at = match nested {
        Some(at) => at,
        None => key_at(text, field.rsplit('.').next()?, 0)?,
    };
    Some(text.get(..at)?.matches('\n').count() + 1)
}

/// Byte offset of the first `"key":` at or after `from`.
fn key_at(text: &str, key: &str, mut from: usize) -> Option<usize> {
    let needle = format!("\"{key}\"");
    while let Some(rel) = text.get(from..)?.find(&needle) {
        let at = from + rel;
        let after = text.get(at + needle.len()..)?.trim_start();
        if after.starts_with(':') {
            return Some(at);
        }
        from = at + needle.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::json_line_of;

    #[test]
    fn finds_json_keys_not_values() {
        let t = "{\n  \"model_type\": \"hidden_size\",\n  \"hidden_size\": 4\n}";
        assert_eq!(json_line_of(t, "hidden_size"), Some(3));
        assert_eq!(json_line_of(t, "quantization_config.model_type"), Some(2));
        assert_eq!(json_line_of(t, "absent"), None);
        let nested =
            "{\n  \"vision_config\": {\"hidden_size\": 1},\n  \"text_config\": {\n    \"hidden_size\": 2\n  }\n}";
        assert_eq!(json_line_of(nested, "text_config.hidden_size"), Some(4));
        assert_eq!(json_line_of(nested, "hidden_size"), Some(2));
    }
}
