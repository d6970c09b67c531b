//! Terminal output: comfy-table tables, colored only on a terminal and never when NO_COLOR is set
//! (https://no-color.org).

use super::doc::{Block, Doc, Tone};
use comfy_table::{presets, Attribute, CellAlignment, Color, ContentArrangement};
use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// Color when stdout is a terminal and NO_COLOR is unset or empty.
    pub fn detect() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }
}

pub fn render(doc: &Doc, style: Style) -> String {
    let mut out = String::new();
    for block in &doc.blocks {
        match block {
            Block::Heading(h) => {
                if style.color {
                    out.push_str(&format!("\x1b[1m{h}\x1b[0m\n"));
                } else {
                    out.push_str(&format!("{h}\n"));
                }
            }
            Block::Text(t) => out.push_str(&format!("{t}\n")),
            Block::KeyValues(kv) => {
                let width = kv.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
                for (k, v) in kv {
                    out.push_str(&format!("  {k:<width$}  {}\n", paint(&v.text, v.tone, style)));
                }
            }
            Block::Table(t) => {
                if let Some(title) = &t.title {
                    out.push_str(&format!("{title}\n"));
                }
                let mut table = comfy_table::Table::new();
                table
                    .load_preset(presets::UTF8_FULL_CONDENSED)
                    .set_content_arrangement(ContentArrangement::Disabled);
                if !style.color {
                    table.force_no_tty();
                } else {
                    table.enforce_styling();
                }
                table.set_header(t.headers.iter().map(|h| {
                    let c = comfy_table::Cell::new(h);
                    if style.color {
                        c.add_attribute(Attribute::Bold)
                    } else {
                        c
                    }
                }));
                for row in &t.rows {
                    table.add_row(row.iter().map(|c| {
                        let cell = comfy_table::Cell::new(&c.text);
                        match (style.color, c.tone) {
                            (true, Tone::Good) => cell.fg(Color::Green),
                            (true, Tone::Bad) => cell.fg(Color::Red),
                            (true, Tone::Muted) => cell.fg(Color::DarkGrey),
                            _ => cell,
                        }
                    }));
                }
                for &i in &t.numeric {
                    if let Some(col) = table.column_mut(i) {
                        col.set_cell_alignment(CellAlignment::Right);
                    }
                }
                out.push_str(&table.to_string());
                out.push('\n');
            }
        }
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn paint(text: &str, tone: Tone, style: Style) -> String {
    if !style.color {
        return text.to_string();
    }
    let code = match tone {
        Tone::Plain => return text.to_string(),
        Tone::Good => "32",
        Tone::Bad => "31",
        Tone::Muted => "90",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}
