//! Sizing a workload: for every (model, precision, GPU) option, the layout and number of GPUs that
//! serve the load within the latency targets, what each GPU holds, what it costs, and a ranking with a
//! recommendation. Everything the report shows is computed here, chart series included; the report
//! only formats.
//!
//! Method (also listed in the report's assumptions):
//! - memory: every sequence in flight at the p95 length (p95 prompt + p95 output);
//! - decode speed: at the average KV length (average prompt + half the average output);
//! - TTFT: prefill of one p95 prompt, plus one decode step of the running batch it joins;
//! - per layout (tensor parallel in a node, pipeline stages beyond, [`layout::candidates`]) the
//!   largest batch that fits and meets both targets; replicas = requests in flight / that batch
//!   (requests per second: Little's law, in flight = rate x request duration);
//! - the option's layout is the one with the fewest GPUs in total, then the fastest per user.

use super::evidence::{self, Basis, Evidence};
use super::fit::MAX_BATCH_SEARCHED;
use super::layout::{self, Layout, Replica, Stages};
use super::workload::{CostMode, Workload};
use super::Options;
use crate::estimate::engine::command;
use crate::estimate::engine::offload::solve::Knob;
use crate::estimate::speed;
use crate::estimate::{EngineId, Memory, Throughput};
use crate::spec::host::Host;
use crate::spec::{Format, GpuSpec, ModelSpec};
use serde::Serialize;

/// Options drawn in the charts at most (the best ranked that fit).
pub const CHART_OPTIONS: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct Sizing {
    pub workload: Summary,
    /// how the figures were obtained, in words
    pub assumptions: Vec<String>,
    /// ranked, best first
    pub options: Vec<SizedOption>,
    pub recommendation: Option<Recommendation>,
    /// why nothing is recommended (when `recommendation` is None)
    pub no_recommendation: Option<String>,
    pub charts: ChartData,
}

/// The workload as understood.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub name: String,
    pub description: Option<String>,
    pub file: String,
    pub models: Vec<String>,
    pub precisions: Vec<String>,
    pub gpus: Vec<String>,
    pub runtime: Option<EngineId>,
    pub prompt_average: u64,
    pub prompt_p95: u64,
    pub output_average: u64,
    pub output_p95: u64,
    /// tokens per sequence memory is sized for: p95 prompt + p95 output
    pub memory_context: u64,
    /// average KV length during decode: average prompt + average output / 2
    pub decode_context: u64,
    pub concurrent_users: Option<u64>,
    pub requests_per_second: Option<f64>,
    pub ttft_target_s: Option<f64>,
    pub tokens_per_s_target: Option<f64>,
    pub cost_mode: CostMode,
    pub hours_per_month: f64,
    pub budget_usd: Option<f64>,
    pub amortization_months: f64,
    pub power_usd_per_kwh: Option<f64>,
    pub max_gpus_per_replica: u64,
    pub memory_headroom: f64,
    pub load_headroom: f64,
}

/// Where an option stands; also the first ranking key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// fits, meets the targets, priced, within budget
    Feasible,
    /// feasible but above the budget
    OverBudget,
    /// fits and meets the targets, but the catalog has no price for the cost mode
    NoPrice,
    /// fits, but no layout meets the latency targets
    MissesTargets,
    /// fits one GPU only with part of the model in the host's RAM (llama.cpp, a workload `host`)
    FitsWithOffload,
    /// does not fit on any layout up to `max_gpus_per_replica` (or the model's context is too short)
    DoesNotFit,
    /// the runtime cannot run this format on this GPU ([`super::support`])
    Unsupported,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Feasible => "meets all",
            Status::OverBudget => "over budget",
            Status::NoPrice => "no price",
            Status::MissesTargets => "misses targets",
            Status::FitsWithOffload => "fits with CPU offload",
            Status::DoesNotFit => "does not fit",
            Status::Unsupported => "not supported",
        }
    }
}

/// A target and the value reached.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Check {
    pub target: f64,
    pub value: f64,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cost {
    pub mode: CostMode,
    /// catalog price of one GPU: $/hour (cloud) or $ (purchase)
    pub gpu_price_usd: Option<f64>,
    /// all GPUs, per hour (purchase: the monthly cost spread over the hours of service)
    pub hourly_usd: Option<f64>,
    pub monthly_usd: Option<f64>,
    /// purchase: all GPUs up front
    pub upfront_usd: Option<f64>,
    /// $ per million output tokens at the workload's load
    pub usd_per_million_tokens: Option<f64>,
    /// None when no budget was given or there is no price
    pub within_budget: Option<bool>,
}

