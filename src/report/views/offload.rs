//! The CPU offload section of `fit`: the split in llama.cpp's words (units and experts per device,
//! the buffers it prints), the host's RAM, the speed and the side that bounds it, the command, and
//! the trade-off between context and speed over the splits searched.

use crate::estimate::engine::offload::solve::{Knob, Row};
use crate::estimate::engine::offload::speed::{Bound, Decode};
use crate::estimate::engine::offload::Split;
use crate::plan::offload::{Chosen, NoSpeed, OffloadReport, VllmOffload};
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{bytes, rate, tokens};

/// What is on the CPU, in the words llama.cpp's flags use: "28 of 36 layers' experts", "20 of 37
/// layers on the GPU".
pub fn split_words(s: &Split) -> String {
    let units = s.n_layer + 1;
    let mut parts = Vec::new();
    if s.host.expert_blocks > 0 {
        parts.push(format!(
            "{} of {} layers' experts on the CPU",
            s.host.expert_blocks, s.n_layer
        ));
    }
    if s.gpu_units < units {
        parts.push(format!("{} of {units} layers on the GPU", s.gpu_units));
    }
    if parts.is_empty() {
        "everything but the token embeddings on the GPU".into()
    } else {
        parts.join(", ")
    }
}

fn bound(b: Bound) -> &'static str {
    match b {
        Bound::GpuMemory => "GPU memory bandwidth",
        Bound::HostMemory => "host RAM bandwidth and GPU-CPU hand-overs",
        Bound::GpuCompute => "GPU compute",
        Bound::Pcie => "host weights crossing PCIe",
        Bound::HostCompute => "the CPU computing its share",
    }
}

fn decode_words(d: &Decode) -> String {
    format!(
        "~{} tok/s ({}-{}; {} on the GPU, {} on the host per token), bound: {}",
        rate(d.tokens_per_s),
        rate(d.low),
        rate(d.high),
        ms(d.gpu_s),
        ms(d.host_s),
        bound(d.bound)
    )
}

fn ms(s: f64) -> String {
    format!("{:.1} ms", s * 1e3)
}

fn no_speed(n: &NoSpeed) -> String {
    match n {
        NoSpeed::UnknownHostBandwidth { why } => format!("no decode speed: the host's RAM bandwidth is unknown ({why})"),
        NoSpeed::NoHost => "no decode speed: no host given (--host)".into(),
        NoSpeed::HostCompute => "no prompt speed: the CPU computes its share (op offload off or ubatch under 32 tokens); gpuplan has no CPU compute model".into(),
    }
}

fn knob(k: Knob) -> String {
    match k {
        Knob::Experts { n_cpu_moe } => format!("--n-cpu-moe {n_cpu_moe}"),
        Knob::Layers { n_gpu_layers } => format!("-ngl {n_gpu_layers}"),
    }
}

/// The offload section.
pub fn section(d: &mut Doc, o: &OffloadReport) {
    let s = &o.split;
    d.heading("CPU offload (llama.cpp)");
    let speed = o
        .decode
        .as_ref()
        .map(|x| format!(": ~{} tok/s", rate(x.tokens_per_s)))
        .unwrap_or_default();
    let verdict = match (o.chosen, o.fits) {
        (Chosen::Search, true) => Cell::toned(format!("fits with {}{speed}", split_words(s)), Tone::Good),
        (Chosen::Flags, true) => Cell::toned(format!("fits: {}{speed}", split_words(s)), Tone::Good),
        (Chosen::Search, false) => Cell::toned(
            "does not fit even with every expert or layer on the CPU (GPU or RAM too small)",
            Tone::Bad,
        ),
        (Chosen::Flags, false) => Cell::toned(format!("does not fit: {}", split_words(s)), Tone::Bad),
    };
    let mut kv = vec![("verdict".to_string(), verdict)];
    if let Some(h) = &o.host {
        kv.push((
            "host RAM".into(),
            Cell::toned(
                format!(
                    "{} needed of {} usable on {}{}",
                    bytes(h.needed_bytes),
                    bytes(h.usable_bytes),
                    h.name,
                    h.bandwidth_gbps.map(|b| format!(", {b} GB/s peak")).unwrap_or_default()
                ),
                if h.fits { Tone::Good } else { Tone::Bad },
            ),
        ));
    }
    if let Some(g) = &s.unknown_gpu {
        kv.push((
            "override".into(),
            Cell::toned(
                format!("-ot names {g}, but only {} GPU(s) are in use", o.gpus),
                Tone::Bad,
            ),
        ));
    }
    if let Some(dec) = &o.decode {
        kv.push(("decode".into(), decode_words(dec).into()));
    }
    if let Some(p) = o.prefill.as_ref().filter(|p| p.tokens_per_s.is_some()) {
        kv.push((
            "prompt".into(),
            format!(
                "~{} tok/s per ubatch ({} of host weights copied per ubatch, {} link), bound: {}",
                rate(p.tokens_per_s.unwrap_or_default()),
                bytes(s.ubatch_copy_bytes),
                o.link.map_or("PCIe 4.0 x16 assumed".to_string(), |l| format!(
                    "PCIe {}.0 x{}",
                    l.generation, l.lanes
                )),
                bound(p.bound)
            )
            .into(),
        ));
    }
    for n in &o.no_speed {
        kv.push(("speed".into(), Cell::toned(no_speed(n), Tone::Muted)));
    }
    kv.push(("command".into(), o.command.clone().into()));
    d.kv(kv);
    let mut t = Table::new(&[
        "device",
        "layers",
        "experts",
        "model buffer",
        "KV buffer",
        "compute buffer",
        "total",
    ])
    .titled(format!(
        "What llama.cpp holds where (graph splits {} with bs=ubatch, {} with bs=1)",
        s.graph_splits_prompt, s.graph_splits_token
    ))
    .numeric(&[1, 2, 3, 4, 5, 6]);
    for g in &s.gpus {
        t.row(vec![
            g.device.clone().into(),
            format!("{}{}", g.blocks, if g.output { " + output" } else { "" }).into(),
            g.expert_blocks.to_string().into(),
            bytes(g.model_buffer_bytes).into(),
            bytes(g.kv_buffer_bytes).into(),
            bytes(g.compute_buffer_bytes).into(),
            format!(
                "{} (+{} CUDA context)",
                bytes(g.total_bytes),
                bytes(g.cuda_context_bytes)
            )
            .into(),
        ]);
    }
    let h = &s.host;
    let buffers: Vec<String> = h
        .model_buffer_bytes
        .iter()
        .map(|(k, v)| format!("{} {}", k.name(), bytes(*v)))
        .collect();
    t.row(vec![
        "host".into(),
        h.blocks.to_string().into(),
        h.expert_blocks.to_string().into(),
        format!("{} ({} resident)", buffers.join(" + "), bytes(h.weight_bytes)).into(),
        bytes(h.kv_buffer_bytes).into(),
        format!(
            "{} + output {}",
            bytes(h.compute_buffer_bytes),
            bytes(h.output_buffer_bytes)
        )
        .into(),
        bytes(h.total_bytes).into(),
    ]);
    d.table(t);
    if let Some(search) = &o.search {
        d.table(tradeoff(&search.rows, search.best));
    }
}

