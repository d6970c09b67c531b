//! llama.cpp CPU+GPU splits (`llamacpp_offload` evidence) against today's offload accounting
//! (`estimate::engine::offload`): model and KV buffers per device to the printed 0.01 MiB, the
//! graph splits of a one-token graph exactly, GPU compute buffers within 10% (the logs come from
//! older builds, whose graphs differ a little from the one replayed), and decode within the speed
//! model's ±25% where the host's RAM bandwidth is stated. A `CPU_Mapped` line per file of a split
//! GGUF is not checked: its span depends on where the file was cut, which the log does not say.
//!
//! The evidence's `settings` (as llama.cpp spells them) give the run; the placement rules are those
//! of the build the log came from (`-ngl` counted the output layer last before llama.cpp PR #18148,
//! December 2025; overrides to the CPU took the plain CPU type before PR #14990, July 2025), read
//! from the build number or the date.

use super::{gpu, model, printed, printed_on, Check, Evidence, Field, Figure, Loaded, Tolerance};
use crate::estimate::engine::llamacpp::backend::GpuBackend;
use crate::estimate::engine::llamacpp::{Entry, Flags, FlashAttn};
use crate::estimate::engine::offload::flags::{intern, OffloadFlags, TensorOverride};
use crate::estimate::engine::offload::placement::{CpuOverride, NglRule, Rules};
use crate::estimate::engine::offload::speed::{self, HYBRID};
use crate::estimate::engine::offload::{self, HostBuffer};
use crate::estimate::engine::{EngineId, Settings};
use crate::estimate::{ModelFacts, Prepared, WeightFacts};
use crate::plan::Options;
use crate::spec::gpu::MIB;
use crate::spec::{Catalog, Format, KvPrecision};
use serde_json::Value;

/// llama.cpp prints MiB with two decimals.
const PRINTED_MIB: f64 = 0.01;
/// Compute buffers of the older builds' graphs.
pub const COMPUTE_TOLERANCE: f64 = 0.10;

/// The build number in a version string ("b5274 (d541533a)", "5466"), when there is one.
fn build_number(version: &str) -> Option<u64> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u64>().ok())
        .find(|&n| (1000..100_000).contains(&n))
}

/// The placement rules of the build an evidence file came from: its build number, else its date;
/// neither (the files of 2024-2025 without one) the rules before both changes.
pub fn rules_of(e: &Evidence) -> Rules {
    let build = e.engine.version.as_deref().and_then(build_number);
    let date = e.source.date.as_deref().unwrap_or("");
    let after = |b: u64, d: &str| build.map_or(!date.is_empty() && date >= d, |n| n >= b);
    Rules {
        // PR #18148 merged 2025-12-18, after b7400
        ngl: if after(7500, "2025-12-18") {
            NglRule::OutputFirst
        } else {
            NglRule::OutputLast
        },
        // PR #14990 merged 2025-07-31, around b6060
        cpu_override: if after(6070, "2025-08-01") {
            CpuOverride::HostList
        } else {
            CpuOverride::PlainCpu
        },
        kquant_gather: after(10_000, "2026-07-01"),
        // the published logs are CUDA runs
        backend: GpuBackend::Cuda,
    }
}

fn setting<'a>(e: &'a Evidence, key: &str) -> Option<&'a Value> {
    e.settings.get(key)
}

fn int(e: &Evidence, key: &str) -> Option<u64> {
    setting(e, key).and_then(Value::as_u64)
}

fn flag(e: &Evidence, key: &str) -> bool {
    setting(e, key).and_then(Value::as_bool).unwrap_or(false)
}

fn kv_type(e: &Evidence, key: &str) -> Result<Option<KvPrecision>, String> {
    match setting(e, key).and_then(Value::as_str) {
        None => Ok(None),
        Some(t) => KvPrecision::parse(t)
            .map(Some)
            .ok_or_else(|| format!("settings.{key}: unknown cache type `{t}`")),
    }
}

/// llama.cpp's flags from the evidence's settings.
fn flags(e: &Evidence) -> Result<Flags, String> {
    let patterns: Vec<String> = match setting(e, "override_tensor") {
        None => vec![],
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(_) => return Err("settings.override_tensor: a string or a list of strings".into()),
    };
    let mut overrides = Vec::new();
    for p in &patterns {
        overrides.extend(TensorOverride::parse_list(p).map_err(|e| format!("settings.override_tensor: {e}"))?);
    }
    // llama-server reserves one row of logits per slot; llama-bench, llama-cli, llama-sweep-bench
    // and the library the whole batch
    let program = e.command.as_deref().unwrap_or("");
    let entry = if program.contains("llama-server") || program.contains("ollama") {
        Entry::Server
    } else {
        Entry::Library
    };
    let mmap = setting(e, "mmap")
        .and_then(Value::as_bool)
        .unwrap_or(!flag(e, "no_mmap"));
    Ok(Flags {
        batch_size: int(e, "batch_size"),
        ubatch_size: int(e, "ubatch_size"),
        flash_attn: setting(e, "flash_attn").and_then(Value::as_str).map(|f| match f {
            "on" => FlashAttn::On,
            "off" => FlashAttn::Off,
            _ => FlashAttn::Auto,
        }),
        cache_type_k: kv_type(e, "cache_type_k")?,
        cache_type_v: kv_type(e, "cache_type_v")?,
        n_gpu_layers: int(e, "n_gpu_layers"),
        no_mmap: !mmap,
        entry,
        offload: OffloadFlags {
            overrides: intern(overrides)?,
            cpu_moe: flag(e, "cpu_moe"),
            n_cpu_moe: int(e, "n_cpu_moe").unwrap_or(0),
            ..OffloadFlags::default()
        },
        ..Flags::default()
    })
}

