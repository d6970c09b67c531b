//! The weights as vLLM counts them: "Model loading took X GiB" is `torch.cuda.max_memory_allocated`
//! after loading minus before (vllm/utils `DeviceMemoryProfiler`, gpu_model_runner.py
//! `load_model`), so it is every tensor the loader leaves on the GPU, at vLLM's shapes, as PyTorch's
//! caching allocator rounds it (docs/engines/vllm.md, "Weights").

use crate::estimate::arch::TensorGroup;
use crate::estimate::prepared::Prepared;
use crate::estimate::weights::shard_shape;
use crate::spec::gpu::MIB;
use crate::spec::precision::{QuantTensor, Role, TypeRules};
use std::ops::Range;

/// vLLM pads the vocabulary of `VocabParallelEmbedding` and `ParallelLMHead` to a multiple of 64
/// before splitting it across ranks (vocab_parallel_embedding.py `DEFAULT_VOCAB_PADDING_SIZE`).
pub const VOCAB_PADDING: u64 = 64;

/// The padded vocabulary: ceil(vocab / 64) x 64 (`pad_vocab_size`).
pub fn padded_vocab(vocab: u64) -> u64 {
    vocab.div_ceil(VOCAB_PADDING) * VOCAB_PADDING
}

/// Bytes PyTorch's caching allocator counts as allocated for one request of `b` bytes on a fresh
/// allocator, as model loading makes them (c10/cuda/CUDACachingAllocator.cpp): requests round up to
/// 512 B (`kMinBlockSize`); one of at least 10 MiB (`kMinLargeAlloc`) gets its own segment of
/// round_up(b, 2 MiB) (`kRoundLarge`) and the rest of the segment is split off only when it is larger
/// than 1 MiB (`kSmallSize`, `should_split`), so a rest of at most 1 MiB stays in the block. Smaller
/// requests are carved out of shared segments and cost their rounded size.
/// E.g. 31.5 MiB -> 32 MiB, 24.5 MiB -> 24.5 MiB, 501 MiB -> 502 MiB.
pub fn allocated_bytes(b: u64) -> u64 {
    const BLOCK: u64 = 512;
    const ROUND_LARGE: u64 = 2 * MIB;
    const MIN_LARGE_ALLOC: u64 = 10 * MIB;
    const SMALL_SIZE: u64 = MIB;
    let r = b.div_ceil(BLOCK) * BLOCK;
    if r < MIN_LARGE_ALLOC {
        return r;
    }
    let segment = r.div_ceil(ROUND_LARGE) * ROUND_LARGE;
    if segment - r > SMALL_SIZE {
        r
    } else {
        segment
    }
}

/// The rotary cos/sin cache vLLM registers as a buffer (rotary_embedding/base.py `cos_sin_cache`):
/// max_position x rotary_dim elements in the model dtype, one per rank (`get_rope` caches it across
/// layers). Created on the GPU while loading, so it is in "Model loading took".
pub fn rotary_cache(p: &Prepared) -> u64 {
    p.setup.model.max_context * p.kv.head_dim * p.act_bytes
}

/// Scalar float32 tensors each `Attention` layer creates on the device (attention/layer.py:
/// `_k_scale`, `_v_scale`, `_q_scale`, `_prob_scale`, `q_range`, `k_range`, `v_range`), each one
/// 512-byte allocator block.
pub const ATTENTION_SCALARS_BYTES: u64 = 7 * 512;

/// How vLLM lays a group's tensors out: q, k and v as one `qkv_proj` (their biases as one bias), gate
/// and up as one `gate_up_proj`, each layer's routed experts stacked into one `w13` and one `w2`
/// (FusedMoE); every other tensor on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fused {
    Qkv,
    QkvBias,
    GateUp,
    W13,
    W2,
}

fn fused(g: &TensorGroup) -> Option<Fused> {
    match g.role {
        Role::AttnQkv | Role::AttnK | Role::AttnV => Some(Fused::Qkv),
        Role::Bias if g.name.contains("q_proj") || g.name.contains("k_proj") => Some(Fused::QkvBias),
        Role::MlpUp => Some(Fused::GateUp),
        Role::Expert => Some(Fused::W13),
        Role::ExpertDown => Some(Fused::W2),
        _ => None,
    }
}