/// The trade-off table: the chosen split and the ones with more on the host, their memory, largest
/// context and decode speed.
fn tradeoff(rows: &[Row], best: Option<usize>) -> Table {
    let mut t = Table::new(&["split", "GPU (fullest)", "host RAM", "max context", "decode tok/s", ""])
        .titled("Splits: more on the host, more context, less speed")
        .numeric(&[1, 2, 3, 4]);
    let start = best.unwrap_or(0);
    let rest = rows.len().saturating_sub(start + 1);
    // the chosen split, then about eight more spread to the last
    let step = rest.div_ceil(8).max(1);
    for (i, r) in rows.iter().enumerate().skip(start) {
        if i != start && (i - start) % step != 0 && i + 1 != rows.len() {
            continue;
        }
        let tone = if r.fits() { Tone::Good } else { Tone::Bad };
        t.row(vec![
            Cell::toned(knob(r.knob), tone),
            bytes(r.gpu_bytes).into(),
            bytes(r.host_bytes).into(),
            r.max_context.map_or("-".into(), tokens).into(),
            r.decode.map_or("-".into(), |d| rate(d.tokens_per_s)).into(),
            if Some(i) == best {
                "chosen".into()
            } else {
                Cell::from("")
            },
        ]);
    }
    t
}

/// vLLM's `--cpu-offload-gb`: what each GPU moved to pinned host memory, the host's RAM for every
/// GPU's share, and what a decode step pays to read it over PCIe.
pub fn vllm_section(d: &mut Doc, v: &VllmOffload) {
    let o = &v.per_gpu;
    d.heading("CPU offload (vLLM --cpu-offload-gb)");
    let mut kv = vec![(
        "per GPU".to_string(),
        Cell::from(format!(
            "{} of {} decoder-layer bytes in {} parameter(s): {} whole layer(s){}; {} fewer on the GPU",
            bytes(o.offloaded_bytes),
            bytes(o.offloadable_bytes),
            o.parameters,
            o.whole_layers,
            if o.split_layer { " and part of the next" } else { "" },
            bytes(o.gpu_freed_bytes)
        )),
    )];
    kv.push((
        "pinned host RAM".into(),
        match &v.host {
            Some(h) => Cell::toned(
                format!(
                    "{} needed (every GPU's share, each tensor rounded up to a power of two) of {} usable on {}",
                    bytes(h.needed_bytes),
                    bytes(h.usable_bytes),
                    h.name
                ),
                if h.fits { Tone::Good } else { Tone::Bad },
            ),
            None => format!("{} (every GPU's share; no host given)", bytes(v.pinned_bytes)).into(),
        },
    ));
    kv.push((
        "PCIe per step".into(),
        format!(
            "{} read over PCIe {}.0 x{}{} in {} (unvalidated: no published run)",
            bytes(v.step_pcie_bytes),
            v.link.generation,
            v.link.lanes,
            if v.link_known { "" } else { " (assumed)" },
            ms(v.step_pcie_s)
        )
        .into(),
    ));
    d.kv(kv);
}
