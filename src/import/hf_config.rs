//! Hugging Face `config.json` -> [`ModelSpec`].
//!
//! Absent fields take the value the architecture's transformers config class gives them (read from
//! `src/transformers/models/<arch>/configuration_<arch>.py`), and layout facts the config does not
//! state come from the modeling code (which projections carry biases, norms per layer, fused
//! tensors). Each field's provenance is recorded. Supported `model_type`s: llama, mistral, mixtral,
//! qwen2, qwen2_moe, gemma, gemma2, phi (phi-1/1.5/2), phi3 (longrope too), phi3small, phimoe, phi3_v,
//! deepseek_v2, deepseek_v3.

use super::{Basis, FieldNote, ImportError, SourceKind};
use crate::spec::model::MAX_LAYERS;
use crate::spec::model::{ArchType, Architecture, MlaSpec, MlpKind, MoeSpec, NormKind, VisionSpec};
use crate::spec::ModelSpec;
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::Path;

/// config.json files are kilobytes; a longrope config with its factor lists stays far below this.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// How the checkpoint's linear layers are quantized (`quantization_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Quant {
    None,
    /// GPTQ / AWQ: `bits`-bit weights packed in int32 `qweight`, `group` input columns per scale
    Packed {
        bits: u64,
        group: Option<u64>,
    },
    /// bitsandbytes LLM.int8
    Bnb8,
    /// bitsandbytes NF4/FP4: two weights per byte in a u8 `weight`
    Bnb4,
    Fp8,
    /// a method gpuplan has no format for
    Other,
}

/// A parsed config: the spec and what each field rests on.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub spec: ModelSpec,
    pub notes: Vec<FieldNote>,
    pub warnings: Vec<String>,
    pub quant: Quant,
    /// the transformers config class whose defaults applied
    pub class: &'static str,
}

/// Imports a config.json on its own (no tensors to check against).
pub fn import_file(path: &Path) -> Result<super::Imported, ImportError> {
    import_text(path, &super::read_text(path, MAX_CONFIG_BYTES)?)
}

/// Imports a config.json given as text (`gpuplan serve`'s API); `path` names it in errors.
pub fn import_text(path: &Path, text: &str) -> Result<super::Imported, ImportError> {
    let p = parse(path, text)?;
    super::finish(path, SourceKind::Config, p.spec, p.notes, None, p.warnings)
}

/// Field values with their provenance; `class` names the config class whose defaults apply.
struct Cfg<'a> {
    path: &'a Path,
    text: &'a str,
    map: &'a Map<String, Value>,
    class: &'static str,
    notes: Vec<FieldNote>,
}

impl<'a> Cfg<'a> {
    fn err(&self, key: &str, message: impl Into<String>) -> ImportError {
        ImportError::field(self.path, self.text, key, message)
    }

    fn note(&mut self, field: &str, value: impl ToString, basis: Basis, source: String) {
        self.notes.retain(|n| n.field != field);
        self.notes.push(FieldNote {
            field: field.to_string(),
            value: value.to_string(),
            basis,
            source,
        });
    }

    fn stated(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn to_u64(&self, key: &str, v: &Value) -> Result<u64, ImportError> {
        let n = match v {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 9.0e15)
                    .map(|f| f as u64)
            }),
            _ => None,
        };
        n.ok_or_else(|| self.err(key, format!("expected a non-negative integer, got {}", short(v))))
    }

    /// A count: stated, else the class default (or an error when the class has none).
    fn count(&mut self, key: &str, field: &str, default: Option<u64>) -> Result<u64, ImportError> {
        match self.stated(key) {
            Some(v) => {
                let n = self.to_u64(key, v)?;
                self.note(field, n, Basis::Config, format!("config.json `{key}`"));
                Ok(n)
            }
            None => match default {
                Some(d) => {
                    self.note(
                        field,
                        d,
                        Basis::Default,
                        format!("`{key}` absent: {} default", self.class),
                    );
                    Ok(d)
                }
                None => Err(self.err(key, format!("missing, and {} has no default for it", self.class))),
            },
        }
    }

    /// An optional count: absent takes `default`, an explicit null means none.
    fn opt_count(&mut self, key: &str, field: &str, default: Option<u64>) -> Result<Option<u64>, ImportError> {
        match self.map.get(key) {
            Some(Value::Null) => {
                self.note(field, "none", Basis::Config, format!("config.json `{key}`: null"));
                Ok(None)
            }
            Some(v) => {
                let n = self.to_u64(key, v)?;
                self.note(field, n, Basis::Config, format!("config.json `{key}`"));
                Ok(Some(n))
            }
            None => {
                let shown = default.map_or("none".to_string(), |d| d.to_string());
                self.note(
                    field,
                    shown,
                    Basis::Default,
                    format!("`{key}` absent: {} default", self.class),
                );
                Ok(default)
            }
        }
    }

    fn flag(&mut self, key: &str, field: &str, default: bool) -> Result<bool, ImportError> {
        match self.stated(key) {
            Some(Value::Bool(b)) => {
                self.note(field, b, Basis::Config, format!("config.json `{key}`"));
                Ok(*b)
            }
            Some(v) => Err(self.err(key, format!("expected true or false, got {}", short(v)))),
            None => {
                self.note(
                    field,
                    default,
                    Basis::Default,
                    format!("`{key}` absent: {} default", self.class),
                );
                Ok(default)
            }
        }
    }

    /// A layout fact the config cannot change: from the modeling code.
    fn fixed(&mut self, field: &str, value: impl ToString, why: &str) {
        self.note(field, value, Basis::Default, why.to_string());
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, ImportError> {
        match self.stated(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(self.err(key, format!("expected a string, got {}", short(v)))),
        }
    }

    fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, ImportError> {
        match self.stated(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(self.err(key, format!("expected an object, got {}", short(v)))),
        }
    }
}

