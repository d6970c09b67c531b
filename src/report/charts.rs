//! Charts of a sizing (plotters): memory breakdown per GPU option, largest context per option,
//! decode tokens/s against batch, cost per million tokens. SVG (inline in HTML, or files) and PNG.
//! The series come computed from `plan::sizing`; this file only draws them.
//!
//! Text is drawn with DejaVu Sans, embedded from `assets/fonts/` (free license, see
//! `assets/fonts/LICENSE`) and registered with plotters' ab_glyph font table, so PNGs render the same
//! on machines without fonts; SVGs name `sans-serif` and let the viewer pick.

use crate::plan::sizing::{ChartData, ContextBar, CostBar, DecodeSeries, MemoryBar};
use crate::plan::workload::CostMode;
use crate::report::units::GIB;
use anyhow::{anyhow, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Registers the embedded font once; an error if the font data is unreadable.
fn font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded chart font could not be read"))
    }
}

/// The charts a sizing report carries (`gpuplan plot KIND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChartKind {
    /// per-GPU memory breakdown of each option (weights, KV cache, activations, overhead, free)
    Memory,
    /// the largest context one sequence can have on each option
    Context,
    /// decode tokens/s of one replica against batch size
    Decode,
    /// $ per million output tokens of each option
    Cost,
}

impl ChartKind {
    pub const ALL: [ChartKind; 4] = [
        ChartKind::Memory,
        ChartKind::Context,
        ChartKind::Decode,
        ChartKind::Cost,
    ];

    pub fn id(self) -> &'static str {
        match self {
            ChartKind::Memory => "memory",
            ChartKind::Context => "context",
            ChartKind::Decode => "decode",
            ChartKind::Cost => "cost",
        }
    }

    pub fn title(self, data: &ChartData) -> String {
        let basis = if data.estimated { " (estimated)" } else { "" };
        match self {
            ChartKind::Memory => format!("Memory per GPU at the workload's load, GiB{basis}"),
            ChartKind::Context => format!("Largest context of one sequence, K tokens{basis}"),
            ChartKind::Decode => format!("Decode tokens/s of one replica vs batch{basis}"),
            ChartKind::Cost => match data.cost_mode {
                CostMode::Cloud => format!("$ per million output tokens, cloud prices{basis}"),
                CostMode::Purchase => {
                    format!("$ per million output tokens, purchase amortized{basis}")
                }
            },
        }
    }

    /// Rows a chart has (0: nothing to draw).
    pub fn rows(self, data: &ChartData) -> usize {
        match self {
            ChartKind::Memory => data.memory.len(),
            ChartKind::Context => data.context.len(),
            ChartKind::Decode => data.decode.len(),
            ChartKind::Cost => data.cost.len(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImageFormat {
    Svg,
    Png,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Svg => "svg",
            ImageFormat::Png => "png",
        }
    }

    /// From a file name's extension.
    pub fn from_path(path: &Path) -> Option<ImageFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "svg" => Some(ImageFormat::Svg),
            "png" => Some(ImageFormat::Png),
            _ => None,
        }
    }
}

const WIDTH: u32 = 960;

fn size(kind: ChartKind, data: &ChartData) -> (u32, u32) {
    match kind {
        ChartKind::Decode => (WIDTH, 520),
        _ => (WIDTH, 150 + LEGEND_H + 44 * kind.rows(data).max(1) as u32),
    }
}

/// The chart as an SVG document.
pub fn svg(kind: ChartKind, data: &ChartData) -> Result<String> {
    font()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size(kind, data)).into_drawing_area();
        draw(&root, kind, data)?;
        root.present()
            .map_err(|e| anyhow!("drawing the {} chart: {e}", kind.id()))?;
    }
    Ok(out)
}

/// Writes the chart as a PNG file.
pub fn png(kind: ChartKind, data: &ChartData, path: &Path) -> Result<()> {
    font()?;
    let root = BitMapBackend::new(path, size(kind, data)).into_drawing_area();
    draw(&root, kind, data)?;
    root.present().map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// Writes the chart to `path` in `format`.
pub fn write(kind: ChartKind, data: &ChartData, format: ImageFormat, path: &Path) -> Result<()> {
    match format {
        ImageFormat::Svg => {
            std::fs::write(path, svg(kind, data)?).map_err(|e| anyhow!("writing {}: {e}", path.display()))
        }
        ImageFormat::Png => png(kind, data, path),
    }
}

// Colorblind-safe categorical palette (Okabe-Ito), then two darker tones for the 9th and 10th series.
const COLORS: [RGBColor; 10] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
    RGBColor(120, 120, 120),
    RGBColor(120, 60, 20),
];
const FREE: RGBColor = RGBColor(225, 225, 225);