/// Rows and columns of one copy of `g` on one of `tp` ranks: vLLM's sharding, with the vocabulary of
/// the embedding and the LM head padded to 64 first.
fn rank_shape(g: &TensorGroup, tp: u64, kv_heads: u64) -> (u64, u64) {
    match g.role {
        Role::Embedding | Role::LmHead => (padded_vocab(g.rows).div_ceil(tp.max(1)), g.cols),
        _ => shard_shape(g, tp, kv_heads),
    }
}

/// One tensor group as vLLM allocates it on this GPU: the bytes of one copy at vLLM's shape on
/// this rank, how it fuses with its neighbours, and the decoder layers this stage holds of it.
pub(super) struct Allocated<'g> {
    pub group: &'g TensorGroup,
    pub fused: Option<Fused>,
    /// bytes of one copy (`count_per_layer` copies per layer)
    pub bytes: u64,
    pub held: Range<u64>,
}

/// The tensor groups this GPU holds (its pipeline stage, its tensor-parallel shard), each copy at
/// vLLM's sharded shape in the format's storage; None for summary specs (no tensor list).
pub(super) fn allocated<'a, 'p>(p: &'p Prepared<'a>) -> Option<impl Iterator<Item = Allocated<'a>> + use<'a, 'p>> {
    let a = p.setup.model.architecture.as_ref()?;
    let inv = &p.facts.inventory;
    let rules = TypeRules {
        model: &inv.gguf,
        checkpoint: p.setup.model.checkpoint_quantization(p.setup.format),
    };
    let tp = p.setup.tp.max(1);
    Some(inv.groups.iter().filter_map(move |g| {
        let held = p.stage.select(g, a.tie_embeddings);
        if held.is_empty() {
            return None;
        }
        let (rows, cols) = rank_shape(g, tp, a.kv_heads());
        let tensor = QuantTensor {
            role: g.role,
            layer: None,
            rows: g.rows,
            cols: g.cols,
        };
        let bytes = p.setup.format.storage_for(&tensor, &rules).bytes(rows, cols);
        Some(Allocated {
            group: g,
            fused: fused(g),
            bytes,
            held,
        })
    }))
}

/// The model's parameters on this GPU (its pipeline stage, its tensor-parallel shard) as the
/// loader allocates them: each tensor at vLLM's fused shape, rounded by [`allocated_bytes`].
pub fn parameters(p: &Prepared) -> u64 {
    let Some(groups) = allocated(p) else {
        return p.weights.total;
    };
    let mut fused_per_layer: Vec<(Fused, u64, u64)> = Vec::new(); // (kind, layers held, bytes per layer)
    let mut total = 0;
    for t in groups {
        let layers = t.held.end - t.held.start;
        let per_layer = t.bytes * t.group.count_per_layer;
        match t.fused {
            Some(kind) => match fused_per_layer.iter_mut().find(|f| f.0 == kind && f.1 == layers) {
                Some(f) => f.2 += per_layer,
                None => fused_per_layer.push((kind, layers, per_layer)),
            },
            None => total += allocated_bytes(t.bytes) * t.group.count_per_layer * layers,
        }
    }
    total
        + fused_per_layer
            .iter()
            .map(|&(_, layers, bytes)| allocated_bytes(bytes) * layers)
            .sum::<u64>()
}

/// "Model loading took X GiB": the parameters, the rotary cache (on every stage: each builds its
/// attention layers) and the attention layers' scalars. Exact for dense 16-bit models: Llama-3.1-8B
/// 14.9889 GiB, Qwen2.5-7B 14.2488 GiB and Mistral-7B-v0.3 13.5084 GiB as vLLM prints them.
pub fn weights(p: &Prepared) -> u64 {
    parameters(p) + rotary_cache(p) + ATTENTION_SCALARS_BYTES * p.stage.layers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allocator_keeps_a_rest_of_at_most_1_mib() {
        assert_eq!(allocated_bytes(1000), 1024);
        assert_eq!(allocated_bytes(5 * MIB + 3), 5 * MIB + 512);
        assert_eq!(allocated_bytes(31 * MIB + MIB / 2), 32 * MIB);
        assert_eq!(allocated_bytes(24 * MIB + MIB / 2), 24 * MIB + MIB / 2);
        assert_eq!(allocated_bytes(501 * MIB), 502 * MIB);
    }

    #[test]
    fn vocabularies_pad_to_64() {
        assert_eq!(padded_vocab(128_256), 128_256);
        assert_eq!(padded_vocab(32_064), 32_064);
        assert_eq!(padded_vocab(32_001), 32_064);
    }
}
