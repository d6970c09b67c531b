//! Tensor inventories: every weight tensor a model holds, derived from its spec. One file per
//! architecture layout: [`dense`] (decoder blocks, embeddings, head), [`moe`] (router and experts),
//! [`vision`] (CLIP-style image encoder and projector), [`summary`] (parameter-count-only specs).

pub mod dense;
pub mod moe;
pub mod summary;
pub mod vision;

use crate::spec::model::ModelSpec;
use crate::spec::precision::{GgufModel, Role};
use serde::Serialize;

/// How tensor parallelism splits a tensor across GPUs (Megatron-LM layout, as vLLM shards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shard {
    /// output rows split (q, gate/up, experts' w1/w3, column-parallel)
    Rows,
    /// input columns split (o_proj, down_proj: row-parallel)
    Cols,
    /// k/v projections: split by KV head; replicated when there are fewer KV heads than GPUs
    KvHeads,
    /// every GPU holds the whole tensor (norms, row-parallel biases, router, vision tower)
    Replicated,
}

/// Which part of the model a tensor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Text,
    Vision,
}

/// A group of identically shaped tensors: `count_per_layer` copies in each of `layers` layers
/// (`layers` = 1 for tensors outside the decoder stack).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorGroup {
    pub name: &'static str,
    pub role: Role,
    /// output features (1 for vectors)
    pub rows: u64,
    /// input features / vector length
    pub cols: u64,
    pub layers: u64,
    pub count_per_layer: u64,
    /// true when `layers` counts decoder layers (GGUF per-layer type rules apply)
    pub per_decoder_layer: bool,
    /// MoE routed expert: only `experts_per_token` of `count_per_layer` are active per token
    pub routed_expert: bool,
    pub shard: Shard,
    pub part: Part,
}

impl TensorGroup {
    pub fn numel(&self) -> u64 {
        self.rows * self.cols * self.layers * self.count_per_layer
    }
}

/// Every tensor of a model plus what the rest of the estimator needs about its shape.
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    pub groups: Vec<TensorGroup>,
    /// false for summary-level specs: the tensor split is a guess, counts are as declared
    pub exact: bool,
    /// experts per token / experts, when MoE
    pub moe: Option<(u64, u64)>,
    /// what GGUF type rules need to know about the model
    pub gguf: GgufModel,
}

impl Inventory {
    /// Total parameters: the sum of every tensor's elements.
    pub fn parameters(&self) -> u64 {
        self.groups.iter().map(TensorGroup::numel).sum()
    }

    /// Parameters used per token: routed experts count `experts_per_token` of `experts` copies.
    pub fn active_parameters(&self) -> u64 {
        self.groups
            .iter()
            .map(|g| match (g.routed_expert, self.moe) {
                (true, Some((k, e))) => g.numel() / e * k,
                _ => g.numel(),
            })
            .sum()
    }

    pub fn vision_parameters(&self) -> u64 {
        self.groups
            .iter()
            .filter(|g| g.part == Part::Vision)
            .map(TensorGroup::numel)
            .sum()
    }

    /// Elements of one routed expert across all layers (all its matrices), 0 for dense models.
    pub fn expert_parameters_per_expert(&self) -> u64 {
        match self.moe {
            Some((_, e)) => self
                .groups
                .iter()
                .filter(|g| g.routed_expert)
                .map(|g| g.numel() / e)
                .sum(),
            None => 0,
        }
    }
}

/// Builds the inventory for any spec.
pub fn inventory(spec: &ModelSpec) -> Inventory {
    let Some(a) = &spec.architecture else {
        return summary::inventory(spec);
    };
    let mut groups = dense::outer(a);
    groups.extend(dense::attention(a));
    match &a.moe {
        Some(m) => groups.extend(moe::mlp(a, m)),
        None => groups.extend(dense::mlp(a)),
    }
    if let Some(v) = &spec.vision {
        groups.extend(vision::tower(v, a.hidden_size));
    }
    Inventory {
        groups,
        exact: true,
        moe: a.moe.as_ref().map(|m| (m.experts_per_token, m.experts)),
        gguf: GgufModel::from_architecture(a),
    }
}

/// Checks declared `parameters` / `active_parameters` against the derivation. Returns the field and a
/// message on disagreement; summary specs have nothing to check.
pub fn check_declared(spec: &ModelSpec) -> Result<(), (String, String)> {
    let inv = inventory(spec);
    if !inv.exact {
        return Ok(());
    }
    for (field, declared, derived) in [
        ("parameters", spec.parameters, inv.parameters()),
        ("active_parameters", spec.active_parameters, inv.active_parameters()),
    ] {
        if let Some(d) = declared {
            if d != derived {
                return Err((
                    field.to_string(),
                    format!(
                        "declared {d} but the architecture has {derived} (difference {})",
                        derived as i128 - d as i128
                    ),
                ));
            }
        }
    }
    Ok(())
}