/// A value for an error message, cut short.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

/// Defaults of one transformers config class (None: no default, the field is required).
struct Defaults {
    class: &'static str,
    vocab: Option<u64>,
    hidden: Option<u64>,
    intermediate: Option<u64>,
    layers: Option<u64>,
    heads: Option<u64>,
    /// None: num_attention_heads
    kv_heads: Option<u64>,
    /// None: hidden_size / num_attention_heads
    head_dim: Option<u64>,
    max_position: Option<u64>,
    tie: bool,
}

// one row of the defaults table: positional on purpose, so each row reads like the config class
#[allow(clippy::too_many_arguments)]
const fn d(
    class: &'static str,
    vocab: u64,
    hidden: u64,
    intermediate: u64,
    layers: u64,
    heads: u64,
    kv_heads: Option<u64>,
    head_dim: Option<u64>,
    max_position: u64,
    tie: bool,
) -> Defaults {
    Defaults {
        class,
        vocab: Some(vocab),
        hidden: Some(hidden),
        intermediate: Some(intermediate),
        layers: Some(layers),
        heads: Some(heads),
        kv_heads,
        head_dim,
        max_position: Some(max_position),
        tie,
    }
}

/// Remote-code architectures whose config class gpuplan has not read: every size is required.
const fn required(class: &'static str, tie: bool) -> Defaults {
    Defaults {
        class,
        vocab: None,
        hidden: None,
        intermediate: None,
        layers: None,
        heads: None,
        kv_heads: None,
        head_dim: None,
        max_position: None,
        tie,
    }
}

/// Each supported `model_type`, its spec type and its config class defaults (vocab, hidden,
/// intermediate, layers, heads, kv heads, head_dim, max positions, tied embeddings).
#[rustfmt::skip]
const DEFAULTS: &[(&str, ArchType, Defaults)] = &[
    ("llama", ArchType::Llama, d("LlamaConfig", 32000, 4096, 11008, 32, 32, None, None, 2048, false)),
    ("mistral", ArchType::Mistral, d("MistralConfig", 32000, 4096, 14336, 32, 32, Some(8), None, 131072, false)),
    ("mixtral", ArchType::Mixtral, d("MixtralConfig", 32000, 4096, 14336, 32, 32, Some(8), None, 131072, false)),
    ("qwen2", ArchType::Qwen2, d("Qwen2Config", 151936, 4096, 22016, 32, 32, Some(32), None, 32768, false)),
    ("qwen2_moe", ArchType::Qwen2Moe, d("Qwen2MoeConfig", 151936, 2048, 5632, 24, 16, Some(16), None, 32768, false)),
    ("gemma", ArchType::Gemma, d("GemmaConfig", 256000, 3072, 24576, 28, 16, Some(16), Some(256), 8192, true)),
    ("gemma2", ArchType::Gemma2, d("Gemma2Config", 256000, 2304, 9216, 26, 8, Some(4), Some(256), 8192, true)),
    ("phi", ArchType::Phi, d("PhiConfig", 51200, 2048, 8192, 24, 32, None, None, 2048, false)),
    ("phi3", ArchType::Phi3, d("Phi3Config", 32064, 3072, 8192, 32, 32, None, None, 4096, false)),
    ("phimoe", ArchType::Phimoe, d("PhimoeConfig", 32064, 4096, 6400, 32, 32, Some(8), None, 131072, false)),
    // remote code, class not read: sizes required; PretrainedConfig's tie_word_embeddings default
    // (true) applies to Phi-3-small, whose config does not state it
    ("phi3small", ArchType::Phi3small, required("Phi3SmallConfig (remote code)", true)),
    ("phi3_v", ArchType::Phi3V, required("Phi3VConfig (remote code)", false)),
    ("deepseek_v2", ArchType::DeepseekV2, d("DeepseekV2Config", 32000, 4096, 11008, 32, 32, None, None, 2048, false)),
    ("deepseek_v3", ArchType::DeepseekV3, d("DeepseekV3Config", 129280, 7168, 18432, 61, 128, None, None, 4096, false)),
];

