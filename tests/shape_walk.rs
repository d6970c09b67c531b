//! The zero-memory shape walk at FULL size: the runner's model code, built over broadcast scalars,
//! asks for exactly the parameters the estimator counts (exact truth: published counts).

use gpuplan::estimate::{arch, ModelFacts};
use gpuplan::measure::shapewalk;
use gpuplan::spec::Catalog;

fn check(id: &str, expected: u64) {
    let catalog = Catalog::embedded(arch::check_declared).expect("embedded catalog");
    let model = catalog.model(id, arch::check_declared).expect("model in catalog");
    let walk = shapewalk::walk(&model).expect("the runner builds the model");
    assert_eq!(walk.parameters, expected, "{id}: parameters the runner builds");
    assert_eq!(
        ModelFacts::new(&model).parameters,
        expected,
        "{id}: the estimator's count"
    );
    let summed: u64 = walk
        .shapes
        .iter()
        .map(|(_, s)| s.iter().product::<usize>() as u64)
        .sum();
    assert_eq!(summed, expected, "{id}: the logged shapes add up");
}

#[test]
fn phi_3_5_mini_runner_builds_the_estimators_parameters() {
    check("phi-3.5-mini", 3_821_079_552);
}

#[test]
fn phi_3_5_moe_runner_builds_the_estimators_parameters() {
    check("phi-3.5-moe", 41_873_153_344);
}

#[test]
fn phi_3_5_vision_runner_builds_the_estimators_parameters() {
    check("phi-3.5-vision", 4_146_621_440);
}

#[test]
fn the_walk_uses_hugging_face_tensor_names() {
    let catalog = Catalog::embedded(arch::check_declared).expect("embedded catalog");
    let model = catalog.model("phi-3.5-moe", arch::check_declared).expect("model");
    let walk = shapewalk::walk(&model).expect("walk");
    let names: Vec<&str> = walk.shapes.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "model.embed_tokens.weight",
        "model.layers.0.self_attn.q_proj.bias",
        "model.layers.31.block_sparse_moe.gate.weight",
        "model.layers.31.block_sparse_moe.experts.15.w2.weight",
        "model.norm.bias",
        "lm_head.bias",
    ] {
        assert!(names.contains(&expected), "missing {expected}");
    }
    // 32 layers x 16 experts x 3 matrices
    assert_eq!(names.iter().filter(|n| n.contains(".experts.")).count(), 32 * 16 * 3);
    // Mini goes through candle-transformers' phi3 (a VarBuilder): the same checkpoint names
    let mini = catalog.model("phi-3.5-mini", arch::check_declared).expect("model");
    let walk = shapewalk::walk(&mini).expect("walk");
    let names: Vec<&str> = walk.shapes.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "model.embed_tokens.weight",
        "model.layers.0.self_attn.qkv_proj.weight",
        "model.layers.31.mlp.gate_up_proj.weight",
        "lm_head.weight",
    ] {
        assert!(names.contains(&expected), "missing {expected}");
    }
}
