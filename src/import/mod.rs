//! Import of real model files, offline and from headers only: a Hugging Face `config.json`, a model
//! directory (config.json + safetensors headers, sharded or not), or a GGUF file. The result is a
//! [`ModelSpec`] like the catalog's, plus where each field came from (exact from tensors, stated in the
//! config or metadata, an architecture default, or derived) and, when tensors were read, their exact
//! dtypes and bytes.
//!
//! Nothing here reads tensor data: safetensors files are read up to the end of their JSON header,
//! GGUF files up to the end of their tensor infos, so a 100 GB checkpoint imports in milliseconds.
//! Every length field is checked against the file size before anything is allocated.

pub mod error;
pub mod family;
pub mod fuzz_entry;
pub mod gguf;
pub mod hf_config;
pub mod provenance;
pub mod quantization;
pub mod safetensors;
pub mod summary;
pub mod tensors;

pub use error::ImportError;

use crate::estimate::{arch, kv};
use crate::spec::{KvPrecision, ModelSpec};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What a field's value rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// measured from the tensors themselves (shapes, presence, dtypes)
    Exact,
    /// stated in config.json or the GGUF metadata
    Config,
    /// absent: the architecture's default (transformers' config class, or the modeling code)
    Default,
    /// computed from other fields
    Derived,
}

impl Basis {
    pub fn label(self) -> &'static str {
        match self {
            Basis::Exact => "exact (tensors)",
            Basis::Config => "config",
            Basis::Default => "default",
            Basis::Derived => "derived",
        }
    }
}

/// Provenance of one spec field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldNote {
    /// spec path, e.g. `architecture.kv_heads`
    pub field: String,
    pub value: String,
    pub basis: Basis,
    /// where exactly: `config.json num_key_value_heads`, `MistralConfig default`, `tensor lm_head.weight`
    pub source: String,
}

/// What was imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// a config.json alone: every count is derived from it
    Config,
    /// config.json plus safetensors headers
    Directory,
    Gguf,
}

/// One tensor as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorEntry {
    pub name: String,
    /// safetensors dtype (`BF16`, `I32`, ...) or GGML type (`Q4_K`, ...)
    pub dtype: String,
    /// row-major (PyTorch) order
    pub shape: Vec<u64>,
    /// exact bytes in the file
    pub bytes: u64,
    /// index into [`TensorSummary::files`]
    pub file: usize,
}

impl TensorEntry {
    pub fn elements(&self) -> u64 {
        // bounded: every parser checks the product against the file size first
        self.shape.iter().product()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileSummary {
    pub path: PathBuf,
    /// bytes before the tensor data (length prefix + JSON, or GGUF header + infos + padding)
    pub header_bytes: u64,
    pub data_bytes: u64,
    pub tensors: u64,
}

/// Tensors of one dtype together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DtypeLine {
    pub dtype: String,
    pub tensors: u64,
    pub elements: u64,
    pub bytes: u64,
}

/// Every tensor of a checkpoint with its exact bytes, and what they add up to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorSummary {
    pub files: Vec<FileSummary>,
    pub by_dtype: Vec<DtypeLine>,
    pub tensors: Vec<TensorEntry>,
    /// Σ tensor bytes
    pub total_bytes: u64,
    /// model parameters counted from the tensors: packed quantized weights unpacked, quantization
    /// scales/zeros and non-parameter buffers left out (see `not_counted`)
    pub parameters: u64,
    /// what was left out of `parameters`, and why
    pub not_counted: Vec<String>,
}

