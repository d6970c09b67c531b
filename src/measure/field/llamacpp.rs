//! llama.cpp start-up buffers against today's llama.cpp accounting (`estimate::engine::llamacpp`):
//! model and KV buffers exact to the printed 0.01 MiB, the compute buffer within 5%, the output
//! buffer exact.
//!
//! A record's `settings` give the context as llama.cpp was asked for it (`ctx_size`, `parallel`,
//! `kv_unified`, ...); the model comes from the catalog or, for architectures gpuplan's catalog does
//! not have (Qwen3, Qwen3-MoE, gpt-oss), from the stored config.json read as llama.cpp reads the
//! GGUF header (the model buffers then cannot be sized). The compute and output buffers depend on
//! the build's graph: they are checked where the record says the build reserves `n_outputs_max`
//! rows of logits (llama.cpp PR #23861, mid-2026, the graph modeled) and reported otherwise.

use super::{model as spec_of, printed_on, Check, Loaded, Tolerance};
use crate::estimate::arch::inventory;
use crate::estimate::engine::llamacpp::compute::Devices;
use crate::estimate::engine::llamacpp::context::Params;
use crate::estimate::engine::llamacpp::ggml::Type;
use crate::estimate::engine::llamacpp::model::{Experts, Family, Model, Window};
use crate::estimate::engine::llamacpp::{self as engine, weights, Buffers};
use crate::spec::gpu::MIB;
use crate::spec::{Catalog, Format, KvPrecision};
use serde_json::Value;
use std::path::Path;

/// The compute buffer's target (issue 9).
pub const COMPUTE_TOLERANCE: f64 = 0.05;
/// llama.cpp prints MiB with two decimals.
pub const PRINTED_MIB: f64 = 0.01;

/// Reads one setting of the record.
fn setting<'a>(f: &'a Loaded, key: &str) -> Option<&'a Value> {
    f.evidence.settings.get(key)
}

fn setting_u64(f: &Loaded, key: &str) -> Option<u64> {
    setting(f, key).and_then(Value::as_u64)
}

fn setting_bool(f: &Loaded, key: &str) -> Option<bool> {
    setting(f, key).and_then(Value::as_bool)
}

fn cache_type(f: &Loaded, key: &str) -> Result<Type, String> {
    let Some(v) = setting(f, key).and_then(Value::as_str) else {
        return Ok(Type::F16);
    };
    KvPrecision::parse(v)
        .and_then(engine::cache_type)
        .ok_or_else(|| format!("settings.{key}: `{v}` is not a llama.cpp cache type"))
}

/// The context parameters a record's settings give, with llama-server's defaults for what it does
/// not state (`n_batch` 2048, `n_ubatch` 512, one slot, flash attention on). None when the record
/// does not give the context size.
fn params(f: &Loaded) -> Result<Option<Params>, String> {
    let Some(n_ctx) = setting_u64(f, "ctx_size") else {
        return Ok(None);
    };
    let flash_attn = !matches!(setting(f, "flash_attn").and_then(Value::as_str), Some("off"));
    Ok(Some(Params {
        n_ctx,
        n_batch: setting_u64(f, "batch_size").unwrap_or(2048),
        n_ubatch: setting_u64(f, "ubatch_size").unwrap_or(512),
        n_seq_max: setting_u64(f, "parallel").unwrap_or(1),
        kv_unified: setting_bool(f, "kv_unified").unwrap_or(false),
        swa_full: setting_bool(f, "swa_full").unwrap_or(false),
        // 0 is the library's default: n_batch rows
        n_outputs_max: setting_u64(f, "n_outputs_max").filter(|&n| n > 0),
        flash_attn,
        type_k: cache_type(f, "cache_type_k")?,
        type_v: cache_type(f, "cache_type_v")?,
    }))
}

fn usize_key(c: &Value, key: &str) -> Option<u64> {
    c.get(key).and_then(Value::as_u64)
}

