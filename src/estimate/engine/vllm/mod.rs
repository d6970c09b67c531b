//! vLLM V1's memory accounting, term by term as `vllm/v1/worker/gpu_worker.py`
//! `determine_available_memory` computes and logs it (docs/engines/vllm.md):
//!
//! requested = gpu_memory_utilization x total (torch's view of the GPU)
//! available KV = requested − (weights + non-torch increase + torch peak increase of the profile run)
//!
//! The KV cache is then cut into blocks of `block_size` tokens ("GPU KV cache size: N tokens") and
//! vLLM refuses to start when one sequence of `max_model_len` does not fit. gpuplan's context is
//! `--max-model-len`, its batch the concurrent sequences.

pub mod blocks;
pub mod load;
pub mod offload;
pub mod profile;
pub mod profile_run;

pub use blocks::Layout;
pub use offload::CpuOffload;
pub use profile::{Entry, Flags, Release, Sampler, Settings, VERSION, VLLM};
pub use profile_run::{non_torch_bound, non_torch_case_of, NonTorch};

use super::report::Refusal;
use crate::estimate::breakdown::{Memory, Phase, Term};
use crate::estimate::generic;
use crate::estimate::prepared::Prepared;
use crate::spec::gpu::MIB;
use serde::Serialize;

/// vLLM's start-up figures for one GPU, under the names its log uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    /// total GPU memory as torch reports it (`torch.cuda.mem_get_info()[1]`)
    pub total_gpu_memory_bytes: u64,
    /// gpu_memory_utilization x total ("Requested memory")
    pub budget_bytes: u64,
    /// "Model loading took X GiB": parameters at vLLM's shapes as allocated, the rotary cache,
    /// less what `--cpu-offload-gb` moved to the host
    pub weights_bytes: u64,
    /// "non-torch forward increase memory" (an allowance: [`profile_run::non_torch`])
    pub non_torch_bytes: u64,
    /// "torch peak memory increase": the profile run's peak above the weights
    pub activation_peak_bytes: u64,
    /// "Graph capturing finished ..., took X GiB", after the KV cache is allocated (outside the
    /// budget; an allowance: [`profile_run::cuda_graphs`])
    pub cuda_graph_bytes: u64,
    /// "Available KV cache memory" (negative: vLLM refuses to start)
    pub available_kv_cache_bytes: i64,
    /// bytes of one block over the layers of its group
    pub block_bytes: u64,
    pub num_gpu_blocks: u64,
    /// "GPU KV cache size: N tokens"
    pub kv_cache_tokens: u64,
    /// "Maximum concurrency for L tokens per request: X x"
    pub max_concurrency: f64,
    /// `--cpu-offload-gb`: what moved to pinned host memory ([`offload::cpu_offload`])
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_offload: Option<CpuOffload>,
}

/// Weights as "Model loading took" counts them ([`load::weights`]), less the tensors
/// `--cpu-offload-gb` moved to the host as the caching allocator held them
/// ([`offload::cpu_offload`]).
pub fn weights(p: &Prepared, s: &Settings) -> u64 {
    let freed = offload::cpu_offload(p, s).map_or(0, |o| o.gpu_freed_bytes);
    load::weights(p).saturating_sub(freed)
}

/// Non-torch memory that appears during the profile run ([`profile_run::non_torch`]).
pub fn non_torch(p: &Prepared, s: &Settings) -> u64 {
    profile_run::non_torch(p, s)
}

/// The profile run's activation peak ([`profile_run::activation_peak`]).
pub fn activation_peak(p: &Prepared, s: &Settings) -> u64 {
    profile_run::activation_peak(p, s)
}

/// "Available KV cache memory": `--kv-cache-memory` when given, else budget − (weights + non-torch +
/// activation peak) (gpu_worker.py `determine_available_memory`).
pub fn available_kv_cache(p: &Prepared, s: &Settings) -> i64 {
    match s.kv_cache_memory {
        Some(bytes) => i64::try_from(bytes).unwrap_or(i64::MAX),
        None => p.budget as i64 - (weights(p, s) + non_torch(p, s) + activation_peak(p, s)) as i64,
    }
}

/// The start-up figures for `max_model_len` = `context` tokens per sequence.
pub fn figures(p: &Prepared, s: &Settings, context: u64) -> Figures {
    let layout = Layout::of(p, s);
    let available = available_kv_cache(p, s);
    let blocks = layout.num_blocks(available);
    Figures {
        total_gpu_memory_bytes: p.visible,
        budget_bytes: p.budget,
        weights_bytes: weights(p, s),
        non_torch_bytes: non_torch(p, s),
        activation_peak_bytes: activation_peak(p, s),
        cuda_graph_bytes: profile_run::cuda_graphs(p, s),
        available_kv_cache_bytes: available,
        block_bytes: layout.block_bytes(),
        num_gpu_blocks: blocks,
        kv_cache_tokens: layout.tokens(blocks),
        max_concurrency: layout.concurrency(blocks, p.sequence_tokens(context)),
        cpu_offload: offload::cpu_offload(p, s),
    }
}

