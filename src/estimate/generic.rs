//! The generic itemized memory accounting, for engines without accounting of their own (candle,
//! transformers): weights + KV cache + the activation peak of one forward step + overheads, each
//! term with its formula and source. vLLM's profile run reuses [`forward`] for its dummy forward.

use super::activations as act;
use super::breakdown::{Memory, Phase, Term};
use super::engine::{AttentionImpl, KvAlloc, Runtime};
use super::kv;
use super::overhead;
use super::prepared::Prepared;
use crate::spec::precision::StorageType;

/// The activation terms of one forward step, numeric only (`memory()` adds the words).
#[derive(Debug, Clone, Copy, Default)]
pub struct Activations {
    pub residual: u64,
    pub qkv: u64,
    pub scores: u64,
    pub mask: u64,
    pub gqa: u64,
    pub attn_out: u64,
    pub kv_append: u64,
    pub mlp: u64,
    pub logits: u64,
    pub widening: u64,
    pub vision: u64,
}

impl Activations {
    fn phases(&self) -> [(Phase, u64); 5] {
        let sum = |xs: &[u64]| xs.iter().fold(0u64, |acc, &x| acc.saturating_add(x));
        let attention = sum(&[
            self.residual,
            self.qkv,
            self.scores,
            self.mask,
            self.gqa,
            self.attn_out,
            self.kv_append,
        ]);
        let widening = if self.widening > 0 {
            sum(&[self.residual, self.widening])
        } else {
            0
        };
        [
            (Phase::Attention, attention),
            (Phase::Mlp, sum(&[self.residual, self.mlp])),
            (Phase::Logits, sum(&[self.residual, self.logits])),
            (Phase::Widening, widening),
            (Phase::Vision, self.vision),
        ]
    }

    /// The phase with the most bytes alive, and those bytes (buffers are reused layer to layer).
    pub fn peak(&self) -> (Phase, u64) {
        self.phases()
            .into_iter()
            .fold((Phase::Attention, 0), |best, p| if p.1 > best.1 { p } else { best })
    }
}

/// One forward step's shape: `in_flight` tokens over all sequences, `chunk` new tokens per
/// sequence attending to `kv_len` positions, `batch` sequences, `logit_rows` rows of logits.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub in_flight: u64,
    pub chunk: u64,
    pub kv_len: u64,
    pub batch: u64,
    pub logit_rows: u64,
}

/// The activations of one forward step (see `activations.rs` for each term): residual stream, q/k/v,
/// attention (scores, mask and GQA expansion when eager), MLP (fused MoE kernels where the runtime
/// has them), logits on the last pipeline stage, the CPU's f32 widening and the vision tower.
pub fn forward(p: &Prepared, step: Step) -> Activations {
    let rt = p.setup.runtime;
    let g = &p.geometry;
    let a = p.act_bytes;
    let t = step.in_flight;
    let mut acts = Activations {
        residual: act::residual_stream(g, t, a),
        qkv: act::qkv(g, t, a),
        attn_out: act::attention_output(g, t, a),
        mlp: if rt.fused_moe {
            act::mlp_fused_moe(g, t, a)
        } else {
            act::mlp(g, t, a)
        },
        // only the last pipeline stage computes logits
        logits: if p.stage.is_last() {
            act::logits(g, step.logit_rows, if rt.logits_f32 { 4 } else { a })
        } else {
            0
        },
        ..Activations::default()
    };
    if let AttentionImpl::Eager { copies, expands_gqa } = rt.attention {
        acts.scores = act::attention_scores(g, step.batch, step.chunk, step.kv_len, a, copies);
        acts.mask = act::attention_mask(step.batch, step.chunk, step.kv_len, a);
        if expands_gqa {
            acts.gqa = act::gqa_expansion(g, step.batch, step.kv_len, a);
        }
    }
    if rt.is_cpu() && p.setup.format.keep == StorageType::Bf16 {
        acts.widening = act::cpu_bf16_widening(p.weights.largest_matrix, p.weights.largest_rows, step.batch);
    }
    // the vision tower runs on the first pipeline stage
    if let (Some(v), true) = (&p.setup.model.vision, p.image_tokens > 0 && p.stage.is_first()) {
        let views = step.batch * p.setup.images * (p.crops() + 1);
        let n = (v.image_size / v.patch_size).pow(2) + 1;
        acts.vision = act::vision_encoder(
            views,
            n,
            v.hidden_size,
            v.attention_heads,
            v.intermediate_size,
            a,
            eager_copies(rt),
        );
    }
    acts
}

