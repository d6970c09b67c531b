//! Errors for declarative inputs: every message names the file, and where it can, the line and field.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in an input a problem sits: the file, the 1-based line when known, and the field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub field: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// YAML syntax or schema error (unknown field, missing field, wrong type).
    #[error("{at}: {message}")]
    Parse { at: Location, message: String },
    /// The document parsed, but a value is impossible (zero sizes, inconsistent counts, ...).
    #[error("{at}: {message}")]
    Invalid { at: Location, message: String },
    /// An id that no catalog entry or file answers to.
    #[error("unknown {kind} `{id}`{hint}")]
    Unknown {
        kind: &'static str,
        id: String,
        hint: String,
    },
    /// Two catalog entries claim the same id.
    #[error("{kind} id `{id}` is defined twice: {} and {}", first.display(), second.display())]
    Duplicate {
        kind: &'static str,
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
}

impl SpecError {
    pub fn invalid(file: &Path, text: &str, field: &str, message: impl Into<String>) -> Self {
        SpecError::Invalid {
            at: Location {
                file: file.to_path_buf(),
                line: super::locate::line_of(text, field),
                field: Some(field.to_string()),
            },
            message: message.into(),
        }
    }

    /// Converts a serde_yaml error: it carries the line and column; the field is in its message.
    pub fn from_yaml(file: &Path, err: serde_yaml::Error) -> Self {
        let line = err.location().map(|l| l.line());
        // serde_yaml appends " at line L column C" to its message; the location already says so.
        let mut message = err.to_string();
        if let Some(pos) = message.find(" at line ") {
            message.truncate(pos);
        }
        SpecError::Parse {
            at: Location {
                file: file.to_path_buf(),
                line,
                field: None,
            },
            message,
        }
    }
}
