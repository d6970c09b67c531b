//! gpuplan's model spec as llama.cpp loads it: the graph family and hyper-parameters
//! (`llama_model::load_hparams`), and the weight tensors of the GGUF file with their types and the
//! buffer each lands in (`llama_model::load_tensors`).

use super::backend::Alloc;
use super::ggml::Type;
use super::graph::Weight;
use super::model::{Biases, Experts, Family, Model, Window};
use super::ComputeGraph;
use crate::estimate::arch::{Inventory, Part, TensorGroup};
use crate::spec::model::{ArchType, Architecture, NormKind};
use crate::spec::precision::{Format, QuantTensor, Role, StorageType, TypeRules};
use std::collections::HashMap;

/// llama.cpp's model for an architecture, and whether its graph family is the one llama.cpp builds
/// for it (else gpuplan replays the Llama graph of the same shapes instead).
pub fn model(a: &Architecture) -> (Model, ComputeGraph) {
    let experts = a.moe.as_ref().map(|m| Experts {
        count: m.experts,
        used: m.experts_per_token,
        ff: m.expert_intermediate_size.unwrap_or(a.intermediate_size),
        shared_ff: m.shared_expert_intermediate_size,
    });
    let modeled = |exact: bool| {
        if exact && a.mla.is_none() {
            ComputeGraph::Modeled
        } else {
            ComputeGraph::Approximated
        }
    };
    let (family, graph) = match a.kind {
        ArchType::Llama | ArchType::Mistral | ArchType::Mixtral => (Family::Llama, modeled(true)),
        ArchType::Qwen2 => (Family::Qwen2, modeled(true)),
        ArchType::Qwen2Moe => (Family::Qwen2Moe, modeled(true)),
        ArchType::Gemma => (Family::Gemma, modeled(true)),
        ArchType::Gemma2 => (Family::Gemma2, modeled(true)),
        // llama.cpp disables Phi-3's sliding window (phi3.cpp `load_arch_hparams`)
        ArchType::Phi3 => (Family::Phi3, modeled(a.fused_qkv)),
        // phimoe.cpp: Phi-3's graph with separate q, k, v (convert_hf_to_gguf.py does not fuse them)
        ArchType::Phimoe => (Family::PhiMoe, modeled(!a.fused_qkv)),
        // llama.cpp has phi2.cpp and deepseek2.cpp (multi-head latent attention); gpuplan does not
        // replay them
        ArchType::Phi | ArchType::DeepseekV2 | ArchType::DeepseekV3 => (Family::Llama, ComputeGraph::Approximated),
        // no llama.cpp architecture: "Model Phi3SmallForCausalLM is not supported"
        // (https://github.com/ggml-org/llama.cpp/issues/7922, block-sparse attention), and Phi3V's
        // converter and vision projector never landed (https://github.com/ggml-org/llama.cpp/issues/7444)
        ArchType::Phi3small | ArchType::Phi3V => (Family::Llama, ComputeGraph::Unsupported),
        ArchType::Qwen3 => (Family::Qwen3, modeled(true)),
        ArchType::Qwen3Moe => (Family::Qwen3Moe, modeled(true)),
        ArchType::Gemma3 => (Family::Gemma3, modeled(true)),
        ArchType::GptOss => (Family::GptOss, modeled(true)),
        // the text decoders llama.cpp runs with the Llama and Qwen2 graphs (convert_hf_to_gguf.py
        // writes Mistral 3 as `llama`; Qwen2.5-VL's vision tower is the separate mmproj file)
        ArchType::Mistral3 => (Family::Llama, modeled(true)),
        ArchType::Qwen2_5Vl => (Family::Qwen2, modeled(true)),
        // graphs gpuplan does not replay; the Llama graph of the same shapes stands in. For the
        // hybrids (recurrent layers) llama.cpp keeps KV only for the attention layers, so the KV
        // and compute buffers here are upper bounds
        ArchType::SmolLm3
        | ArchType::Granite
        | ArchType::Llama4
        | ArchType::Glm4Moe
        | ArchType::Qwen3Next
        | ArchType::GraniteMoeHybrid
        | ArchType::NemotronH
        | ArchType::FalconH1 => (Family::Llama, ComputeGraph::Approximated),
    };
    // the graphs that attend over a window in llama.cpp, with `hparams.set_swa_pattern`'s period
    // (Gemma 2, gpt-oss: every other layer; Gemma 3: five of six)
    let window = match (family, a.sliding_window) {
        (Family::Gemma2 | Family::GptOss, Some(size)) => Some(Window { size, pattern: 2 }),
        (Family::Gemma3, Some(size)) => Some(Window { size, pattern: 6 }),
        _ => None,
    };
    let model = Model {
        family,
        n_embd: a.hidden_size,
        n_layer: a.layers,
        n_head: a.attention_heads,
        n_head_kv: a.kv_heads(),
        head_dim: a.head_dim(),
        n_ff: a.intermediate_size,
        n_vocab: a.vocab_size,
        window,
        experts,
        bias: Biases {
            norm: a.norm == NormKind::Layer,
            qkv: a.qkv_bias,
            attn_out: a.o_bias,
            output: a.lm_head_bias,
        },
    };
    (model, graph)
}

