//! Workload files (`gpuplan report --workload FILE`): what is to be served, how fast, on what, at
//! what cost. Parsed strictly (unknown fields are errors) and checked; every error names the file,
//! the line and the field. Example files live in `examples/workloads/`.
//!
//! ```yaml
//! name: Phi-3.5 MoE chat for 50 concurrent users at 8K context
//! models:
//!   - id: phi-3.5-moe
//!     precisions: [bf16, fp8, awq-int4]   # default: the model's dtype
//! runtime: vllm                           # default: llama.cpp for GGUF, vllm otherwise
//! prompt_tokens: { average: 3000, p95: 7000 }
//! output_tokens: { average: 400, p95: 1192 }
//! load:
//!   concurrent_users: 50                  # or requests_per_second: 2.5
//! targets:
//!   ttft_s: 2.0                           # time to first token at the p95 prompt
//!   tokens_per_s_per_user: 20             # decode speed each user sees
//! gpus: [h100-sxm, h200, rtx-4090]        # or [catalog] / omitted: the whole catalog
//! cost:
//!   mode: cloud                           # or purchase
//!   hours_per_month: 730
//!   budget_usd: 20000                     # cloud: per month; purchase: up front
//!   amortization_months: 36               # purchase: write-off period
//!   power_usd_per_kwh: 0.15               # purchase: adds board power (TDP) to the monthly cost
//! max_gpus_per_replica: 8                 # tensor parallel within a node, pipeline beyond
//! headroom:
//!   memory: 0.10                          # fraction of usable memory kept free per GPU
//!   load: 0.25                            # carry 25% more load than given within the targets
//! kv_precision: fp8                       # default: the runtime's
//! ```

use crate::estimate::arch::check_declared;
use crate::estimate::engine;
use crate::estimate::{EngineId, Runtime};
use crate::spec::error::{Location, SpecError};
use crate::spec::host::Host;
use crate::spec::intern::Pool;
use crate::spec::{locate, Catalog, Format, GpuSpec, KvPrecision, ModelSpec};

/// Hosts of workloads, kept for the process (the planner's options hold them by reference).
static HOSTS: Pool<Host> = Pool::new("workload hosts", 1024);
use serde::{Deserialize, Deserializer, Serialize};
use std::path::{Path, PathBuf};

/// The file as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkloadFile {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub models: Vec<ModelChoice>,
    /// runtime profile (`gpuplan fit --runtime`): candle, vllm, llama.cpp, transformers; absent:
    /// each format on the engine a user would run it with
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_precision: Option<String>,
    pub prompt_tokens: Lengths,
    pub output_tokens: Lengths,
    pub load: Load,
    #[serde(default)]
    pub targets: Targets,
    /// GPU ids; empty or `[catalog]` = every GPU in the catalog
    #[serde(default)]
    pub gpus: Vec<String>,
    #[serde(default)]
    pub cost: CostSpec,
    /// GPUs one replica may span (tensor parallel inside a node, pipeline stages beyond)
    #[serde(default = "default_max_gpus")]
    pub max_gpus_per_replica: u64,
    #[serde(default)]
    pub headroom: Headroom,
    /// the host (`gpuplan hosts` id) whose RAM a llama.cpp option may keep part of the model in:
    /// an option that does not fit its GPU is then sized with CPU offload
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// the host's installed RAM in GiB, when not the catalog's
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_memory_gib: Option<u64>,
}

/// Margins the sizing keeps.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Headroom {
    /// fraction of each GPU's usable memory left free (room for estimate error: the estimates are
    /// not calibrated yet)
    #[serde(default = "default_memory_headroom")]
    pub memory: f64,
    /// extra load the GPUs must carry within the targets (0.25 = 25% more users or requests)
    #[serde(default)]
    pub load: f64,
}

fn default_memory_headroom() -> f64 {
    0.10
}

impl Default for Headroom {
    fn default() -> Self {
        Headroom {
            memory: default_memory_headroom(),
            load: 0.0,
        }
    }
}

