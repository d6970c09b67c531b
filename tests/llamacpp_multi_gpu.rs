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
