//! llama.cpp's file types (`llama_ftype`) and the per-tensor type rules llama-quantize applies for
//! each: `src/llama-quant.cpp` `llama_tensor_get_type_impl`, `tensor_type_fallback`,
//! `tensor_allows_quantization` and `llama_ftype_get_default_type`, read at ggml-org/llama.cpp
//! 007dbbf3fd17eefe9b47fee45f48f7ba5e62b714
//! (https://github.com/ggml-org/llama.cpp/blob/007dbbf3fd17eefe9b47fee45f48f7ba5e62b714/src/llama-quant.cpp).
//!
//! A file's own tensor types always win over these rules: the GGUF importer keeps the types it reads
//! from the header (per-tensor "dynamic" mixes such as unsloth's UD files), and only files that
//! llama-quantize made from its defaults follow [`tensor_type`] exactly.
//!
//! Not modelled: the Falcon architecture's special cases (gpuplan has no Falcon), `--pure`,
//! `--tensor-type` / `--output-tensor-type` overrides (their results are read from files instead).

use super::ggml::Ggml;
use super::Role;
use crate::spec::model::{ArchType, Architecture};
use serde::Serialize;

/// One `enum llama_ftype` value (`include/llama.h`): what `general.file_type` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[allow(non_camel_case_types)]
pub enum Ftype {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q8_0,
    Q5_0,
    Q5_1,
    Q2_K,
    Q3_K_S,
    Q3_K_M,
    Q3_K_L,
    Q4_K_S,
    Q4_K_M,
    Q5_K_S,
    Q5_K_M,
    Q6_K,
    IQ2_XXS,
    IQ2_XS,
    Q2_K_S,
    IQ3_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ3_M,
    IQ2_S,
    IQ2_M,
    IQ4_XS,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4_MOE,
    NVFP4,
    Q1_0,
    Q2_0,
}

/// (file type, `general.file_type` id, llama-quantize name, default tensor type).
const FTYPES: &[(Ftype, u64, &str, Ggml)] = &[
    (Ftype::F32, 0, "F32", Ggml::F32),
    (Ftype::F16, 1, "F16", Ggml::F16),
    (Ftype::Q4_0, 2, "Q4_0", Ggml::Q4_0),
    (Ftype::Q4_1, 3, "Q4_1", Ggml::Q4_1),
    (Ftype::Q8_0, 7, "Q8_0", Ggml::Q8_0),
    (Ftype::Q5_0, 8, "Q5_0", Ggml::Q5_0),
    (Ftype::Q5_1, 9, "Q5_1", Ggml::Q5_1),
    (Ftype::Q2_K, 10, "Q2_K", Ggml::Q2_K),
    (Ftype::Q3_K_S, 11, "Q3_K_S", Ggml::Q3_K),
    (Ftype::Q3_K_M, 12, "Q3_K_M", Ggml::Q3_K),
    (Ftype::Q3_K_L, 13, "Q3_K_L", Ggml::Q3_K),
    (Ftype::Q4_K_S, 14, "Q4_K_S", Ggml::Q4_K),
    (Ftype::Q4_K_M, 15, "Q4_K_M", Ggml::Q4_K),
    (Ftype::Q5_K_S, 16, "Q5_K_S", Ggml::Q5_K),
    (Ftype::Q5_K_M, 17, "Q5_K_M", Ggml::Q5_K),
    (Ftype::Q6_K, 18, "Q6_K", Ggml::Q6_K),
    (Ftype::IQ2_XXS, 19, "IQ2_XXS", Ggml::IQ2_XXS),
    (Ftype::IQ2_XS, 20, "IQ2_XS", Ggml::IQ2_XS),
    (Ftype::Q2_K_S, 21, "Q2_K_S", Ggml::Q2_K),
    (Ftype::IQ3_XS, 22, "IQ3_XS", Ggml::IQ3_S),
    (Ftype::IQ3_XXS, 23, "IQ3_XXS", Ggml::IQ3_XXS),
    (Ftype::IQ1_S, 24, "IQ1_S", Ggml::IQ1_S),
    (Ftype::IQ4_NL, 25, "IQ4_NL", Ggml::IQ4_NL),
    (Ftype::IQ3_S, 26, "IQ3_S", Ggml::IQ3_S),
    (Ftype::IQ3_M, 27, "IQ3_M", Ggml::IQ3_S),
    // IQ2_S files are mostly IQ2_XS and IQ2_M files mostly IQ2_S (llama_ftype_get_default_type)
    (Ftype::IQ2_S, 28, "IQ2_S", Ggml::IQ2_XS),
    (Ftype::IQ2_M, 29, "IQ2_M", Ggml::IQ2_S),
    (Ftype::IQ4_XS, 30, "IQ4_XS", Ggml::IQ4_XS),
    (Ftype::IQ1_M, 31, "IQ1_M", Ggml::IQ1_M),
    (Ftype::BF16, 32, "BF16", Ggml::BF16),
    (Ftype::TQ1_0, 36, "TQ1_0", Ggml::TQ1_0),
    (Ftype::TQ2_0, 37, "TQ2_0", Ggml::TQ2_0),
    (Ftype::MXFP4_MOE, 38, "MXFP4_MOE", Ggml::MXFP4),
    (Ftype::NVFP4, 39, "NVFP4", Ggml::NVFP4),
    (Ftype::Q1_0, 40, "Q1_0", Ggml::Q1_0),
    (Ftype::Q2_0, 41, "Q2_0", Ggml::Q2_0),
];