/// The `model_type`s this importer knows, with the `architectures` class names that imply them.
const ARCHITECTURES: &[(&str, &str)] = &[
    ("llama", "LlamaForCausalLM"),
    ("mistral", "MistralForCausalLM"),
    ("mixtral", "MixtralForCausalLM"),
    ("qwen2", "Qwen2ForCausalLM"),
    ("qwen2_moe", "Qwen2MoeForCausalLM"),
    ("gemma", "GemmaForCausalLM"),
    ("gemma2", "Gemma2ForCausalLM"),
    ("phi", "PhiForCausalLM"),
    ("phi3", "Phi3ForCausalLM"),
    ("phi3small", "Phi3SmallForCausalLM"),
    ("phimoe", "PhiMoEForCausalLM"),
    ("phi3_v", "Phi3VForCausalLM"),
    ("deepseek_v2", "DeepseekV2ForCausalLM"),
    ("deepseek_v3", "DeepseekV3ForCausalLM"),
];

/// Names of the supported `model_type`s.
pub fn supported() -> Vec<&'static str> {
    ARCHITECTURES.iter().map(|(t, _)| *t).collect()
}

/// Parses a config.json text. `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<Parsed, ImportError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ImportError::json(path, &e))?;
    let Value::Object(map) = &value else {
        return Err(ImportError::Json {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: "config.json must be a JSON object".into(),
        });
    };
    let model_type = model_type(path, text, map)?;
    let Some((_, kind, defaults)) = DEFAULTS.iter().find(|(t, _, _)| *t == model_type) else {
        return Err(ImportError::field(
            path,
            text,
            "model_type",
            format!(
                "`{model_type}` is not an architecture gpuplan imports (supported: {})",
                supported().join(", ")
            ),
        ));
    };
    let kind = *kind;
    let mut c = Cfg {
        path,
        text,
        map,
        class: defaults.class,
        notes: Vec::new(),
    };
    let mut warnings = Vec::new();
    c.note(
        "architecture.type",
        kind.name(),
        Basis::Config,
        format!("config.json `model_type` {model_type}"),
    );

    let hidden = c.count("hidden_size", "architecture.hidden_size", defaults.hidden)?;
    let layers = c.count("num_hidden_layers", "architecture.layers", defaults.layers)?;
    let heads = c.count("num_attention_heads", "architecture.attention_heads", defaults.heads)?;
    let vocab = c.count("vocab_size", "architecture.vocab_size", defaults.vocab)?;
    if heads == 0 {
        return Err(c.err("num_attention_heads", "must be positive"));
    }
    if layers > MAX_LAYERS {
        return Err(c.err(
            "num_hidden_layers",
            format!("{layers} layers: more than the {MAX_LAYERS} a spec may have"),
        ));
    }
    let intermediate = if kind == ArchType::Phi3small {
        c.count("ff_intermediate_size", "architecture.intermediate_size", None)?
    } else {
        c.count(
            "intermediate_size",
            "architecture.intermediate_size",
            defaults.intermediate,
        )?
    };
    let max_context = c.count("max_position_embeddings", "max_context", defaults.max_position)?;
    let kv_heads = match c.opt_count("num_key_value_heads", "architecture.kv_heads", defaults.kv_heads)? {
        Some(k) => k,
        None => {
            c.note(
                "architecture.kv_heads",
                heads,
                Basis::Derived,
                "no `num_key_value_heads`: one KV head per attention head".into(),
            );
            heads
        }
    };
    let head_dim = match c.opt_count("head_dim", "architecture.head_dim", defaults.head_dim)? {
        Some(h) => h,
        None => {
            c.note(
                "architecture.head_dim",
                hidden / heads,
                Basis::Derived,
                "hidden_size / num_attention_heads".into(),
            );
            hidden / heads
        }
    };
    let tie = c.flag("tie_word_embeddings", "architecture.tie_embeddings", defaults.tie)?;

    let mut a = Architecture {
        kind,
        hidden_size: hidden,
        layers,
        attention_heads: heads,
        kv_heads: Some(kv_heads),
        head_dim: Some(head_dim),
        intermediate_size: intermediate,
        vocab_size: vocab,
        tie_embeddings: tie,
        norm: NormKind::Rms,
        norms_per_layer: 2,
        mlp: MlpKind::Gated,
        qkv_bias: false,
        o_bias: false,
        mlp_bias: false,
        lm_head_bias: false,
        fused_qkv: false,
        sliding_window: None,
        sliding_window_pattern: 1,
        moe: None,
        mla: None,
    };
    let mut vision = None;
    match kind {
        ArchType::Llama => {
            let bias = c.flag("attention_bias", "architecture.qkv_bias", false)?;
            (a.qkv_bias, a.o_bias) = (bias, bias);
            c.note(
                "architecture.o_bias",
                bias,
                Basis::Derived,
                "LlamaAttention: o_proj bias = attention_bias".into(),
            );
            a.mlp_bias = c.flag("mlp_bias", "architecture.mlp_bias", false)?;
        }
        ArchType::Mistral => {
            c.fixed("architecture.qkv_bias", false, "MistralAttention: no biases");
            a.sliding_window = c.opt_count("sliding_window", "architecture.sliding_window", Some(4096))?;
        }
        ArchType::Mixtral | ArchType::Phimoe => {
            a.sliding_window = c.opt_count("sliding_window", "architecture.sliding_window", None)?;
            let experts = c.count(
                "num_local_experts",
                "architecture.moe.experts",
                Some(if kind == ArchType::Mixtral { 8 } else { 16 }),
            )?;
            let top = c.count("num_experts_per_tok", "architecture.moe.experts_per_token", Some(2))?;
            a.moe = Some(moe(experts, top));
            if kind == ArchType::Phimoe {
                let bias = c.flag("attention_bias", "architecture.qkv_bias", false)?;
                (a.qkv_bias, a.o_bias) = (bias, bias);
                c.note(
                    "architecture.o_bias",
                    bias,
                    Basis::Derived,
                    "PhimoeAttention: o_proj bias = attention_bias".into(),
                );
                a.lm_head_bias = c.flag("lm_head_bias", "architecture.lm_head_bias", false)?;
                a.norm = NormKind::Layer;
                c.fixed(
                    "architecture.norm",
                    "layer",
                    "PhimoeDecoderLayer: nn.LayerNorm (weight + bias)",
                );
            }
        }
        ArchType::Qwen2 | ArchType::Qwen2Moe => {
            let bias = c.flag("qkv_bias", "architecture.qkv_bias", true)?;
            a.qkv_bias = bias;
            if c.stated("qkv_bias").is_none() {
                c.fixed(
                    "architecture.qkv_bias",
                    true,
                    "Qwen2Attention: q/k/v carry biases, o_proj none",
                );
            }
            if c.flag("use_sliding_window", "architecture.sliding_window", false)? {
                let window = c.count("sliding_window", "architecture.sliding_window", Some(4096))?;
                let from = c.count("max_window_layers", "architecture.sliding_window_pattern", Some(28))?;
                if kind == ArchType::Qwen2 && from == 0 {
                    a.sliding_window = Some(window);
                } else if kind == ArchType::Qwen2 && from >= layers {
                    // Qwen2Config layer_types: only layers from max_window_layers on use the window
                    c.note(
                        "architecture.sliding_window",
                        "none",
                        Basis::Derived,
                        "max_window_layers >= num_hidden_layers: no windowed layer".into(),
                    );
                } else {
                    warnings.push(format!(
                        "use_sliding_window with max_window_layers {from}: the windowed layer pattern has no spec form; \
                         every layer is taken as full attention (KV cache an upper bound)"
                    ));
                    c.note(
                        "architecture.sliding_window",
                        "none",
                        Basis::Derived,
                        "layer pattern not representable: full attention assumed".into(),
                    );
                }
            }
            if kind == ArchType::Qwen2Moe {
                let experts = c.count("num_experts", "architecture.moe.experts", Some(60))?;
                let top = c.count("num_experts_per_tok", "architecture.moe.experts_per_token", Some(4))?;
                let mut m = moe(experts, top);
                m.expert_intermediate_size = Some(c.count(
                    "moe_intermediate_size",
                    "architecture.moe.expert_intermediate_size",
                    Some(1408),
                )?);
                let shared = c.count(
                    "shared_expert_intermediate_size",
                    "architecture.moe.shared_expert_intermediate_size",
                    Some(5632),
                )?;
                m.shared_expert_intermediate_size = (shared > 0).then_some(shared);
                let step = c.count("decoder_sparse_step", "architecture.moe.dense_layers", Some(1))?;
                let only = int_list(&c, "mlp_only_layers")?;
                // Qwen2MoeDecoderLayer: experts where the layer is not in mlp_only_layers and
                // num_experts > 0 and (layer + 1) % decoder_sparse_step == 0
                m.dense_layers = (0..layers)
                    .filter(|i| only.contains(i) || experts == 0 || step == 0 || (i + 1) % step != 0)
                    .count() as u64;
                c.note(
                    "architecture.moe.dense_layers",
                    m.dense_layers,
                    Basis::Derived,
                    "layers in mlp_only_layers or off decoder_sparse_step".into(),
                );
                a.moe = Some(m);
            }
        }
        ArchType::Gemma | ArchType::Gemma2 => {
            let bias = c.flag("attention_bias", "architecture.qkv_bias", false)?;
            (a.qkv_bias, a.o_bias) = (bias, bias);
            if kind == ArchType::Gemma2 {
                a.sliding_window = c.opt_count("sliding_window", "architecture.sliding_window", Some(4096))?;
                a.sliding_window_pattern = 2;
                c.fixed(
                    "architecture.sliding_window_pattern",
                    2,
                    "Gemma2Config layer_types: sliding and full attention alternate",
                );
                a.norms_per_layer = 4;
                c.fixed(
                    "architecture.norms_per_layer",
                    4,
                    "Gemma2DecoderLayer: input, post_attention, pre_feedforward, post_feedforward",
                );
            }
        }
        ArchType::Phi => {
            if c.flag("qk_layernorm", "architecture.norms_per_layer", false)? {
                return Err(c.err("qk_layernorm", "per-head q/k LayerNorms have no spec form yet"));
            }
            (a.norm, a.norms_per_layer, a.mlp) = (NormKind::Layer, 1, MlpKind::Plain);
            (a.qkv_bias, a.o_bias, a.mlp_bias, a.lm_head_bias) = (true, true, true, true);
            c.fixed(
                "architecture.layout",
                "layer norm x1, plain MLP, all biases",
                "PhiDecoderLayer: one LayerNorm before parallel attention and MLP; q/k/v/dense, fc1/fc2 and lm_head with biases",
            );
        }
        ArchType::Phi3 | ArchType::Phi3V => {
            a.fused_qkv = true;
            c.fixed(
                "architecture.fused_qkv",
                true,
                "Phi3Attention: one qkv_proj, one gate_up_proj",
            );
            a.sliding_window = c.opt_count("sliding_window", "architecture.sliding_window", None)?;
            if kind == ArchType::Phi3V {
                vision = Some(phi3v_vision(&mut c, hidden)?);
            }
        }
        ArchType::Phi3small => {
            (a.norm, a.mlp, a.fused_qkv) = (NormKind::Layer, MlpKind::GatedFusedWide, true);
            (a.qkv_bias, a.o_bias, a.mlp_bias) = (true, true, true);
            c.fixed(
                "architecture.layout",
                "layer norm, gegelu up-projection 2 x ff_intermediate_size, biases on qkv/dense/up/down",
                "Phi-3-small remote modeling code (shared/reference/models/Phi-3-small-8k-instruct.json)",
            );
            if let Some(act) = c.string("hidden_act")? {
                if act != "gegelu" {
                    return Err(c.err(
                        "hidden_act",
                        format!("`{act}`: only Phi-3-small's gegelu layout is known"),
                    ));
                }
            }
        }
        ArchType::DeepseekV2 | ArchType::DeepseekV3 => {
            deepseek(&mut c, &mut a, kind)?;
        }
    }
    if kind != ArchType::Phi3small && kind != ArchType::DeepseekV2 && kind != ArchType::DeepseekV3 {
        if let Some(act) = c.string("hidden_act")?.or(c.string("hidden_activation")?) {
            let plain = kind == ArchType::Phi;
            if !plain && !matches!(act, "silu" | "swish" | "gelu" | "gelu_pytorch_tanh" | "gelu_new") {
                warnings.push(format!("hidden_act `{act}`: the gated MLP layout is assumed"));
            }
        }
    }

    let (dtype, quant) = dtype_and_quant(&mut c, &mut warnings)?;
    if let Some(rope) = c.object("rope_scaling")?.or(c.object("rope_parameters")?) {
        let t = rope
            .get("rope_type")
            .or(rope.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        c.note(
            "notes",
            format!("rope scaling `{t}`"),
            Basis::Config,
            "config.json `rope_scaling`".into(),
        );
    }
    let name = super::source_name(path);
    let hf_id = c
        .string("_name_or_path")
        .ok()
        .flatten()
        .filter(|s| {
            s.split('/').count() == 2
                && !s.starts_with('/')
                && !s.starts_with('.')
                && s.chars().all(|ch| ch.is_ascii_alphanumeric() || "/._-".contains(ch))
        })
        .map(str::to_string);
    let notes_text = c.notes.iter().find(|n| n.field == "notes").map(|n| n.value.clone());
    let spec = ModelSpec {
        id: super::id_from(&name),
        name,
        hf_id,
        aliases: Vec::new(),
        max_context,
        dtype,
        parameters: None,
        active_parameters: None,
        architecture: Some(a),
        kv_cache: None,
        vision,
        sources: Vec::new(),
        notes: notes_text,
    };
    let notes = c.notes.into_iter().filter(|n| n.field != "notes").collect();
    Ok(Parsed {
        spec,
        notes,
        warnings,
        quant,
        class: defaults.class,
    })
}

