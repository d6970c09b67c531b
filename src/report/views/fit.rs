//! `fit` and `compare` as documents.

use super::bands;
use crate::estimate::engine::llamacpp::fit::{FitOutcome, FittedContext};
use crate::estimate::engine::offload::Pipeline;
use crate::estimate::EngineId;
use crate::plan::layout::{Layout, MAX_GPUS};
use crate::plan::FitReport;
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{bytes, params, rate, seconds, signed_bytes, tokens};

pub fn fit(r: &FitReport) -> Doc {
    let mut d = Doc::default();
    d.heading(format!(
        "{} on {}{}",
        r.model_name,
        if r.total_gpus > 1 {
            format!("{} x ", r.total_gpus)
        } else {
            String::new()
        },
        r.gpu_name
    ));
    if r.total_gpus > 1 && r.runtime == EngineId::LlamaCpp {
        d.text(format!(
            "{} GPUs: llama.cpp splits the layers between them (--split-mode layer); memory per GPU",
            r.total_gpus
        ));
    } else if r.total_gpus > 1 {
        d.text(format!(
            "{}: tensor parallel over {} GPU(s) per stage, {} pipeline stage(s)",
            Layout {
                tp: r.gpus,
                pp: r.pipeline
            }
            .label(),
            r.gpus,
            r.pipeline
        ));
    }
    d.text(format!(
        "{} weights, {} KV cache, {} runtime, {} context, batch {}{}",
        r.precision,
        r.kv_precision,
        r.runtime,
        tokens(r.context),
        r.batch,
        if r.images > 0 {
            format!(", {} image(s) = {} tokens", r.images, r.image_tokens)
        } else {
            String::new()
        }
    ));
    let chosen = if r.context_fit.is_some() {
        ", at the context llama.cpp's --fit picks"
    } else {
        ""
    };
    let verdict = if let Some(why) = r
        .engine
        .refusal
        .as_ref()
        .filter(|_| r.memory.total_bytes <= r.memory.available_bytes)
    {
        Cell::toned(format!("DOES NOT START: {}", super::engine::refusal(why)), Tone::Bad)
    } else if let Some(h) = r
        .vllm_offload
        .as_ref()
        .and_then(|v| v.host.as_ref())
        .filter(|h| !h.fits && r.memory.total_bytes <= r.memory.available_bytes)
    {
        Cell::toned(
            format!(
                "DOES NOT FIT: the offloaded weights pin {} of host RAM, {} usable",
                bytes(h.needed_bytes),
                bytes(h.usable_bytes)
            ),
            Tone::Bad,
        )
    } else if r.fits {
        Cell::toned(
            format!(
                "FITS: {} of {} ({} free){chosen}",
                bytes(r.memory.total_bytes),
                bytes(r.memory.available_bytes),
                signed_bytes(r.headroom_bytes)
            ),
            Tone::Good,
        )
    } else {
        Cell::toned(
            format!(
                "DOES NOT FIT: needs {} of {} (short {}){chosen}",
                bytes(r.memory.total_bytes),
                bytes(r.memory.available_bytes),
                bytes(r.headroom_bytes.unsigned_abs())
            ),
            Tone::Bad,
        )
    };
    let per_gpu = match (r.total_gpus > 1, r.pipeline > 1) {
        (_, true) => format!(" per GPU (stage {} of {}, the heaviest)", r.memory_stage, r.pipeline),
        (true, false) => " per GPU".to_string(),
        _ => String::new(),
    };
    let t = &r.throughput;
    let mut rows = vec![("verdict".into(), verdict)];
    if let Some(f) = &r.context_fit {
        rows.push(("context".into(), context_fit(f, r.batch)));
    }
    rows.extend(vec![
        (
            "parameters".into(),
            format!(
                "{} total, {} active ({})",
                params(r.params.total),
                params(r.params.active),
                if r.params.exact { "exact" } else { "declared, coarse" }
            )
            .into(),
        ),
        (
            "max context".into(),
            match r.max_context {
                Some(c) => format!("{} tokens at batch {}", tokens(c), r.batch).into(),
                None => Cell::toned("none: the weights and overheads alone do not fit", Tone::Bad),
            },
        ),
        (
            "fewest GPUs".into(),
            match r.smallest_layout {
                Some(l) if r.runtime == EngineId::LlamaCpp && l.gpus() > 1 => {
                    format!("{} (layers split between them) fit this context and batch", l.gpus()).into()
                }
                Some(l) => format!("{} ({}) fit this context and batch", l.gpus(), l.label()).into(),
                None => Cell::toned(
                    format!("no layout of up to {MAX_GPUS} GPUs fits this context and batch"),
                    Tone::Bad,
                ),
            },
        ),
        (
            "max batch".into(),
            match r.max_batch {
                Some(b) => format!("{b} sequences at {} context", tokens(r.context)).into(),
                None => Cell::toned("none at this context", Tone::Bad),
            },
        ),
        (
            "decode".into(),
            format!(
                "{}, {} tok/s per sequence ({}-bound, {} read per step{}){}",
                bands::with(
                    format!("{} tok/s aggregate", rate(t.decode_tokens_per_s)),
                    &r.bands.decode
                ),
                rate(t.per_user_tokens_per_s),
                t.decode_bound.name(),
                bytes(t.decode_bytes_per_step),
                t.experts_touched_per_layer
                    .map(|e| format!(", {e:.1} experts/layer"))
                    .unwrap_or_default(),
                if t.calibrated { "" } else { " [uncalibrated]" }
            )
            .into(),
        ),
        (
            "prefill".into(),
            format!(
                "{}, time to first token {}",
                bands::with(format!("{} tok/s", rate(t.prefill_tokens_per_s)), &r.bands.prefill),
                bands::with(seconds(t.ttft_s), &r.bands.prefill.inverse())
            )
            .into(),
        ),
    ]);
    d.kv(rows);
    let mut table = Table::new(&["component", "bytes", "size", "detail"])
        .titled(format!("Memory breakdown{per_gpu}"))
        .numeric(&[1, 2]);
    let muted = |s: String| Cell::toned(s, Tone::Muted);
    for w in &r.memory.weights {
        table.row(vec![
            format!("weights: {}", w.component.name()).into(),
            w.bytes.to_string().into(),
            bytes(w.bytes).into(),
            muted(format!("{} params, {}", params(w.parameters), w.storage)),
        ]);
    }
    let kv = &r.memory.kv_cache;
    table.row(vec![
        "kv cache".into(),
        kv.bytes.to_string().into(),
        bytes(kv.bytes).into(),
        muted(kv.formula.clone()),
    ]);
    for a in &r.memory.activations {
        table.row(vec![
            format!("activations: {}", a.name).into(),
            a.bytes.to_string().into(),
            bytes(a.bytes).into(),
            muted(a.formula.clone()),
        ]);
    }
    for o in &r.memory.overhead {
        table.row(vec![
            format!("overhead: {}", o.name).into(),
            o.bytes.to_string().into(),
            bytes(o.bytes).into(),
            muted(o.formula.clone()),
        ]);
    }
    table.row(vec![
        Cell::toned("total", if r.fits { Tone::Good } else { Tone::Bad }),
        r.memory.total_bytes.to_string().into(),
        bytes(r.memory.total_bytes).into(),
        format!(
            "{}; weights {} + kv {} + activations {} (peak: {}) + overhead {}",
            bands::range(&r.bands.memory),
            bytes(r.memory.weights_bytes),
            bytes(r.memory.kv_cache_bytes),
            bytes(r.memory.activations_bytes),
            r.memory.activation_peak_phase.name(),
            bytes(r.memory.overhead_bytes)
        )
        .into(),
    ]);
    table.row(vec![
        "available".into(),
        r.memory.available_bytes.to_string().into(),
        bytes(r.memory.available_bytes).into(),
        muted(if r.memory.available_bytes == r.memory.visible_bytes {
            "what a CUDA program can allocate on this GPU".to_string()
        } else {
            format!("the runtime's share of {} allocatable", bytes(r.memory.visible_bytes))
        }),
    ]);
    d.table(table);
    super::engine::section(&mut d, &r.engine, r.context);
    if r.pipeline_parallel == Some(Pipeline::Dropped) {
        d.text("note: llama.cpp's compute buffers with pipeline parallelism (four copies of every graph input) do not fit a GPU: it logs \"compute buffer allocation failed, retrying without pipeline parallelism\" and reserves them with one copy, as shown");
    }
    d.text(bands::basis(&r.bands, r.runtime));
    if let Some(o) = &r.offload {
        super::offload::section(&mut d, o);
    }
    if let Some(v) = &r.vllm_offload {
        super::offload::vllm_section(&mut d, v);
    }
    for n in &r.notes {
        d.text(format!("note: {n}"));
    }
    d
}

