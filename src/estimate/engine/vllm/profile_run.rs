//! What vLLM's profile run and warm-up leave outside the weights: the activation peak of
//! gpu_model_runner.py `profile_run` (a dummy forward of `max_num_batched_tokens` tokens, then a dummy
//! sampler run over `max_num_seqs` rows), the non-torch memory that appears meanwhile, and the CUDA
//! graphs captured after the KV cache is allocated (docs/engines/vllm.md).

use super::load::padded_vocab;
use super::profile::{Release, Sampler, Settings};
use crate::estimate::prepared::Prepared;
use crate::spec::gpu::{GpuSpec, MIB};

/// The model's shape on one tensor-parallel rank, as the profile run sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankShape {
    pub hidden: u64,
    /// query heads on this rank
    pub heads: u64,
    /// KV heads on this rank (one whole head when there are fewer KV heads than ranks)
    pub kv_heads: u64,
    pub head_dim: u64,
    /// MLP width on this rank (one expert's width for MoE)
    pub intermediate: u64,
    /// (experts per token, experts)
    pub moe: Option<(u64, u64)>,
    /// the real vocabulary: the logits the sampler sorts
    pub vocab: u64,
    /// the vocabulary padded to 64: the LM head's output, gathered whole on every rank
    pub vocab_padded: u64,
}

impl RankShape {
    pub fn of(p: &Prepared) -> RankShape {
        let g = &p.geometry;
        let vocab = p
            .setup
            .model
            .architecture
            .as_ref()
            .map_or(g.vocab * p.setup.tp.max(1), |a| a.vocab_size);
        RankShape {
            hidden: g.hidden,
            heads: g.heads,
            kv_heads: g.kv_heads,
            head_dim: g.head_dim,
            intermediate: g.intermediate,
            moe: g.moe,
            vocab,
            vocab_padded: padded_vocab(vocab),
        }
    }
}

/// The dummy forward of `t` tokens above the weights (`_dummy_run(max_num_tokens, is_profile=True)`).
/// Without attention metadata the attention kernels return at once, so no scores exist, and
/// Inductor frees each intermediate after its last use, so the peak is one layer's:
/// - attention: residual + normed input (2 t h) + q/k/v t (heads + 2 kv) d + attention output t heads d
/// - dense MLP: residual + gate/up output t 2I + activated half t I, or during the gate/up matmul
///   residual + normed input + t 2I
/// - fused MoE (`fused_experts`): residual + input (2 t h) + router logits t E + the caches
///   t k 2I, t k I and t k h + the output t h
///
/// times the activation element size `a`.
pub fn forward_peak(s: &RankShape, t: u64, a: u64) -> u64 {
    let h = s.hidden;
    let attention = t * (2 * h + (2 * s.heads + 2 * s.kv_heads) * s.head_dim) * a;
    let i = s.intermediate;
    let mlp = match s.moe {
        None => t * (h + 3 * i).max(2 * h + 2 * i) * a,
        Some((k, e)) => t * (3 * h + e + k * (3 * i + h)) * a,
    };
    attention.max(mlp)
}

/// 0.19's fused-MoE workspace: `FusedMoEModularKernel._allocate_buffers` takes workspace13 (shared
/// with the output) and workspace2 from the `WorkspaceManager` (v1/worker/workspace.py), which keeps
/// them allocated for the engine's life, so they stay in the peak while the sampler runs. With
/// `TritonExperts.workspace_shapes` (M = t tokens, k experts a token, N = 2I, K = h):
/// (max(t k max(I, h), t h) + t k max(2I, h)) x a. None in 0.11 (the intermediate caches are freed
/// after each layer: [`forward_peak`]) and for dense models.
pub fn moe_workspace(s: &RankShape, t: u64, a: u64, release: Release) -> u64 {
    match (release, s.moe) {
        (Release::V0_19, Some((k, _))) => {
            let (h, i) = (s.hidden, s.intermediate);
            ((t * k * i.max(h)).max(t * h) + t * k * (2 * i).max(h)) * a
        }
        _ => 0,
    }
}

