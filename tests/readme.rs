//! The README's "Validated on" table is generated from the committed records with today's estimator
//! (`gpuplan records --format markdown`); this fails when the README is stale.

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
