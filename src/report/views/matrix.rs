//! `matrix` as a document: one row per (model, precision, context), one column per GPU; each cell says
//! whether it fits, the largest context that does, and decode tokens/s. Given a width (the terminal's),
//! it keeps as many GPU columns as fit, spread from the smallest to the largest memory, and says
//! which it left out.

use crate::estimate::engine::offload::solve::Knob;
use crate::plan::matrix::{Cell as MatrixCell, Matrix};
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{rate, tokens};
use std::collections::{HashMap, HashSet};

/// The terminal's width in columns when stdout is a terminal; None (no limit) for pipes and files.
pub fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size().map(|(terminal_size::Width(w), _)| w as usize)
}

/// Characters a column adds to a comfy-table table beyond its text: a space each side and a border.
const COLUMN_FRAME: usize = 3;

pub fn matrix(m: &Matrix, width: Option<usize>) -> Doc {
    let mut d = Doc::default();
    d.heading("Which GPU fits which model");
    let engine = match m.runtime {
        Some(e) => format!("{e} runtime"),
        None => "vllm for checkpoint formats, llama.cpp for GGUF".into(),
    };
    d.text(format!(
        "cell: max context that fits at batch {} / decode tok/s at the row's context ({engine}); '-' = does not fit",
        m.batch
    ));
    if let Some(host) = &m.host {
        d.text(format!(
            "'ncmoe N' / 'ngl N' = fits only with part of the model in the RAM of {host} (llama.cpp's --n-cpu-moe N or -ngl N, the split with the least on the host) / decode tok/s with it"
        ));
    }
    for b in &m.bands {
        d.text(super::bands::basis(&b.bands, b.engine));
    }
    let mut keys: Vec<(&str, &str, u64)> = Vec::new();
    let mut seen: HashSet<(&str, &str, u64)> = HashSet::new();
    for c in &m.cells {
        let k = (c.model.as_ref(), c.precision, c.context);
        if seen.insert(k) {
            keys.push(k);
        }
    }
    // one lookup per table cell: scanning 100k+ cells for each would be quadratic
    let by_key: HashMap<(&str, &str, u64, &str), &MatrixCell> = m
        .cells
        .iter()
        .map(|c| ((c.model.as_ref(), c.precision, c.context, c.gpu.as_ref()), c))
        .collect();
    let find = |(model, precision, context): (&str, &str, u64), gpu: &str| {
        by_key.get(&(model, precision, context, gpu)).copied()
    };
    let rows: Vec<Vec<Cell>> = keys
        .iter()
        .map(|&(model, precision, context)| {
            let mut row: Vec<Cell> = vec![model.into(), precision.into(), tokens(context).into()];
            row.extend(m.gpus.iter().map(|g| cell(find((model, precision, context), g))));
            row
        })
        .collect();
    let mut headers = vec!["model", "precision", "context"];
    headers.extend(m.gpus.iter().map(String::as_str));
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].text.chars().count())
                .chain([headers[i].chars().count()])
                .max()
                .unwrap_or(0)
                + COLUMN_FRAME
        })
        .collect();
    let keep = match width {
        Some(w) => columns_that_fit(m, &widths, w),
        None => (0..m.gpus.len()).collect(),
    };
    let mut t = Table::new(
        &headers[..3]
            .iter()
            .copied()
            .chain(keep.iter().map(|&g| headers[3 + g]))
            .collect::<Vec<_>>(),
    );
    for row in rows {
        let mut r = row[..3].to_vec();
        r.extend(keep.iter().map(|&g| row[3 + g].clone()));
        t.row(r);
    }
    d.table(t);
    if keep.len() < m.gpus.len() {
        let left: Vec<&str> = (0..m.gpus.len())
            .filter(|g| !keep.contains(g))
            .map(|g| m.gpus[g].as_str())
            .collect();
        d.text(format!(
            "{} of {} GPUs shown to fit {} columns; left out: {}. `--wide` prints every GPU, `--gpu a,b` picks them.",
            keep.len(),
            m.gpus.len(),
            width.unwrap_or(0),
            left.join(", ")
        ));
    }
    d
}

