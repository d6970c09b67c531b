//! The published benchmark rows of validation/field/ as terms of the speed models, and the least
//! squares that refits the models' coefficients on them (tests/field_speed.rs).

use gpuplan::estimate::arch::check_declared;
use gpuplan::estimate::engine::settings::Settings;
use gpuplan::estimate::speed::band::{Band, Basis, Phase};
use gpuplan::estimate::speed::fit::Terms;
use gpuplan::estimate::speed::llamacpp::{self, Build, Coef, Fitted, Run, Test, POOL_CLASS};
use gpuplan::estimate::speed::{vllm, GpuClass, MemoryKind};
use gpuplan::estimate::{ModelFacts, Prepared, Runtime, Setup, WeightFacts};
use gpuplan::spec::model::ModelSpec;
use gpuplan::spec::precision::Format;
use gpuplan::spec::Catalog;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A coefficient key of one of the speed models.
pub trait Key: Copy + PartialEq + std::fmt::Debug {
    /// The lowest physical value: a share of a datasheet rate cannot exceed 1 (its inverse is at
    /// least 1); times and counts are at least 0.
    fn lower(self) -> f64;
}

impl Key for Coef {
    fn lower(self) -> f64 {
        match self {
            Coef::LayerPass(_) | Coef::GemmPower(_) => 0.0,
            _ => 1.0,
        }
    }
}

impl Key for vllm::Coef {
    fn lower(self) -> f64 {
        match self {
            vllm::Coef::Step | vllm::Coef::EagerLayer => 0.0,
            _ => 1.0,
        }
    }
}

/// One published figure and the model's terms for it.
#[derive(Debug, Clone)]
pub struct Row<K = Coef> {
    pub file: String,
    /// catalog GPU id
    pub gpu: String,
    pub class: GpuClass,
    pub model: String,
    pub precision: String,
    pub phase: Phase,
    /// the test as printed (`pp512`, `tg128`, `pp512@d32768`; `c4 1024/128` for vLLM)
    pub test: String,
    /// tokens the published rate counts (1 for a TPOT)
    pub tokens: u64,
    /// tokens/s (1000 / TPOT ms for vLLM)
    pub published_rate: f64,
    /// vLLM: the client concurrency
    pub concurrency: u64,
    /// false for rows shown but kept out of the fits and bands ([`unsteady_prompts`])
    pub fitted: bool,
    pub terms: Terms<K>,
}

impl<K: Key> Row<K> {
    pub fn predicted_rate(&self, coef: &dyn Fn(K) -> f64) -> f64 {
        self.tokens as f64 / self.terms.seconds(coef)
    }
}

/// A row's measured/predicted ratio and what it was measured on (bands, leave-one-GPU-out).
#[derive(Debug, Clone)]
pub struct Ratio {
    pub ratio: f64,
    pub phase: Phase,
    pub class: GpuClass,
    pub gpu: String,
    pub file: String,
    pub test: String,
    /// vLLM: the client concurrency (1 for llama.cpp)
    pub concurrency: u64,
    pub fitted: bool,
}

fn field_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("validation/field")
}

