//! Every published engine log in validation/field/ re-checked against today's estimator: vLLM's
//! available KV cache and start/refuse verdict, llama.cpp's buffers. A file that cannot be checked
//! yet (a model or GPU gpuplan lacks) is listed with the reason, not dropped. A figure outside its
//! tolerance fails unless it is listed in `MISSES` below, and a listed miss that stops missing fails
//! too: the list is exactly what `gpuplan evidence` (and the README) shows as missed.

use gpuplan::estimate::arch::check_declared;
use gpuplan::measure::field::summary::{self, EvidenceReport};
use gpuplan::measure::field::{self, Field, Figure, Kind, Scope};
use gpuplan::spec::Catalog;
use std::path::Path;

/// A figure of a log known to be outside its tolerance today.
#[derive(Debug, Clone, Copy)]
struct Miss {
    log: &'static str,
    field: Field,
    /// the devices it misses on (a figure printed per device); empty: the log's one value
    devices: &'static [&'static str],
}

impl Miss {
    fn covers(&self, log: &str, figure: &Figure) -> bool {
        self.log == log
            && self.field == figure.field
            && match &figure.scope {
                Scope::Device(d) => self.devices.contains(&d.as_str()),
                _ => self.devices.is_empty(),
            }
    }
}

/// The known misses. Qwen2.5-72B at TP 2 leaves 3.04 GiB for the KV cache: the non-torch error
/// (0.09 GiB), the activation peak's (0.03 GiB) and the requested memory's (0.03 GiB: 0.95 of the
/// catalog's total) add up to +5.2% of it, outside the ±3% every other log holds; the tolerance is
/// not widened.
///
/// Qwen3-30B-A3B on two T4s (ik_llama.cpp fork, every layer on the GPUs, no tensor overrides, so
/// pipeline parallelism with four copies of every input): the GPU compute buffers come out -28% and
/// -49%. The fork's older graph differs where the copies are counted: an f32 KQ mask (mainline with
/// flash attention: f16, half the size; four copies of it are 64 MiB more per GPU) and logits
/// reserved for every ubatch row on the output GPU (about 297 MiB), with its fused MoE besides. Its
/// host compute buffer, 260.02 MiB, is four of its 64 MiB masks plus small inputs, as the copies
/// predict. The KV buffers, which fix the layer split, are exact.
const MISSES: [Miss; 4] = [
    Miss {
        log: "vllm-qwen2.5-72b-2xh100-tp2-0.19.0",
        field: Field::AvailableKvCacheGib,
        devices: &[],
    },
    Miss {
        log: "vllm-qwen2.5-72b-2xh100-tp2-0.19.0",
        field: Field::KvCacheTokens,
        devices: &[],
    },
    Miss {
        log: "vllm-qwen2.5-72b-2xh100-tp2-0.19.0",
        field: Field::MaxConcurrency,
        devices: &[],
    },
    Miss {
        log: "llamacpp-multigpu-qwen3-30b-a3b-2xt4-ik-fmoe-ctx32768",
        field: Field::ComputeBufferMib,
        devices: &["CUDA0", "CUDA1"],
    },
];

fn files() -> Vec<field::Loaded> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("validation/field");
    field::load_dir(&dir).expect("every evidence file follows the schema")
}

fn catalog() -> Catalog {
    Catalog::embedded(check_declared).expect("embedded catalog")
}

fn is_listed(log: &str, figure: &Figure) -> bool {
    MISSES.iter().any(|m| m.covers(log, figure))
}

#[test]
fn every_checked_figure_is_within_its_tolerance_except_the_listed_misses() {
    let outcomes = field::check_all(&files(), &catalog());
    let mut failures = vec![];
    for o in &outcomes {
        match &o.skipped {
            Some(why) => eprintln!("{:<60} not checked: {why}", o.evidence),
            None => {
                for (c, held) in o
                    .checks
                    .iter()
                    .map(|c| (c, true))
                    .chain(o.reported.iter().map(|c| (c, false)))
                {
                    eprintln!(
                        "{:<60} {:<50} predicted {:>12.3} printed {:>12.3} ({}{})",
                        o.evidence,
                        format!("{:?}", c.figure),
                        c.predicted,
                        c.printed,
                        c.error_pct().map_or("-".into(), |e| format!("{e:+.1}%")),
                        if held { "" } else { ", reported: another build" }
                    );
                    if !held {
                        continue;
                    }
                    match (c.ok(), is_listed(&o.evidence, &c.figure)) {
                        (false, false) => failures.push(format!(
                            "{} {:?}: predicted {} printed {} (tolerance {:?})",
                            o.evidence, c.figure, c.predicted, c.printed, c.tolerance
                        )),
                        (true, true) => failures.push(format!(
                            "{} {:?} is listed as a miss but is within its tolerance now: take it off MISSES \
                             and regenerate the README",
                            o.evidence, c.figure
                        )),
                        _ => {}
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn report() -> EvidenceReport {
    summary::summarize(&files(), &catalog())
}

#[test]
fn the_evidence_summary_checks_enough_logs_of_each_engine() {
    let r = report();
    for kind in [Kind::VllmStartup, Kind::LlamacppBuffers] {
        let checked: Vec<&str> = r
            .logs
            .iter()
            .filter(|l| l.kind == kind && l.is_checked())
            .map(|l| l.evidence.as_str())
            .collect();
        assert!(
            checked.len() >= 8,
            "{kind:?}: only {} logs checked: {checked:?}",
            checked.len()
        );
        let tally = r.engines.iter().find(|e| e.kind == kind).expect("a tally per engine");
        assert_eq!(
            tally.checked,
            checked.len(),
            "{kind:?}: the tally counts the checked logs"
        );
    }
}

#[test]
fn the_evidence_summary_misses_exactly_the_listed_figures() {
    let r = report();
    let unlisted: Vec<String> = r
        .misses()
        .filter(|(l, f)| !is_listed(&l.evidence, &f.check.figure))
        .map(|(l, f)| format!("{} {:?}", l.evidence, f.check.figure))
        .collect();
    assert!(unlisted.is_empty(), "misses not listed in MISSES: {unlisted:?}");
    let not_missed: Vec<&Miss> = MISSES
        .iter()
        .filter(|m| !r.misses().any(|(l, f)| m.covers(&l.evidence, &f.check.figure)))
        .collect();
    assert!(not_missed.is_empty(), "listed in MISSES but not missed: {not_missed:?}");
}