fn err<E: std::error::Error + Send + Sync>(kind: ChartKind) -> impl Fn(DrawingAreaErrorKind<E>) -> anyhow::Error {
    move |e| anyhow!("drawing the {} chart: {e}", kind.id())
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, kind: ChartKind, data: &ChartData) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err(kind))?;
    if kind.rows(data) == 0 {
        let style = TextStyle::from((FAMILY, 18).into_font()).color(&BLACK);
        root.draw(&Text::new(
            format!("{}: no option fits, nothing to chart", kind.title(data)),
            (20, 40),
            style,
        ))
        .map_err(err(kind))?;
        return Ok(());
    }
    match kind {
        ChartKind::Memory => memory(root, data, &data.memory),
        ChartKind::Context => context(root, data, &data.context),
        ChartKind::Decode => decode(root, data, &data.decode),
        ChartKind::Cost => cost(root, data, &data.cost),
    }
}

/// Height of the legend strip under bar charts.
const LEGEND_H: u32 = 34;

/// A legend entry: a filled box or a vertical line.
#[derive(Clone, Copy)]
enum Mark {
    Box(RGBColor),
    Line(RGBColor, u32),
}

/// Draws a one-row legend in `area` (a strip under the chart), items left to right.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, items: &[(&str, Mark)], kind: ChartKind) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let style = TextStyle::from((FAMILY, 13).into_font())
        .color(&BLACK)
        .pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Left,
            plotters::style::text_anchor::VPos::Center,
        ));
    let y = (LEGEND_H / 2) as i32;
    let mut x = 24i32;
    for (label, mark) in items {
        match *mark {
            Mark::Box(c) => area
                .draw(&Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()))
                .map_err(err(kind))?,
            Mark::Line(c, w) => area
                .draw(&PathElement::new(
                    vec![(x + 7, y - 8), (x + 7, y + 8)],
                    c.stroke_width(w),
                ))
                .map_err(err(kind))?,
        }
        area.draw(&Text::new(label.to_string(), (x + 20, y), style.clone()))
            .map_err(err(kind))?;
        x += 20 + label.chars().count() as i32 * 8 + 24;
    }
    Ok(())
}

/// Rows are drawn top to bottom in the order given (best ranked on top): row i spans
/// [n-1-i, n-i] on the y axis.
fn row_y(i: usize, n: usize) -> f64 {
    (n - 1 - i) as f64
}

/// Left margin wide enough for the longest label (DejaVu Sans at 14 px averages ~8 px a character).
fn label_width(labels: &[&str]) -> u32 {
    let chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(10) as u32;
    (chars * 8 + 16).clamp(80, 420)
}

/// Draws category labels right-aligned left of the plot, centered on rows 0..n.
fn row_labels<DB: DrawingBackend, X: Ranged<ValueType = f64>>(
    root: &DrawingArea<DB, Shift>,
    chart: &ChartContext<DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    labels: &[&str],
    x0: f64,
    kind: ChartKind,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let style = TextStyle::from((FAMILY, 14).into_font())
        .color(&BLACK)
        .pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Right,
            plotters::style::text_anchor::VPos::Center,
        ));
    for (i, l) in labels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(x0, row_y(i, labels.len()) + 0.5));
        root.draw(&Text::new(l.to_string(), (px - 8, py), style.clone()))
            .map_err(err(kind))?;
    }
    Ok(())
}

type Frame<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The frame of a horizontal bar chart: the caption, one row per label, x from 0 to `x_max`
/// described by `x_desc`, its tick labels whole numbers when `whole` (else plotters' own).
fn hbar_frame<'a, DB: DrawingBackend>(
    top: &'a DrawingArea<DB, Shift>,
    kind: ChartKind,
    data: &ChartData,
    labels: &[&str],
    x_max: f64,
    x_desc: &str,
    whole: bool,
) -> Result<Frame<'a, DB>>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(top)
        .caption(kind.title(data), (FAMILY, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(label_width(labels))
        .build_cartesian_2d(0f64..x_max, 0f64..labels.len() as f64)
        .map_err(err(kind))?;
    let whole_fmt = |x: &f64| format!("{x:.0}");
    let mut mesh = chart.configure_mesh();
    mesh.disable_y_mesh()
        .disable_y_axis()
        .y_labels(0)
        .x_desc(x_desc)
        .label_style((FAMILY, 13));
    if whole {
        mesh.x_label_formatter(&whole_fmt);
    }
    mesh.draw().map_err(err(kind))?;
    Ok(chart)
}

/// A stacked segment: its name, color and value.
type Part = (&'static str, RGBColor, fn(&MemoryBar) -> u64);

fn memory<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &ChartData, bars: &[MemoryBar]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let kind = ChartKind::Memory;
    let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
    let max = bars
        .iter()
        .map(|b| (b.weights + b.kv_cache + b.activations + b.overhead).max(b.available))
        .max()
        .unwrap_or(1) as f64
        / GIB;
    let (top, foot) = root.split_vertically(root.dim_in_pixel().1 - LEGEND_H);
    let mut chart = hbar_frame(&top, kind, data, &labels, max * 1.05, "GiB per GPU", true)?;
    let parts: [Part; 5] = [
        ("weights", COLORS[0], |b| b.weights),
        ("KV cache", COLORS[1], |b| b.kv_cache),
        ("activations", COLORS[2], |b| b.activations),
        ("overhead", COLORS[3], |b| b.overhead),
        ("free", FREE, |b| b.free),
    ];
    let rows = bars.len();
    for (name, color, value) in parts {
        let rects: Vec<Rectangle<(f64, f64)>> = bars
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let before: u64 = parts.iter().take_while(|p| p.0 != name).map(|p| (p.2)(b)).sum();
                let x0 = before as f64 / GIB;
                let x1 = (before + value(b)) as f64 / GIB;
                let y = row_y(i, rows);
                Rectangle::new([(x0, y + 0.18), (x1, y + 0.82)], color.filled())
            })
            .collect();
        chart.draw_series(rects).map_err(err(kind))?;
    }
    // what the runtime may use on that GPU
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let x = b.available as f64 / GIB;
            let y = row_y(i, rows);
            PathElement::new(vec![(x, y + 0.08), (x, y + 0.92)], BLACK.stroke_width(2))
        }))
        .map_err(err(kind))?;
    let mut items: Vec<(&str, Mark)> = parts.iter().map(|p| (p.0, Mark::Box(p.1))).collect();
    items.push(("usable memory", Mark::Line(BLACK, 2)));
    legend(&foot, &items, kind)?;
    row_labels(&top, &chart, &labels, 0.0, kind)
}

