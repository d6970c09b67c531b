//! The example workloads (examples/workloads/) are sized again here and their reports re-rendered;
//! the tests check what the reports say (which option is recommended and why, that every option was
//! held to the targets, that the charts are there), not the bytes of any float. The committed reports
//! (examples/reports/) must name the same recommendation: after a catalog or estimator change,
//! regenerate them with scripts/regenerate-example-reports.sh.

use gpuplan::estimate::arch::check_declared;
use gpuplan::plan::sizing::{self, Sizing, Status};
use gpuplan::plan::workload::Workload;
use gpuplan::report::charts::{self, ChartKind, ImageFormat};
use gpuplan::report::sizing as report;
use gpuplan::spec::Catalog;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sized(name: &str) -> Sizing {
    let catalog = Catalog::embedded(check_declared).expect("embedded catalog");
    let w = Workload::load(&root().join(format!("examples/workloads/{name}.yaml")), &catalog)
        .expect("example workload is valid");
    sizing::size(&w)
}

fn recommended(s: &Sizing) -> &sizing::SizedOption {
    let r = s.recommendation.as_ref().expect("a recommendation");
    s.options
        .iter()
        .find(|o| o.rank == r.rank)
        .expect("the recommended option is listed")
}

/// Every option that fits was held to both targets, and the ranking puts better statuses first.
fn check_common(s: &Sizing) {
    for o in s.options.iter().filter(|o| o.layout.is_some()) {
        assert_eq!(
            o.ttft.is_some(),
            s.workload.ttft_target_s.is_some(),
            "{}: TTFT evaluated",
            o.label
        );
        assert_eq!(
            o.tokens_per_s.is_some(),
            s.workload.tokens_per_s_target.is_some(),
            "{}: speed evaluated",
            o.label
        );
        let met = o.ttft.is_none_or(|c| c.met) && o.tokens_per_s.is_none_or(|c| c.met);
        assert_eq!(met, o.meets_targets, "{}", o.label);
        // an offload option is ranked as one whether or not it meets the targets
        if o.status != Status::FitsWithOffload {
            assert_eq!(o.status == Status::MissesTargets, !met, "{}", o.label);
        }
    }
    let statuses: Vec<Status> = s.options.iter().map(|o| o.status).collect();
    assert!(
        statuses.windows(2).all(|w| w[0] <= w[1]),
        "ranked by status: {statuses:?}"
    );
    if let Some(r) = &s.recommendation {
        let best = recommended(s);
        assert_eq!(r.rank, 1);
        assert_eq!(best.status, Status::Feasible);
        // the cheapest of the options that meet everything
        let cheapest = s
            .options
            .iter()
            .filter(|o| o.status == Status::Feasible)
            .filter_map(|o| o.cost.monthly_usd)
            .fold(f64::INFINITY, f64::min);
        assert_eq!(best.cost.monthly_usd, Some(cheapest));
        if let Some(u) = &r.runner_up {
            assert_ne!(u.rank, r.rank);
        }
    }
}

