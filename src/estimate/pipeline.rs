//! Pipeline parallelism: the decoder layers are split in order over `pp` stages, each stage one
//! tensor-parallel group of `tp` GPUs. A stage holds its layers' weights and KV cache; the first
//! stage also holds the embeddings and the vision tower, the last the final norm and the LM head.
//! Every stage pays its own CUDA context and workspaces. A decode step passes the hidden state from
//! stage to stage, so one token's latency is the sum of the stage times; throughput recovers only
//! when several micro-batches are in flight at once.

use super::arch::{Part, TensorGroup};
use super::kv::{self, KvPerToken};
use super::memory::Prepared;
use super::throughput::{self, Throughput};
use super::{ModelFacts, WeightFacts};
use crate::spec::model::ModelSpec;
use crate::spec::precision::{Format, KvPrecision, Role};
use serde::Serialize;
use std::ops::Range;

/// GPUs in one node (HGX/DGX baseboards carry 8): tensor parallelism stays inside a node, pipeline
/// stages may span nodes.
pub const GPUS_PER_NODE: u64 = 8;

/// GPU-to-GPU bandwidth when the spec names no interconnect: PCIe 4.0 x16, ~32 GB/s per direction
/// (the same figure `throughput::tp_comm_s` assumes).
pub const PCIE_FALLBACK_GBPS: f64 = 32.0;

/// Per-GPU bandwidth between nodes: one 400 Gb/s NDR InfiniBand port per GPU, as in a DGX H100
/// (8 x ConnectX-7) = 50 GB/s.
pub const INTER_NODE_GBPS: f64 = 50.0;

/// Latency of one point-to-point send (NCCL send/recv of a small tensor), seconds; the same order as
/// the 10 µs per all-reduce `throughput::tp_comm_s` charges.
pub const P2P_LATENCY_S: f64 = 10e-6;

/// One pipeline stage: decoder layers `first_layer .. first_layer + layers` of `total_layers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub index: u64,
    pub stages: u64,
    pub first_layer: u64,
    pub layers: u64,
    pub total_layers: u64,
}

impl Stage {
    /// The whole model as one stage (no pipeline parallelism).
    pub fn whole(total_layers: u64) -> Stage {
        Stage {
            index: 0,
            stages: 1,
            first_layer: 0,
            layers: total_layers,
            total_layers,
        }
    }

    pub fn is_whole(&self) -> bool {
        self.stages <= 1
    }

    pub fn is_first(&self) -> bool {
        self.index == 0
    }

    pub fn is_last(&self) -> bool {
        self.index + 1 >= self.stages
    }

    pub fn range(&self) -> Range<u64> {
        self.first_layer..self.first_layer + self.layers
    }

    /// Which layers of a tensor group this stage holds: its slice of the decoder layers; the vision
    /// tower and the input embedding on the first stage; the final norm and LM head on the last.
    /// With tied embeddings the last stage also holds the embedding matrix as its LM head (vLLM
    /// builds `embed_tokens` on the last rank when `tie_word_embeddings`).
    pub fn select(&self, g: &TensorGroup, tied_embeddings: bool) -> Range<u64> {
        let all = 0..g.layers;
        let none = 0..0;
        if g.part == Part::Vision {
            return if self.is_first() { all } else { none };
        }
        if g.per_decoder_layer {
            let r = self.range();
            return r.start.min(g.layers)..r.end.min(g.layers);
        }
        let here = match g.role {
            Role::Embedding => self.is_first() || (tied_embeddings && self.is_last()),
            _ => self.is_last(),
        };
        if here {
            all
        } else {
            none
        }
    }
}

/// Decoder layers per stage as vLLM splits them (`vllm/distributed/utils.py` `get_pp_indices`):
/// `layers / pp` each, the remainder one extra each to the stages before the last, counting back
/// from the second-to-last (the last holds the LM head already). None when `pp` is 0 or exceeds
/// the layers.
pub fn split(total_layers: u64, pp: u64) -> Option<Vec<Stage>> {
    if pp == 0 || pp > total_layers {
        return None;
    }
    let base = total_layers / pp;
    let rest = total_layers % pp;
    let mut counts = vec![base; pp as usize];
    for i in 2..rest + 2 {
        counts[(pp - i) as usize] += 1;
    }
    let mut first = 0;
    Some(
        counts
            .into_iter()
            .enumerate()
            .map(|(i, layers)| {
                let s = Stage {
                    index: i as u64,
                    stages: pp,
                    first_layer: first,
                    layers,
                    total_layers,
                };
                first += layers;
                s
            })
            .collect(),
    )
}

/// Decoder layers of a model when its layout is known (architecture-level specs); summary specs
/// cannot be split into stages.
pub fn decoder_layers(model: &ModelSpec) -> Option<u64> {
    model.architecture.as_ref().map(|a| a.layers)
}

