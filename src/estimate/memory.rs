//! The memory estimate for one (model, format, runtime, GPU) at a context and batch: weights + KV
//! cache + peak activations + overheads, each term itemized with its formula and source.

use super::activations::{self as act, Geometry};
use super::arch::vision::{crop_grid, image_tokens};
use super::kv::{self, KvPerToken};
use super::overhead;
use super::pipeline::{self, Stage};
use super::runtime::{AttentionImpl, KvAlloc};
use super::{ModelFacts, Setup, WeightFacts};
use crate::spec::gpu::GpuSpec;
use crate::spec::precision::StorageType;
use serde::Serialize;

/// One itemized term.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Term {
    pub name: &'static str,
    pub bytes: u64,
    pub formula: String,
    pub source: &'static str,
}

/// The itemized estimate for one GPU (under tensor parallelism, every GPU of a stage holds the same;
/// under pipeline parallelism, one [`Prepared`] per stage).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Memory {
    pub weights: Vec<super::weights::WeightLine>,
    pub weights_bytes: u64,
    pub kv_cache: Term,
    pub kv_cache_bytes: u64,
    /// the activation terms alive at the peak phase
    pub activations: Vec<Term>,
    pub activations_bytes: u64,
    /// which phase sets the activation peak: attention, mlp, logits, vision encoder, f32 widening
    pub activation_peak_phase: &'static str,
    pub overhead: Vec<Term>,
    pub overhead_bytes: u64,
    pub total_bytes: u64,
    /// what the runtime may use on this GPU (vLLM: gpu_memory_utilization x visible total)
    pub available_bytes: u64,
    /// what a CUDA program can allocate at all
    pub visible_bytes: u64,
}

/// Everything the estimate needs, precomputed for one (setup, GPU).
#[derive(Debug, Clone)]
pub struct Prepared<'a> {
    pub setup: Setup<'a>,
    pub gpu: &'a GpuSpec,
    pub facts: &'a ModelFacts,
    pub weights: &'a WeightFacts,
    pub kv: KvPerToken,
    pub geometry: Geometry,
    /// activation element size, bytes
    pub act_bytes: u64,
    /// image tokens per sequence
    pub image_tokens: u64,
    pub visible: u64,
    pub budget: u64,
    /// the pipeline stage estimated (the whole model without pipeline parallelism)
    pub stage: Stage,
    /// parameters whose matmuls run per token on this stage, before the tensor-parallel split
    pub matmul_params: u64,
}

/// Numeric values of every term, without the text; `memory()` and `total()` share it.
#[derive(Debug, Clone, Copy, Default)]
struct Terms {
    kv: u64,
    residual: u64,
    qkv: u64,
    scores: u64,
    mask: u64,
    gqa: u64,
    attn_out: u64,
    kv_append: u64,
    mlp: u64,
    logits: u64,
    widening: u64,
    vision: u64,
    context: u64,
    workspace: u64,
    modules: u64,
    fixed: u64,
    rounding: u64,
    rope: u64,
    slack: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Attention,
    Mlp,
    Logits,
    Widening,
    Vision,
}

impl Terms {
    fn phases(&self) -> [(Phase, u64); 5] {
        let attention = self.residual + self.qkv + self.scores + self.mask + self.gqa + self.attn_out + self.kv_append;
        [
            (Phase::Attention, attention),
            (Phase::Mlp, self.residual + self.mlp),
            (Phase::Logits, self.residual + self.logits),
            (
                Phase::Widening,
                if self.widening > 0 {
                    self.residual + self.widening
                } else {
                    0
                },
            ),
            (Phase::Vision, self.vision),
        ]
    }

    fn peak(&self) -> (Phase, u64) {
        self.phases()
            .into_iter()
            .fold((Phase::Attention, 0), |best, p| if p.1 > best.1 { p } else { best })
    }

    fn overhead(&self) -> u64 {
        self.context + self.workspace + self.modules + self.fixed + self.rounding + self.rope + self.slack
    }
}