/// Numeric values of every term, without the text; `memory()` and `total()` share it.
#[derive(Debug, Clone, Copy, Default)]
struct Terms {
    kv: u64,
    acts: Activations,
    context: u64,
    workspace: u64,
    modules: u64,
    fixed: u64,
    rounding: u64,
    rope: u64,
    slack: u64,
}

impl Terms {
    fn overhead(&self) -> u64 {
        self.context + self.workspace + self.modules + self.fixed + self.rounding + self.rope + self.slack
    }

    /// Weights + KV + the activation peak + overheads, saturating (absurd requests stay comparable).
    fn total(&self, weights: u64) -> u64 {
        weights
            .saturating_add(self.kv)
            .saturating_add(self.acts.peak().1)
            .saturating_add(self.overhead())
    }
}

/// The prefill step of a sequence of `tokens`: chunk per sequence and tokens in flight.
fn prefill_step(p: &Prepared, tokens: u64, batch: u64) -> Step {
    let chunk = p.prefill_chunk(tokens);
    Step {
        in_flight: p.tokens_in_flight(chunk, batch, tokens),
        chunk,
        kv_len: tokens,
        batch,
        logit_rows: batch,
    }
}

fn terms(p: &Prepared, context: u64, batch: u64) -> Terms {
    let rt = p.setup.runtime;
    let tokens = p.sequence_tokens(context);
    let kv_bytes = kv::cache_bytes(&p.kv, tokens, batch, rt.honors_sliding_window);
    let mut acts = forward(p, prefill_step(p, tokens, batch));
    if rt.kv_alloc == KvAlloc::Grow && p.geometry.layers > 0 {
        // extending one layer's cache: the old copy is alive until the new one replaces it
        acts.kv_append = kv_bytes / p.geometry.layers;
    }
    let mut terms = Terms {
        kv: kv_bytes,
        acts,
        ..Terms::default()
    };
    if !rt.is_cpu() {
        terms.context = overhead::cuda_context(rt);
        terms.workspace = overhead::blas_workspace(p.gpu, rt);
        terms.modules = overhead::kernel_modules(rt);
        terms.fixed = overhead::runtime_fixed(rt);
    }
    terms.rounding = allocator_rounding(p);
    if rt.rope_tables {
        terms.rope = rope_tables(p.setup.model.max_context, p.kv.head_dim, p.act_bytes);
    }
    let (_, peak) = terms.acts.peak();
    terms.slack = overhead::fragmentation(rt, kv_bytes + peak);
    terms
}

/// What 2 MiB allocation granularity adds to the weights: per tensor, or per layer when the engine
/// stacks each layer's experts in one tensor; nothing for allocators that pack.
pub fn allocator_rounding(p: &Prepared) -> u64 {
    let rt = p.setup.runtime;
    match (rt.granularity_bytes == 2 << 20, rt.stacked_experts) {
        (true, true) => p.weights.rounding_2mib_stacked,
        (true, false) => p.weights.rounding_2mib,
        (false, _) => 0,
    }
}

/// Total bytes per GPU (the fast path of [`memory`]).
pub fn total(p: &Prepared, context: u64, batch: u64) -> u64 {
    terms(p, context, batch).total(p.weights.total)
}

/// The itemized estimate.
pub fn memory(p: &Prepared, context: u64, batch: u64) -> Memory {
    let t = terms(p, context, batch);
    let rt = p.setup.runtime;
    let tokens = p.sequence_tokens(context);
    let (phase, peak) = t.acts.peak();
    let step = prefill_step(p, tokens, batch);
    let overhead_bytes = t.overhead();
    Memory {
        weights: p.weights.lines.clone(),
        weights_bytes: p.weights.total,
        kv_cache: kv_term(p, t.kv, tokens, batch),
        kv_cache_bytes: t.kv,
        activations: activation_terms(p, &t.acts, phase, step),
        activations_bytes: peak,
        activation_peak_phase: phase,
        overhead: overhead_terms(p, rt, &t),
        overhead_bytes,
        total_bytes: t.total(p.weights.total),
        available_bytes: p.budget,
        visible_bytes: p.visible,
        host: vec![],
        host_bytes: 0,
    }
}

