//! vLLM V1's memory accounting, term by term as `vllm/v1/worker/gpu_worker.py`
//! `determine_available_memory` computes and logs it (docs/engines/vllm.md):
//!
//! requested = gpu_memory_utilization x total (torch's view of the GPU)
//! available KV = requested − (weights + non-torch increase + torch peak increase of the profile run)
//!
//! The KV cache is then cut into blocks of `block_size` tokens ("GPU KV cache size: N tokens") and
//! vLLM refuses to start when one sequence of `max_model_len` does not fit. gpuplan's context is
//! `--max-model-len`, its batch the concurrent sequences.

pub mod profile;

pub use profile::{Entry, Flags, Settings, VERSION, VLLM};

use super::report::Refusal;
use crate::estimate::breakdown::{Memory, Phase, Term};
use crate::estimate::generic::{self, Step};
use crate::estimate::kv;
use crate::estimate::prepared::Prepared;
use crate::spec::gpu::MIB;
use serde::Serialize;

/// vLLM's start-up figures for one GPU, under the names its log uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    /// total GPU memory as torch reports it ("Total GPU memory")
    pub total_gpu_memory_bytes: u64,
    /// gpu_memory_utilization x total ("requested memory")
    pub budget_bytes: u64,
    /// "model weights take": tensor bytes as allocated, with the rotary cos/sin cache
    pub weights_bytes: u64,
    /// "non-torch memory": NCCL, cuBLAS and other allocations outside torch's allocator
    pub non_torch_bytes: u64,
    /// "PyTorch activation peak memory": the profile run's peak above the weights
    pub activation_peak_bytes: u64,
    /// CUDA-graph capture, after the KV cache is allocated (outside the budget)
    pub cuda_graph_bytes: u64,
    /// "Available KV cache memory" (negative: vLLM refuses to start)
    pub available_kv_cache_bytes: i64,
    /// bytes of one block over all of this GPU's layers
    pub block_bytes: u64,
    pub num_gpu_blocks: u64,
    /// "GPU KV cache size: N tokens"
    pub kv_cache_tokens: u64,
    /// "Maximum concurrency for L tokens per request: X x"
    pub max_concurrency: f64,
}

/// First-cut non-torch memory at TP 1: 0.13 GiB (the V1 start-up logs quoted in issue 9); to be
/// derived from vLLM's code and the gathered logs (validation/field/vllm-*.json).
const NON_TORCH_TP1_BYTES: u64 = 133 * MIB;

/// Sampler buffers of the dummy sampler run, in units of max_num_seqs x vocab x 4 B: the f32 logits,
/// the sorted values (f32) and indices (i64) of top-k/top-p, and the probabilities. First cut, to
/// be read off vLLM's sampler (v1/sample/sampler.py).
const SAMPLER_F32_COPIES: u64 = 5;

/// The rotary cos/sin cache vLLM keeps on the GPU (model_executor/layers/rotary_embedding.py
/// `_compute_cos_sin_cache`): max_position x rotary_dim elements in the model dtype, one shared by
/// every layer (`get_rope` caches the module).
pub fn rotary_cache(p: &Prepared) -> u64 {
    p.setup.model.max_context * p.kv.head_dim * p.act_bytes
}

/// Weights as vLLM measures them (memory after loading minus before): tensor bytes, each layer's
/// tensors rounded to the caching allocator's 2 MiB blocks, plus the rotary cache.
pub fn weights(p: &Prepared) -> u64 {
    p.weights.total + generic::allocator_rounding(p) + rotary_cache(p)
}

/// Non-torch memory that appears during the profile run.
pub fn non_torch(_p: &Prepared) -> u64 {
    NON_TORCH_TP1_BYTES
}