impl<'a> Prepared<'a> {
    pub fn new(setup: Setup<'a>, gpu: &'a GpuSpec, facts: &'a ModelFacts, weights: &'a WeightFacts) -> Self {
        let model = setup.model;
        let tp = setup.tp.max(1);
        let stage = pipeline::stage(model, setup.pp, setup.stage);
        let kv = pipeline::stage_kv(model, setup.kv, tp, &stage);
        let mut geometry = geometry(model, tp, &kv);
        if !stage.is_whole() {
            geometry.layers = stage.layers;
        }
        let matmul_params = pipeline::matmul_parameters(model, facts, &stage, geometry.vocab * tp, geometry.hidden);
        let image_tokens = match &model.vision {
            Some(v) if setup.images > 0 => {
                let crops = if setup.crops == 0 {
                    v.default_crops
                } else {
                    setup.crops.min(v.max_crops)
                };
                let (h, w) = crop_grid(crops);
                setup.images * image_tokens(v, h, w)
            }
            _ => 0,
        };
        let visible = overhead::visible_total(gpu, setup.ecc);
        let budget = match setup.runtime.kv_alloc {
            KvAlloc::Paged { utilization, .. } => (visible as f64 * utilization) as u64,
            _ => visible,
        };
        Prepared {
            setup,
            gpu,
            facts,
            weights,
            kv,
            geometry,
            act_bytes: setup.format.activation_bytes(),
            image_tokens,
            visible,
            budget,
            stage,
            matmul_params,
        }
    }

    /// Tokens one sequence holds in the KV cache: text context plus image tokens.
    pub fn sequence_tokens(&self, context: u64) -> u64 {
        context + self.image_tokens
    }

    fn terms(&self, context: u64, batch: u64) -> Terms {
        let rt = self.setup.runtime;
        let g = &self.geometry;
        let a = self.act_bytes;
        let tokens = self.sequence_tokens(context);
        let block = match rt.kv_alloc {
            KvAlloc::Paged { block, .. } => block,
            _ => 1,
        };
        let kv_bytes = kv::cache_bytes(
            &self.kv,
            kv::cached_tokens(tokens, block),
            batch,
            rt.honors_sliding_window,
        );
        let chunk = prefill_chunk(rt, tokens);
        let t = tokens_in_flight(rt, chunk, batch, tokens);
        let mut terms = Terms {
            kv: kv_bytes,
            residual: act::residual_stream(g, t, a),
            qkv: act::qkv(g, t, a),
            attn_out: act::attention_output(g, t, a),
            mlp: if rt.fused_moe {
                act::mlp_fused_moe(g, t, a)
            } else {
                act::mlp(g, t, a)
            },
            // only the last pipeline stage computes logits
            logits: if self.stage.is_last() {
                act::logits(g, batch, if rt.logits_f32 { 4 } else { a })
            } else {
                0
            },
            ..Terms::default()
        };
        if let AttentionImpl::Eager { copies, expands_gqa } = rt.attention {
            terms.scores = act::attention_scores(g, batch, chunk, tokens, a, copies);
            terms.mask = act::attention_mask(batch, chunk, tokens, a);
            if expands_gqa {
                terms.gqa = act::gqa_expansion(g, batch, tokens, a);
            }
        }
        if rt.kv_alloc == KvAlloc::Grow && g.layers > 0 {
            // extending one layer's cache: the old copy is alive until the new one replaces it
            terms.kv_append = kv_bytes / g.layers;
        }
        if rt.is_cpu() && self.setup.format.keep == StorageType::Bf16 {
            terms.widening = act::cpu_bf16_widening(self.weights.largest_matrix, self.weights.largest_rows, batch);
        }
        // the vision tower runs on the first pipeline stage
        if let (Some(v), true) = (&self.setup.model.vision, self.image_tokens > 0 && self.stage.is_first()) {
            let crops = if self.setup.crops == 0 {
                v.default_crops
            } else {
                self.setup.crops.min(v.max_crops)
            };
            let views = batch * self.setup.images * (crops + 1);
            let n = (v.image_size / v.patch_size).pow(2) + 1;
            let copies = match rt.attention {
                AttentionImpl::Eager { copies, .. } => copies,
                AttentionImpl::Fused => 0,
            };
            terms.vision = act::vision_encoder(
                views,
                n,
                v.hidden_size,
                v.attention_heads,
                v.intermediate_size,
                a,
                copies,
            );
        }
        if !rt.is_cpu() {
            terms.context = overhead::cuda_context(rt);
            terms.workspace = overhead::blas_workspace(self.gpu, rt);
            terms.modules = overhead::kernel_modules(rt);
            terms.fixed = overhead::runtime_fixed(rt);
        }
        terms.rounding = if rt.granularity_bytes == 2 << 20 {
            if rt.stacked_experts {
                self.weights.rounding_2mib_stacked
            } else {
                self.weights.rounding_2mib
            }
        } else {
            0
        };
        if rt.rope_tables {
            terms.rope = rope_tables(self.setup.model.max_context, self.kv.head_dim, a);
        }
        let (_, peak) = terms.peak();
        terms.slack = overhead::fragmentation(rt, kv_bytes + peak);
        terms
    }

