//! Llama 4 (`Llama4ForConditionalGeneration` `llama4`, text `llama4_text`): chunked attention
//! (`attention_chunk_size`, 8192) on three of four layers, the fourth global without RoPE; q/k
//! L2-normalized without weights; MoE on every `interleave_moe_layer_step`-th layer with one routed
//! expert per token plus an ungated shared expert, both `intermediate_size` wide; the other layers a
//! dense MLP of `intermediate_size_mlp`. The vision tower is a CLIP-like ViT on 336-pixel tiles with
//! a pixel-shuffle MLP. GGUF `llama4` (text; the tower lives in a separate mmproj file).

use super::{d, enter_vision, moe, Decoder, Family};
use crate::import::gguf::Ctx;
use crate::import::hf_config::Cfg;
use crate::import::{Basis, ImportError};
use crate::spec::model::{ArchType, Architecture, VisionSpec, VisionTower};

const TEXT: super::Defaults = d(
    "Llama4TextConfig",
    202048,
    5120,
    8192,
    48,
    40,
    Some(8),
    Some(128),
    131072,
    false,
);

pub const FAMILY: Family = Family {
    model_type: "llama4",
    classes: &["Llama4ForConditionalGeneration"],
    kind: ArchType::Llama4,
    defaults: TEXT,
    text_config: true,
    config,
    gguf: &["llama4"],
    gguf_match: super::any,
    gguf_fn: gguf,
};

pub const TEXT_ONLY: Family = Family {
    model_type: "llama4_text",
    classes: &["Llama4ForCausalLM"],
    kind: ArchType::Llama4,
    defaults: TEXT,
    text_config: false,
    config,
    gguf: &[],
    gguf_match: super::any,
    gguf_fn: gguf,
};

fn config(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    let a = &mut m.arch;
    let bias = c.flag("attention_bias", "architecture.qkv_bias", false)?;
    (a.qkv_bias, a.o_bias) = (bias, bias);
    // intermediate_size is the experts' width; the dense layers use intermediate_size_mlp
    let expert_width = a.intermediate_size;
    a.intermediate_size = c.count("intermediate_size_mlp", "architecture.intermediate_size", Some(16384))?;
    let experts = c.count("num_local_experts", "architecture.moe.experts", Some(16))?;
    let top = c.count("num_experts_per_tok", "architecture.moe.experts_per_token", Some(1))?;
    let mut e = moe(experts, top);
    e.expert_intermediate_size = Some(expert_width);
    e.shared_expert_intermediate_size = Some(expert_width);
    e.shared_expert_gate = false;
    let moe_layers = match c.stated("moe_layers") {
        Some(_) => c.int_list("moe_layers")?.iter().filter(|&&i| i < a.layers).count() as u64,
        None => {
            let step = c.count("interleave_moe_layer_step", "architecture.moe.dense_layers", Some(1))?;
            // Llama4TextConfig: moe_layers = range(step - 1, layers, step)
            a.layers.checked_div(step).unwrap_or(0)
        }
    };
    if moe_layers == 0 {
        return Err(c.err("interleave_moe_layer_step", "no MoE layer: not a Llama 4 layout"));
    }
    e.dense_layers = a.layers - moe_layers;
    c.note(
        "architecture.moe.dense_layers",
        e.dense_layers,
        Basis::Derived,
        "layers off moe_layers / interleave_moe_layer_step: a dense MLP of intermediate_size_mlp".into(),
    );
    a.moe = Some(e);
    // chunked attention on the RoPE layers, a global NoPE layer every no_rope_layer_interval-th
    let window = c.opt_count("attention_chunk_size", "architecture.sliding_window", Some(8192))?;
    if window.is_some() {
        a.sliding_window = window;
        match c
            .stated("no_rope_layers")
            .map(|_| c.int_list("no_rope_layers"))
            .transpose()?
        {
            Some(rope) if rope.len() as u64 == a.layers => {
                // 1 = the layer uses RoPE and chunked attention
                let windowed: Vec<bool> = rope.iter().map(|&r| r != 0).collect();
                super::window_from_types(c, a, &windowed);
            }
            _ => {
                a.sliding_window_pattern = 4;
                c.fixed(
                    "architecture.sliding_window_pattern",
                    4,
                    "Llama4TextConfig: no_rope_layers, every 4th layer global (no_rope_layer_interval 4)",
                );
            }
        }
    }
    if enter_vision(c, "Llama4VisionConfig")? {
        m.vision = Some(vision(c, m.arch.hidden_size)?);
    }
    Ok(())
}

