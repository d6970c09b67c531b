//! `models`, `gpus`, `hosts` and `formats` as documents.

use crate::plan::catalog::{FormatRow, GpuRow, HostRow, ModelRow};
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{bytes, params, rate, tokens};

pub fn models(rows: &Vec<ModelRow>) -> Doc {
    let mut d = Doc::default();
    let mut t = Table::new(&[
        "id",
        "name",
        "arch",
        "params",
        "active",
        "max context",
        "KV/token (16-bit)",
        "weights (dtype)",
    ])
    .numeric(&[3, 4, 5, 6, 7]);
    for r in rows {
        t.row(vec![
            r.id.clone().into(),
            r.name.clone().into(),
            r.architecture.clone().into(),
            if r.exact {
                Cell::from(params(r.parameters))
            } else {
                Cell::toned(format!("~{}", params(r.parameters)), Tone::Muted)
            },
            params(r.active_parameters).into(),
            tokens(r.max_context).into(),
            format!("{} KiB", r.kv_bytes_per_token / 1024).into(),
            format!("{} ({})", bytes(r.weights_bytes), r.dtype).into(),
        ]);
    }
    d.table(t);
    d
}

pub fn gpus(rows: &Vec<GpuRow>) -> Doc {
    let mut d = Doc::default();
    let mut t = Table::new(&[
        "id",
        "name",
        "memory",
        "nvidia-smi MiB",
        "usable",
        "bandwidth GB/s",
        "bf16 TFLOPS",
        "fp8 TFLOPS",
        "TDP W",
        "$/hour",
        "purchase $",
    ])
    .numeric(&[3, 4, 5, 6, 7, 8, 9, 10]);
    for r in rows {
        t.row(vec![
            r.id.clone().into(),
            r.name.clone().into(),
            format!("{} GB {}", r.memory_marketed_gb, r.memory_type).into(),
            r.memory_reported_mib.to_string().into(),
            bytes(r.memory_visible_bytes).into(),
            rate(r.bandwidth_gbps).into(),
            rate(r.bf16_tflops).into(),
            r.fp8_tflops.map_or("-".into(), rate).into(),
            r.tdp_w.map_or("-".into(), |w| w.to_string()).into(),
            r.hourly_usd.map_or("-".into(), |p| format!("{p:.2}")).into(),
            r.purchase_usd.map_or("-".into(), |p| format!("{p:.0}")).into(),
        ]);
    }
    d.table(t);
    d
}

pub fn hosts(rows: &Vec<HostRow>) -> Doc {
    let mut d = Doc::default();
    let mut t = Table::new(&["id", "name", "memory", "size", "usable", "peak GB/s", "GPU slot"]).numeric(&[3, 4, 5]);
    for r in rows {
        t.row(vec![
            r.id.clone().into(),
            r.name.clone().into(),
            r.memory.clone().into(),
            bytes(r.size_bytes).into(),
            bytes(r.usable_bytes).into(),
            rate(r.bandwidth_gbps).into(),
            r.pcie.clone().unwrap_or_else(|| "unified memory".into()).into(),
        ]);
    }
    d.table(t);
    d.text("Peak = transfer rate x bus width; gpuplan applies its own efficiency for speed. `--host-memory` and `--host-bandwidth` override any entry; `--host local` reads this machine.");
    d
}

pub fn formats(rows: &Vec<FormatRow>) -> Doc {
    let mut d = Doc::default();
    let mut t = Table::new(&["id", "description", "bits/weight", "kept in higher precision"]).numeric(&[2]);
    for r in rows {
        t.row(vec![
            r.id.into(),
            r.description.into(),
            format!("{:.3}", r.bits_per_weight).into(),
            r.keeps.into(),
        ]);
    }
    d.table(t);
    d
}