    /// Total bytes per GPU (the fast path of [`Prepared::memory`]).
    pub fn total(&self, context: u64, batch: u64) -> u64 {
        let t = self.terms(context, batch);
        self.weights.total + t.kv + t.peak().1 + t.overhead()
    }

    pub fn fits(&self, context: u64, batch: u64) -> bool {
        self.total(context, batch) <= self.budget
    }

    /// The itemized estimate.
    pub fn memory(&self, context: u64, batch: u64) -> Memory {
        let t = self.terms(context, batch);
        let rt = self.setup.runtime;
        let g = &self.geometry;
        let a = self.act_bytes;
        let tokens = self.sequence_tokens(context);
        let chunk = prefill_chunk(rt, tokens);
        let (phase, peak) = t.peak();
        // MLA caches one latent + rotary key per layer, no separate K and V
        let mla = self.setup.model.architecture.as_ref().is_some_and(|a| a.mla.is_some());
        let per_token = if mla {
            format!(
                "{} layers x {} latent + rotary key x {}",
                self.kv.layers,
                self.kv.head_dim,
                self.setup.kv.label()
            )
        } else {
            format!(
                "2 x {} layers x {} kv heads x {} head dim x {}",
                self.kv.layers,
                self.kv.kv_heads,
                self.kv.head_dim,
                self.setup.kv.label()
            )
        };
        let kv_formula = format!(
            "{batch} seq x {tokens} tok{} x {} B/token ({per_token}){}",
            if self.image_tokens > 0 {
                format!(" (incl. {} image)", self.image_tokens)
            } else {
                String::new()
            },
            self.kv.total(),
            match rt.kv_alloc {
                KvAlloc::Paged { block, .. } => format!(", rounded up to {block}-token blocks"),
                KvAlloc::Preallocated => ", allocated for the whole context at start".into(),
                KvAlloc::Grow => String::new(),
            }
        );
        let kv_cache = Term {
            name: "kv cache",
            bytes: t.kv,
            formula: kv_formula,
            source: "2 x layers x kv_heads x head_dim x bytes per token (DESIGN.md)",
        };
        let mut activations = vec![];
        let mut push = |name, bytes: u64, formula: String, source| {
            if bytes > 0 {
                activations.push(Term {
                    name,
                    bytes,
                    formula,
                    source,
                });
            }
        };
        let t_tok = tokens_in_flight(rt, chunk, batch, tokens);
        match phase {
            Phase::Attention | Phase::Mlp | Phase::Logits | Phase::Widening => push(
                "residual stream",
                t.residual,
                format!("2 x {t_tok} tokens x {} hidden x {a} B", g.hidden),
                "layer input + normed copy",
            ),
            Phase::Vision => {}
        }
        match phase {
            Phase::Attention => {
                push(
                    "q/k/v",
                    t.qkv,
                    format!(
                        "{t_tok} tokens x (2x{} + 3x{} heads) x {} x {a} B",
                        g.heads, g.kv_heads, g.head_dim
                    ),
                    "projections + rotated copies",
                );
                push(
                    "attention scores",
                    t.scores,
                    format!(
                        "{} copies x {batch} x {} heads x {chunk} x {tokens} x {a} B",
                        copies(rt),
                        g.heads
                    ),
                    "eager attention (candle-transformers phi3.rs)",
                );
                push(
                    "attention mask",
                    t.mask,
                    format!("{batch} x {chunk} x {tokens} x {a} B"),
                    "causal mask expanded to the batch",
                );
                push(
                    "gqa k/v expansion",
                    t.gqa,
                    format!("2 x {batch} x {} heads x {tokens} x {} x {a} B", g.heads, g.head_dim),
                    "repeat_kv().contiguous()",
                );
                push(
                    "attention output",
                    t.attn_out,
                    format!("{t_tok} tokens x ({} + {}) x {a} B", g.heads * g.head_dim, g.hidden),
                    "before and after o_proj",
                );
                push(
                    "kv append (old copy)",
                    t.kv_append,
                    format!("kv cache / {} layers", g.layers),
                    "Tensor::cat keeps the old cache alive while writing the new one",
                );
            }
            Phase::Mlp => push(
                "mlp intermediates",
                t.mlp,
                format!("{t_tok} tokens x (4 x {} + {}) x {a} B", g.intermediate, g.hidden),
                "gate/up output, activation, product, down output",
            ),
            Phase::Logits => push(
                "logits",
                t.logits,
                format!("{batch} x {} vocab x {} B", g.vocab, if rt.logits_f32 { 4 } else { a }),
                "last position per sequence",
            ),
            Phase::Widening => push(
                "f32 widening (cpu bf16 matmul)",
                t.widening,
                format!("{} weights x 4 B + io", self.weights.largest_matrix),
                "candle-core cpu_backend matmul: to_f32_vec on both operands",
            ),
            Phase::Vision => push(
                "vision encoder",
                t.vision,
                "views x 577 tokens x layer buffers + eager scores".into(),
                "CLIP ViT forward over HD crops",
            ),
        }
        let mut overhead = vec![];
        let mut push = |name, bytes: u64, formula: String, source| {
            if bytes > 0 {
                overhead.push(Term {
                    name,
                    bytes,
                    formula,
                    source,
                });
            }
        };
        push(
            "cuda context",
            t.context,
            format!("{} MiB ({} profile)", rt.context_mib, rt.id),
            rt.sources,
        );
        push(
            "kernel modules",
            t.modules,
            format!("{} MiB loaded on first use ({} profile)", rt.modules_mib, rt.id),
            rt.sources,
        );
        push(
            "cublas workspace",
            t.workspace,
            match rt.blas_workspace_mib {
                Some(mib) => format!("{mib} MiB (measured for {})", rt.id),
                None if self.gpu.is_hopper_or_newer() => "32 MiB (Hopper+)".into(),
                None => "4 MiB".into(),
            },
            "cuBLAS docs via pytorch/pytorch PR #120925; measured where the profile says so",
        );
        push("runtime fixed", t.fixed, format!("{} MiB", rt.fixed_mib), rt.sources);
        push(
            "allocator rounding",
            t.rounding,
            "tensors over 10 MiB rounded up to 2 MiB, smaller ones to 512 B".into(),
            "caching allocator / CUDA mempool granularity",
        );
        push(
            "rope tables",
            t.rope,
            format!(
                "2 x {} positions x {}/2 x {a} B",
                self.setup.model.max_context, self.kv.head_dim
            ),
            "candle-transformers RotaryEmbedding::new",
        );
        push(
            "fragmentation",
            t.slack,
            format!("{} x (kv + activations)", rt.slack_fraction),
            rt.sources,
        );
        let overhead_bytes = t.overhead();
        Memory {
            weights: self.weights.lines.clone(),
            weights_bytes: self.weights.total,
            kv_cache,
            kv_cache_bytes: t.kv,
            activations,
            activations_bytes: peak,
            activation_peak_phase: match phase {
                Phase::Attention => "attention",
                Phase::Mlp => "mlp",
                Phase::Logits => "logits",
                Phase::Widening => "f32 widening",
                Phase::Vision => "vision encoder",
            },
            overhead,
            overhead_bytes,
            total_bytes: self.weights.total + t.kv + peak + overhead_bytes,
            available_bytes: self.budget,
            visible_bytes: self.visible,
        }
    }
}

