//! Pipeline stages as data: the decoder layers split in order over `pp` stages (as vLLM splits
//! them), and what one GPU of a stage holds: its tensor groups, its KV bytes per token, the
//! parameters its matmuls run. Pure layer bookkeeping with no estimate in it, so `memory`,
//! `throughput` and `pipeline` can all read it without importing each other.

use super::arch::{Part, TensorGroup};
use super::kv::{self, KvPerToken};
use super::{ModelFacts, WeightFacts};
use crate::spec::model::ModelSpec;
use crate::spec::precision::{Format, KvPrecision, Role};
use serde::Serialize;
use std::ops::Range;

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

/// KV bytes per token on one GPU of `stage`: its attention layers' KV and its recurrent layers'
/// state, split like [`kv::per_token`] ([`kv::per_token_in`] over the stage's layers). The whole
/// model's figure when the stage is the whole model.
pub fn stage_kv(model: &ModelSpec, precision: KvPrecision, tp: u64, stage: &Stage) -> KvPerToken {
    stage_kv_with(model, precision, tp, stage, kv::StatePolicy::ModelDtype)
}

/// [`stage_kv`] with the recurrent state kept as the engine keeps it.
pub fn stage_kv_with(
    model: &ModelSpec,
    precision: KvPrecision,
    tp: u64,
    stage: &Stage,
    policy: kv::StatePolicy,
) -> KvPerToken {
    let Some(a) = model.architecture.as_ref() else {
        return kv::per_token(model, precision, tp);
    };
    let state = a.recurrent.as_ref().map_or(kv::StateBytes::F32, |r| policy.bytes(r));
    kv::per_token_in(model, precision, tp, stage.range(), state)
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
}
