//! The README's "Validated on" and "Checked against engine logs" tables are generated from the
//! committed records and engine logs with today's estimator (`gpuplan records --format markdown`,
//! `gpuplan evidence --format markdown`); these fail when the README is stale.

use gpuplan::estimate::arch::check_declared;
use gpuplan::measure::records;
use gpuplan::report::{self, views, OutputFormat};
use gpuplan::spec::Catalog;
use std::path::Path;

#[test]
fn validated_on_table_is_generated_from_the_records() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let (begin, end) = ("<!-- records:begin -->\n", "\n<!-- records:end -->");
    let start = readme.find(begin).expect("records:begin marker") + begin.len();
    let stop = readme.find(end).expect("records:end marker");
    let catalog = Catalog::embedded(check_declared).unwrap();
    let recs = records::load_dir(&root.join("validation/records")).unwrap();
    let fits = gpuplan::measure::predictions::Fits::beside(&root.join("validation/records")).unwrap();
    let rows = records::check(&recs, &catalog, &fits).unwrap();
    let md = report::render(OutputFormat::Markdown, &rows, views::records::records).unwrap();
    let table = md.replace("## Validated on\n\n", "");
    assert_eq!(
        readme[start..stop].trim(),
        table.trim(),
        "README.md is stale: run `cargo run -- records --format markdown` and paste it between the markers"
    );
}

#[test]
fn checked_against_engine_logs_is_generated_from_the_logs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let (begin, end) = ("<!-- evidence:begin -->\n", "\n<!-- evidence:end -->");
    let start = readme.find(begin).expect("evidence:begin marker") + begin.len();
    let stop = readme.find(end).expect("evidence:end marker");
    let catalog = Catalog::embedded(check_declared).unwrap();
    let logs = gpuplan::measure::field::load_dir(&root.join("validation/field")).unwrap();
    let summary = gpuplan::measure::field::summary::summarize(&logs, &catalog);
    let md = report::render(OutputFormat::Markdown, &summary, views::evidence::evidence).unwrap();
    let table = md.replace("## Checked against engine logs\n\n", "");
    assert_eq!(
        readme[start..stop].trim(),
        table.trim(),
        "README.md is stale: run `cargo run -- evidence --format markdown` and paste it between the markers"
    );
}
