//! Published engine evidence (`validation/field/*.json`): start-up logs, buffers and benchmark rows
//! with their source URL and the quoted lines, re-checked against today's estimator. The schema is
//! described in validation/field/README.md; each engine's checks live in its own file.

pub mod llamacpp;
pub mod offload;
pub mod vllm;

use crate::estimate::engine::command;
use crate::plan::Options;
use crate::spec::{Catalog, GpuSpec, ModelSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// What an evidence file records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    VllmStartup,
    LlamacppBuffers,
    LlamacppBench,
    VllmBench,
    LlamacppOffload,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    pub url: Option<String>,
    pub what: String,
    #[serde(default)]
    pub date: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineInfo {
    pub name: String,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GpuInfo {
    pub name: Option<String>,
    pub catalog: Option<String>,
    #[serde(default = "one")]
    pub count: u64,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelInfo {
    pub hf_id: Option<String>,
    pub catalog: Option<String>,
    /// a config.json beside the evidence (relative to validation/field/)
    pub config: Option<String>,
    pub file: Option<String>,
    pub precision: Option<String>,
}

/// One published observation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evidence {
    pub id: String,
    pub kind: Kind,
    pub source: Source,
    pub quoted: Vec<String>,
    pub engine: EngineInfo,
    pub gpu: Option<GpuInfo>,
    #[serde(default)]
    pub host: Option<Value>,
    pub model: ModelInfo,
    pub command: Option<String>,
    #[serde(default)]
    pub command_reconstructed: bool,
    #[serde(default)]
    pub settings: Map<String, Value>,
    #[serde(default)]
    pub printed: Map<String, Value>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// A file read from the evidence directory.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub evidence: Evidence,
}

/// Every `*.json` evidence file directly in `dir` (configs/ and other folders are not evidence),
/// sorted by name. A file that does not follow the schema is an error naming it.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<Loaded>> {
    let rd = std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let evidence: Evidence = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: line {}: {e}", path.display(), e.line()))?;
            Ok(Loaded { path, evidence })
        })
        .collect()
}

/// How close a prediction must come to the printed figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Tolerance {
    /// within this much in the figure's unit (exact figures: the printed rounding)
    Absolute(f64),
    /// within this fraction of the printed figure
    Relative(f64),
}

/// One figure of one evidence file: predicted against printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub evidence: String,
    /// the printed field, e.g. `available_kv_cache_gib`, `kv_buffer_mib.CUDA0`, `starts`
    pub figure: String,
    pub predicted: f64,
    pub printed: f64,
    pub tolerance: Tolerance,
}

impl Check {
    /// (predicted − printed) / printed, in percent (None when printed is 0).
    pub fn error_pct(&self) -> Option<f64> {
        (self.printed != 0.0).then(|| (self.predicted - self.printed) / self.printed * 100.0)
    }

    pub fn ok(&self) -> bool {
        let d = (self.predicted - self.printed).abs();
        match self.tolerance {
            Tolerance::Absolute(t) => d <= t,
            Tolerance::Relative(f) => d <= f * self.printed.abs(),
        }
    }
}

/// The outcome of re-checking one file: its checks, or why it could not be checked yet (a model or
/// GPU gpuplan does not know), which the tests report rather than hide.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub evidence: String,
    pub kind: Kind,
    pub checks: Vec<Check>,
    /// figures compared but not held to a tolerance: a log of an engine build whose code differs
    /// from the one modeled in that figure (the error is reported, not asserted)
    pub reported: Vec<Check>,
    pub skipped: Option<String>,
}

/// Re-checks every loaded file whose kind has checks (start-up memory and buffers; the benchmark
/// rows are checked by the speed tests).
pub fn check_all(files: &[Loaded], catalog: &Catalog) -> Vec<Outcome> {
    files
        .iter()
        .filter_map(|f| {
            let e = &f.evidence;
            let result = match e.kind {
                Kind::VllmStartup => vllm::check(f, catalog).map(|checks| (checks, vec![])),
                Kind::LlamacppBuffers => llamacpp::check(f, catalog),
                Kind::LlamacppOffload => offload::check(f, catalog).map(|checks| (checks, vec![])),
                _ => return None,
            };
            Some(match result {
                Ok((checks, reported)) => Outcome {
                    evidence: e.id.clone(),
                    kind: e.kind,
                    checks,
                    reported,
                    skipped: None,
                },
                Err(why) => Outcome {
                    evidence: e.id.clone(),
                    kind: e.kind,
                    checks: vec![],
                    reported: vec![],
                    skipped: Some(why),
                },
            })
        })
        .collect()
}

/// The model an evidence file names: the catalog id, a config.json beside it, or the Hugging Face id.
pub fn model(f: &Loaded, catalog: &Catalog) -> Result<ModelSpec, String> {
    let m = &f.evidence.model;
    if let Some(id) = &m.catalog {
        return catalog
            .model(id, crate::estimate::arch::check_declared)
            .map_err(|e| e.to_string());
    }
    if let Some(config) = &m.config {
        let dir = f.path.parent().unwrap_or(Path::new("."));
        return crate::import::import_path(&dir.join(config))
            .map(|i| i.spec)
            .map_err(|e| format!("{config}: {e}"));
    }
    match &m.hf_id {
        Some(id) => catalog
            .model(id, crate::estimate::arch::check_declared)
            .map_err(|e| e.to_string()),
        None => Err("names no model gpuplan can resolve (no catalog id, config or Hugging Face id)".into()),
    }
}

/// The GPU an evidence file names in gpuplan's catalog.
pub fn gpu(f: &Loaded, catalog: &Catalog) -> Result<GpuSpec, String> {
    match f.evidence.gpu.as_ref().and_then(|g| g.catalog.as_deref()) {
        Some(id) => catalog.gpu(id).map_err(|e| e.to_string()),
        None => Err("names no GPU in gpuplan's catalog".into()),
    }
}

/// Planning options from the evidence's command line (engine, context, parallelism, settings).
pub fn options(f: &Loaded, model: &ModelSpec) -> Result<Options, String> {
    let mut opts = Options::default();
    if let Some(cmd) = &f.evidence.command {
        let parsed = command::parse(cmd).map_err(|e| format!("command: {e}"))?;
        opts.apply_command(&parsed, model);
    }
    if let Some(p) = f.evidence.model.precision.as_deref() {
        opts.precision = Some(crate::spec::Format::parse(p).ok_or_else(|| format!("unknown precision `{p}`"))?);
    }
    Ok(opts)
}

/// A printed number by field name (`printed.<name>`), when present.
pub fn printed(f: &Loaded, name: &str) -> Option<f64> {
    f.evidence.printed.get(name).and_then(Value::as_f64)
}

/// A printed per-device number (`printed.<name>.<device>`), when present.
pub fn printed_on(f: &Loaded, name: &str, device: &str) -> Option<f64> {
    f.evidence.printed.get(name)?.get(device)?.as_f64()
}