fn moe(experts: u64, top: u64) -> MoeSpec {
    MoeSpec {
        experts,
        experts_per_token: top,
        expert_intermediate_size: None,
        shared_expert_intermediate_size: None,
        router_bias: false,
        shared_expert_gate: true,
        dense_layers: 0,
    }
}

/// `model_type`, or the first `architectures` entry mapped back to one.
fn model_type(path: &Path, text: &str, map: &Map<String, Value>) -> Result<String, ImportError> {
    match map.get("model_type") {
        Some(Value::String(s)) => return Ok(s.clone()),
        Some(v) if !v.is_null() => {
            return Err(ImportError::field(
                path,
                text,
                "model_type",
                format!("expected a string, got {}", short(v)),
            ))
        }
        _ => {}
    }
    if let Some(Value::Array(list)) = map.get("architectures") {
        if let Some(Value::String(class)) = list.first() {
            if let Some((t, _)) = ARCHITECTURES.iter().find(|(_, c)| c == class) {
                return Ok(t.to_string());
            }
            return Err(ImportError::field(
                path,
                text,
                "architectures",
                format!("`{class}` is not an architecture gpuplan imports"),
            ));
        }
    }
    Err(ImportError::field(
        path,
        text,
        "model_type",
        "missing (and no known `architectures` entry): cannot tell the architecture",
    ))
}