impl Ftype {
    pub fn all() -> impl Iterator<Item = Ftype> {
        FTYPES.iter().map(|t| t.0)
    }

    fn row(self) -> &'static (Ftype, u64, &'static str, Ggml) {
        FTYPES.iter().find(|t| t.0 == self).unwrap_or(&FTYPES[0])
    }

    /// The `general.file_type` value.
    pub fn id(self) -> u64 {
        self.row().1
    }

    pub fn from_id(id: u64) -> Option<Ftype> {
        FTYPES.iter().find(|t| t.1 == id).map(|t| t.0)
    }

    /// The name llama-quantize takes on its command line.
    pub fn name(self) -> &'static str {
        self.row().2
    }

    /// `llama_ftype_get_default_type`: the type of every quantizable tensor the rules leave alone.
    pub fn base(self) -> Ggml {
        self.row().3
    }

    /// Tensor types depend on the layer index (attn_v / ffn_down promotions, IQ counters).
    pub fn layer_dependent(self) -> bool {
        !matches!(
            self,
            Ftype::F32
                | Ftype::F16
                | Ftype::BF16
                | Ftype::Q8_0
                | Ftype::Q6_K
                | Ftype::Q5_K_S
                | Ftype::Q4_1
                | Ftype::Q5_1
                | Ftype::IQ3_S
                | Ftype::TQ1_0
                | Ftype::TQ2_0
                | Ftype::MXFP4_MOE
                | Ftype::NVFP4
                | Ftype::Q1_0
                | Ftype::Q2_0
        )
    }

    /// llama-quantize refuses these without an importance matrix (`tensor_requires_imatrix`: IQ1,
    /// IQ2 and IQ3_XXS tensors, and the Q2_K tensors of a Q2_K_S file).
    pub fn requires_imatrix(self) -> bool {
        matches!(
            self,
            Ftype::IQ1_S
                | Ftype::IQ1_M
                | Ftype::IQ2_XXS
                | Ftype::IQ2_XS
                | Ftype::IQ2_S
                | Ftype::IQ2_M
                | Ftype::IQ3_XXS
                | Ftype::Q2_K_S
        )
    }

    fn is_iq2_family(self) -> bool {
        matches!(
            self,
            Ftype::IQ2_XXS | Ftype::IQ2_XS | Ftype::IQ1_S | Ftype::IQ2_S | Ftype::IQ2_M | Ftype::IQ1_M
        )
    }
}

/// What llama-quantize knows about the whole model when it types one tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GgufModel {
    /// q, k, v stored as one `attn_qkv` tensor (Phi-3)
    pub fused_qkv: bool,
    /// no `output.weight`: `token_embd` is typed like the output (`has_tied_embeddings`)
    pub tied_embeddings: bool,
    /// `hparams.n_expert` (0 for dense models); 8 triggers the Mixtral rules
    pub experts: u64,
    /// llama.cpp classifies the model as `LLM_TYPE_70B`
    pub is_70b: bool,
    /// `hparams.n_gqa()`: attention heads / KV heads (integer division)
    pub gqa: u64,
    /// decoder layers (`n_layer`)
    pub layers: u64,
    /// leading layers with a dense MLP in an MoE model (DeepSeek `first_k_dense_replace`)
    pub dense_layers: u64,
    /// MoE layers also hold a shared expert (`ffn_down_shexp`)
    pub shared_expert: bool,
}

