//! The llama.cpp check: gpuplan's prediction of each buffer line against what llama.cpp printed.
//! Model, KV and output buffers must be equal to the printed precision (0.01 MiB: the figure
//! printed the same way); compute buffers within 5% (the four-decimal figure where the context
//! printed one). A failure names the term and both numbers.

use crate::measure::record::{EngineFigures, Record};
use crate::spec::gpu::MIB;
use serde::Serialize;

/// The compute buffer's bound (issue 10): within this many percent of what llama.cpp printed.
pub const COMPUTE_PCT: f64 = 5.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// equal when printed as llama.cpp prints it (MiB, two decimals)
    Printed,
    /// within this many percent
    Percent(f64),
    /// a sum of this many printed figures: within half a printed unit (0.005 MiB) per figure
    PrintedSum(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// gpuplan has no prediction for it
    NotPredicted,
    /// llama.cpp did not print it (the run failed)
    NotMeasured,
}

/// One buffer term.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Term {
    /// the engine field name (`kv_buffer_bytes`)
    pub field: &'static str,
    /// the device of a per-device term (a run over several devices)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<usize>,
    /// how a person says it ("KV buffer")
    pub term: &'static str,
    pub predicted_bytes: Option<u64>,
    pub measured_bytes: Option<u64>,
    pub bound: Bound,
    pub verdict: Verdict,
    /// (predicted - measured) / measured, %
    pub error_pct: Option<f64>,
}

fn mib2(b: u64) -> String {
    format!("{:.2}", b as f64 / MIB as f64)
}

impl Term {
    /// "KV buffer: predicted 1536.00 MiB (1610612736 B), llama.cpp printed 1535.75 MiB (exact to 0.01 MiB required)"
    pub fn describe(&self) -> String {
        let show = |b: Option<u64>| b.map_or("-".to_string(), |b| format!("{} MiB ({b} B)", mib2(b)));
        let bound = match self.bound {
            Bound::Printed => "equal to the printed 0.01 MiB required".to_string(),
            Bound::Percent(p) => format!("within {p}% required"),
            Bound::PrintedSum(n) => format!("a sum of {n} printed figures: within {n} x 0.005 MiB required"),
        };
        let term = match self.device {
            Some(d) => format!("{} {d}", self.term),
            None => self.term.to_string(),
        };
        format!(
            "{term}: predicted {}, llama.cpp printed {} ({bound})",
            show(self.predicted_bytes),
            show(self.measured_bytes)
        )
    }
}

fn term(field: &'static str, name: &'static str, p: Option<u64>, m: Option<u64>, bound: Bound) -> Term {
    let error_pct = match (p, m) {
        (Some(p), Some(m)) if m > 0 => Some((p as f64 - m as f64) / m as f64 * 100.0),
        _ => None,
    };
    let verdict = match (p, m) {
        (_, None) => Verdict::NotMeasured,
        (None, _) => Verdict::NotPredicted,
        (Some(p), Some(m)) => {
            let ok = match bound {
                Bound::Printed => mib2(p) == mib2(m),
                Bound::PrintedSum(n) => p.abs_diff(m) as f64 <= n as f64 * 0.005 * MIB as f64,
                Bound::Percent(pct) => {
                    if m == 0 {
                        p == 0
                    } else {
                        ((p as f64 - m as f64) / m as f64 * 100.0).abs() <= pct
                    }
                }
            };
            if ok {
                Verdict::Pass
            } else {
                Verdict::Fail
            }
        }
    };
    Term {
        field,
        device: None,
        term: name,
        predicted_bytes: p,
        measured_bytes: m,
        bound,
        verdict,
        error_pct,
    }
}

