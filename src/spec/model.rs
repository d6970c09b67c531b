//! Model specs (`models/*.yaml`): one file per variant. Two levels of detail:
//! - `architecture:` present: every tensor is derived, parameter counts are exact, and the declared
//!   `parameters` / `active_parameters` are checked against the derivation;
//! - summary level: only `parameters`, `active_parameters`, `max_context` and a `kv_cache` shape;
//!   estimates from it are marked coarse.

use super::error::SpecError;
use super::precision::{Format, Quantization};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// What users type: `phi-3.5-mini`.
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Longest context the model supports, in tokens.
    pub max_context: u64,
    /// The checkpoint's dtype (a format id); the default `--precision`.
    #[serde(default = "default_dtype")]
    pub dtype: String,
    /// Declared total parameters (checked against the architecture when both are given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<u64>,
    /// Declared parameters used per token (MoE: with top-k experts; embeddings included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_parameters: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<Architecture>,
    /// Summary-level KV shape, for specs without `architecture`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache: Option<KvShape>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<VisionSpec>,
    /// How the checkpoint applied its `dtype` where that differs from the format's defaults (ignore
    /// lists, scale dtypes, a GGUF file's per-tensor types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

fn default_dtype() -> String {
    "bf16".into()
}

/// The decoder families gpuplan knows. Layout per family lives in `estimate::arch`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ArchType {
    Llama,
    Mistral,
    Qwen2,
    Gemma,
    Gemma2,
    Phi3,
    Phi3small,
    Phi3V,
    Phimoe,
    Mixtral,
    Qwen2Moe,
    /// Phi-1/1.5/2 (`PhiForCausalLM`): parallel attention + MLP under one LayerNorm, fc1/fc2 with biases.
    Phi,
    /// DeepSeek-V2 / V3: multi-head latent attention (`mla`) and fine-grained MoE with shared experts.
    DeepseekV2,
    DeepseekV3,
    /// Qwen3: Llama's layout without biases, RMSNorm on q and k.
    Qwen3,
    Qwen3Moe,
    /// Qwen3-Next: Gated DeltaNet layers with a gated full-attention layer every fourth, MoE.
    Qwen3Next,
    /// Gemma 3: Gemma 2's four norms, q/k norms, five sliding-window layers per global one.
    Gemma3,
    /// gpt-oss: attention sinks, alternating 128-token windows, MoE with biased experts.
    GptOss,
    /// Llama 4: chunked attention on three of four layers, MoE (interleaved) with a shared expert.
    Llama4,
    /// GLM-4.5 / 4.5-Air: dense first layers, then experts with a shared expert.
    Glm4Moe,
    /// Mistral Small 3.x (Mistral 3): Mistral's decoder with a Pixtral vision tower.
    Mistral3,
    #[serde(rename = "smollm3")]
    SmolLm3,
    Granite,
    /// Granite 4.0-H: Mamba-2 layers with an attention layer every so often, MoE or dense shared MLP.
    #[serde(rename = "granitemoehybrid")]
    GraniteMoeHybrid,
    /// Nemotron-H: blocks of one mixer each (Mamba-2, attention or MLP).
    NemotronH,
    /// Falcon-H1: attention and Mamba-2 side by side in every layer.
    FalconH1,
    /// Qwen2.5-VL: Qwen2's decoder with a dynamic-resolution ViT.
    #[serde(rename = "qwen2_5_vl")]
    Qwen2_5Vl,
}