fn context<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &ChartData, bars: &[ContextBar]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let kind = ChartKind::Context;
    let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
    let k = 1024.0;
    let max = bars
        .iter()
        .map(|b| b.model_max.max(b.max_context).max(b.needed))
        .max()
        .unwrap_or(1) as f64
        / k;
    let rows = bars.len();
    let (top, foot) = root.split_vertically(root.dim_in_pixel().1 - LEGEND_H);
    let mut chart = hbar_frame(
        &top,
        kind,
        data,
        &labels,
        max * 1.05,
        "K tokens (batch 1, the option's layout)",
        true,
    )?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let y = row_y(i, rows);
            Rectangle::new(
                [(0.0, y + 0.18), (b.max_context as f64 / k, y + 0.82)],
                COLORS[0].filled(),
            )
        }))
        .map_err(err(kind))?;
    for (color, width, value) in [
        (BLACK, 2, (|b: &ContextBar| b.model_max) as fn(&ContextBar) -> u64),
        (COLORS[5], 3, |b: &ContextBar| b.needed),
    ] {
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let x = value(b) as f64 / k;
                let y = row_y(i, rows);
                PathElement::new(vec![(x, y + 0.08), (x, y + 0.92)], color.stroke_width(width))
            }))
            .map_err(err(kind))?;
    }
    let items = [
        ("largest context that fits", Mark::Box(COLORS[0])),
        ("model maximum", Mark::Line(BLACK, 2)),
        ("workload p95 (prompt + output)", Mark::Line(COLORS[5], 3)),
    ];
    legend(&foot, &items, kind)?;
    row_labels(&top, &chart, &labels, 0.0, kind)
}

fn decode<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &ChartData, series: &[DecodeSeries]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let kind = ChartKind::Decode;
    let max_b = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let max_y = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(root)
        .caption(kind.title(data), (FAMILY, 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d((1f64..max_b * 1.1).log_scale(), 0f64..max_y * 1.1)
        .map_err(err(kind))?;
    chart
        .configure_mesh()
        .x_desc("sequences decoded together (batch, log scale)")
        .y_desc("tokens/s, one replica")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style((FAMILY, 13))
        .draw()
        .map_err(err(kind))?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = s.points.iter().map(|&(b, t)| (b as f64, t)).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(err(kind))?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(err(kind))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FAMILY, 13))
        .draw()
        .map_err(err(kind))?;
    Ok(())
}

fn cost<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &ChartData, bars: &[CostBar]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let kind = ChartKind::Cost;
    let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
    let max = bars
        .iter()
        .map(|b| b.usd_per_million_tokens)
        .fold(0.0, f64::max)
        .max(1e-6);
    let rows = bars.len();
    let (top, foot) = root.split_vertically(root.dim_in_pixel().1 - LEGEND_H);
    let mut chart = hbar_frame(
        &top,
        kind,
        data,
        &labels,
        max * 1.2,
        "$ per million output tokens",
        false,
    )?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let color = if b.status == crate::plan::sizing::Status::Feasible {
                COLORS[2]
            } else {
                COLORS[5]
            };
            let y = row_y(i, rows);
            Rectangle::new([(0.0, y + 0.18), (b.usd_per_million_tokens, y + 0.82)], color.filled())
        }))
        .map_err(err(kind))?;
    let style = TextStyle::from((FAMILY, 13).into_font())
        .color(&BLACK)
        .pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Left,
            plotters::style::text_anchor::VPos::Center,
        ));
    for (i, b) in bars.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(b.usd_per_million_tokens, row_y(i, rows) + 0.5));
        let text = format!("${:.3}  ({})", b.usd_per_million_tokens, b.status.label());
        top.draw(&Text::new(text, (px + 6, py), style.clone()))
            .map_err(err(kind))?;
    }
    legend(
        &foot,
        &[
            ("meets every requirement", Mark::Box(COLORS[2])),
            ("misses a target or the budget", Mark::Box(COLORS[5])),
        ],
        kind,
    )?;
    row_labels(&top, &chart, &labels, 0.0, kind)
}