/// Stage `index` of `pp` for `model`; the whole model when `pp` <= 1 or the model cannot be split.
pub fn stage(model: &ModelSpec, pp: u64, index: u64) -> Stage {
    let layers = decoder_layers(model).unwrap_or(0);
    match split(layers, pp) {
        Some(stages) if pp > 1 => stages.get(index as usize).copied().unwrap_or(Stage::whole(layers)),
        _ => Stage::whole(layers),
    }
}

/// Whether `model` can run as `pp` stages: an architecture-level spec with at least `pp` layers.
pub fn supports(model: &ModelSpec, pp: u64) -> bool {
    pp <= 1 || decoder_layers(model).is_some_and(|l| l >= pp)
}

fn tied(model: &ModelSpec) -> bool {
    model.architecture.as_ref().is_some_and(|a| a.tie_embeddings)
}

/// The weights one GPU of `stage` holds: the stage's tensor groups ([`Stage::select`]), each sharded
/// `tp` ways. Summed over the stages, equal to the whole model's weights (plus the tied LM head copy).
pub fn stage_weights(model: &ModelSpec, facts: &ModelFacts, format: &Format, tp: u64, stage: &Stage) -> WeightFacts {
    let tied = tied(model);
    let select = |g: &TensorGroup| stage.select(g, tied);
    WeightFacts::for_layers(model, facts, format, tp, &select)
}

/// Sliding-window layers among `layers`: all when the pattern is 1, otherwise every layer whose index
/// is not a multiple of the pattern (the count matches `Architecture::windowed_layers`).
fn windowed_in(a: &crate::spec::model::Architecture, layers: Range<u64>) -> u64 {
    match a.sliding_window {
        None => 0,
        Some(_) if a.sliding_window_pattern <= 1 => layers.end - layers.start,
        Some(_) => layers.filter(|i| i % a.sliding_window_pattern != 0).count() as u64,
    }
}

/// KV bytes per token on one GPU of `stage`: 2 x stage layers x kv heads per GPU x head_dim x bytes,
/// split into full and windowed layers like [`kv::per_token`]. The whole model's figure when the
/// stage is the whole model.
pub fn stage_kv(model: &ModelSpec, precision: KvPrecision, tp: u64, stage: &Stage) -> KvPerToken {
    let whole = kv::per_token(model, precision, tp);
    let Some(a) = model.architecture.as_ref().filter(|_| !stage.is_whole()) else {
        return whole;
    };
    let heads = kv::kv_heads_per_gpu(a.kv_heads(), tp);
    let per_layer = 2 * precision.bytes(1, heads * a.head_dim());
    let windowed = windowed_in(a, stage.range());
    KvPerToken {
        full: per_layer * (stage.layers - windowed),
        windowed: per_layer * windowed,
        window: whole.window,
        layers: stage.layers,
        kv_heads: heads,
        head_dim: a.head_dim(),
    }
}

/// Parameters whose matmuls run for every token on `stage` (before the tensor-parallel split): the
/// active parameters of its groups, less the input embedding (a lookup, not a matmul) and the vision
/// tower (run at prefill over image crops only). With tied embeddings the matrix is the LM head's,
/// counted on the last stage. Summary specs: active parameters less a vocab x hidden embedding.
pub fn matmul_parameters(model: &ModelSpec, facts: &ModelFacts, stage: &Stage, vocab: u64, hidden: u64) -> u64 {
    let inv = &facts.inventory;
    if !inv.exact {
        return facts.active_parameters.saturating_sub(vocab * hidden);
    }
    let tied = tied(model);
    inv.groups
        .iter()
        .filter(|g| g.part != Part::Vision)
        .filter(|g| g.role != Role::Embedding || (tied && stage.is_last()))
        .map(|g| {
            let r = stage.select(g, tied);
            let held = r.end.min(g.layers).saturating_sub(r.start);
            let numel = g.numel() / g.layers.max(1) * held;
            match (g.routed_expert, inv.moe) {
                (true, Some((k, e))) if e > 0 => numel / e * k,
                _ => numel,
            }
        })
        .sum()
}

/// Bandwidth of the link between two stages, GB/s: the GPU's interconnect (PCIe when none) inside a
/// node; the slower of that and [`INTER_NODE_GBPS`] when the layout spans nodes.
pub fn link_gbps(p: &Prepared) -> f64 {
    let intra = p
        .gpu
        .interconnect
        .as_ref()
        .map_or(PCIE_FALLBACK_GBPS, |i| i.bandwidth_gbps);
    if p.setup.tp * p.setup.pp > GPUS_PER_NODE {
        intra.min(INTER_NODE_GBPS)
    } else {
        intra
    }
}