impl ArchType {
    pub fn name(self) -> &'static str {
        match self {
            ArchType::Llama => "llama",
            ArchType::Mistral => "mistral",
            ArchType::Qwen2 => "qwen2",
            ArchType::Gemma => "gemma",
            ArchType::Gemma2 => "gemma2",
            ArchType::Phi3 => "phi3",
            ArchType::Phi3small => "phi3small",
            ArchType::Phi3V => "phi3_v",
            ArchType::Phimoe => "phimoe",
            ArchType::Mixtral => "mixtral",
            ArchType::Qwen2Moe => "qwen2_moe",
            ArchType::Phi => "phi",
            ArchType::DeepseekV2 => "deepseek_v2",
            ArchType::DeepseekV3 => "deepseek_v3",
            ArchType::Qwen3 => "qwen3",
            ArchType::Qwen3Moe => "qwen3_moe",
            ArchType::Qwen3Next => "qwen3_next",
            ArchType::Gemma3 => "gemma3",
            ArchType::GptOss => "gpt_oss",
            ArchType::Llama4 => "llama4",
            ArchType::Glm4Moe => "glm4_moe",
            ArchType::Mistral3 => "mistral3",
            ArchType::SmolLm3 => "smollm3",
            ArchType::Granite => "granite",
            ArchType::GraniteMoeHybrid => "granitemoehybrid",
            ArchType::NemotronH => "nemotron_h",
            ArchType::FalconH1 => "falcon_h1",
            ArchType::Qwen2_5Vl => "qwen2_5_vl",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum NormKind {
    /// RMSNorm: one weight vector
    #[default]
    Rms,
    /// LayerNorm: weight and bias
    Layer,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum MlpKind {
    /// gate, up, down (SwiGLU / GeGLU): 3 matrices
    #[default]
    Gated,
    /// up (2x wide, gated in place, Phi-3-small "gegelu") and down
    GatedFusedWide,
    /// up, down: 2 matrices
    Plain,
}

/// A decoder-only transformer, exactly enough to list every tensor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    #[serde(rename = "type")]
    pub kind: ArchType,
    pub hidden_size: u64,
    pub layers: u64,
    pub attention_heads: u64,
    /// Defaults to `attention_heads` (no GQA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_heads: Option<u64>,
    /// Defaults to hidden_size / attention_heads (which must then divide evenly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<u64>,
    pub intermediate_size: u64,
    pub vocab_size: u64,
    #[serde(default)]
    pub tie_embeddings: bool,
    #[serde(default)]
    pub norm: NormKind,
    /// Norms per decoder layer (2 for most; Gemma 2 has 4).
    #[serde(default = "two")]
    pub norms_per_layer: u64,
    #[serde(default)]
    pub mlp: MlpKind,
    /// Biases on q, k, v (Qwen2, PhiMoE, Phi-3-small).
    #[serde(default)]
    pub qkv_bias: bool,
    /// Bias on the attention output projection (PhiMoE, Phi-3-small).
    #[serde(default)]
    pub o_bias: bool,
    /// Biases on MLP projections (Phi-3-small).
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default)]
    pub lm_head_bias: bool,
    /// q, k, v stored as one tensor (Phi-3): matters for GGUF type rules only.
    #[serde(default)]
    pub fused_qkv: bool,
    /// Attention over at most this many past tokens (on the layers `sliding_window_pattern` selects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<u64>,
    /// Every n-th layer is global (full attention), the others use the window; 1 = all windowed.
    /// Gemma 2 alternates: 2.
    #[serde(default = "one")]
    pub sliding_window_pattern: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe: Option<MoeSpec>,
    /// Multi-head latent attention (DeepSeek-V2/V3): replaces q/k/v/o and shrinks the KV cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mla: Option<MlaSpec>,
    /// RMSNorm over each head of q and k (Qwen3, Gemma 3, GLM-4.5): 2 x head_dim weights per
    /// attention layer.
    #[serde(default, skip_serializing_if = "is_false")]
    pub qk_norm: bool,
    /// A learned sink logit per query head (gpt-oss): `attention_heads` weights per attention layer.
    #[serde(default, skip_serializing_if = "is_false")]
    pub attention_sinks: bool,
    /// q_proj also emits a sigmoid gate for the attention output (Qwen3-Next): twice the q rows.
    #[serde(default, skip_serializing_if = "is_false")]
    pub attn_output_gate: bool,
    /// Layers that hold an attention block; absent: all of them. Hybrid models hold a recurrent mixer
    /// in the others (placed evenly through the stack where a position matters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_layers: Option<u64>,
    /// Layers that hold an MLP (or MoE) block; absent: all of them (Nemotron-H: its MLP blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp_layers: Option<u64>,
    /// The recurrent mixer of hybrid and state-space models (Mamba-2, Gated DeltaNet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrent: Option<RecurrentSpec>,
}

/// Which recurrent mixer a hybrid model's non-attention layers hold.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RecurrentKind {
    /// Mamba-2 (transformers `Mamba2Mixer`, `NemotronHMamba2Mixer`, `FalconH1Mixer`,
    /// `GraniteMoeHybridMambaLayer`): in_proj to x, z, B, C and dt; a depthwise conv over x, B, C;
    /// a per-head scalar decay; a gated RMSNorm; out_proj.
    Mamba2,
    /// Gated DeltaNet (Qwen3-Next `Qwen3NextGatedDeltaNet`): in_proj to q, k, v, z and to b, a; a
    /// depthwise conv over q, k, v; a per-value-head gate; a gated RMSNorm per value head; out_proj.
    GatedDeltaNet,
}