/// The model, KV and compute terms of each device a measurement printed, when it has several: a
/// layer put on the wrong device leaves the sums equal.
fn device_terms(predicted: Option<&EngineFigures>, measured: &EngineFigures) -> Vec<Term> {
    let compute = Bound::Percent(COMPUTE_PCT);
    let mut out = Vec::new();
    for m in &measured.devices {
        let p = predicted.and_then(|p| p.devices.iter().find(|d| d.device == m.device));
        for (field, name, pb, mb, bound) in [
            (
                "device_model_buffer_bytes",
                "model buffer on device",
                p.map(|d| d.model_buffer_bytes),
                m.model_buffer_bytes,
                Bound::Printed,
            ),
            (
                "device_kv_buffer_bytes",
                "KV buffer on device",
                p.map(|d| d.kv_buffer_bytes),
                m.kv_buffer_bytes,
                Bound::Printed,
            ),
            (
                "device_compute_buffer_bytes",
                "compute buffer on device",
                p.map(|d| d.compute_buffer_bytes),
                m.compute_buffer_bytes,
                compute,
            ),
        ] {
            out.push(Term {
                device: Some(m.device),
                ..term(field, name, pb, Some(mb), bound)
            });
        }
    }
    out
}

/// Every buffer term of a prediction against a measurement.
pub fn terms(predicted: Option<&EngineFigures>, measured: Option<&EngineFigures>) -> Vec<Term> {
    let p = |f: fn(&EngineFigures) -> Option<u64>| predicted.and_then(f);
    let m = |f: fn(&EngineFigures) -> Option<u64>| measured.and_then(f);
    let compute = Bound::Percent(COMPUTE_PCT);
    // over several devices a device figure is a sum of printed lines (each device is held apart)
    let device = match measured.map_or(0, |m| m.devices.len()) {
        0 | 1 => Bound::Printed,
        n => Bound::PrintedSum(n),
    };
    vec![
        term(
            "model_buffer_bytes",
            "model buffer (device)",
            p(|e| e.model_buffer_bytes),
            m(|e| e.model_buffer_bytes),
            device,
        ),
        term(
            "host_model_buffer_bytes",
            "model buffer (host)",
            p(|e| e.host_model_buffer_bytes),
            m(|e| e.host_model_buffer_bytes),
            Bound::Printed,
        ),
        term(
            "kv_buffer_bytes",
            "KV buffer (device)",
            p(|e| e.kv_buffer_bytes),
            m(|e| e.kv_buffer_bytes),
            device,
        ),
        term(
            "host_kv_buffer_bytes",
            "KV buffer (host)",
            p(|e| e.host_kv_buffer_bytes),
            m(|e| e.host_kv_buffer_bytes),
            Bound::Printed,
        ),
        term(
            "compute_buffer_bytes",
            "compute buffer (device)",
            p(|e| e.compute_buffer_bytes),
            m(|e| e.compute_buffer_bytes),
            compute,
        ),
        term(
            "host_compute_buffer_bytes",
            "compute buffer (host)",
            p(|e| e.host_compute_buffer_bytes),
            m(|e| e.host_compute_buffer_bytes),
            compute,
        ),
        term(
            "output_buffer_bytes",
            "output buffer",
            p(|e| e.output_buffer_bytes),
            m(|e| e.output_buffer_bytes),
            Bound::Printed,
        ),
    ]
    .into_iter()
    .chain(measured.map_or_else(Vec::new, |m| device_terms(predicted, m)))
    .collect()
}

/// A record against a prediction of its engine figures (today's, or the registered one).
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub name: String,
    pub outcome: String,
    pub terms: Vec<Term>,
}

impl Checked {
    pub fn new(r: &Record, predicted: Option<&EngineFigures>) -> Checked {
        Checked {
            name: r.name.clone(),
            outcome: r.outcome.status.clone(),
            terms: terms(predicted, r.measured.engine.as_ref().map(|e| &e.figures)),
        }
    }

    /// The failures, each naming the term and both numbers; a run that did not run fails too.
    pub fn failures(&self) -> Vec<String> {
        if self.outcome != "ran" {
            return vec![format!("{}: did not run ({})", self.name, self.outcome)];
        }
        self.terms
            .iter()
            .filter(|t| t.verdict == Verdict::Fail)
            .map(|t| format!("{}: {}", self.name, t.describe()))
            .collect()
    }

    /// Terms gpuplan does not predict yet (reported, not failed).
    pub fn gaps(&self) -> Vec<String> {
        self.terms
            .iter()
            .filter(|t| t.verdict == Verdict::NotPredicted)
            .map(|t| format!("{}: {}", self.name, t.describe()))
            .collect()
    }
}

