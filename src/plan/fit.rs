//! `gpuplan fit`: does a model fit a GPU at a context and batch, with the itemized breakdown, the
//! largest context and batch that fit, and the throughput to expect.

use super::evidence::Bands;
use super::layout::{self, Layout, Replica, Stages};
use super::offload::{Chosen, OffloadReport, VllmOffload};
use super::Options;
use crate::estimate::engine::llamacpp::fit::{self as llamacpp_fit, FittedContext};
use crate::estimate::engine::offload::Pipeline;
use crate::estimate::engine::Settings;
use crate::estimate::{EngineId, EngineReport, Memory, Prepared, Throughput};
use crate::spec::{GpuSpec, ModelSpec};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Params {
    pub total: u64,
    pub active: u64,
    /// derived tensor by tensor (false: a summary spec's declared counts; a coarser estimate)
    pub exact: bool,
}

/// The answer to `fit`, and its JSON contract (bytes are integers; per GPU when `gpus` > 1 or
/// `pipeline` > 1: with pipeline stages, `memory` is the heaviest stage's).
#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    pub model: String,
    pub model_name: String,
    pub gpu: String,
    pub gpu_name: String,
    pub precision: String,
    pub kv_precision: String,
    pub runtime: EngineId,
    pub context: u64,
    /// how llama.cpp's `--fit` chose `context` (a pasted llama.cpp command without `-c`)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_fit: Option<FittedContext>,
    pub batch: u64,
    /// tensor-parallel GPUs per stage (`--gpus`); 1 on llama.cpp, which splits layers instead
    pub gpus: u64,
    /// pipeline stages (`--pipeline`); on llama.cpp the GPUs its layers are split over (`--gpus`
    /// x `--pipeline`)
    pub pipeline: u64,
    /// gpus x pipeline
    pub total_gpus: u64,
    /// the stage `memory` describes (0-based; 0 without pipeline parallelism)
    pub memory_stage: u64,
    /// llama.cpp's pipeline parallelism when it splits the layers over several GPUs: `dropped` when
    /// its four-copy compute buffers do not fit and it retries with one copy (the figures are then
    /// those of one copy)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_parallel: Option<Pipeline>,
    /// the fewest GPUs on which this context and batch fit (any tensor/pipeline layout up to
    /// `layout::MAX_GPUS`); None when none does
    pub smallest_layout: Option<Layout>,
    pub images: u64,
    pub image_tokens: u64,
    /// the engine starts and the sequences fit (per GPU; every stage)
    pub fits: bool,
    /// available - total, per GPU (negative: short by that much)
    pub headroom_bytes: i64,
    pub params: Params,
    pub memory: Memory,
    /// largest context that fits at this batch (None: not even one token)
    pub max_context: Option<u64>,
    /// largest batch that fits at this context (searched up to 4096)
    pub max_batch: Option<u64>,
    pub throughput: Throughput,
    /// what the engine itself would do and print for the heaviest stage, and its command
    pub engine: EngineReport,
    /// how far the memory and speed figures may be off (the runtime profile's)
    pub bands: Bands,
    /// llama.cpp split between the GPUs and the host RAM: the user's placement flags, or the split
    /// gpuplan chose when the model does not fit whole and a host is given (`--host`)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offload: Option<OffloadReport>,
    /// vLLM `--cpu-offload-gb`: the weights each GPU keeps in pinned host memory, the host's RAM
    /// for all of them, and the PCIe read per step
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vllm_offload: Option<VllmOffload>,
    pub notes: Vec<String>,
}

pub const MAX_BATCH_SEARCHED: u64 = 4096;

