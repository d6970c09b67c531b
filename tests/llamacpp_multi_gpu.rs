//! llama.cpp on several GPUs splits the layers between them (`--split-mode layer`, its default); it
//! has no tensor parallelism. `fit --gpus N` on a GGUF format must give each GPU its share of that
//! split — the same placement the offload accounting uses and checks against published multi-GPU
//! logs (validation/field/llamacpp-offload-*) — not the whole model on every GPU.

use gpuplan::estimate::arch::check_declared;
use gpuplan::estimate::engine::report::Figures;
use gpuplan::estimate::engine::Flags;
use gpuplan::plan::fit::fit;
use gpuplan::plan::layout::Layout;
use gpuplan::plan::offload::offload;
use gpuplan::plan::Options;
use gpuplan::spec::{Catalog, Format};

fn opts(gpus: u64) -> Options {
    Options {
        precision: Some(Format::parse("q4_k_m").expect("format")),
        context: Some(32768),
        gpus,
        ..Options::default()
    }
}

#[test]
fn each_gpu_holds_its_share_of_the_layer_split() {
    let c = Catalog::embedded(check_declared).expect("catalog");
    let g = c.gpu("rtx-3090").expect("gpu");
    for id in ["qwen3-32b", "qwen3-235b-a22b", "gpt-oss-20b"] {
        let m = c.model(id, check_declared).expect("model");
        let one = fit(&m, &g, &opts(1));
        for n in [2, 3] {
            let r = fit(&m, &g, &opts(n));
            // the same split through the offload report (every unit on the GPUs: `-ngl` all)
            let mut flagged = opts(n);
            flagged.engine = Flags {
                llamacpp: gpuplan::estimate::engine::llamacpp::Flags {
                    n_gpu_layers: Some(u64::MAX),
                    ..flagged.engine.llamacpp
                },
                ..flagged.engine
            };
            let split = offload(&m, &g, &flagged, false).expect("a llama.cpp split").split;
            assert_eq!(split.gpus.len() as u64, n, "{id}");
            let fullest = split.gpus.iter().map(|d| d.total_bytes).max().expect("GPUs");
            assert_eq!(
                r.memory.total_bytes, fullest,
                "{id} on {n} GPUs: the fullest GPU's bytes"
            );
            assert_eq!(
                r.fits,
                split.gpus.iter().all(|d| d.total_bytes <= r.memory.available_bytes)
            );
            // the model buffers add up over the GPUs (plus what stays on the host: token embeddings)
            let on_gpus: u64 = split.gpus.iter().map(|d| d.model_buffer_bytes).sum();
            let Some(Figures::LlamaCpp(whole)) = &one.engine.figures else {
                panic!("{id}: llama.cpp figures");
            };
            assert_eq!(on_gpus, whole.model_buffer_bytes, "{id} on {n} GPUs: every block once");
            assert!(
                r.memory.total_bytes < one.memory.total_bytes,
                "{id}: {n} GPUs hold less each"
            );
        }
    }
}

#[test]
fn the_fewest_gpus_of_a_gguf_model_are_a_layer_split() {
    let c = Catalog::embedded(check_declared).expect("catalog");
    let g = c.gpu("rtx-4090").expect("gpu");
    // Qwen3-32B Q4_K_M at 32K: 26.5 GiB on one 24 GB card; two share it
    let m = c.model("qwen3-32b", check_declared).expect("model");
    let r = fit(&m, &g, &opts(1));
    assert!(!r.fits);
    assert_eq!(r.smallest_layout, Some(Layout { tp: 1, pp: 2 }));
    assert!(fit(&m, &g, &opts(2)).fits);
}

/// `sched_reserve`'s retry: Llama 3.3 70B in Q4_K_M on two RTX 3090s, at the first context past
/// the largest whose four-copy compute buffers (pipeline parallelism) fit. There the weights and KV
/// cache fit each GPU, the four-copy buffers do not, the one-copy buffers do: llama.cpp starts
/// without pipeline parallelism, and `fit` says it fits with those figures.
#[test]
fn a_split_that_fits_only_without_pipeline_parallelism_starts_without_it() {
    use gpuplan::estimate::engine::offload::{self, Pipeline, MODELED};
    use gpuplan::estimate::engine::Settings;
    use gpuplan::plan::layout::Replica;
    use gpuplan::plan::solve::largest;
    let c = Catalog::embedded(check_declared).expect("catalog");
    let g = c.gpu("rtx-3090").expect("gpu");
    let m = c.model("llama-3.3-70b", check_declared).expect("model");
    let replica = Replica::new(&m, &g, &opts(2), Layout { tp: 1, pp: 2 });
    let stages = replica.stages();
    let p = stages.first();
    let Settings::LlamaCpp(s) = p.settings else {
        panic!("llama.cpp");
    };
    let fullest = |sp: &offload::Split| sp.gpus.iter().map(|d| d.total_bytes).max().expect("GPUs");
    let four_copies = |context| offload::scheduled_split(p, &s, 2, context, 1, &MODELED);
    let pp_max = largest(1, m.max_context, |n| fullest(&four_copies(n)) <= p.budget).expect("some context");
    let context = pp_max + 1;
    let scheduled = four_copies(context);
    assert_eq!(scheduled.pipeline, Pipeline::On);
    assert!(fullest(&scheduled) > p.budget);
    assert!(offload::retries_without_pipeline(&scheduled, p.budget));
    let r = fit(
        &m,
        &g,
        &Options {
            context: Some(context),
            ..opts(2)
        },
    );
    assert!(r.fits, "{context} tokens fit with one copy");
    assert_eq!(r.pipeline_parallel, Some(Pipeline::Dropped));
    let started = offload::split(p, &s, 2, context, 1, &MODELED);
    assert_eq!(started.pipeline, Pipeline::Dropped);
    assert_eq!(r.memory.total_bytes, fullest(&started));
    assert!(fullest(&started) <= p.budget && fullest(&started) < fullest(&scheduled));
    // the largest context counts the retry; below the boundary pipeline parallelism stays on
    assert!(r.max_context.expect("a context fits") > pp_max);
    let below = fit(
        &m,
        &g,
        &Options {
            context: Some(pp_max),
            ..opts(2)
        },
    );
    assert_eq!((below.fits, below.pipeline_parallel), (true, Some(Pipeline::On)));
    // and the words
    let text = gpuplan::report::markdown::render(&gpuplan::report::views::fit::fit(&r));
    assert!(text.contains("retrying without pipeline parallelism"), "{text}");
}
