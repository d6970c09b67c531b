//! Exact numbers where the truth is exact: parameter counts and KV bytes per token.

use gpuplan::estimate::{arch, kv, ModelFacts};
use gpuplan::spec::{Catalog, KvPrecision};

fn catalog() -> Catalog {
    Catalog::embedded(arch::check_declared).expect("embedded catalog loads")
}

fn facts(id: &str) -> ModelFacts {
    let c = catalog();
    ModelFacts::new(&c.model(id, arch::check_declared).expect("model in catalog"))
}

#[test]
fn phi_family_parameter_counts_are_exact() {
    for (id, total, active) in [
        ("phi-3-mini-4k", 3_821_079_552, 3_821_079_552),
        ("phi-3-mini-128k", 3_821_079_552, 3_821_079_552),
        ("phi-3.5-mini", 3_821_079_552, 3_821_079_552),
        ("phi-3-medium-4k", 13_960_238_080, 13_960_238_080),
        ("phi-3-medium-128k", 13_960_238_080, 13_960_238_080),
        ("phi-3-small-8k", 7_392_272_384, 7_392_272_384),
        ("phi-3.5-moe", 41_873_153_344, 6_640_999_744),
        ("phi-3.5-vision", 4_146_621_440, 4_146_621_440),
        ("phi-3-vision-128k", 4_146_621_440, 4_146_621_440),
    ] {
        let f = facts(id);
        assert!(f.exact, "{id} is an architecture-level spec");
        assert_eq!(f.parameters, total, "{id} total");
        assert_eq!(f.active_parameters, active, "{id} active");
    }
}

#[test]
fn vision_tower_is_the_difference_between_vision_and_mini() {
    let v = facts("phi-3.5-vision");
    assert_eq!(v.inventory.vision_parameters(), 325_541_888);
}

#[test]
fn kv_bytes_per_token_are_exact() {
    let c = catalog();
    let get = |id| c.model(id, arch::check_declared).unwrap();
    // Phi-3.5 Mini: 2 x 32 layers x 32 kv heads x 96 x 2 B = 384 KiB
    assert_eq!(
        kv::per_token(&get("phi-3.5-mini"), KvPrecision::Bf16, 1).total(),
        393_216
    );
    // Phi-3.5 MoE: 2 x 32 x 8 x 128 x 2 B = 128 KiB
    assert_eq!(
        kv::per_token(&get("phi-3.5-moe"), KvPrecision::Bf16, 1).total(),
        131_072
    );
    assert_eq!(kv::per_token(&get("phi-3.5-moe"), KvPrecision::Fp8, 1).total(), 65_536);
    // Phi-3 Medium: 2 x 40 x 10 x 128 x 2 B; llama.cpp logged 100 MiB at n_ctx 512 (#7439)
    assert_eq!(
        kv::per_token(&get("phi-3-medium-4k"), KvPrecision::F16, 1).total() * 512,
        100 << 20
    );
    // 128K of Phi-3.5 Mini in 16 bits: 48 GiB
    assert_eq!(
        kv::per_token(&get("phi-3.5-mini"), KvPrecision::Bf16, 1).total() * 131_072,
        48 << 30
    );
}