/// One stage-to-stage send of `tokens` hidden states: tokens x hidden x activation bytes / link
/// bandwidth + [`P2P_LATENCY_S`].
pub fn p2p_s(p: &Prepared, tokens: u64) -> f64 {
    let bytes = (tokens * p.geometry.hidden * p.act_bytes) as f64;
    bytes / (link_gbps(p) * 1e9) + P2P_LATENCY_S
}

/// Micro-batches in flight for `batch` sequences over `pp` stages: one per stage when there are
/// enough sequences (vLLM runs `pp` virtual engines), else one per sequence.
pub fn micro_batches(pp: u64, batch: u64) -> u64 {
    pp.min(batch).max(1)
}

/// Decode and prefill throughput of a pipeline, `stages` being one [`Prepared`] per stage in order.
///
/// Decode: the batch is cut into m = min(pp, batch) micro-batches of b = ceil(batch/m); a round in
/// which every sequence gains one token takes max(m x max_s t_s(b), Σ_s t_s(b) + (pp-1) x p2p): the
/// busiest stage when the pipeline is full, the whole chain when it is not (the bubble).
/// Prefill: the prompt's chunks flow through the stages (GPipe schedule), Σ_s T_s/c + (c-1) x
/// max_s T_s/c for c chunks with T_s a stage's time for the whole prompt, plus the sends.
/// TTFT = prefill + one token's trip through every stage. With one stage, exactly
/// [`throughput::estimate`].
pub fn estimate(stages: &[Prepared], context: u64, batch: u64) -> Option<Throughput> {
    let first = stages.first()?;
    if stages.len() == 1 {
        return Some(throughput::estimate(first, context, batch));
    }
    let batch = batch.max(1);
    let pp = stages.len() as u64;
    let m = micro_batches(pp, batch);
    let b = batch.div_ceil(m);
    let steps: Vec<(f64, bool, u64, Option<f64>)> = stages
        .iter()
        .map(|p| throughput::decode_step_s(p, context, b))
        .collect();
    let sends = (pp - 1) as f64 * p2p_s(first, b);
    let chain: f64 = steps.iter().map(|s| s.0).sum::<f64>() + sends;
    let (slowest, bound_mem, _, touched) =
        steps
            .iter()
            .copied()
            .fold((0.0, true, 0, None), |acc, s| if s.0 > acc.0 { s } else { acc });
    let round = (m as f64 * slowest).max(chain);
    let bytes = steps.iter().map(|s| s.2).max().unwrap_or(0);

    let prompt = first.sequence_tokens(context);
    let (chunk, chunks) = throughput::prefill_chunking(first.setup.runtime, prompt);
    let chunks = chunks as f64;
    let whole: Vec<f64> = stages.iter().map(|p| throughput::prefill_s(p, prompt, batch)).collect();
    let max_whole = whole.iter().copied().fold(0.0, f64::max);
    let prefill = (whole.iter().sum::<f64>() + (chunks - 1.0) * max_whole) / chunks
        + (pp - 1) as f64 * p2p_s(first, chunk * batch);
    let step = throughput::DecodeStep {
        seconds: round,
        memory_bound: bound_mem,
        bytes,
        touched,
        first_token_s: chain,
    };
    Some(Throughput::new(
        step,
        prefill,
        prompt * batch,
        batch,
        first.setup.runtime,
    ))
}

/// Weights of every stage in order (what [`Prepared`] per stage borrows).
pub fn all_stage_weights(model: &ModelSpec, facts: &ModelFacts, format: &Format, tp: u64, pp: u64) -> Vec<WeightFacts> {
    if pp <= 1 || !supports(model, pp) {
        return vec![WeightFacts::new(model, facts, format, tp)];
    }
    (0..pp)
        .map(|i| stage_weights(model, facts, format, tp, &stage(model, pp, i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_layers_like_vllm() {
        let layers = |l, pp| split(l, pp).map(|s| s.iter().map(|s| s.layers).collect::<Vec<_>>());
        assert_eq!(layers(32, 4), Some(vec![8, 8, 8, 8]));
        // 32 = 3 x 10 + 2: the two stages before the last get one more
        assert_eq!(layers(32, 3), Some(vec![11, 11, 10]));
        assert_eq!(layers(40, 6), Some(vec![6, 7, 7, 7, 7, 6]));
        assert_eq!(layers(5, 4), Some(vec![1, 1, 2, 1]));
        assert_eq!(layers(3, 4), None);
        assert_eq!(layers(3, 0), None);
        let s = split(32, 3).unwrap_or_default();
        assert_eq!(s.iter().map(|s| s.first_layer).collect::<Vec<_>>(), vec![0, 11, 22]);
    }

    #[test]
    fn micro_batches_fill_the_pipeline_when_they_can() {
        assert_eq!(micro_batches(4, 1), 1);
        assert_eq!(micro_batches(4, 3), 3);
        assert_eq!(micro_batches(4, 64), 4);
    }
}