/// A ggml type for a gpuplan storage type; None for storages GGUF files do not hold.
pub fn ggml_type(s: StorageType, cols: u64) -> Option<Type> {
    match s {
        StorageType::F32 => Some(Type::F32),
        StorageType::F16 => Some(Type::F16),
        StorageType::Bf16 => Some(Type::BF16),
        StorageType::Ggml(g) => Some(g.for_row(cols)),
        _ => None,
    }
}

/// Whether `format` is one llama.cpp loads (a GGUF file type or plain f32/f16/bf16 tensors).
pub fn is_gguf(format: &Format) -> bool {
    ggml_type(format.storage, 256).is_some() && ggml_type(format.keep, 256).is_some()
}

/// The type `format` (under `rules`) gives the graph weight `w` of layer `layer`.
pub fn weight_type(format: &Format, rules: &TypeRules, m: &Model, w: Weight, layer: Option<u64>) -> Type {
    let q = m.n_head * m.head_dim;
    let kv = m.n_head_kv * m.head_dim;
    let expert_ff = m.experts.map_or(m.n_ff, |x| x.ff);
    // (role, rows, cols): rows pick among a checkpoint's per-tensor types of one role
    let (role, rows, cols) = match w {
        Weight::TokenEmbd => (Role::Embedding, m.n_vocab, m.n_embd),
        Weight::Output => (Role::LmHead, m.n_vocab, m.n_embd),
        Weight::AttnQ => (Role::AttnQkv, q, m.n_embd),
        Weight::AttnQkv => (Role::AttnQkv, q + 2 * kv, m.n_embd),
        Weight::AttnK => (Role::AttnK, kv, m.n_embd),
        Weight::AttnV => (Role::AttnV, kv, m.n_embd),
        Weight::AttnOutput => (Role::AttnOut, m.n_embd, q),
        Weight::FfnGate | Weight::FfnUp => (Role::MlpUp, m.n_ff, m.n_embd),
        Weight::FfnGateShexp | Weight::FfnUpShexp => (
            Role::MlpUp,
            m.experts.and_then(|x| x.shared_ff).unwrap_or(m.n_ff),
            m.n_embd,
        ),
        Weight::FfnDown => (Role::MlpDown, m.n_embd, m.n_ff),
        Weight::FfnDownShexp => (
            Role::MlpDown,
            m.n_embd,
            m.experts.and_then(|x| x.shared_ff).unwrap_or(m.n_ff),
        ),
        Weight::FfnGateInp => (Role::Router, m.experts.map_or(1, |x| x.count), m.n_embd),
        Weight::FfnGateExps | Weight::FfnUpExps => (Role::Expert, expert_ff, m.n_embd),
        Weight::FfnDownExps => (Role::ExpertDown, m.n_embd, expert_ff),
    };
    let storage = format.storage_for(
        &QuantTensor {
            role,
            layer,
            rows,
            cols,
        },
        rules,
    );
    ggml_type(storage, cols).unwrap_or(Type::F16)
}