fn default_max_gpus() -> u64 {
    8
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelChoice {
    pub id: String,
    /// acceptable weight formats; empty = the model's own dtype
    #[serde(default)]
    pub precisions: Vec<String>,
}

/// Token lengths: the average (throughput, cost) and the 95th percentile (memory, TTFT).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Lengths {
    #[serde(deserialize_with = "tokens")]
    pub average: u64,
    #[serde(deserialize_with = "tokens")]
    pub p95: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// requests in flight at the same time (each one decoding)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_users: Option<u64>,
    /// arriving requests per second (Little's law gives the requests in flight)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// time to first token at the p95 prompt, seconds
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_s: Option<f64>,
    /// decode tokens per second each user sees
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_s_per_user: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum CostMode {
    /// rent: the catalog's $/GPU-hour
    #[default]
    Cloud,
    /// buy: the catalog's purchase price per GPU, amortized
    Purchase,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CostSpec {
    #[serde(default)]
    pub mode: CostMode,
    /// hours the service runs per month (730 = always on)
    #[serde(default = "default_hours")]
    pub hours_per_month: f64,
    /// cloud: the most to spend per month; purchase: the most to spend up front
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// purchase: months over which the GPUs are written off
    #[serde(default = "default_amortization")]
    pub amortization_months: f64,
    /// purchase: electricity price, to add the GPUs' board power (TDP) to the monthly cost
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_usd_per_kwh: Option<f64>,
}

fn default_hours() -> f64 {
    730.0
}

fn default_amortization() -> f64 {
    36.0
}

impl Default for CostSpec {
    fn default() -> Self {
        CostSpec {
            mode: CostMode::Cloud,
            hours_per_month: default_hours(),
            budget_usd: None,
            amortization_months: default_amortization(),
            power_usd_per_kwh: None,
        }
    }
}

/// Token counts as users write them: 4096, "4k", "128K".
fn tokens<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    let n = match Raw::deserialize(d)? {
        Raw::N(n) => n,
        Raw::S(s) => parse_tokens(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a token count (e.g. 4096, 8k)")))?,
    };
    Ok(n)
}

fn parse_tokens(s: &str) -> Option<u64> {
    let t = s.trim().replace('_', "");
    let (num, mult) = match t.chars().last()? {
        'k' | 'K' => (&t[..t.len() - 1], 1024),
        _ => (t.as_str(), 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// A model with its acceptable formats, resolved against the catalog.
#[derive(Debug, Clone)]
pub struct ModelOption {
    pub spec: ModelSpec,
    pub formats: Vec<&'static Format>,
}

/// A checked workload: ids resolved, numbers validated.
#[derive(Debug, Clone)]
pub struct Workload {
    pub file: PathBuf,
    pub raw: WorkloadFile,
    pub models: Vec<ModelOption>,
    pub gpus: Vec<GpuSpec>,
    /// None: each format on the engine a user would run it with ([`Workload::runtime_for`])
    pub runtime: Option<&'static Runtime>,
    pub kv: Option<KvPrecision>,
    /// the host a llama.cpp option may spill into (`host`, `host_memory_gib`)
    pub host: Option<&'static Host>,
}

impl Workload {
    /// Reads, parses and checks a workload file.
    pub fn load(path: &Path, catalog: &Catalog) -> Result<Workload, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Workload::from_yaml(path, &text, catalog)
    }

    /// Parses and checks workload text; `file` names it in errors.
    pub fn from_yaml(file: &Path, text: &str, catalog: &Catalog) -> Result<Workload, SpecError> {
        let raw: WorkloadFile = serde_yaml::from_str(text).map_err(|e| SpecError::from_yaml(file, e))?;
        let bad = |field: &str, msg: String| SpecError::invalid(file, text, field, msg);
        // an entry in a list: point at the line that holds the offending value
        let bad_value = |field: &str, value: &str, msg: String| SpecError::Invalid {
            at: Location {
                file: file.to_path_buf(),
                line: line_of_value(text, field, value),
                field: Some(field.to_string()),
            },
            message: msg,
        };
        if raw.name.trim().is_empty() {
            return Err(bad("name", "must not be empty".into()));
        }
        if raw.models.is_empty() {
            return Err(bad("models", "list at least one model".into()));
        }
        let mut models = Vec::new();
        for m in &raw.models {
            let spec = catalog
                .model(&m.id, check_declared)
                .map_err(|e| bad_value("models.id", &m.id, e.to_string()))?;
            let mut formats = Vec::new();
            for p in &m.precisions {
                let f = Format::parse(p).ok_or_else(|| {
                    bad_value(
                        "models.precisions",
                        p,
                        format!("unknown precision `{p}` (known: {})", Format::ids().join(", ")),
                    )
                })?;
                if !formats.iter().any(|x: &&Format| x.id == f.id) {
                    formats.push(f);
                }
            }
            if formats.is_empty() {
                let own = Format::parse(&spec.dtype).ok_or_else(|| {
                    bad_value(
                        "models.id",
                        &m.id,
                        format!("model dtype `{}` is not a known format", spec.dtype),
                    )
                })?;
                formats.push(own);
            }
            models.push(ModelOption { spec, formats });
        }
        let runtime = match &raw.runtime {
            None => None,
            Some(name) => Some(Runtime::parse(name).ok_or_else(|| {
                bad(
                    "runtime",
                    format!("unknown runtime `{name}` (known: {})", EngineId::names().join(", ")),
                )
            })?),
        };
        let kv = match &raw.kv_precision {
            None => None,
            Some(k) => Some(KvPrecision::parse(k).ok_or_else(|| {
                bad(
                    "kv_precision",
                    format!("unknown KV precision `{k}` (known: {})", KvPrecision::ALL.join(", ")),
                )
            })?),
        };
        for (field, l) in [
            ("prompt_tokens", raw.prompt_tokens),
            ("output_tokens", raw.output_tokens),
        ] {
            if l.average == 0 {
                return Err(bad(&format!("{field}.average"), "must be at least 1 token".into()));
            }
            if l.p95 < l.average {
                return Err(bad(
                    &format!("{field}.p95"),
                    format!(
                        "the 95th percentile ({}) cannot be below the average ({})",
                        l.p95, l.average
                    ),
                ));
            }
        }
        match (raw.load.concurrent_users, raw.load.requests_per_second) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "load",
                    "give concurrent_users or requests_per_second, not both".into(),
                ))
            }
            (None, None) => return Err(bad("load", "give concurrent_users or requests_per_second".into())),
            (Some(0), None) => return Err(bad("load.concurrent_users", "must be at least 1".into())),
            (None, Some(r)) if !(r.is_finite() && r > 0.0) => {
                return Err(bad("load.requests_per_second", "must be a positive number".into()))
            }
            _ => {}
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if raw.targets.ttft_s.is_some_and(|x| !positive(x)) {
            return Err(bad("targets.ttft_s", "must be a positive number of seconds".into()));
        }
        if raw.targets.tokens_per_s_per_user.is_some_and(|x| !positive(x)) {
            return Err(bad("targets.tokens_per_s_per_user", "must be a positive number".into()));
        }
        let c = &raw.cost;
        if !positive(c.hours_per_month) || c.hours_per_month > 744.0 {
            return Err(bad(
                "cost.hours_per_month",
                format!("must be between 0 and 744 (a 31-day month), not {}", c.hours_per_month),
            ));
        }
        if c.budget_usd.is_some_and(|x| !positive(x)) {
            return Err(bad("cost.budget_usd", "must be a positive number".into()));
        }
        if !positive(c.amortization_months) {
            return Err(bad("cost.amortization_months", "must be a positive number".into()));
        }
        if c.power_usd_per_kwh.is_some_and(|x| !(x.is_finite() && x >= 0.0)) {
            return Err(bad(
                "cost.power_usd_per_kwh",
                "must be zero or a positive number".into(),
            ));
        }
        if !(0.0..0.9).contains(&raw.headroom.memory) {
            return Err(bad(
                "headroom.memory",
                format!("must be a fraction from 0 to 0.9, not {}", raw.headroom.memory),
            ));
        }
        if !(raw.headroom.load.is_finite() && raw.headroom.load >= 0.0) {
            return Err(bad(
                "headroom.load",
                format!("must be zero or a positive fraction, not {}", raw.headroom.load),
            ));
        }
        if raw.max_gpus_per_replica == 0 || raw.max_gpus_per_replica > super::layout::MAX_GPUS {
            return Err(bad(
                "max_gpus_per_replica",
                format!("must be between 1 and {}", super::layout::MAX_GPUS),
            ));
        }
        let whole = raw.gpus.is_empty() || raw.gpus.iter().any(|g| g.eq_ignore_ascii_case("catalog"));
        let gpus: Vec<GpuSpec> = if whole {
            catalog.gpu_specs().cloned().collect()
        } else {
            let mut out: Vec<GpuSpec> = Vec::new();
            for g in &raw.gpus {
                let spec = catalog.gpu(g).map_err(|e| bad_value("gpus", g, e.to_string()))?;
                if !out.iter().any(|x| x.id == spec.id) {
                    out.push(spec);
                }
            }
            out
        };
        if gpus.is_empty() {
            return Err(bad("gpus", "no GPU to size for (the catalog is empty)".into()));
        }
        let host = match (&raw.host, raw.host_memory_gib) {
            (None, None) => None,
            (None, Some(_)) => return Err(bad("host_memory_gib", "give the host too (`gpuplan hosts`)".into())),
            (_, Some(0)) => return Err(bad("host_memory_gib", "must be at least 1".into())),
            (Some(id), gib) => {
                let mut h = catalog.host_by_name(id).map_err(|e| bad("host", e.to_string()))?.host();
                if let Some(gib) = gib {
                    h = h.with_memory(gib.saturating_mul(1 << 30));
                }
                Some(HOSTS.intern(h).map_err(|e| bad("host", e))?)
            }
        };
        Ok(Workload {
            file: file.to_path_buf(),
            raw,
            models,
            gpus,
            runtime,
            kv,
            host,
        })
    }
}

impl Workload {
    /// The engine that runs `format`: the workload's, or the one a user would run it with.
    pub fn runtime_for(&self, format: &crate::spec::Format) -> &'static Runtime {
        self.runtime.unwrap_or_else(|| engine::default_for(format))
    }
}

