//! Multi-GPU layouts: `tp` GPUs in tensor parallel inside a node, `pp` pipeline stages (which may span
//! nodes). A [`Replica`] owns what the per-stage estimates borrow; the smallest GPU count that fits is
//! found by searching every valid layout in order of GPU count ([`smallest`]), not guessed.

use super::{solve, Options};
use crate::estimate::engine::{llamacpp, offload, Settings};
use crate::estimate::interconnect::GPUS_PER_NODE;
use crate::estimate::{pipeline, stage};
use crate::estimate::{throughput, EngineId, Memory, ModelFacts, Prepared, Setup, Throughput, WeightFacts};
use crate::spec::{GpuSpec, ModelSpec};
use serde::Serialize;
use std::sync::Arc;

/// GPUs per replica the searches consider at most (8 nodes of 8).
pub const MAX_GPUS: u64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Layout {
    /// tensor-parallel GPUs per stage
    pub tp: u64,
    /// pipeline stages
    pub pp: u64,
}

impl Layout {
    pub const SINGLE: Layout = Layout { tp: 1, pp: 1 };

    pub fn gpus(&self) -> u64 {
        self.tp * self.pp
    }

    /// "1 GPU", "TP 2", "PP 2", "TP 4 x PP 2".
    pub fn label(&self) -> String {
        match (self.tp, self.pp) {
            (1, 1) => "1 GPU".into(),
            (t, 1) => format!("TP {t}"),
            (1, p) => format!("PP {p}"),
            (t, p) => format!("TP {t} x PP {p}"),
        }
    }
}

/// Every layout worth trying for `model` with at most `max_gpus` GPUs, fewest GPUs first and, for
/// the same count, the widest tensor parallelism first (lower latency than more stages). Tensor
/// parallel degrees come from [`solve::tp_degrees`] (they divide the attention heads and stay in a
/// node); pipeline depth is limited by the decoder layers. Without `tensor_parallel` (llama.cpp,
/// which splits layers between GPUs) only pipelines.
pub fn candidates(model: &ModelSpec, max_gpus: u64, tensor_parallel: bool) -> Vec<Layout> {
    let tps: Vec<u64> = solve::tp_degrees(model)
        .into_iter()
        .filter(|&t| t <= GPUS_PER_NODE && (tensor_parallel || t == 1))
        .collect();
    let max_pp = stage::decoder_layers(model).unwrap_or(1);
    let mut out: Vec<Layout> = Vec::new();
    for &tp in &tps {
        for pp in 1..=max_pp {
            if tp * pp <= max_gpus && stage::supports(model, pp) {
                out.push(Layout { tp, pp });
            }
        }
    }
    out.sort_by_key(|l| (l.gpus(), std::cmp::Reverse(l.tp)));
    out
}

/// One replica of a model on `tp x pp` GPUs: the facts and per-stage weights its estimates borrow.
#[derive(Debug, Clone)]
pub struct Replica<'a> {
    pub model: &'a ModelSpec,
    pub gpu: &'a GpuSpec,
    pub layout: Layout,
    setup: Setup<'a>,
    facts: Arc<ModelFacts>,
    weights: Vec<WeightFacts>,
}

impl<'a> Replica<'a> {
    /// `opts.gpus` and `opts.pipeline` are replaced by `layout`. llama.cpp has no tensor parallelism:
    /// its GPUs split the layers (`--split-mode layer`), so a layout's GPUs are its stages there.
    pub fn new(model: &'a ModelSpec, gpu: &'a GpuSpec, opts: &Options, layout: Layout) -> Self {
        Self::with_facts(model, gpu, opts, layout, Arc::new(ModelFacts::new(model)))
    }

    /// [`Replica::new`] with `model`'s facts already built (a search over layouts builds them once).
    fn with_facts(
        model: &'a ModelSpec,
        gpu: &'a GpuSpec,
        opts: &Options,
        layout: Layout,
        facts: Arc<ModelFacts>,
    ) -> Self {
        let layout = if splits_layers(model, opts) {
            Layout {
                tp: 1,
                pp: layout.gpus(),
            }
        } else {
            layout
        };
        let o = Options {
            gpus: layout.tp,
            pipeline: layout.pp,
            ..*opts
        };
        let setup = o.setup(model);
        let weights = stage::all_stage_weights(model, &facts, setup.format, setup.tp, setup.pp);
        // a model that cannot be split runs unsplit
        let layout = Layout {
            tp: layout.tp,
            pp: weights.len() as u64,
        };
        let setup = Setup { pp: layout.pp, ..setup };
        Replica {
            model,
            gpu,
            layout,
            setup,
            facts,
            weights,
        }
    }