/// Which of llama.cpp's layers a weight belongs to: the input layer (token embeddings, always on
/// the CPU), a repeating layer, or the output layer (counted as layer `n_layer` by `-ngl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    Input,
    Layer(u64),
    Output,
}

/// A weight's name in the GGUF file without its block prefix: `blk.{il}.{base}.weight` (or `.bias`)
/// in a block, `{base}.weight` outside them (llama-arch.cpp `LLM_TENSOR_NAMES`). Tensor overrides
/// (`-ot`) match these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name {
    pub base: &'static str,
    pub bias: bool,
}

impl Name {
    const fn weight(base: &'static str) -> Name {
        Name { base, bias: false }
    }

    const fn bias(base: &'static str) -> Name {
        Name { base, bias: true }
    }

    /// `weight` or `bias`: the last part of the name.
    pub fn suffix(self) -> &'static str {
        if self.bias {
            "bias"
        } else {
            "weight"
        }
    }

    /// The full name of this weight at `place`, e.g. `blk.3.ffn_up_exps.weight`.
    pub fn at(self, place: Place) -> String {
        let suffix = self.suffix();
        match place {
            Place::Layer(il) => format!("blk.{il}.{}.{suffix}", self.base),
            Place::Input | Place::Output => format!("{}.{suffix}", self.base),
        }
    }
}

