//! Phi-3 / Phi-3.5 (`Phi3ForCausalLM`, longrope too): one fused qkv_proj and one gate_up_proj, an
//! optional sliding window. Phi-3-vision (`phi3_v`, remote code) adds a CLIP ViT-L/14-336 tower with
//! the HD transform. GGUF `phi3`.

use super::{check_gated_act, d, required, Decoder, Family};
use crate::import::hf_config::Cfg;
use crate::import::{Basis, ImportError};
use crate::spec::model::{ArchType, VisionSpec, VisionTower};
use serde_json::Value;

pub const FAMILY: Family = Family {
    model_type: "phi3",
    classes: &["Phi3ForCausalLM"],
    kind: ArchType::Phi3,
    defaults: d("Phi3Config", 32064, 3072, 8192, 32, 32, None, None, 4096, false),
    text_config: false,
    config,
    gguf: &["phi3"],
    gguf_match: super::any,
    gguf_fn: super::no_gguf_fields,
};

pub const VISION: Family = Family {
    model_type: "phi3_v",
    classes: &["Phi3VForCausalLM"],
    kind: ArchType::Phi3V,
    defaults: required("Phi3VConfig (remote code)", false),
    text_config: false,
    config: config_v,
    gguf: &[],
    gguf_match: super::any,
    gguf_fn: super::no_gguf_fields,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    text(c, m)?;
    check_gated_act(c)
}

fn config_v(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    text(c, m)?;
    m.vision = Some(phi3v_vision(c, m.arch.hidden_size)?);
    check_gated_act(c)
}

fn text(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    m.arch.fused_qkv = true;
    c.fixed(
        "architecture.fused_qkv",
        true,
        "Phi3Attention: one qkv_proj, one gate_up_proj",
    );
    m.arch.sliding_window = c.opt_count("sliding_window", "architecture.sliding_window", None)?;
    Ok(())
}

fn phi3v_vision(c: &mut Cfg, hidden: u64) -> Result<VisionSpec, ImportError> {
    let ip = c
        .object("img_processor")?
        .ok_or_else(|| c.err("img_processor", "missing: phi3_v needs the image encoder"))?;
    let name = ip.get("model_name").and_then(Value::as_str).unwrap_or("");
    // CLIP ViT-L/14-336 geometry: https://huggingface.co/openai/clip-vit-large-patch14-336 config.json
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
        tower: VisionTower::Clip,
        projector_bias: true,
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