    pub fn facts(&self) -> &ModelFacts {
        &self.facts
    }

    pub fn setup(&self) -> &Setup<'a> {
        &self.setup
    }

    /// One prepared estimate per stage, in order (at least one: `all_stage_weights` never returns
    /// an empty list).
    pub fn stages(&self) -> Stages<'_> {
        Stages(
            self.weights
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    Prepared::new(
                        Setup {
                            stage: i as u64,
                            ..self.setup
                        },
                        self.gpu,
                        &self.facts,
                        w,
                    )
                })
                .collect(),
        )
    }
}

/// What `p` lets itself use with `margin` (a fraction) of it left free.
fn limit(p: &Prepared, margin: f64) -> u64 {
    p.budget - (p.budget as f64 * margin.clamp(0.0, 1.0)) as u64
}

/// Whether `model` runs on an engine that splits layers, not tensors, between GPUs (llama.cpp).
pub fn splits_layers(model: &ModelSpec, opts: &Options) -> bool {
    opts.runtime_for(opts.format_for(model)).id == EngineId::LlamaCpp
}

/// Estimates over a replica's stages (never empty): memory is per GPU, so the heaviest stage decides.
pub struct Stages<'p>(Vec<Prepared<'p>>);

impl<'p> Stages<'p> {
    pub fn all(&self) -> &[Prepared<'p>] {
        &self.0
    }

