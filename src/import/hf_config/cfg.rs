//! Reading config.json fields with their provenance: a value stated in the file, the config class's
//! default when absent, or an error naming the key and its line.

use super::super::provenance::Provenance;
use super::super::{Basis, ImportError};
use serde_json::{Map, Value};
use std::path::Path;

/// Field values with their provenance; `class` names the config class whose defaults apply. Reads
/// from the top-level object, or from a nested one (`text_config`) after [`Cfg::enter`].
pub struct Cfg<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    map: &'a Map<String, Value>,
    root: &'a Map<String, Value>,
    /// where `map` sits in the file: "" or e.g. "text_config."
    prefix: String,
    pub class: &'static str,
    pub prov: Provenance,
}

impl<'a> Cfg<'a> {
    pub fn new(path: &'a Path, text: &'a str, map: &'a Map<String, Value>, class: &'static str) -> Self {
        Cfg {
            path,
            text,
            map,
            root: map,
            prefix: String::new(),
            class,
            prov: Provenance::default(),
        }
    }

    /// Reads from the nested object `key` of the top level from now on (multimodal configs keep the
    /// language model in `text_config`). Absent: stays at the top level and returns false.
    pub fn enter(&mut self, key: &str) -> Result<bool, ImportError> {
        match self.root.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Object(m)) => {
                self.map = m;
                self.prefix = format!("{key}.");
                Ok(true)
            }
            Some(v) => Err(self.err_at(key, format!("expected an object, got {}", short(v)))),
        }
    }

    /// Back to the top-level object.
    pub fn leave(&mut self) {
        self.map = self.root;
        self.prefix.clear();
    }

    /// The object being read (top level or nested).
    pub fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    /// The top-level object.
    pub fn root(&self) -> &'a Map<String, Value> {
        self.root
    }

    /// `key` as it is spelled in the file (with the nested object's name in front).
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// An error at `key` of the object being read.
    pub fn err(&self, key: &str, message: impl Into<String>) -> ImportError {
        self.err_at(&self.key(key), message)
    }

    /// An error at a full dotted key path.
    pub fn err_at(&self, key: &str, message: impl Into<String>) -> ImportError {
        ImportError::field(self.path, self.text, key, message)
    }

    pub fn note(&mut self, field: &str, value: impl ToString, basis: Basis, source: String) {
        self.prov.record(field, value, basis, source);
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        self.prov.warn(message);
    }

    pub fn stated(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn to_u64(&self, key: &str, v: &Value) -> Result<u64, ImportError> {
        let n = match v {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 9.0e15)
                    .map(|f| f as u64)
            }),
            _ => None,
        };
        n.ok_or_else(|| match v.as_str() {
            Some(f @ ("NaN" | "Infinity" | "-Infinity")) => self.err(
                key,
                format!("Python's `{f}` (config.json as Python writes it) where a count belongs"),
            ),
            _ => self.err(key, format!("expected a non-negative integer, got {}", short(v))),
        })
    }

    /// A count: stated, else the class default (or an error when the class has none).
    pub fn count(&mut self, key: &str, field: &str, default: Option<u64>) -> Result<u64, ImportError> {
        match self.stated(key) {
            Some(v) => {
                let n = self.to_u64(key, v)?;
                let source = format!("config.json `{}`", self.key(key));
                self.note(field, n, Basis::Config, source);
                Ok(n)
            }
            None => match default {
                Some(d) => {
                    let source = format!("`{}` absent: {} default", self.key(key), self.class);
                    self.note(field, d, Basis::Default, source);
                    Ok(d)
                }
                None => Err(self.err(key, format!("missing, and {} has no default for it", self.class))),
            },
        }
    }

    /// An optional count: absent takes `default`, an explicit null means none.
    pub fn opt_count(&mut self, key: &str, field: &str, default: Option<u64>) -> Result<Option<u64>, ImportError> {
        match self.map.get(key) {
            Some(Value::Null) => {
                let source = format!("config.json `{}`: null", self.key(key));
                self.note(field, "none", Basis::Config, source);
                Ok(None)
            }
            Some(v) => {
                let n = self.to_u64(key, v)?;
                let source = format!("config.json `{}`", self.key(key));
                self.note(field, n, Basis::Config, source);
                Ok(Some(n))
            }
            None => {
                let shown = default.map_or("none".to_string(), |d| d.to_string());
                let source = format!("`{}` absent: {} default", self.key(key), self.class);
                self.note(field, shown, Basis::Default, source);
                Ok(default)
            }
        }
    }

    pub fn flag(&mut self, key: &str, field: &str, default: bool) -> Result<bool, ImportError> {
        match self.stated(key) {
            Some(Value::Bool(b)) => {
                let source = format!("config.json `{}`", self.key(key));
                self.note(field, b, Basis::Config, source);
                Ok(*b)
            }
            Some(v) => Err(self.err(key, format!("expected true or false, got {}", short(v)))),
            None => {
                let source = format!("`{}` absent: {} default", self.key(key), self.class);
                self.note(field, default, Basis::Default, source);
                Ok(default)
            }
        }
    }

    /// A layout fact the config cannot change: from the modeling code.
    pub fn fixed(&mut self, field: &str, value: impl ToString, why: &str) {
        self.note(field, value, Basis::Default, why.to_string());
    }

    pub fn string(&self, key: &str) -> Result<Option<&'a str>, ImportError> {
        match self.stated(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(self.err(key, format!("expected a string, got {}", short(v)))),
        }
    }

    pub fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, ImportError> {
        match self.stated(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(self.err(key, format!("expected an object, got {}", short(v)))),
        }
    }

    /// A list of non-negative integers (absent or null: empty); its length is bounded by the file.
    pub fn int_list(&self, key: &str) -> Result<Vec<u64>, ImportError> {
        match self.stated(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(|v| self.to_u64(key, v)).collect(),
            Some(v) => Err(self.err(key, format!("expected a list of layer indices, got {}", short(v)))),
        }
    }
}

/// A value for an error message, cut short.
pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}