/// Why vLLM would refuse to start with `max_model_len` = `context`, in the order vLLM checks: the
/// configuration and the memory free at start ([`config_refusal`]), then the KV cache after profiling
/// (kv_cache_utils.py `check_enough_kv_cache_memory`).
pub fn refusal(p: &Prepared, s: &Settings, context: u64, f: &Figures) -> Option<Refusal> {
    if let Some(r) = config_refusal(p, s, context) {
        return Some(r);
    }
    if let Some(cache) = s.kv_cache_memory {
        let needed = (f.weights_bytes + f.non_torch_bytes + f.activation_peak_bytes).saturating_add(cache);
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
    let layout = Layout::of(p, s);
    let len = p.sequence_tokens(context);
    let needed = layout.request_bytes(len);
    (needed as i64 > f.available_kv_cache_bytes).then(|| Refusal::KvCacheTooSmall {
        max_model_len: len,
        needed_bytes: needed,
        available_bytes: f.available_kv_cache_bytes.unsigned_abs(),
        estimated_max_model_len: layout.longest_fitting(f.available_kv_cache_bytes, len),
    })
}

/// The refusals that need no profile run, in vLLM's order: heads (and KV heads) vs TP, the
/// utilization's range, the model's length, the batch limits, and the memory free at start-up
/// against the requested share. Cheap: the solvers call it.
pub fn config_refusal(p: &Prepared, s: &Settings, context: u64) -> Option<Refusal> {
    let tp = p.setup.tp.max(1);
    if let Some(a) = &p.setup.model.architecture {
        if a.attention_heads % tp != 0 {
            return Some(Refusal::HeadsNotDivisible {
                heads: a.attention_heads,
                tp,
            });
        }
        // VocabParallelEmbedding: the vocabulary padded to 64 is split evenly across the ranks
        // ("151936 is not divisible by 5" for Qwen3 at TP 5)
        if load::padded_vocab(a.vocab_size) % tp != 0 {
            return Some(Refusal::BadSetting {
                flag: "--tensor-parallel-size",
                value: tp.to_string(),
                allowed: "a divisor of the vocabulary padded to a multiple of 64",
            });
        }
        // QKVParallelLinear: with fewer ranks than KV heads, the ranks must divide them
        if a.mla.is_none() && tp < a.kv_heads() && a.kv_heads() % tp != 0 {
            return Some(Refusal::BadSetting {
                flag: "--tensor-parallel-size",
                value: tp.to_string(),
                allowed: "a divisor or a multiple of the model's KV heads",
            });
        }
    }
    // OffloadConfig `cpu_offload_gb: float = Field(default=0, ge=0)` (CacheConfig's "CPU offload
    // space must be non-negative" before 0.11)
    if !(s.cpu_offload_gb.is_finite() && s.cpu_offload_gb >= 0.0) {
        return Some(Refusal::BadSetting {
            flag: "--cpu-offload-gb",
            value: s.cpu_offload_gb.to_string(),
            allowed: "a non-negative number of GiB",
        });
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
    if s.max_num_batched_tokens < s.max_num_seqs {
        return Some(Refusal::BadSetting {
            flag: "--max-num-batched-tokens",
            value: s.max_num_batched_tokens.to_string(),
            allowed: "at least --max-num-seqs",
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
    let kv = batch.saturating_mul(Layout::of(p, s).held_bytes(p.sequence_tokens(context)));
    match s.kv_cache_memory {
        // the cache is a fixed size: the sequences fit when their blocks do
        Some(cache) => p.budget.saturating_sub(cache).saturating_add(kv),
        None => (weights(p, s) + non_torch(p, s) + activation_peak(p, s)).saturating_add(kv),
    }
}

/// The itemized estimate under vLLM's names.
pub fn memory(p: &Prepared, s: &Settings, context: u64, batch: u64) -> Memory {
    let f = figures(p, s, context);
    let tokens = p.sequence_tokens(context);
    let kv_bytes = batch.saturating_mul(Layout::of(p, s).held_bytes(tokens));
    let loaded = weights(p, s);
    let rotary = load::rotary_cache(p);
    let moved = f.cpu_offload.map_or(0, |o| o.offloaded_bytes);
    let on_gpu = p.weights.total.saturating_sub(moved);
    let rounding = loaded.saturating_sub(on_gpu + rotary);
    let overhead = vec![
        Term {
            name: "allocator rounding and attention scalars",
            bytes: rounding,
            formula:
                "each tensor at vLLM's fused shape as the caching allocator rounds it, 7 scalars per attention layer"
                    .into(),
            source: "PyTorch CUDACachingAllocator (kRoundLarge, kSmallSize); vllm attention/layer.py",
        },
        Term {
            name: "rotary cos/sin cache",
            bytes: rotary,
            formula: format!(
                "{} positions x {} x {} B",
                p.setup.model.max_context, p.kv.head_dim, p.act_bytes
            ),
            source: "vllm rotary_embedding/base.py cos_sin_cache",
        },
        Term {
            name: "non-torch memory",
            bytes: f.non_torch_bytes,
            formula: format!(
                "allowance for kernel modules and collective buffers outside torch ({:?}, bound ±{} MiB)",
                profile_run::non_torch_case(p),
                profile_run::non_torch_bound(profile_run::non_torch_case(p)) / MIB
            ),
            source: "vllm v1 gpu_worker.py determine_available_memory",
        },
    ];
    let overhead_bytes = rounding + rotary + f.non_torch_bytes;
    let activations = vec![Term {
        name: "profile run peak",
        bytes: f.activation_peak_bytes,
        formula: format!(
            "dummy forward of {} tokens, {:?} sampler over {} sequences",
            s.max_num_batched_tokens,
            s.sampler,
            s.max_num_seqs.min(s.max_num_batched_tokens)
        ),
        source: "vllm v1 gpu_model_runner.py profile_run",
    }];
    let total = total(p, s, context, batch);
    let host: Vec<Term> = f
        .cpu_offload
        .iter()
        .map(|o| Term {
            name: "offloaded weights (pinned)",
            bytes: o.pinned_bytes,
            formula: format!(
                "{} parameters ({} B) of {} budget, each pinned tensor rounded up to a power of two",
                o.parameters, o.offloaded_bytes, o.max_bytes
            ),
            source: "vllm model_executor/offloader/uva.py (models/utils.py maybe_offload_to_cpu); PyTorch CachingHostAllocator PowerOf2Ceil",
        })
        .collect();
    Memory {
        weights: p.weights.lines.clone(),
        weights_bytes: on_gpu,
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
        host_bytes: host.iter().map(|t| t.bytes).sum(),
        host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::arch::check_declared;
    use crate::estimate::engine::settings::Flags as EngineFlags;
    use crate::estimate::{ModelFacts, Setup, WeightFacts};
    use crate::spec::precision::Format;
    use crate::spec::{Catalog, GpuSpec, ModelSpec};

    fn catalog() -> Catalog {
        Catalog::embedded(check_declared).unwrap()
    }

    /// vLLM's figures for `model` on `gpu` with `flags`, at the model's own length.
    fn run(model: &ModelSpec, gpu: &GpuSpec, tp: u64, flags: Flags) -> (Figures, Option<Refusal>) {
        let facts = ModelFacts::new(model);
        let format = Format::parse(&model.dtype).unwrap();
        let weights = WeightFacts::new(model, &facts, format, tp);
        let setup = Setup {
            tp,
            engine: EngineFlags {
                vllm: flags,
                ..EngineFlags::default()
            },
            ..Setup::new(model, format, &VLLM)
        };
        let p = Prepared::new(setup, gpu, &facts, &weights);
        let crate::estimate::engine::Settings::Vllm(s) = p.settings else {
            panic!("vLLM settings")
        };
        let f = figures(&p, &s, model.max_context);
        let r = refusal(&p, &s, model.max_context, &f);
        (f, r)
    }

    /// "Model loading took %.4f GiB" as vLLM prints it.
    fn printed_gib(b: u64) -> String {
        format!("{:.4}", b as f64 / (1u64 << 30) as f64)
    }

    #[test]
    fn weights_reproduce_the_model_loading_line() {
        let c = catalog();
        let h100 = c.gpu("h100-sxm").unwrap();
        // "Model loading took 14.9889 GiB" (validation/field/vllm-llama-3.1-8b-fp16-serve-0.10.1.1.json):
        // 16,060,522,496 B of parameters + 32 MiB of rotary cache + 7 scalars x 32 attention layers
        let llama = c.model("llama-3.1-8b", check_declared).unwrap();
        let (f, _) = run(&llama, &h100, 1, Flags::default());
        assert_eq!(
            f.weights_bytes,
            16_060_522_496 + 33_554_432 + 32 * load::ATTENTION_SCALARS_BYTES
        );
        assert_eq!(printed_gib(f.weights_bytes), "14.9889");
        // Qwen2.5-7B prints 14.2488 GiB and Mistral-7B-v0.3 13.5084 GiB (docs/engines/vllm.md): the
        // odd-sized fused tensors keep up to 1 MiB of their 2 MiB segment each
        for (id, printed) in [("qwen2.5-7b", "14.2488"), ("mistral-7b-v0.3", "13.5084")] {
            let m = c.model(id, check_declared).unwrap();
            assert_eq!(
                printed_gib(run(&m, &h100, 1, Flags::default()).0.weights_bytes),
                printed,
                "{id}"
            );
        }
    }

    #[test]
    fn the_sampler_sets_the_peak_of_a_served_8b_model() {
        let c = catalog();
        let llama = c.model("llama-3.1-8b", check_declared).unwrap();
        let h100 = c.gpu("h100-sxm").unwrap();
        // serve on an H100: 8192 tokens, 1024 rows; native sampler: 1024 x (2 x 128256 + 36 x 128256)
        // + the 8192 x 4096 hidden states + 2 x 1024 x 4096 sampled rows, in bf16
        let (f, _) = run(&llama, &h100, 1, Flags::default());
        let sampler = 1024 * 128_256 * (2 + 36) + 8192 * 4096 * 2 + 2 * 1024 * 4096 * 2;
        assert_eq!(f.activation_peak_bytes, sampler);
        let flashinfer = Flags {
            sampler: Sampler::Flashinfer,
            ..Flags::default()
        };
        let (g, _) = run(&llama, &h100, 1, flashinfer);
        assert_eq!(
            g.activation_peak_bytes,
            1024 * 128_256 * (2 + 12) + 8192 * 4096 * 2 + 2 * 1024 * 4096 * 2
        );
    }

    #[test]
    fn the_identity_holds_and_blocks_follow() {
        let c = catalog();
        let llama = c.model("llama-3.1-8b", check_declared).unwrap();
        let h100 = c.gpu("h100-sxm").unwrap();
        let (f, r) = run(&llama, &h100, 1, Flags::default());
        assert_eq!(
            f.available_kv_cache_bytes,
            f.budget_bytes as i64 - (f.weights_bytes + f.non_torch_bytes + f.activation_peak_bytes) as i64
        );
        // Llama-3.1-8B: 32 layers x 8 KV heads x 128 x 2 (K, V) x 2 B x 16 tokens = 2 MiB a block
        assert_eq!(f.block_bytes, 2 << 20);
        assert_eq!(f.num_gpu_blocks, f.available_kv_cache_bytes as u64 / (2 << 20));
        assert_eq!(f.kv_cache_tokens, f.num_gpu_blocks * 16);
        assert_eq!(f.max_concurrency, f.num_gpu_blocks as f64 / (131_072 / 16) as f64);
        assert_eq!(r, None);
    }

    #[test]
    fn a_long_context_on_a_small_gpu_is_refused_with_vllms_estimate() {
        let c = catalog();
        let llama = c.model("llama-3.1-8b", check_declared).unwrap();
        let l4 = c.gpu("l4").unwrap();
        let (f, r) = run(&llama, &l4, 1, Flags::default());
        let Some(Refusal::KvCacheTooSmall {
            max_model_len,
            needed_bytes,
            estimated_max_model_len,
            ..
        }) = r
        else {
            panic!("131072 tokens of Llama-3.1-8B do not fit an L4: {r:?}")
        };
        assert_eq!(max_model_len, 131_072);
        // one 131,072-token request: 8192 blocks of 2 MiB ("16.00 GiB KV cache is needed")
        assert_eq!(needed_bytes, 16 << 30);
        // the estimate is whole blocks of what is available
        assert_eq!(estimated_max_model_len, f.num_gpu_blocks * 16);
    }

    #[test]
    fn heads_that_do_not_split_refuse() {
        let c = catalog();
        let llama = c.model("llama-3.1-8b", check_declared).unwrap();
        let h100 = c.gpu("h100-sxm").unwrap();
        assert_eq!(
            run(&llama, &h100, 3, Flags::default()).1,
            Some(Refusal::HeadsNotDivisible { heads: 32, tp: 3 })
        );
    }

    #[test]
    fn batch_defaults_follow_the_gpu_and_the_entry_point() {
        let c = catalog();
        let settings = |gpu: &str, entry| {
            Settings::resolve(
                &Flags {
                    entry,
                    ..Flags::default()
                },
                &c.gpu(gpu).unwrap(),
            )
        };
        let s = settings("h100-sxm", Entry::Serve);
        assert_eq!((s.max_num_batched_tokens, s.max_num_seqs), (8192, 1024));
        let s = settings("h100-sxm", Entry::LlmClass);
        assert_eq!((s.max_num_batched_tokens, s.max_num_seqs), (16384, 1024));
        let s = settings("a100-80gb-sxm", Entry::Serve);
        assert_eq!((s.max_num_batched_tokens, s.max_num_seqs), (2048, 256));
        let s = settings("l4", Entry::LlmClass);
        assert_eq!((s.max_num_batched_tokens, s.max_num_seqs), (8192, 256));
    }
}