/// The profile run's peak (gpu_model_runner.py `profile_run`): a dummy forward of
/// `max_num_batched_tokens` tokens over min(max_num_seqs, tokens) requests, then the sampler's
/// dummy run over one row of logits per request.
pub fn activation_peak(p: &Prepared, s: &Settings) -> u64 {
    let tokens = s.max_num_batched_tokens.max(1);
    let requests = s.max_num_seqs.min(tokens).max(1);
    let forward = generic::forward(
        p,
        Step {
            in_flight: tokens,
            chunk: tokens,
            kv_len: tokens,
            batch: requests,
            logit_rows: requests,
        },
    )
    .peak()
    .1;
    let sampler = if p.stage.is_last() {
        SAMPLER_F32_COPIES * requests * p.geometry.vocab * 4
    } else {
        0
    };
    forward.max(sampler)
}

/// KV bytes one sequence of `tokens` occupies: full-attention layers hold every token, windowed
/// ones at most the window, both rounded up to whole blocks.
fn sequence_kv(p: &Prepared, s: &Settings, tokens: u64) -> u64 {
    kv::cache_bytes(&p.kv, kv::cached_tokens(tokens, s.block_size.max(1)), 1, true)
}

/// Bytes of one block over all of this GPU's layers.
pub fn block_bytes(p: &Prepared, s: &Settings) -> u64 {
    p.kv.total() * s.block_size.max(1)
}

/// The start-up figures for `max_model_len` = `context` tokens per sequence.
pub fn figures(p: &Prepared, s: &Settings, context: u64) -> Figures {
    let weights = weights(p);
    let non_torch = non_torch(p);
    let peak = activation_peak(p, s);
    let available = match s.kv_cache_memory {
        Some(bytes) => bytes as i64,
        None => p.budget as i64 - (weights + non_torch + peak) as i64,
    };
    let block = block_bytes(p, s).max(1);
    let blocks = available.max(0) as u64 / block;
    let kv_cache_tokens = blocks * s.block_size.max(1);
    let per_request = sequence_kv(p, s, p.sequence_tokens(context)).max(1);
    Figures {
        total_gpu_memory_bytes: p.visible,
        budget_bytes: p.budget,
        weights_bytes: weights,
        non_torch_bytes: non_torch,
        activation_peak_bytes: peak,
        cuda_graph_bytes: 0,
        available_kv_cache_bytes: available,
        block_bytes: block,
        num_gpu_blocks: blocks,
        kv_cache_tokens,
        max_concurrency: (blocks * block) as f64 / per_request as f64,
    }
}

/// Why vLLM would refuse to start with `max_model_len` = `context`, checked in the order vLLM
/// checks: the configuration and the memory free at start ([`config_refusal`]), then the KV cache
/// after profiling.
pub fn refusal(p: &Prepared, s: &Settings, context: u64, f: &Figures) -> Option<Refusal> {
    if let Some(r) = config_refusal(p, s, context) {
        return Some(r);
    }
    if let Some(cache) = s.kv_cache_memory {
        let needed = f.weights_bytes + f.non_torch_bytes + f.activation_peak_bytes + cache;
        if needed > p.visible {
            return Some(Refusal::OutOfMemory {
                needed_bytes: needed,
                available_bytes: p.visible,
            });
        }
    }
    if f.available_kv_cache_bytes <= 0 {
        return Some(Refusal::NoKvCacheMemory {
            short_bytes: f.available_kv_cache_bytes.unsigned_abs(),
        });
    }
    if sequence_kv(p, s, p.sequence_tokens(context)) > f.num_gpu_blocks * f.block_bytes {
        return Some(Refusal::KvCacheTooSmall {
            max_model_len: context,
            kv_cache_tokens: f.kv_cache_tokens,
        });
    }
    None
}

