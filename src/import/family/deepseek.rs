//! DeepSeek-V2 / V3 (`DeepseekV2ForCausalLM`, `DeepseekV3ForCausalLM`; also DeepSeek-R1, V3.1 and
//! Kimi-K2, which ship the V3 layout): multi-head latent attention and fine-grained experts with
//! shared experts, the first `first_k_dense_replace` layers dense. GGUF `deepseek2` (V3 when the
//! router's `exp_probs_b` correction bias is there).

use super::{d, moe, Decoder, Defaults, Family};
use crate::import::gguf::Ctx;
use crate::import::hf_config::Cfg;
use crate::import::{Basis, ImportError};
use crate::spec::model::{ArchType, Architecture, MlaSpec};

pub const V2: Family = Family {
    model_type: "deepseek_v2",
    classes: &["DeepseekV2ForCausalLM"],
    kind: ArchType::DeepseekV2,
    defaults: d("DeepseekV2Config", 32000, 4096, 11008, 32, 32, None, None, 2048, false),
    text_config: false,
    config: config_v2,
    gguf: &["deepseek2"],
    gguf_match: v2_file,
    gguf_fn: gguf,
};

/// DeepseekV3Config's defaults, which Kimi-K2's remote code inherits.
const V3_DEFAULTS: Defaults = d(
    "DeepseekV3Config",
    129280,
    7168,
    18432,
    61,
    128,
    None,
    None,
    4096,
    false,
);

pub const V3: Family = Family {
    model_type: "deepseek_v3",
    classes: &["DeepseekV3ForCausalLM"],
    kind: ArchType::DeepseekV3,
    defaults: V3_DEFAULTS,
    text_config: false,
    config: config_v3,
    gguf: &["deepseek2"],
    gguf_match: v3_file,
    gguf_fn: gguf,
};

/// Kimi-K2 (`kimi_k2`, remote code naming DeepseekV3ForCausalLM): DeepSeek-V3's layout with 384
/// experts, one dense layer and 64 heads.
pub const KIMI_K2: Family = Family {
    model_type: "kimi_k2",
    classes: &[],
    kind: ArchType::DeepseekV3,
    defaults: V3_DEFAULTS,
    text_config: false,
    config: config_v3,
    gguf: &[],
    gguf_match: super::any,
    gguf_fn: gguf,
};

fn config_v2(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    deepseek(c, &mut m.arch, ArchType::DeepseekV2)
}

fn config_v3(c: &mut Cfg, m: &mut Decoder) -> Result<(), ImportError> {
    deepseek(c, &mut m.arch, ArchType::DeepseekV3)
}

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

/// V3 files carry the router's score-correction bias (`exp_probs_b`).
fn v3_file(ctx: &Ctx) -> bool {
    ctx.any_tensor_ends_with(".exp_probs_b.bias")
}

fn v2_file(ctx: &Ctx) -> bool {
    !v3_file(ctx)
}

/// MLA from the GGUF metadata: the lora ranks, key/value lengths (the `_mla` keys of newer
/// converters first), and the rotary part.
fn gguf(ctx: &mut Ctx, a: &mut Architecture) -> Result<(), ImportError> {
    if ctx.family_kind == ArchType::DeepseekV3 {
        if let Some(m) = a.moe.as_mut() {
            m.router_bias = true;
        }
    }
    let rope = ctx.required("rope.dimension_count")?;
    let k = ctx
        .meta("attention.key_length_mla")?
        .or(ctx.meta("attention.key_length")?)
        .unwrap_or(192);
    let v = ctx
        .meta("attention.value_length_mla")?
        .or(ctx.meta("attention.value_length")?)
        .unwrap_or(128);
    let m = MlaSpec {
        q_lora_rank: ctx.meta("attention.q_lora_rank")?.filter(|&r| r > 0),
        kv_lora_rank: ctx.required("attention.kv_lora_rank")?,
        qk_nope_head_dim: k
            .checked_sub(rope)
            .ok_or_else(|| ctx.unsupported(format!("key length {k} is shorter than the rotary part {rope}")))?,
        qk_rope_head_dim: rope,
        v_head_dim: v,
    };
    ctx.prov.record(
        "architecture.mla",
        format!("{m:?}"),
        Basis::Config,
        "GGUF attention.*_lora_rank, key/value_length(_mla), rope.dimension_count",
    );
    a.head_dim = Some(k);
    a.kv_heads = None;
    a.mla = Some(m);
    if ctx.any_tensor_ends_with("attn_k_b.weight") && ctx.any_tensor_ends_with("attn_kv_b.weight") {
        ctx.prov.warn(
            "the file holds both attn_kv_b and its split attn_k_b/attn_v_b: the tensor count includes kv_b twice",
        );
    }
    Ok(())
}