/// The KV term with its formula: batch x tokens x bytes per token, and how the engine allocates it.
pub fn kv_term(p: &Prepared, bytes: u64, tokens: u64, batch: u64) -> Term {
    // MLA caches one latent + rotary key per layer, no separate K and V
    let mla = p.setup.model.architecture.as_ref().is_some_and(|a| a.mla.is_some());
    let per_token = if mla {
        format!(
            "{} layers x {} latent + rotary key x {}",
            p.kv.layers,
            p.kv.head_dim,
            p.setup.kv.label()
        )
    } else {
        format!(
            "2 x {} layers x {} kv heads x {} head dim x {}",
            p.kv.layers,
            p.kv.kv_heads,
            p.kv.head_dim,
            p.setup.kv.label()
        )
    };
    let images = if p.image_tokens > 0 {
        format!(" (incl. {} image)", p.image_tokens)
    } else {
        String::new()
    };
    let alloc = match p.setup.runtime.kv_alloc {
        KvAlloc::Paged => match p.settings.kv_block() {
            1 => String::new(),
            block => format!(", rounded up to {block}-token blocks"),
        },
        KvAlloc::Preallocated => ", allocated for the whole context at start".into(),
        KvAlloc::Grow => String::new(),
    };
    Term {
        name: "kv cache",
        bytes,
        formula: format!(
            "{batch} seq x {tokens} tok{images} x {} B/token ({per_token}){alloc}",
            p.kv.total()
        ),
        source: "K and V per layer: 2 x layers x kv_heads x head_dim x bytes per token (estimate/kv.rs)",
    }
}

/// The activation terms alive in the peak phase, with their formulas.
fn activation_terms(p: &Prepared, t: &Activations, phase: Phase, step: Step) -> Vec<Term> {
    let rt = p.setup.runtime;
    let g = &p.geometry;
    let a = p.act_bytes;
    let Step {
        in_flight: t_tok,
        chunk,
        kv_len: tokens,
        batch,
        ..
    } = step;
    let mut out = vec![];
    let mut push = |name, bytes: u64, formula: String, source| {
        if bytes > 0 {
            out.push(Term {
                name,
                bytes,
                formula,
                source,
            });
        }
    };
    if phase != Phase::Vision {
        push(
            "residual stream",
            t.residual,
            format!("2 x {t_tok} tokens x {} hidden x {a} B", g.hidden),
            "layer input + normed copy",
        );
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
                    eager_copies(rt),
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
            format!("{} weights x 4 B + io", p.weights.largest_matrix),
            "candle-core cpu_backend matmul: to_f32_vec on both operands",
        ),
        Phase::Vision => push(
            "vision encoder",
            t.vision,
            "views x 577 tokens x layer buffers + eager scores".into(),
            "CLIP ViT forward over HD crops",
        ),
        Phase::ProfileRun | Phase::ComputeBuffer => {}
    }
    out
}

fn overhead_terms(p: &Prepared, rt: &Runtime, t: &Terms) -> Vec<Term> {
    let a = p.act_bytes;
    let mut out = vec![];
    let mut push = |name, bytes: u64, formula: String, source| {
        if bytes > 0 {
            out.push(Term {
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
            None if p.gpu.is_hopper_or_newer() => "32 MiB (Hopper+)".into(),
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
            p.setup.model.max_context, p.kv.head_dim
        ),
        "candle-transformers RotaryEmbedding::new",
    );
    push(
        "fragmentation",
        t.slack,
        format!("{} x (kv + activations)", rt.slack_fraction),
        rt.sources,
    );
    out
}

/// Score matrices alive together in eager attention (0 when fused).
fn eager_copies(rt: &Runtime) -> u64 {
    match rt.attention {
        AttentionImpl::Eager { copies, .. } => copies,
        AttentionImpl::Fused => 0,
    }
}

/// RoPE tables: sin and cos for every position, head_dim/2 frequencies each, in the compute dtype:
/// 2 x max_context x head_dim/2 x a.
pub fn rope_tables(max_context: u64, head_dim: u64, a: u64) -> u64 {
    2 * max_context * (head_dim / 2) * a
}