    /// The first stage (the whole model without pipeline parallelism).
    pub fn first(&self) -> &Prepared<'p> {
        &self.0[0]
    }

    pub fn fits(&self, context: u64, batch: u64) -> bool {
        self.fits_with_margin(context, batch, 0.0)
    }

    /// Fits with `margin` (a fraction) of every GPU's usable memory left free.
    pub fn fits_with_margin(&self, context: u64, batch: u64, margin: f64) -> bool {
        !self.over_before_compute(context, batch, margin) && self.fits_replayed(context, batch, margin)
    }

    /// Whether some GPU is over its limit (`margin` left free) before its compute buffer: then it
    /// is over it with it, and [`Self::fits_replayed`] is false without the graph replay it costs.
    fn over_before_compute(&self, context: u64, batch: u64, margin: f64) -> bool {
        self.before_compute(context, batch)
            .is_some_and(|b| self.0.iter().zip(b).any(|(p, b)| b > limit(p, margin)))
    }

    /// [`Self::fits_with_margin`] from every GPU's whole total (on llama.cpp a graph replay per
    /// placement and context).
    fn fits_replayed(&self, context: u64, batch: u64, margin: f64) -> bool {
        let within = |p: &Prepared, total: u64| p.holds(total, context) && total <= limit(p, margin);
        match self.layer_split(context, batch) {
            Some(totals) => self.0.iter().zip(totals).all(|(p, t)| within(p, t)),
            None => self.0.iter().all(|p| within(p, p.total(context, batch))),
        }
    }

    /// GPU bytes of each stage under llama.cpp's layer split, from one placement of the whole model
    /// (each stage alone would place it again); None for the other engines and for one GPU.
    fn layer_split(&self, context: u64, batch: u64) -> Option<Vec<u64>> {
        let sp = self.llamacpp_split(context, batch)?;
        Some(sp.gpus.iter().map(|g| g.total_bytes).collect())
    }

    /// llama.cpp's layer split of the whole model over the stages' GPUs, as it starts; None for
    /// the other engines and for one GPU.
    fn llamacpp_split(&self, context: u64, batch: u64) -> Option<offload::Split> {
        let p = self.first();
        match &p.settings {
            Settings::LlamaCpp(s) if offload::devices(p) > 1 => Some(offload::split(
                p,
                s,
                offload::devices(p),
                context,
                batch,
                &offload::MODELED,
            )),
            _ => None,
        }
    }

    /// Pipeline parallelism under llama.cpp's layer split over several GPUs (dropped where its
    /// four-copy compute buffers do not fit: [`offload::retries_without_pipeline`]); None for the
    /// other engines and for one GPU.
    pub fn pipeline_parallel(&self, context: u64, batch: u64) -> Option<offload::Pipeline> {
        self.llamacpp_split(context, batch).map(|sp| sp.pipeline)
    }

    /// GPU bytes of each stage before its compute buffer, from the placement alone (llama.cpp, whose
    /// compute buffers come from a graph replay); None for the other engines.
    fn before_compute(&self, context: u64, batch: u64) -> Option<Vec<u64>> {
        let p = self.first();
        match &p.settings {
            Settings::LlamaCpp(s) if offload::is_split(p, s) => {
                let gpus = offload::devices(p);
                Some(offload::totals_before_compute(
                    p,
                    s,
                    gpus,
                    context,
                    batch,
                    &offload::MODELED,
                ))
            }
            Settings::LlamaCpp(s) => Some(vec![llamacpp::total_before_compute(p, s, context, batch)]),
            _ => None,
        }
    }

    /// Largest batch at `context` that fits with `margin` left free, up to `cap`.
    pub fn max_batch_with_margin(&self, context: u64, cap: u64, margin: f64) -> Option<u64> {
        solve::largest(1, cap.max(1), |b| self.fits_with_margin(context, b, margin))
    }

    /// The stage with the most bytes per GPU, and its itemized memory.
    pub fn heaviest(&self, context: u64, batch: u64) -> (u64, Memory) {
        let totals = self
            .layer_split(context, batch)
            .unwrap_or_else(|| self.0.iter().map(|p| p.total(context, batch)).collect());
        let idx = (0..totals.len()).max_by_key(|&i| totals[i]).unwrap_or(0);
        (idx as u64, self.0[idx].memory(context, batch))
    }

    /// Per-GPU memory of every stage (what a chart of the stages shows).
    pub fn memories(&self, context: u64, batch: u64) -> Vec<Memory> {
        self.0.iter().map(|p| p.memory(context, batch)).collect()
    }

    /// Largest context (up to the model's maximum) every stage fits at `batch`.
    pub fn max_context(&self, batch: u64) -> Option<u64> {
        let limit = self.first().setup.model.max_context;
        solve::largest(1, limit, |c| self.fits(c, batch))
    }

    /// Largest batch at `context` every stage fits, up to `cap`.
    pub fn max_batch(&self, context: u64, cap: u64) -> Option<u64> {
        solve::largest(1, cap.max(1), |b| self.fits(context, b))
    }

    pub fn throughput(&self, context: u64, batch: u64) -> Throughput {
        pipeline::estimate(&self.0, context, batch)
            .unwrap_or_else(|| throughput::estimate(self.first(), context, batch))
    }
}

/// The smallest layout (fewest GPUs) on which `model` fits `gpu` at `context` and `batch`, up to
/// `max_gpus`; among layouts with that many GPUs, the fastest per-sequence decode. None when no
/// layout fits.
///
/// A layout whose GPUs together cannot hold the model's layers is not built: each layer's weights
/// live on some GPU of a replica (split or whole), so `n` GPUs need `n x budget >=` [`layer_bytes`].
pub fn smallest(
    model: &ModelSpec,
    gpu: &GpuSpec,
    opts: &Options,
    context: u64,
    batch: u64,
    max_gpus: u64,
) -> Option<Layout> {
    let facts = Arc::new(ModelFacts::new(model));
    let floor = GpuFloor::new(model, gpu, opts, &facts);
    smallest_of(model, gpu, opts, (context, batch), max_gpus, &facts, |l| {
        floor.may_fit(l)
    })
}

/// The fewest GPUs any layout needs to hold `model`'s layers, from one GPU's budget.
struct GpuFloor {
    layer_bytes: u64,
    budget: u64,
}

impl GpuFloor {
    fn new(model: &ModelSpec, gpu: &GpuSpec, opts: &Options, facts: &ModelFacts) -> GpuFloor {
        let setup = Options {
            gpus: 1,
            pipeline: 1,
            ..*opts
        }
        .setup(model);
        let weights = WeightFacts::new(model, facts, setup.format, 1);
        // the budget does not depend on the layout: it is the engine's share of one GPU
        let budget = Prepared::new(setup, gpu, facts, &weights).budget;
        GpuFloor {
            layer_bytes: layer_bytes(&weights),
            budget,
        }
    }

