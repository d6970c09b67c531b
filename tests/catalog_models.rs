//! The non-Phi catalog: parameter counts against published exact counts, KV bytes per token, and
//! GGUF weight bytes against published GGUF file sizes.

use gpuplan::estimate::{arch, kv, ModelFacts, WeightFacts};
use gpuplan::spec::model::ModelSpec;
use gpuplan::spec::precision::Format;
use gpuplan::spec::{Catalog, KvPrecision};

fn catalog() -> Catalog {
    Catalog::embedded(arch::check_declared).expect("embedded catalog loads")
}

fn spec(id: &str) -> ModelSpec {
    catalog().model(id, arch::check_declared).expect("model in catalog")
}

/// Derived counts equal the published exact counts. Sources (also in each YAML):
/// - HF Hub API `safetensors.total`, as tabulated in search index id 71142266638: Llama-3.1-8B-Instruct,
///   Llama-3.2-3B-Instruct, Llama-3.3-70B-Instruct, Mistral-7B-Instruct-v0.3, Qwen2.5-7B-Instruct,
///   gemma-2-2b-it, phi-4; and in search index id 12439498600: Qwen2.5-7B/72B-Instruct.
/// - keras-hub presets (search index ids 678925060, 123073332, 583820047): Mixtral 8x7B, Gemma 2 9B/27B,
///   Qwen1.5-MoE-A2.7B; chatllm.cpp's QWen2-MoE banner (search index id 41727181442).
#[test]
fn published_parameter_counts_are_reproduced() {
    for (id, published) in [
        ("llama-3.1-8b", 8_030_261_248),
        ("llama-3.2-3b", 3_212_749_824),
        ("llama-3.3-70b", 70_553_706_496),
        ("mistral-7b-v0.3", 7_248_023_552),
        ("mixtral-8x7b", 46_702_792_704),
        ("qwen2.5-7b", 7_615_616_512),
        ("qwen2.5-72b", 72_706_203_648),
        ("gemma-2-2b", 2_614_341_888),
        ("gemma-2-9b", 9_241_705_984),
        ("gemma-2-27b", 27_227_128_320),
        ("phi-4", 14_659_507_200),
        ("qwen1.5-moe-a2.7b", 14_315_784_192),
    ] {
        let s = spec(id);
        let f = ModelFacts::new(&s);
        assert!(f.exact, "{id} is an architecture-level spec");
        assert_eq!(f.parameters, published, "{id}");
        assert_eq!(s.parameters, Some(published), "{id} declares its published count");
    }
}

/// Llama 3.1 70B has no exact published count, but its config.json has the shape of Llama 3.3 70B,
/// whose count is published: the two inventories must agree tensor for tensor.
#[test]
fn llama_3_1_70b_has_the_shape_of_llama_3_3_70b() {
    let a = ModelFacts::new(&spec("llama-3.1-70b"));
    let b = ModelFacts::new(&spec("llama-3.3-70b"));
    assert_eq!(a.inventory.groups, b.inventory.groups);
    assert_eq!(a.parameters, 70_553_706_496);
}

/// 2 (K and V) x layers x kv_heads x head_dim x bytes, from each config.json.
#[test]
fn kv_bytes_per_token_are_exact() {
    let per_token = |id: &str, p| kv::per_token(&spec(id), p, 1);
    // Llama 3.1 8B: 2 x 32 x 8 x 128 x 2 = 128 KiB; Mistral 7B and Mixtral share the geometry
    for id in ["llama-3.1-8b", "mistral-7b-v0.3", "mixtral-8x7b"] {
        assert_eq!(per_token(id, KvPrecision::Bf16).total(), 131_072, "{id}");
        assert_eq!(
            per_token(id, KvPrecision::Bf16).windowed,
            0,
            "{id} has no sliding window"
        );
    }
    // Llama 3.1/3.3 70B: 2 x 80 x 8 x 128 x 2 = 320 KiB; Q8_0 cache: 34 B per 32 elements
    assert_eq!(per_token("llama-3.3-70b", KvPrecision::F16).total(), 327_680);
    assert_eq!(
        per_token("llama-3.3-70b", KvPrecision::Q8_0).total(),
        2 * 80 * (1024 / 32) * 34
    );
    // Llama 3.2 3B: 2 x 28 x 8 x 128 x 2
    assert_eq!(per_token("llama-3.2-3b", KvPrecision::Bf16).total(), 114_688);
    // Qwen2.5 7B: 2 x 28 x 4 x 128 x 2; 72B: 2 x 80 x 8 x 128 x 2
    assert_eq!(per_token("qwen2.5-7b", KvPrecision::Bf16).total(), 57_344);
    assert_eq!(per_token("qwen2.5-72b", KvPrecision::Bf16).total(), 327_680);
    // Mistral Large 2: 2 x 88 x 8 x 128 x 2
    assert_eq!(per_token("mistral-large-2407", KvPrecision::Bf16).total(), 360_448);
    // phi-4: 2 x 40 x 10 x 128 x 2 = 200 KiB
    assert_eq!(per_token("phi-4", KvPrecision::Bf16).total(), 204_800);
    // Qwen1.5-MoE: 2 x 24 x 16 x 128 x 2 (MoE does not change attention)
    assert_eq!(per_token("qwen1.5-moe-a2.7b", KvPrecision::Bf16).total(), 196_608);
    // Gemma 2 9B: head_dim 256, half the 42 layers windowed at 4096: 21 x (2 x 8 x 256 x 2) each side
    let g = per_token("gemma-2-9b", KvPrecision::Bf16);
    assert_eq!((g.full, g.windowed, g.window), (172_032, 172_032, 4096));
    // at its full 8192 context the windowed half holds only 4096 tokens
    assert_eq!(kv::cache_bytes(&g, 8192, 1, true), 172_032 * 8192 + 172_032 * 4096);
    // Gemma 2 27B: 2 x 46 x 16 x 128 x 2, 23 layers windowed
    let g = per_token("gemma-2-27b", KvPrecision::Bf16);
    assert_eq!((g.full, g.windowed), (188_416, 188_416));
}

