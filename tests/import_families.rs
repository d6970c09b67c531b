//! The 2025-2026 families: each family's real config.json (tests/configs/, sources in its README)
//! imports to the exact published parameter count; KV per token and the recurrent state per
//! sequence follow from the layer geometry; bad input gets errors that name the field.

mod common;

use gpuplan::estimate::arch::vision::{self, ImageInput};
use gpuplan::estimate::kv::{self, StateBytes};
use gpuplan::import;
use gpuplan::spec::model::ArchType;
use gpuplan::spec::KvPrecision;
use std::path::Path;

/// (file, model_type family, total parameters, source of the count)
const PUBLISHED: &[(&str, ArchType, u64, &str)] = &[
    (
        "Qwen--Qwen3-4B.json",
        ArchType::Qwen3,
        4_022_468_096,
        "HF safetensors total, Qwen/Qwen3-4B",
    ),
    (
        "Qwen--Qwen3-8B.json",
        ArchType::Qwen3,
        8_190_735_360,
        "HF safetensors total, Qwen/Qwen3-8B",
    ),
    (
        "Qwen--Qwen3-32B.json",
        ArchType::Qwen3,
        32_762_123_264,
        "HF safetensors total, Qwen/Qwen3-32B",
    ),
    (
        "Qwen--Qwen3-30B-A3B.json",
        ArchType::Qwen3Moe,
        30_532_122_624,
        "GGUF general.parameter_count, Qwen3-30B-A3B",
    ),
    (
        "Qwen--Qwen3-Next-80B-A3B-Instruct.json",
        ArchType::Qwen3Next,
        79_674_391_296,
        "HF safetensors total of the same architecture (Qwen/Qwen3-Coder-Next); llama.cpp n_params",
    ),
    (
        "openai--gpt-oss-20b.json",
        ArchType::GptOss,
        20_914_757_184,
        "HF safetensors total, openai/gpt-oss-20b",
    ),
    (
        "google--gemma-3-1b-it.json",
        ArchType::Gemma3,
        999_885_952,
        "HF safetensors total, google/gemma-3-1b-it",
    ),
    (
        "google--gemma-3-4b-it.json",
        ArchType::Gemma3,
        4_300_079_472,
        "HF safetensors total, google/gemma-3-4b-it",
    ),
    (
        "google--gemma-3-27b-it.json",
        ArchType::Gemma3,
        27_432_406_640,
        "keras-hub / HF count, gemma-3-27b-it",
    ),
    (
        "meta-llama--Llama-4-Scout-17B-16E-Instruct.json",
        ArchType::Llama4,
        108_641_793_536,
        "HF safetensors total, meta-llama/Llama-4-Scout-17B-16E-Instruct",
    ),
    (
        "zai-org--GLM-4.5-Air.json",
        ArchType::Glm4Moe,
        106_852_251_264,
        "GLM-4.5-Air without its MTP layer",
    ),
    (
        "zai-org--GLM-4.5.json",
        ArchType::Glm4Moe,
        352_797_829_024,
        "GLM-4.5 without its MTP layer",
    ),
    (
        "mistralai--Mistral-Small-3.1-24B-Instruct-2503.json",
        ArchType::Mistral3,
        24_011_361_280,
        "HF safetensors total, Mistral-Small-3.1-24B-Instruct-2503",
    ),
    (
        "microsoft--Phi-4-mini-instruct.json",
        ArchType::Phi3,
        3_836_021_760,
        "HF safetensors total, Phi-4-mini-instruct",
    ),
    (
        "HuggingFaceTB--SmolLM3-3B.json",
        ArchType::SmolLm3,
        3_075_098_624,
        "HF safetensors total, SmolLM3-3B",
    ),
    (
        "ibm-granite--granite-3.3-8b-instruct.json",
        ArchType::Granite,
        8_170_864_640,
        "HF safetensors total, granite-3.3-8b-instruct",
    ),
    (
        "ibm-granite--granite-4.0-micro.json",
        ArchType::GraniteMoeHybrid,
        3_402_836_480,
        "HF safetensors total, granite-4.0-micro",
    ),
    (
        "deepseek-ai--DeepSeek-V3.json",
        ArchType::DeepseekV3,
        671_026_419_200,
        "DeepSeek-V3 without its MTP layer",
    ),
    (
        "moonshotai--Kimi-K2-Instruct.json",
        ArchType::DeepseekV3,
        1_026_408_232_448,
        "Kimi-K2-Instruct logical parameters recounted from the shard headers",
    ),
    (
        "Qwen--Qwen2.5-VL-7B-Instruct.json",
        ArchType::Qwen2_5Vl,
        8_292_166_656,
        "HF safetensors total, Qwen2.5-VL-7B-Instruct",
    ),
];