    fn may_fit(&self, l: &Layout) -> bool {
        u128::from(l.gpus()) * u128::from(self.budget) >= u128::from(self.layer_bytes)
    }
}

/// Weight bytes some GPU of any layout holds: all but the token embeddings (llama.cpp keeps them in
/// host memory) and a vision tower (llama.cpp's is a separate file). Splitting a tensor between GPUs
/// only adds bytes (rounding to blocks), so the GPUs of a replica hold at least this much together.
fn layer_bytes(w: &WeightFacts) -> u64 {
    w.total.saturating_sub(w.embedding).saturating_sub(w.vision)
}

fn smallest_of(
    model: &ModelSpec,
    gpu: &GpuSpec,
    opts: &Options,
    (context, batch): (u64, u64),
    max_gpus: u64,
    facts: &Arc<ModelFacts>,
    may_fit: impl Fn(&Layout) -> bool,
) -> Option<Layout> {
    let mut best: Option<(Layout, f64)> = None;
    for layout in candidates(model, max_gpus, !splits_layers(model, opts)) {
        if best.is_some_and(|(b, _)| layout.gpus() > b.gpus()) {
            break;
        }
        if !may_fit(&layout) {
            continue;
        }
        let replica = Replica::with_facts(model, gpu, opts, layout, facts.clone());
        let stages = replica.stages();
        if !stages.fits(context, batch) {
            continue;
        }
        let speed = stages.throughput(context, batch).per_user_tokens_per_s;
        if best.is_none_or(|(_, s)| speed > s) {
            best = Some((replica.layout, speed));
        }
    }
    best.map(|(l, _)| l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::arch::check_declared;
    use crate::spec::Catalog;

    fn specs(model: &str, gpu: &str) -> (ModelSpec, GpuSpec) {
        let c = Catalog::embedded(check_declared).expect("embedded catalog");
        (c.model(model, check_declared).expect("model"), c.gpu(gpu).expect("gpu"))
    }

    #[test]
    fn candidates_are_ordered_by_gpu_count_then_wider_tp() {
        let (m, _) = specs("phi-3.5-mini", "h100-sxm");
        let c = candidates(&m, 4, true);
        let labels: Vec<(u64, u64)> = c.iter().map(|l| (l.tp, l.pp)).collect();
        assert_eq!(labels, vec![(1, 1), (2, 1), (1, 2), (1, 3), (4, 1), (2, 2), (1, 4)]);
    }

    #[test]
    fn smallest_layout_is_the_first_count_that_fits() {
        // Phi-3.5-MoE in bf16 holds 83.7 GB of weights: more than one 80 GB H100
        let (m, g) = specs("phi-3.5-moe", "h100-sxm");
        let opts = Options::default();
        let l = smallest(&m, &g, &opts, 4096, 1, MAX_GPUS).expect("fits on some layout");
        assert_eq!(l.gpus(), 2);
        let one = Replica::new(&m, &g, &opts, Layout::SINGLE);
        let one = one.stages();
        assert!(!one.fits(4096, 1));
        // and on the 141 GB H200 one GPU is enough
        let (m, g) = specs("phi-3.5-moe", "h200");
        assert_eq!(smallest(&m, &g, &opts, 4096, 1, MAX_GPUS), Some(Layout::SINGLE));
    }

    /// The floor only skips layouts that would not fit: with and without it, every catalog model
    /// gets the same answer, on a small and a large GPU, at a short and a long context.
    #[test]
    fn the_gpu_floor_skips_only_layouts_that_do_not_fit() {
        let c = Catalog::embedded(check_declared).expect("embedded catalog");
        let opts = Options::default();
        let mut skipped = 0;
        for g in ["rtx-4090", "h100-sxm"] {
            let g = c.gpu(g).expect("gpu");
            for m in c.model_specs() {
                let facts = Arc::new(ModelFacts::new(m));
                let floor = GpuFloor::new(m, &g, &opts, &facts);
                skipped += candidates(m, 8, true).iter().filter(|l| !floor.may_fit(l)).count();
                for context in [4096, 32768] {
                    let pruned = smallest(m, &g, &opts, context, 1, 8);
                    let every = smallest_of(m, &g, &opts, (context, 1), 8, &facts, |_| true);
                    assert_eq!(pruned, every, "{} on {} at {context}", m.id, g.id);
                }
            }
        }
        // and it does skip some (the big models on the 24 GB card)
        assert!(skipped > 50, "{skipped} layouts skipped");
    }

    /// The placement bound only answers "does not fit" where the replayed totals say so too: on
    /// llama.cpp (one GPU, and the layer split over several) for dense and MoE models, small and large
    /// GPUs, short and long contexts, one and four slots, with and without a margin; and the largest
    /// context and the fewest GPUs searched through it are those searched without it.
    /// Dense and MoE models that need one to seven 24 GB cards in Q4_K_M.
    const LLAMACPP_SIZES: [&str; 5] = [
        "qwen3-8b",
        "gemma-3-27b",
        "llama-3.3-70b",
        "gpt-oss-120b",
        "qwen3-235b-a22b",
    ];

    #[test]
    fn the_placement_bound_skips_only_replays_that_do_not_fit() {
        let c = Catalog::embedded(check_declared).expect("embedded catalog");
        let opts = Options {
            precision: crate::spec::Format::parse("q4_k_m"),
            ..Options::default()
        };
        let (mut probes, mut skipped) = (0, 0);
        for g in ["rtx-3090", "h100-sxm"] {
            let g = c.gpu(g).expect("gpu");
            for id in LLAMACPP_SIZES {
                let m = c.model(id, check_declared).expect("model");
                for gpus in [1, 2, 3, 7] {
                    let replica = Replica::new(&m, &g, &opts, Layout { tp: 1, pp: gpus });
                    let stages = replica.stages();
                    for (context, batch, margin) in [(1, 1, 0.0), (32768, 1, 0.0), (32768, 4, 0.1)] {
                        let replayed = stages.fits_replayed(context, batch, margin);
                        let over = stages.over_before_compute(context, batch, margin);
                        assert!(!(over && replayed), "{id} on {gpus} x {}: {context} x {batch}", g.id);
                        assert_eq!(stages.fits_with_margin(context, batch, margin), replayed);
                        probes += 1;
                        skipped += usize::from(over);
                    }
                }
                let one = Replica::new(&m, &g, &opts, Layout::SINGLE);
                let one = one.stages();
                let limit = m.max_context;
                let replayed = solve::largest(1, limit, |n| one.fits_replayed(n, 1, 0.0));
                assert_eq!(one.max_context(1), replayed, "{id} on {}", g.id);
                // llama.cpp's layouts are layer splits, one per GPU count
                let fewest = candidates(&m, 8, false).into_iter().find(|l| {
                    let r = Replica::new(&m, &g, &opts, *l);
                    let fits = r.stages().fits_replayed(32768, 1, 0.0);
                    fits
                });
                assert_eq!(smallest(&m, &g, &opts, 32768, 1, 8), fewest, "{id} on {}", g.id);
            }
        }
        // it skips many (the big models on few GPUs), not all
        assert!(
            skipped > probes / 4 && skipped < probes,
            "{skipped} of {probes} skipped"
        );
    }

    /// The same for llama.cpp, which keeps the token embeddings in host memory and splits layers
    /// between GPUs: MoE and dense models that need one to seven 24 GB cards in Q4_K_M.
    #[test]
    fn the_gpu_floor_holds_for_llamacpp_layer_splits() {
        let c = Catalog::embedded(check_declared).expect("embedded catalog");
        let opts = Options {
            precision: crate::spec::Format::parse("q4_k_m"),
            ..Options::default()
        };
        let g = c.gpu("rtx-3090").expect("gpu");
        for id in LLAMACPP_SIZES {
            let m = c.model(id, check_declared).expect("model");
            let facts = Arc::new(ModelFacts::new(&m));
            let pruned = smallest(&m, &g, &opts, 8192, 1, 8);
            let every = smallest_of(&m, &g, &opts, (8192, 1), 8, &facts, |_| true);
            assert_eq!(pruned, every, "{id}");
            assert!(pruned.is_some(), "{id} fits some number of cards");
        }
    }
}