pub fn compare(reports: &Vec<FitReport>) -> Doc {
    let mut d = Doc::default();
    if let Some(first) = reports.first() {
        d.heading(format!("{} models on {}", reports.len(), first.gpu_name));
        d.text(format!(
            "{} runtime, {} context, batch {}",
            first.runtime,
            tokens(first.context),
            first.batch
        ));
    }
    let band = |f: fn(&crate::plan::evidence::Bands) -> crate::plan::evidence::Band, name: &str| {
        reports
            .first()
            .map_or(name.to_string(), |r| format!("{name} ({})", bands::range(&f(&r.bands))))
    };
    let (total, decode, ttft) = (
        band(|b| b.memory, "total"),
        band(|b| b.decode, "decode tok/s"),
        // a time to first token is a prompt over the prefill rate: the band inverts
        band(|b| b.prefill.inverse(), "ttft"),
    );
    let mut t = Table::new(&[
        "model",
        "params",
        "active",
        "precision",
        "weights",
        "kv cache",
        &total,
        "fits",
        "max context",
        "max batch",
        &decode,
        &ttft,
    ])
    .numeric(&[1, 2, 4, 5, 6, 8, 9, 10, 11]);
    for r in reports {
        t.row(vec![
            r.model.clone().into(),
            params(r.params.total).into(),
            params(r.params.active).into(),
            r.precision.clone().into(),
            bytes(r.memory.weights_bytes).into(),
            bytes(r.memory.kv_cache_bytes).into(),
            bytes(r.memory.total_bytes).into(),
            if r.fits {
                Cell::toned("yes", Tone::Good)
            } else {
                Cell::toned("no", Tone::Bad)
            },
            r.max_context.map_or("-".into(), tokens).into(),
            r.max_batch.map_or("-".into(), |b| b.to_string()).into(),
            if r.fits {
                rate(r.throughput.decode_tokens_per_s)
            } else {
                "-".into()
            }
            .into(),
            if r.fits {
                seconds(r.throughput.ttft_s)
            } else {
                "-".into()
            }
            .into(),
        ]);
    }
    d.table(t);
    if let Some(first) = reports.first() {
        d.text(bands::basis(&first.bands, first.runtime));
    }
    d
}

