//! A sizing (`gpuplan report`) as documents: the workload and the recommendation, the ranked
//! options, and the details (memory per option, prices and their sources, assumptions). Formatting
//! only: every number comes from `plan::sizing`.

use crate::estimate::engine::offload::solve::Knob;
use crate::plan::evidence::Basis;
use crate::plan::sizing::{Check, Reason, SizedOption, Sizing, Status};
use crate::plan::workload::CostMode;
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{bytes, percent, rate, seconds, signed_bytes, tokens, usd};

/// Everything, in one document (table, Markdown and CSV output).
pub fn sizing(s: &Sizing) -> Doc {
    let mut d = overview(s);
    d.blocks.extend(ranking(s).blocks);
    d.blocks.extend(details(s).blocks);
    d
}

fn basis_word(b: &Basis) -> String {
    match b {
        Basis::Estimated => "estimated".into(),
        Basis::Calibrated { from } => format!("calibrated ({from})"),
        Basis::Validated { record } => format!("validated ({})", record.path),
        Basis::Catalog { source, date } => format!("catalog price ({source}, {date})"),
    }
}

/// The value reached, green when it meets the target (named in the column header).
fn check(c: Option<Check>, value: Option<f64>, unit: fn(f64) -> String) -> Cell {
    match (c, value) {
        (Some(c), _) => Cell::toned(unit(c.value), if c.met { Tone::Good } else { Tone::Bad }),
        (None, Some(v)) => unit(v).into(),
        (None, None) => Cell::toned("-", Tone::Muted),
    }
}

fn per_s(x: f64) -> String {
    format!("{} tok/s", rate(x))
}

fn layout_words(o: &SizedOption) -> String {
    if let Some(off) = &o.offload {
        return format!(
            "1 GPU + {} of {} RAM ({})",
            bytes(off.host_needed_bytes),
            off.host,
            match off.split {
                Knob::Experts { n_cpu_moe } => format!("--n-cpu-moe {n_cpu_moe}"),
                Knob::Layers { n_gpu_layers } => format!("-ngl {n_gpu_layers}"),
            }
        );
    }
    match o.layout {
        None => "-".into(),
        Some(l) if o.replicas == 1 => l.label(),
        Some(l) => format!("{} x {}", o.replicas, l.label()),
    }
}

/// One reason in words.
pub fn reason(r: &Reason) -> String {
    match r {
        Reason::OnlyFeasible => {
            "the only option that fits, meets the latency targets and stays within the budget".into()
        }
        Reason::Cheapest { monthly_usd, feasible } => format!(
            "lowest cost of the {feasible} options that meet every requirement: {} per month",
            usd(*monthly_usd)
        ),
        Reason::CostDifference {
            other_rank,
            monthly_usd,
            fraction,
        } => {
            if *monthly_usd < 0.0 {
                format!(
                    "{} per month ({}) cheaper than #{other_rank}",
                    usd(monthly_usd.abs()),
                    percent(fraction.abs())
                )
            } else if *monthly_usd > 0.0 {
                format!(
                    "{} per month ({}) more than #{other_rank}",
                    usd(*monthly_usd),
                    percent(*fraction)
                )
            } else {
                format!("same monthly cost as #{other_rank}")
            }
        }
        Reason::Gpus {
            total,
            layout,
            replicas,
        } => {
            if *total == 1 {
                "a single GPU".into()
            } else if *replicas == 1 {
                format!("{total} GPUs ({})", layout.label())
            } else {
                format!("{total} GPUs: {replicas} replicas of {}", layout.label())
            }
        }
        Reason::Targets { ttft, tokens_per_s } => {
            let mut parts = Vec::new();
            if let Some(c) = ttft {
                parts.push(format!(
                    "TTFT {} against a target of {}",
                    seconds(c.value),
                    seconds(c.target)
                ));
            }
            if let Some(c) = tokens_per_s {
                parts.push(format!(
                    "{} per user against a target of {}",
                    per_s(c.value),
                    per_s(c.target)
                ));
            }
            if parts.is_empty() {
                "no latency targets were set".into()
            } else {
                parts.join("; ")
            }
        }
        Reason::Headroom {
            bytes: b,
            fraction,
            load_fraction,
        } => {
            let mut s = format!(
                "{} free per GPU ({}) at the workload's load",
                signed_bytes(*b),
                percent(*fraction)
            );
            if let Some(l) = load_fraction {
                s.push_str(&format!(
                    "; the same GPUs carry {} more load within the targets",
                    percent(*l)
                ));
            }
            s
        }
        Reason::Basis { validated } => {
            if *validated {
                "memory and speed are backed by a validation record".into()
            } else {
                "memory and speed are estimates: no validation record for this model, GPU and precision yet".into()
            }
        }
    }
}

