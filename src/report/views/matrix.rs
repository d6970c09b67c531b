//! `matrix` as a document: one row per (model, precision, context), one column per GPU; each cell says
//! whether it fits, the largest context that does, and decode tokens/s.

use crate::plan::matrix::Matrix;
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{rate, tokens};

pub fn matrix(m: &Matrix) -> Doc {
    let mut d = Doc::default();
    d.heading("Which GPU fits which model");
    let engine = match m.runtime {
        Some(e) => format!("{e} runtime"),
        None => "vllm for checkpoint formats, llama.cpp for GGUF".into(),
    };
    d.text(format!(
        "cell: max context that fits at batch {} / decode tok/s at the row's context ({engine}), in parentheses the range 80% of published results fell in around such an estimate; '-' = does not fit",
        m.batch
    ));
    let mut headers = vec!["model", "precision", "context"];
    headers.extend(m.gpus.iter().map(String::as_str));
    let mut t = Table::new(&headers);
    let mut keys: Vec<(&str, &str, u64)> = Vec::new();
    for c in &m.cells {
        let k = (c.model.as_str(), c.precision.as_str(), c.context);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for (model, precision, context) in keys {
        let mut row: Vec<Cell> = vec![model.into(), precision.into(), tokens(context).into()];
        for gpu in &m.gpus {
            let cell = m
                .cells
                .iter()
                .find(|c| c.model == model && c.precision == precision && c.context == context && &c.gpu == gpu);
            row.push(match cell {
                Some(c) if c.fits => Cell::toned(
                    format!(
                        "{} / {}{}",
                        c.max_context.map_or("-".into(), tokens),
                        c.decode_tokens_per_s.map_or("-".into(), rate),
                        c.decode_band
                            .map(|b| format!(" ({})", super::band_range(b)))
                            .unwrap_or_default()
                    ),
                    Tone::Good,
                ),
                Some(c) => Cell::toned(
                    match c.max_context {
                        Some(mc) => format!("- (max {})", tokens(mc)),
                        None => "-".into(),
                    },
                    Tone::Bad,
                ),
                None => Cell::toned("", Tone::Muted),
            });
        }
        t.row(row);
    }
    d.table(t);
    d
}