/// One (model, precision, GPU) option, sized.
#[derive(Debug, Clone, Serialize)]
pub struct SizedOption {
    pub rank: usize,
    pub status: Status,
    pub label: String,
    pub model: String,
    pub model_name: String,
    pub precision: String,
    pub kv_precision: String,
    pub gpu: String,
    pub gpu_name: String,
    /// per replica; None when nothing fits
    pub layout: Option<Layout>,
    pub replicas: u64,
    pub total_gpus: u64,
    /// sequences each replica decodes together at the workload's load
    pub batch_per_replica: u64,
    /// the largest batch per replica that fits and meets the targets (None: not even 1)
    pub max_batch_within_targets: Option<u64>,
    /// the largest batch per replica that fits at the memory context
    pub max_batch: Option<u64>,
    /// per GPU, the heaviest pipeline stage, at `batch_per_replica` and the memory context; for an
    /// option that does not fit, at batch 1 on the largest layout tried (showing by how much)
    pub memory: Option<Memory>,
    /// the layout `memory` and `max_context` are for
    pub memory_layout: Option<Layout>,
    pub memory_stage: u64,
    /// available - total per GPU (negative: short)
    pub headroom_bytes: i64,
    /// headroom / available
    pub headroom_fraction: f64,
    /// largest context one sequence can have on this layout (batch 1)
    pub max_context: Option<u64>,
    pub ttft: Option<Check>,
    pub tokens_per_s: Option<Check>,
    pub ttft_s: Option<f64>,
    pub per_user_tokens_per_s: Option<f64>,
    pub meets_targets: bool,
    /// output tokens/s served at the workload's load, all replicas
    pub served_tokens_per_s: Option<f64>,
    /// output tokens/s all replicas sustain at their largest batch within the targets
    pub capacity_tokens_per_s: Option<f64>,
    /// capacity / served - 1: room for more load on the same GPUs
    pub load_headroom_fraction: Option<f64>,
    pub cost: Cost,
    pub evidence: Evidence,
    /// the engine command one replica runs with, as gpuplan derives it (its layout, the memory
    /// context, `batch_per_replica`); None when nothing fits or the engine has no command line
    pub command: Option<String>,
    /// how it fits with part of the model in the workload host's RAM (status `fits_with_offload`)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offload: Option<SizedOffload>,
    pub notes: Vec<String>,
}

/// An option that fits one GPU only with part of the model in the host's RAM (llama.cpp): the split
/// `fit` chooses for one sequence at the memory context, and the RAM it needs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SizedOffload {
    /// `--n-cpu-moe N` (MoE) or `-ngl N` (dense)
    pub split: Knob,
    pub host: String,
    pub host_needed_bytes: u64,
    pub host_usable_bytes: u64,
    /// decode of one sequence with the split; None without the host's bandwidth
    pub decode_tokens_per_s: Option<f64>,
}

/// Why an option is recommended (or the runner-up placed second), as facts the report words.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Reason {
    /// the only option that fits, meets the targets and the budget
    OnlyFeasible,
    /// the lowest cost of `feasible` options that meet everything
    Cheapest { monthly_usd: f64, feasible: usize },
    /// this option's monthly cost minus the other's (negative: cheaper), and that as a fraction of
    /// the other's
    CostDifference {
        other_rank: usize,
        monthly_usd: f64,
        fraction: f64,
    },
    /// fewest GPUs
    Gpus { total: u64, layout: Layout, replicas: u64 },
    /// the latency targets with the values reached
    Targets {
        ttft: Option<Check>,
        tokens_per_s: Option<Check>,
    },
    /// memory and load headroom
    Headroom {
        bytes: i64,
        fraction: f64,
        load_fraction: Option<f64>,
    },
    /// whether figures are estimated or validated
    Basis { validated: bool },
}

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub rank: usize,
    pub label: String,
    pub reasons: Vec<Reason>,
    pub runner_up: Option<RunnerUp>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunnerUp {
    pub rank: usize,
    pub label: String,
    pub reasons: Vec<Reason>,
}

/// Chart series, all computed here.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ChartData {
    pub memory: Vec<MemoryBar>,
    pub context: Vec<ContextBar>,
    pub decode: Vec<DecodeSeries>,
    pub cost: Vec<CostBar>,
    /// true when every charted figure is an estimate (no validation record)
    pub estimated: bool,
    pub cost_mode: CostMode,
}

/// Per-GPU memory of one option (heaviest stage), stacked.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MemoryBar {
    pub label: String,
    pub weights: u64,
    pub kv_cache: u64,
    pub activations: u64,
    pub overhead: u64,
    /// available - total, 0 when over
    pub free: u64,
    pub available: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContextBar {
    pub label: String,
    /// largest context at batch 1 on the option's layout (0: none)
    pub max_context: u64,
    /// the model's maximum
    pub model_max: u64,
    /// what the workload needs (p95 prompt + p95 output)
    pub needed: u64,
}

/// Decode tokens/s of one replica against batch, at the average decode context.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DecodeSeries {
    pub label: String,
    /// (batch, aggregate tokens/s of one replica)
    pub points: Vec<(u64, f64)>,
    /// (batch, tokens/s each sequence sees)
    pub per_user: Vec<(u64, f64)>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CostBar {
    pub label: String,
    pub usd_per_million_tokens: f64,
    pub monthly_usd: f64,
    pub status: Status,
}

/// Figures of one replica at one batch.
#[derive(Debug, Clone, Copy)]
struct AtBatch {
    ttft_s: f64,
    per_user: f64,
    aggregate: f64,
}

/// One layout evaluated for the workload.
struct Candidate {
    layout: Layout,
    replicas: u64,
    batch: u64,
    within: Option<u64>,
    max_batch: u64,
    at: AtBatch,
    at_within: Option<AtBatch>,
    meets: bool,
}

struct Need {
    memory_context: u64,
    decode_context: u64,
    prompt_p95: u64,
    output_average: u64,
    users: Option<u64>,
    rate: Option<f64>,
    ttft: Option<f64>,
    speed: Option<f64>,
    /// fraction of usable memory kept free per GPU
    memory_margin: f64,
    /// capacity is sized for the load x (1 + this)
    load_margin: f64,
}

impl Need {
    fn meets(&self, a: &AtBatch) -> bool {
        self.ttft.is_none_or(|t| a.ttft_s <= t) && self.speed.is_none_or(|s| a.per_user >= s)
    }