pub fn fit(model: &ModelSpec, gpu: &GpuSpec, opts: &Options) -> FitReport {
    let asked = Layout {
        tp: opts.gpus.max(1),
        pp: opts.pipeline.max(1),
    };
    let replica = Replica::new(model, gpu, opts, asked);
    let stages = replica.stages();
    let setup = *replica.setup();
    let facts = replica.facts();
    let p = stages.first();
    let batch = opts.batch.max(1);
    let context_fit = match (opts.context_fit, &p.settings) {
        (Some(f), Settings::LlamaCpp(s)) => Some(llamacpp_fit::fitted_context(p, s, batch, f)),
        _ => None,
    };
    let context = context_fit.map_or_else(|| opts.context_for(model), |f| f.per_slot(batch));
    let (memory_stage, memory) = stages.heaviest(context, batch);
    let engine = stages.all()[memory_stage as usize].engine_report(context, batch);
    let fits = stages.fits(context, batch) && engine.starts;
    let mut notes = setup_notes(model, opts, &replica, &stages, context, memory_stage);
    let smallest_layout = if fits && replica.layout.gpus() == 1 {
        Some(Layout::SINGLE)
    } else {
        layout::smallest(model, gpu, opts, context, batch, layout::MAX_GPUS)
    };
    let throughput = stages.throughput(context, batch);
    let offload = super::offload::offload(model, gpu, opts, fits);
    // the user's own split decides: every GPU and the host must take their share
    let fits = match &offload {
        Some(o) if o.chosen == Chosen::Flags => o.fits,
        _ => fits,
    };
    let vllm_offload =
        super::offload::vllm_offload(stages.all(), memory_stage as usize, opts.host.map(|h| h as _), batch);
    let mut bands = super::evidence::bands(setup.runtime, Some(gpu));
    if let Some(v) = &vllm_offload {
        notes.extend(vllm_offload_notes(v));
        bands.decode = super::evidence::STATED_BANDS.decode;
        bands.prefill = super::evidence::STATED_BANDS.prefill;
    }
    let fits = fits
        && vllm_offload
            .as_ref()
            .and_then(|v| v.host.as_ref())
            .is_none_or(|h| h.fits);
    if offload.is_none() && !fits && opts.host.is_none() && setup.runtime.id == EngineId::LlamaCpp {
        notes.push("llama.cpp can keep part of the model in system RAM: give the host (--host ID, or --host-memory and --host-bandwidth) to plan the split".into());
    }
    FitReport {
        model: model.id.clone(),
        model_name: model.name.clone(),
        gpu: gpu.id.clone(),
        gpu_name: gpu.name.clone(),
        precision: setup.format.id.to_string(),
        kv_precision: setup.kv.label().to_string(),
        runtime: setup.runtime.id,
        context,
        context_fit,
        batch,
        gpus: setup.tp,
        pipeline: replica.layout.pp,
        total_gpus: replica.layout.gpus(),
        memory_stage,
        pipeline_parallel: stages.pipeline_parallel(context, batch),
        smallest_layout,
        images: opts.images,
        image_tokens: p.image_tokens,
        fits,
        headroom_bytes: headroom(memory.available_bytes, memory.total_bytes),
        params: Params {
            total: facts.parameters,
            active: facts.active_parameters,
            exact: facts.exact,
        },
        max_context: stages.max_context(batch),
        max_batch: stages.max_batch(context, MAX_BATCH_SEARCHED),
        throughput,
        bands,
        memory,
        engine,
        offload,
        vllm_offload,
        notes,
    }
}

/// What the reader should know about the setup itself: a coarse spec, a context past the model's,
/// an uncalibrated speed, images not counted, MoE reads, and a pipeline (how it was split, or that
/// it could not be).
fn setup_notes(
    model: &ModelSpec,
    opts: &Options,
    replica: &Replica,
    stages: &Stages,
    context: u64,
    memory_stage: u64,
) -> Vec<String> {
    let setup = replica.setup();
    let facts = replica.facts();
    let p = stages.first();
    let mut notes = Vec::new();
    if !facts.exact {
        notes.push(
            "summary-level spec: weights from the declared parameter count, activations from a guessed shape (coarse)"
                .into(),
        );
    }
    if context > model.max_context {
        notes.push(format!(
            "context {context} exceeds the model's maximum {}",
            model.max_context
        ));
    }
    if !throughput_calibrated(p) {
        notes.push(format!(
            "throughput is an uncalibrated roofline estimate for the {} profile",
            setup.runtime.id
        ));
    }
    if model.vision.is_some() && opts.images == 0 {
        notes.push("no images counted: add --images N for image tokens and the encoder's activations".into());
    }
    if model.is_moe() {
        notes.push(
            "MoE: memory holds every expert; decode reads only the experts a batch touches, E(1-(1-k/E)^B) per layer"
                .into(),
        );
    }
    if opts.pipeline.max(1) > replica.layout.pp {
        notes.push(format!(
            "{} cannot be split into {} pipeline stages (summary spec or too few layers): estimated unsplit",
            model.id,
            opts.pipeline.max(1)
        ));
    }
    if replica.layout.pp > 1 && setup.runtime.id != EngineId::LlamaCpp {
        notes.push(format!(
            "pipeline: {} stages of {} layers; memory shown for the heaviest (stage {}); one token passes every stage in turn",
            replica.layout.pp,
            stages.all().iter().map(|s| s.stage.layers.to_string()).collect::<Vec<_>>().join("/"),
            memory_stage
        ));
    }
    notes
}

/// vLLM `--cpu-offload-gb` in words: what moves, over which link, and what is not checked.
fn vllm_offload_notes(v: &VllmOffload) -> Vec<String> {
    let mut out = Vec::new();
    let o = &v.per_gpu;
    out.push(format!(
        "vLLM --cpu-offload-gb: {} parameter(s) of the decoder layers per GPU ({} whole layer(s){}) live in pinned host memory and are read over PCIe {}.0 x{} in every step{}; no published run checks this, so the speed band is the stated one",
        o.parameters,
        o.whole_layers,
        if o.split_layer { " and part of the next" } else { "" },
        v.link.generation,
        v.link.lanes,
        if v.link_known { "" } else { " (link unknown: taken as PCIe 4.0 x16)" },
    ));
    if o.exceeds_layers() {
        out.push(format!(
            "--cpu-offload-gb exceeds the decoder layers' {} bytes on this GPU: vLLM moves all of them and leaves the rest of the budget unused (the embedding and LM head stay on the GPU)",
            o.offloadable_bytes
        ));
    }
    if v.host.is_none() {
        out.push("give the host (--host ID, or --host-memory) to check its RAM against the pinned weights".into());
    }
    out
}

/// available − total as a signed byte count, clamped to i64 (a saturated total stays negative).
pub fn headroom(available: u64, total: u64) -> i64 {
    (i128::from(available) - i128::from(total)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn throughput_calibrated(p: &Prepared) -> bool {
    crate::estimate::speed::calibrated_from(p.setup.runtime).is_some()
}
