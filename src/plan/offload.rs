//! CPU offload with llama.cpp: a model split between GPUs and the host RAM, either as the user's
//! flags place it (`-ngl`, `--n-cpu-moe`, `-ot`, ...) or as the search chooses when the model does
//! not fit the GPUs whole. What each device holds, whether the host's RAM takes its share, the
//! decode and prompt speed with the side that bounds them, and the command that runs it.

use super::Options;
use crate::estimate::engine::llamacpp::{self, Settings};
use crate::estimate::engine::offload::solve::{self, Knob, Search};
use crate::estimate::engine::offload::speed::{self, Decode, Prefill, HYBRID};
use crate::estimate::engine::offload::{self, Split, MODELED};
use crate::estimate::engine::vllm::{self, CpuOffload};
use crate::estimate::engine::{command, EngineId};
use crate::estimate::speed::vllm as speed_vllm;
use crate::estimate::{throughput, ModelFacts, Prepared, WeightFacts};
use crate::spec::host::{Host, Pcie};
use crate::spec::{GpuSpec, ModelSpec};
use serde::Serialize;

/// Who chose the split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Chosen {
    /// the user's placement flags
    Flags,
    /// the search, because the model does not fit the GPUs whole
    Search,
}

/// The host's side of the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostVerdict {
    pub id: String,
    pub name: String,
    /// RAM the split needs (weights kept on the host, KV, compute and output buffers)
    pub needed_bytes: u64,
    pub usable_bytes: u64,
    pub fits: bool,
    /// the RAM's peak bandwidth, when known
    pub bandwidth_gbps: Option<f64>,
}

/// Why a speed is missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum NoSpeed {
    /// the host's RAM bandwidth is unknown
    UnknownHostBandwidth { why: String },
    /// no host was given (`--host`)
    NoHost,
    /// the CPU computes its share of a prompt (op offload off or ubatch under 32 tokens)
    HostCompute,
}

/// The offload answer for one (model, GPUs, host, context, batch).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OffloadReport {
    pub chosen: Chosen,
    /// equal GPUs the model is split over (llama.cpp's layer split)
    pub gpus: u64,
    pub split: Split,
    /// every GPU and the host take their share
    pub fits: bool,
    pub host: Option<HostVerdict>,
    pub decode: Option<Decode>,
    pub prefill: Option<Prefill>,
    /// why `decode` or `prefill` is missing
    pub no_speed: Vec<NoSpeed>,
    /// the PCIe link the prompt's weight copies cross (generation, lanes)
    pub link: Option<Pcie>,
    /// the split search (when gpuplan chose the split): one row per `--n-cpu-moe` or `-ngl` value
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<Search>,
    /// `llama-server` with the split's flags
    pub command: String,
    /// the speed model's constants and where they come from
    pub profile: &'static speed::HybridProfile,
}

/// The PCIe link between the host and the GPU: the slot and the card negotiate the lower generation
/// and width; one side unknown: the other's; both unknown: None.
pub fn link(host: Option<&Host>, gpu: &GpuSpec) -> Option<Pcie> {
    Pcie::between(
        host.and_then(|h| h.pcie),
        gpu.host_interface.as_deref().and_then(Pcie::parse),
    )
}

/// Whether `opts` asks for a split through llama.cpp's own flags.
pub fn flags_split(opts: &Options) -> bool {
    let l = &opts.engine.llamacpp;
    l.offload.has_overrides() || l.n_gpu_layers.is_some() || l.offload.no_kv_offload
}

/// The offload report for `model` on `gpus` x `gpu` and `opts.host`: the user's split when they gave
/// placement flags, else the search's when the model does not fit whole (`fits_whole` false) and a
/// host is known. None otherwise, and for engines other than llama.cpp.
pub fn offload(model: &ModelSpec, gpu: &GpuSpec, opts: &Options, fits_whole: bool) -> Option<OffloadReport> {
    let one = Options {
        gpus: 1,
        pipeline: 1,
        ..*opts
    };
    let setup = one.setup(model);
    if setup.runtime.id != EngineId::LlamaCpp || !llamacpp::weights::is_gguf(setup.format) {
        return None;
    }
    let by_flags = flags_split(opts);
    let gpus = (opts.gpus.max(1) * opts.pipeline.max(1)) as usize;
    if !by_flags && (fits_whole || opts.host.is_none()) {
        return None;
    }
    let facts = ModelFacts::new(model);
    let weights = WeightFacts::new(model, &facts, setup.format, 1);
    let p = Prepared::new(setup, gpu, &facts, &weights);
    let crate::estimate::engine::Settings::LlamaCpp(s) = p.settings else {
        return None;
    };
    let context = opts.context_for(model);
    let batch = opts.batch.max(1);
    let host = opts.host;
    let (chosen, settings, search) = if by_flags {
        (Chosen::Flags, s, None)
    } else {
        let query = solve::Query {
            gpus,
            context,
            batch,
            host: host.map(|h| h as &Host),
        };
        let found = solve::search(&p, &s, &query, &MODELED, &HYBRID);
        let knob = found.best_row().map_or(Knob::Experts { n_cpu_moe: 0 }, |r| r.knob);
        (Chosen::Search, knob.apply(&s), Some(found))
    };
    Some(report(&p, &settings, gpus, context, batch, host, chosen, search))
}