    /// Seconds one request takes: TTFT + average output / per-user speed.
    fn duration(&self, a: &AtBatch) -> f64 {
        a.ttft_s + self.output_average as f64 / a.per_user
    }
}

fn at_batch(stages: &Stages, need: &Need, prefill_s: f64, batch: u64) -> AtBatch {
    let t: Throughput = stages.throughput(need.decode_context, batch);
    AtBatch {
        ttft_s: prefill_s + t.decode_step_s,
        per_user: t.per_user_tokens_per_s,
        aggregate: t.decode_tokens_per_s,
    }
}

/// Sizes one layout: the largest batch within the targets, then the replicas the load needs.
fn evaluate(replica: &Replica, need: &Need) -> Option<Candidate> {
    let stages = replica.stages();
    let max_batch = stages.max_batch_with_margin(need.memory_context, MAX_BATCH_SEARCHED, need.memory_margin)?;
    // prefill part of TTFT: one p95 prompt alone (its own decode step is replaced by the batch's)
    let one = stages.throughput(need.prompt_p95, 1);
    let prefill_s = one.ttft_s - one.decode_step_s;
    let at = |b: u64| at_batch(&stages, need, prefill_s, b);
    // per-user speed falls and TTFT grows with the batch, so the boundary is found by bisection
    let within = super::solve::largest(1, max_batch, |b| need.meets(&at(b)));
    let limit = within.unwrap_or(max_batch);
    let at_limit = at(limit);
    let grow = 1.0 + need.load_margin;
    let (replicas, batch) = match (need.users, need.rate) {
        (Some(users), _) => {
            let sized_for = (users as f64 * grow).ceil() as u64;
            let replicas = sized_for.div_ceil(limit).max(1);
            (replicas, users.div_ceil(replicas))
        }
        (None, Some(rate)) => {
            let capacity = limit as f64 / need.duration(&at_limit);
            let replicas = ((rate * grow / capacity).ceil() as u64).max(1);
            let in_flight = rate * need.duration(&at_limit);
            (replicas, ((in_flight / replicas as f64).ceil() as u64).clamp(1, limit))
        }
        (None, None) => (1, 1),
    };
    let at_design = at(batch);
    Some(Candidate {
        layout: replica.layout,
        replicas,
        batch,
        within,
        max_batch,
        at: at_design,
        at_within: within.map(|_| at_limit),
        meets: need.meets(&at_design),
    })
}

fn label(model: &ModelSpec, multi_model: bool, format: &Format, gpu: &GpuSpec) -> String {
    if multi_model {
        format!("{} {} on {}", model.id, format.id, gpu.id)
    } else {
        format!("{} {}", gpu.id, format.id)
    }
}

/// Sizes every option of the workload and ranks them.
pub fn size(w: &Workload) -> Sizing {
    let r = &w.raw;
    let need = Need {
        memory_context: r.prompt_tokens.p95 + r.output_tokens.p95,
        decode_context: r.prompt_tokens.average + r.output_tokens.average / 2,
        prompt_p95: r.prompt_tokens.p95,
        output_average: r.output_tokens.average,
        users: r.load.concurrent_users,
        rate: r.load.requests_per_second,
        ttft: r.targets.ttft_s,
        speed: r.targets.tokens_per_s_per_user,
        memory_margin: r.headroom.memory,
        load_margin: r.headroom.load,
    };
    let multi_model = w.models.len() > 1;
    let mut options = Vec::new();
    let mut series: Vec<(Option<DecodeSeries>, Option<ContextBar>)> = Vec::new();
    for m in &w.models {
        for &format in &m.formats {
            for gpu in &w.gpus {
                let (option, decode, context) =
                    size_option(w, &need, &m.spec, format, gpu, label(&m.spec, multi_model, format, gpu));
                series.push((decode, context));
                options.push(option);
            }
        }
    }
    // rank: status, then monthly cost, then memory headroom, then per-user speed
    let mut order: Vec<usize> = (0..options.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&options[a], &options[b]);
        x.status
            .cmp(&y.status)
            .then(cmp_opt(x.cost.monthly_usd, y.cost.monthly_usd))
            .then(x.total_gpus.cmp(&y.total_gpus))
            .then(y.headroom_fraction.total_cmp(&x.headroom_fraction))
            .then(cmp_opt(y.per_user_tokens_per_s, x.per_user_tokens_per_s))
    });
    let mut ranked: Vec<SizedOption> = Vec::with_capacity(options.len());
    let mut ranked_series = Vec::with_capacity(options.len());
    for (pos, &i) in order.iter().enumerate() {
        let mut o = options[i].clone();
        o.rank = pos + 1;
        ranked.push(o);
        ranked_series.push(series[i].clone());
    }
    let (recommendation, no_recommendation) = recommend(&ranked, w);
    let charts = charts(&ranked, ranked_series, r.cost.mode);
    Sizing {
        workload: summary(w, &need),
        assumptions: assumptions(w, &need),
        options: ranked,
        recommendation,
        no_recommendation,
        charts,
    }
}