/// The workload and the recommendation.
pub fn overview(s: &Sizing) -> Doc {
    let w = &s.workload;
    let mut d = Doc::default();
    d.heading(format!("Sizing: {}", w.name));
    if let Some(desc) = &w.description {
        d.text(desc.clone());
    }
    let load = match (w.concurrent_users, w.requests_per_second) {
        (Some(u), _) => format!(
            "{u} concurrent user{} (requests in flight)",
            if u == 1 { "" } else { "s" }
        ),
        (None, Some(r)) => format!("{r} requests per second"),
        _ => "-".into(),
    };
    let targets = {
        let mut t = Vec::new();
        if let Some(x) = w.ttft_target_s {
            t.push(format!("TTFT <= {}", seconds(x)));
        }
        if let Some(x) = w.tokens_per_s_target {
            t.push(format!(">= {} per user", per_s(x)));
        }
        if t.is_empty() {
            "none".into()
        } else {
            t.join(", ")
        }
    };
    let cost = match w.cost_mode {
        CostMode::Cloud => format!(
            "cloud, {} hours per month{}",
            w.hours_per_month,
            w.budget_usd
                .map(|b| format!(", budget {} per month", usd(b)))
                .unwrap_or_default()
        ),
        CostMode::Purchase => format!(
            "purchase, written off over {} months, {} hours per month{}",
            w.amortization_months,
            w.hours_per_month,
            w.budget_usd
                .map(|b| format!(", budget {} up front", usd(b)))
                .unwrap_or_default()
        ),
    };
    d.kv(vec![
        ("models".into(), w.models.join(", ").into()),
        ("precisions".into(), w.precisions.join(", ").into()),
        (
            "runtime".into(),
            match w.runtime {
                Some(e) => e.to_string(),
                None => "llama.cpp for GGUF formats, vllm for the others".into(),
            }
            .into(),
        ),
        (
            "prompt".into(),
            format!("{} average, {} p95 tokens", w.prompt_average, w.prompt_p95).into(),
        ),
        (
            "output".into(),
            format!("{} average, {} p95 tokens", w.output_average, w.output_p95).into(),
        ),
        ("load".into(), load.into()),
        ("targets".into(), targets.into()),
        (
            "GPUs considered".into(),
            format!(
                "{} ({}), up to {} per replica",
                w.gpus.len(),
                w.gpus.join(", "),
                w.max_gpus_per_replica
            )
            .into(),
        ),
        (
            "headroom".into(),
            format!(
                "{} of usable memory kept free per GPU, {} spare load capacity",
                percent(w.memory_headroom),
                percent(w.load_headroom)
            )
            .into(),
        ),
        ("cost".into(), cost.into()),
    ]);
    d.heading("Recommendation");
    match &s.recommendation {
        Some(r) => {
            let o = s.options.iter().find(|o| o.rank == r.rank);
            let mut kv = vec![(
                "recommended".into(),
                Cell::toned(format!("#{} {}", r.rank, r.label), Tone::Good),
            )];
            if let Some(o) = o {
                kv.push((
                    "deploy".into(),
                    format!(
                        "{} x {} ({}), {} sequence{} per replica",
                        o.total_gpus,
                        o.gpu_name,
                        layout_words(o),
                        o.batch_per_replica,
                        if o.batch_per_replica == 1 { "" } else { "s" }
                    )
                    .into(),
                ));
                kv.push(("cost".into(), cost_words(o).into()));
                if let Some(cmd) = &o.command {
                    kv.push(("command (each replica)".into(), cmd.clone().into()));
                }
            }
            d.kv(kv);
            d.text("Why:");
            for x in &r.reasons {
                d.text(format!("- {}", reason(x)));
            }
            if let Some(u) = &r.runner_up {
                let mut kv = vec![("runner-up".into(), Cell::from(format!("#{} {}", u.rank, u.label)))];
                if let Some(o) = s.options.iter().find(|o| o.rank == u.rank) {
                    kv.push(("status".into(), status_cell(o.status)));
                }
                d.kv(kv);
                for x in &u.reasons {
                    d.text(format!("- {}", reason(x)));
                }
            }
        }
        None => {
            d.kv(vec![("recommended".into(), Cell::toned("none", Tone::Bad))]);
            if let Some(why) = &s.no_recommendation {
                d.text(why.clone());
            }
        }
    }
    d
}

