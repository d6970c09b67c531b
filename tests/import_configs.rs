//! config.json import: the catalog round trip, real configs with published parameter counts, the
//! defaults transformers applies, quantization_config, and errors that name file, line and field.

mod common;

use gpuplan::estimate::{arch, kv, ModelFacts};
use gpuplan::import::{self, Basis, ImportError};
use gpuplan::spec::model::ArchType;
use gpuplan::spec::{Catalog, KvPrecision, ModelSpec};
use std::path::Path;

fn import_json(dir: &Path, text: &str) -> Result<import::Imported, ImportError> {
    let path = dir.join("config.json");
    std::fs::write(&path, text).unwrap();
    import::import_path(&path)
}

fn kv16(spec: &ModelSpec) -> u64 {
    kv::per_token(spec, KvPrecision::F16, 1).total()
}

#[test]
fn every_catalog_model_round_trips_through_config_json() {
    let catalog = Catalog::embedded(arch::check_declared).unwrap();
    let mut n = 0;
    for spec in catalog.model_specs() {
        let tmp = tempfile::tempdir().unwrap();
        let text = serde_json::to_string_pretty(&common::hf_config(spec)).unwrap();
        let imp = import_json(tmp.path(), &text).unwrap_or_else(|e| panic!("{}: {e}", spec.id));
        let (want, got) = (ModelFacts::new(spec), ModelFacts::new(&imp.spec));
        assert_eq!(got.parameters, want.parameters, "{} parameters", spec.id);
        assert_eq!(
            got.active_parameters, want.active_parameters,
            "{} active parameters",
            spec.id
        );
        for p in [KvPrecision::F16, KvPrecision::Fp8, KvPrecision::Q8_0] {
            let (w, g) = (kv::per_token(spec, p, 1), kv::per_token(&imp.spec, p, 1));
            assert_eq!(
                (g.full, g.windowed, g.window),
                (w.full, w.windowed, w.window),
                "{} KV at {p:?}",
                spec.id
            );
        }
        assert_eq!(imp.spec.max_context, spec.max_context, "{}", spec.id);
        assert_eq!(imp.spec.dtype, spec.dtype, "{}", spec.id);
        n += 1;
    }
    assert!(n >= 9, "the catalog has the Phi family");
}