/// The element type a recurrent state is kept in.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StateDtype {
    F32,
    Bf16,
    F16,
}

impl StateDtype {
    pub fn bytes(self) -> u64 {
        match self {
            StateDtype::F32 => 4,
            StateDtype::Bf16 | StateDtype::F16 => 2,
        }
    }
}

/// A recurrent mixer: shapes enough to list its tensors and size the state each sequence holds.
/// Both kinds share one geometry: a value stream of `heads x head_dim` channels, `groups` key (B/C)
/// groups of `state_size`, and a depthwise conv of `conv_kernel` taps over value + 2 x key channels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecurrentSpec {
    pub kind: RecurrentKind,
    /// decoder layers that hold this mixer
    pub layers: u64,
    /// Mamba-2: SSM heads; Gated DeltaNet: value heads
    pub heads: u64,
    /// channels per head of the value stream (Mamba-2 head_dim; Gated DeltaNet value head dim)
    pub head_dim: u64,
    /// Mamba-2: B/C groups (n_groups); Gated DeltaNet: key heads
    pub groups: u64,
    /// Mamba-2: state size per group (d_state); Gated DeltaNet: key head dim
    pub state_size: u64,
    pub conv_kernel: u64,
    /// biases on in_proj and out_proj (Mamba-2 `use_bias` / `mamba_proj_bias`)
    #[serde(default)]
    pub proj_bias: bool,
    /// bias on the depthwise conv (Mamba-2 `use_conv_bias`)
    #[serde(default)]
    pub conv_bias: bool,
    /// the gated RMSNorm before out_proj (Falcon-H1's `mamba_rms_norm` can leave it out)
    #[serde(default = "yes")]
    pub gated_norm: bool,
    /// the SSM state's element type when the model pins it (Nemotron-H `mamba_ssm_cache_dtype`);
    /// otherwise the runtime decides
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssm_state_dtype: Option<StateDtype>,
}

impl RecurrentSpec {
    /// Channels of the value stream: heads x head_dim (Mamba-2 d_inner, Gated DeltaNet value_dim).
    pub fn inner(&self) -> u64 {
        self.heads * self.head_dim
    }

    /// Channels of the key stream: groups x state_size (Mamba-2 B and C each; Gated DeltaNet q and k
    /// each).
    pub fn key(&self) -> u64 {
        self.groups * self.state_size
    }

    /// Channels the depthwise conv runs over: inner + 2 x key.
    pub fn conv_dim(&self) -> u64 {
        self.inner() + 2 * self.key()
    }
}

/// DeepSeek's multi-head latent attention (transformers `DeepseekV2Attention`): q through an optional
/// low-rank `q_a_proj`/`q_b_proj`, k and v decompressed from one `kv_lora_rank` latent shared by all
/// heads plus one rotary key of `qk_rope_head_dim`. Runtimes with MLA kernels cache only the latent
/// and the rotary key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MlaSpec {
    /// Rank of the query compression; absent: a full `q_proj` (DeepSeek-V2-Lite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q_lora_rank: Option<u64>,
    pub kv_lora_rank: u64,
    pub qk_nope_head_dim: u64,
    pub qk_rope_head_dim: u64,
    pub v_head_dim: u64,
}

fn two() -> u64 {
    2
}
fn one() -> u64 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MoeSpec {
    pub experts: u64,
    pub experts_per_token: u64,
    /// Width of one expert's MLP; defaults to the architecture's `intermediate_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert_intermediate_size: Option<u64>,
    /// Width of an always-on shared expert (Qwen2-MoE), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_expert_intermediate_size: Option<u64>,
    /// Bias on the router (none of the catalog models has one; DeepSeek-V3's
    /// `e_score_correction_bias` has the same shape).
    #[serde(default)]
    pub router_bias: bool,
    /// The shared expert's output passes a sigmoid gate (hidden -> 1): Qwen2-MoE yes, DeepSeek no.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub shared_expert_gate: bool,
    /// Layers with a dense MLP of `intermediate_size` instead of experts (DeepSeek
    /// `first_k_dense_replace`, Qwen2-MoE `mlp_only_layers`, Llama 4's non-MoE layers).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dense_layers: u64,
    /// Biases on each expert's projections (gpt-oss: gate_up 2 x width, down hidden).
    #[serde(default, skip_serializing_if = "is_false")]
    pub expert_bias: bool,
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
/// serde's `skip_serializing_if` for a flag left off (the specs and the records share it).
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}
/// serde's `skip_serializing_if` for a count left at zero.
pub(crate) fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Summary-level KV shape: either the layer geometry or bytes per token at 16 bits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KvShape {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_heads: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<u64>,
    /// K+V bytes per token over all layers, at 2 bytes per element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_token_16bit: Option<u64>,
    /// Hidden size, if known: sharpens the activation estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<u64>,
}