impl GgufModel {
    /// From the architecture. `LLM_TYPE_70B` (llama-model.cpp `load_hparams`, read at ggml-org/llama.cpp
    /// 00342301d01add50835550e8a916f12097d94517): LLAMA-arch GGUFs (Llama, Mistral and Mixtral convert to
    /// it) with 80 layers, GQA and no 8 experts; Qwen2 with 80 layers.
    pub fn from_architecture(a: &Architecture) -> GgufModel {
        let experts = a.moe.as_ref().map_or(0, |m| m.experts);
        let is_70b = match a.kind {
            ArchType::Llama | ArchType::Mistral | ArchType::Mixtral => {
                a.layers == 80 && a.kv_heads() != a.attention_heads && experts != 8
            }
            ArchType::Qwen2 => a.layers == 80,
            _ => false,
        };
        GgufModel {
            fused_qkv: a.fused_qkv,
            tied_embeddings: a.tie_embeddings,
            experts,
            is_70b,
            gqa: a.attention_heads / a.kv_heads().max(1),
            layers: a.layers,
            dense_layers: a.moe.as_ref().map_or(0, |m| m.dense_layers),
            shared_expert: a
                .moe
                .as_ref()
                .is_some_and(|m| m.shared_expert_intermediate_size.is_some()),
        }
    }
}

/// The tensor categories of llama-quant.cpp (`tensor_get_category`), by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    TokenEmbd,
    Output,
    AttnQ,
    AttnK,
    /// attn_v and MLA's attn_kv_b (`category_is_attn_v`)
    AttnV,
    AttnQkv,
    AttnOut,
    /// ffn_gate and ffn_up (their rules are the same)
    FfnGateUp,
    FfnDown,
    Other,
}

fn category(role: Role, m: &GgufModel) -> Category {
    match role {
        Role::Embedding => Category::TokenEmbd,
        Role::LmHead => Category::Output,
        Role::AttnQkv if m.fused_qkv => Category::AttnQkv,
        Role::AttnQkv => Category::AttnQ,
        Role::AttnK => Category::AttnK,
        Role::AttnV => Category::AttnV,
        Role::AttnOut => Category::AttnOut,
        Role::MlpUp | Role::Expert => Category::FfnGateUp,
        Role::MlpDown | Role::ExpertDown => Category::FfnDown,
        _ => Category::Other,
    }
}

/// `use_more_bits` from llama-quant.cpp: the first and last eighth of the layers, and every third layer
/// in between. The same expression as the C++; short-circuiting keeps the u64 subtraction from
/// underflowing.
pub fn use_more_bits(layer: u64, layers: u64) -> bool {
    layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
}

/// One tensor as llama-quantize sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantTensor {
    pub role: Role,
    /// decoder layer (global index), None outside the decoder stack
    pub layer: Option<u64>,
    /// output features (`ne[1]`)
    pub rows: u64,
    /// `ne[0]`: the row length
    pub cols: u64,
}

impl QuantTensor {
    /// Experts are stored stacked, one 3-D tensor per layer (`ne[2] > 1`).
    fn is_3d(&self) -> bool {
        matches!(self.role, Role::Expert | Role::ExpertDown)
    }
}

/// The running `i_ffn_down` counter when llama-quantize reaches this ffn_down tensor: tensors are
/// visited sorted by layer number, then by name (llama-model-loader.h `weight_name_comparer`), so in an
/// MoE layer `ffn_down_exps` comes before `ffn_down_shexp`.
fn ffn_down_counter(t: &QuantTensor, m: &GgufModel) -> u64 {
    let layer = t.layer.unwrap_or(0);
    if m.experts <= 1 {
        return layer;
    }
    let dense = layer.min(m.dense_layers);
    let per_moe_layer = 1 + u64::from(m.shared_expert);
    let before = dense + layer.saturating_sub(m.dense_layers) * per_moe_layer;
    let shexp_slot = t.role == Role::MlpDown && layer >= m.dense_layers;
    before + u64::from(shexp_slot)
}