/// The GGUF names of one layer's tensors of group `g` (`count` of them, in llama.cpp's creation
/// order). Groups gpuplan keeps as one entry per layer (q/k/v biases, the norms, gate and up) are
/// told apart by position; a group gpuplan cannot name gets its role's name.
fn names(g: &TensorGroup, count: u64, layout: &Layout) -> Vec<Name> {
    let n = |base| Name::weight(base);
    let b = |base| Name::bias(base);
    let named: Vec<Name> = match g.role {
        Role::Embedding => vec![n("token_embd")],
        Role::LmHead => vec![n("output")],
        Role::Norm if !g.per_decoder_layer && layout.norm_bias => vec![n("output_norm"), b("output_norm")],
        Role::Norm if !g.per_decoder_layer => vec![n("output_norm")],
        Role::Norm if g.name.contains("q_a_layernorm") => vec![n("attn_q_a_norm")],
        Role::Norm if g.name.contains("kv_a_layernorm") => vec![n("attn_kv_a_norm")],
        // per-head q/k RMSNorms (Qwen3, Gemma 3) are `blk.N.attn_q_norm`/`attn_k_norm`
        // (LLM_TENSOR_ATTN_{Q,K}_NORM in src/llama-arch.cpp, created in src/models/qwen3moe.cpp of
        // the llama.cpp vendored by llama-cpp-sys-2 0.1.161), not `ffn_norm`: `create_tensor`
        // regex-searches `-ot` patterns in these names (src/llama-model-loader.cpp), so
        // `blk\.N\.ffn.*=CPU` leaves them on the layer's GPU. Named `ffn_norm` they moved 512 B
        // per such block to the CPU (the four Qwen3-235B-A22B `-ot` logs in validation/field/)
        Role::Norm if g.name.contains("q_norm+k_norm") => vec![n("attn_q_norm"), n("attn_k_norm")],
        Role::Norm if g.name.contains("sinks") => vec![n("attn_sinks")],
        // LayerNorm (Phi-3.5-MoE): each norm's weight, then its bias (`attn_norm_b`, `ffn_norm_b`
        // in src/models/phimoe.cpp's `load_arch_tensors`)
        Role::Norm if layout.norm_bias => vec![n("attn_norm"), b("attn_norm"), n("ffn_norm"), b("ffn_norm")],
        Role::Norm => match count {
            4 => vec![
                n("attn_norm"),
                n("post_attention_norm"),
                n("ffn_norm"),
                n("post_ffw_norm"),
            ],
            _ => vec![n("attn_norm"), n("ffn_norm")],
        },
        Role::AttnQkv if layout.fused_qkv => vec![n("attn_qkv")],
        Role::AttnQkv if g.name.contains("q_a_proj") => vec![n("attn_q_a")],
        Role::AttnQkv if g.name.contains("q_b_proj") => vec![n("attn_q_b")],
        Role::AttnQkv => vec![n("attn_q")],
        Role::AttnK if g.name.contains("kv_a_proj") => vec![n("attn_kv_a_mqa")],
        Role::AttnK | Role::AttnV if g.name.contains("kv_b_proj") => vec![n("attn_kv_b")],
        Role::AttnK => vec![n("attn_k")],
        Role::AttnV => vec![n("attn_v")],
        Role::AttnOut => vec![n("attn_output")],
        Role::MlpUp if g.name.contains("shared_expert") => vec![n("ffn_gate_shexp"), n("ffn_up_shexp")],
        Role::MlpUp if count == 2 => vec![n("ffn_gate"), n("ffn_up")],
        Role::MlpUp => vec![n("ffn_up")],
        Role::MlpDown if g.name.contains("shared_expert") => vec![n("ffn_down_shexp")],
        Role::MlpDown => vec![n("ffn_down")],
        Role::Expert => vec![n("ffn_gate_exps"), n("ffn_up_exps")],
        Role::ExpertDown => vec![n("ffn_down_exps")],
        Role::Router if g.name.contains("shared_expert_gate") => vec![n("ffn_gate_inp_shexp")],
        Role::Router => vec![n("ffn_gate_inp")],
        Role::Bias if g.name.contains("q_proj") => vec![b("attn_q")],
        Role::Bias if g.name.contains("k_proj") => vec![b("attn_k"), b("attn_v")],
        Role::Bias if g.name.contains("o_proj") => vec![b("attn_output")],
        Role::Bias if g.name.contains("gate.bias") => vec![b("ffn_gate_inp")],
        Role::Bias if g.name.contains("up") => vec![b("ffn_up")],
        Role::Bias if g.name.contains("down") => vec![b("ffn_down")],
        Role::Bias if !g.per_decoder_layer => vec![b("output")],
        Role::Bias => vec![b("bias")],
        Role::Vision | Role::Projector | Role::Other => vec![n("other")],
    };
    (0..count as usize)
        .map(|i| named.get(i).or(named.last()).copied().unwrap_or(n("other")))
        .collect()
}

/// One weight tensor of the GGUF file: where it goes, its type's row length and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tensor {
    pub name: Name,
    /// a stacked routed-expert tensor: a token reads `k` of its `E` expert slices
    pub routed: bool,
    pub place: Place,
    pub ty: Type,
    /// elements per row (`ne0`): CUDA pads quantized rows to 512 elements
    pub ne0: u64,
    pub nbytes: u64,
}

impl Tensor {
    /// Bytes in a buffer of `alloc`'s type: its allocation size, aligned.
    pub fn bytes_in(&self, alloc: Alloc) -> u64 {
        alloc.tensor_bytes(self.ty, self.ne0, self.nbytes)
    }
}

/// Tensors of a group as GGUF stores them: routed experts stacked into one 3-D tensor per matrix
/// kind (`ffn_gate_exps`, `ffn_up_exps`, `ffn_down_exps`).
fn tensors_per_layer(g: &TensorGroup, experts: u64) -> (u64, u64) {
    if g.routed_expert && experts > 0 {
        (g.count_per_layer / experts, experts)
    } else {
        (g.count_per_layer, 1)
    }
}

/// What the file layout depends on beyond the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub n_layer: u64,
    /// q, k and v in one `attn_qkv` tensor
    pub fused_qkv: bool,
    /// gate and up in one `ffn_up` tensor (Phi-3)
    pub fused_up: bool,
    /// no `output.weight`: llama.cpp duplicates `token_embd` as the output
    pub tied: bool,
    /// LayerNorm: every norm is a weight and a bias (`attn_norm.weight`, `attn_norm.bias`)
    pub norm_bias: bool,
}