#[allow(clippy::too_many_arguments)]
fn report(
    p: &Prepared,
    s: &Settings,
    gpus: usize,
    context: u64,
    batch: u64,
    host: Option<&'static Host>,
    chosen: Chosen,
    search: Option<Search>,
) -> OffloadReport {
    let split = offload::split(p, s, gpus, context, batch, &MODELED);
    let gpus_fit = split.gpus.iter().all(|g| g.total_bytes <= p.budget) && split.unknown_gpu.is_none();
    let verdict = host.map(|h| HostVerdict {
        id: h.id.clone(),
        name: h.name.clone(),
        needed_bytes: split.host.total_bytes,
        usable_bytes: h.usable_bytes(),
        fits: split.host.total_bytes <= h.usable_bytes(),
        bandwidth_gbps: h.bandwidth_gbps(),
    });
    let mut no_speed = Vec::new();
    let rt = p.setup.runtime;
    let host_gbps = host.and_then(Host::bandwidth_gbps);
    let decode = speed::decode(
        &split.decode,
        p.gpu.bandwidth_gbps,
        rt.memory_efficiency,
        rt.step_overhead_s,
        host_gbps,
        &HYBRID,
    );
    if decode.is_none() {
        no_speed.push(match host.map(|h| &h.bandwidth) {
            Some(crate::spec::host::Bandwidth::Unknown { why }) => NoSpeed::UnknownHostBandwidth { why: why.clone() },
            _ => NoSpeed::NoHost,
        });
    }
    let link = link(host, p.gpu);
    let ubatch = s.ubatch_size.min(context * batch).max(1);
    let gpu_s = throughput::prefill_s(p, ubatch, 1);
    let link_gbps = link.unwrap_or(Pcie::COMMON).peak_gbps();
    let prefill = speed::prefill(
        ubatch,
        gpu_s,
        split.ubatch_copy_bytes,
        link_gbps,
        !s.offload.no_op_offload,
        &HYBRID,
    );
    if prefill.tokens_per_s.is_none() {
        no_speed.push(NoSpeed::HostCompute);
    }
    let fits = gpus_fit && verdict.as_ref().is_none_or(|v| v.fits);
    let command = command::emit_llamacpp(p, s, context, batch);
    // the search's rows reuse two representative replays; the chosen one is now placed and replayed
    // in full, so its row shows the same figures as the verdict
    let search = search.map(|mut found| {
        if let Some(row) = found.best.and_then(|i| found.rows.get_mut(i)) {
            row.gpu_bytes = split.gpus.iter().map(|g| g.total_bytes).max().unwrap_or(0);
            row.host_bytes = split.host.total_bytes;
            row.decode = decode;
        }
        found
    });
    OffloadReport {
        chosen,
        gpus: gpus as u64,
        fits,
        host: verdict,
        decode,
        prefill: Some(prefill),
        no_speed,
        link,
        search,
        command,
        profile: &HYBRID,
        split,
    }
}

/// vLLM's `--cpu-offload-gb` for one setup (docs/engines/vllm.md, "CPU offload"): what each GPU
/// moved to pinned host memory, whether the host's RAM holds every rank's share, and what a decode
/// step pays to read it over PCIe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VllmOffload {
    /// the GPU `memory` describes (the heaviest pipeline stage)
    pub per_gpu: CpuOffload,
    /// pinned host memory of every GPU of the replica together (each rank pins its own share)
    pub pinned_bytes: u64,
    pub host: Option<HostVerdict>,
    /// the link the offloaded weights cross; `link_known` false: taken as PCIe 4.0 x16
    pub link: Pcie,
    pub link_known: bool,
    /// bytes one decode step at the batch reads over PCIe on that GPU, and the seconds it takes
    pub step_pcie_bytes: u64,
    pub step_pcie_s: f64,
    /// false: no published vLLM run with `--cpu-offload-gb` checks these figures
    pub validated: bool,
}

/// The offload report when vLLM runs with `--cpu-offload-gb` > 0 (None otherwise): `stages` are
/// the replica's, `heaviest` the one `memory` shows.
pub fn vllm_offload(stages: &[Prepared], heaviest: usize, host: Option<&Host>, batch: u64) -> Option<VllmOffload> {
    let p = stages.get(heaviest)?;
    let crate::estimate::engine::Settings::Vllm(s) = p.settings else {
        return None;
    };
    let per_gpu = vllm::offload::cpu_offload(p, &s)?;
    let pinned_bytes = stages
        .iter()
        .filter_map(|q| match q.settings {
            crate::estimate::engine::Settings::Vllm(t) => vllm::offload::cpu_offload(q, &t),
            _ => None,
        })
        .map(|o| o.pinned_bytes * p.setup.tp.max(1))
        .sum();
    let host = host.map(|h| HostVerdict {
        id: h.id.clone(),
        name: h.name.clone(),
        needed_bytes: pinned_bytes,
        usable_bytes: h.usable_bytes(),
        fits: pinned_bytes <= h.usable_bytes(),
        bandwidth_gbps: h.bandwidth_gbps(),
    });
    let (_, touched) = crate::estimate::speed::decode_weight_bytes(p, batch.max(1));
    let step_pcie_bytes = speed_vllm::host_read_bytes(p, &per_gpu, touched);
    let link = speed_vllm::link(&s);
    Some(VllmOffload {
        per_gpu,
        pinned_bytes,
        host,
        link,
        link_known: s.link.is_some(),
        step_pcie_bytes,
        step_pcie_s: step_pcie_bytes as f64 / (link.peak_gbps() * 1e9)
            * speed_vllm::coefficient(speed_vllm::Coef::PcieRead),
        validated: false,
    })
}