fn copies(rt: &super::Runtime) -> u64 {
    match rt.attention {
        AttentionImpl::Eager { copies, .. } => copies,
        AttentionImpl::Fused => 0,
    }
}

/// Tokens per prefill step: the runtime's chunk, or the whole prompt; runtimes that reserve a full
/// chunk up front size activations for it even for shorter prompts.
fn prefill_chunk(rt: &super::Runtime, tokens: u64) -> u64 {
    match rt.prefill_chunk {
        Some(c) if rt.reserves_full_chunk => c,
        Some(c) => c.min(tokens),
        None => tokens,
    }
    .max(1)
}

/// Tokens one prefill step processes: chunk x batch, or at most the step budget when the runtime's
/// chunk bounds the whole step (then the batch's prompts share it).
fn tokens_in_flight(rt: &super::Runtime, chunk: u64, batch: u64, tokens: u64) -> u64 {
    if rt.step_token_budget {
        if rt.reserves_full_chunk {
            chunk
        } else {
            chunk.min(batch * tokens)
        }
    } else {
        batch * chunk
    }
}

/// RoPE tables: sin and cos for every position, head_dim/2 frequencies each, in the compute dtype:
/// 2 x max_context x head_dim/2 x a.
pub fn rope_tables(max_context: u64, head_dim: u64, a: u64) -> u64 {
    2 * max_context * (head_dim / 2) * a
}