impl Layout {
    pub fn of(a: &Architecture) -> Layout {
        Layout {
            n_layer: a.layers,
            fused_qkv: a.fused_qkv,
            fused_up: matches!(a.kind, ArchType::Phi3 | ArchType::Phi3V),
            tied: a.tie_embeddings,
            norm_bias: a.norm == NormKind::Layer,
        }
    }
}

/// Every weight tensor llama.cpp loads for the text model of `inv` in `format` (the vision tower
/// ships as a separate mmproj file). Fused tensors are one tensor per layer; a tied output is the
/// token embedding matrix again, on the output's device. None when `format` is not a GGUF type.
pub fn tensors(inv: &Inventory, layout: &Layout, format: &Format, rules: &TypeRules) -> Option<Vec<Tensor>> {
    if !is_gguf(format) {
        return None;
    }
    let experts = inv.moe.map_or(0, |(_, e)| e);
    let mut out: Vec<Tensor> = Vec::new();
    // q, k and v (or gate and up) that the file holds as one tensor: its index in `out`
    let mut fused: HashMap<(Place, Role), usize> = HashMap::new();
    for g in inv.groups.iter().filter(|g| g.part == Part::Text) {
        let first = layout.n_layer.saturating_sub(g.layers);
        for l in 0..if g.per_decoder_layer { g.layers } else { 1 } {
            let tensor = QuantTensor {
                role: g.role,
                layer: g.per_decoder_layer.then_some(l),
                rows: g.rows,
                cols: g.cols,
            };
            let storage = format.storage_for(&tensor, rules);
            let ty = ggml_type(storage, g.cols)?;
            let place = match (g.role, g.per_decoder_layer) {
                (Role::Embedding, _) => Place::Input,
                (_, true) => Place::Layer(first + l),
                (_, false) => Place::Output,
            };
            let (count, stacked) = tensors_per_layer(g, experts);
            let named = names(g, count, layout);
            let one = Tensor {
                name: named[0],
                routed: g.routed_expert && stacked > 1,
                place,
                ty,
                ne0: g.cols,
                nbytes: storage.bytes(g.rows, g.cols) * stacked,
            };
            let is_fused = (layout.fused_qkv && g.role == Role::AttnQkv) || (layout.fused_up && g.role == Role::MlpUp);
            if is_fused {
                match fused.get(&(place, g.role)) {
                    Some(&i) => out[i].nbytes += one.nbytes * count,
                    None => {
                        fused.insert((place, g.role), out.len());
                        let base = if g.role == Role::AttnQkv { "attn_qkv" } else { "ffn_up" };
                        out.push(Tensor {
                            name: Name::weight(base),
                            nbytes: one.nbytes * count,
                            ..one
                        });
                    }
                }
            } else {
                out.extend(named.into_iter().map(|name| Tensor { name, ..one }));
            }
            if g.role == Role::Embedding && layout.tied {
                out.push(Tensor {
                    name: Name::weight("output"),
                    place: Place::Output,
                    ..one
                });
            }
        }
    }
    Some(out)
}

/// The model buffers llama.cpp prints, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelBuffers {
    /// "CUDA0 model buffer size"
    pub gpu: u64,
    /// "CPU_Mapped model buffer size" (mmap) or "CUDA_Host model buffer size" (`--no-mmap`)
    pub host: u64,
}