/// Which image encoder a vision model carries; each has its own layout (`estimate::arch::vision`)
/// and its own image-token count.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum VisionTower {
    /// CLIP ViT with Phi-3-V's HD crops: class token, learned positions, LayerNorm, GELU MLP
    #[default]
    Clip,
    /// SigLIP (Gemma 3): no class token, learned positions, avg-pooled to a fixed token count
    Siglip,
    /// Pixtral (Mistral Small 3.x): RMSNorm, gated MLP, 2D RoPE, any image size, patch merger
    Pixtral,
    /// Llama 4's ViT: class token, LayerNorm, pixel-shuffle MLP, 336-pixel tiles
    Llama4,
    /// Qwen2.5-VL's ViT: RMSNorm, gated MLP, window attention, any image size, 2x2 merger
    Qwen2Vl,
}

/// An image encoder with its projector into the text model (Phi-3-vision, Gemma 3, Mistral Small
/// 3.x, Llama 4, Qwen2.5-VL).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VisionSpec {
    /// Free text: `clip-vit-l-14-336`.
    pub encoder: String,
    #[serde(default, skip_serializing_if = "is_default_tower")]
    pub tower: VisionTower,
    pub image_size: u64,
    pub patch_size: u64,
    pub hidden_size: u64,
    pub layers: u64,
    pub attention_heads: u64,
    pub intermediate_size: u64,
    #[serde(default = "three")]
    pub channels: u64,
    /// Patch tokens merged per side before projection (Phi-3-V and Pixtral: 2, i.e. 2x2 -> 1;
    /// Gemma 3's 4x4 average pool: 4; Llama 4's pixel shuffle at ratio 0.5: 2).
    #[serde(default = "one")]
    pub merge: u64,
    /// Projector layer widths after the (merged) encoder output: Phi-3-V [3072, 3072].
    pub projector: Vec<u64>,
    /// Biases on the projector's linear layers (Phi-3-V, Qwen2.5-VL yes; Gemma 3, Llama 4, Mistral
    /// Small 3.x no).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub projector_bias: bool,
    /// Learned separator parameters outside encoder and projector (Phi-3-V glb_GN + sub_GN).
    #[serde(default)]
    pub extra_parameters: u64,
    /// HD-crop limit (Phi-3.5-V processor `num_crops`).
    #[serde(default = "one")]
    pub max_crops: u64,
    /// Crops per image the estimate assumes unless told otherwise.
    #[serde(default = "one")]
    pub default_crops: u64,
}

fn three() -> u64 {
    3
}

fn is_default_tower(t: &VisionTower) -> bool {
    *t == VisionTower::Clip
}

impl Architecture {
    /// A plain decoder of `kind`: RMSNorm, two norms and a gated MLP per layer, no biases, untied,
    /// every layer attention + MLP; the importers start from it.
    pub fn decoder(
        kind: ArchType,
        hidden_size: u64,
        layers: u64,
        attention_heads: u64,
        intermediate_size: u64,
        vocab_size: u64,
    ) -> Self {
        Architecture {
            kind,
            hidden_size,
            layers,
            attention_heads,
            kv_heads: None,
            head_dim: None,
            intermediate_size,
            vocab_size,
            tie_embeddings: false,
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
            qk_norm: false,
            attention_sinks: false,
            attn_output_gate: false,
            attention_layers: None,
            mlp_layers: None,
            recurrent: None,
        }
    }

    pub fn kv_heads(&self) -> u64 {
        self.kv_heads.unwrap_or(self.attention_heads)
    }

    pub fn head_dim(&self) -> u64 {
        self.head_dim
            .unwrap_or_else(|| self.hidden_size / self.attention_heads.max(1))
    }

    /// Query width: heads x head_dim (can differ from hidden_size, e.g. Gemma 2 9B 16 x 256 = 4096).
    pub fn q_dim(&self) -> u64 {
        self.attention_heads * self.head_dim()
    }