/// The refusals that need no profile run: heads vs TP, the utilization's range, the model's length,
/// and the memory free at start-up against the requested share. Cheap: the solvers call it.
pub fn config_refusal(p: &Prepared, s: &Settings, context: u64) -> Option<Refusal> {
    let tp = p.setup.tp.max(1);
    if let Some(a) = &p.setup.model.architecture {
        if a.attention_heads % tp != 0 {
            return Some(Refusal::HeadsNotDivisible {
                heads: a.attention_heads,
                tp,
            });
        }
    }
    let u = s.gpu_memory_utilization;
    if !(u > 0.0 && u <= 1.0) {
        return Some(Refusal::BadSetting {
            flag: "--gpu-memory-utilization",
            value: u.to_string(),
            allowed: "a fraction in (0, 1]",
        });
    }
    if context > p.setup.model.max_context {
        return Some(Refusal::ContextAboveModelMax {
            requested: context,
            max: p.setup.model.max_context,
        });
    }
    let free = p.visible.saturating_sub(p.setup.runtime.context_mib * MIB);
    if s.kv_cache_memory.is_none() && free < p.budget {
        return Some(Refusal::FreeBelowRequested {
            free_bytes: free,
            requested_bytes: p.budget,
        });
    }
    None
}

/// Bytes per GPU for `batch` sequences of `context` tokens: everything vLLM reserves before the KV
/// cache, plus the blocks those sequences occupy. It fits when this is within the budget.
pub fn total(p: &Prepared, s: &Settings, context: u64, batch: u64) -> u64 {
    let kv = batch.saturating_mul(sequence_kv(p, s, p.sequence_tokens(context)));
    match s.kv_cache_memory {
        // the cache is a fixed size: the sequences fit when their blocks do
        Some(cache) => p.budget.saturating_sub(cache).saturating_add(kv),
        None => (weights(p) + non_torch(p) + activation_peak(p, s)).saturating_add(kv),
    }
}

/// The itemized estimate under vLLM's names.
pub fn memory(p: &Prepared, s: &Settings, context: u64, batch: u64) -> Memory {
    let f = figures(p, s, context);
    let tokens = p.sequence_tokens(context);
    let kv_bytes = batch.saturating_mul(sequence_kv(p, s, tokens));
    let rounding = generic::allocator_rounding(p);
    let rotary = rotary_cache(p);
    let overhead = vec![
        Term {
            name: "allocator rounding",
            bytes: rounding,
            formula: "each layer's tensors rounded up to 2 MiB blocks".into(),
            source: "PyTorch caching allocator kRoundLarge",
        },
        Term {
            name: "rotary cos/sin cache",
            bytes: rotary,
            formula: format!(
                "{} positions x {} x {} B",
                p.setup.model.max_context, p.kv.head_dim, p.act_bytes
            ),
            source: "vllm rotary_embedding.py _compute_cos_sin_cache",
        },
        Term {
            name: "non-torch memory",
            bytes: f.non_torch_bytes,
            formula: "NCCL, cuBLAS and other allocations outside torch".into(),
            source: "vllm v1 gpu_worker.py determine_available_memory",
        },
    ];
    let overhead_bytes = rounding + rotary + f.non_torch_bytes;
    let activations = vec![Term {
        name: "profile run peak",
        bytes: f.activation_peak_bytes,
        formula: format!(
            "dummy forward of {} tokens, sampler over {} sequences",
            s.max_num_batched_tokens, s.max_num_seqs
        ),
        source: "vllm v1 gpu_model_runner.py profile_run",
    }];
    let total = total(p, s, context, batch);
    Memory {
        weights: p.weights.lines.clone(),
        weights_bytes: p.weights.total,
        kv_cache: generic::kv_term(p, kv_bytes, tokens, batch),
        kv_cache_bytes: kv_bytes,
        activations,
        activations_bytes: f.activation_peak_bytes,
        activation_peak_phase: Phase::ProfileRun,
        overhead,
        overhead_bytes,
        total_bytes: total,
        available_bytes: p.budget,
        visible_bytes: p.visible,
        host: vec![],
        host_bytes: 0,
    }
}