fn cost_words(o: &SizedOption) -> String {
    let c = &o.cost;
    match (c.mode, c.hourly_usd, c.monthly_usd) {
        (_, None, _) | (_, _, None) => "no catalog price".into(),
        (CostMode::Cloud, Some(h), Some(m)) => format!(
            "{}/hour, {}/month, {} per million output tokens",
            usd(h),
            usd(m),
            c.usd_per_million_tokens.map_or("-".into(), usd)
        ),
        (CostMode::Purchase, Some(_), Some(m)) => format!(
            "{} up front, {}/month amortized, {} per million output tokens",
            c.upfront_usd.map_or("-".into(), usd),
            usd(m),
            c.usd_per_million_tokens.map_or("-".into(), usd)
        ),
    }
}

fn status_cell(s: Status) -> Cell {
    Cell::toned(
        s.label(),
        match s {
            Status::Feasible => Tone::Good,
            Status::OverBudget | Status::NoPrice | Status::FitsWithOffload => Tone::Plain,
            Status::MissesTargets | Status::DoesNotFit | Status::Unsupported => Tone::Bad,
        },
    )
}

/// The ranked options.
pub fn ranking(s: &Sizing) -> Doc {
    let mut d = Doc::default();
    d.heading("Options, ranked");
    let money = match s.workload.cost_mode {
        CostMode::Cloud => "$/month",
        CostMode::Purchase => "$ up front",
    };
    let ttft = match s.workload.ttft_target_s {
        Some(t) => format!("TTFT (<= {})", seconds(t)),
        None => "TTFT".into(),
    };
    let speed = match s.workload.tokens_per_s_target {
        Some(t) => format!("tok/s per user (>= {})", rate(t)),
        None => "tok/s per user".into(),
    };
    let mut t = Table::new(&[
        "#",
        "option",
        "status",
        "GPUs",
        "layout",
        "batch/replica",
        &ttft,
        &speed,
        "served tok/s",
        money,
        "$/M tokens",
        "free per GPU",
        "basis, error band",
    ])
    .titled("Every figure but prices is estimated unless its basis says validated")
    .numeric(&[0, 3, 5, 6, 7, 8, 9, 10, 11]);
    for o in &s.options {
        let fits = o.layout.is_some();
        let dash = || Cell::toned("-", Tone::Muted);
        t.row(vec![
            o.rank.to_string().into(),
            o.label.clone().into(),
            status_cell(o.status),
            if fits { o.total_gpus.to_string().into() } else { dash() },
            layout_words(o).into(),
            if fits {
                o.batch_per_replica.to_string().into()
            } else {
                dash()
            },
            if fits { check(o.ttft, o.ttft_s, seconds) } else { dash() },
            if fits {
                check(o.tokens_per_s, o.per_user_tokens_per_s, rate)
            } else {
                dash()
            },
            o.served_tokens_per_s.map_or_else(dash, |x| rate(x).into()),
            match s.workload.cost_mode {
                CostMode::Cloud => o.cost.monthly_usd,
                CostMode::Purchase => o.cost.upfront_usd,
            }
            .map_or_else(dash, |x| usd(x).into()),
            o.cost.usd_per_million_tokens.map_or_else(dash, |x| usd(x).into()),
            if fits {
                format!("{} ({})", signed_bytes(o.headroom_bytes), percent(o.headroom_fraction)).into()
            } else {
                dash()
            },
            format!(
                "{} {}",
                basis_word(&o.evidence.memory),
                super::bands::range(&o.evidence.bands.memory)
            )
            .into(),
        ]);
    }
    d.table(t);
    d
}