/// Llama 4's ViT from `vision_config` (Llama4VisionConfig defaults).
fn vision(c: &mut Cfg, text_hidden: u64) -> Result<VisionSpec, ImportError> {
    let hidden = c.count("hidden_size", "vision.hidden_size", Some(768))?;
    let layers = c.count("num_hidden_layers", "vision.layers", Some(34))?;
    let heads = c.count("num_attention_heads", "vision.attention_heads", Some(16))?;
    let intermediate = c.count("intermediate_size", "vision.intermediate_size", Some(5632))?;
    let image = c.count("image_size", "vision.image_size", Some(448))?;
    let patch = c.count("patch_size", "vision.patch_size", Some(14))?;
    let channels = c.count("num_channels", "vision.channels", Some(3))?;
    let input = c.count("projector_input_dim", "vision.projector", Some(4096))?;
    let output = c.count("projector_output_dim", "vision.projector", Some(4096))?;
    let ratio = match c.stated("pixel_shuffle_ratio") {
        Some(v) => v
            .as_f64()
            .filter(|r| *r > 0.0 && *r <= 1.0)
            .ok_or_else(|| c.err("pixel_shuffle_ratio", "expected a ratio in (0, 1]"))?,
        None => 0.5,
    };
    let merge = (1.0 / ratio).round() as u64;
    let bias = c.flag("multi_modal_projector_bias", "vision.projector_bias", false)?;
    c.note(
        "vision.projector",
        format!("[{input}, {output}, {text_hidden}]"),
        Basis::Config,
        "pixel-shuffle MLP fc1/fc2 (projector_input_dim, projector_output_dim), then linear_1 to the text".into(),
    );
    Ok(VisionSpec {
        encoder: format!("llama4-vit-{hidden}-{layers}l-{image}px"),
        tower: VisionTower::Llama4,
        image_size: image,
        patch_size: patch,
        hidden_size: hidden,
        layers,
        attention_heads: heads,
        intermediate_size: intermediate,
        channels,
        merge,
        projector: vec![input, output, text_hidden],
        projector_bias: bias,
        extra_parameters: 0,
        // Llama4ImageProcessor max_patches
        max_crops: 16,
        default_crops: 1,
    })
}

/// GGUF: experts with a shared expert (`ffn_*_shexp`), dense layers by `interleave_moe_layer_step`,
/// the 8192-token chunk as the window on three of four layers (llama.cpp `LLM_ARCH_LLAMA4`:
/// `n_swa` 8192, chunked, `swa_pattern` 4).
fn gguf(ctx: &mut Ctx, a: &mut Architecture) -> Result<(), ImportError> {
    let step = ctx.meta("interleave_moe_layer_step")?.unwrap_or(1).max(1);
    if let Some(m) = a.moe.as_mut() {
        let width = m.expert_intermediate_size.unwrap_or(a.intermediate_size);
        m.shared_expert_intermediate_size = Some(width);
        m.shared_expert_gate = false;
        m.dense_layers = a.layers - a.layers / step;
        if m.dense_layers > 0 {
            // the dense layers' width: ffn_up of a dense layer (layer 0 when step > 1)
            if let Some(t) = ctx.tensor("blk.0.ffn_up.weight") {
                a.intermediate_size = t.dims.get(1).copied().unwrap_or(a.intermediate_size);
            }
        }
    }
    a.sliding_window = Some(ctx.meta("attention.chunk_size")?.unwrap_or(8192));
    a.sliding_window_pattern = 4;
    Ok(())
}
