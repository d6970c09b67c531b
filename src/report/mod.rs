//! Rendering only: typed results from `plan` become a [`doc::Doc`] (views) and are written in one of
//! the output formats, one file per format. JSON serializes the typed result itself (the contract).

pub mod charts;
pub mod csv;
pub mod doc;
pub mod html;
pub mod json;
pub mod markdown;
pub mod sizing;
pub mod table;
pub mod units;
pub mod views;

use serde::Serialize;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
    Markdown,
    /// a self-contained HTML page
    Html,
}

/// Renders a result: JSON from the typed value, the other formats from its document view.
pub fn render<T: Serialize>(
    format: OutputFormat,
    value: &T,
    view: impl FnOnce(&T) -> doc::Doc,
) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Json => json::render(value)?,
        OutputFormat::Table => table::render(&view(value), table::Style::detect()),
        OutputFormat::Csv => csv::render(&view(value)),
        OutputFormat::Markdown => markdown::render(&view(value)),
        OutputFormat::Html => html::render(&view(value)),
    })
}
