//! One file per architecture family: how its config.json and its GGUF metadata map onto a
//! [`ModelSpec`](crate::spec::ModelSpec) architecture. Each family names its `model_type`, the
//! transformers classes that imply it, its config class's defaults (read from
//! `src/transformers/models/<arch>/configuration_<arch>.py`), the GGUF `general.architecture` names
//! llama.cpp gives it, and the layout facts its modeling code fixes (which projections carry biases,
//! norms per layer, fused tensors). Both importers record every field through one
//! [`Provenance`](super::provenance::Provenance).

mod deepseek;
mod falcon_h1;
mod gemma;
mod gemma2;
mod gemma3;
mod glm4_moe;
mod gpt_oss;
mod granite;
mod granitemoehybrid;
mod llama;
mod llama4;
mod mamba2;
mod mistral;
mod mistral3;
mod mixtral;
mod nemotron_h;
mod phi;
mod phi3;
mod phi3small;
mod phimoe;
mod qwen2;
mod qwen2_5_vl;
mod qwen2_moe;
mod qwen3;
mod qwen3_next;
mod smollm3;

use super::gguf::Ctx;
use super::hf_config::Cfg;
use super::{Basis, ImportError};
use crate::spec::model::{ArchType, Architecture, MoeSpec, VisionSpec};

/// Defaults of one transformers config class (None: no default, the field is required).
pub struct Defaults {
    pub class: &'static str,
    pub vocab: Option<u64>,
    pub hidden: Option<u64>,
    pub intermediate: Option<u64>,
    pub layers: Option<u64>,
    pub heads: Option<u64>,
    /// None: num_attention_heads
    pub kv_heads: Option<u64>,
    /// None: hidden_size / num_attention_heads
    pub head_dim: Option<u64>,
    pub max_position: Option<u64>,
    pub tie: bool,
    /// the key of the MLP width (`intermediate_size`; Phi-3-small: `ff_intermediate_size`)
    pub intermediate_key: &'static str,
}

/// One row of a defaults table: positional on purpose, so each row reads like the config class.
#[allow(clippy::too_many_arguments)]
pub const fn d(
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
        intermediate_key: "intermediate_size",
    }
}

/// Remote-code architectures whose config class gpuplan has not read: every size is required.
pub const fn required(class: &'static str, tie: bool) -> Defaults {
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
        intermediate_key: "intermediate_size",
    }
}

/// What a family's config.json reader produces beyond the common decoder fields.
pub struct Decoder {
    pub arch: Architecture,
    pub max_context: u64,
    pub vision: Option<VisionSpec>,
}

/// One architecture family.
pub struct Family {
    pub model_type: &'static str,
    /// `architectures` class names that imply this `model_type` when it is absent
    pub classes: &'static [&'static str],
    pub kind: ArchType,
    pub defaults: Defaults,
    /// the language model's fields sit in `text_config` when the config has one (multimodal configs)
    pub text_config: bool,
    /// config.json: the family's own fields, after the common decoder fields are read
    pub config: fn(&mut Cfg, &mut Decoder) -> Result<(), ImportError>,
    /// GGUF `general.architecture` names this family is stored under
    pub gguf: &'static [&'static str],
    /// whether a GGUF file of one of those names is this family (several families share `llama`)
    pub gguf_match: fn(&Ctx) -> bool,
    /// GGUF: the family's own fields, after the common ones
    pub gguf_fn: fn(&mut Ctx, &mut Architecture) -> Result<(), ImportError>,
}

/// Every family the importers know, in the order errors list them.
pub const ALL: &[&Family] = &[
    &llama::FAMILY,
    &mistral::FAMILY,
    &mixtral::FAMILY,
    &qwen2::FAMILY,
    &qwen2_moe::FAMILY,
    &gemma::FAMILY,
    &gemma2::FAMILY,
    &phi::FAMILY,
    &phi3::FAMILY,
    &phi3small::SMALL,
    &phimoe::FAMILY,
    &phi3::VISION,
    &deepseek::V2,
    &deepseek::V3,
    &deepseek::KIMI_K2,
    &qwen3::DENSE,
    &qwen3::MOE,
    &qwen3_next::FAMILY,
    &gemma3::MULTIMODAL,
    &gemma3::TEXT_ONLY,
    &gpt_oss::FAMILY,
    &llama4::FAMILY,
    &llama4::TEXT_ONLY,
    &glm4_moe::FAMILY,
    &mistral3::FAMILY,
    &smollm3::FAMILY,
    &granite::FAMILY,
    &granitemoehybrid::FAMILY,
    &nemotron_h::FAMILY,
    &falcon_h1::FAMILY,
    &qwen2_5_vl::FAMILY,
];

pub fn by_model_type(model_type: &str) -> Option<&'static Family> {
    ALL.iter().copied().find(|f| f.model_type == model_type)
}

pub fn by_class(class: &str) -> Option<&'static Family> {
    ALL.iter().copied().find(|f| f.classes.contains(&class))
}

/// The family of a GGUF file: the first whose names include `arch` and that matches the file.
pub fn by_gguf(arch: &str, ctx: &Ctx) -> Option<&'static Family> {
    ALL.iter()
        .copied()
        .find(|f| f.gguf.contains(&arch) && (f.gguf_match)(ctx))
}

/// GGUF architecture names the importer knows, deduplicated, in table order.
pub fn gguf_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = Vec::new();
    for f in ALL {
        for n in f.gguf {
            if !names.contains(n) {
                names.push(n);
            }
        }
    }
    names
}

/// A family matched by its GGUF name alone.
pub fn any(_: &Ctx) -> bool {
    true
}