/// How llama.cpp's `--fit` chose the context of a command without `-c` (common/fit.cpp).
fn context_fit(f: &FittedContext, slots: u64) -> Cell {
    let shared = if f.n_streams == 1 && slots > 1 {
        format!(", shared by {slots} slots (one unified KV cache)")
    } else if slots > 1 {
        format!(", {} per slot", tokens(f.n_ctx / slots.max(1)))
    } else {
        String::new()
    };
    let train = if f.n_streams > 1 {
        format!("{} per stream x {}", tokens(f.n_ctx_train), f.n_streams)
    } else {
        tokens(f.n_ctx_train)
    };
    let text = match f.outcome {
        FitOutcome::TrainingContext => format!(
            "n_ctx {}{shared}: -c not given, so llama.cpp takes the training context ({train}), which --fit keeps: {} projected of {} free leaves the {} margin",
            f.n_ctx,
            bytes(f.projected_bytes),
            bytes(f.free_bytes),
            bytes(f.margin_bytes)
        ),
        FitOutcome::Requested => format!("n_ctx {}{shared}: -c 0 asks for the training context ({train})", f.n_ctx),
        FitOutcome::Lowered => format!(
            "n_ctx {}{shared}: -c not given; the training context ({train}) would need {} of {} free, so --fit lowers it to leave {}",
            f.n_ctx,
            bytes(f.projected_bytes),
            bytes(f.free_bytes),
            bytes(f.margin_bytes)
        ),
        FitOutcome::AtMinimum => {
            return Cell::toned(
                format!(
                    "n_ctx {}{shared}: -c not given; --fit lowers the context to its minimum (--fit-ctx) and still leaves less than {} free, so llama.cpp would next move layers to the CPU (not modeled here)",
                    f.n_ctx,
                    bytes(f.margin_bytes)
                ),
                Tone::Bad,
            )
        }
    };
    text.into()
}