    pub fn kv_dim(&self) -> u64 {
        self.kv_heads() * self.head_dim()
    }

    /// Layers that hold an attention block (all, unless a hybrid says fewer).
    pub fn attention_layer_count(&self) -> u64 {
        self.attention_layers.unwrap_or(self.layers).min(self.layers)
    }

    /// Layers that hold an MLP or MoE block (all, unless the spec says fewer).
    pub fn mlp_layer_count(&self) -> u64 {
        self.mlp_layers.unwrap_or(self.layers).min(self.layers)
    }

    /// Attention layers that use the sliding window (0 when the model has none). With a pattern n,
    /// every n-th layer is global, as transformers' `layer_types` for Gemma 2/3 and gpt-oss:
    /// layer i slides unless (i + 1) % n == 0.
    pub fn windowed_layers(&self) -> u64 {
        let n = self.attention_layer_count();
        match self.sliding_window {
            None => 0,
            Some(_) if self.sliding_window_pattern <= 1 => n,
            Some(_) => n - n / self.sliding_window_pattern,
        }
    }
}

/// Whether layer `i` of `total` is one of `count` layers spread evenly through the stack: layer i
/// is chosen when floor((i + 1) x count / total) passes an integer. Over 0..total exactly `count`
/// layers are chosen (every n-th, counting from the n-th, when count divides total), which is
/// where hybrid models' attention layers sit when only their number is known.
pub fn spread(i: u64, count: u64, total: u64) -> bool {
    if total == 0 {
        return false;
    }
    let (i, count, total) = (i as u128, count as u128, total as u128);
    (i + 1) * count / total > i * count / total
}

/// Upper limit on the parameters a spec may describe (about 10^15, a thousand times the largest
/// published model). Bounding it keeps every product the estimator forms inside u64.
pub const MAX_PARAMETERS: u64 = 1 << 50;

/// Upper limit on decoder (and vision) layers: far above any model, and it keeps per-layer loops
/// (GGUF type rules) short.
pub const MAX_LAYERS: u64 = 1 << 16;

/// Upper limit on summary-level KV bytes per token (1 TiB).
pub const MAX_KV_BYTES_PER_TOKEN: u64 = 1 << 40;

impl Architecture {
    /// An upper bound on the parameter count (every matrix taken as the widest dimension squared), or
    /// None when even that overflows. Only for validation.
    fn size_bound(&self) -> Option<u64> {
        let head_dim = self.head_dim.unwrap_or(self.hidden_size / self.attention_heads.max(1));
        let q = self.attention_heads.checked_mul(head_dim)?;
        let kv = self.kv_heads().checked_mul(head_dim)?;
        let mut d = self.hidden_size.max(self.intermediate_size).max(q).max(kv);
        let mut matrices: u64 = 16;
        if let Some(m) = &self.moe {
            d = d
                .max(m.experts)
                .max(m.expert_intermediate_size.unwrap_or(0))
                .max(m.shared_expert_intermediate_size.unwrap_or(0));
            matrices = matrices.checked_add(m.experts.checked_mul(3)?)?;
        }
        if let Some(m) = &self.mla {
            let per_head = m
                .qk_nope_head_dim
                .checked_add(m.qk_rope_head_dim)?
                .checked_add(m.v_head_dim)?;
            d = d
                .max(self.attention_heads.checked_mul(per_head)?)
                .max(m.kv_lora_rank.checked_add(m.qk_rope_head_dim)?)
                .max(m.q_lora_rank.unwrap_or(0));
        }
        if let Some(r) = &self.recurrent {
            let rd = r
                .heads
                .checked_mul(r.head_dim)?
                .checked_add(r.groups.checked_mul(r.state_size)?.checked_mul(2)?)?
                .checked_add(r.conv_kernel)?;
            d = d.max(rd).max(r.heads);
            matrices = matrices.checked_add(4)?;
        }
        let per_layer = d.checked_mul(d)?.checked_mul(matrices)?;
        let outer = self.vocab_size.checked_mul(d)?.checked_mul(3)?;
        self.layers.checked_mul(per_layer)?.checked_add(outer)
    }
}

impl ModelSpec {
    /// The checkpoint's own quantization details, when `format` is the checkpoint's format.
    pub fn checkpoint_quantization(&self, format: &Format) -> Option<&Quantization> {
        // most specs have none: skip parsing the dtype (the solvers ask this per probe)
        let q = self.quantization.as_ref()?;
        Format::parse(&self.dtype)
            .is_some_and(|f| f.id == format.id)
            .then_some(q)
    }