/// The type llama-quantize gives a 2-D or 3-D weight tensor (`llama_tensor_get_type` for a quantized
/// file type): the rules of `llama_tensor_get_type_impl` in their order, then `tensor_type_fallback`
/// for rows that are not a whole number of blocks. `imatrix`: an importance matrix was given. Files of
/// a 16/32-bit type keep every such tensor in that type.
///
/// One deliberate difference: a fused `attn_qkv` (Phi-3) takes its own rule (Q5_K in Q4_K_M, Q6_K in
/// Q5_K_M, Q4_K in Q3_K_M/L and IQ3_M). At 007dbbf llama.cpp routes `attn_qkv` through the attn_v
/// branch first (`category_is_attn_v`), leaving that rule unreachable; the published phi-4 Q4_K_M and
/// Q5_K_M files (bartowski/phi-4-GGUF, llama.cpp b4456) match the attn_qkv rule to the byte and not the
/// other (tests/catalog_models.rs), so gpuplan sizes the files people download.
pub fn tensor_type(ft: Ftype, imatrix: bool, t: &QuantTensor, m: &GgufModel) -> Ggml {
    let base = ft.base();
    if !base.is_quantized() {
        return base;
    }
    let chosen = rule(ft, imatrix, t, m);
    chosen.for_row(t.cols)
}