/// Published GGUF file sizes in bytes, from Hugging Face repo file listings (bartowski / unsloth
/// quants) as recorded in search index id 70938428474 (Llama-3.1-8B-Instruct, Qwen2.5-7B-Instruct,
/// Llama-3.3-70B-Instruct) and search index id 71366475457 (Llama-3.2-3B-Instruct, phi-4).
const GGUF_FILES: &[(&str, &[(&str, u64)])] = &[
    (
        "llama-3.1-8b",
        &[
            ("q8_0", 8_540_775_840),
            ("q6_k", 6_596_011_424),
            ("q5_k_m", 5_732_992_416),
            ("q4_k_m", 4_920_739_232),
            // bartowski's imatrix IQ4_XS: attn_v Q5_K (GQA 4), output Q6_K, the rest IQ4_XS (search
            // index id 63573880766)
            ("iq4_xs", 4_447_667_616),
        ],
    ),
    (
        "llama-3.2-3b",
        &[
            ("q8_0", 3_421_899_296),
            ("q6_k", 2_643_853_856),
            ("q5_k_m", 2_322_154_016),
            ("q4_k_m", 2_019_377_696),
        ],
    ),
    (
        "llama-3.3-70b",
        &[
            ("q8_0", 74_975_055_008),
            ("q6_k", 57_888_148_672),
            ("q5_k_m", 49_949_822_112),
            ("q4_k_m", 42_520_398_816),
        ],
    ),
    (
        "qwen2.5-7b",
        &[
            ("q8_0", 8_098_525_888),
            ("q6_k", 6_254_199_488),
            ("q5_k_m", 5_444_831_936),
            ("q4_k_m", 4_683_074_240),
        ],
    ),
    (
        "phi-4",
        &[
            ("q8_0", 15_580_500_416),
            ("q6_k", 12_030_251_456),
            ("q5_k_m", 10_604_188_096),
            ("q4_k_m", 9_053_114_816),
        ],
    ),
];

/// The Q4_0 files of the same listings.
const GGUF_Q4_0: &[(&str, u64)] = &[
    ("llama-3.3-70b", 40_116_538_336),
    ("qwen2.5-7b", 4_444_121_792),
    ("phi-4", 8_412_090_816),
];

fn weight_bytes(s: &ModelSpec, format: &str) -> u64 {
    let f = Format::parse(format).expect("known format");
    WeightFacts::new(s, &ModelFacts::new(s), f, 1).total
}

/// A GGUF file is a header (metadata: tokenizer vocabulary and merges, tensor infos; a few MB) plus
/// the tensor data. The header is the same for every quantization of one model, so
/// `file - estimated weights` must be the same few MB for each. Tolerance: 64 KiB across formats,
/// for what legitimately varies between files (32-byte tensor alignment padding, at most 31 B x
/// ~700 tensors; quantizer metadata keys such as imatrix file names; llama.cpp's 256-byte
/// rope_freqs table in Llama 3 files, which is not a parameter). One tensor family given the wrong
/// type moves the difference by at least ~390 KB (the smallest case: Llama 3.2 3B attn_v of one layer,
/// Q4_K vs Q5_K), so the test separates right from wrong rules. Header bounds: 1-16 MiB.
#[test]
fn gguf_weight_bytes_match_published_files_up_to_the_header() {
    for (id, files) in GGUF_FILES {
        let s = spec(id);
        let headers: Vec<(&str, i128)> = files
            .iter()
            .map(|(fmt, size)| (*fmt, *size as i128 - weight_bytes(&s, fmt) as i128))
            .collect();
        let (min, max) = headers
            .iter()
            .fold((i128::MAX, i128::MIN), |(lo, hi), (_, h)| (lo.min(*h), hi.max(*h)));
        assert!(
            min > 1 << 20 && max < 16 << 20,
            "{id}: headers {headers:?} outside 1-16 MiB"
        );
        assert!(
            max - min <= 64 << 10,
            "{id}: headers differ by {} B: {headers:?}",
            max - min
        );
    }
}

/// The published Q4_0 files were made with an importance matrix, which makes llama-quantize store
/// `ffn_down` of the first layers/8 layers as Q4_1 (20 B instead of 18 B per 32 weights;
/// llama-quant.cpp: "Guard against craziness in the first few ffn_down layers"). gpuplan's q4_0 is the
/// no-imatrix file; the published ones must exceed it by exactly those 2 B per 32 weights plus the
/// header measured on the K-quant files (same 64 KiB tolerance as above).
#[test]
fn gguf_q4_0_files_differ_only_by_the_imatrix_ffn_down_rule() {
    for (id, file) in GGUF_Q4_0 {
        let s = spec(id);
        let a = s.architecture.as_ref().expect("architecture");
        let q8_file = GGUF_FILES
            .iter()
            .find(|(m, _)| m == id)
            .and_then(|(_, f)| f.first())
            .expect("q8_0 file");
        let header = q8_file.1 as i128 - weight_bytes(&s, "q8_0") as i128;
        let q4_1_extra = (a.layers / 8) * a.hidden_size * a.intermediate_size / 32 * 2;
        let gap = *file as i128 - weight_bytes(&s, "q4_0") as i128 - header - q4_1_extra as i128;
        assert!(gap.abs() <= 64 << 10, "{id}: {gap} B unexplained");
    }
}