/// llama.cpp's model for a Hugging Face config.json of an architecture gpuplan's catalog does not
/// have: the hyper-parameters `convert_hf_to_gguf.py` writes into the GGUF header.
pub fn model_from_config(c: &Value) -> Result<Model, String> {
    let key = |k: &str| usize_key(c, k).ok_or_else(|| format!("config.json has no `{k}`"));
    let family = match c.get("model_type").and_then(Value::as_str) {
        Some("qwen3") => Family::Qwen3,
        Some("qwen3_moe") => Family::Qwen3Moe,
        Some("gpt_oss") => Family::GptOss,
        other => {
            return Err(format!(
                "model_type {other:?} is not a llama.cpp graph gpuplan replays from a config"
            ))
        }
    };
    let experts = match family {
        Family::Qwen3Moe => Some(Experts {
            count: key("num_experts")?,
            used: key("num_experts_per_tok")?,
            ff: key("moe_intermediate_size")?,
            shared_ff: None,
        }),
        Family::GptOss => Some(Experts {
            count: key("num_local_experts")?,
            used: key("num_experts_per_tok")?,
            ff: key("intermediate_size")?,
            shared_ff: None,
        }),
        _ => None,
    };
    // gpt-oss alternates sliding and full attention, the sliding layer first
    let window = match family {
        Family::GptOss => Some(Window {
            size: key("sliding_window")?,
            pattern: 2,
        }),
        _ => None,
    };
    let n_head = key("num_attention_heads")?;
    let n_embd = key("hidden_size")?;
    Ok(Model {
        family,
        n_embd,
        n_layer: key("num_hidden_layers")?,
        n_head,
        n_head_kv: usize_key(c, "num_key_value_heads").unwrap_or(n_head),
        head_dim: usize_key(c, "head_dim").unwrap_or(n_embd / n_head.max(1)),
        n_ff: key("intermediate_size")?,
        n_vocab: key("vocab_size")?,
        window,
        experts,
    })
}

/// What the record's model is to llama.cpp, and its weight tensors when gpuplan can list them.
struct Resolved {
    model: Model,
    /// the file's tensors (catalog models in a GGUF format)
    tensors: Option<Vec<weights::Tensor>>,
    weight_type: Box<dyn Fn(crate::estimate::engine::llamacpp::graph::Weight, Option<u64>) -> Type>,
}

fn resolve(f: &Loaded, catalog: &Catalog) -> Result<Resolved, String> {
    match spec_of(f, catalog) {
        Ok(spec) => {
            let a = spec
                .architecture
                .clone()
                .ok_or("the model has no architecture-level spec")?;
            let (model, exact) = weights::model(&a);
            if !exact {
                return Err(format!(
                    "{}: gpuplan does not replay this architecture's graph",
                    spec.id
                ));
            }
            let format = f.evidence.model.precision.as_deref().and_then(Format::parse);
            let inv = inventory(&spec);
            let tensors = format.and_then(|fmt| weights::tensors(&inv, &weights::Layout::of(&a), fmt));
            let gguf = inv.gguf;
            let weight_type: Box<dyn Fn(_, _) -> Type> = match format {
                Some(fmt) => Box::new(move |w, l| weights::weight_type(fmt, &gguf, &model, w, l)),
                None => Box::new(|_, _| Type::F16),
            };
            Ok(Resolved {
                model,
                tensors,
                weight_type,
            })
        }
        Err(why) => {
            let config = f.evidence.model.config.as_ref().ok_or(why)?;
            let dir = f.path.parent().unwrap_or(Path::new("."));
            let text = std::fs::read_to_string(dir.join(config)).map_err(|e| format!("{config}: {e}"))?;
            let c: Value = serde_json::from_str(&text).map_err(|e| format!("{config}: line {}: {e}", e.line()))?;
            Ok(Resolved {
                model: model_from_config(&c).map_err(|e| format!("{config}: {e}"))?,
                tensors: None,
                weight_type: Box::new(|_, _| Type::F16),
            })
        }
    }
}

/// The GPU's name in the printed maps (`CUDA0`, `ROCm0`), or None for a CPU-only run.
fn gpu_key(f: &Loaded) -> Option<String> {
    ["model_buffer_mib", "kv_buffer_mib", "compute_buffer_mib"]
        .iter()
        .filter_map(|k| f.evidence.printed.get(*k).and_then(Value::as_object))
        .flat_map(|m| m.keys())
        .find(|k| (k.starts_with("CUDA") && !k.starts_with("CUDA_Host")) || k.starts_with("ROCm"))
        .cloned()
}

/// Checked and reported comparisons of one record.
#[derive(Default)]
struct Comparisons {
    checked: Vec<Check>,
    reported: Vec<Check>,
}