impl TensorSummary {
    pub fn new(files: Vec<FileSummary>, tensors: Vec<TensorEntry>) -> Self {
        let mut by_dtype: Vec<DtypeLine> = Vec::new();
        for t in &tensors {
            match by_dtype.iter_mut().find(|l| l.dtype == t.dtype) {
                Some(l) => {
                    l.tensors += 1;
                    l.elements += t.elements();
                    l.bytes += t.bytes;
                }
                None => by_dtype.push(DtypeLine {
                    dtype: t.dtype.clone(),
                    tensors: 1,
                    elements: t.elements(),
                    bytes: t.bytes,
                }),
            }
        }
        by_dtype.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.dtype.cmp(&b.dtype)));
        let total_bytes = tensors.iter().map(|t| t.bytes).sum();
        TensorSummary {
            files,
            by_dtype,
            tensors,
            total_bytes,
            parameters: 0,
            not_counted: Vec::new(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&TensorEntry> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// An imported model.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    pub source: PathBuf,
    pub kind: SourceKind,
    pub spec: ModelSpec,
    pub provenance: Vec<FieldNote>,
    pub tensors: Option<TensorSummary>,
    pub warnings: Vec<String>,
    /// parameters the architecture derives (equal to the tensors' count when `parameters_checked`)
    pub derived_parameters: u64,
    pub derived_active_parameters: u64,
    /// true when the tensors' count was compared with the derivation and they agree
    pub parameters_checked: bool,
    /// KV bytes per token at 16 bits, from the imported architecture
    pub kv_bytes_per_token_16bit: u64,
}

/// Imports a config.json, a model directory, or a GGUF file (by extension, else by content).
pub fn import_path(path: &Path) -> Result<Imported, ImportError> {
    let meta = std::fs::metadata(path).map_err(|e| ImportError::io(path, e))?;
    if meta.is_dir() {
        return import_dir(path);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".gguf") {
        return gguf::import_file(path);
    }
    if name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json") {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return import_dir(dir);
    }
    if name.ends_with(".json") {
        return hf_config::import_file(path);
    }
    // no telling extension: sniff the first bytes
    let mut head = [0u8; 4];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| ImportError::io(path, e))?;
        f.read(&mut head).map_err(|e| ImportError::io(path, e))?
    };
    if n == 4 && &head == b"GGUF" {
        gguf::import_file(path)
    } else if head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        hf_config::import_file(path)
    } else {
        Err(ImportError::unsupported(
            path,
            "not a config.json, a model directory or a GGUF file (model specs are YAML: .yaml/.yml)",
        ))
    }
}

/// True when `key` names something [`import_path`] takes (an existing directory, .json, .gguf or
/// .safetensors file) rather than a catalog id or a YAML spec.
/// A bare word that happens to name a directory counts only when the directory holds a config.json
/// or a .gguf, so catalog ids keep working from any working directory.
pub fn is_importable(key: &str) -> bool {
    let p = Path::new(key);
    let lower = key.to_ascii_lowercase();
    if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        return false;
    }
    if p.is_dir() {
        let explicit = key.contains(std::path::MAIN_SEPARATOR) || key.contains('/') || key.starts_with('.');
        return explicit
            || p.join("config.json").is_file()
            || files_with_suffix(p, ".gguf").is_ok_and(|g| !g.is_empty());
    }
    p.is_file() && (lower.ends_with(".json") || lower.ends_with(".gguf") || lower.ends_with(".safetensors"))
}