impl Workload {
    /// A workload of one sequence of `context` tokens (prompt + 1 output token), no targets, cloud
    /// prices: what `gpuplan plot` charts when given a model instead of a workload file.
    pub fn single_sequence(
        model: ModelSpec,
        formats: Vec<&'static Format>,
        gpus: Vec<GpuSpec>,
        runtime: Option<&'static Runtime>,
        context: u64,
    ) -> Workload {
        let prompt = context.saturating_sub(1).max(1);
        let formats = if formats.is_empty() {
            Format::parse(&model.dtype).into_iter().collect()
        } else {
            formats
        };
        let raw = WorkloadFile {
            name: format!("{} at {} tokens", model.id, context),
            description: None,
            models: vec![ModelChoice {
                id: model.id.clone(),
                precisions: formats.iter().map(|f| f.id.to_string()).collect(),
            }],
            runtime: runtime.map(|r| r.id.to_string()),
            kv_precision: None,
            prompt_tokens: Lengths {
                average: prompt,
                p95: prompt,
            },
            output_tokens: Lengths { average: 1, p95: 1 },
            load: Load {
                concurrent_users: Some(1),
                requests_per_second: None,
            },
            targets: Targets::default(),
            gpus: gpus.iter().map(|g| g.id.clone()).collect(),
            cost: CostSpec::default(),
            max_gpus_per_replica: default_max_gpus(),
            headroom: Headroom { memory: 0.0, load: 0.0 },
            host: None,
            host_memory_gib: None,
        };
        Workload {
            file: PathBuf::from("-"),
            raw,
            models: vec![ModelOption { spec: model, formats }],
            gpus,
            runtime,
            kv: None,
            host: None,
        }
    }
}