fn files(kind: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(field_dir()).expect("validation/field exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("readable");
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if v["kind"] == kind {
                out.push((path.file_stem().unwrap().to_string_lossy().into_owned(), v));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The model a file names: its catalog id, else its config.json (None when gpuplan cannot import it
/// yet).
fn model(catalog: &Catalog, v: &Value) -> Option<ModelSpec> {
    if let Some(id) = v["model"]["catalog"].as_str() {
        return Some(catalog.model(id, check_declared).expect("catalog model"));
    }
    let config = v["model"]["config"].as_str()?;
    gpuplan::import::import_path(&field_dir().join(config))
        .ok()
        .map(|i| i.spec)
}

/// The GPU a file names: its catalog id, else its printed name among the catalog's names.
fn gpu(catalog: &Catalog, v: &Value) -> Option<gpuplan::spec::gpu::GpuSpec> {
    v["gpu"]["catalog"]
        .as_str()
        .or(v["gpu"]["name"].as_str())
        .and_then(|k| catalog.gpu(k).ok())
}

/// `pp512_tps` -> (Test, label); None for keys that are not a single test.
fn llama_test(key: &str) -> Option<(Test, String)> {
    let body = key.strip_suffix("_tps")?;
    let (name, depth) = match body.split_once("_d") {
        Some((n, d)) => (n, d.parse::<u64>().ok()?),
        None => (body, 0),
    };
    if name.contains('_') {
        return None; // pp512_tg128: a combined test
    }
    let (kind, n) = name.split_at(2);
    let tokens = n.parse::<u64>().ok()?;
    let label = if depth > 0 {
        format!("{name}@d{depth}")
    } else {
        name.to_string()
    };
    match kind {
        "pp" => Some((Test::Prompt { tokens, depth }, label)),
        "tg" => Some((Test::Generate { tokens, depth }, label)),
        _ => None,
    }
}

/// Every llama-bench figure on a catalog GPU whose model gpuplan can build.
pub fn llamacpp_rows() -> Vec<Row> {
    let catalog = Catalog::embedded(check_declared).unwrap();
    let runtime = Runtime::parse("llama.cpp").expect("llama.cpp runtime");
    let mut rows = Vec::new();
    for (file, v) in files("llamacpp_bench") {
        let (Some(spec), Some(gpu)) = (model(&catalog, &v), gpu(&catalog, &v)) else {
            continue;
        };
        let Some(class) = llamacpp_class(&gpu) else { continue };
        let precision = v["model"]["precision"].as_str().expect("precision");
        let format = Format::parse(precision).unwrap_or_else(|| panic!("{file}: precision {precision}"));
        let facts = ModelFacts::new(&spec);
        let weights = WeightFacts::new(&spec, &facts, format, 1);
        let p = Prepared::new(Setup::new(&spec, format, runtime), &gpu, &facts, &weights);
        let s = &v["settings"];
        let run = Run {
            flash_attn: s["flash_attn"].as_bool().unwrap_or(false),
            n_ubatch: s["n_ubatch"].as_u64().unwrap_or(512),
            build: Build::parse(v["engine"]["version"].as_str().unwrap_or("")),
            power_limit_w: s["power_limit_w"].as_f64(),
            force_mmq: s["force_mmq"].as_bool().unwrap_or(false),
        };
        let unsteady = !run.flash_attn && unsteady_prompts(&v["printed"]);
        for (key, value) in v["printed"].as_object().expect("printed") {
            let Some((test, label)) = llama_test(key) else { continue };
            let (tokens, decode) = match test {
                Test::Generate { tokens, .. } => (tokens, true),
                Test::Prompt { tokens, .. } => (tokens, run.n_ubatch <= llamacpp::MMVQ_MAX_BATCH),
            };
            rows.push(Row {
                file: file.clone(),
                gpu: gpu.id.clone(),
                class,
                model: spec.id.clone(),
                precision: precision.to_string(),
                concurrency: 1,
                fitted: !(unsteady && matches!(test, Test::Prompt { .. })),
                phase: if decode {
                    Phase::LlamaCppDecode
                } else {
                    Phase::LlamaCppPrefill
                },
                test: label,
                tokens,
                published_rate: value.as_f64().expect("number"),
                terms: llamacpp::test_terms(&p, test, &run),
            });
        }
    }
    rows
}

fn llamacpp_class(gpu: &gpuplan::spec::gpu::GpuSpec) -> Option<GpuClass> {
    GpuClass::of(gpu)
}

/// True when a file's ppN rates (no flash attention, no depth) rise with N by more than 2 % a step:
/// without flash attention every prompt token costs more the longer the prompt (the scores grow with
/// it), so a rising series was not measured at steady clocks (a GPU still ramping up, another load).
/// Its prompt rows are shown but not fitted.
pub fn unsteady_prompts(printed: &Value) -> bool {
    let mut pp: Vec<(u64, f64)> = printed
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| match llama_test(k)? {
            (Test::Prompt { tokens, depth: 0 }, _) => Some((tokens, v.as_f64()?)),
            _ => None,
        })
        .collect();
    pp.sort_by_key(|x| x.0);
    pp.windows(2).any(|w| w[1].1 > w[0].1 * 1.02)
}

/// A run's tokens per request: the fixed `random_*_len` of a random dataset, else (ShareGPT and
/// other datasets of varying lengths) the mean, the printed total over the requests completed (the
/// row's printed figures, else the file's settings for totals the source prints elsewhere).
fn workload_len(row: &Value, file_settings: &Value, fixed: &str, total: &str) -> Option<u64> {
    let setting = |key: &str| row["settings"][key].as_u64().or(file_settings[key].as_u64());
    if let Some(n) = setting(fixed) {
        return Some(n);
    }
    let figure = |key: &str| row["printed"][key].as_u64().or(setting(key));
    let requests = figure("successful_requests").or(setting("num_prompts"))?;
    Some((figure(total)? as f64 / requests.max(1) as f64).round() as u64)
}

/// Every `vllm bench serve` TPOT (the file's `rows`, each with its workload) on a catalog GPU whose
/// model gpuplan can build.
pub fn vllm_rows() -> Vec<Row<vllm::Coef>> {
    let catalog = Catalog::embedded(check_declared).unwrap();
    let runtime = Runtime::parse("vllm").expect("vllm runtime");
    let mut rows = Vec::new();
    for (file, v) in files("vllm_bench") {
        let (Some(spec), Some(gpu)) = (model(&catalog, &v), gpu(&catalog, &v)) else {
            continue;
        };
        let Some(class) = GpuClass::of(&gpu) else { continue };
        let precision = v["model"]["precision"].as_str().expect("precision");
        let format = Format::parse(precision).unwrap_or_else(|| panic!("{file}: precision {precision}"));
        let s = &v["settings"];
        let tp = s["tensor_parallel_size"].as_u64().unwrap_or(1);
        let facts = ModelFacts::new(&spec);
        let weights = WeightFacts::new(&spec, &facts, format, tp);
        let mut setup = Setup::new(&spec, format, runtime);
        setup.tp = tp;
        setup.engine.vllm.max_num_batched_tokens = s["max_num_batched_tokens"].as_u64();
        setup.engine.vllm.enforce_eager = s["enforce_eager"].as_bool().unwrap_or(false);
        let p = Prepared::new(setup, &gpu, &facts, &weights);
        let Settings::Vllm(settings) = p.settings else {
            panic!("{file}: vLLM settings")
        };
        // a `rows` array (one run per table line), else the file itself is the one run
        let single = [serde_json::json!({"settings": {}, "printed": v["printed"]})];
        let runs = v["rows"].as_array().map_or(&single[..], |r| &r[..]);
        for row in runs {
            // the row's client settings over the file's
            let setting = |key: &str| row["settings"][key].as_u64().or(s[key].as_u64());
            let w = vllm::Workload {
                input_tokens: workload_len(row, s, "random_input_len", "total_input_tokens")
                    .unwrap_or_else(|| panic!("{file}: input length")),
                output_tokens: workload_len(row, s, "random_output_len", "total_generated_tokens")
                    .unwrap_or_else(|| panic!("{file}: output length")),
                concurrency: setting("max_concurrency").expect("max_concurrency"),
            };
            let tpot_ms = row["printed"]["mean_tpot_ms"].as_f64().expect("mean_tpot_ms");
            rows.push(Row {
                file: file.clone(),
                gpu: gpu.id.clone(),
                class,
                model: spec.id.clone(),
                precision: precision.to_string(),
                phase: Phase::VllmDecode,
                test: format!("c{} {}/{}", w.concurrency, w.input_tokens, w.output_tokens),
                tokens: 1,
                published_rate: 1000.0 / tpot_ms,
                concurrency: w.concurrency,
                fitted: true,
                terms: vllm::tpot_terms(&p, &w, &settings),
            });
        }
    }
    rows
}

/// Relative least squares with Huber weights and lower bounds: minimizes
/// Σ w_i² (Σ_k x_ik c_k + o_i − t_i)² with w_i = huber_i / t_i (o_i: the terms of fixed
/// coefficients).
fn solve(rows: &[(Vec<f64>, f64, f64)], lower: &[f64]) -> Vec<f64> {
    let k = lower.len();
    let mut huber = vec![1.0; rows.len()];
    let mut coef = vec![1.0; k];
    for _ in 0..30 {
        let mut fixed: Vec<Option<f64>> = vec![None; k];
        loop {
            let free: Vec<usize> = (0..k).filter(|&j| fixed[j].is_none()).collect();
            let n = free.len();
            let mut ata = vec![vec![0.0; n]; n];
            let mut atb = vec![0.0; n];
            for ((x, t, o), h) in rows.iter().zip(&huber) {
                let w = h / t;
                let rhs = t - o - (0..k).filter_map(|j| fixed[j].map(|c| c * x[j])).sum::<f64>();
                for (a, &ja) in free.iter().enumerate() {
                    atb[a] += w * w * x[ja] * rhs;
                    for (b, &jb) in free.iter().enumerate() {
                        ata[a][b] += w * w * x[ja] * x[jb];
                    }
                }
            }
            for (a, row) in ata.iter_mut().enumerate() {
                row[a] += 1e-12 * (1.0 + row[a]); // keeps unused columns solvable
            }
            let sol = gauss(ata, atb);
            let mut moved = false;
            for (a, &j) in free.iter().enumerate() {
                coef[j] = sol[a];
                if sol[a] < lower[j] {
                    fixed[j] = Some(lower[j]);
                    moved = true;
                }
            }
            for j in 0..k {
                if let Some(c) = fixed[j] {
                    coef[j] = c;
                }
            }
            if !moved {
                break;
            }
        }
        for ((x, t, o), h) in rows.iter().zip(huber.iter_mut()) {
            let pred: f64 = x.iter().zip(&coef).map(|(a, b)| a * b).sum::<f64>() + o;
            let rel = (pred / t - 1.0).abs();
            *h = if rel <= 0.1 { 1.0 } else { (0.1 / rel).sqrt() };
        }
    }
    coef
}

fn gauss(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap();
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (top, rest) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (i, row) in rest.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[col + 1 + i] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    x
}

/// Fits the coefficients on the rows `keep` selects, once with every per-class key pooled (the
/// fallback values, under [`POOL_CLASS`]) and once per class; a per-class value is kept for classes
/// with rows of their own.
pub fn fit_llamacpp(rows: &[Row], keep: impl Fn(&Row) -> bool) -> Vec<Fitted> {
    let kept: Vec<&Row> = rows.iter().filter(|r| r.fitted && keep(r)).collect();
    let mut out = fit_keys(&kept, llamacpp::pooled, |_| None);
    // a class gets a value of its own only where the rows using it come from two GPUs (one GPU
    // cannot tell its class from itself); the others keep the pooled key
    let mut own: Vec<Coef> = Vec::new();
    for r in &kept {
        for t in &r.terms.terms {
            if class_of(t.key).is_some() && !own.contains(&t.key) {
                let mut g: Vec<&str> = kept
                    .iter()
                    .filter(|q| q.terms.terms.iter().any(|u| u.key == t.key))
                    .map(|q| q.gpu.as_str())
                    .collect();
                g.sort();
                g.dedup();
                if g.len() >= 2 {
                    own.push(t.key);
                }
            }
        }
    }
    let per_class = fit_keys(
        &kept,
        |c| if own.contains(&c) { c } else { llamacpp::pooled(c) },
        |_| None,
    );
    for f in per_class {
        if llamacpp::pooled(f.coef) != f.coef {
            out.push(f);
        }
    }
    let mut out: Vec<Fitted> = out
        .into_iter()
        .map(|f| Fitted {
            coef: f.coef,
            value: f.value,
            rows: f.rows,
            gpus: f.gpus,
        })
        .collect();
    out.sort_by_key(|f| format!("{:?}", f.coef));
    out
}

/// Fits the vLLM decode read per memory kind and the fixed time per step on the rows `keep` selects
/// (rows of models of different sizes on one memory kind tell a share of the bandwidth from a cost
/// per step); the other coefficients stay at their priors (`vllm::PRIORS`).
pub fn fit_vllm(rows: &[Row<vllm::Coef>], keep: impl Fn(&Row<vllm::Coef>) -> bool) -> Vec<vllm::Fitted> {
    let kept: Vec<&Row<vllm::Coef>> = rows.iter().filter(|r| r.fitted && keep(r)).collect();
    let prior = |c: vllm::Coef| match c {
        vllm::Coef::DecodeRead(_) | vllm::Coef::Step => None,
        other => Some(vllm::lookup(&[], other)),
    };
    let mut out: Vec<vllm::Fitted> = fit_keys(&kept, |c| c, prior)
        .into_iter()
        .filter(|f| prior(f.coef).is_none())
        .map(|f| vllm::Fitted {
            coef: f.coef,
            value: f.value,
            rows: f.rows,
            gpus: f.gpus,
        })
        .collect();
    out.sort_by_key(|f| format!("{:?}", f.coef));
    out
}

/// A fitted value of key `K` and the rows and GPUs behind it.
pub struct Fit<K> {
    pub coef: K,
    pub value: f64,
    pub rows: u32,
    pub gpus: u32,
}

/// Least squares over the keys `key` maps the rows' terms to; keys `fixed` gives a value for are
/// held at it.
fn fit_keys<K: Key>(rows: &[&Row<K>], key: impl Fn(K) -> K, fixed: impl Fn(K) -> Option<f64>) -> Vec<Fit<K>> {
    let mut keys: Vec<K> = Vec::new();
    for r in rows {
        for t in &r.terms.terms {
            let k = key(t.key);
            if fixed(k).is_none() && !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    let design: Vec<(Vec<f64>, f64, f64)> = rows
        .iter()
        .map(|r| {
            let mut x = vec![0.0; keys.len()];
            let mut offset = 0.0;
            for t in &r.terms.terms {
                let k = key(t.key);
                match fixed(k) {
                    Some(v) => offset += v * t.quantity,
                    None => x[keys.iter().position(|q| *q == k).unwrap()] += t.quantity,
                }
            }
            (x, r.tokens as f64 / r.published_rate, offset)
        })
        .collect();
    let lower: Vec<f64> = keys.iter().map(|&k| k.lower()).collect();
    let coef = solve(&design, &lower);
    keys.iter()
        .zip(coef)
        .map(|(&k, value)| {
            let using: Vec<&&Row<K>> = rows
                .iter()
                .filter(|r| r.terms.terms.iter().any(|t| key(t.key) == k))
                .collect();
            let mut gpus: Vec<&str> = using.iter().map(|r| r.gpu.as_str()).collect();
            gpus.sort();
            gpus.dedup();
            Fit {
                coef: k,
                value: significant(value),
                rows: using.len() as u32,
                gpus: gpus.len() as u32,
            }
        })
        .collect()
}

/// `x` to 4 significant digits (what the committed tables hold).
pub fn significant(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

fn rust_coef(c: Coef) -> String {
    let class = |g: GpuClass| format!("GpuClass::{g:?}");
    let mem = |m: MemoryKind| format!("MemoryKind::{m:?}");
    match c {
        Coef::DecodeRead(m) => format!("Coef::DecodeRead({})", mem(m)),
        Coef::DecodeRead16(m) => format!("Coef::DecodeRead16({})", mem(m)),
        Coef::KvWithoutFlash(g) => format!("Coef::KvWithoutFlash({})", class(g)),
        Coef::LayerPass(e) => format!("Coef::LayerPass(Era::{e:?})"),
        Coef::Gemm(g) => format!("Coef::Gemm({})", class(g)),
        Coef::GemmPower(g) => format!("Coef::GemmPower({})", class(g)),
        Coef::Mmq(g) => format!("Coef::Mmq({})", class(g)),
        other => format!("Coef::{other:?}"),
    }
}

/// The refit as the Rust table src/estimate/speed/llamacpp.rs holds.
pub fn rust_table(fit: &[Fitted]) -> String {
    let mut s = String::from("pub const COEFFICIENTS: &[Fitted] = &[\n");
    for f in fit {
        let pooled = if f.coef == llamacpp::pooled(f.coef) && f.coef != Coef::Dequant && is_class_keyed(f.coef) {
            " // all classes"
        } else {
            ""
        };
        s += &format!(
            "    Fitted {{ coef: {}, value: {:?}, rows: {}, gpus: {} }},{pooled}\n",
            rust_coef(f.coef),
            f.value,
            f.rows,
            f.gpus
        );
    }
    s + "];\n"
}

fn class_of(c: Coef) -> Option<GpuClass> {
    match c {
        Coef::KvWithoutFlash(g) | Coef::Gemm(g) | Coef::GemmPower(g) | Coef::Mmq(g) => Some(g),
        _ => None,
    }
}

fn is_class_keyed(c: Coef) -> bool {
    matches!(c, Coef::KvWithoutFlash(g) | Coef::Gemm(g) | Coef::GemmPower(g) | Coef::Mmq(g) if g == POOL_CLASS)
}

/// The vLLM refit as the Rust table src/estimate/speed/vllm.rs holds.
pub fn vllm_rust_table(fit: &[vllm::Fitted]) -> String {
    let mut s = String::from("pub const COEFFICIENTS: &[Fitted] = &[\n");
    for f in fit {
        let coef = match f.coef {
            vllm::Coef::DecodeRead(m) => format!("Coef::DecodeRead(MemoryKind::{m:?})"),
            other => format!("Coef::{other:?}"),
        };
        s += &format!(
            "    Fitted {{ coef: {coef}, value: {:?}, rows: {}, gpus: {} }},\n",
            f.value, f.rows, f.gpus
        );
    }
    s + "];\n"
}

/// The bands as the Rust table src/estimate/speed/band.rs holds.
pub fn bands_table(bands: &[Band]) -> String {
    let mut s = String::from("pub const BANDS: &[Band] = &[\n");
    for b in bands {
        let basis = match b.basis {
            Basis::Engine => "Basis::Engine".to_string(),
            Basis::Class(c) => format!("Basis::Class(GpuClass::{c:?})"),
        };
        s += &format!(
            "    Band {{ phase: Phase::{:?}, basis: {basis}, low: {:?}, high: {:?}, rows: {}, gpus: {}, held_out: {} }},\n",
            b.phase, b.low, b.high, b.rows, b.gpus, b.held_out
        );
    }
    s + "];\n"
}

fn percent(x: f64) -> String {
    if x.is_finite() {
        format!("{:+.1} %", x * 100.0)
    } else {
        "-".into()
    }
}

/// The `q` quantile of sorted values, linear between neighbours (NaN when empty).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Median and 90th percentile of |error| over some rows.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub rows: usize,
    pub median: f64,
    pub p90: f64,
}

fn spread(mut errors: Vec<f64>) -> Spread {
    errors.sort_by(f64::total_cmp);
    Spread {
        rows: errors.len(),
        median: percentile(&errors, 0.5),
        p90: percentile(&errors, 0.9),
    }
}

/// A row's error from its measured/predicted rate ratio: of the rate (predicted / measured − 1) for
/// llama.cpp's tokens/s, of the time per output token for vLLM's TPOT.
pub fn error(phase: Phase, ratio: f64) -> f64 {
    match phase {
        Phase::VllmDecode => ratio - 1.0,
        _ => 1.0 / ratio - 1.0,
    }
}

/// Median and 90th percentile of |error| of the `phase` ratios.
pub fn error_spread(ratios: &[Ratio], phase: Phase) -> Spread {
    spread(
        ratios
            .iter()
            .filter(|r| r.phase == phase)
            .map(|r| error(phase, r.ratio).abs())
            .collect(),
    )
}

/// Median and 90th percentile of |error| of the `phase` rows predicted with `coefficient`.
fn in_sample<K: Key>(rows: &[Row<K>], phase: Phase, coefficient: &dyn Fn(K) -> f64) -> Spread {
    spread(
        rows.iter()
            .filter(|r| r.phase == phase)
            .map(|r| error(phase, r.published_rate / r.predicted_rate(coefficient)).abs())
            .collect(),
    )
}

/// The README section: a summary of the errors per engine and phase, then one line per row.
pub fn readme_table(
    llama: &[Row],
    llama_loo: &[Ratio],
    vllm_rows: &[Row<vllm::Coef>],
    vllm_held: &[Ratio],
    vllm_held_out: bool,
) -> String {
    let mut s = String::from(
        "| engine and phase | rows | GPUs | median error | p90 error | median error, leave one GPU out | p90 error, leave one GPU out |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let gpus = |phase: Phase, ratios: &[Ratio]| {
        let mut g: Vec<&str> = ratios
            .iter()
            .filter(|r| r.phase == phase)
            .map(|r| r.gpu.as_str())
            .collect();
        g.sort();
        g.dedup();
        g.len()
    };
    let pct = |x: f64| format!("{:.1} %", x * 100.0);
    for (phase, name) in [
        (Phase::LlamaCppDecode, "llama.cpp decode (tg, tok/s)"),
        (Phase::LlamaCppPrefill, "llama.cpp prefill (pp, tok/s)"),
    ] {
        let fitted = in_sample(llama, phase, &llamacpp::coefficient);
        let held = error_spread(llama_loo, phase);
        s += &format!(
            "| {name} | {} | {} | {} | {} | {} | {} |\n",
            held.rows,
            gpus(phase, llama_loo),
            pct(fitted.median),
            pct(fitted.p90),
            pct(held.median),
            pct(held.p90)
        );
    }
    let fitted = in_sample(vllm_rows, Phase::VllmDecode, &vllm::coefficient);
    let held = error_spread(vllm_held, Phase::VllmDecode);
    let (held_median, held_p90) = if vllm_held_out {
        (pct(held.median), pct(held.p90))
    } else {
        ("- (one GPU)".into(), "- (one GPU)".into())
    };
    s += &format!(
        "| vLLM decode (TPOT) | {} | {} | {} | {} | {held_median} | {held_p90} |\n",
        held.rows,
        gpus(Phase::VllmDecode, vllm_held),
        pct(fitted.median),
        pct(fitted.p90),
    );
    s += &format!(
        "\n<details><summary>Every llama.cpp row ({})</summary>\n\n| GPU | model | test | published tok/s | predicted tok/s | error | leave one GPU out |\n|---|---|---|---:|---:|---:|---:|\n",
        llama.len()
    );
    for r in llama {
        let pred = r.predicted_rate(&llamacpp::coefficient);
        let held = llama_loo
            .iter()
            .find(|l| l.file == r.file && l.test == r.test)
            .map_or(f64::NAN, |l| error(l.phase, l.ratio));
        s += &format!(
            "| {} | {} {} | {}{} | {:.1} | {:.1} | {} | {} |\n",
            r.gpu,
            r.model,
            r.precision,
            r.test,
            if r.fitted { "" } else { " (not fitted: unsteady)" },
            r.published_rate,
            pred,
            percent(pred / r.published_rate - 1.0),
            percent(held)
        );
    }
    s += "\n</details>\n\n| GPU | model | vLLM test (concurrency input/output) | published TPOT ms | predicted TPOT ms | error |\n|---|---|---|---:|---:|---:|\n";
    for r in vllm_rows {
        let pred = r.predicted_rate(&vllm::coefficient);
        s += &format!(
            "| {} | {} {} | {} | {:.1} | {:.1} | {} |\n",
            r.gpu,
            r.model,
            r.precision,
            r.test,
            1000.0 / r.published_rate,
            1000.0 / pred,
            percent(r.published_rate / pred - 1.0)
        );
    }
    s
}
