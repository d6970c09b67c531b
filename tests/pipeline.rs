//! Pipeline parallelism splits the model exactly: the stages' weights, KV bytes per token and matmul
//! parameters add up to the whole model's, for every split, format and tensor-parallel degree. And a
//! pipeline does not make one sequence faster.

use gpuplan::estimate::stage::{self as pipeline, Stage};
use gpuplan::estimate::{arch, kv, ModelFacts, Prepared, Setup, WeightFacts};
use gpuplan::plan::layout::{Layout, Replica};
use gpuplan::plan::Options;
use gpuplan::spec::{Catalog, Format, GpuSpec, KvPrecision, ModelSpec};

fn catalog() -> Catalog {
    Catalog::embedded(arch::check_declared).expect("embedded catalog loads")
}

fn model(id: &str) -> ModelSpec {
    catalog().model(id, arch::check_declared).expect("model in catalog")
}

fn gpu(id: &str) -> GpuSpec {
    catalog().gpu(id).expect("gpu in catalog")
}

fn format(id: &str) -> &'static Format {
    Format::parse(id).expect("known format")
}

const MODELS: [&str; 4] = ["phi-3.5-mini", "phi-3.5-moe", "phi-3.5-vision", "phi-3-small-8k"];

#[test]
fn stage_weights_add_up_to_the_whole_model() {
    for id in MODELS {
        let m = model(id);
        let facts = ModelFacts::new(&m);
        let tied = m.architecture.as_ref().is_some_and(|a| a.tie_embeddings);
        // q4_k_m types some layers by their global index (use_more_bits): stages must agree
        for f in ["bf16", "q4_k_m", "awq-int4", "q8_0"] {
            for tp in [1, 2] {
                let whole = WeightFacts::new(&m, &facts, format(f), tp);
                for pp in [2, 3, 4, 5, 7] {
                    let stages = pipeline::all_stage_weights(&m, &facts, format(f), tp, pp);
                    assert_eq!(stages.len() as u64, pp);
                    let sum: u64 = stages.iter().map(|w| w.total).sum();
                    // tied embeddings: the last stage holds its own copy of the matrix as the LM head
                    let copy = if tied { stages[stages.len() - 1].embedding } else { 0 };
                    assert_eq!(sum, whole.total + copy, "{id} {f} tp {tp} pp {pp}");
                    let experts: u64 = stages.iter().map(|w| w.experts).sum();
                    assert_eq!(experts, whole.experts, "{id} {f} tp {tp} pp {pp} experts");
                    let vision: u64 = stages.iter().map(|w| w.vision).sum();
                    assert_eq!(vision, whole.vision, "{id} {f} tp {tp} pp {pp} vision");
                    assert_eq!(
                        stages[0].vision, whole.vision,
                        "{id}: the vision tower sits on the first stage"
                    );
                    let params: u64 = stages.iter().flat_map(|w| w.lines.iter().map(|l| l.parameters)).sum();
                    let whole_params: u64 = whole.lines.iter().map(|l| l.parameters).sum();
                    let copy_params = if tied {
                        m.architecture.as_ref().map_or(0, |a| a.vocab_size * a.hidden_size)
                    } else {
                        0
                    };
                    assert_eq!(
                        params,
                        whole_params + copy_params,
                        "{id} {f} tp {tp} pp {pp} parameters"
                    );
                }
            }
        }
    }
}

#[test]
fn stage_kv_adds_up_to_the_whole_model() {
    for id in MODELS {
        let m = model(id);
        let layers = pipeline::decoder_layers(&m).expect("architecture-level spec");
        for precision in [KvPrecision::Bf16, KvPrecision::Fp8, KvPrecision::Q4_0] {
            for tp in [1, 2, 4] {
                let whole = kv::per_token(&m, precision, tp);
                for pp in [2, 3, 5, 8] {
                    let stages = pipeline::split(layers, pp).expect("valid split");
                    let parts: Vec<kv::KvPerToken> = stages
                        .iter()
                        .map(|s| pipeline::stage_kv(&m, precision, tp, s))
                        .collect();
                    assert_eq!(
                        parts.iter().map(|k| k.full).sum::<u64>(),
                        whole.full,
                        "{id} tp {tp} pp {pp}"
                    );
                    assert_eq!(
                        parts.iter().map(|k| k.windowed).sum::<u64>(),
                        whole.windowed,
                        "{id} tp {tp} pp {pp}"
                    );
                    assert_eq!(parts.iter().map(|k| k.layers).sum::<u64>(), layers);
                }
            }
        }
    }
}

#[test]
fn stage_matmul_parameters_add_up() {
    for id in MODELS {
        let m = model(id);
        let facts = ModelFacts::new(&m);
        let layers = pipeline::decoder_layers(&m).expect("architecture-level spec");
        let a = m.architecture.as_ref().expect("architecture");
        let whole = pipeline::matmul_parameters(&m, &facts, &Stage::whole(layers), a.vocab_size, a.hidden_size);
        // the whole model: active parameters less the embedding lookup (untied) and the vision tower
        let embed = if a.tie_embeddings {
            0
        } else {
            a.vocab_size * a.hidden_size
        };
        assert_eq!(
            whole,
            facts.active_parameters - embed - facts.inventory.vision_parameters(),
            "{id}"
        );
        for pp in [2, 3, 4] {
            let sum: u64 = pipeline::split(layers, pp)
                .expect("valid split")
                .iter()
                .map(|s| pipeline::matmul_parameters(&m, &facts, s, a.vocab_size, a.hidden_size))
                .sum();
            assert_eq!(sum, whole, "{id} pp {pp}");
        }
    }
}

#[test]
fn one_stage_is_the_unsplit_estimate() {
    let m = model("phi-3.5-moe");
    let g = gpu("h200");
    let facts = ModelFacts::new(&m);
    let setup = Setup::new(&m, format("bf16"), &gpuplan::estimate::engine::vllm::VLLM);
    let weights = WeightFacts::new(&m, &facts, setup.format, 1);
    let p = Prepared::new(setup, &g, &facts, &weights);
    let replica = Replica::new(
        &m,
        &g,
        &Options {
            runtime: Some(&gpuplan::estimate::engine::vllm::VLLM),
            precision: Some(format("bf16")),
            ..Options::default()
        },
        Layout::SINGLE,
    );
    let stages = replica.stages();
    assert_eq!(stages.all().len(), 1);
    assert_eq!(stages.first().memory(8192, 16), p.memory(8192, 16));
    assert_eq!(
        stages.throughput(8192, 16),
        gpuplan::estimate::throughput::estimate(&p, 8192, 16)
    );
}

#[test]
fn stages_hold_less_and_one_sequence_gets_no_faster() {
    let m = model("phi-3.5-mini");
    let g = gpu("rtx-4090");
    let opts = Options::default();
    let one = Replica::new(&m, &g, &opts, Layout::SINGLE);
    let one = one.stages();
    for pp in [2, 4] {
        let r = Replica::new(&m, &g, &opts, Layout { tp: 1, pp });
        let stages = r.stages();
        assert_eq!(stages.all().len() as u64, pp);
        let (_, heaviest) = stages.heaviest(4096, 1);
        assert!(heaviest.weights_bytes < one.first().memory(4096, 1).weights_bytes);
        // logits only on the last stage, so only it carries the LM head's activations
        let single = stages.throughput(4096, 1);
        let whole = one.throughput(4096, 1);
        assert!(
            single.per_user_tokens_per_s < whole.per_user_tokens_per_s,
            "pp {pp}: one token passes every stage in turn"
        );
        assert!(stages.max_context(1) >= one.max_context(1));
    }
}