fn rule(ft: Ftype, imatrix: bool, t: &QuantTensor, m: &GgufModel) -> Ggml {
    use Ftype as F;
    use Ggml as G;
    let base = ft.base();
    let cat = category(t.role, m);
    let n = m.layers.max(1);
    let i = t.layer.unwrap_or(0);
    let more_bits = use_more_bits(i, n);
    let gqa4 = m.gqa >= 4;
    let eight = m.experts == 8;

    if cat == Category::Output || (m.tied_embeddings && cat == Category::TokenEmbd) {
        return if ft == F::MXFP4_MOE || t.cols % base.block().1 != 0 {
            G::Q8_0
        } else if matches!(
            ft,
            F::IQ2_XXS | F::IQ2_XS | F::IQ3_XXS | F::IQ1_S | F::IQ2_S | F::IQ2_M | F::IQ1_M
        ) {
            G::Q5_K
        } else if base != G::Q8_0 {
            G::Q6_K
        } else {
            base
        };
    }
    if ft == F::MXFP4_MOE {
        // MoE tensors MXFP4, everything else Q8_0
        return if t.is_3d() { G::MXFP4 } else { G::Q8_0 };
    }
    if cat == Category::TokenEmbd {
        return match ft {
            F::IQ2_XXS | F::IQ2_XS | F::IQ1_S | F::IQ1_M => G::Q2_K,
            F::IQ2_S | F::IQ2_M | F::IQ3_XXS => G::IQ3_S,
            F::TQ1_0 | F::TQ2_0 | F::Q2_0 => G::Q4_K,
            _ => base,
        };
    }
    // the attn_v counter (i_attention_wv) equals the layer: one attn_v-like tensor per layer
    if ft.is_iq2_family() {
        let iq3_or_q2 = if matches!(ft, F::IQ2_S | F::IQ2_M) {
            G::IQ3_S
        } else {
            G::Q2_K
        };
        return match cat {
            Category::AttnV => {
                if gqa4 || m.experts >= 4 {
                    G::Q4_K
                } else {
                    iq3_or_q2
                }
            }
            Category::AttnK if eight => G::Q4_K,
            Category::FfnDown if ffn_down_counter(t, m) < n / 8 => iq3_or_q2,
            Category::AttnOut if eight => G::Q5_K,
            Category::AttnOut => match ft {
                F::IQ1_S | F::IQ1_M => G::IQ2_XXS,
                F::IQ2_S | F::IQ2_M => G::IQ3_S,
                _ => base,
            },
            _ => base,
        };
    }
    match cat {
        Category::AttnV => {
            let mut t = match ft {
                F::Q2_K if gqa4 => G::Q4_K,
                F::Q2_K => G::Q3_K,
                F::Q2_K_S if gqa4 => G::Q4_K,
                F::IQ3_XXS if gqa4 => G::Q4_K,
                F::IQ3_XXS if !imatrix => G::IQ3_S,
                F::IQ3_XXS => G::IQ3_XXS,
                F::IQ3_XS | F::IQ3_S if gqa4 => G::Q4_K,
                F::IQ3_M => G::Q4_K,
                F::Q3_K_M if i < 2 => G::Q5_K,
                F::Q3_K_M => G::Q4_K,
                F::Q3_K_L => G::Q5_K,
                F::IQ4_NL | F::IQ4_XS if gqa4 => G::Q5_K,
                F::Q4_K_M | F::Q5_K_M if more_bits => G::Q6_K,
                F::Q4_K_S if i < 4 => G::Q5_K,
                _ => base,
            };
            // 70B: attn_v is 8x smaller than attn_q, so more bits cost little
            if m.is_70b && matches!(t, G::Q3_K | G::Q4_K) {
                t = G::Q5_K;
            }
            if eight {
                t = G::Q8_0;
            }
            t
        }
        Category::AttnK if eight => G::Q8_0,
        Category::AttnK | Category::AttnQ => match ft {
            F::IQ3_XS => G::IQ3_XXS,
            F::IQ3_XXS => G::IQ2_S,
            _ => base,
        },
        Category::FfnDown => {
            // layer_info: MoE models parse the layer from the name; dense ones count ffn_down tensors
            let i = if m.experts > 1 { i } else { ffn_down_counter(t, m) };
            let more_bits = use_more_bits(i, n);
            match ft {
                F::Q2_K => G::Q3_K,
                F::Q2_K_S if i < n / 8 => G::Q4_K,
                F::IQ3_XXS if !imatrix && i < n / 8 => G::Q4_K,
                F::IQ3_XXS if !imatrix => G::Q3_K,
                F::Q3_K_M if i < n / 16 => G::Q5_K,
                F::Q3_K_M => G::Q4_K,
                F::IQ3_M if i < n / 8 || (eight && more_bits) => G::Q4_K,
                F::Q3_K_L => G::Q5_K,
                F::Q4_K_M if more_bits => G::Q6_K,
                F::IQ4_NL | F::IQ4_XS if i < n / 8 && !imatrix => G::Q5_K,
                F::Q5_K_M if more_bits => G::Q6_K,
                F::Q4_K_S if i < n / 8 => G::Q5_K,
                // "Guard against craziness in the first few ffn_down layers"
                F::Q4_0 if imatrix && i < n / 8 => G::Q4_1,
                F::Q5_0 if imatrix && i < n / 8 => G::Q5_1,
                _ => base,
            }
        }
        Category::AttnOut if eight => match ft {
            F::Q2_K
            | F::IQ3_XS
            | F::IQ3_XXS
            | F::Q3_K_S
            | F::Q3_K_M
            | F::IQ4_NL
            | F::Q4_K_S
            | F::Q4_K_M
            | F::IQ3_S
            | F::IQ3_M
            | F::IQ4_XS => G::Q5_K,
            _ => base,
        },
        Category::AttnOut => match ft {
            F::Q2_K => G::Q3_K,
            F::IQ3_XXS => G::IQ3_S,
            F::Q3_K_M | F::IQ3_M => G::Q4_K,
            F::Q3_K_L => G::Q5_K,
            _ => base,
        },
        Category::AttnQkv => match ft {
            F::Q3_K_M | F::Q3_K_L | F::IQ3_M => G::Q4_K,
            F::Q4_K_M => G::Q5_K,
            F::Q5_K_M => G::Q6_K,
            _ => base,
        },
        Category::FfnGateUp if ft == F::IQ3_XS && i >= n / 8 && i < 7 * n / 8 => G::IQ3_XXS,
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(role: Role, layer: Option<u64>) -> QuantTensor {
        QuantTensor {
            role,
            layer,
            rows: 4096,
            cols: 4096,
        }
    }

    fn dense(layers: u64) -> GgufModel {
        GgufModel {
            layers,
            gqa: 4,
            ..GgufModel::default()
        }
    }

    #[test]
    fn ftype_table_round_trips() {
        for f in Ftype::all() {
            assert_eq!(Ftype::from_id(f.id()), Some(f));
        }
        assert_eq!(Ftype::from_id(15), Some(Ftype::Q4_K_M));
        assert_eq!(Ftype::from_id(38), Some(Ftype::MXFP4_MOE));
        assert_eq!(Ftype::from_id(4), None);
        assert_eq!(Ftype::IQ2_M.base(), Ggml::IQ2_S);
    }

    #[test]
    fn output_and_tied_embeddings_follow_the_output_rule() {
        let tied = GgufModel {
            tied_embeddings: true,
            ..dense(32)
        };
        let untied = dense(32);
        for (ft, out, embd) in [
            (Ftype::Q4_K_M, Ggml::Q6_K, Ggml::Q4_K),
            (Ftype::Q4_0, Ggml::Q6_K, Ggml::Q4_0),
            (Ftype::Q8_0, Ggml::Q8_0, Ggml::Q8_0),
            (Ftype::IQ2_XXS, Ggml::Q5_K, Ggml::Q2_K),
            (Ftype::IQ3_XXS, Ggml::Q5_K, Ggml::IQ3_S),
            (Ftype::MXFP4_MOE, Ggml::Q8_0, Ggml::Q8_0),
            (Ftype::TQ2_0, Ggml::Q6_K, Ggml::Q4_K),
        ] {
            assert_eq!(tensor_type(ft, true, &t(Role::LmHead, None), &untied), out, "{ft:?}");
            assert_eq!(
                tensor_type(ft, true, &t(Role::Embedding, None), &tied),
                out,
                "{ft:?} tied"
            );
            assert_eq!(
                tensor_type(ft, true, &t(Role::Embedding, None), &untied),
                embd,
                "{ft:?} untied"
            );
        }
        // gpt-oss's 2880-wide rows are not whole 256-blocks: the output falls to Q8_0
        let out = QuantTensor {
            role: Role::LmHead,
            layer: None,
            rows: 201088,
            cols: 2880,
        };
        assert_eq!(tensor_type(Ftype::Q4_K_M, false, &out, &untied), Ggml::Q8_0);
    }

    #[test]
    fn attn_v_rules_for_70b_and_eight_experts() {
        let l70 = GgufModel {
            is_70b: true,
            ..dense(80)
        };
        assert!(!use_more_bits(10, 80));
        let v = |l| t(Role::AttnV, Some(l));
        assert_eq!(tensor_type(Ftype::Q4_K_M, false, &v(10), &dense(80)), Ggml::Q4_K);
        assert_eq!(tensor_type(Ftype::Q4_K_M, false, &v(10), &l70), Ggml::Q5_K);
        assert_eq!(tensor_type(Ftype::Q4_K_M, false, &v(0), &l70), Ggml::Q6_K);
        // Q3_K_M: the first two attn_v Q5_K, then Q4_K; Q2_K with GQA >= 4: Q4_K
        assert_eq!(tensor_type(Ftype::Q3_K_M, false, &v(1), &dense(32)), Ggml::Q5_K);
        assert_eq!(tensor_type(Ftype::Q3_K_M, false, &v(2), &dense(32)), Ggml::Q4_K);
        assert_eq!(tensor_type(Ftype::Q2_K, false, &v(2), &dense(32)), Ggml::Q4_K);
        let mha = GgufModel { gqa: 1, ..dense(32) };
        assert_eq!(tensor_type(Ftype::Q2_K, false, &v(2), &mha), Ggml::Q3_K);
        // Mixtral: attn_v and attn_k Q8_0, attn_output Q5_K in the 3-5 bit types, q untouched
        let mix = GgufModel {
            experts: 8,
            ..dense(32)
        };
        for ft in [Ftype::Q4_K_M, Ftype::Q5_K_M, Ftype::Q6_K, Ftype::Q4_0, Ftype::Q3_K_S] {
            assert_eq!(tensor_type(ft, false, &v(0), &mix), Ggml::Q8_0, "{ft:?}");
            assert_eq!(tensor_type(ft, false, &t(Role::AttnK, Some(5)), &mix), Ggml::Q8_0);
            assert_eq!(tensor_type(ft, false, &t(Role::AttnQkv, Some(5)), &mix), ft.base());
        }
        assert_eq!(
            tensor_type(Ftype::Q4_K_M, false, &t(Role::AttnOut, Some(5)), &mix),
            Ggml::Q5_K
        );
        assert_eq!(
            tensor_type(Ftype::Q3_K_S, false, &t(Role::AttnOut, Some(5)), &mix),
            Ggml::Q5_K
        );
        assert_eq!(
            tensor_type(Ftype::Q6_K, false, &t(Role::AttnOut, Some(5)), &mix),
            Ggml::Q6_K
        );
        // 16 experts (Phi-3.5-MoE) get none of this
        let phimoe = GgufModel {
            experts: 16,
            ..dense(32)
        };
        assert_eq!(
            tensor_type(Ftype::Q4_K_M, false, &t(Role::AttnK, Some(5)), &phimoe),
            Ggml::Q4_K
        );
    }

    #[test]
    fn fused_qkv_takes_one_type_in_every_layer() {
        let phi3 = GgufModel {
            fused_qkv: true,
            ..dense(32)
        };
        for layer in [0, 5, 31] {
            let qkv = t(Role::AttnQkv, Some(layer));
            assert_eq!(tensor_type(Ftype::Q4_K_M, false, &qkv, &phi3), Ggml::Q5_K);
            assert_eq!(tensor_type(Ftype::Q5_K_M, false, &qkv, &phi3), Ggml::Q6_K);
            assert_eq!(tensor_type(Ftype::Q6_K, false, &qkv, &phi3), Ggml::Q6_K);
            assert_eq!(tensor_type(Ftype::Q3_K_L, false, &qkv, &phi3), Ggml::Q4_K);
        }
        assert_eq!(
            tensor_type(Ftype::Q4_K_M, false, &t(Role::MlpDown, Some(0)), &phi3),
            Ggml::Q6_K
        );
        assert_eq!(
            tensor_type(Ftype::Q4_K_M, false, &t(Role::MlpDown, Some(4)), &phi3),
            Ggml::Q4_K
        );
    }

    #[test]
    fn k_quant_small_and_large_mixes() {
        let m = dense(32);
        let down = |l| t(Role::MlpDown, Some(l));
        // Q4_K_S: first 4 attn_v and first n/8 ffn_down Q5_K
        assert_eq!(
            tensor_type(Ftype::Q4_K_S, false, &t(Role::AttnV, Some(3)), &m),
            Ggml::Q5_K
        );
        assert_eq!(
            tensor_type(Ftype::Q4_K_S, false, &t(Role::AttnV, Some(4)), &m),
            Ggml::Q4_K
        );
        assert_eq!(tensor_type(Ftype::Q4_K_S, false, &down(3), &m), Ggml::Q5_K);
        assert_eq!(tensor_type(Ftype::Q4_K_S, false, &down(4), &m), Ggml::Q4_K);
        // Q3_K_M ffn_down: Q5_K below n/16, else Q4_K; Q3_K_L: Q5_K everywhere
        assert_eq!(tensor_type(Ftype::Q3_K_M, false, &down(1), &m), Ggml::Q5_K);
        assert_eq!(tensor_type(Ftype::Q3_K_M, false, &down(2), &m), Ggml::Q4_K);
        assert_eq!(tensor_type(Ftype::Q3_K_L, false, &down(20), &m), Ggml::Q5_K);
        assert_eq!(
            tensor_type(Ftype::Q3_K_L, false, &t(Role::AttnOut, Some(9)), &m),
            Ggml::Q5_K
        );
        // Q3_K_S: no promotions outside the output
        assert_eq!(tensor_type(Ftype::Q3_K_S, false, &down(0), &m), Ggml::Q3_K);
        // Q2_K: ffn_down and attn_output Q3_K
        assert_eq!(tensor_type(Ftype::Q2_K, false, &down(20), &m), Ggml::Q3_K);
        assert_eq!(
            tensor_type(Ftype::Q2_K, false, &t(Role::AttnOut, Some(9)), &m),
            Ggml::Q3_K
        );
        // Q4_0 with an imatrix: the first n/8 ffn_down Q4_1
        assert_eq!(tensor_type(Ftype::Q4_0, true, &down(3), &m), Ggml::Q4_1);
        assert_eq!(tensor_type(Ftype::Q4_0, false, &down(3), &m), Ggml::Q4_0);
    }

    #[test]
    fn i_quant_mixes() {
        let m = dense(32);
        // IQ2_XXS: attn_v Q4_K with GQA >= 4; first n/8 ffn_down Q2_K; others IQ2_XXS
        assert_eq!(
            tensor_type(Ftype::IQ2_XXS, true, &t(Role::AttnV, Some(9)), &m),
            Ggml::Q4_K
        );
        assert_eq!(
            tensor_type(Ftype::IQ2_XXS, true, &t(Role::MlpDown, Some(3)), &m),
            Ggml::Q2_K
        );
        assert_eq!(
            tensor_type(Ftype::IQ2_XXS, true, &t(Role::MlpDown, Some(4)), &m),
            Ggml::IQ2_XXS
        );
        assert_eq!(
            tensor_type(Ftype::IQ2_M, true, &t(Role::MlpDown, Some(0)), &m),
            Ggml::IQ3_S
        );
        assert_eq!(
            tensor_type(Ftype::IQ2_M, true, &t(Role::MlpUp, Some(0)), &m),
            Ggml::IQ2_S
        );
        assert_eq!(
            tensor_type(Ftype::IQ1_S, true, &t(Role::AttnOut, Some(0)), &m),
            Ggml::IQ2_XXS
        );
        // IQ3_XS: q and k IQ3_XXS, middle gate/up IQ3_XXS, the rest IQ3_S
        assert_eq!(
            tensor_type(Ftype::IQ3_XS, true, &t(Role::AttnQkv, Some(0)), &m),
            Ggml::IQ3_XXS
        );
        assert_eq!(
            tensor_type(Ftype::IQ3_XS, true, &t(Role::MlpUp, Some(16)), &m),
            Ggml::IQ3_XXS
        );
        assert_eq!(
            tensor_type(Ftype::IQ3_XS, true, &t(Role::MlpUp, Some(0)), &m),
            Ggml::IQ3_S
        );
        assert_eq!(
            tensor_type(Ftype::IQ3_XS, true, &t(Role::AttnV, Some(0)), &m),
            Ggml::Q4_K
        );
        // IQ3_M: attn_v Q4_K, first n/8 ffn_down Q4_K
        assert_eq!(
            tensor_type(Ftype::IQ3_M, true, &t(Role::MlpDown, Some(3)), &m),
            Ggml::Q4_K
        );
        assert_eq!(
            tensor_type(Ftype::IQ3_M, true, &t(Role::MlpDown, Some(4)), &m),
            Ggml::IQ3_S
        );
        // IQ4_XS: attn_v Q5_K with GQA >= 4, ffn_down Q5_K in the first n/8 only without an imatrix
        assert_eq!(
            tensor_type(Ftype::IQ4_XS, true, &t(Role::AttnV, Some(9)), &m),
            Ggml::Q5_K
        );
        assert_eq!(
            tensor_type(Ftype::IQ4_XS, true, &t(Role::MlpDown, Some(0)), &m),
            Ggml::IQ4_XS
        );
        assert_eq!(
            tensor_type(Ftype::IQ4_XS, false, &t(Role::MlpDown, Some(0)), &m),
            Ggml::Q5_K
        );
    }

    #[test]
    fn iq2_ffn_down_counts_tensors_not_layers() {
        // DeepSeek-like: 3 dense layers, then MoE layers with a shared expert: 2 ffn_down per MoE layer
        let m = GgufModel {
            layers: 61,
            experts: 256,
            dense_layers: 3,
            shared_expert: true,
            gqa: 1,
            ..GgufModel::default()
        };
        // the first 61/8 = 7 ffn_down tensors: layers 0-2 (counters 0-2), layer 3 exps and shexp (3, 4),
        // layer 4 exps and shexp (5, 6); layer 5's exps is the 8th
        assert_eq!(
            tensor_type(Ftype::IQ2_XXS, true, &t(Role::MlpDown, Some(2)), &m),
            Ggml::Q2_K
        );
        assert_eq!(
            tensor_type(Ftype::IQ2_XXS, true, &t(Role::MlpDown, Some(4)), &m),
            Ggml::Q2_K
        );
        assert_eq!(
            tensor_type(Ftype::IQ2_XXS, true, &t(Role::ExpertDown, Some(5)), &m),
            Ggml::IQ2_XXS
        );
        // a dense model counts layers: 7 of 61
        let d = GgufModel { experts: 0, ..m };
        assert_eq!(
            tensor_type(Ftype::IQ2_XXS, true, &t(Role::MlpDown, Some(6)), &d),
            Ggml::Q2_K
        );
        assert_eq!(
            tensor_type(Ftype::IQ2_XXS, true, &t(Role::MlpDown, Some(7)), &d),
            Ggml::IQ2_XXS
        );
    }

    #[test]
    fn mxfp4_moe_types_experts_mxfp4_and_the_rest_q8_0() {
        let m = GgufModel {
            layers: 24,
            experts: 32,
            gqa: 8,
            ..GgufModel::default()
        };
        let e = QuantTensor {
            role: Role::Expert,
            layer: Some(3),
            rows: 5760,
            cols: 2880,
        };
        assert_eq!(tensor_type(Ftype::MXFP4_MOE, false, &e, &m), Ggml::MXFP4);
        assert_eq!(
            tensor_type(Ftype::MXFP4_MOE, false, &t(Role::AttnQkv, Some(3)), &m),
            Ggml::Q8_0
        );
        assert_eq!(
            tensor_type(Ftype::MXFP4_MOE, false, &t(Role::Embedding, None), &m),
            Ggml::Q8_0
        );
    }

    #[test]
    fn use_more_bits_matches_llama_cpp_for_32_layers() {
        let more: Vec<u64> = (0..32).filter(|&i| use_more_bits(i, 32)).collect();
        assert_eq!(more, vec![0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
    }
}