/// Configs as published (fields from each model's config.json on huggingface.co; counts as cited).
const PUBLISHED: &[(&str, &str, u64)] = &[
    // HF API safetensors parameters {F16: 2779683840} (microsoft/phi-2)
    (
        "phi-2",
        r#"{"architectures":["PhiForCausalLM"],"model_type":"phi","vocab_size":51200,"hidden_size":2560,"intermediate_size":10240,
            "num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":32,"max_position_embeddings":2048,
            "partial_rotary_factor":0.4,"qk_layernorm":false,"hidden_act":"gelu_new","tie_word_embeddings":false,"torch_dtype":"float16"}"#,
        2_779_683_840,
    ),
    // keras-hub mixtral_8_7b_en preset: params 46702792704
    (
        "mixtral-8x7b",
        r#"{"architectures":["MixtralForCausalLM"],"model_type":"mixtral","vocab_size":32000,"hidden_size":4096,"intermediate_size":14336,
            "num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,"max_position_embeddings":32768,
            "num_local_experts":8,"num_experts_per_tok":2,"sliding_window":null,"rope_theta":1000000.0,"torch_dtype":"bfloat16"}"#,
        46_702_792_704,
    ),
    // HF API meta-llama/Llama-3.1-8B: 8030261248
    (
        "llama-3.1-8b",
        r#"{"architectures":["LlamaForCausalLM"],"model_type":"llama","vocab_size":128256,"hidden_size":4096,"intermediate_size":14336,
            "num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,"max_position_embeddings":131072,
            "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},
            "tie_word_embeddings":false,"attention_bias":false,"mlp_bias":false,"torch_dtype":"bfloat16"}"#,
        8_030_261_248,
    ),
    // keras-hub gemma2_9b_en preset: params 9241705984
    (
        "gemma-2-9b",
        r#"{"architectures":["Gemma2ForCausalLM"],"model_type":"gemma2","vocab_size":256000,"hidden_size":3584,"intermediate_size":14336,
            "num_hidden_layers":42,"num_attention_heads":16,"num_key_value_heads":8,"head_dim":256,"max_position_embeddings":8192,
            "sliding_window":4096,"query_pre_attn_scalar":256,"torch_dtype":"float32"}"#,
        9_241_705_984,
    ),
    // keras-hub qwen1.5_moe_2.7b_en preset: params 14315784192
    (
        "qwen1.5-moe-a2.7b",
        r#"{"architectures":["Qwen2MoeForCausalLM"],"model_type":"qwen2_moe","vocab_size":151936,"hidden_size":2048,"intermediate_size":5632,
            "num_hidden_layers":24,"num_attention_heads":16,"num_key_value_heads":16,"max_position_embeddings":8192,
            "moe_intermediate_size":1408,"shared_expert_intermediate_size":5632,"num_experts":60,"num_experts_per_tok":4,
            "decoder_sparse_step":1,"use_sliding_window":false,"sliding_window":32768,"max_window_layers":21,"tie_word_embeddings":false,
            "torch_dtype":"bfloat16"}"#,
        14_315_784_192,
    ),
    // DeepSeek-V2-Lite: 15706484224 (deepseek-ai model tables; ChatGLM-style serving banner)
    (
        "deepseek-v2-lite",
        r#"{"architectures":["DeepseekV2ForCausalLM"],"model_type":"deepseek_v2","vocab_size":102400,"hidden_size":2048,"intermediate_size":10944,
            "moe_intermediate_size":1408,"num_hidden_layers":27,"num_attention_heads":16,"num_key_value_heads":16,"n_shared_experts":2,
            "n_routed_experts":64,"num_experts_per_tok":6,"first_k_dense_replace":1,"moe_layer_freq":1,"q_lora_rank":null,"kv_lora_rank":512,
            "qk_nope_head_dim":128,"qk_rope_head_dim":64,"v_head_dim":128,"topk_method":"greedy","max_position_embeddings":163840,
            "tie_word_embeddings":false,"torch_dtype":"bfloat16"}"#,
        15_706_484_224,
    ),
    // Mistral-7B-v0.1 architecture (r2d2 / zephyr fine-tunes list 7241732096)
    (
        "mistral-7b-v0.1",
        r#"{"architectures":["MistralForCausalLM"],"model_type":"mistral","vocab_size":32000,"hidden_size":4096,"intermediate_size":14336,
            "num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,"max_position_embeddings":32768,"sliding_window":4096,
            "tie_word_embeddings":false,"torch_dtype":"bfloat16"}"#,
        7_241_732_096,
    ),
];

