//! Tensor inventories: every weight tensor a model holds, derived from its spec. One file per
//! architecture family of block: [`outer`] (embeddings, final norm, head), [`attention`] (multi-head
//! and grouped-query attention), [`mla`] (multi-head latent attention), [`mamba2`] and [`deltanet`]
//! (the recurrent mixers of hybrid models), [`mlp`] (dense MLP), [`moe`]
//! (router and experts), [`vision`] (image encoders and projectors, one file per tower), [`summary`]
//! (parameter-count-only specs). Shapes follow the Hugging Face `modeling_*.py` files; with them the
//! Phi family reproduces its published counts exactly.

pub mod attention;
pub mod deltanet;
pub mod mamba2;
pub mod mla;
pub mod mlp;
pub mod moe;
pub mod outer;
pub mod summary;
pub mod vision;

use crate::spec::model::{Architecture, ModelSpec, NormKind, RecurrentKind};
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
    let mut groups = outer::tensors(a);
    match &a.mla {
        Some(m) => groups.extend(mla::tensors(a, m)),
        None => groups.extend(attention::tensors(a)),
    }
    groups.push(layer_norms(a));
    if let Some(r) = &a.recurrent {
        groups.extend(match r.kind {
            RecurrentKind::Mamba2 => mamba2::tensors(a, r),
            RecurrentKind::GatedDeltaNet => deltanet::tensors(a, r),
        });
    }
    match &a.moe {
        Some(m) => groups.extend(moe::mlp(a, m)),
        None => groups.extend(mlp::tensors(a)),
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

/// A group of decoder-layer (or, with `layers` = 1, outer) tensors, one per layer.
pub(crate) fn group(name: &'static str, role: Role, rows: u64, cols: u64, layers: u64, shard: Shard) -> TensorGroup {
    TensorGroup {
        name,
        role,
        rows,
        cols,
        layers,
        count_per_layer: 1,
        per_decoder_layer: layers > 1 || name.starts_with("layers."),
        routed_expert: false,
        shard,
        part: Part::Text,
    }
}

/// Vectors per norm: RMSNorm has a weight, LayerNorm a weight and a bias.
pub(crate) fn norm_vectors(kind: NormKind) -> u64 {
    match kind {
        NormKind::Rms => 1,
        NormKind::Layer => 2,
    }
}

/// The decoder layers' own norms (input, post-attention, and Gemma 2's pre/post feed-forward).
fn layer_norms(a: &Architecture) -> TensorGroup {
    let mut norms = group(
        "layers.*.norms",
        Role::Norm,
        1,
        a.hidden_size,
        a.layers,
        Shard::Replicated,
    );
    norms.count_per_layer = a.norms_per_layer * norm_vectors(a.norm);
    norms
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