/// A directory: config.json plus the safetensors headers it holds. A directory with no config.json
/// but exactly one .gguf file imports that file.
pub fn import_dir(dir: &Path) -> Result<Imported, ImportError> {
    let config = dir.join("config.json");
    if !config.is_file() {
        let ggufs = files_with_suffix(dir, ".gguf")?;
        return match ggufs.as_slice() {
            [one] => gguf::import_file(one),
            [] => Err(ImportError::unsupported(
                dir,
                "no config.json (and no .gguf file) in this directory",
            )),
            _ => Err(ImportError::unsupported(
                dir,
                format!(
                    "no config.json, and {} .gguf files: name the one to import",
                    ggufs.len()
                ),
            )),
        };
    }
    let text = read_text(&config, hf_config::MAX_CONFIG_BYTES)?;
    if let Some(model_type) = hf_config::unknown_model_type(&text) {
        if let Some((s, notes)) = safetensors::read_dir(dir)? {
            return summary::import(dir, &config, &text, &model_type, s, notes);
        }
    }
    let mut parsed = hf_config::parse(&config, &text)?;
    hf_config::read_processor(dir, &mut parsed)?;
    let summary = match safetensors::read_dir(dir)? {
        Some((mut s, notes)) => {
            parsed.warnings.extend(notes);
            tensors::refine_from_hf_tensors(&mut parsed, &mut s);
            Some(s)
        }
        None => {
            parsed
                .warnings
                .push("no .safetensors files next to config.json: counts are derived from the config alone".into());
            None
        }
    };
    let kind = if summary.is_some() {
        SourceKind::Directory
    } else {
        SourceKind::Config
    };
    finish(dir, kind, parsed.spec, parsed.notes, summary, parsed.warnings)
}

/// Checks the spec (through its own YAML, so what `--out` writes is known to load), compares the
/// derived parameter count with the tensors' count, and fills the declared counts when they agree.
pub(crate) fn finish(
    source: &Path,
    kind: SourceKind,
    mut spec: ModelSpec,
    mut notes: Vec<FieldNote>,
    tensors: Option<TensorSummary>,
    mut warnings: Vec<String>,
) -> Result<Imported, ImportError> {
    spec.sources.push(format!(
        "imported by gpuplan from {} ({})",
        source.display(),
        match kind {
            SourceKind::Config => "config.json",
            SourceKind::Directory => "config.json + safetensors headers",
            SourceKind::Gguf => "GGUF header",
        }
    ));
    let label = PathBuf::from(format!("{} (imported spec)", source.display()));
    let yaml =
        serde_yaml::to_string(&spec).map_err(|e| ImportError::unsupported(source, format!("spec to YAML: {e}")))?;
    spec = ModelSpec::from_yaml(&label, &yaml).map_err(|e| explain(source, kind, &notes, e))?;
    let inv = arch::inventory(&spec);
    let derived = inv.parameters();
    let derived_active = inv.active_parameters();
    let mut checked = false;
    if let Some(t) = tensors.as_ref().filter(|_| inv.exact) {
        if t.parameters == derived {
            checked = true;
            spec.parameters = Some(derived);
            spec.active_parameters = Some(derived_active);
            notes.push(FieldNote {
                field: "parameters".into(),
                value: derived.to_string(),
                basis: Basis::Exact,
                source: format!(
                    "sum of {} tensors' elements, equal to the architecture's derivation",
                    t.tensors.len()
                ),
            });
            if derived_active != derived {
                notes.push(FieldNote {
                    field: "active_parameters".into(),
                    value: derived_active.to_string(),
                    basis: Basis::Derived,
                    source: "total minus the routed experts not chosen per token".into(),
                });
            }
        } else {
            warnings.push(format!(
                "the tensors hold {} parameters but the architecture derives {} (difference {:+}): the estimate uses the derivation; \
                 the tensor bytes below are exact",
                t.parameters,
                derived,
                t.parameters as i128 - derived as i128
            ));
        }
    }
    let kv16 = kv::per_token(&spec, KvPrecision::F16, 1).total();
    Ok(Imported {
        source: source.to_path_buf(),
        kind,
        spec,
        provenance: notes,
        tensors,
        warnings,
        derived_parameters: derived,
        derived_active_parameters: derived_active,
        parameters_checked: checked,
        kv_bytes_per_token_16bit: kv16,
    })
}