/// Where each tensor goes with `gpu_layers` of the `n_layer + 1` layers on the GPU (the last ones;
/// the output layer first), and the two buffers' sizes. On the host, a mapped file is one range from
/// the first to the last CPU tensor (GGUF aligns tensor data to 32 bytes; the CPU tensors are taken
/// to be contiguous in the file, token embeddings first), an unmapped one a buffer of 32-byte
/// aligned tensors.
pub fn model_buffers(tensors: &[Tensor], n_layer: u64, gpu_layers: u64, mmap: bool) -> ModelBuffers {
    let first_gpu_layer = (n_layer + 1).saturating_sub(gpu_layers);
    let on_gpu = |p: Place| match p {
        Place::Input => false,
        Place::Layer(il) => il >= first_gpu_layer,
        Place::Output => gpu_layers > 0,
    };
    let gpu = tensors
        .iter()
        .filter(|t| on_gpu(t.place))
        .map(|t| t.bytes_in(Alloc::Cuda))
        .sum();
    let host_tensors: Vec<&Tensor> = tensors.iter().filter(|t| !on_gpu(t.place)).collect();
    let aligned: u64 = host_tensors.iter().map(|t| t.bytes_in(Alloc::Host)).sum();
    let host = match host_tensors.last() {
        // the range ends at the last tensor's last byte, not at its padding
        Some(last) if mmap => aligned - last.bytes_in(Alloc::Host) + last.nbytes,
        _ => aligned,
    };
    ModelBuffers { gpu, host }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::arch::{check_declared, inventory};
    use crate::spec::precision::TypeRules;
    use crate::spec::Catalog;

    /// The model buffers (CUDA0, host) of a catalog model in a format with `gpu_layers` offloaded,
    /// in MiB as llama.cpp prints them.
    fn buffers(id: &str, format: &str, gpu_layers: Option<u64>, mmap: bool) -> (String, String) {
        let (t, layers) = catalog_tensors(id, format);
        let b = model_buffers(&t, layers, gpu_layers.unwrap_or(layers + 1), mmap);
        let mib = |x: u64| format!("{:.2}", x as f64 / 1048576.0);
        (mib(b.gpu), mib(b.host))
    }

    /// The tensors of a catalog model in a format, and its block count.
    fn catalog_tensors(id: &str, format: &str) -> (Vec<Tensor>, u64) {
        let spec = Catalog::embedded(check_declared)
            .and_then(|c| c.model(id, check_declared))
            .expect("catalog model");
        let a = spec.architecture.as_ref().expect("architecture");
        let f = Format::parse(format).expect("format");
        let inv = inventory(&spec);
        let rules = TypeRules {
            model: &inv.gguf,
            checkpoint: None,
        };
        (
            tensors(&inv, &Layout::of(a), f, &rules).expect("a GGUF format"),
            a.layers,
        )
    }

    #[test]
    fn a_qwen3_moe_block_has_the_five_f32_tensors_of_the_gguf_by_name() {
        // validation/field/llamacpp-offload-qwen3-235b-a22b-a6000-ot-ffn14-nommap.json: "type f32:
        // 471 tensors", five per block and output_norm; the q/k norms (128 f32 each) are `attn_*`,
        // so `-ot "blk\.N\.ffn.*=CPU"` moves ffn_norm and ffn_gate_inp but not them
        let (t, layers) = catalog_tensors("qwen3-235b-a22b", "q8_0");
        assert_eq!(layers, 94);
        let mut got: Vec<(String, u64)> = t
            .iter()
            .filter(|t| t.place == Place::Layer(7) && t.ty == Type::F32)
            .map(|t| (t.name.at(t.place), t.nbytes))
            .collect();
        got.sort();
        let want = [
            ("blk.7.attn_k_norm.weight", 128 * 4),
            ("blk.7.attn_norm.weight", 4096 * 4),
            ("blk.7.attn_q_norm.weight", 128 * 4),
            ("blk.7.ffn_gate_inp.weight", 4096 * 128 * 4),
            ("blk.7.ffn_norm.weight", 4096 * 4),
        ];
        assert_eq!(got, want.map(|(n, b)| (n.to_string(), b)));
        assert_eq!(t.iter().filter(|t| t.ty == Type::F32).count(), 471);
    }

    #[test]
    fn a_layernorm_block_names_its_norm_biases_as_llama_cpp_does() {
        // src/models/phimoe.cpp creates attn_norm, attn_norm_b, ffn_norm, ffn_norm_b: the biases are
        // `blk.N.attn_norm.bias` and `blk.N.ffn_norm.bias` (the CI's RPC split of Phi-3.5-MoE with
        // --n-cpu-moe found them named as Gemma's post-norms, sorting after the experts)
        let (t, _) = catalog_tensors("phi-3.5-moe", "q4_k_m");
        let mut norms: Vec<String> = t
            .iter()
            .filter(|t| t.place == Place::Layer(3) && t.name.base.contains("norm"))
            .map(|t| t.name.at(t.place))
            .collect();
        norms.sort();
        assert_eq!(
            norms,
            [
                "blk.3.attn_norm.bias",
                "blk.3.attn_norm.weight",
                "blk.3.ffn_norm.bias",
                "blk.3.ffn_norm.weight"
            ]
        );
        let outside: Vec<String> = t
            .iter()
            .filter(|t| t.place == Place::Output && t.name.base == "output_norm")
            .map(|t| t.name.at(t.place))
            .collect();
        assert_eq!(outside, ["output_norm.weight", "output_norm.bias"]);
    }

    #[test]
    fn everything_but_the_token_embeddings_goes_to_the_gpu() {
        // validation/field/llamacpp-ollama-qwen2.5-coder-7b-q4km-ctx4096-rtx3060.json
        assert_eq!(
            buffers("qwen2.5-7b", "q4_k_m", None, true),
            ("4168.09".into(), "292.36".into())
        );
        // validation/field/llamacpp-ollama-deepseek-r1-distill-llama-8b-q4km-ctx8192-np4.json
        assert_eq!(
            buffers("llama-3.1-8b", "q4_k_m", None, true),
            ("4403.49".into(), "281.81".into())
        );
        // validation/field/llamacpp-ollama-rocm-mistral-7b-q4km-ctx4096-rx7900gre.json (ROCm0)
        assert_eq!(
            buffers("mistral-7b-v0.3", "q4_k_m", None, true),
            ("4097.52".into(), "72.00".into())
        );
    }

    #[test]
    fn a_tied_output_is_a_second_copy_of_the_embeddings_on_the_gpu() {
        // validation/field/llamacpp-ollama-llama-3.2-3b-q4km-ctx8192-np4.json: 308.23 MiB of Q6_K
        // embeddings on the host and again in the 1918.35 MiB on the GPU
        assert_eq!(
            buffers("llama-3.2-3b", "q4_k_m", None, false),
            ("1918.35".into(), "308.23".into())
        );
    }

    #[test]
    fn fused_qkv_and_gate_up_are_one_tensor_each() {
        // validation/field/llamacpp-webui-phi-3-mini-4k-q4-ctx4096-ub256.json
        assert_eq!(
            buffers("phi-3-mini-4k", "q4_k_m", None, true),
            ("2228.82".into(), "52.84".into())
        );
    }

    #[test]
    fn ngl_counts_the_output_layer_first() {
        let full = buffers("llama-3.1-8b", "q4_k_m", None, true);
        assert_eq!(buffers("llama-3.1-8b", "q4_k_m", Some(33), true), full);
        // -ngl 1: the output layer alone (Q6_K output.weight and the f32 output norm)
        let output = StorageType::Ggml(Type::Q6_K).bytes(128256, 4096) + 4096 * 4;
        assert_eq!(
            buffers("llama-3.1-8b", "q4_k_m", Some(1), true).0,
            format!("{:.2}", output as f64 / 1048576.0)
        );
        // -ngl 0: nothing on the GPU
        assert_eq!(buffers("llama-3.1-8b", "q4_k_m", Some(0), true).0, "0.00");
    }

    #[test]
    fn not_every_format_is_a_gguf_type() {
        assert!(is_gguf(Format::parse("q4_k_m").expect("format")));
        assert!(is_gguf(Format::parse("bf16").expect("format")));
        assert!(!is_gguf(Format::parse("gptq-int4").expect("format")));
    }
}