/// Line of the first line at or after `field`'s line that contains `value` (a list entry).
fn line_of_value(text: &str, field: &str, value: &str) -> Option<usize> {
    let start = locate::line_of(text, field).unwrap_or(1);
    text.lines()
        .enumerate()
        .skip(start.saturating_sub(1))
        .find(|(_, l)| l.split('#').next().is_some_and(|code| code.contains(value)))
        .map(|(i, _)| i + 1)
        .or(Some(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::embedded(check_declared).expect("embedded catalog")
    }

    const GOOD: &str = "name: chat\nmodels:\n  - id: phi-3.5-mini\n    precisions: [bf16, q4_k_m]\nprompt_tokens: { average: 1000, p95: 4k }\noutput_tokens:\n  average: 200\n  p95: 800\nload:\n  concurrent_users: 10\ntargets:\n  ttft_s: 2\ngpus: [rtx-4090, h100]\n";

    fn err(text: &str) -> String {
        match Workload::from_yaml(Path::new("w.yaml"), text, &catalog()) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_a_good_file() {
        let w = Workload::from_yaml(Path::new("w.yaml"), GOOD, &catalog()).expect("valid");
        assert_eq!(w.raw.prompt_tokens.p95, 4096);
        assert_eq!(
            w.models[0].formats.iter().map(|f| f.id).collect::<Vec<_>>(),
            vec!["bf16", "q4_k_m"]
        );
        assert_eq!(
            w.gpus.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
            vec!["rtx-4090", "h100-sxm"]
        );
        // no runtime given: bf16 on vLLM, Q4_K_M on llama.cpp
        assert!(w.runtime.is_none());
        let engines: Vec<EngineId> = w.models[0].formats.iter().map(|f| w.runtime_for(f).id).collect();
        assert_eq!(engines, vec![EngineId::Vllm, EngineId::LlamaCpp]);
        assert_eq!(w.raw.cost.hours_per_month, 730.0);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        assert!(err(&GOOD.replace("  concurrent_users: 10", "  users: 10")).starts_with(
            "w.yaml:10: load: unknown field `users`, expected `concurrent_users` or `requests_per_second`"
        ));
        assert!(err(&format!("{GOOD}colour: blue\n")).starts_with("w.yaml:14: unknown field `colour`"));
        assert!(err(&GOOD.replace("  p95: 800", "  p95: 80"))
            .starts_with("w.yaml:8: field `output_tokens.p95`: the 95th percentile (80)"));
        assert!(err(&GOOD.replace("q4_k_m]", "q3]"))
            .starts_with("w.yaml:4: field `models.precisions`: unknown precision `q3`"));
        assert!(err(&GOOD.replace("[rtx-4090, h100]", "[rtx-4090, h1000]"))
            .starts_with("w.yaml:13: field `gpus`: unknown gpu `h1000`"));
        assert!(err(&GOOD.replace("  ttft_s: 2", "  ttft_s: -1")).starts_with("w.yaml:12: field `targets.ttft_s`"));
        assert!(err(&GOOD.replace(
            "  concurrent_users: 10",
            "  concurrent_users: 10\n  requests_per_second: 3"
        ))
        .starts_with("w.yaml:9: field `load`: give concurrent_users or requests_per_second, not both"));
        assert!(err(&GOOD.replace("- id: phi-3.5-mini", "- id: phi-9"))
            .starts_with("w.yaml:3: field `models.id`: unknown model `phi-9`"));
        assert!(err(&GOOD.replace("average: 1000", "average: lots")).starts_with("w.yaml:5"));
    }
}