    pub fn is_moe(&self) -> bool {
        self.architecture.as_ref().is_some_and(|a| a.moe.is_some())
    }

    /// Parses and validates one spec. `text` is the YAML; `file` names it in errors.
    pub fn from_yaml(file: &Path, text: &str) -> Result<ModelSpec, SpecError> {
        let spec: ModelSpec = serde_yaml::from_str(text).map_err(|e| SpecError::from_yaml(file, e))?;
        spec.validate(file, text)?;
        Ok(spec)
    }

    /// Semantic checks serde cannot do. Parameter-count agreement is checked by the catalog, which
    /// has the estimator's derivation at hand (spec stays independent of estimate).
    pub fn validate(&self, file: &Path, text: &str) -> Result<(), SpecError> {
        let bad = |field: &str, msg: String| Err(SpecError::invalid(file, text, field, msg));
        if self.id.trim().is_empty() || self.id.contains(char::is_whitespace) {
            return bad("id", format!("`{}` must be a non-empty word without spaces", self.id));
        }
        if self.max_context == 0 {
            return bad("max_context", "must be at least 1 token".into());
        }
        if Format::parse(&self.dtype).is_none() {
            return bad(
                "dtype",
                format!("unknown format `{}` (known: {})", self.dtype, Format::ids().join(", ")),
            );
        }
        for (field, v) in [
            ("parameters", self.parameters),
            ("active_parameters", self.active_parameters),
        ] {
            if v == Some(0) {
                return bad(field, "must be positive".into());
            }
            if v.is_some_and(|v| v > MAX_PARAMETERS) {
                return bad(
                    field,
                    format!("more than 2^50 ({MAX_PARAMETERS}): not a model gpuplan can plan for"),
                );
            }
        }
        if let (Some(total), Some(active)) = (self.parameters, self.active_parameters) {
            if active > total {
                return bad(
                    "active_parameters",
                    format!("{active} active parameters exceed the {total} total"),
                );
            }
        }
        match (&self.architecture, &self.kv_cache) {
            (Some(a), None) => a.validate(file, text)?,
            (None, Some(kv)) => {
                if self.parameters.is_none() {
                    return bad(
                        "parameters",
                        "a summary-level spec (no `architecture`) needs `parameters`".into(),
                    );
                }
                kv.validate(file, text)?;
            }
            (Some(_), Some(_)) => {
                return bad(
                    "kv_cache",
                    "give either `architecture` or the summary `kv_cache`, not both".into(),
                )
            }
            (None, None) => {
                return bad(
                    "architecture",
                    "missing: give `architecture` (exact) or `parameters` + `kv_cache` (summary)".into(),
                )
            }
        }
        if let Some(v) = &self.vision {
            v.validate(file, text)?;
            if let (Some(a), Some(&last)) = (&self.architecture, v.projector.last()) {
                if last != a.hidden_size {
                    return bad(
                        "vision.projector",
                        format!(
                            "the projector must end at the text hidden size {}, not {last}",
                            a.hidden_size
                        ),
                    );
                }
            }
        }
        Ok(())
    }
}

/// Every listed size must be positive, and `layers` at most [`MAX_LAYERS`]; `bad` builds the error.
fn sizes(
    bad: &dyn Fn(&str, String) -> Result<(), SpecError>,
    fields: &[(&str, u64)],
    layers: u64,
) -> Result<(), SpecError> {
    for &(field, v) in fields {
        if v == 0 {
            return bad(field, "must be positive".into());
        }
    }
    if layers > MAX_LAYERS {
        return bad(
            "layers",
            format!("{layers} layers: more than the {MAX_LAYERS} a spec may have"),
        );
    }
    Ok(())
}