/// The HTML page carries the recommendation, the ranked options and four inline SVG charts, and
/// nothing that needs the network or a script.
fn check_html(s: &Sizing, html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<h2>Recommendation</h2>") && html.contains("<h2>Options, ranked</h2>"));
    for kind in ChartKind::ALL {
        assert!(
            html.contains(&format!("<figure id=\"chart-{}\">", kind.id())),
            "{} chart",
            kind.id()
        );
    }
    assert_eq!(html.matches("<svg").count(), 4);
    assert!(!html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http"));
    assert!(!html.contains("<?xml"), "inline SVG without XML declarations");
    for o in &s.options {
        assert!(html.contains(&o.label), "{} listed", o.label);
    }
    match &s.recommendation {
        Some(r) => assert!(html.contains(&format!("#{} {}", r.rank, r.label))),
        None => assert!(html.contains("recommended</dt><dd><span class=\"bad\">none")),
    }
}

/// The committed report recommends what a fresh sizing recommends.
fn check_committed(name: &str, ext: &str, s: &Sizing) {
    let path = root().join(format!("examples/reports/{name}.{ext}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = s.recommendation.as_ref().expect("a recommendation");
    assert!(
        text.contains(&format!("#{} {}", r.rank, r.label)),
        "{} is stale: a fresh sizing recommends #{} {}; run scripts/regenerate-example-reports.sh",
        path.display(),
        r.rank,
        r.label
    );
}

#[test]
fn moe_chat_for_50_users() {
    let s = sized("moe-chat-50-users");
    check_common(&s);
    assert_eq!(s.workload.memory_context, 8192, "8K context: p95 prompt + p95 output");
    assert_eq!(s.options.len(), 9, "3 precisions x 3 GPUs");
    // bf16 weights (78 GiB) do not fit one 80 GB H100: that option spans at least two
    let h100_bf16 = s
        .options
        .iter()
        .find(|o| o.gpu == "h100-sxm" && o.precision == "bf16")
        .expect("option");
    assert!(
        h100_bf16.layout.is_some_and(|l| l.gpus() >= 2),
        "{:?}",
        h100_bf16.layout
    );
    // every option serves all 50 users
    for o in s.options.iter().filter(|o| o.layout.is_some()) {
        assert!(o.replicas * o.batch_per_replica >= 50, "{}", o.label);
    }
    // at catalog cloud prices ($0.34/h per RTX 4090, $3.59/h per H200) a dozen 4090s in AWQ int4
    // serve the 50 users for less than the two H200s the best H200 option needs
    let best = recommended(&s);
    assert_eq!((best.gpu.as_str(), best.precision.as_str()), ("rtx-4090", "awq-int4"));
    let best_h200 = s
        .options
        .iter()
        .filter(|o| o.gpu == "h200")
        .min_by_key(|o| o.rank)
        .expect("an H200 option");
    assert!(best_h200.total_gpus >= 1 && best_h200.cost.monthly_usd > best.cost.monthly_usd);
    assert!(best.cost.within_budget == Some(true));
    // the runner-up is the next option that meets everything, and the report says how much more it costs
    let runner = s
        .recommendation
        .as_ref()
        .and_then(|r| r.runner_up.as_ref())
        .expect("a runner-up");
    assert_eq!(runner.rank, 2);
    assert!(runner
        .reasons
        .iter()
        .any(|r| matches!(r, sizing::Reason::CostDifference { monthly_usd, .. } if *monthly_usd > 0.0)));
    let html = report::html(&s).expect("html renders");
    check_html(&s, &html);
    check_committed("moe-chat-50-users", "html", &s);
    check_committed("moe-chat-50-users", "md", &s);
}

#[test]
fn mini_on_one_consumer_card() {
    let s = sized("mini-consumer-longest-context");
    check_common(&s);
    assert!(s
        .options
        .iter()
        .all(|o| o.gpu == "rtx-4090" && o.layout.is_none_or(|l| l.gpus() == 1)));
    // bf16: 7.1 GiB of weights + 49K tokens x 384 KiB of f16 KV is more than a 4090 holds
    let bf16 = s.options.iter().find(|o| o.precision == "bf16").expect("bf16 option");
    assert_eq!(bf16.status, Status::DoesNotFit);
    assert!(bf16.max_context.is_some_and(|c| c < s.workload.memory_context));
    let best = recommended(&s);
    assert_eq!(best.precision, "q4_k_m");
    assert!(best.max_context.is_some_and(|c| c >= s.workload.memory_context));
    // the context chart shows every precision, fitting or not
    assert_eq!(s.charts.context.len(), 3);
    let html = report::html(&s).expect("html renders");
    check_html(&s, &html);
    check_committed("mini-consumer-longest-context", "md", &s);
}

#[test]
fn mini_api_at_5_requests_per_second() {
    let s = sized("mini-api-requests-per-second");
    check_common(&s);
    let catalog = Catalog::embedded(check_declared).expect("catalog");
    assert_eq!(
        s.workload.gpus.len(),
        catalog.gpu_specs().count(),
        "no GPU list: the whole catalog"
    );
    for o in s.options.iter().filter(|o| o.layout.is_some()) {
        // requests/s x average output tokens, whatever the GPU
        assert_eq!(o.served_tokens_per_s, Some(5.0 * 256.0), "{}", o.label);
    }
    // vLLM has no FP8 path on a V100 (compute capability 7.0): never sized, never recommended
    let v100_fp8 = s
        .options
        .iter()
        .find(|o| o.gpu == "v100-pcie-32gb" && o.precision == "fp8")
        .expect("option listed");
    assert_eq!(v100_fp8.status, Status::Unsupported);
    let best = recommended(&s);
    assert!(best.meets_targets);
    let html = report::html(&s).expect("html renders");
    check_html(&s, &html);
    check_committed("mini-api-requests-per-second", "html", &s);
}

#[test]
fn a_big_moe_at_home_with_cpu_offload() {
    let s = sized("moe-at-home-offload");
    check_common(&s);
    // only the 96 GB workstation card holds gpt-oss-120b whole
    let best = recommended(&s);
    assert_eq!(best.gpu, "rtx-pro-6000");
    assert!(best.offload.is_none());
    let catalog = Catalog::embedded(check_declared).expect("catalog");
    let model = catalog.model("gpt-oss-120b", check_declared).expect("model");
    let w = Workload::load(&root().join("examples/workloads/moe-at-home-offload.yaml"), &catalog).expect("workload");
    let mut experts_on_host = Vec::new();
    for o in s.options.iter().filter(|o| o.gpu != "rtx-pro-6000") {
        assert_eq!(o.status, Status::FitsWithOffload, "{}", o.label);
        let off = o.offload.as_ref().expect("offload");
        assert!(off.host_needed_bytes <= off.host_usable_bytes, "{}", o.label);
        assert_eq!(o.total_gpus, 1);
        // the split `fit --host` chooses for one sequence at the memory context, and its command
        let gpu = catalog.gpu(&o.gpu).expect("gpu");
        let opts = gpuplan::plan::Options {
            precision: gpuplan::spec::Format::parse("mxfp4_moe"),
            context: Some(s.workload.memory_context),
            host: w.host,
            ..gpuplan::plan::Options::default()
        };
        let fit = gpuplan::plan::fit::fit(&model, &gpu, &opts);
        let chosen = fit.offload.as_ref().expect("fit offloads");
        assert_eq!(
            chosen.search.as_ref().and_then(|x| x.best_row()).map(|r| r.knob),
            Some(off.split)
        );
        assert_eq!(o.command.as_deref(), Some(chosen.command.as_str()));
        match off.split {
            gpuplan::estimate::engine::offload::solve::Knob::Experts { n_cpu_moe } => {
                experts_on_host.push((gpu.memory.reported_mib, n_cpu_moe))
            }
            k => panic!("{}: an MoE model is split by its experts, not {k:?}", o.label),
        }
    }
    // a card with more memory keeps more of the experts
    experts_on_host.sort();
    assert!(
        experts_on_host.windows(2).all(|w| w[0].1 >= w[1].1),
        "{experts_on_host:?}"
    );
    let html = report::html(&s).expect("html renders");
    check_html(&s, &html);
    check_committed("moe-at-home-offload", "html", &s);
}

#[test]
fn markdown_reports_write_their_charts_beside_them() {
    let s = sized("mini-consumer-longest-context");
    let dir = tempfile::tempdir().expect("tempdir");
    for format in [ImageFormat::Png, ImageFormat::Svg] {
        let out = dir.path().join(format!("r-{}.md", format.extension()));
        let files = report::write(&s, &out, format).expect("report written");
        assert_eq!(files.len(), 5, "the report and four charts");
        let md = std::fs::read_to_string(&out).expect("markdown");
        for kind in ChartKind::ALL {
            let chart = report::chart_path(&out, kind, format);
            let name = chart.file_name().and_then(|n| n.to_str()).expect("file name");
            assert!(md.contains(&format!("]({name})")), "{name} linked");
            let bytes = std::fs::read(&chart).expect("chart written");
            match format {
                ImageFormat::Png => {
                    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
                    // IHDR: width and height, big-endian, at bytes 16..24
                    let width = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
                    assert_eq!(width, 960);
                }
                ImageFormat::Svg => {
                    let text = String::from_utf8(bytes).expect("utf-8 svg");
                    assert!(text.contains("<svg") && text.contains("</svg>"));
                    // chart text is drawn (the font is registered), e.g. the option labels
                    assert!(text.contains("rtx-4090 q4_k_m"), "labels drawn as text");
                }
            }
        }
    }
}

#[test]
fn every_chart_renders_as_png_and_svg_even_when_nothing_fits() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["moe-chat-50-users", "mini-consumer-longest-context"] {
        let s = sized(name);
        for kind in ChartKind::ALL {
            let png = dir.path().join(format!("{name}-{}.png", kind.id()));
            charts::png(kind, &s.charts, &png).expect("png");
            assert!(std::fs::metadata(&png).map(|m| m.len() > 1000).unwrap_or(false));
            let svg = charts::svg(kind, &s.charts).expect("svg");
            assert!(
                svg.starts_with("<svg") && svg.contains("<text"),
                "{name} {}: text drawn",
                kind.id()
            );
        }
    }
    // an empty sizing still draws a chart saying so
    let empty = sizing::ChartData::default();
    let svg = charts::svg(ChartKind::Memory, &empty).expect("svg");
    assert!(svg.contains("nothing to chart"));
    charts::png(ChartKind::Decode, &empty, &dir.path().join("empty.png")).expect("png");
}

#[test]
fn committed_reports_exist() {
    for f in [
        "moe-chat-50-users.html",
        "moe-chat-50-users.md",
        "mini-consumer-longest-context.md",
        "mini-consumer-longest-context-memory.png",
        "mini-api-requests-per-second.html",
        "moe-at-home-offload.html",
    ] {
        assert!(
            Path::new(&root().join("examples/reports").join(f)).is_file(),
            "examples/reports/{f}"
        );
    }
}

#[test]
fn the_report_gives_the_engine_command_each_replica_runs_with() {
    for name in [
        "moe-chat-50-users",
        "mini-consumer-longest-context",
        "mini-api-requests-per-second",
    ] {
        let s = sized(name);
        let o = recommended(&s);
        let layout = o.layout.expect("the recommended option fits");
        let cmd = o.command.as_deref().unwrap_or_else(|| panic!("{name}: no command"));
        let parsed = gpuplan::estimate::engine::command::parse(cmd).unwrap_or_else(|e| panic!("{name}: {cmd}: {e}"));
        assert!(parsed.engine.is_some(), "{name}: {cmd}");
        assert_eq!(parsed.tp.unwrap_or(1), layout.tp, "{name}: {cmd}");
        assert_eq!(parsed.pp.unwrap_or(1), layout.pp, "{name}: {cmd}");
        let md = gpuplan::report::render(
            gpuplan::report::OutputFormat::Markdown,
            &s,
            gpuplan::report::views::sizing::sizing,
        )
        .expect("markdown");
        assert!(md.contains(cmd), "{name}: the report shows the command");
    }
}