/// A spec check that fails on an imported spec points back at the config key or GGUF metadata key
/// the field came from (with its line in config.json), not at the generated YAML.
fn explain(source: &Path, kind: SourceKind, notes: &[FieldNote], err: crate::spec::SpecError) -> ImportError {
    let crate::spec::SpecError::Invalid { at, message } = &err else {
        return err.into();
    };
    let Some(field) = at.field.as_deref() else {
        return err.into();
    };
    // the note for the field, or for its closest parent
    let note = notes
        .iter()
        .filter(|n| field == n.field || field.starts_with(&format!("{}.", n.field)))
        .max_by_key(|n| n.field.len());
    let key = note.and_then(|n| n.source.split('`').nth(1)).map(str::to_string);
    let basis = note.map_or(String::new(), |n| format!(" ({}: {})", n.basis.label(), n.source));
    let message = format!("{message} [imported as `{field}`{basis}]");
    match (kind, key) {
        (SourceKind::Gguf, _) | (_, None) => ImportError::unsupported(source, format!("field `{field}`: {message}")),
        (_, Some(key)) => {
            let config = if kind == SourceKind::Directory {
                source.join("config.json")
            } else {
                source.to_path_buf()
            };
            let text = read_text(&config, hf_config::MAX_CONFIG_BYTES).unwrap_or_default();
            ImportError::field(&config, &text, &key, message)
        }
    }
}

/// The spec as YAML, headed by comments that say where each field came from.
pub fn to_yaml(imp: &Imported) -> Result<String, ImportError> {
    let body = serde_yaml::to_string(&imp.spec)
        .map_err(|e| ImportError::unsupported(&imp.source, format!("spec to YAML: {e}")))?;
    let mut out = String::new();
    out.push_str(&format!(
        "# Imported by gpuplan from {}\n",
        one_line(&imp.source.display().to_string())
    ));
    if !imp.provenance.is_empty() {
        out.push_str("# Field provenance (exact = from tensors, config = stated, default = architecture default):\n");
        for n in &imp.provenance {
            out.push_str(&format!(
                "#   {} = {}  [{}: {}]\n",
                n.field,
                one_line(&n.value),
                n.basis.label(),
                one_line(&n.source)
            ));
        }
    }
    for w in &imp.warnings {
        out.push_str(&format!("# WARNING: {}\n", one_line(w)));
    }
    out.push_str(&body);
    Ok(out)
}

/// Comments must stay on one line whatever a hostile file put in a name.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Reads a text file of at most `max` bytes (config files are small; a huge one is an error, not an
/// allocation).
pub(crate) fn read_text(path: &Path, max: u64) -> Result<String, ImportError> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| ImportError::io(path, e))?;
    let len = f.metadata().map_err(|e| ImportError::io(path, e))?.len();
    if len > max {
        return Err(ImportError::header(
            path,
            0,
            format!("{len} bytes is larger than the {max} a file of this kind may have"),
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ImportError::io(path, e))?;
    String::from_utf8(bytes)
        .map_err(|e| ImportError::header(path, e.utf8_error().valid_up_to() as u64, "not valid UTF-8"))
}

pub(crate) fn files_with_suffix(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>, ImportError> {
    let rd = std::fs::read_dir(dir).map_err(|e| ImportError::io(dir, e))?;
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().to_ascii_lowercase().ends_with(suffix))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// A catalog-style id from a file or directory name: lower case, `[a-z0-9._-]` only.
pub(crate) fn id_from(name: &str) -> String {
    let mut id: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    id = id.trim_matches('-').to_string();
    if id.is_empty() {
        id = "imported-model".into();
    }
    id
}

/// A display name for a source path: the directory name for config.json, else the file stem.
pub(crate) fn source_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem.eq_ignore_ascii_case("config") || stem.is_empty() {
        if let Some(dir) = std::fs::canonicalize(path)
            .ok()
            .as_deref()
            .and_then(Path::parent)
            .and_then(Path::file_name)
        {
            return dir.to_string_lossy().into_owned();
        }
    }
    if path.is_dir() {
        if let Some(n) = std::fs::canonicalize(path).ok().as_deref().and_then(Path::file_name) {
            return n.to_string_lossy().into_owned();
        }
    }
    if stem.is_empty() {
        "imported".into()
    } else {
        stem
    }
}