fn config(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs").join(name)
}

fn imported(name: &str) -> import::Imported {
    import::import_path(&config(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn real_configs_give_the_published_parameter_counts() {
    for (file, kind, params, source) in PUBLISHED {
        let imp = imported(file);
        let a = imp.spec.architecture.as_ref().unwrap();
        assert_eq!(a.kind, *kind, "{file}");
        assert_eq!(imp.derived_parameters, *params, "{file} ({source})");
        assert!(
            imp.warnings.iter().all(|w| !w.contains("assumed")),
            "{file}: {:?}",
            imp.warnings
        );
    }
}

#[test]
fn every_config_file_is_in_the_table() {
    let dir = config("");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") && !n.starts_with("nvidia--"))
        .collect();
    files.sort();
    for f in &files {
        assert!(
            PUBLISHED.iter().any(|p| p.0 == f),
            "{f} has no published count in the table"
        );
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    for (file, ..) in PUBLISHED {
        assert!(readme.contains(file), "{file} has no source in tests/configs/README.md");
    }
}

#[test]
fn active_parameters_of_the_moe_families() {
    // Qwen3-30B-A3B: 8 of 128 experts (3.35B with the embeddings, the "A3B")
    assert_eq!(
        imported("Qwen--Qwen3-30B-A3B.json").derived_active_parameters,
        3_353_032_704
    );
    // gpt-oss-20b: 4 of 32; OpenAI's 3.61B active excludes the input embedding (579M)
    let g = imported("openai--gpt-oss-20b.json");
    assert_eq!(g.derived_active_parameters - 201_088 * 2880, 3_608_307_264);
    // DeepSeek-V3: 37.55B active with the embeddings ("37B activated")
    assert_eq!(
        imported("deepseek-ai--DeepSeek-V3.json").derived_active_parameters,
        37_552_297_472
    );
}

fn kv16(imp: &import::Imported) -> kv::KvPerToken {
    kv::per_token(&imp.spec, KvPrecision::F16, 1)
}

#[test]
fn kv_per_token_follows_each_familys_attention() {
    // Qwen3-8B: 36 layers x 2 x 8 heads x 128 x 2 B
    assert_eq!(kv16(&imported("Qwen--Qwen3-8B.json")).total(), 36 * 4096);
    // gpt-oss-20b: 24 layers x 2 x 8 x 64 x 2 B, the even layers windowed at 128 tokens
    let g = kv16(&imported("openai--gpt-oss-20b.json"));
    assert_eq!((g.full, g.windowed, g.window), (12 * 2048, 12 * 2048, 128));
    // Gemma 3 1B: 26 layers, every 6th global (4), window 512; 1 KV head of 256
    let g = kv16(&imported("google--gemma-3-1b-it.json"));
    assert_eq!((g.full, g.windowed, g.window), (4 * 1024, 22 * 1024, 512));
    // Gemma 3 27B: 62 layers, 10 global, 1024 window; 16 KV heads of 128
    let g = kv16(&imported("google--gemma-3-27b-it.json"));
    assert_eq!((g.full, g.windowed, g.window), (10 * 8192, 52 * 8192, 1024));
    // Llama 4 Scout: chunked attention (8192) on 36 of 48 layers
    let l = kv16(&imported("meta-llama--Llama-4-Scout-17B-16E-Instruct.json"));
    assert_eq!((l.full, l.windowed, l.window), (12 * 4096, 36 * 4096, 8192));
    // DeepSeek-V3 / Kimi-K2: MLA latent 61 x (512 + 64) x 2 B
    assert_eq!(kv16(&imported("moonshotai--Kimi-K2-Instruct.json")).total(), 70_272);
}

#[test]
fn recurrent_layers_hold_a_fixed_state_per_sequence() {
    // Qwen3-Next: 12 attention layers of 2 KV heads x 256; 36 Gated DeltaNet layers each holding a
    // conv state (2 x 16 x 128 + 32 x 128 = 8192 channels x 3 taps) and a 32 x 128 x 128 delta state
    let q = imported("Qwen--Qwen3-Next-80B-A3B-Instruct.json");
    let k = kv16(&q);
    assert_eq!((k.layers, k.full, k.recurrent_layers), (12, 12 * 2048, 36));
    assert_eq!(k.state, 36 * (8192 * 3 * 2 + 32 * 128 * 128 * 2));
    let r = q.spec.architecture.as_ref().unwrap().recurrent.as_ref().unwrap();
    // llama.cpp keeps both states in f32
    assert_eq!(
        kv::recurrent_state(r, 36, 1, StateBytes::F32),
        36 * (8192 * 3 * 4 + 32 * 128 * 128 * 4)
    );
    // under 4-way tensor parallelism each GPU holds a quarter of the channels and heads
    assert_eq!(kv::per_token(&q.spec, KvPrecision::F16, 4).state, k.state / 4);
    // the state does not grow with the context
    assert_eq!(
        kv::cache_bytes(&k, 100_000, 2, true) - kv::cache_bytes(&k, 1, 2, true),
        2 * k.full * 99_999
    );

    // Nemotron-H-8B: 4 attention blocks, 24 Mamba-2 blocks (128 heads x 64, 8 groups x 128 state,
    // conv over 8192 + 2 x 1024 channels), the SSM state in f32 (vLLM's default for Nemotron-H)
    let n = import::import_path(&config("nvidia--Nemotron-H-8B-Base-8K.json")).unwrap();
    let k = kv16(&n);
    assert_eq!((k.layers, k.full, k.recurrent_layers), (4, 4 * 2 * 8 * 128 * 2, 24));
    assert_eq!(k.state, 24 * (10_240 * 3 * 2 + 128 * 64 * 128 * 4));
}

#[test]
fn image_tokens_per_tower() {
    let spec = |f: &str| imported(f).spec.vision.unwrap();
    let default = ImageInput::default();
    // Gemma 3: 896 / 14 = 64 patches a side, pooled 4x4 to 256, between <start_of_image> and <end_of_image>
    assert_eq!(
        vision::tokens_per_image(&spec("google--gemma-3-4b-it.json"), &default),
        258
    );
    // Mistral Small 3.1 (Pixtral): a 1540-pixel square is 55 x 55 merged patches, each row ending in a break
    let p = spec("mistralai--Mistral-Small-3.1-24B-Instruct-2503.json");
    assert_eq!(vision::tokens_per_image(&p, &default), 55 * 56);
    // a 1024 x 768 image: 37 x 28 merged patches
    let img = ImageInput {
        crops: 0,
        width: 1024,
        height: 768,
    };
    assert_eq!(vision::tokens_per_image(&p, &img), 28 * 38);
    // a 3000 x 1500 image is scaled to 1540 x 770 first
    let big = ImageInput {
        crops: 0,
        width: 3000,
        height: 1500,
    };
    assert_eq!(vision::tokens_per_image(&p, &big), 28 * 56);
    // Qwen2.5-VL: dynamic resolution, 28 x 28 pixels per token after the 2x2 merge
    let q = spec("Qwen--Qwen2.5-VL-7B-Instruct.json");
    assert_eq!(vision::tokens_per_image(&q, &default), 36 * 36 + 2);
    let img = ImageInput {
        crops: 0,
        width: 1280,
        height: 720,
    };
    // 1280 -> 1288 (46 x 28), 720 -> 728 (26 x 28)
    assert_eq!(vision::tokens_per_image(&q, &img), 46 * 26 + 2);
    assert_eq!(vision::encoder_pass(&q, &img).tokens, 92 * 52);
    // Llama 4: 144 tokens per 336-pixel tile; 4 tiles add the global view
    let l = spec("meta-llama--Llama-4-Scout-17B-16E-Instruct.json");
    assert_eq!(vision::tokens_per_image(&l, &default), 144 + 1 + 3);
    let tiles = ImageInput {
        crops: 4,
        width: 0,
        height: 0,
    };
    assert_eq!(vision::tokens_per_image(&l, &tiles), 5 * 144 + 4 + 3);
}

#[test]
fn python_infinity_is_accepted_where_unread_and_named_where_read() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.json");
    let text = std::fs::read_to_string(config("nvidia--Nemotron-H-8B-Base-8K.json")).unwrap();
    // as some Nemotron-H configs ship it: `"time_step_limit": [0.0, Infinity]`
    let with_inf = text.replacen(
        '{',
        "{\n  \"time_step_limit\": [0.0, Infinity],\n  \"time_step_floor\": NaN,",
        1,
    );
    std::fs::write(&path, &with_inf).unwrap();
    let imp = import::import_path(&path).unwrap();
    assert_eq!(imp.spec.architecture.unwrap().layers, 52);
    // in a field gpuplan reads, the error names it and its line
    let bad = text.replacen("\"ssm_state_size\": 128", "\"ssm_state_size\": Infinity", 1);
    std::fs::write(&path, &bad).unwrap();
    let e = import::import_path(&path).unwrap_err().to_string();
    assert!(e.contains("ssm_state_size") && e.contains("Infinity"), "{e}");
    let line = bad.lines().position(|l| l.contains("ssm_state_size")).unwrap() + 1;
    assert!(e.contains(&format!(":{line}:")), "{e}");
}

#[test]
fn unknown_model_types_list_the_known_ones_and_say_when_remote_code_is_needed() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.json");
    std::fs::write(&path, r#"{"model_type":"brand_new","auto_map":{"AutoModelForCausalLM":"modeling_brand_new.BrandNewForCausalLM"},"num_hidden_layers":4}"#).unwrap();
    let e = import::import_path(&path).unwrap_err().to_string();
    for known in ["qwen3_next", "gpt_oss", "nemotron_h", "gemma3", "llama4"] {
        assert!(e.contains(known), "{e}");
    }
    assert!(
        e.contains("remote code") && e.contains("modeling_brand_new.BrandNewForCausalLM"),
        "{e}"
    );
    assert!(e.contains("summary level"), "{e}");
}

#[test]
fn an_unknown_model_type_with_safetensors_imports_at_summary_level() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("config.json"),
        r#"{"model_type":"brand_new","num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"hidden_size":64,"max_position_embeddings":2048}"#,
    )
    .unwrap();
    common::write_safetensors(
        &tmp.path().join("model.safetensors"),
        &[("a.weight", "BF16", vec![64, 64]), ("b.weight", "BF16", vec![10, 64])],
    );
    let imp = import::import_path(tmp.path()).unwrap();
    assert!(imp.spec.architecture.is_none());
    assert_eq!(imp.spec.parameters, Some(64 * 64 + 10 * 64));
    assert_eq!(imp.derived_parameters, 64 * 64 + 10 * 64);
    assert!(
        !imp.parameters_checked,
        "a summary spec has nothing to check the tensors against"
    );
    // KV from the config: 2 layers x 2 x 2 heads x 16 x 2 B
    assert_eq!(imp.kv_bytes_per_token_16bit, 2 * 2 * 2 * 16 * 2);
    assert!(
        imp.warnings.iter().any(|w| w.contains("summary level")),
        "{:?}",
        imp.warnings
    );
}

#[test]
fn every_new_family_round_trips_with_its_state_and_image_tokens() {
    use gpuplan::estimate::{arch, ModelFacts};
    use gpuplan::spec::Catalog;
    let catalog = Catalog::embedded(arch::check_declared).unwrap();
    let mut families = std::collections::BTreeSet::new();
    for spec in catalog.model_specs() {
        let a = spec.architecture.as_ref().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.json");
        std::fs::write(&path, serde_json::to_string_pretty(&common::hf_config(spec)).unwrap()).unwrap();
        let imp = import::import_path(&path).unwrap_or_else(|e| panic!("{}: {e}", spec.id));
        assert_eq!(imp.spec.architecture.as_ref().unwrap().kind, a.kind, "{}", spec.id);
        assert_eq!(
            ModelFacts::new(&imp.spec).parameters,
            ModelFacts::new(spec).parameters,
            "{}",
            spec.id
        );
        for tp in [1, 2, 8] {
            let (w, g) = (
                kv::per_token(spec, KvPrecision::F16, tp),
                kv::per_token(&imp.spec, KvPrecision::F16, tp),
            );
            assert_eq!(g, w, "{} KV and state at tp {tp}", spec.id);
        }
        if let Some(v) = &spec.vision {
            let back = imp.spec.vision.as_ref().unwrap();
            // crops stated: a config alone does not carry Phi-3-V's processor default (num_crops)
            for image in [
                ImageInput {
                    crops: 1,
                    width: 0,
                    height: 0,
                },
                ImageInput {
                    crops: 4,
                    width: 1280,
                    height: 720,
                },
            ] {
                assert_eq!(
                    vision::tokens_per_image(back, &image),
                    vision::tokens_per_image(v, &image),
                    "{} image tokens",
                    spec.id
                );
            }
        }
        families.insert(a.kind.name());
    }
    for family in [
        "qwen3",
        "qwen3_moe",
        "qwen3_next",
        "gemma3",
        "gpt_oss",
        "llama4",
        "glm4_moe",
        "mistral3",
        "phi3",
        "smollm3",
        "granite",
        "granitemoehybrid",
        "nemotron_h",
        "deepseek_v3",
        "qwen2_5_vl",
    ] {
        assert!(families.contains(family), "no catalog model of {family}");
    }
    assert!(catalog.model_specs().count() >= 60);
}

#[test]
fn hugging_face_ids_name_catalog_models() {
    use gpuplan::estimate::arch;
    use gpuplan::spec::Catalog;
    let catalog = Catalog::embedded(arch::check_declared).unwrap();
    for (hf, id) in [
        ("Qwen/Qwen3-30B-A3B", "qwen3-30b-a3b"),
        ("openai/gpt-oss-120b", "gpt-oss-120b"),
        ("google/gemma-3-27b-it", "gemma-3-27b"),
        ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "llama-4-scout"),
        ("moonshotai/Kimi-K2-Instruct", "kimi-k2"),
        ("zai-org/GLM-4.5-Air", "glm-4.5-air"),
    ] {
        assert_eq!(catalog.model(hf, arch::check_declared).unwrap().id, id, "{hf}");
    }
}