/// A list of non-negative integers (absent or null: empty), at most one entry per... anything: the
/// list is already in memory, its length bounded by the file.
fn int_list(c: &Cfg, key: &str) -> Result<Vec<u64>, ImportError> {
    match c.stated(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(|v| c.to_u64(key, v)).collect(),
        Some(v) => Err(c.err(key, format!("expected a list of layer indices, got {}", short(v)))),
    }
}

/// DeepSeek-V2/V3: multi-head latent attention and fine-grained experts with shared experts.
fn deepseek(c: &mut Cfg, a: &mut Architecture, kind: ArchType) -> Result<(), ImportError> {
    let v3 = kind == ArchType::DeepseekV3;
    if c.flag("attention_bias", "architecture.qkv_bias", false)? {
        return Err(c.err("attention_bias", "MLA with attention biases has no spec form yet"));
    }
    let q_lora = c.opt_count("q_lora_rank", "architecture.mla.q_lora_rank", Some(1536))?;
    let kv_lora = c.count("kv_lora_rank", "architecture.mla.kv_lora_rank", Some(512))?;
    let nope = c.count("qk_nope_head_dim", "architecture.mla.qk_nope_head_dim", Some(128))?;
    let rope = c.count("qk_rope_head_dim", "architecture.mla.qk_rope_head_dim", Some(64))?;
    let v = c.count("v_head_dim", "architecture.mla.v_head_dim", Some(128))?;
    a.mla = Some(MlaSpec {
        q_lora_rank: q_lora,
        kv_lora_rank: kv_lora,
        qk_nope_head_dim: nope,
        qk_rope_head_dim: rope,
        v_head_dim: v,
    });
    a.kv_heads = None;
    a.head_dim = Some(nope.saturating_add(rope));
    c.note(
        "architecture.head_dim",
        nope.saturating_add(rope),
        Basis::Derived,
        "qk_nope_head_dim + qk_rope_head_dim".into(),
    );
    c.note(
        "architecture.kv_heads",
        a.attention_heads,
        Basis::Derived,
        "MLA: k and v per attention head, cached as one latent".into(),
    );
    let experts = c.count(
        "n_routed_experts",
        "architecture.moe.experts",
        Some(if v3 { 256 } else { 64 }),
    )?;
    let top = c.count(
        "num_experts_per_tok",
        "architecture.moe.experts_per_token",
        if v3 { Some(8) } else { None },
    )?;
    let mut m = moe(experts, top);
    let moe_i = c.count(
        "moe_intermediate_size",
        "architecture.moe.expert_intermediate_size",
        Some(if v3 { 2048 } else { 1407 }),
    )?;
    m.expert_intermediate_size = Some(moe_i);
    let shared = c.count(
        "n_shared_experts",
        "architecture.moe.shared_expert_intermediate_size",
        Some(if v3 { 1 } else { 2 }),
    )?;
    m.shared_expert_intermediate_size = (shared > 0).then(|| moe_i.saturating_mul(shared));
    m.shared_expert_gate = false;
    c.note(
        "architecture.moe.shared_expert_intermediate_size",
        moe_i.saturating_mul(shared),
        Basis::Derived,
        "moe_intermediate_size x n_shared_experts (one MLP, no gate)".into(),
    );
    let first = c.count(
        "first_k_dense_replace",
        "architecture.moe.dense_layers",
        Some(if v3 { 3 } else { 0 }),
    )?;
    // the original DeepSeek code also skips layers off `moe_layer_freq` (1 in every release)
    let freq = match c.stated("moe_layer_freq") {
        Some(v) => c.to_u64("moe_layer_freq", v)?.max(1),
        None => 1,
    };
    m.dense_layers = (0..a.layers).filter(|i| *i < first || i % freq != 0).count() as u64;
    let noaux = c.string("topk_method")? == Some("noaux_tc");
    m.router_bias = v3 || noaux;
    c.note(
        "architecture.moe.router_bias",
        m.router_bias,
        Basis::Default,
        if v3 {
            "DeepseekV3TopkRouter: e_score_correction_bias".into()
        } else {
            format!(
                "topk_method {}: e_score_correction_bias only with noaux_tc",
                c.string("topk_method")?.unwrap_or("greedy")
            )
        },
    );
    a.moe = Some(m);
    Ok(())
}