impl Architecture {
    fn validate(&self, file: &Path, text: &str) -> Result<(), SpecError> {
        let bad = |field: &str, msg: String| Err(SpecError::invalid(file, text, &format!("architecture.{field}"), msg));
        sizes(
            &bad,
            &[
                ("hidden_size", self.hidden_size),
                ("layers", self.layers),
                ("attention_heads", self.attention_heads),
                ("intermediate_size", self.intermediate_size),
                ("vocab_size", self.vocab_size),
            ],
            self.layers,
        )?;
        if self.kv_heads == Some(0) {
            return bad("kv_heads", "must be positive".into());
        }
        if self.head_dim == Some(0) {
            return bad("head_dim", "must be positive".into());
        }
        if self.head_dim.is_none() && self.hidden_size % self.attention_heads != 0 {
            return bad(
                "head_dim",
                format!(
                    "missing, and attention_heads ({}) does not divide hidden_size ({}): state head_dim",
                    self.attention_heads, self.hidden_size
                ),
            );
        }
        if self.attention_heads % self.kv_heads() != 0 {
            return bad(
                "kv_heads",
                format!(
                    "{} kv heads do not divide {} attention heads",
                    self.kv_heads(),
                    self.attention_heads
                ),
            );
        }
        if self.sliding_window == Some(0) {
            return bad("sliding_window", "must be positive".into());
        }
        if self.sliding_window_pattern == 0 {
            return bad("sliding_window_pattern", "must be at least 1".into());
        }
        if self.norms_per_layer == 0 || self.norms_per_layer > 16 {
            return bad(
                "norms_per_layer",
                format!("must be between 1 and 16, got {}", self.norms_per_layer),
            );
        }
        if let Some(m) = &self.mla {
            let bad = |field: &str, msg: String| {
                Err(SpecError::invalid(
                    file,
                    text,
                    &format!("architecture.mla.{field}"),
                    msg,
                ))
            };
            for (field, v) in [
                ("kv_lora_rank", m.kv_lora_rank),
                ("qk_nope_head_dim", m.qk_nope_head_dim),
                ("qk_rope_head_dim", m.qk_rope_head_dim),
                ("v_head_dim", m.v_head_dim),
            ] {
                if v == 0 {
                    return bad(field, "must be positive".into());
                }
            }
            if m.q_lora_rank == Some(0) {
                return bad("q_lora_rank", "must be positive (omit it for a full q_proj)".into());
            }
        }
        match self.size_bound() {
            Some(b) if b <= MAX_PARAMETERS => {}
            _ => {
                return bad(
                    "hidden_size",
                    "the sizes describe more than 2^50 parameters (or overflow): not a model gpuplan can plan for"
                        .into(),
                )
            }
        }
        if let Some(m) = &self.moe {
            let bad = |field: &str, msg: String| {
                Err(SpecError::invalid(
                    file,
                    text,
                    &format!("architecture.moe.{field}"),
                    msg,
                ))
            };
            if m.experts == 0 {
                return bad("experts", "must be positive".into());
            }
            if m.experts_per_token == 0 || m.experts_per_token > m.experts {
                return bad(
                    "experts_per_token",
                    format!(
                        "must be between 1 and experts ({}), got {}",
                        m.experts, m.experts_per_token
                    ),
                );
            }
            if m.expert_intermediate_size == Some(0) {
                return bad("expert_intermediate_size", "must be positive".into());
            }
            if m.shared_expert_intermediate_size == Some(0) {
                return bad("shared_expert_intermediate_size", "must be positive".into());
            }
            if m.dense_layers >= self.mlp_layer_count() {
                return bad(
                    "dense_layers",
                    format!(
                        "{} dense layers leave no MoE layer of {}",
                        m.dense_layers,
                        self.mlp_layer_count()
                    ),
                );
            }
        }
        for (field, v) in [
            ("attention_layers", self.attention_layers),
            ("mlp_layers", self.mlp_layers),
        ] {
            if v.is_some_and(|v| v > self.layers) {
                return bad(field, format!("more than the {} layers", self.layers));
            }
        }
        if let Some(r) = &self.recurrent {
            let bad = |field: &str, msg: String| {
                Err(SpecError::invalid(
                    file,
                    text,
                    &format!("architecture.recurrent.{field}"),
                    msg,
                ))
            };
            for (field, v) in [
                ("layers", r.layers),
                ("heads", r.heads),
                ("head_dim", r.head_dim),
                ("groups", r.groups),
                ("state_size", r.state_size),
                ("conv_kernel", r.conv_kernel),
            ] {
                if v == 0 {
                    return bad(field, "must be positive".into());
                }
            }
            if r.layers > self.layers {
                return bad("layers", format!("more than the {} layers", self.layers));
            }
        } else if self.attention_layer_count() == 0 {
            return bad(
                "attention_layers",
                "no attention and no recurrent mixer: no layer mixes tokens".into(),
            );
        }
        Ok(())
    }
}