/// A GGUF file of `arch` with 2 blocks, hidden 256, 4 heads of 64 (2 KV heads), FFN 512, vocab 100,
/// the block tensors `block(l)` gives (ne order: row length first), in F16.
fn tiny_gguf(
    dir: &Path,
    arch: &str,
    extra: Vec<(&'static str, common::Kv)>,
    block: impl Fn(u64) -> Vec<(String, Vec<u64>)>,
) -> import::Imported {
    use common::Kv;
    let k = |s: &str| -> &'static str { Box::leak(format!("{arch}.{s}").into_boxed_str()) };
    let mut kvs = vec![
        ("general.architecture", Kv::Str(arch.into())),
        ("general.file_type", Kv::U32(1)),
        (k("context_length"), Kv::U32(4096)),
        (k("embedding_length"), Kv::U32(256)),
        (k("block_count"), Kv::U32(2)),
        (k("feed_forward_length"), Kv::U32(512)),
        (k("attention.head_count"), Kv::U32(4)),
        (k("attention.head_count_kv"), Kv::U32(2)),
        (k("attention.key_length"), Kv::U32(64)),
    ];
    for (key, v) in extra {
        kvs.push((k(key), v));
    }
    let mut t: Vec<(String, Vec<u64>)> = vec![
        ("token_embd.weight".into(), vec![256, 100]),
        ("output_norm.weight".into(), vec![256]),
        ("output.weight".into(), vec![256, 100]),
    ];
    for l in 0..2 {
        t.extend(block(l));
    }
    let tensors: Vec<(&str, &str, Vec<u64>)> = t.iter().map(|(n, d)| (n.as_str(), "F16", d.clone())).collect();
    let path = dir.join(format!("{arch}.gguf"));
    common::write_gguf(&path, &kvs, &tensors);
    import::import_path(&path).unwrap_or_else(|e| panic!("{arch}: {e}"))
}

fn attention_tensors(l: u64, qk_norm: bool) -> Vec<(String, Vec<u64>)> {
    let p = |s: &str| format!("blk.{l}.{s}");
    let mut t = vec![
        (p("attn_norm.weight"), vec![256]),
        (p("attn_q.weight"), vec![256, 256]),
        (p("attn_k.weight"), vec![256, 128]),
        (p("attn_v.weight"), vec![256, 128]),
        (p("attn_output.weight"), vec![256, 256]),
        (p("ffn_norm.weight"), vec![256]),
    ];
    if qk_norm {
        t.push((p("attn_q_norm.weight"), vec![64]));
        t.push((p("attn_k_norm.weight"), vec![64]));
    }
    t
}

#[test]
fn gguf_files_of_the_new_families_count_what_the_architecture_derives() {
    use common::Kv;
    let tmp = tempfile::tempdir().unwrap();
    // Qwen3: q/k norms
    let q = tiny_gguf(tmp.path(), "qwen3", vec![], |l| {
        let p = |s: &str| format!("blk.{l}.{s}");
        let mut t = attention_tensors(l, true);
        t.extend([
            (p("ffn_gate.weight"), vec![256, 512]),
            (p("ffn_up.weight"), vec![256, 512]),
            (p("ffn_down.weight"), vec![512, 256]),
        ]);
        t
    });
    assert_eq!(q.spec.architecture.as_ref().unwrap().kind, ArchType::Qwen3);
    assert!(q.spec.architecture.as_ref().unwrap().qk_norm);
    assert!(q.parameters_checked, "{:?}", q.warnings);
    // Qwen3-MoE: 8 experts of 128, top 2, stacked expert tensors
    let moe = vec![
        ("expert_count", Kv::U32(8)),
        ("expert_used_count", Kv::U32(2)),
        ("expert_feed_forward_length", Kv::U32(128)),
    ];
    let experts = |l: u64| {
        let p = |s: &str| format!("blk.{l}.{s}");
        vec![
            (p("ffn_gate_inp.weight"), vec![256, 8]),
            (p("ffn_gate_exps.weight"), vec![256, 128, 8]),
            (p("ffn_up_exps.weight"), vec![256, 128, 8]),
            (p("ffn_down_exps.weight"), vec![128, 256, 8]),
        ]
    };
    let m = tiny_gguf(tmp.path(), "qwen3moe", moe, |l| {
        let mut t = attention_tensors(l, true);
        t.extend(experts(l));
        t
    });
    let a = m.spec.architecture.as_ref().unwrap();
    assert_eq!((a.kind, a.moe.as_ref().unwrap().experts), (ArchType::Qwen3Moe, 8));
    assert!(m.parameters_checked, "{:?}", m.warnings);
    // gpt-oss: biases everywhere, sinks, expert biases, a 128-token window on every other layer
    let oss = vec![
        ("expert_count", Kv::U32(8)),
        ("expert_used_count", Kv::U32(2)),
        ("expert_feed_forward_length", Kv::U32(128)),
        ("attention.sliding_window", Kv::U32(128)),
    ];
    let g = tiny_gguf(tmp.path(), "gpt-oss", oss, |l| {
        let p = |s: &str| format!("blk.{l}.{s}");
        let mut t = attention_tensors(l, false);
        t.extend(experts(l));
        t.extend([
            (p("attn_q.bias"), vec![256]),
            (p("attn_k.bias"), vec![128]),
            (p("attn_v.bias"), vec![128]),
            (p("attn_output.bias"), vec![256]),
            (p("attn_sinks.weight"), vec![4]),
            (p("ffn_gate_inp.bias"), vec![8]),
            (p("ffn_gate_exps.bias"), vec![128, 8]),
            (p("ffn_up_exps.bias"), vec![128, 8]),
            (p("ffn_down_exps.bias"), vec![256, 8]),
        ]);
        t
    });
    let a = g.spec.architecture.as_ref().unwrap();
    assert!(a.attention_sinks && a.moe.as_ref().unwrap().expert_bias && a.moe.as_ref().unwrap().router_bias);
    assert_eq!((a.sliding_window, a.sliding_window_pattern), (Some(128), 2));
    assert!(g.parameters_checked, "{:?}", g.warnings);
    // Gemma 3: four norms, q/k norms, every sixth layer global
    let gm = tiny_gguf(
        tmp.path(),
        "gemma3",
        vec![("attention.sliding_window", Kv::U32(512))],
        |l| {
            let p = |s: &str| format!("blk.{l}.{s}");
            let mut t = attention_tensors(l, true);
            t.extend([
                (p("post_attention_norm.weight"), vec![256]),
                (p("post_ffw_norm.weight"), vec![256]),
                (p("ffn_gate.weight"), vec![256, 512]),
                (p("ffn_up.weight"), vec![256, 512]),
                (p("ffn_down.weight"), vec![512, 256]),
            ]);
            t
        },
    );
    let a = gm.spec.architecture.as_ref().unwrap();
    assert_eq!((a.norms_per_layer, a.sliding_window_pattern), (4, 6));
    assert!(gm.parameters_checked, "{:?}", gm.warnings);
    // Qwen3-Next: one gated attention layer in 2 (interval 2), one Gated DeltaNet layer with 4 value
    // heads of 32, 2 key heads of 32, a 4-tap conv; experts with a gated shared expert
    let next = vec![
        ("expert_count", Kv::U32(8)),
        ("expert_used_count", Kv::U32(2)),
        ("expert_feed_forward_length", Kv::U32(128)),
        ("expert_shared_feed_forward_length", Kv::U32(128)),
        ("full_attention_interval", Kv::U32(2)),
        ("ssm.time_step_rank", Kv::U32(4)),
        ("ssm.inner_size", Kv::U32(128)),
        ("ssm.group_count", Kv::U32(2)),
        ("ssm.state_size", Kv::U32(32)),
        ("ssm.conv_kernel", Kv::U32(4)),
    ];
    let n = tiny_gguf(tmp.path(), "qwen3next", next, |l| {
        let p = |s: &str| format!("blk.{l}.{s}");
        let mut t = vec![(p("attn_norm.weight"), vec![256]), (p("ffn_norm.weight"), vec![256])];
        if l == 1 {
            // gated attention: q_proj twice as wide
            t.extend([
                (p("attn_q.weight"), vec![256, 512]),
                (p("attn_k.weight"), vec![256, 128]),
                (p("attn_v.weight"), vec![256, 128]),
                (p("attn_output.weight"), vec![256, 256]),
                (p("attn_q_norm.weight"), vec![64]),
                (p("attn_k_norm.weight"), vec![64]),
            ]);
        } else {
            // in_proj_qkvz (2 x 64 + 2 x 128), in_proj_ba (2 x 4), conv (64 + 64 + 128) x 4, A, dt, norm, out
            t.extend([
                (p("ssm_in.weight"), vec![256, 384]),
                (p("ssm_ba.weight"), vec![256, 8]),
                (p("ssm_conv1d.weight"), vec![4, 256]),
                (p("ssm_a"), vec![4]),
                (p("ssm_dt.bias"), vec![4]),
                (p("ssm_norm.weight"), vec![32]),
                (p("ssm_out.weight"), vec![128, 256]),
            ]);
        }
        t.extend(experts(l));
        t.extend([
            (p("ffn_gate_inp_shexp.weight"), vec![256]),
            (p("ffn_gate_shexp.weight"), vec![256, 128]),
            (p("ffn_up_shexp.weight"), vec![256, 128]),
            (p("ffn_down_shexp.weight"), vec![128, 256]),
        ]);
        t
    });
    let a = n.spec.architecture.as_ref().unwrap();
    assert_eq!((a.attention_layers, a.recurrent.as_ref().unwrap().layers), (Some(1), 1));
    assert!(n.parameters_checked, "{:?}", n.warnings);
}

#[test]
fn gguf_hybrids_read_per_layer_lists() {
    use common::Kv;
    let tmp = tempfile::tempdir().unwrap();
    // Nemotron-H: block 0 Mamba-2, block 1 attention, block 2 MLP (no gate); head and FFN lists per block
    let k = |s: &str| -> &'static str { Box::leak(format!("nemotron_h.{s}").into_boxed_str()) };
    let kvs = vec![
        ("general.architecture", Kv::Str("nemotron_h".into())),
        ("general.file_type", Kv::U32(1)),
        (k("context_length"), Kv::U32(8192)),
        (k("embedding_length"), Kv::U32(256)),
        (k("block_count"), Kv::U32(3)),
        (k("feed_forward_length"), Kv::I32s(vec![0, 0, 512])),
        (k("attention.head_count"), Kv::I32s(vec![0, 4, 0])),
        (k("attention.head_count_kv"), Kv::I32s(vec![0, 2, 0])),
        (k("attention.key_length"), Kv::U32(64)),
        (k("ssm.time_step_rank"), Kv::U32(8)),
        (k("ssm.inner_size"), Kv::U32(512)),
        (k("ssm.group_count"), Kv::U32(2)),
        (k("ssm.state_size"), Kv::U32(16)),
        (k("ssm.conv_kernel"), Kv::U32(4)),
    ];
    // in_proj 2 x 512 + 2 x 32 + 8 rows; conv over 512 + 64 channels
    let t: Vec<(&str, &str, Vec<u64>)> = vec![
        ("token_embd.weight", "F16", vec![256, 100]),
        ("output_norm.weight", "F16", vec![256]),
        ("output.weight", "F16", vec![256, 100]),
        ("blk.0.attn_norm.weight", "F16", vec![256]),
        ("blk.0.ssm_in.weight", "F16", vec![256, 1096]),
        ("blk.0.ssm_conv1d.weight", "F16", vec![4, 576]),
        ("blk.0.ssm_conv1d.bias", "F16", vec![576]),
        ("blk.0.ssm_a", "F16", vec![8]),
        ("blk.0.ssm_d", "F16", vec![8]),
        ("blk.0.ssm_dt.bias", "F16", vec![8]),
        ("blk.0.ssm_norm.weight", "F16", vec![512]),
        ("blk.0.ssm_out.weight", "F16", vec![512, 256]),
        ("blk.1.attn_norm.weight", "F16", vec![256]),
        ("blk.1.attn_q.weight", "F16", vec![256, 256]),
        ("blk.1.attn_k.weight", "F16", vec![256, 128]),
        ("blk.1.attn_v.weight", "F16", vec![256, 128]),
        ("blk.1.attn_output.weight", "F16", vec![256, 256]),
        ("blk.2.attn_norm.weight", "F16", vec![256]),
        ("blk.2.ffn_up.weight", "F16", vec![256, 512]),
        ("blk.2.ffn_down.weight", "F16", vec![512, 256]),
    ];
    let path = tmp.path().join("nemotron.gguf");
    common::write_gguf(&path, &kvs, &t);
    let imp = import::import_path(&path).unwrap();
    let a = imp.spec.architecture.as_ref().unwrap();
    assert_eq!(a.kind, ArchType::NemotronH);
    assert_eq!(
        (a.attention_layers, a.mlp_layers, a.recurrent.as_ref().unwrap().layers),
        (Some(1), Some(1), 1)
    );
    assert!(imp.parameters_checked, "{:?}", imp.warnings);
    let k = kv16(&imp);
    // one attention block of 2 x 64 KV; one Mamba-2 block: conv 576 x 3 in bf16, SSM 8 x 64 x 16 in f32
    assert_eq!((k.total(), k.state), (2 * 2 * 64 * 2, 576 * 3 * 2 + 8 * 64 * 16 * 4));
}
