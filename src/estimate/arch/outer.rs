//! Embeddings, the final norm and the LM head: the tensors outside the decoder stack.

use super::{group, norm_vectors, Shard, TensorGroup};
use crate::spec::model::Architecture;
use crate::spec::precision::Role;

/// Embeddings, final norm and LM head (untied: its own vocab x hidden matrix, optional bias).
pub fn tensors(a: &Architecture) -> Vec<TensorGroup> {
    let mut g = vec![group(
        "embed_tokens.weight",
        Role::Embedding,
        a.vocab_size,
        a.hidden_size,
        1,
        Shard::Rows,
    )];
    let mut norm = group("norm", Role::Norm, 1, a.hidden_size, 1, Shard::Replicated);
    norm.count_per_layer = norm_vectors(a.norm);
    g.push(norm);
    if !a.tie_embeddings {
        g.push(group(
            "lm_head.weight",
            Role::LmHead,
            a.vocab_size,
            a.hidden_size,
            1,
            Shard::Rows,
        ));
    }
    if a.lm_head_bias {
        g.push(group("lm_head.bias", Role::Bias, 1, a.vocab_size, 1, Shard::Rows));
    }
    g
}