/// Per-option memory, prices with their sources, notes and assumptions.
pub fn details(s: &Sizing) -> Doc {
    let mut d = Doc::default();
    d.heading("Memory per GPU (heaviest pipeline stage, at the workload's load)");
    let mut t = Table::new(&["#", "option", "layout", "weights", "KV cache", "activations", "overhead", "total", "usable", "max context (batch 1)", "max batch", "basis, error band"])
        .titled(format!(
            "{} tokens per sequence (p95 prompt + p95 output); options that do not fit: one sequence on the largest layout tried",
            tokens(s.workload.memory_context)
        ))
        .numeric(&[0, 3, 4, 5, 6, 7, 8, 9, 10]);
    for o in s.options.iter().filter(|o| o.memory.is_some()) {
        if let Some(m) = &o.memory {
            t.row(vec![
                o.rank.to_string().into(),
                o.label.clone().into(),
                o.memory_layout.map_or("-".into(), |l| l.label()).into(),
                bytes(m.weights_bytes).into(),
                bytes(m.kv_cache_bytes).into(),
                bytes(m.activations_bytes).into(),
                bytes(m.overhead_bytes).into(),
                Cell::toned(
                    bytes(m.total_bytes),
                    if m.total_bytes <= m.available_bytes {
                        Tone::Good
                    } else {
                        Tone::Bad
                    },
                ),
                bytes(m.available_bytes).into(),
                o.max_context.map_or("-".into(), tokens).into(),
                o.max_batch.map_or("-".into(), |b| b.to_string()).into(),
                format!(
                    "{} {}",
                    basis_word(&o.evidence.memory),
                    super::bands::range(&o.evidence.bands.memory)
                )
                .into(),
            ]);
        }
    }
    d.table(t);
    d.heading("Speed per option");
    let mut t = Table::new(&[
        "#",
        "option",
        "per-user tok/s",
        "TTFT",
        "largest batch within targets",
        "capacity tok/s",
        "load headroom",
        "basis, error band",
    ])
    .numeric(&[0, 2, 4, 5, 6]);
    for o in s.options.iter().filter(|o| o.layout.is_some()) {
        t.row(vec![
            o.rank.to_string().into(),
            o.label.clone().into(),
            o.per_user_tokens_per_s.map_or("-".into(), rate).into(),
            o.ttft_s.map_or("-".into(), seconds).into(),
            o.max_batch_within_targets
                .map_or("none".into(), |b| b.to_string())
                .into(),
            o.capacity_tokens_per_s.map_or("-".into(), rate).into(),
            o.load_headroom_fraction.map_or("-".into(), percent).into(),
            format!(
                "{} {}",
                basis_word(&o.evidence.throughput),
                super::bands::range(&o.evidence.bands.decode)
            )
            .into(),
        ]);
    }
    d.table(t);
    d.heading("Cost per option");
    let mut t = Table::new(&[
        "#",
        "option",
        "GPUs",
        "$/hour",
        "$/month",
        "$ up front",
        "$/M output tokens",
        "within budget",
    ])
    .titled(match s.workload.cost_mode {
        CostMode::Cloud => "Cloud: catalog $/GPU-hour; GPUs only",
        CostMode::Purchase => "Purchase: catalog price per GPU, written off monthly (plus power when priced); $/hour spreads the month over its hours of service",
    })
    .numeric(&[0, 2, 3, 4, 5, 6]);
    for o in s.options.iter().filter(|o| o.layout.is_some()) {
        let c = &o.cost;
        let money = |x: Option<f64>| x.map_or("-".to_string(), usd);
        t.row(vec![
            o.rank.to_string().into(),
            o.label.clone().into(),
            o.total_gpus.to_string().into(),
            money(c.hourly_usd).into(),
            money(c.monthly_usd).into(),
            money(c.upfront_usd).into(),
            money(c.usd_per_million_tokens).into(),
            match c.within_budget {
                None => Cell::toned("-", Tone::Muted),
                Some(true) => Cell::toned("yes", Tone::Good),
                Some(false) => Cell::toned("no", Tone::Bad),
            },
        ]);
    }
    d.table(t);
    d.heading("Prices");
    let mut t = Table::new(&["GPU", "price", "source"]).numeric(&[1]);
    let mut seen: Vec<&str> = Vec::new();
    for o in &s.options {
        if seen.contains(&o.gpu.as_str()) {
            continue;
        }
        seen.push(&o.gpu);
        let price = match (o.cost.gpu_price_usd, s.workload.cost_mode) {
            (None, _) => "-".to_string(),
            (Some(p), CostMode::Cloud) => format!("{}/GPU-hour", usd(p)),
            (Some(p), CostMode::Purchase) => format!("{} per GPU", usd(p)),
        };
        t.row(vec![
            o.gpu_name.clone().into(),
            price.into(),
            o.evidence
                .price
                .as_ref()
                .map_or(Cell::toned("no price in the catalog", Tone::Muted), |b| {
                    basis_word(b).into()
                }),
        ]);
    }
    d.table(t);
    let commands: Vec<&SizedOption> = s.options.iter().filter(|o| o.command.is_some()).collect();
    if !commands.is_empty() {
        d.heading("Engine commands");
        d.text(
            "The command each replica runs with, as gpuplan derived it for the layout and the memory context (llama.cpp: a slot per sequence of the batch).",
        );
        for o in commands {
            if let Some(cmd) = &o.command {
                d.text(format!("#{} {}: {cmd}", o.rank, o.label));
            }
        }
    }
    let notes: Vec<&SizedOption> = s.options.iter().filter(|o| !o.notes.is_empty()).collect();
    if !notes.is_empty() {
        d.heading("Notes");
        for o in notes {
            for n in &o.notes {
                d.text(format!("#{} {}: {n}", o.rank, o.label));
            }
        }
    }
    d.heading("Assumptions");
    for a in &s.assumptions {
        d.text(format!("- {a}"));
    }
    d
}