pub fn check(f: &Loaded, catalog: &Catalog) -> Result<Vec<Check>, String> {
    let e = &f.evidence;
    let model = model(f, catalog)?;
    let gpu = gpu(f, catalog)?;
    let gpus = e.gpu.as_ref().map_or(1, |g| g.count.max(1)) as usize;
    let precision = e.model.precision.as_deref().ok_or("names no precision")?;
    let format = Format::parse(precision).ok_or_else(|| format!("unknown precision `{precision}`"))?;
    let slots = int(e, "parallel").unwrap_or(1).max(1);
    let context = match int(e, "ctx_size") {
        Some(0) | None => model.max_context,
        Some(c) => c / slots,
    };
    let mut opts = Options {
        precision: Some(format),
        runtime: Some(EngineId::LlamaCpp.profile()),
        batch: slots,
        context: Some(context),
        ..Options::default()
    };
    opts.engine.llamacpp = flags(e)?;
    let setup = opts.setup(&model);
    let facts = ModelFacts::new(&model);
    let weights = WeightFacts::new(&model, &facts, format, 1);
    let p = Prepared::new(setup, &gpu, &facts, &weights);
    let Settings::LlamaCpp(s) = p.settings else {
        return Err("not a llama.cpp setup".into());
    };
    let split = offload::split(&p, &s, gpus, context, slots, &rules_of(e));
    let mut checks = vec![];
    let mut push = |figure: Figure, predicted: f64, printed: Option<f64>, tolerance| {
        if let Some(printed) = printed {
            checks.push(Check {
                evidence: e.id.clone(),
                figure,
                predicted,
                printed,
                tolerance,
            });
        }
    };
    let mib = |b: u64| b as f64 / MIB as f64;
    for g in &split.gpus {
        let d = g.device.as_str();
        for (field, bytes, tolerance) in [
            (
                Field::ModelBufferMib,
                g.model_buffer_bytes,
                Tolerance::Absolute(PRINTED_MIB),
            ),
            (Field::KvBufferMib, g.kv_buffer_bytes, Tolerance::Absolute(PRINTED_MIB)),
            (
                Field::ComputeBufferMib,
                g.compute_buffer_bytes,
                Tolerance::Relative(COMPUTE_TOLERANCE),
            ),
        ] {
            let figure = Figure::on(field, d);
            let printed = printed_on(f, &figure);
            push(figure, mib(bytes), printed, tolerance);
        }
    }
    for buffer in [HostBuffer::CpuMapped, HostBuffer::CudaHost, HostBuffer::Cpu] {
        let predicted = split.host.model_buffer_bytes.get(&buffer).copied().unwrap_or(0);
        // a number: one file; a list (one span per file of a split GGUF) is not checked
        let figure = Figure::on(Field::ModelBufferMib, buffer.name());
        let printed = printed_on(f, &figure);
        push(figure, mib(predicted), printed, Tolerance::Absolute(PRINTED_MIB));
    }
    let host_kv = Figure::on(Field::KvBufferMib, "CPU");
    let printed_kv = printed_on(f, &host_kv);
    push(
        host_kv,
        mib(split.host.kv_buffer_bytes),
        printed_kv,
        Tolerance::Absolute(PRINTED_MIB),
    );
    push(
        Figure::whole(Field::GraphSplitsBs1),
        split.graph_splits_token as f64,
        printed(f, Field::GraphSplitsBs1.key()),
        Tolerance::Absolute(0.0),
    );
    let host_gbps = e
        .host
        .as_ref()
        .and_then(|h| h.get("bandwidth_gbps"))
        .and_then(Value::as_f64);
    if let Some(bw) = host_gbps {
        let rt = p.setup.runtime;
        if let Some(d) = speed::decode(
            &split.decode,
            p.gpu.bandwidth_gbps,
            rt.memory_efficiency,
            rt.step_overhead_s,
            Some(bw),
            &HYBRID,
        ) {
            push(
                Figure::whole(Field::DecodeTps),
                d.tokens_per_s,
                printed(f, Field::DecodeTps.key()),
                Tolerance::Relative(HYBRID.error_band),
            );
        }
    }
    Ok(checks)
}