/// The dummy forward in 0.19 for an MoE model: its persistent workspace ([`moe_workspace`]) plus the
/// residual, the input, the output and the router logits t (3h + E) a, or the attention's peak of
/// [`forward_peak`] if larger; the 0.11 [`forward_peak`] otherwise.
pub fn forward_peak_of(s: &RankShape, t: u64, a: u64, release: Release) -> u64 {
    match (moe_workspace(s, t, a, release), s.moe) {
        (w, Some((_, e))) if w > 0 => {
            let attention = t * (2 * s.hidden + (2 * s.heads + 2 * s.kv_heads) * s.head_dim) * a;
            attention.max(w + t * (3 * s.hidden + e) * a)
        }
        _ => forward_peak(s, t, a),
    }
}

/// Bytes per sampled logit the top-k/top-p step holds at its peak besides the model-dtype logits: the
/// float32 copy sampler.py makes first (`logits.to(torch.float32)`, 4 B, none when the logits are
/// already float32: `a` = 4), then
/// - 0.11, PyTorch-native `apply_top_k_top_p`: `logits.sort` over a dimension above 4096 runs
///   aten/src/ATen/native/cuda/SortStable.cu. From 128 rows on (`segmented_sort_pairs`): sorted
///   values 4 B and int64 indices 8 B out, an int64 iota of the input indices 8 B and CUB's
///   alternate key and value buffers 4 + 8 B: 32. Under 128 rows
///   (`segmented_sort_pairs_by_full_sort`): values and indices 12 B, two int2 index/segment arrays
///   16 B, a key output 4 B and CUB's alternates 4 + 8 B: 44.
/// - 0.19, native from 8 rows: `apply_top_k_top_p_triton` masks in place, then `random_sample` holds
///   the softmax and its exponential noise (`probs.div_(q)` in place): 4 + 4 = 8, plus the kernel's
///   cached per-program buffer ([`triton_buffer_rows`]). Under 8 rows the 0.11 sort.
/// - FlashInfer `top_k_top_p_sampling_from_logits`: a masked float32 copy and its softmax: 8.
pub fn sampler_bytes_per_logit(release: Release, sampler: Sampler, rows: u64, a: u64) -> u64 {
    let copy = if a >= 4 { 0 } else { 4 };
    copy + match (sampler, release) {
        (Sampler::Flashinfer, _) => 8,
        (Sampler::Native, Release::V0_19) if rows >= 8 => 8,
        (Sampler::Native, _) if rows >= 128 => 32,
        (Sampler::Native, _) => 44,
    }
}

/// Streaming multiprocessors assumed for the Triton top-k/top-p buffer: H100 and H200 have 132. The
/// GPU catalog does not record SM counts; across current NVIDIA GPUs (A100 108, L40S 142, B200 148)
/// the buffer differs by under 16 rows, about 8 MiB for a 128k vocabulary.
pub const ASSUMED_SMS: u64 = 132;

/// Rows of the float32 buffer 0.19's `apply_top_k_top_p_triton` allocates once and caches
/// (`_TRITON_BUFFER_CACHE`): min(SMs, rows) rounded up to a power of two, at most the SMs; none in
/// 0.11, with FlashInfer, or under 8 rows.
pub fn triton_buffer_rows(release: Release, sampler: Sampler, rows: u64) -> u64 {
    match (release, sampler) {
        (Release::V0_19, Sampler::Native) if rows >= 8 => rows.min(ASSUMED_SMS).next_power_of_two().min(ASSUMED_SMS),
        _ => 0,
    }
}

/// The dummy sampler run (`_dummy_sampler_run`, top_k = vocab − 1, top_p = 0.9) over `rows` requests
/// while the forward's t x hidden output is still held: t h a + the sampled rows' hidden states and
/// their random copy 2 rows h a + the model-dtype logits, gathered whole on every rank,
/// rows vocab_padded a + rows vocab x [`sampler_bytes_per_logit`] + the Triton buffer
/// [`triton_buffer_rows`] x vocab x 4.
pub fn sampler_peak(s: &RankShape, t: u64, rows: u64, sampler: Sampler, release: Release, a: u64) -> u64 {
    t * s.hidden * a
        + 2 * rows * s.hidden * a
        + rows * s.vocab_padded * a
        + rows * s.vocab * sampler_bytes_per_logit(release, sampler, rows, a)
        + triton_buffer_rows(release, sampler, rows) * s.vocab * 4
}