impl Comparisons {
    fn add(&mut self, f: &Loaded, figure: &str, device: &str, bytes: u64, tolerance: Option<Tolerance>) {
        let Some(printed) = printed_on(f, figure, device) else {
            return;
        };
        let c = Check {
            evidence: f.evidence.id.clone(),
            figure: format!("{figure}.{device}"),
            predicted: bytes as f64 / MIB as f64,
            printed,
            tolerance: tolerance.unwrap_or(Tolerance::Relative(COMPUTE_TOLERANCE)),
        };
        match tolerance {
            Some(_) => self.checked.push(c),
            None => self.reported.push(c),
        }
    }
}

/// The printed figures of one record next to the accounting's: (checked, reported).
pub fn check(f: &Loaded, catalog: &Catalog) -> Result<(Vec<Check>, Vec<Check>), String> {
    let r = resolve(f, catalog)?;
    let gpu = gpu_key(f);
    let n_layer = r.model.n_layer;
    let devices = match &gpu {
        Some(_) => Devices::Cuda {
            gpu_layers: setting_u64(f, "n_gpu_layers").unwrap_or(n_layer + 1),
        },
        None => Devices::Cpu,
    };
    let mmap = setting_bool(f, "mmap").unwrap_or(true);
    let exact = Some(Tolerance::Absolute(PRINTED_MIB));
    let mut out = Comparisons::default();
    // model buffers: the file's tensors on each device (a CPU-only run maps a synthetic file whose
    // types are not a gpuplan format)
    if let (Some(t), Some(g)) = (&r.tensors, &gpu) {
        let b = weights::model_buffers(t, n_layer, devices.gpu_layers(n_layer), mmap);
        out.add(f, "model_buffer_mib", g, b.gpu, exact);
        for host in ["CPU_Mapped", "CPU", "CUDA_Host"] {
            out.add(f, "model_buffer_mib", host, b.host, exact);
        }
    }
    let Some(p) = params(f)? else {
        return if out.checked.is_empty() {
            Err("neither the context size nor model buffers gpuplan can size are recorded".into())
        } else {
            Ok((out.checked, out.reported))
        };
    };
    let b: Buffers = engine::buffers_for(&r.model, &[], &p, devices, mmap, &r.weight_type);
    // the graph of builds that reserve n_outputs_max rows is the one modeled
    let modeled = (setting_u64(f, "n_outputs_max").is_some()).then_some(Tolerance::Relative(COMPUTE_TOLERANCE));
    let output = modeled.and(exact);
    match &gpu {
        Some(g) => {
            let known_layers = setting_u64(f, "n_gpu_layers").is_some();
            let spread = f
                .evidence
                .printed
                .get("kv_buffer_mib")
                .and_then(Value::as_object)
                .is_some_and(|m| m.len() > 1 && m.keys().all(|k| !k.contains("SWA")));
            if spread && !known_layers {
                // layers split over the GPU and the host with -ngl unrecorded: the sum is exact
                let printed: f64 = ["kv_buffer_mib"]
                    .iter()
                    .filter_map(|k| f.evidence.printed.get(*k).and_then(Value::as_object))
                    .flat_map(|m| m.values().filter_map(Value::as_f64))
                    .sum();
                out.checked.push(Check {
                    evidence: f.evidence.id.clone(),
                    figure: "kv_buffer_mib (all devices)".into(),
                    predicted: (b.kv.total() + b.host_kv.total()) as f64 / MIB as f64,
                    printed,
                    tolerance: Tolerance::Absolute(2.0 * PRINTED_MIB),
                });
            } else {
                out.add(f, "kv_buffer_mib", g, b.kv.full, exact);
                out.add(f, "kv_buffer_mib", &format!("{g} (SWA cache)"), b.kv.swa, exact);
                out.add(f, "kv_buffer_mib", "CUDA_Host", b.host_kv.total(), exact);
            }
            out.add(f, "compute_buffer_mib", g, b.compute.device, modeled);
            out.add(f, "compute_buffer_mib", "CUDA_Host", b.compute.host, modeled);
            out.add(f, "output_buffer_mib", "CUDA_Host", b.output, output);
            out.add(f, "output_buffer_mib", "CPU", b.output, output);
        }
        None => {
            out.add(f, "kv_buffer_mib", "CPU", b.kv.full, exact);
            out.add(f, "kv_buffer_mib", "CPU (SWA cache)", b.kv.swa, exact);
            out.add(f, "compute_buffer_mib", "CPU", b.compute.device, modeled);
            out.add(f, "output_buffer_mib", "CPU", b.output, output);
        }
    }
    Ok((out.checked, out.reported))
}