fn cell(c: Option<&MatrixCell>) -> Cell {
    match c {
        Some(c) if c.fits => Cell::toned(
            format!(
                "{} / {}",
                c.max_context.map_or("-".into(), tokens),
                c.decode_tokens_per_s.map_or("-".into(), rate)
            ),
            Tone::Good,
        ),
        Some(MatrixCell { offload: Some(o), .. }) => Cell::toned(
            format!(
                "{} / {}",
                match o.split {
                    Knob::Experts { n_cpu_moe } => format!("ncmoe {n_cpu_moe}"),
                    Knob::Layers { n_gpu_layers } => format!("ngl {n_gpu_layers}"),
                },
                o.decode_tokens_per_s.map_or("-".into(), rate)
            ),
            Tone::Plain,
        ),
        Some(c) => Cell::toned(
            match c.max_context {
                Some(mc) => format!("- (max {})", tokens(mc)),
                None => "-".into(),
            },
            Tone::Bad,
        ),
        None => Cell::toned("", Tone::Muted),
    }
}

/// Indices of the GPU columns to keep within `width`: as many as fit (at least one), chosen evenly
/// over the GPUs ordered by the memory a model may use, in that order (small cards to large).
fn columns_that_fit(m: &Matrix, widths: &[usize], width: usize) -> Vec<usize> {
    let fixed: usize = widths[..3].iter().sum::<usize>() + 1;
    if fixed + widths[3..].iter().sum::<usize>() <= width {
        return (0..m.gpus.len()).collect(); // all of them, in the order asked for
    }
    let mut by_memory: Vec<usize> = (0..m.gpus.len()).collect();
    let available = |g: usize| {
        m.cells
            .iter()
            .find(|c| *c.gpu == *m.gpus[g])
            .map_or(0, |c| c.available_bytes)
    };
    by_memory.sort_by_key(|&g| available(g));
    let fits = |n: usize| -> Option<Vec<usize>> {
        let mut pick: Vec<usize> = if n <= 1 {
            by_memory.iter().copied().take(n).collect()
        } else {
            (0..n).map(|i| by_memory[i * (by_memory.len() - 1) / (n - 1)]).collect()
        };
        // evenly spaced picks are in memory order already, so repeats are neighbours
        pick.dedup();
        let used = fixed + pick.iter().map(|&g| widths[3 + g]).sum::<usize>();
        (used <= width).then_some(pick)
    };
    (1..m.gpus.len())
        .rev()
        .find_map(fits)
        .unwrap_or_else(|| by_memory.iter().copied().take(1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::table::{render, Style};

    fn sample(gpus: usize) -> Matrix {
        let names: Vec<String> = (0..gpus).map(|i| format!("gpu-{i:02}")).collect();
        let cells = names
            .iter()
            .enumerate()
            .map(|(i, g)| MatrixCell {
                model: "m".into(),
                gpu: g.as_str().into(),
                precision: "bf16",
                engine: crate::estimate::EngineId::Candle,
                context: 4096,
                fits: i % 2 == 0,
                total_bytes: 1 << 33,
                // listed out of memory order on purpose
                available_bytes: ((gpus - i) as u64) << 30,
                max_context: Some(131072),
                decode_tokens_per_s: Some(123.4),
                offload: None,
            })
            .collect();
        Matrix {
            models: vec!["m".into()],
            gpus: names,
            precisions: vec![],
            contexts: vec![],
            runtime: Some(crate::estimate::EngineId::Candle),
            host: None,
            batch: 1,
            bands: vec![],
            cells,
        }
    }

    #[test]
    fn a_narrow_terminal_gets_fewer_columns_and_is_told_which() {
        let m = sample(30);
        let wide = render(&matrix(&m, None), Style { color: false });
        assert!(wide.lines().map(|l| l.chars().count()).max().unwrap() > 300);
        for width in [60, 80, 120, 200] {
            let out = render(&matrix(&m, Some(width)), Style { color: false });
            let longest = out
                .lines()
                .filter(|l| l.starts_with('│') || l.starts_with('┌'))
                .map(|l| l.chars().count())
                .max()
                .unwrap();
            assert!(longest <= width, "{width}: a table line of {longest}\n{out}");
            assert!(out.contains("left out: "), "{out}");
            assert!(out.contains("`--wide` prints every GPU"));
        }
        // every GPU is either a column or named as left out
        let out = render(&matrix(&m, Some(100)), Style { color: false });
        for g in &m.gpus {
            assert!(out.contains(g.as_str()), "{g} missing\n{out}");
        }
        // the smallest and the largest memory are both kept
        let header = out.lines().find(|l| l.contains("precision")).unwrap();
        assert!(header.contains("gpu-29") && header.contains("gpu-00"), "{header}");
    }

    #[test]
    fn a_table_that_fits_is_left_whole() {
        let m = sample(3);
        let out = render(&matrix(&m, Some(200)), Style { color: false });
        assert!(!out.contains("left out"));
        assert_eq!(out, render(&matrix(&m, None), Style { color: false }));
    }
}