/// "torch peak memory increase", the profile run's activation peak: the larger of the forward and
/// the sampler run, which `profile_run` runs in turn (with 0.19's persistent MoE workspace under
/// both). Only the last pipeline stage samples; the others
/// receive their input as intermediate tensors (hidden and residual, 2 t h a) allocated during the run.
pub fn activation_peak(p: &Prepared, s: &Settings) -> u64 {
    let shape = RankShape::of(p);
    let a = p.act_bytes;
    let t = s.max_num_batched_tokens.max(1);
    let rows = s.max_num_seqs.min(t).max(1);
    let received = if p.stage.is_first() {
        0
    } else {
        2 * t * shape.hidden * a
    };
    let forward = received + forward_peak_of(&shape, t, a, s.release);
    if p.stage.is_last() {
        let workspace = moe_workspace(&shape, t, a, s.release);
        forward.max(received + workspace + sampler_peak(&shape, t, rows, s.sampler, s.release, a))
    } else {
        forward
    }
}

/// "non-torch forward increase memory": device memory outside PyTorch's allocator that appears
/// during the profile run: kernel modules loaded on first use (Triton/Inductor code, cuBLASLt), in
/// 0.19 what the CUDA-graph memory profile (`profile_cudagraph_memory`, inside the profiling window)
/// leaves behind, and with tensor parallelism the collective buffers connected at the first
/// all-reduce (NCCL, vLLM's custom all-reduce), which over NVLink are gigabytes. The driver and NCCL
/// size these, not vLLM's code, so this is an allowance taken from published logs, not a derivation;
/// [`non_torch_bound`] is how far it can be off.
pub fn non_torch(p: &Prepared, s: &Settings) -> u64 {
    match non_torch_case(p) {
        NonTorch::TensorParallelNvlink => 2048 * MIB,
        NonTorch::TensorParallel => 256 * MIB,
        NonTorch::Single => match s.release {
            Release::V0_11 => 64 * MIB,
            Release::V0_19 => 256 * MIB,
        },
    }
}

/// The cases [`non_torch`] distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonTorch {
    /// one GPU, or pipeline stages without tensor parallelism (0.02-0.07 GiB printed by 0.10-0.11,
    /// 0.24-0.27 by 0.19; pipeline stages 0.07)
    Single,
    /// tensor parallelism over PCIe (0.21 GiB printed on 4 x L40S)
    TensorParallel,
    /// tensor parallelism over NVLink (1.38 GiB printed on 2 x H200 by 0.10.2, 2.06-2.21 on 2-4 x
    /// H100 by 0.19)
    TensorParallelNvlink,
}

/// Which non-torch case a GPU set is in ([`non_torch_case_of`]).
pub fn non_torch_case(p: &Prepared) -> NonTorch {
    non_torch_case_of(p.gpu, p.setup.tp)
}

/// Which non-torch case `tp` ranks of `gpu` are in: NVLink is the catalog's interconnect kind.
pub fn non_torch_case_of(gpu: &GpuSpec, tp: u64) -> NonTorch {
    let nvlink = gpu.interconnect.as_ref().is_some_and(|i| i.kind.starts_with("nvlink"));
    match (tp > 1, nvlink) {
        (false, _) => NonTorch::Single,
        (true, false) => NonTorch::TensorParallel,
        (true, true) => NonTorch::TensorParallelNvlink,
    }
}

/// How far the non-torch allowance can be from what vLLM prints, by case: 0.25 GiB on one GPU (the
/// printed range, both releases, around either allowance), 0.25 GiB with tensor parallelism over
/// PCIe and 0.75 GiB over NVLink.
pub fn non_torch_bound(case: NonTorch) -> u64 {
    match case {
        NonTorch::Single | NonTorch::TensorParallel => 256 * MIB,
        NonTorch::TensorParallelNvlink => 768 * MIB,
    }
}