impl KvShape {
    fn validate(&self, file: &Path, text: &str) -> Result<(), SpecError> {
        let geometry = [self.layers, self.kv_heads, self.head_dim];
        let have = geometry.iter().filter(|v| v.is_some()).count();
        let bad = |field: &str, msg: String| Err(SpecError::invalid(file, text, &format!("kv_cache.{field}"), msg));
        match (have, self.bytes_per_token_16bit) {
            (0, Some(0)) => bad("bytes_per_token_16bit", "must be positive".into()),
            (_, Some(b)) if b > MAX_KV_BYTES_PER_TOKEN => {
                bad("bytes_per_token_16bit", format!("{b} is beyond any model (limit 2^40)"))
            }
            (3, _) if self.geometry_bytes().is_none_or(|b| b > MAX_KV_BYTES_PER_TOKEN) => bad(
                "layers",
                "2 x layers x kv_heads x head_dim x 2 is beyond any model (limit 2^40)".into(),
            ),
            (0, Some(_)) => Ok(()),
            (3, _) if geometry.contains(&Some(0)) => {
                bad("layers", "layers, kv_heads and head_dim must be positive".into())
            }
            (3, Some(b)) if Some(b) != self.geometry_bytes() => bad(
                "bytes_per_token_16bit",
                format!(
                    "{b} disagrees with 2 x layers x kv_heads x head_dim x 2 = {}",
                    self.geometry_bytes().unwrap_or(0)
                ),
            ),
            (3, _) => Ok(()),
            _ => bad(
                "layers",
                "give layers, kv_heads and head_dim together, or bytes_per_token_16bit".into(),
            ),
        }
    }

    fn geometry_bytes(&self) -> Option<u64> {
        4u64.checked_mul(self.layers?)?
            .checked_mul(self.kv_heads?)?
            .checked_mul(self.head_dim?)
    }
}

impl VisionSpec {
    fn validate(&self, file: &Path, text: &str) -> Result<(), SpecError> {
        let bad = |field: &str, msg: String| Err(SpecError::invalid(file, text, &format!("vision.{field}"), msg));
        sizes(
            &bad,
            &[
                ("image_size", self.image_size),
                ("patch_size", self.patch_size),
                ("hidden_size", self.hidden_size),
                ("layers", self.layers),
                ("attention_heads", self.attention_heads),
                ("intermediate_size", self.intermediate_size),
                ("channels", self.channels),
                ("merge", self.merge),
                ("max_crops", self.max_crops),
                ("default_crops", self.default_crops),
            ],
            self.layers,
        )?;
        if self.image_size % self.patch_size != 0 {
            return bad(
                "patch_size",
                format!("{} does not divide image_size {}", self.patch_size, self.image_size),
            );
        }
        if (self.image_size / self.patch_size) % self.merge != 0 {
            return bad("merge", "must divide the patch grid side".into());
        }
        if self.hidden_size % self.attention_heads != 0 {
            return bad("attention_heads", "must divide hidden_size".into());
        }
        if self.projector.is_empty() || self.projector.contains(&0) {
            return bad("projector", "list the projector layer widths, all positive".into());
        }
        if self.size_bound().is_none_or(|b| b > MAX_PARAMETERS) {
            return bad(
                "hidden_size",
                "the sizes describe more than 2^50 parameters (or overflow)".into(),
            );
        }
        if self.default_crops > self.max_crops {
            return bad("default_crops", format!("exceeds max_crops ({})", self.max_crops));
        }
        Ok(())
    }

    /// An upper bound on the tower's parameters, None on overflow. Only for validation.
    fn size_bound(&self) -> Option<u64> {
        let side = self.image_size / self.patch_size.max(1);
        let patches = side.checked_mul(side)?.checked_add(1)?;
        let patch_in = self
            .channels
            .checked_mul(self.patch_size)?
            .checked_mul(self.patch_size)?;
        let d = self.hidden_size.max(self.intermediate_size).max(patch_in).max(patches);
        let tower = d
            .checked_mul(d)?
            .checked_mul(16)?
            .checked_mul(self.layers.checked_add(1)?)?;
        let mut input = self.hidden_size.checked_mul(self.merge)?.checked_mul(self.merge)?;
        let mut total = tower.checked_add(self.extra_parameters)?;
        for &w in &self.projector {
            total = total.checked_add(w.checked_mul(input.checked_add(1)?)?)?;
            input = w;
        }
        Some(total)
    }

    /// Patch tokens per crop after merging: (image/patch / merge)^2 (Phi-3-V: (336/14/2)^2 = 144).
    pub fn tokens_per_crop(&self) -> u64 {
        let side = self.image_size / self.patch_size / self.merge;
        side * side
    }
}
