//! `detect` as a document: the local GPUs, their catalog match, and what fits in their free memory.

use crate::measure::detect::DetectReport;
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{bytes, rate, tokens};

pub fn detect(r: &DetectReport) -> Doc {
    let mut d = Doc::default();
    if let Some(why) = &r.not_found {
        d.text(why.clone());
        return d;
    }
    d.heading(format!(
        "{} local GPU{} (driver {}, CUDA {})",
        r.gpus.len(),
        if r.gpus.len() == 1 { "" } else { "s" },
        r.driver_version.as_deref().unwrap_or("unknown"),
        r.cuda_version.as_deref().unwrap_or("unknown")
    ));
    for g in &r.gpus {
        let l = &g.local;
        d.heading(format!("GPU {}: {}", l.index, l.name));
        d.kv(vec![
            (
                "memory".into(),
                format!(
                    "{} total, {} used, {} free (NVML)",
                    bytes(l.memory_total_bytes),
                    bytes(l.memory_used_bytes),
                    bytes(l.memory_free_bytes)
                )
                .into(),
            ),
            (
                "compute capability".into(),
                l.compute_capability.clone().unwrap_or_else(|| "unknown".into()).into(),
            ),
            (
                "power limit".into(),
                l.power_limit_w.map_or("unknown".into(), |w| format!("{w} W")).into(),
            ),
            (
                "ECC".into(),
                l.ecc_enabled
                    .map_or("not reported", |e| if e { "on" } else { "off" })
                    .into(),
            ),
            (
                "processes".into(),
                if l.processes.is_empty() {
                    "none".to_string()
                } else {
                    l.processes
                        .iter()
                        .map(|(pid, m)| format!("{pid} ({})", m.map_or("?".into(), bytes)))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
                .into(),
            ),
            (
                "catalog".into(),
                match &g.catalog {
                    Some(m) => Cell::toned(
                        format!(
                            "{} (memory within {} MiB of the catalog's)",
                            m.id, m.memory_difference_mib
                        ),
                        Tone::Good,
                    ),
                    None => Cell::toned(
                        "not in the catalog: add a gpus/*.yaml with this NVML name to get estimates",
                        Tone::Bad,
                    ),
                },
            ),
        ]);
        if g.fits.is_empty() {
            continue;
        }
        let mut t = Table::new(&[
            "model",
            "precision",
            "context",
            "needs",
            "fits now",
            "max context now",
            "decode tok/s",
        ])
        .titled("What fits in the free memory now (estimated)")
        .numeric(&[2, 3, 5, 6]);
        for c in &g.fits {
            t.row(vec![
                c.model.as_ref().into(),
                c.precision.into(),
                tokens(c.context).into(),
                bytes(c.total_bytes).into(),
                if c.fits {
                    Cell::toned("yes", Tone::Good)
                } else {
                    Cell::toned("no", Tone::Bad)
                },
                c.max_context.map_or("-".into(), tokens).into(),
                c.decode_tokens_per_s.map_or("-".into(), rate).into(),
            ]);
        }
        d.table(t);
    }
    d
}