/// Activation geometry on one GPU. Summary specs guess a shape from the KV geometry and parameter
/// count (hidden ~ sqrt(params / (12 x layers)), the standard 12·L·h² transformer count).
fn geometry(model: &crate::spec::model::ModelSpec, tp: u64, kv: &KvPerToken) -> Geometry {
    if let Some(a) = &model.architecture {
        let heads = a.attention_heads.div_ceil(tp);
        let intermediate = a
            .moe
            .as_ref()
            .and_then(|m| m.expert_intermediate_size)
            .unwrap_or(a.intermediate_size);
        return Geometry {
            hidden: a.hidden_size,
            layers: a.layers,
            heads,
            kv_heads: kv.kv_heads,
            head_dim: a.head_dim(),
            intermediate: intermediate.div_ceil(tp),
            moe: a.moe.as_ref().map(|m| (m.experts_per_token, m.experts)),
            vocab: a.vocab_size.div_ceil(tp),
        };
    }
    let shape = model.kv_cache.as_ref();
    let layers = if kv.layers > 0 { kv.layers } else { 32 };
    let params = model.parameters.unwrap_or(0) as f64;
    let hidden = shape
        .and_then(|s| s.hidden_size)
        .unwrap_or_else(|| ((params / (12.0 * layers as f64)).sqrt() as u64).max(1));
    let head_dim = if kv.head_dim > 0 { kv.head_dim } else { 128 };
    Geometry {
        hidden,
        layers,
        heads: (hidden / head_dim).max(1).div_ceil(tp),
        kv_heads: kv.kv_heads.max(1),
        head_dim,
        intermediate: (hidden * 7 / 2).div_ceil(tp),
        moe: None,
        vocab: shape.and_then(|s| s.vocab_size).unwrap_or(32_000).div_ceil(tp),
    }
}
