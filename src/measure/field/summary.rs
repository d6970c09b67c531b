//! `gpuplan evidence` as typed facts: every start-up log of validation/field/ with each printed
//! figure against today's prediction, and a tally per engine and figure. A figure outside its
//! tolerance is a miss here and stays one: the tolerances are the checks' own, never widened to
//! make a log pass.

use super::{check_all, llamacpp, Check, EngineInfo, Field, GpuInfo, Kind, Loaded, Source};
use crate::spec::Catalog;
use serde::Serialize;

/// Where a figure stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// held to its tolerance and within it
    Within,
    /// held to its tolerance and outside it
    Miss,
    /// compared but not held: the log's engine build differs from the modeled one in this figure
    Reported,
}

/// One printed figure of a log against today's prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    #[serde(flatten)]
    pub check: Check,
    pub verdict: Verdict,
    /// (predicted − printed) / printed in percent; None when the printed figure is 0
    pub error_pct: Option<f64>,
}

impl Compared {
    fn new(check: Check, held: bool) -> Self {
        let verdict = match (held, check.ok()) {
            (false, _) => Verdict::Reported,
            (true, true) => Verdict::Within,
            (true, false) => Verdict::Miss,
        };
        Compared {
            error_pct: check.error_pct(),
            check,
            verdict,
        }
    }
}

/// One start-up log: where it comes from, what ran, and each printed figure gpuplan predicts.
#[derive(Debug, Clone, Serialize)]
pub struct LogSummary {
    pub evidence: String,
    pub kind: Kind,
    pub source: Source,
    pub engine: EngineInfo,
    /// the model as the log names it: Hugging Face id, catalog id or file
    pub model: Option<String>,
    /// None: the CPU
    pub gpu: Option<GpuInfo>,
    /// held figures first, then reported ones, each in the order the check compares them
    pub figures: Vec<Compared>,
    /// why the log is not checked yet (a model or GPU gpuplan does not know, a feature not modeled)
    pub skipped: Option<String>,
}

impl LogSummary {
    /// Whether at least one figure of the log is held to a tolerance.
    pub fn is_checked(&self) -> bool {
        self.figures.iter().any(|f| f.verdict != Verdict::Reported)
    }
}

/// How one printed field fared over all the logs of one engine.
#[derive(Debug, Clone, Serialize)]
pub struct FieldTally {
    pub kind: Kind,
    pub field: Field,
    pub within: usize,
    pub misses: usize,
    pub reported: usize,
    /// the held comparison that used the most of its tolerance (the worst miss, if any)
    pub largest: Option<Check>,
}

/// How the logs of one engine fared.
#[derive(Debug, Clone, Serialize)]
pub struct EngineTally {
    pub kind: Kind,
    pub logs: usize,
    /// logs with at least one figure held to a tolerance
    pub checked: usize,
    pub not_checked: usize,
    pub fields: Vec<FieldTally>,
}

/// `gpuplan evidence`: the tally, then every log.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceReport {
    pub engines: Vec<EngineTally>,
    pub logs: Vec<LogSummary>,
}

impl EvidenceReport {
    /// The held figures outside their tolerance, with their logs.
    pub fn misses(&self) -> impl Iterator<Item = (&LogSummary, &Compared)> {
        self.logs
            .iter()
            .flat_map(|l| l.figures.iter().map(move |f| (l, f)))
            .filter(|(_, f)| f.verdict == Verdict::Miss)
    }
}

/// The engines whose start-up logs are re-checked, in the order they are tallied.
const CHECKED_KINDS: [Kind; 3] = [Kind::VllmStartup, Kind::LlamacppBuffers, Kind::LlamacppOffload];

/// Every start-up log (vLLM start-up, llama.cpp buffers, llama.cpp CPU+GPU splits) in `files`
/// against today's estimator.
pub fn summarize(files: &[Loaded], catalog: &Catalog) -> EvidenceReport {
    let outcomes = check_all(files, catalog);
    let logs: Vec<LogSummary> = files
        .iter()
        .filter_map(|f| {
            let e = &f.evidence;
            let o = outcomes.iter().find(|o| o.evidence == e.id)?;
            let figures = o
                .checks
                .iter()
                .map(|c| Compared::new(c.clone(), true))
                .chain(o.reported.iter().map(|c| Compared::new(c.clone(), false)))
                .collect();
            Some(LogSummary {
                evidence: e.id.clone(),
                kind: e.kind,
                source: e.source.clone(),
                engine: e.engine.clone(),
                model: e
                    .model
                    .hf_id
                    .clone()
                    .or_else(|| e.model.catalog.clone())
                    .or_else(|| e.model.file.clone()),
                // a llama.cpp log with GPU buffers but no GPU named ran on an unnamed GPU
                gpu: e.gpu.clone().or_else(|| {
                    llamacpp::gpu_key(f).map(|_| GpuInfo {
                        name: None,
                        catalog: None,
                        count: 1,
                    })
                }),
                figures,
                // a reason names files relative to the evidence directory, not this machine's path
                skipped: o.skipped.as_ref().map(|why| match f.path.parent() {
                    Some(dir) => why.replace(&format!("{}/", dir.display()), ""),
                    None => why.clone(),
                }),
            })
        })
        .collect();
    let engines = CHECKED_KINDS.iter().map(|&k| tally(k, &logs)).collect();
    EvidenceReport { engines, logs }
}