/// Phi-3-vision's image tower: the CLIP geometry for the `img_processor.model_name` it names, the HD
/// transform's 2x2 merge, the projector `embd_layer.projection_cls` selects, and the learnable
/// separators (glb_GN + sub_GN, 4 x image_dim_out each).
fn phi3v_vision(c: &mut Cfg, hidden: u64) -> Result<VisionSpec, ImportError> {
    let ip = c
        .object("img_processor")?
        .ok_or_else(|| c.err("img_processor", "missing: phi3_v needs the image encoder"))?;
    let name = ip.get("model_name").and_then(Value::as_str).unwrap_or("");
    // CLIP ViT-L/14-336 geometry: shared/reference/models/Phi-3.5-vision-instruct.json
    if name != "openai/clip-vit-large-patch14-336" {
        return Err(c.err(
            "model_name",
            format!("image encoder `{name}`: only openai/clip-vit-large-patch14-336 is known"),
        ));
    }
    let dim_out = match ip.get("image_dim_out") {
        Some(v) => c.to_u64("image_dim_out", v)?,
        None => 1024,
    };
    if dim_out != 1024 {
        return Err(c.err("image_dim_out", format!("{dim_out}: CLIP ViT-L/14 outputs 1024")));
    }
    let embd = c.object("embd_layer")?;
    let get = |k: &str| embd.and_then(|m| m.get(k));
    if get("use_hd_transform").and_then(Value::as_bool) == Some(false) {
        return Err(c.err("use_hd_transform", "only the HD transform (2x2 merge) layout is known"));
    }
    let projector = match get("projection_cls").and_then(Value::as_str).unwrap_or("mlp") {
        "mlp" => vec![hidden, hidden],
        "linear" => vec![hidden],
        other => return Err(c.err("projection_cls", format!("`{other}`: only mlp and linear are known"))),
    };
    let separators = get("with_learnable_separator").and_then(Value::as_bool).unwrap_or(true);
    let extra = if separators { 2 * 4 * dim_out } else { 0 };
    c.note(
        "vision",
        "clip-vit-l-14-336, 2x2 merge",
        Basis::Config,
        format!("config.json `img_processor.model_name` {name}"),
    );
    c.note(
        "vision.projector",
        format!("{projector:?}"),
        Basis::Config,
        "`embd_layer.projection_cls`".into(),
    );
    c.note(
        "vision.max_crops",
        16,
        Basis::Default,
        "Phi-3-V HD transform: 16 crops at most (processor num_crops)".into(),
    );
    Ok(VisionSpec {
        encoder: "clip-vit-l-14-336".into(),
        image_size: 336,
        patch_size: 14,
        hidden_size: 1024,
        layers: 24,
        attention_heads: 16,
        intermediate_size: 4096,
        channels: 3,
        merge: 2,
        projector,
        extra_parameters: extra,
        max_crops: 16,
        default_crops: 16,
    })
}