/// A family with nothing of its own in GGUF beyond the common fields.
pub fn no_gguf_fields(_: &mut Ctx, _: &mut Architecture) -> Result<(), ImportError> {
    Ok(())
}

/// An MoE block with `experts` experts, `top` per token, and nothing else set.
pub fn moe(experts: u64, top: u64) -> MoeSpec {
    MoeSpec {
        experts,
        experts_per_token: top,
        expert_intermediate_size: None,
        shared_expert_intermediate_size: None,
        router_bias: false,
        shared_expert_gate: true,
        dense_layers: 0,
        expert_bias: false,
    }
}

/// Warns when a gated-MLP family states an activation other than the gated ones it is built with.
pub fn check_gated_act(c: &mut Cfg) -> Result<(), ImportError> {
    if let Some(act) = c.string("hidden_act")?.or(c.string("hidden_activation")?) {
        if !matches!(act, "silu" | "swish" | "gelu" | "gelu_pytorch_tanh" | "gelu_new") {
            c.warn(format!("hidden_act `{act}`: the gated MLP layout is assumed"));
        }
    }
    Ok(())
}

/// `attention_bias` for architectures whose o_proj bias follows it (Llama, PhiMoE): q/k/v and o.
pub fn attention_bias_qkvo(c: &mut Cfg, a: &mut Architecture, class: &str) -> Result<(), ImportError> {
    let bias = c.flag("attention_bias", "architecture.qkv_bias", false)?;
    (a.qkv_bias, a.o_bias) = (bias, bias);
    c.note(
        "architecture.o_bias",
        bias,
        Basis::Derived,
        format!("{class}: o_proj bias = attention_bias"),
    );
    Ok(())
}

/// The `layer_types` list transformers writes for models whose layers differ (`sliding_attention`,
/// `full_attention`, `chunked_attention`, `linear_attention`, `mamba`, `attention`), when present.
pub fn layer_types<'a>(c: &Cfg<'a>) -> Result<Option<Vec<&'a str>>, ImportError> {
    match c.stated("layer_types") {
        None => Ok(None),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| c.err("layer_types", "expected a list of layer type names"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(c.err("layer_types", "expected a list of layer type names")),
    }
}

/// The window's layer pattern from the attention layers' types: windowed (`sliding_attention`,
/// `chunked_attention`) or full. Every layer windowed: pattern 1; every n-th full (layer i full when
/// (i + 1) % n == 0): pattern n; none windowed: no window. Another arrangement has no spec form: the
/// pattern whose windowed count is the largest not above the list's is taken (the KV cache an upper
/// bound) and a warning says so.
pub fn window_from_types(c: &mut Cfg, a: &mut Architecture, windowed: &[bool]) {
    let n = windowed.len() as u64;
    let count = windowed.iter().filter(|w| **w).count() as u64;
    let source = format!("config.json `{}`", c.key("layer_types"));
    if count == 0 {
        a.sliding_window = None;
        c.note(
            "architecture.sliding_window",
            "none",
            Basis::Config,
            format!("{source}: no windowed layer"),
        );
        return;
    }
    let fits = |p: u64| {
        windowed
            .iter()
            .enumerate()
            .all(|(i, w)| *w == ((i as u64 + 1) % p != 0))
    };
    let pattern = if count == n {
        Some(1)
    } else {
        windowed
            .iter()
            .position(|w| !*w)
            .map(|i| i as u64 + 1)
            .filter(|&p| fits(p))
    };
    let pattern = match pattern {
        Some(p) => p,
        None => {
            let p = (2..=n.max(2)).find(|p| n - n / p <= count).unwrap_or(1);
            c.warn(format!(
                "layer_types windows {count} of {n} layers in an order no every-n-th pattern has; \
                 taken as every {p}-th layer full ({} windowed): the KV cache an upper bound",
                n - n / p
            ));
            p
        }
    };
    a.sliding_window_pattern = pattern;
    c.note("architecture.sliding_window_pattern", pattern, Basis::Config, source);
}

/// Reads a sliding window given as `sliding_window` (+ `use_sliding_window` where the family has
/// it) and placed by `layer_types` when present, else by `pattern` (every n-th layer full).
pub fn sliding_window(
    c: &mut Cfg,
    a: &mut Architecture,
    default: Option<u64>,
    pattern: u64,
) -> Result<(), ImportError> {
    a.sliding_window = c.opt_count("sliding_window", "architecture.sliding_window", default)?;
    if a.sliding_window.is_none() {
        return Ok(());
    }
    match layer_types(c)? {
        Some(types) => {
            if types.len() as u64 != a.layers {
                return Err(c.err(
                    "layer_types",
                    format!("{} entries for {} layers", types.len(), a.layers),
                ));
            }
            let windowed: Vec<bool> = types
                .iter()
                .map(|t| matches!(*t, "sliding_attention" | "chunked_attention"))
                .collect();
            window_from_types(c, a, &windowed);
        }
        None => {
            a.sliding_window_pattern = pattern;
            if pattern > 1 {
                c.fixed(
                    "architecture.sliding_window_pattern",
                    pattern,
                    &format!("{}: every {pattern}-th layer full attention", c.class),
                );
            }
        }
    }
    Ok(())
}

/// Switches the reader to the nested `vision_config` (with `class`'s defaults) and returns whether
/// the config has one.
pub fn enter_vision(c: &mut Cfg, class: &'static str) -> Result<bool, ImportError> {
    c.leave();
    let found = c.enter("vision_config")?;
    c.class = class;
    Ok(found)
}