#[test]
fn published_configs_give_published_parameter_counts() {
    for (name, text, params) in PUBLISHED {
        let tmp = tempfile::tempdir().unwrap();
        let imp = import_json(tmp.path(), text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(imp.derived_parameters, *params, "{name}");
        assert_eq!(ModelFacts::new(&imp.spec).parameters, *params, "{name}");
    }
}

#[test]
fn kv_sizes_of_published_configs() {
    let tmp = tempfile::tempdir().unwrap();
    let get = |name: &str| {
        let text = PUBLISHED.iter().find(|p| p.0 == name).unwrap().1;
        import_json(tmp.path(), text).unwrap().spec
    };
    // Llama 3.1 8B: 2 x 32 layers x 8 kv heads x 128 x 2 B = 128 KiB
    assert_eq!(kv16(&get("llama-3.1-8b")), 131_072);
    // Gemma 2 9B: 42 layers x 2 x 8 x 256 x 2 B, half of the layers windowed at 4096
    let g = kv::per_token(&get("gemma-2-9b"), KvPrecision::F16, 1);
    assert_eq!((g.full, g.windowed, g.window), (21 * 8192, 21 * 8192, 4096));
    // DeepSeek-V2-Lite MLA: 27 layers x (512 + 64) x 2 B cached latent
    assert_eq!(kv16(&get("deepseek-v2-lite")), 27 * 576 * 2);
    // Mistral 7B v0.1: every layer windowed at 4096
    let m = kv::per_token(&get("mistral-7b-v0.1"), KvPrecision::F16, 1);
    assert_eq!((m.full, m.windowed, m.window), (0, 131_072, 4096));
}

#[test]
fn absent_fields_take_the_architecture_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    // Gemma: tied embeddings and head_dim 256 by default; Qwen2: q/k/v biases, 32 KV heads by default
    let g = import_json(tmp.path(), r#"{"model_type":"gemma","hidden_size":2048,"num_hidden_layers":18,"num_attention_heads":8,"num_key_value_heads":1,"intermediate_size":16384,"vocab_size":256000}"#).unwrap();
    let a = g.spec.architecture.as_ref().unwrap();
    assert!(a.tie_embeddings);
    assert_eq!(a.head_dim(), 256);
    // gemma-2b: keras-hub gemma_2b_en 2506172416
    assert_eq!(g.derived_parameters, 2_506_172_416);
    let note = g
        .provenance
        .iter()
        .find(|n| n.field == "architecture.tie_embeddings")
        .unwrap();
    assert_eq!(note.basis, Basis::Default);
    assert!(note.source.contains("GemmaConfig"));

    let q = import_json(
        tmp.path(),
        r#"{"model_type":"qwen2","hidden_size":4096,"num_attention_heads":32,"num_hidden_layers":24}"#,
    )
    .unwrap();
    let a = q.spec.architecture.as_ref().unwrap();
    assert!(a.qkv_bias && !a.o_bias);
    assert_eq!(a.kv_heads(), 32, "Qwen2Config num_key_value_heads default");
    assert_eq!(q.spec.max_context, 32768);
    assert_eq!(a.vocab_size, 151_936);

    // Mistral: an absent sliding_window is 4096, an explicit null is none
    let m = import_json(tmp.path(), r#"{"model_type":"mistral"}"#).unwrap();
    assert_eq!(m.spec.architecture.as_ref().unwrap().sliding_window, Some(4096));
    assert_eq!(m.spec.architecture.as_ref().unwrap().kv_heads(), 8);
    let m = import_json(tmp.path(), r#"{"model_type":"mistral","sliding_window":null}"#).unwrap();
    assert_eq!(m.spec.architecture.as_ref().unwrap().sliding_window, None);

    // Phi-3 128K: longrope noted, context from max_position_embeddings
    let p = import_json(
        tmp.path(),
        r#"{"architectures":["Phi3ForCausalLM"],"max_position_embeddings":131072,"original_max_position_embeddings":4096,
            "rope_scaling":{"type":"longrope","long_factor":[1.0],"short_factor":[1.0]},"sliding_window":262144}"#,
    )
    .unwrap();
    assert_eq!(p.spec.architecture.as_ref().unwrap().kind, ArchType::Phi3);
    assert_eq!(p.spec.max_context, 131_072);
    assert_eq!(
        p.derived_parameters, 3_821_079_552,
        "Phi3Config defaults are Phi-3-mini"
    );
    assert!(p.spec.notes.as_deref().unwrap_or("").contains("longrope"));
    assert_eq!(p.spec.dtype, "bf16");
    assert!(p
        .provenance
        .iter()
        .any(|n| n.field == "dtype" && n.basis == Basis::Default));
}

#[test]
fn quantization_config_sets_the_format() {
    let tmp = tempfile::tempdir().unwrap();
    let base = r#""model_type":"llama","hidden_size":4096,"num_hidden_layers":32,"num_attention_heads":32,"torch_dtype":"float16""#;
    for (q, dtype) in [
        (
            r#"{"quant_method":"gptq","bits":4,"group_size":128,"desc_act":true}"#,
            "gptq-int4",
        ),
        (
            r#"{"quant_method":"awq","bits":4,"group_size":128,"version":"gemm"}"#,
            "awq-int4",
        ),
        (r#"{"quant_method":"bitsandbytes","load_in_8bit":true}"#, "int8"),
        (r#"{"quant_method":"fp8","activation_scheme":"dynamic"}"#, "fp8"),
        (
            r#"{"quant_method":"bitsandbytes","load_in_4bit":true,"bnb_4bit_quant_type":"nf4"}"#,
            "bnb-nf4-nodq",
        ),
        (r#"{"quant_method":"gptq","bits":8,"group_size":32}"#, "gptq-int8-g32"),
        (r#"{"quant_method":"gptq","bits":3,"group_size":64}"#, "gptq-int3-g64"),
        (
            r#"{"quant_method":"fp8","fmt":"e4m3","weight_block_size":[128,128]}"#,
            "fp8-block",
        ),
        (r#"{"quant_method":"mxfp4"}"#, "mxfp4"),
        (r#"{"quant_method":"modelopt","quant_algo":"NVFP4"}"#, "nvfp4"),
        (r#"{"quant_method":"hqq","nbits":4}"#, "fp16"),
    ] {
        let imp = import_json(tmp.path(), &format!("{{{base},\"quantization_config\":{q}}}")).unwrap();
        assert_eq!(imp.spec.dtype, dtype, "{q}");
    }
    let g256 = import_json(
        tmp.path(),
        &format!("{{{base},\"quantization_config\":{{\"quant_method\":\"gptq\",\"bits\":4,\"group_size\":256}}}}"),
    )
    .unwrap();
    assert!(
        g256.warnings.iter().any(|w| w.contains("group size 256")),
        "{:?}",
        g256.warnings
    );
    // an attention ignore list travels with the spec; a hostile bit width is an error naming the field
    let ignore = import_json(
        tmp.path(),
        &format!("{{{base},\"quantization_config\":{{\"quant_method\":\"fp8\",\"modules_to_not_convert\":[\"model.layers.*.self_attn\"]}}}}"),
    )
    .unwrap();
    let q = ignore.spec.quantization.expect("quantization details");
    assert_eq!(q.unquantized, vec![gpuplan::spec::precision::TensorKind::Attention]);
    let e = import_json(
        tmp.path(),
        &format!("{{{base},\"quantization_config\":{{\"quant_method\":\"gptq\",\"bits\":4096}}}}"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("quantization_config.bits"), "{e}");
}

#[test]
fn errors_name_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let e = import_json(tmp.path(), "{\n  \"model_type\": \"llama\",\n  \"hidden_size\": -5\n}")
        .unwrap_err()
        .to_string();
    assert!(e.contains("config.json:3: field `hidden_size`"), "{e}");
    assert!(e.contains("non-negative integer"), "{e}");

    let e = import_json(tmp.path(), "{\n  \"model_type\": \"gpt2\"\n}")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("config.json:2: field `model_type`") && e.contains("gpt2") && e.contains("llama"),
        "{e}"
    );

    let e = import_json(
        tmp.path(),
        "{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 4096,\n}",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("config.json:4:"),
        "trailing comma is a JSON error with its line: {e}"
    );

    // Qwen2Config's default of 32 KV heads does not divide 14 heads: the error names the config key
    let e = import_json(
        tmp.path(),
        "{\n \"model_type\": \"qwen2\",\n \"hidden_size\": 896,\n \"num_attention_heads\": 14\n}",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("config.json: field `num_key_value_heads`")
            && e.contains("do not divide 14")
            && e.contains("default"),
        "{e}"
    );
    let e = import_json(
        tmp.path(),
        "{\n \"model_type\": \"qwen2\",\n \"num_key_value_heads\": 5\n}",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("config.json:3: field `num_key_value_heads`"), "{e}");

    let e = import_json(tmp.path(), r#"{"model_type":"phi3small","hidden_size":4096}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("num_hidden_layers") && e.contains("no default"), "{e}");

    // sizes that would overflow the estimator are refused, not wrapped
    let e = import_json(
        tmp.path(),
        r#"{"model_type":"llama","hidden_size":4294967296,"num_attention_heads":1,"intermediate_size":4294967296}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("2^50"), "{e}");

    let path = tmp.path().join("config.json");
    std::fs::write(&path, [b'{', 0xff, b'}']).unwrap();
    let e = import::import_path(&path).unwrap_err().to_string();
    assert!(e.contains("byte 1") && e.contains("UTF-8"), "{e}");
}

#[test]
fn imported_yaml_loads_as_a_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let imp = import_json(tmp.path(), PUBLISHED[1].1).unwrap();
    let yaml = import::to_yaml(&imp).unwrap();
    assert!(yaml.starts_with("# Imported by gpuplan"));
    let back = ModelSpec::from_yaml(Path::new("x.yaml"), &yaml).unwrap();
    assert_eq!(back, imp.spec);
    assert!(arch::check_declared(&back).is_ok());
}