/// Reads `preprocessor_config.json` next to a phi3_v config for the processor's `num_crops`.
pub fn read_processor(dir: &Path, p: &mut Parsed) -> Result<(), ImportError> {
    let Some(v) = p.spec.vision.as_mut() else {
        return Ok(());
    };
    let path = dir.join("preprocessor_config.json");
    if !path.is_file() {
        return Ok(());
    }
    let text = super::read_text(&path, 1 << 20)?;
    let value: Value = serde_json::from_str(&text).map_err(|e| ImportError::json(&path, &e))?;
    if let Some(n) = value.get("num_crops") {
        let crops = n
            .as_u64()
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| ImportError::field(&path, &text, "num_crops", "expected 1..64"))?;
        v.default_crops = crops;
        v.max_crops = v.max_crops.max(crops);
        p.notes.push(FieldNote {
            field: "vision.default_crops".into(),
            value: crops.to_string(),
            basis: Basis::Config,
            source: "preprocessor_config.json `num_crops`".into(),
        });
    }
    Ok(())
}

/// The checkpoint dtype (`torch_dtype`, or `dtype` in newer configs) and, when present, the
/// quantization method that overrides it as the default `--precision`.
fn dtype_and_quant(c: &mut Cfg, warnings: &mut Vec<String>) -> Result<(String, Quant), ImportError> {
    let key = if c.stated("torch_dtype").is_some() {
        "torch_dtype"
    } else {
        "dtype"
    };
    let mut dtype = match c.string(key)? {
        Some(s) => {
            let id = match s {
                "bfloat16" => "bf16",
                "float16" | "half" => "fp16",
                "float32" | "float" => "fp32",
                "float8_e4m3fn" => "fp8",
                other => return Err(c.err(key, format!("unknown dtype `{other}`"))),
            };
            c.note("dtype", id, Basis::Config, format!("config.json `{key}` {s}"));
            id
        }
        None => {
            c.note(
                "dtype",
                "bf16",
                Basis::Default,
                "no `torch_dtype`: bf16 assumed (how most checkpoints ship)".into(),
            );
            "bf16"
        }
    };
    let Some(q) = c.object("quantization_config")? else {
        return Ok((dtype.into(), Quant::None));
    };
    let method = q.get("quant_method").and_then(Value::as_str).unwrap_or("");
    let num = |k: &str| q.get(k).and_then(Value::as_i64);
    let field = "quantization_config.quant_method";
    let quant = match method {
        "gptq" | "awq" => {
            let bits = num("bits").or(num("w_bit")).unwrap_or(4);
            let group = num("group_size").or(num("q_group_size")).unwrap_or(128);
            let group = (group > 0).then_some(group as u64);
            if bits == 4 {
                dtype = if method == "gptq" { "gptq-int4" } else { "awq-int4" };
                c.note(
                    "dtype",
                    dtype,
                    Basis::Config,
                    format!("config.json `quantization_config` {method}, {bits} bits, group {group:?}"),
                );
                if group != Some(128) {
                    warnings.push(format!(
                        "{method} group size {}: gpuplan's {dtype} format assumes 128, so its weight estimate differs slightly from the \
                         checkpoint (the safetensors bytes, when read, are exact)",
                        group.map_or("per-channel".to_string(), |g| g.to_string())
                    ));
                }
            } else {
                warnings.push(format!(
                    "{method} with {bits} bits has no format in gpuplan's table: --precision defaults to {dtype}"
                ));
            }
            Quant::Packed {
                bits: bits.clamp(1, 32) as u64,
                group,
            }
        }
        "bitsandbytes" => {
            let on = |k: &str| q.get(k).or(q.get(&format!("_{k}"))).and_then(Value::as_bool) == Some(true);
            if on("load_in_8bit") {
                dtype = "int8";
                c.note(
                    "dtype",
                    dtype,
                    Basis::Config,
                    "config.json `quantization_config` bitsandbytes load_in_8bit".into(),
                );
                Quant::Bnb8
            } else if on("load_in_4bit") {
                warnings.push(format!(
                    "bitsandbytes 4-bit has no format in gpuplan's table: --precision defaults to {dtype}"
                ));
                Quant::Bnb4
            } else {
                warnings.push("bitsandbytes config without load_in_8bit/load_in_4bit".into());
                Quant::Other
            }
        }
        "fp8" | "fbgemm_fp8" => {
            dtype = "fp8";
            c.note(
                "dtype",
                dtype,
                Basis::Config,
                format!("config.json `quantization_config` {method}"),
            );
            Quant::Fp8
        }
        "compressed-tensors" if q.get("format").and_then(Value::as_str) == Some("float-quantized") => {
            dtype = "fp8";
            c.note(
                "dtype",
                dtype,
                Basis::Config,
                "config.json `quantization_config` compressed-tensors float-quantized".into(),
            );
            Quant::Fp8
        }
        "" => return Err(c.err(field, "quantization_config without quant_method")),
        other => {
            warnings.push(format!(
                "quantization `{other}` has no format in gpuplan's table: --precision defaults to {dtype}"
            ));
            Quant::Other
        }
    };
    Ok((dtype.into(), quant))
}
