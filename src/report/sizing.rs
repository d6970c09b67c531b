//! The sizing report as a file: HTML (one self-contained page with inline SVG charts) or Markdown
//! (tables, with the charts written beside it as SVG or PNG files and linked).

use super::charts::{self, ChartKind, ImageFormat};
use super::doc::Block;
use super::html::{self, Section};
use super::markdown;
use super::views::sizing as views;
use crate::plan::sizing::Sizing;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

fn caption(kind: ChartKind) -> &'static str {
    match kind {
        ChartKind::Memory => "Per GPU, the heaviest pipeline stage of each option: weights, KV cache for every sequence in flight at the p95 length, peak activations, runtime overheads, and what is left of the usable memory (black line).",
        ChartKind::Context => "The longest single sequence each option holds at batch 1 on its layout, against the model's maximum (black) and what the workload needs (orange).",
        ChartKind::Decode => "Aggregate decode tokens/s of one replica as more sequences are decoded together, at the workload's average KV length; the last point is the largest batch that fits.",
        ChartKind::Cost => "Cost per million output tokens at the workload's load; green: meets every requirement, orange: misses a target or the budget.",
    }
}

/// The page.
pub fn html(s: &Sizing) -> Result<String> {
    let mut overview = views::overview(s);
    // the page title says it already
    if matches!(overview.blocks.first(), Some(Block::Heading(_))) {
        overview.blocks.remove(0);
    }
    let ranking = views::ranking(s);
    let details = views::details(s);
    let mut svgs = Vec::new();
    for kind in ChartKind::ALL {
        svgs.push((kind, charts::svg(kind, &s.charts)?));
    }
    let mut sections = vec![Section::Doc(&overview), Section::Doc(&ranking), Section::Part("Charts")];
    for (kind, svg) in &svgs {
        sections.push(Section::Figure {
            id: kind.id(),
            caption: caption(*kind),
            svg,
        });
    }
    sections.push(Section::Doc(&details));
    Ok(html::page(&format!("GPU sizing: {}", s.workload.name), &sections))
}

/// Chart files written beside a Markdown report `out`: `<stem>-<kind>.<ext>`.
pub fn chart_path(out: &Path, kind: ChartKind, format: ImageFormat) -> PathBuf {
    let stem = out
        .file_stem()
        .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}-{}.{}", kind.id(), format.extension()))
}

/// The Markdown text, linking charts named as [`chart_path`] names them (relative to the report).
pub fn markdown(s: &Sizing, out: &Path, format: ImageFormat) -> String {
    let mut text = markdown::render(&views::overview(s));
    text.push_str(&markdown::render(&views::ranking(s)));
    text.push_str("## Charts\n\n");
    for kind in ChartKind::ALL {
        let path = chart_path(out, kind, format);
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        text.push_str(&format!(
            "![{}]({name})\n\n{}\n\n",
            kind.title(&s.charts),
            caption(kind)
        ));
    }
    text.push_str(&markdown::render(&views::details(s)));
    text
}

/// Writes the report to `out`: `.html`/`.htm` as one page, anything else as Markdown with the
/// charts beside it. Returns every file written.
pub fn write(s: &Sizing, out: &Path, format: ImageFormat) -> Result<Vec<PathBuf>> {
    let is_html = out
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    if is_html {
        std::fs::write(out, html(s)?).with_context(|| format!("writing {}", out.display()))?;
        return Ok(vec![out.to_path_buf()]);
    }
    let mut written = Vec::new();
    for kind in ChartKind::ALL {
        let path = chart_path(out, kind, format);
        charts::write(kind, &s.charts, format, &path)?;
        written.push(path);
    }
    std::fs::write(out, markdown(s, out, format)).with_context(|| format!("writing {}", out.display()))?;
    written.insert(0, out.to_path_buf());
    Ok(written)
}
