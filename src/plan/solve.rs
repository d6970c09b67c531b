//! Inverse solving: the largest context or batch that fits, the smallest GPU count. Memory is
//! monotone in context, batch and GPU memory (property-tested in tests/monotonicity.rs), so binary
//! search finds the exact boundary.

pub use crate::estimate::search::largest;
use crate::estimate::Prepared;

/// Largest context (text tokens per sequence, up to the model's maximum) that fits at `batch`;
/// None when not even one token does.
pub fn max_context(p: &Prepared, batch: u64) -> Option<u64> {
    p.max_context(batch)
}

/// Largest batch at `context` that fits, searched up to `cap`; None when batch 1 does not fit.
pub fn max_batch(p: &Prepared, context: u64, cap: u64) -> Option<u64> {
    largest(1, cap.max(1), |b| p.fits(context, b))
}

/// Tensor-parallel degrees worth trying for a model: powers of two up to 8 (one node) that divide
/// its attention heads, so heads split evenly.
pub fn tp_degrees(model: &crate::spec::ModelSpec) -> Vec<u64> {
    let heads = model.architecture.as_ref().map(|a| a.attention_heads);
    [1u64, 2, 4, 8]
        .into_iter()
        .filter(|n| heads.is_none_or(|h| h % n == 0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::largest;

    #[test]
    fn finds_the_exact_boundary() {
        for limit in [1u64, 2, 3, 17, 1000, 131_072] {
            for edge in [1u64, 2, 5, 999, 4096, 131_071] {
                let got = largest(1, limit, |x| x <= edge);
                assert_eq!(got, Some(edge.min(limit)), "limit {limit} edge {edge}");
            }
        }
        assert_eq!(largest(1, 100, |_| false), None);
    }
}