/// CUDA-graph capture sizes up to `limit` (the compilation config's `cudagraph_capture_sizes`):
/// [1, 2, 4] and every multiple of 8 up to min(limit, 512). 67 at the defaults.
pub fn capture_sizes(limit: u64) -> u64 {
    let top = limit.min(512);
    [1, 2, 4].iter().filter(|&&size| size <= top).count() as u64 + top / 8
}

/// Device memory per instantiated graph and decoder layer. CUDA does not document what a graph
/// executable holds and vLLM prints only the total; the gathered logs imply 0.18-0.31 MiB per
/// (piecewise graph x layer). 256 KiB is taken: an allowance of the right size (within about 25% of
/// every printed total in validation/field), not a derivation.
pub const GRAPH_BYTES_PER_LAYER: u64 = 256 << 10;

/// "Graph capturing finished in N secs, took X GiB": a piecewise graph per capture size up to
/// 2 x max_num_seqs, each of layers + 1 pieces, and in 0.11's default FULL_AND_PIECEWISE mode one full
/// decode graph per size up to max_num_seqs; nothing with `--enforce-eager`. Captured after the KV
/// cache is allocated, so it is not in the budget: it has to fit in the 1 − utilization headroom.
pub fn cuda_graphs(p: &Prepared, s: &Settings) -> u64 {
    if s.enforce_eager {
        return 0;
    }
    let piecewise = capture_sizes(2 * s.max_num_seqs) * (p.stage.layers + 1);
    let full = capture_sizes(s.max_num_seqs);
    (piecewise + full) * GRAPH_BYTES_PER_LAYER
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> RankShape {
        RankShape {
            hidden: 64,
            heads: 4,
            kv_heads: 2,
            head_dim: 16,
            intermediate: 256,
            moe: None,
            vocab: 100,
            vocab_padded: 128,
        }
    }

    #[test]
    fn the_native_sort_holds_36_bytes_a_logit_from_128_rows_and_48_below() {
        let s = shape();
        assert_eq!(
            sampler_peak(&s, 0, 256, Sampler::Native, Release::V0_11, 2),
            256 * 64 * 2 * 2 + 256 * (128 * 2 + 100 * 36)
        );
        assert_eq!(
            sampler_peak(&s, 0, 64, Sampler::Native, Release::V0_11, 2),
            64 * 64 * 2 * 2 + 64 * (128 * 2 + 100 * 48)
        );
        assert_eq!(
            sampler_peak(&s, 0, 256, Sampler::Flashinfer, Release::V0_11, 2),
            256 * 64 * 2 * 2 + 256 * (128 * 2 + 100 * 12)
        );
    }

    #[test]
    fn the_triton_sampler_of_0_19_holds_12_bytes_a_logit_and_a_buffer_of_132_rows() {
        let s = shape();
        assert_eq!(
            sampler_peak(&s, 0, 1024, Sampler::Native, Release::V0_19, 2),
            1024 * 64 * 2 * 2 + 1024 * (128 * 2 + 100 * 12) + 132 * 100 * 4
        );
        assert_eq!(triton_buffer_rows(Release::V0_19, Sampler::Native, 20), 32);
        assert_eq!(triton_buffer_rows(Release::V0_19, Sampler::Native, 4), 0);
        // float32 logits are not copied
        assert_eq!(sampler_bytes_per_logit(Release::V0_19, Sampler::Native, 1024, 4), 8);
    }

    #[test]
    fn the_forward_peaks_in_the_mlp_when_it_is_wider_than_the_hidden_state() {
        // residual + gate/up + activated half: t (h + 3 I) a
        assert_eq!(forward_peak(&shape(), 10, 2), 10 * (64 + 3 * 256) * 2);
    }

    #[test]
    fn default_capture_sizes_are_67_and_35() {
        // "Capturing CUDA graphs (mixed prefill-decode, PIECEWISE): 67/67", "(decode, FULL): 35/35"
        assert_eq!(capture_sizes(512), 67);
        assert_eq!(capture_sizes(256), 35);
        assert_eq!(capture_sizes(2), 2);
    }
}
