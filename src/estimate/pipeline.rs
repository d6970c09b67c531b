//! Pipeline parallelism: the decoder layers are split in order over `pp` stages, each stage one
//! tensor-parallel group of `tp` GPUs. A stage holds its layers' weights and KV cache; the first
//! stage also holds the embeddings and the vision tower, the last the final norm and the LM head.
//! Every stage pays its own CUDA context and workspaces. A decode step passes the hidden state from
//! stage to stage, so one token's latency is the sum of the stage times; throughput recovers only
//! when several micro-batches are in flight at once.

use super::interconnect::{GPUS_PER_NODE, INTER_NODE_GBPS, P2P_LATENCY_S, PCIE_FALLBACK_GBPS};
use super::prepared::Prepared;
use super::throughput::{self, Throughput};

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
    Some(Throughput::new(step, prefill, prompt * batch, batch, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_batches_fill_the_pipeline_when_they_can() {
        assert_eq!(micro_batches(4, 1), 1);
        assert_eq!(micro_batches(4, 3), 3);
        assert_eq!(micro_batches(4, 64), 4);
    }
}