/// The check over a set of engine records (`gpuplan records --check`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub records: usize,
    /// terms within their bound
    pub pass: usize,
    /// a term outside its bound: record, term, both numbers
    pub failures: Vec<String>,
    /// a term gpuplan does not predict
    pub gaps: Vec<String>,
    /// records whose run did not finish
    pub not_run: Vec<String>,
}

impl Summary {
    pub fn of(rows: &[crate::measure::records::Checked]) -> Summary {
        let mut s = Summary::default();
        for r in rows.iter().filter(|r| r.settings.is_some()) {
            s.records += 1;
            if r.outcome != "ran" {
                s.not_run.push(format!("{}: did not run ({})", r.name, r.outcome));
                continue;
            }
            for t in &r.terms {
                match t.verdict {
                    Verdict::Pass => s.pass += 1,
                    Verdict::Fail => s.failures.push(format!("{}: {}", r.name, t.describe())),
                    Verdict::NotPredicted => s.gaps.push(format!("{}: {}", r.name, t.describe())),
                    Verdict::NotMeasured => {}
                }
            }
        }
        s
    }

    /// One line: what passed, failed, was not predicted.
    pub fn line(&self) -> String {
        format!(
            "llama.cpp check: {} records, {} buffer terms within bounds, {} outside, {} not predicted, {} runs that did not finish",
            self.records,
            self.pass,
            self.failures.len(),
            self.gaps.len(),
            self.not_run.len()
        )
    }

    /// Ok when every term passed (and, unless `allow_gaps`, every term was predicted).
    pub fn verdict(&self, allow_gaps: bool) -> Result<(), String> {
        let mut bad: Vec<&String> = self.failures.iter().chain(&self.not_run).collect();
        if !allow_gaps {
            bad.extend(&self.gaps);
        }
        if self.records == 0 {
            return Err("llama.cpp check: no llama.cpp records".into());
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}\n{}",
                self.line(),
                bad.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(model: u64, kv: u64, compute: u64) -> EngineFigures {
        EngineFigures {
            model_buffer_bytes: Some(0),
            host_model_buffer_bytes: Some(model),
            kv_buffer_bytes: Some(kv),
            host_kv_buffer_bytes: Some(0),
            compute_buffer_bytes: Some(0),
            host_compute_buffer_bytes: Some(compute),
            output_buffer_bytes: Some(125_952),
            devices: vec![],
        }
    }

    #[test]
    fn exact_means_the_same_printed_figure_and_compute_five_percent() {
        // 2392493568 B prints as 2281.66 MiB; 2392493568 + 4000 B still does, + 6000 B does not
        let m = figures(2_392_493_568, 1 << 30, 100 << 20);
        let ok = figures(2_392_493_568 + 4000, 1 << 30, 104 << 20);
        assert!(terms(Some(&ok), Some(&m)).iter().all(|t| t.verdict == Verdict::Pass));
        let bad = figures(2_392_493_568 + 6000, (1 << 30) + (1 << 20), 106 << 20);
        let t = terms(Some(&bad), Some(&m));
        let failed: Vec<&str> = t
            .iter()
            .filter(|t| t.verdict == Verdict::Fail)
            .map(|t| t.field)
            .collect();
        assert_eq!(
            failed,
            [
                "host_model_buffer_bytes",
                "kv_buffer_bytes",
                "host_compute_buffer_bytes"
            ]
        );
        let kv = t.iter().find(|t| t.field == "kv_buffer_bytes").unwrap().describe();
        assert!(
            kv.contains("predicted 1025.00 MiB") && kv.contains("printed 1024.00 MiB"),
            "{kv}"
        );
    }

    #[test]
    fn no_prediction_is_a_gap_not_a_pass() {
        let m = figures(1, 2, 3);
        assert!(terms(None, Some(&m)).iter().all(|t| t.verdict == Verdict::NotPredicted));
        assert!(terms(Some(&m), None).iter().all(|t| t.verdict == Verdict::NotMeasured));
    }
}
