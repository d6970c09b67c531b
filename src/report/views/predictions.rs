//! `predict` as a document: the runs registered and what gpuplan predicts for each.

use crate::measure::predictions::Planned;
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{bytes, rate};

// `report::render` hands the view a reference to the value it renders: a Vec here
#[allow(clippy::ptr_arg)]
pub fn planned(runs: &Vec<Planned>) -> Doc {
    let mut d = Doc::default();
    d.heading("Registered predictions");
    let mut t = Table::new(&["run", "memory predicted", "decode tok/s", "model / KV buffer (engine)"]).numeric(&[1, 2]);
    let muted = || Cell::toned("-", Tone::Muted);
    for r in runs {
        let e = r.predicted.engine.as_ref();
        let model = e.and_then(|e| Some(e.model_buffer_bytes? + e.host_model_buffer_bytes?));
        t.row(vec![
            r.id.clone().into(),
            bytes(r.predicted.memory.total_bytes).into(),
            r.predicted
                .throughput
                .as_ref()
                .and_then(|t| t.decode_tokens_per_s)
                .map_or_else(muted, |v| rate(v).into()),
            match (model, e.and_then(|e| e.kv_buffer_bytes)) {
                (Some(m), Some(k)) => format!("{} / {}", bytes(m), bytes(k)).into(),
                _ => muted(),
            },
        ]);
    }
    d.table(t);
    d
}