fn tally(kind: Kind, logs: &[LogSummary]) -> EngineTally {
    let mine: Vec<&LogSummary> = logs.iter().filter(|l| l.kind == kind).collect();
    let mut fields: Vec<FieldTally> = vec![];
    for fig in mine.iter().flat_map(|l| &l.figures) {
        let field = fig.check.figure.field;
        let i = match fields.iter().position(|t| t.field == field) {
            Some(i) => i,
            None => {
                fields.push(FieldTally {
                    kind,
                    field,
                    within: 0,
                    misses: 0,
                    reported: 0,
                    largest: None,
                });
                fields.len() - 1
            }
        };
        let t = &mut fields[i];
        match fig.verdict {
            Verdict::Within => t.within += 1,
            Verdict::Miss => t.misses += 1,
            Verdict::Reported => t.reported += 1,
        }
        let used = fig.check.share_of_tolerance();
        if fig.verdict != Verdict::Reported && t.largest.as_ref().is_none_or(|l| used > l.share_of_tolerance()) {
            t.largest = Some(fig.check.clone());
        }
    }
    let checked = mine.iter().filter(|l| l.is_checked()).count();
    EngineTally {
        kind,
        logs: mine.len(),
        checked,
        not_checked: mine.len() - checked,
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::field::{Figure, Scope, Tolerance};

    fn check(figure: Figure, predicted: f64, printed: f64, tolerance: Tolerance) -> Check {
        Check {
            evidence: "x".into(),
            figure,
            predicted,
            printed,
            tolerance,
        }
    }

    fn on(field: Field, device: &str) -> Figure {
        Figure {
            field,
            scope: Scope::Device(device.into()),
        }
    }

    #[test]
    fn a_figure_outside_its_tolerance_is_a_miss_and_a_reported_one_is_not_held() {
        let kv = Figure::whole(Field::AvailableKvCacheGib);
        let miss = Compared::new(check(kv, 3.2, 3.04, Tolerance::Relative(0.03)), true);
        assert_eq!(miss.verdict, Verdict::Miss);
        assert!(miss.error_pct.is_some_and(|e| (e - 5.263).abs() < 0.001));
        let buffer = on(Field::KvBufferMib, "CUDA0");
        let within = Compared::new(check(buffer, 512.0, 512.0, Tolerance::Absolute(0.01)), true);
        assert_eq!(within.verdict, Verdict::Within);
        let compute = on(Field::ComputeBufferMib, "CPU");
        let reported = Compared::new(check(compute, 90.0, 100.0, Tolerance::Relative(0.05)), false);
        assert_eq!(reported.verdict, Verdict::Reported);
    }

    #[test]
    fn the_tally_counts_misses_and_keeps_the_comparison_nearest_or_past_its_tolerance() {
        let log = |figures| LogSummary {
            evidence: "x".into(),
            kind: Kind::VllmStartup,
            source: Source {
                url: None,
                what: String::new(),
                date: None,
            },
            engine: EngineInfo {
                name: "vllm".into(),
                version: None,
            },
            model: None,
            gpu: None,
            figures,
            skipped: None,
        };
        let kv = |predicted: f64, held| {
            Compared::new(
                check(
                    Figure::whole(Field::AvailableKvCacheGib),
                    predicted,
                    10.0,
                    Tolerance::Relative(0.03),
                ),
                held,
            )
        };
        let logs = vec![
            log(vec![kv(10.1, true)]),
            log(vec![kv(9.5, true)]),
            log(vec![kv(20.0, false)]),
        ];
        let t = tally(Kind::VllmStartup, &logs);
        assert_eq!((t.logs, t.checked, t.not_checked), (3, 2, 1));
        let f = &t.fields[0];
        assert_eq!(
            (f.field, f.within, f.misses, f.reported),
            (Field::AvailableKvCacheGib, 1, 1, 1)
        );
        assert_eq!(f.largest.as_ref().map(|c| c.predicted), Some(9.5));
    }
}
