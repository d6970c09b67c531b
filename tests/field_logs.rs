//! Every published engine log in validation/field/ re-checked against today's estimator: vLLM's
//! available KV cache and start/refuse verdict, llama.cpp's buffers. A file that cannot be checked
//! yet (a model or GPU gpuplan lacks) is listed with the reason, not dropped.

use gpuplan::estimate::arch::check_declared;
use gpuplan::measure::field;
use gpuplan::spec::Catalog;
use std::path::Path;

fn outcomes() -> Vec<field::Outcome> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("validation/field");
    if !dir.exists() {
        return vec![];
    }
    let files = field::load_dir(&dir).expect("every evidence file follows the schema");
    let catalog = Catalog::embedded(check_declared).expect("embedded catalog");
    field::check_all(&files, &catalog)
}

#[test]
fn every_checked_figure_is_within_its_tolerance() {
    let outcomes = outcomes();
    let mut failures = vec![];
    for o in &outcomes {
        match &o.skipped {
            Some(why) => eprintln!("{:<60} not checked: {why}", o.evidence),
            None => {
                for c in &o.reported {
                    eprintln!(
                        "{:<60} {:<28} predicted {:>12.3} printed {:>12.3} ({}, reported: another build)",
                        o.evidence,
                        c.figure,
                        c.predicted,
                        c.printed,
                        c.error_pct().map_or("-".into(), |e| format!("{e:+.1}%"))
                    );
                }
                for c in &o.checks {
                    eprintln!(
                        "{:<60} {:<28} predicted {:>12.3} printed {:>12.3} ({})",
                        o.evidence,
                        c.figure,
                        c.predicted,
                        c.printed,
                        c.error_pct().map_or("-".into(), |e| format!("{e:+.1}%"))
                    );
                    if !c.ok() {
                        failures.push(format!(
                            "{} {}: predicted {} printed {} (tolerance {:?})",
                            o.evidence, c.figure, c.predicted, c.printed, c.tolerance
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