/// None sorts last.
fn cmp_opt(a: Option<f64>, b: Option<f64>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

/// The planner's options for sizing `format`: the workload's engine and KV cache, the memory
/// context.
fn option_settings(w: &Workload, need: &Need, format: &'static Format) -> Options {
    Options {
        precision: Some(format),
        kv: w.kv,
        runtime: Some(w.runtime_for(format)),
        context: Some(need.memory_context),
        ..Options::default()
    }
}

/// One option: on the GPUs alone, or else with CPU offload when the workload names a host.
fn size_option(
    w: &Workload,
    need: &Need,
    model: &ModelSpec,
    format: &'static Format,
    gpu: &GpuSpec,
    label: String,
) -> (SizedOption, Option<DecodeSeries>, Option<ContextBar>) {
    let (mut o, decode, context) = size_on_gpus(w, need, model, format, gpu, label);
    if let (Status::DoesNotFit, Some(host)) = (o.status, w.host) {
        with_offload(&mut o, w, need, model, format, gpu, host);
    }
    (o, decode, context)
}

/// Turns a `DoesNotFit` option into `FitsWithOffload` when llama.cpp fits one GPU with part of the
/// model in `host`'s RAM at the memory context (one sequence: the split search's answer).
fn with_offload(
    o: &mut SizedOption,
    w: &Workload,
    need: &Need,
    model: &ModelSpec,
    format: &'static Format,
    gpu: &GpuSpec,
    host: &'static Host,
) {
    let opts = Options {
        host: Some(host),
        ..option_settings(w, need, format)
    };
    let Some(r) = super::offload::offload(model, gpu, &opts, false) else {
        return;
    };
    let (Some(row), Some(verdict)) = (r.search.as_ref().and_then(|s| s.best_row()), r.host.as_ref()) else {
        return;
    };
    if !r.fits {
        return;
    }
    let decode = r.decode.map(|d| d.tokens_per_s);
    let fullest = r.split.gpus.iter().map(|g| g.total_bytes).max().unwrap_or(0);
    let available = o.memory.as_ref().map_or(0, |m| m.available_bytes);
    o.status = Status::FitsWithOffload;
    o.layout = Some(Layout::SINGLE);
    o.memory_layout = Some(Layout::SINGLE);
    o.memory = None;
    o.replicas = 1;
    o.total_gpus = 1;
    o.batch_per_replica = 1;
    o.max_context = row.max_context;
    o.headroom_bytes = super::fit::headroom(available, fullest);
    o.headroom_fraction = if available > 0 {
        o.headroom_bytes as f64 / available as f64
    } else {
        0.0
    };
    o.per_user_tokens_per_s = decode;
    o.served_tokens_per_s = decode;
    // the p95 prompt at the split's prompt speed (host weights crossing PCIe, or the CPU computing)
    o.ttft_s = r
        .prefill
        .and_then(|p| p.tokens_per_s)
        .map(|t| need.prompt_p95 as f64 / t);
    o.ttft = need.ttft.zip(o.ttft_s).map(|(target, value)| Check {
        target,
        value,
        met: value <= target,
    });
    o.tokens_per_s = need.speed.zip(decode).map(|(target, value)| Check {
        target,
        value,
        met: value >= target,
    });
    o.meets_targets = o.ttft.is_none_or(|c| c.met) && o.tokens_per_s.is_none_or(|c| c.met);
    o.cost = cost(&w.raw.cost, o.cost.gpu_price_usd, gpu, 1, decode.unwrap_or(0.0));
    o.command = Some(r.command.clone());
    o.offload = Some(SizedOffload {
        split: row.knob,
        host: verdict.id.clone(),
        host_needed_bytes: verdict.needed_bytes,
        host_usable_bytes: verdict.usable_bytes,
        decode_tokens_per_s: decode,
    });
}

fn size_on_gpus(
    w: &Workload,
    need: &Need,
    model: &ModelSpec,
    format: &'static Format,
    gpu: &GpuSpec,
    label: String,
) -> (SizedOption, Option<DecodeSeries>, Option<ContextBar>) {
    let opts = option_settings(w, need, format);
    let setup = opts.setup(model);
    let (memory_basis, throughput_basis) = evidence::figures_basis(
        &model.id,
        &gpu.id,
        format.id,
        speed::calibrated_from(w.runtime_for(format)),
    );
    let price = price(gpu, w.raw.cost.mode);
    let mut o = SizedOption {
        rank: 0,
        status: Status::DoesNotFit,
        label,
        model: model.id.clone(),
        model_name: model.name.clone(),
        precision: format.id.to_string(),
        kv_precision: setup.kv.label().to_string(),
        gpu: gpu.id.clone(),
        gpu_name: gpu.name.clone(),
        layout: None,
        replicas: 0,
        total_gpus: 0,
        batch_per_replica: 0,
        max_batch_within_targets: None,
        max_batch: None,
        memory: None,
        memory_layout: None,
        memory_stage: 0,
        headroom_bytes: 0,
        headroom_fraction: 0.0,
        max_context: None,
        ttft: None,
        tokens_per_s: None,
        ttft_s: None,
        per_user_tokens_per_s: None,
        meets_targets: false,
        served_tokens_per_s: None,
        capacity_tokens_per_s: None,
        load_headroom_fraction: None,
        cost: Cost {
            mode: w.raw.cost.mode,
            gpu_price_usd: price.as_ref().map(|p| p.0),
            hourly_usd: None,
            monthly_usd: None,
            upfront_usd: None,
            usd_per_million_tokens: None,
            within_budget: None,
        },
        evidence: Evidence {
            memory: memory_basis,
            throughput: throughput_basis,
            bands: evidence::bands(w.runtime_for(format), Some(gpu)),
            price: price.as_ref().map(|p| p.1.clone()),
        },
        command: None,
        offload: None,
        notes: Vec::new(),
    };
    match super::support::check(w.runtime_for(format), format, gpu) {
        Ok(None) => {}
        Ok(Some(note)) => o.notes.push(note),
        Err(why) => {
            o.status = Status::Unsupported;
            o.notes.push(why);
            return (o, None, None);
        }
    }
    if need.memory_context > model.max_context {
        o.notes.push(format!(
            "the workload needs {} tokens per sequence (p95 prompt + p95 output); {} supports {}",
            need.memory_context, model.id, model.max_context
        ));
        return (o, None, None);
    }
    let mut best: Option<Candidate> = None;
    for layout in layout::candidates(model, w.raw.max_gpus_per_replica, !layout::splits_layers(model, &opts)) {
        let replica = Replica::new(model, gpu, &opts, layout);
        if replica.layout != layout {
            continue;
        }
        let Some(c) = evaluate(&replica, need) else {
            continue;
        };
        let better = match &best {
            None => true,
            Some(b) => {
                let key = |c: &Candidate| (!c.meets, c.replicas * c.layout.gpus());
                let (kc, kb) = (key(&c), key(b));
                kc < kb || (kc == kb && c.at.per_user > b.at.per_user)
            }
        };
        if better {
            best = Some(c);
        }
    }
    let Some(c) = best else {
        o.notes.push(format!(
            "does not fit at {} tokens per sequence with {} of memory kept free, on up to {} GPUs per replica",
            need.memory_context,
            pct(need.memory_margin),
            w.raw.max_gpus_per_replica
        ));
        // how far off: the largest layout allowed, one sequence
        let mut context = None;
        if let Some(&largest) =
            layout::candidates(model, w.raw.max_gpus_per_replica, !layout::splits_layers(model, &opts))
                .iter()
                .max_by_key(|l| (l.gpus(), l.tp))
        {
            let replica = Replica::new(model, gpu, &opts, largest);
            let stages = replica.stages();
            let (stage, memory) = stages.heaviest(need.memory_context, 1);
            o.max_context = stages.max_context(1);
            o.memory = Some(memory);
            o.memory_layout = Some(replica.layout);
            o.memory_stage = stage;
            context = Some(ContextBar {
                label: o.label.clone(),
                max_context: o.max_context.unwrap_or(0),
                model_max: model.max_context,
                needed: need.memory_context,
            });
        }
        return (o, None, context);
    };
    let replica = Replica::new(model, gpu, &opts, c.layout);
    let stages = replica.stages();
    let (memory_stage, memory) = stages.heaviest(need.memory_context, c.batch);
    o.layout = Some(c.layout);
    o.replicas = c.replicas;
    o.total_gpus = c.replicas * c.layout.gpus();
    o.batch_per_replica = c.batch;
    o.max_batch_within_targets = c.within;
    o.max_batch = Some(c.max_batch);
    o.headroom_bytes = super::fit::headroom(memory.available_bytes, memory.total_bytes);
    o.headroom_fraction = o.headroom_bytes as f64 / memory.available_bytes.max(1) as f64;
    o.memory = Some(memory);
    o.memory_layout = Some(c.layout);
    o.memory_stage = memory_stage;
    o.max_context = stages.max_context(1);
    o.command = command::emit(stages.first(), need.memory_context, c.batch);
    o.ttft = need.ttft.map(|t| Check {
        target: t,
        value: c.at.ttft_s,
        met: c.at.ttft_s <= t,
    });
    o.tokens_per_s = need.speed.map(|s| Check {
        target: s,
        value: c.at.per_user,
        met: c.at.per_user >= s,
    });
    o.ttft_s = Some(c.at.ttft_s);
    o.per_user_tokens_per_s = Some(c.at.per_user);
    o.meets_targets = c.meets;
    let served = match (need.users, need.rate) {
        (Some(users), _) => users as f64 * c.at.per_user,
        (None, Some(rate)) => rate * need.output_average as f64,
        (None, None) => c.at.aggregate,
    };
    let capacity = c.at_within.map(|a| a.aggregate * c.replicas as f64);
    o.served_tokens_per_s = Some(served);
    o.capacity_tokens_per_s = capacity;
    o.load_headroom_fraction = capacity.map(|cap| cap / served - 1.0);
    o.cost = cost(&w.raw.cost, price.map(|p| p.0), gpu, o.total_gpus, served);
    if c.layout.pp > 1 {
        o.notes.push(format!("{} pipeline stages: memory shown for the heaviest (stage {memory_stage}); each token passes every stage in turn", c.layout.pp));
    }
    if !c.meets {
        o.notes
            .push("no layout up to the GPU limit meets the latency targets; figures are for the closest".into());
    }
    if model.is_moe() {
        o.notes.push(
            "MoE: memory holds all experts; decode reads the experts a batch touches (uniform routing assumed)".into(),
        );
    }
    o.status = if !c.meets {
        Status::MissesTargets
    } else if o.cost.monthly_usd.is_none() {
        Status::NoPrice
    } else if o.cost.within_budget == Some(false) {
        Status::OverBudget
    } else {
        Status::Feasible
    };
    let series = decode_series(&stages, need, c.max_batch, o.label.clone());
    let context = ContextBar {
        label: o.label.clone(),
        max_context: o.max_context.unwrap_or(0),
        model_max: model.max_context,
        needed: need.memory_context,
    };
    (o, Some(series), Some(context))
}

/// Batches 1, 2, 4, ... up to the largest that fits, and that largest.
fn decode_series(stages: &Stages, need: &Need, max_batch: u64, label: String) -> DecodeSeries {
    let mut batches: Vec<u64> = std::iter::successors(Some(1u64), |b| b.checked_mul(2))
        .take_while(|&b| b <= max_batch)
        .collect();
    if batches.last() != Some(&max_batch) {
        batches.push(max_batch);
    }
    let mut points = Vec::new();
    let mut per_user = Vec::new();
    for b in batches {
        let t = stages.throughput(need.decode_context, b);
        points.push((b, t.decode_tokens_per_s));
        per_user.push((b, t.per_user_tokens_per_s));
    }
    DecodeSeries {
        label,
        points,
        per_user,
    }
}

/// The catalog price for the mode, and its basis.
fn price(gpu: &GpuSpec, mode: CostMode) -> Option<(f64, Basis)> {
    let p = gpu.price.as_ref()?;
    let value = match mode {
        CostMode::Cloud => p.hourly_usd?,
        CostMode::Purchase => p.purchase_usd?,
    };
    Some((
        value,
        Basis::Catalog {
            source: p.source.clone(),
            date: p.date.clone(),
        },
    ))
}

/// Cloud: GPUs x $/GPU-hour, x hours per month. Purchase: GPUs x price up front, written off over
/// `amortization_months`, plus board power (TDP) x hours x $/kWh when an electricity price is given.
/// $ per million tokens = hourly cost / (served tokens/s x 3600 / 1e6).
fn cost(spec: &super::workload::CostSpec, price: Option<f64>, gpu: &GpuSpec, gpus: u64, served: f64) -> Cost {
    let n = gpus as f64;
    let (hourly, monthly, upfront) = match (spec.mode, price) {
        (_, None) => (None, None, None),
        (CostMode::Cloud, Some(p)) => (Some(n * p), Some(n * p * spec.hours_per_month), None),
        (CostMode::Purchase, Some(p)) => {
            let upfront = n * p;
            let energy = match (spec.power_usd_per_kwh, gpu.tdp_w) {
                (Some(kwh), Some(w)) => n * w as f64 / 1000.0 * spec.hours_per_month * kwh,
                _ => 0.0,
            };
            let monthly = upfront / spec.amortization_months + energy;
            (Some(monthly / spec.hours_per_month), Some(monthly), Some(upfront))
        }
    };
    let per_million = hourly.filter(|_| served > 0.0).map(|h| h / (served * 3600.0 / 1e6));
    let within_budget = spec.budget_usd.and_then(|b| match spec.mode {
        CostMode::Cloud => monthly.map(|m| m <= b),
        CostMode::Purchase => upfront.map(|u| u <= b),
    });
    Cost {
        mode: spec.mode,
        gpu_price_usd: price,
        hourly_usd: hourly,
        monthly_usd: monthly,
        upfront_usd: upfront,
        usd_per_million_tokens: per_million,
        within_budget,
    }
}

fn recommend(ranked: &[SizedOption], w: &Workload) -> (Option<Recommendation>, Option<String>) {
    let feasible: Vec<&SizedOption> = ranked.iter().filter(|o| o.status == Status::Feasible).collect();
    let Some(best) = feasible.first() else {
        let why = match ranked.first().map(|o| o.status) {
            Some(Status::OverBudget) => format!(
                "every option that meets the targets is over the budget of ${:.0}; the cheapest is ranked first",
                w.raw.cost.budget_usd.unwrap_or(0.0)
            ),
            Some(Status::NoPrice) => {
                "options meet the targets, but the catalog has no price for them in this cost mode".into()
            }
            Some(Status::MissesTargets) => {
                "no option meets the latency targets with the GPUs allowed per replica; the closest is ranked first"
                    .into()
            }
            _ => "no candidate GPU fits (or runs) the model at the workload's context".into(),
        };
        return (None, Some(why));
    };
    let runner = feasible.get(1).copied().or_else(|| {
        ranked
            .iter()
            .find(|o| o.rank != best.rank && o.status < Status::DoesNotFit)
    });
    let mut reasons = Vec::new();
    match (feasible.len(), best.cost.monthly_usd) {
        (1, _) => reasons.push(Reason::OnlyFeasible),
        (n, Some(m)) => reasons.push(Reason::Cheapest {
            monthly_usd: m,
            feasible: n,
        }),
        _ => {}
    }
    if let (Some(r), Some(mb)) = (runner, best.cost.monthly_usd) {
        if let Some(mr) = r.cost.monthly_usd {
            reasons.push(Reason::CostDifference {
                other_rank: r.rank,
                monthly_usd: mb - mr,
                fraction: if mr > 0.0 { (mb - mr) / mr } else { 0.0 },
            });
        }
    }
    reasons.extend(common_reasons(best));
    let runner_up = runner.map(|r| {
        let mut rs = Vec::new();
        if let (Some(mr), Some(mb)) = (r.cost.monthly_usd, best.cost.monthly_usd) {
            rs.push(Reason::CostDifference {
                other_rank: best.rank,
                monthly_usd: mr - mb,
                fraction: if mb > 0.0 { (mr - mb) / mb } else { 0.0 },
            });
        }
        rs.extend(common_reasons(r));
        RunnerUp {
            rank: r.rank,
            label: r.label.clone(),
            reasons: rs,
        }
    });
    (
        Some(Recommendation {
            rank: best.rank,
            label: best.label.clone(),
            reasons,
            runner_up,
        }),
        None,
    )
}

fn common_reasons(o: &SizedOption) -> Vec<Reason> {
    let mut rs = Vec::new();
    if let Some(layout) = o.layout {
        rs.push(Reason::Gpus {
            total: o.total_gpus,
            layout,
            replicas: o.replicas,
        });
    }
    rs.push(Reason::Targets {
        ttft: o.ttft,
        tokens_per_s: o.tokens_per_s,
    });
    rs.push(Reason::Headroom {
        bytes: o.headroom_bytes,
        fraction: o.headroom_fraction,
        load_fraction: o.load_headroom_fraction,
    });
    rs.push(Reason::Basis {
        validated: matches!(o.evidence.memory, Basis::Validated { .. }),
    });
    rs
}

/// `series[i]` belongs to `ranked[i]`.
fn charts(
    ranked: &[SizedOption],
    series: Vec<(Option<DecodeSeries>, Option<ContextBar>)>,
    mode: CostMode,
) -> ChartData {
    let shown: Vec<&SizedOption> = ranked
        .iter()
        .filter(|o| o.memory.is_some())
        .take(CHART_OPTIONS)
        .collect();
    // chart rows name the layout too: the figures are per GPU of it
    let labeled = |o: &SizedOption| match o.memory_layout {
        Some(l) if l.gpus() > 1 => format!("{} ({})", o.label, l.label()),
        _ => o.label.clone(),
    };
    let memory = shown
        .iter()
        .filter_map(|o| {
            let m = o.memory.as_ref()?;
            Some(MemoryBar {
                label: labeled(o),
                weights: m.weights_bytes,
                kv_cache: m.kv_cache_bytes,
                activations: m.activations_bytes,
                overhead: m.overhead_bytes,
                free: m.available_bytes.saturating_sub(m.total_bytes),
                available: m.available_bytes,
            })
        })
        .collect();
    let cost = shown
        .iter()
        .filter_map(|o| {
            Some(CostBar {
                label: labeled(o),
                usd_per_million_tokens: o.cost.usd_per_million_tokens?,
                monthly_usd: o.cost.monthly_usd?,
                status: o.status,
            })
        })
        .collect();
    let mut decode = Vec::new();
    let mut context = Vec::new();
    for (o, (s, c)) in ranked.iter().zip(series) {
        if shown.iter().any(|x| x.rank == o.rank) {
            decode.extend(s.map(|s| DecodeSeries { label: labeled(o), ..s }));
            context.extend(c.map(|c| ContextBar { label: labeled(o), ..c }));
        }
    }
    let estimated = shown
        .iter()
        .all(|o| o.evidence.memory.is_estimated() && o.evidence.throughput.is_estimated());
    ChartData {
        memory,
        context,
        decode,
        cost,
        estimated,
        cost_mode: mode,
    }
}

fn summary(w: &Workload, need: &Need) -> Summary {
    let r = &w.raw;
    let mut precisions: Vec<String> = Vec::new();
    for m in &w.models {
        for f in &m.formats {
            if !precisions.iter().any(|p| p == f.id) {
                precisions.push(f.id.to_string());
            }
        }
    }
    Summary {
        name: r.name.clone(),
        description: r.description.clone(),
        file: w.file.display().to_string(),
        models: w.models.iter().map(|m| m.spec.id.clone()).collect(),
        precisions,
        gpus: w.gpus.iter().map(|g| g.id.clone()).collect(),
        runtime: w.runtime.map(|r| r.id),
        prompt_average: r.prompt_tokens.average,
        prompt_p95: r.prompt_tokens.p95,
        output_average: r.output_tokens.average,
        output_p95: r.output_tokens.p95,
        memory_context: need.memory_context,
        decode_context: need.decode_context,
        concurrent_users: r.load.concurrent_users,
        requests_per_second: r.load.requests_per_second,
        ttft_target_s: r.targets.ttft_s,
        tokens_per_s_target: r.targets.tokens_per_s_per_user,
        cost_mode: r.cost.mode,
        hours_per_month: r.cost.hours_per_month,
        budget_usd: r.cost.budget_usd,
        amortization_months: r.cost.amortization_months,
        power_usd_per_kwh: r.cost.power_usd_per_kwh,
        max_gpus_per_replica: r.max_gpus_per_replica,
        memory_headroom: r.headroom.memory,
        load_headroom: r.headroom.load,
    }
}

fn assumptions(w: &Workload, need: &Need) -> Vec<String> {
    let r = &w.raw;
    let mut a = vec![
        format!(
            "memory: every sequence in flight at the p95 length, {} + {} = {} tokens, with the {} runtime profile ({})",
            r.prompt_tokens.p95, r.output_tokens.p95, need.memory_context,
            match w.runtime {
                Some(rt) => rt.id.to_string(),
                None => "llama.cpp (GGUF) or vllm".into(),
            },
            match w.runtime {
                Some(rt) => rt.description,
                None => "each format on the engine a user would run it with",
            }
        ),
        format!(
            "decode speed at the average KV length: {} prompt + {} / 2 output = {} tokens",
            r.prompt_tokens.average, r.output_tokens.average, need.decode_context
        ),
        "TTFT: prefill of one p95 prompt plus one decode step of the batch it joins; no queueing beyond that".into(),
        format!(
            "headroom: {} of each GPU's usable memory kept free; capacity for {} more load than given",
            pct(r.headroom.memory),
            pct(r.headroom.load)
        ),
        format!(
            "layouts: tensor parallel inside a node (at most {} GPUs), pipeline stages beyond, up to {} GPUs per replica; replicas serve separate requests",
            crate::estimate::interconnect::GPUS_PER_NODE,
            r.max_gpus_per_replica
        ),
    ];
    if let Some(h) = w.host {
        a.push(format!(
            "CPU offload: an option that does not fit its GPU is sized on one GPU with part of the model in the RAM of {} ({:.1} GiB usable), as llama.cpp's split search in `gpuplan fit --host` chooses it for one sequence at {} tokens; that split fills the GPU to its usable memory (the memory headroom is not kept)",
            h.id,
            h.usable_bytes() as f64 / (1u64 << 30) as f64,
            need.memory_context
        ));
    }
    match (r.load.concurrent_users, r.load.requests_per_second) {
        (Some(u), _) => a.push(format!("load: {u} requests in flight at once, each decoding; served tokens/s = users x per-user speed")),
        (None, Some(rate)) => a.push(format!(
            "load: {rate} requests/s; requests in flight = rate x (TTFT + {} output tokens / per-user speed) (Little's law); served tokens/s = rate x average output",
            r.output_tokens.average
        )),
        _ => {}
    }
    a.push(match r.cost.mode {
        CostMode::Cloud => format!("cost: catalog $/GPU-hour x {} hours per month; GPUs only (no host, storage or network)", r.cost.hours_per_month),
        CostMode::Purchase => format!(
            "cost: catalog purchase price per GPU, written off over {} months{}; GPUs only (no host, storage or network)",
            r.cost.amortization_months,
            match r.cost.power_usd_per_kwh {
                Some(p) => format!(", plus board power (TDP) at ${p}/kWh for {} hours per month", r.cost.hours_per_month),
                None => String::new(),
            }
        ),
    });
    if let Some(rt) = w.runtime.filter(|rt| speed::calibrated_from(rt).is_none()) {
        a.push(format!(
            "throughput: uncalibrated roofline estimates for the {} profile (no validation record yet)",
            rt.id
        ));
    }
    a.push("every memory and speed figure is an estimate unless its basis names a validation record".into());
    a
}

fn pct(f: f64) -> String {
    format!("{:.0}%", f * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::arch::check_declared;
    use crate::spec::Catalog;
    use std::path::Path;

    fn sized(text: &str) -> Sizing {
        let c = Catalog::embedded(check_declared).expect("catalog");
        size(&Workload::from_yaml(Path::new("t.yaml"), text, &c).expect("valid workload"))
    }

    const MOE: &str = "name: t\nmodels: [{id: phi-3.5-moe, precisions: [bf16]}]\nprompt_tokens: {average: 2000, p95: 6000}\noutput_tokens: {average: 300, p95: 2000}\nload: {concurrent_users: 50}\ntargets: {ttft_s: 3, tokens_per_s_per_user: 20}\ngpus: [h100-sxm, h200, rtx-4090]\n";

    #[test]
    fn options_are_ranked_with_status_first() {
        let s = sized(MOE);
        assert_eq!(s.options.len(), 3);
        let statuses: Vec<Status> = s.options.iter().map(|o| o.status).collect();
        let mut sorted = statuses.clone();
        sorted.sort();
        assert_eq!(statuses, sorted);
        assert_eq!(s.options.iter().map(|o| o.rank).collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn replicas_cover_the_users_and_memory_fits() {
        let s = sized(MOE);
        for o in s.options.iter().filter(|o| o.layout.is_some()) {
            assert!(o.replicas * o.batch_per_replica >= 50, "{}", o.label);
            assert!(o.batch_per_replica <= o.max_batch.unwrap_or(0), "{}", o.label);
            assert!(o.headroom_bytes >= 0, "{}: the chosen layout fits", o.label);
            assert_eq!(o.total_gpus, o.replicas * o.layout.map_or(0, |l| l.gpus()));
        }
    }

    #[test]
    fn moe_bf16_needs_two_h100s_per_replica() {
        // 83.7 GB of bf16 weights do not fit one 80 GB H100
        let s = sized(MOE);
        let h100 = s.options.iter().find(|o| o.gpu == "h100-sxm").expect("h100 option");
        assert!(h100.layout.is_some_and(|l| l.gpus() >= 2));
    }

    #[test]
    fn cost_is_gpus_times_price() {
        let s = sized(MOE);
        for o in &s.options {
            if let (Some(h), Some(p)) = (o.cost.hourly_usd, o.cost.gpu_price_usd) {
                assert!((h - p * o.total_gpus as f64).abs() < 1e-9);
                assert_eq!(o.cost.monthly_usd, Some(h * 730.0));
            }
        }
    }

    #[test]
    fn impossible_targets_recommend_nothing_and_say_why() {
        let s = sized(&MOE.replace("tokens_per_s_per_user: 20", "tokens_per_s_per_user: 100000"));
        assert!(s.recommendation.is_none());
        assert!(s
            .no_recommendation
            .as_deref()
            .is_some_and(|w| w.contains("latency targets")));
        assert!(s.options.iter().all(|o| o.status >= Status::MissesTargets));
    }

    #[test]
    fn a_budget_below_every_option_marks_them_over_budget() {
        let s = sized(&format!("{MOE}cost: {{mode: cloud, budget_usd: 1}}\n"));
        assert!(s.recommendation.is_none());
        assert!(s
            .options
            .iter()
            .filter(|o| o.meets_targets && o.cost.monthly_usd.is_some())
            .all(|o| o.status == Status::OverBudget));
    }
}
