//! llama.cpp's worst-case graph replayed op by op: `build_inp_embd`, `build_attn` and its inputs,
//! `build_ffn` and `build_moe_ffn` of src/llama-graph.cpp, and the layer loops of
//! `src/models/{llama,qwen2,qwen2moe,qwen3,qwen3moe,phi3,phimoe,gemma,gemma2,gemma3,openai-moe}.cpp`, with
//! the shapes, strides, views and source order the real graph has, so that the nodes come in the same
//! order and the allocator sees the same tensors.

use super::ggml::{Graph, Id, Op, Type};
use super::model::{Family, Model};

/// The weights the graph reads whose type is the file's choice (2-D and 3-D tensors; vectors are
/// F32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    TokenEmbd,
    Output,
    AttnQ,
    AttnK,
    AttnV,
    AttnQkv,
    AttnOutput,
    FfnGate,
    FfnUp,
    FfnDown,
    /// the router (`ffn_gate_inp`; llama-quantize leaves it F32)
    FfnGateInp,
    FfnGateExps,
    FfnUpExps,
    FfnDownExps,
    FfnGateShexp,
    FfnUpShexp,
    FfnDownShexp,
}

impl Weight {
    /// The tensor's name in the GGUF file, without block prefix and suffix (llama-arch.cpp).
    pub fn gguf(self) -> &'static str {
        match self {
            Weight::TokenEmbd => "token_embd",
            Weight::Output => "output",
            Weight::AttnQ => "attn_q",
            Weight::AttnK => "attn_k",
            Weight::AttnV => "attn_v",
            Weight::AttnQkv => "attn_qkv",
            Weight::AttnOutput => "attn_output",
            Weight::FfnGate => "ffn_gate",
            Weight::FfnUp => "ffn_up",
            Weight::FfnDown => "ffn_down",
            Weight::FfnGateInp => "ffn_gate_inp",
            Weight::FfnGateExps => "ffn_gate_exps",
            Weight::FfnUpExps => "ffn_up_exps",
            Weight::FfnDownExps => "ffn_down_exps",
            Weight::FfnGateShexp => "ffn_gate_shexp",
            Weight::FfnUpShexp => "ffn_up_shexp",
            Weight::FfnDownShexp => "ffn_down_shexp",
        }
    }

    /// A routed-expert tensor (stacked experts).
    pub fn routed(self) -> bool {
        matches!(self, Weight::FfnGateExps | Weight::FfnUpExps | Weight::FfnDownExps)
    }
}

/// The micro-batch a graph is reserved for (`llama_context::graph_reserve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ubatch {
    pub n_tokens: u64,
    pub n_seqs: u64,
    /// rows of logits computed (`n_outputs`)
    pub n_outputs: u64,
}

/// The KV cache the graph attends over (all of it: `n_kv` = the cache size at reserve time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cache {
    /// cells per stream of the full-attention cache and of the sliding-window cache
    pub kv_size: u64,
    pub kv_size_swa: u64,
    pub n_stream: u64,
    pub unified: bool,
    pub flash_attn: bool,
    pub type_k: Type,
    pub type_v: Type,
}

/// Where the model's parts live: scheduler backend indices.
pub struct Placement<'a> {
    /// the token embeddings
    pub input: usize,
    /// each layer's weights (and their KV cache)
    pub layers: &'a [usize],
    /// the output norm and matrix
    pub output: usize,
    /// pin each layer's norms to the layer's backend (`llama_context::graph_get_cb` does under full
    /// offload and for batches under 32 tokens)
    pub pin_norms: bool,
    /// the type of each weight, by layer
    pub weight_type: &'a dyn Fn(Weight, Option<u64>) -> Type,
    /// a weight's backend when a tensor override (`-ot`, `--cpu-moe`, `--n-cpu-moe`) moves it off its
    /// layer's; None everywhere without overrides
    pub weight_backend: Option<&'a dyn Fn(Weight, Option<u64>) -> Option<usize>>,
}

/// The graph inputs of one attention cache (`llm_graph_input_attn_kv`).
struct AttnInputs {
    k_idxs: Id,
    v_idxs: Id,
    mask: Id,
    /// Hadamard rotations of a quantized cache (`attn_inp_k_rot`, `attn_inp_v_rot`)
    k_rot: Option<Id>,
    v_rot: Option<Id>,
}

struct Builder<'a> {
    g: Graph,
    m: &'a Model,
    ub: Ubatch,
    cache: Cache,
    pl: &'a Placement<'a>,
}

impl Builder<'_> {
    fn backend(&self, layer: Option<u64>) -> usize {
        match layer {
            Some(il) => self.pl.layers.get(il as usize).copied().unwrap_or(self.pl.output),
            None => self.pl.output,
        }
    }

    /// The backend of weight `w` of `layer`: its layer's, unless an override moved it.
    fn weight_backend(&self, w: Weight, layer: Option<u64>) -> usize {
        self.pl
            .weight_backend
            .and_then(|f| f(w, layer))
            .unwrap_or_else(|| self.backend(layer))
    }

    /// A weight of `layer` (None: the output layer).
    fn weight(&mut self, w: Weight, ne: [u64; 4], layer: Option<u64>) -> Id {
        let ty = (self.pl.weight_type)(w, layer);
        let b = self.weight_backend(w, layer);
        self.g.placed(ty, ne, b, true)
    }

    /// An F32 vector of `layer` (norm weights, biases, sinks).
    fn vector(&mut self, ne: [u64; 4], layer: Option<u64>) -> Id {
        let b = self.backend(layer);
        self.g.placed(Type::F32, ne, b, true)
    }

    fn matmul(&mut self, w: Weight, n_in: u64, n_out: u64, x: Id, layer: u64) -> Id {
        let w = self.weight(w, [n_in, n_out, 1, 1], Some(layer));
        self.g.mul_mat(w, x)
    }

    fn add_bias(&mut self, x: Id, n: u64, layer: u64) -> Id {
        let b = self.vector([n, 1, 1, 1], Some(layer));
        self.g.binary(Op::Add, x, b)
    }

    /// `build_norm` (RMS) with its weight; `pinned` names it `norm-il`, which llama.cpp pins to the
    /// layer's backend under full offload.
    fn norm(&mut self, x: Id, layer: Option<u64>, pinned: bool) -> Id {
        let n = self.g.unary(Op::RmsNorm, x);
        if let (Some(il), true, true) = (layer, pinned, self.pl.pin_norms) {
            self.g.t[n].forced_backend = Some(self.backend(Some(il)));
        }
        let ne0 = self.g.ne(x)[0];
        let w = self.vector([ne0, 1, 1, 1], layer);
        self.g.binary(Op::Mul, n, w)
    }

    /// A block's or the output's `build_norm` with the file's bias (PhiMoE's LayerNorm weights, which
    /// llama.cpp applies after an RMS norm: phi3.cpp passes `LLM_NORM_RMS`).
    fn norm_biased(&mut self, x: Id, layer: Option<u64>, pinned: bool) -> Id {
        let cur = self.norm(x, layer, pinned);
        if self.m.bias.norm {
            let ne0 = self.g.ne(x)[0];
            let b = self.vector([ne0, 1, 1, 1], layer);
            self.g.binary(Op::Add, cur, b)
        } else {
            cur
        }
    }

    /// `build_qkv`: separate q, k, v reshaped to heads, or one fused `wqkv` cut into 3-D views.
    fn qkv(&mut self, cur: Id, il: u64) -> (Id, Id, Id) {
        let m = self.m;
        let (e, hd, nh, nkv, t) = (m.n_embd, m.head_dim, m.n_head, m.n_head_kv, self.ub.n_tokens);
        if m.family == Family::Phi3 {
            let qkv = self.matmul(Weight::AttnQkv, e, hd * (nh + 2 * nkv), cur, il);
            let row = self.g.nb(qkv)[1];
            let nb = [4, 4 * hd, row, row * t];
            let q = self.g.view(qkv, [hd, nh, t, 1], nb, 0);
            let k = self.g.view(qkv, [hd, nkv, t, 1], nb, 4 * hd * nh);
            let v = self.g.view(qkv, [hd, nkv, t, 1], nb, 4 * hd * (nh + nkv));
            return (q, k, v);
        }
        let bias = m.bias.qkv;
        let mut proj = |w, n| {
            let x = self.matmul(w, e, n, cur, il);
            if bias {
                self.add_bias(x, n, il)
            } else {
                x
            }
        };
        let q = proj(Weight::AttnQ, hd * nh);
        let k = proj(Weight::AttnK, hd * nkv);
        let v = proj(Weight::AttnV, hd * nkv);
        let q = self.g.reshape(q, [hd, nh, t, 1]);
        let k = self.g.reshape(k, [hd, nkv, t, 1]);
        let v = self.g.reshape(v, [hd, nkv, t, 1]);
        (q, k, v)
    }

    /// `build_attn_inp_kv`: the cache row indices for K and V and the mask (f16 with flash attention,
    /// one per sequence without a unified cache).
    fn attn_inputs(&mut self, kv_size: u64) -> AttnInputs {
        let (t, c) = (self.ub.n_tokens, self.cache);
        let k_idxs = self.g.input(Type::I64, [t, 1, 1, 1]);
        // without flash attention V is stored transposed and written element by element
        let v_rows = if c.flash_attn { t } else { t * self.m.n_embd_gqa() };
        let v_idxs = self.g.input(Type::I64, [v_rows, 1, 1, 1]);
        let streams = if c.unified { 1 } else { self.ub.n_seqs };
        let mask_type = if c.flash_attn { Type::F16 } else { Type::F32 };
        let mask = self.g.input(mask_type, [kv_size, t / streams, 1, streams]);
        let hd = self.m.head_dim;
        // llama-kv-cache.cpp: a quantized cache rotates K over the largest power-of-two block that
        // divides the head (from 64) and V over 64
        let k_rot = (c.type_k.is_quantized() && hd % 64 == 0).then(|| {
            let mut n = 64;
            while hd % (2 * n) == 0 {
                n *= 2;
            }
            self.g.input(Type::F32, [n, n, 1, 1])
        });
        let v_rot = (c.type_v.is_quantized() && hd % 64 == 0).then(|| self.g.input(Type::F32, [64, 64, 1, 1]));
        AttnInputs {
            k_idxs,
            v_idxs,
            mask,
            k_rot,
            v_rot,
        }
    }

    /// Applies a Hadamard rotation block by block (`ggml_mul_mat` on a reshaped view).
    fn rotate(&mut self, x: Id, rot: Id) -> Id {
        let n = self.g.ne(rot)[0];
        let ne = self.g.ne(x);
        let shape = [n, ne.iter().product::<u64>() / n, 1, 1];
        let r = if self.g.t[x].is_contiguous() {
            self.g.reshape(x, shape)
        } else {
            self.g.cont(x, shape)
        };
        let r = self.g.mul_mat(rot, r);
        self.g.reshape(r, ne)
    }

    /// `build_attn` with a KV cache: store K and V (`cpy_k`, `cpy_v`), view the whole cache, attend
    /// (`build_attn_mha`), then the output projection.
    fn attn(&mut self, inp: &AttnInputs, qkv: (Id, Id, Id), sinks: Option<Id>, il: u64) -> Id {
        let (mut q, mut k, mut v) = qkv;
        if let Some(r) = inp.k_rot {
            q = self.rotate(q, r);
            k = self.rotate(k, r);
        }
        if let Some(r) = inp.v_rot {
            v = self.rotate(v, r);
        }
        // the sliding-window variant expands q, k, v; the plain one q, v, k
        self.g.expand(q);
        if self.m.window.is_some() {
            self.g.expand(k);
            self.g.expand(v);
        } else {
            self.g.expand(v);
            self.g.expand(k);
        }
        let c = self.cache;
        let (hd, nkv, gqa) = (self.m.head_dim, self.m.n_head_kv, self.m.n_embd_gqa());
        let kv_size = if self.m.is_swa(il) { c.kv_size_swa } else { c.kv_size };
        let ns = c.n_stream;
        let kvb = self.backend(Some(il));
        let k_cache = self.g.placed(c.type_k, [gqa, kv_size, ns, 1], kvb, false);
        let v_cache = self.g.placed(c.type_v, [gqa, kv_size, ns, 1], kvb, false);
        self.store_k(k, k_cache, inp.k_idxs);
        self.store_v(v, v_cache, inp.v_idxs);
        let (tk, tv) = (c.type_k, c.type_v);
        let k_view = self.g.view(
            k_cache,
            [hd, nkv, kv_size, ns],
            [
                tk.block().0,
                tk.row_size(hd),
                tk.row_size(gqa),
                tk.row_size(gqa * kv_size),
            ],
            0,
        );
        let v_view = if c.flash_attn {
            self.g.view(
                v_cache,
                [hd, nkv, kv_size, ns],
                [
                    tv.block().0,
                    tv.row_size(hd),
                    tv.row_size(gqa),
                    tv.row_size(gqa * kv_size),
                ],
                0,
            )
        } else {
            self.g.view(
                v_cache,
                [kv_size, nkv, hd, ns],
                [
                    tv.block().0,
                    tv.row_size(kv_size * hd),
                    tv.row_size(kv_size),
                    tv.row_size(kv_size * gqa),
                ],
                0,
            )
        };
        let mut cur = self.mha(q, k_view, v_view, inp.mask, sinks);
        if let Some(r) = inp.v_rot {
            cur = self.rotate(cur, r);
        }
        let e = self.m.n_embd;
        let cur = self.matmul(Weight::AttnOutput, hd * self.m.n_head, e, cur, il);
        if self.m.bias.attn_out {
            self.add_bias(cur, e, il)
        } else {
            cur
        }
    }

    /// `llama_kv_cache::cpy_k`: `ggml_set_rows` of the new K rows into the cache.
    fn store_k(&mut self, k: Id, cache: Id, idxs: Id) {
        let (gqa, t) = (self.m.n_embd_gqa(), self.ub.n_tokens);
        let nb = self.g.nb(k);
        let rows = self.g.view(k, [gqa, t, 1, 1], [nb[0], nb[2], nb[2] * t, nb[2] * t], 0);
        let dst = self.stream_rows(cache);
        let s = self.g.set_rows(dst, rows, idxs);
        self.g.expand(s);
    }

    /// `llama_kv_cache::cpy_v`: rows with flash attention, else element by element into the
    /// transposed V.
    fn store_v(&mut self, v: Id, cache: Id, idxs: Id) {
        let (gqa, t) = (self.m.n_embd_gqa(), self.ub.n_tokens);
        let nb = self.g.nb(v);
        let s = if self.cache.flash_attn {
            let rows = self.g.view(v, [gqa, t, 1, 1], [nb[0], nb[2], nb[2] * t, nb[2] * t], 0);
            let dst = self.stream_rows(cache);
            self.g.set_rows(dst, rows, idxs)
        } else {
            let rows = if Type::F32.row_size(gqa) == nb[2] {
                self.g.reshape(v, [gqa, t, 1, 1])
            } else {
                self.g.cont(v, [gqa, t, 1, 1])
            };
            let cache_ne = self.g.ne(cache);
            let dst = self
                .g
                .reshape(cache, [1, cache_ne[0] * cache_ne[1] * cache_ne[2], 1, 1]);
            let src = self.g.reshape(rows, [1, gqa * t, 1, 1]);
            self.g.set_rows(dst, src, idxs)
        };
        self.g.expand(s);
    }

    /// Several streams are written through one 2-D view of the cache.
    fn stream_rows(&mut self, cache: Id) -> Id {
        let ne = self.g.ne(cache);
        if ne[2] > 1 {
            self.g.reshape(cache, [ne[0], ne[1] * ne[2], 1, 1])
        } else {
            cache
        }
    }

    /// `build_attn_mha`: permute to heads, then flash attention, or `kq` (f32 scores), softmax and
    /// `kqv`.
    fn mha(&mut self, q: Id, k: Id, v: Id, mask: Id, sinks: Option<Id>) -> Id {
        let ns = self.cache.n_stream;
        let g = &mut self.g;
        let v_trans = g.nb(v)[1] > g.nb(v)[2];
        let (qne, qnb) = (g.ne(q), g.nb(q));
        let q = g.view(
            q,
            [qne[0], qne[1], qne[2] / ns, ns],
            [qnb[0], qnb[1], qnb[2], qnb[2] * (qne[2] / ns)],
            0,
        );
        let q = g.permute(q, [0, 2, 1, 3]);
        let k = g.permute(k, [0, 2, 1, 3]);
        let mut v = g.permute(v, [0, 2, 1, 3]);
        let cur = if self.cache.flash_attn {
            if v_trans {
                v = g.transpose(v);
            }
            let cur = g.flash_attn_ext(q, k, v, mask, sinks);
            let ne = g.ne(cur);
            g.reshape(cur, [ne[0] * ne[1], ne[2] * ne[3], 1, 1])
        } else {
            let mut kq = g.mul_mat(k, q);
            if self.m.family.softcap() {
                kq = g.unary(Op::Scale, kq);
                kq = g.unary(Op::Unary, kq);
                kq = g.unary(Op::Scale, kq);
            }
            let kq = g.soft_max(kq, Some(mask), sinks);
            if !v_trans {
                let vt = g.transpose(v);
                let ne = g.ne(vt);
                v = g.cont(vt, ne);
            }
            let kqv = g.mul_mat(v, kq);
            let cur = g.permute(kqv, [0, 2, 1, 3]);
            let ne = g.ne(cur);
            g.cont(cur, [ne[0] * ne[1], ne[2] * ne[3], 1, 1])
        };
        g.expand(cur);
        cur
    }

    /// `build_ffn` with a parallel gate (SwiGLU / GeGLU split), or Phi-3's fused gate and up.
    fn ffn(&mut self, cur: Id, il: u64) -> Id {
        let (e, ff) = (self.m.n_embd, self.m.n_ff);
        if self.m.family == Family::Phi3 {
            let up = self.matmul(Weight::FfnUp, e, 2 * ff, cur, il);
            let act = self.g.glu_fused(up);
            return self.matmul(Weight::FfnDown, ff, e, act, il);
        }
        self.gated(cur, [Weight::FfnUp, Weight::FfnGate, Weight::FfnDown], ff, il)
    }

    fn gated(&mut self, cur: Id, [up, gate, down]: [Weight; 3], ff: u64, il: u64) -> Id {
        let e = self.m.n_embd;
        let tmp = self.matmul(up, e, ff, cur, il);
        let gate = self.matmul(gate, e, ff, cur, il);
        let act = self.g.glu_split(gate, tmp);
        self.matmul(down, ff, e, act, il)
    }

    /// `build_moe_ffn`: router logits, top-k by argsort, expert weights (softmax before or after the
    /// selection, optionally normalized), three `mul_mat_id`, the weighted sum of the selected
    /// experts' views.
    fn moe(&mut self, cur: Id, il: u64) -> Id {
        let Some(x) = self.m.experts else {
            return cur;
        };
        let family = self.m.family;
        let softmax_after = family == Family::GptOss;
        let normalize = matches!(family, Family::Llama | Family::Qwen3Moe | Family::PhiMoe);
        let biased = family == Family::GptOss;
        let e = self.m.n_embd;
        // the last layer runs on the output rows only
        let t = self.g.ne(cur)[1];
        let mut logits = self.matmul(Weight::FfnGateInp, e, x.count, cur, il);
        if biased {
            logits = self.add_bias(logits, x.count, il);
        }
        let probs = if softmax_after {
            logits
        } else {
            self.g.soft_max(logits, None, None)
        };
        let sorted = self.g.argsort(probs);
        let snb = self.g.nb(sorted);
        let selected = self.g.view(sorted, [x.used, t, 1, 1], [4, snb[1], snb[2], snb[3]], 0);
        let probs3 = self.g.reshape(probs, [1, x.count, t, 1]);
        let mut weights = self.g.get_rows(probs3, selected);
        if softmax_after {
            let w = self.g.reshape(weights, [x.used, t, 1, 1]);
            let w = self.g.soft_max(w, None, None);
            weights = self.g.reshape(w, [1, x.used, t, 1]);
        }
        if normalize {
            let w = self.g.reshape(weights, [x.used, t, 1, 1]);
            let sum = self.g.sum_rows(w);
            let sum = self.g.unary(Op::Clamp, sum);
            let w = self.g.binary(Op::Div, w, sum);
            weights = self.g.reshape(w, [1, x.used, t, 1]);
        }
        self.g.expand(weights);
        let cur3 = self.g.reshape(cur, [e, 1, t, 1]);
        let up = self.expert_matmul(Weight::FfnUpExps, [e, x.ff], cur3, selected, biased, il);
        let gate = self.expert_matmul(Weight::FfnGateExps, [e, x.ff], cur3, selected, biased, il);
        let act = self.g.glu_split(gate, up);
        let experts = self.expert_matmul(Weight::FfnDownExps, [x.ff, e], act, selected, biased, il);
        let experts = self.g.binary(Op::Mul, experts, weights);
        self.g.expand(experts);
        // the views first, then the adds (build_moe_ffn orders them so)
        let nb = self.g.nb(experts);
        let views: Vec<Id> = (0..x.used)
            .map(|i| {
                let v = self
                    .g
                    .view(experts, [e, t, 1, 1], [4, nb[2], nb[2] * t, nb[2] * t], i * nb[1]);
                self.g.expand(v);
                v
            })
            .collect();
        let mut out = views.first().copied().unwrap_or(experts);
        for &v in views.iter().skip(1) {
            out = self.g.binary(Op::Add, out, v);
            self.g.expand(out);
        }
        if x.used == 1 {
            let ne = self.g.ne(out);
            self.g.cont(out, ne)
        } else {
            out
        }
    }

    fn expert_matmul(&mut self, w_kind: Weight, [n_in, n_out]: [u64; 2], x: Id, ids: Id, biased: bool, il: u64) -> Id {
        let count = self.m.experts.map_or(1, |x| x.count);
        let w = self.weight(w_kind, [n_in, n_out, count, 1], Some(il));
        let y = self.g.mul_mat_id(w, x, ids);
        if biased {
            // the expert biases share their matrix's name (and so its overrides)
            let backend = self.weight_backend(w_kind, Some(il));
            let b = self.g.placed(Type::F32, [n_out, count, 1, 1], backend, true);
            self.g.add_id(y, b, ids)
        } else {
            y
        }
    }

    /// Qwen2-MoE: the routed experts plus a shared expert scaled by `sigmoid(gate)`.
    fn moe_with_shared(&mut self, cur: Id, il: u64) -> Id {
        let routed = self.moe(cur, il);
        let e = self.m.n_embd;
        let gate_in = self.matmul(Weight::FfnGateInp, e, 1, cur, il);
        let s = self.g.unary(Op::Unary, gate_in);
        let gate = self.g.binary(Op::Div, s, gate_in);
        let ff = self.m.experts.and_then(|x| x.shared_ff).unwrap_or(self.m.n_ff);
        let shared = self.gated(
            cur,
            [Weight::FfnUpShexp, Weight::FfnGateShexp, Weight::FfnDownShexp],
            ff,
            il,
        );
        let shared = self.g.binary(Op::Mul, shared, gate);
        self.g.binary(Op::Add, routed, shared)
    }

    /// `build_inp_embd`: the token rows, an embeddings input, and the mixed token/embedding branch
    /// (three inputs the reserve graph keeps); Gemma scales the rows.
    fn input_embeddings(&mut self) -> Id {
        let (e, t) = (self.m.n_embd, self.ub.n_tokens);
        let tok_ty = (self.pl.weight_type)(Weight::TokenEmbd, None);
        let tok_embd = self.g.placed(tok_ty, [e, self.m.n_vocab, 1, 1], self.pl.input, true);
        let tokens = self.g.input(Type::I32, [t, 1, 1, 1]);
        let embd = self.g.input(Type::F32, [e, t, 1, 1]);
        let rows = self.g.get_rows(tok_embd, tokens);
        let mixed_tokens = self.g.input(Type::I32, [t, 1, 1, 1]);
        let mixed_slots = self.g.input(Type::I64, [t, 1, 1, 1]);
        let mixed_embd = self.g.input(Type::F32, [e, t, 1, 1]);
        let mixed = self.g.dup(mixed_embd);
        let mixed_rows = self.g.get_rows(tok_embd, mixed_tokens);
        let mixed = self.g.set_rows(mixed, mixed_rows, mixed_slots);
        self.g.expand(rows);
        self.g.expand(embd);
        self.g.expand(mixed);
        let mut cur = rows;
        if self.m.family == Family::Gemma3 {
            let scale = self.g.input(Type::F32, [1, t, 1, 1]);
            cur = self.g.binary(Op::Mul, cur, scale);
        }
        self.g.expand(cur);
        if matches!(self.m.family, Family::Gemma | Family::Gemma2) {
            cur = self.g.unary(Op::Scale, cur);
        }
        cur
    }

    /// One decoder layer; `out_ids` selects the output rows in the last layer.
    fn layer(&mut self, inp_l: Id, pos: Id, inp: &AttnInputs, out_ids: Id, il: u64) -> Id {
        let family = self.m.family;
        let cur = self.norm_biased(inp_l, Some(il), true);
        let (mut q, mut k, v) = self.qkv(cur, il);
        if family.qk_norm() {
            q = self.norm(q, Some(il), true);
        }
        q = self.g.rope(q, pos, None);
        if family.qk_norm() {
            k = self.norm(k, Some(il), true);
        }
        k = self.g.rope(k, pos, None);
        if family.scales_q() {
            q = self.g.unary(Op::Scale, q);
        }
        let sinks = (family == Family::GptOss).then(|| self.vector([self.m.n_head, 1, 1, 1], Some(il)));
        let mut cur = self.attn(inp, (q, k, v), sinks, il);
        let mut residual = inp_l;
        // gpt-oss keeps every row to the end (its last hidden state is a graph output)
        if il + 1 == self.m.n_layer && family != Family::GptOss {
            cur = self.g.get_rows(cur, out_ids);
            residual = self.g.get_rows(residual, out_ids);
        }
        if family.post_norms() {
            let cur = self.norm(cur, Some(il), true);
            let sa = self.g.binary(Op::Add, cur, residual);
            let cur = self.norm(sa, Some(il), true);
            let cur = self.ffn(cur, il);
            let cur = self.norm(cur, Some(il), false);
            return self.g.binary(Op::Add, cur, sa);
        }
        let ffn_inp = self.g.binary(Op::Add, cur, residual);
        let cur = self.norm_biased(ffn_inp, Some(il), true);
        let cur = match (family, self.m.experts) {
            (Family::Qwen2Moe, Some(_)) => self.moe_with_shared(cur, il),
            (_, Some(_)) => self.moe(cur, il),
            (_, None) => self.ffn(cur, il),
        };
        if family.phi3_graph() {
            self.g.binary(Op::Add, ffn_inp, cur)
        } else {
            self.g.binary(Op::Add, cur, ffn_inp)
        }
    }
}

/// The graph llama.cpp reserves for `ub` over `cache`: every layer, the output norm and the logits
/// of `ub.n_outputs` rows.
pub fn build(m: &Model, ub: Ubatch, cache: Cache, pl: &Placement) -> Graph {
    let mut b = Builder {
        g: Graph::recycled(),
        m,
        ub,
        cache,
        pl,
    };
    let mut cur = b.input_embeddings();
    let pos = b.g.input(Type::I32, [ub.n_tokens, 1, 1, 1]);
    let full = b.attn_inputs(cache.kv_size);
    let swa = m.window.map(|_| b.attn_inputs(cache.kv_size_swa));
    let out_ids = b.g.input(Type::I32, [ub.n_outputs, 1, 1, 1]);
    for il in 0..m.n_layer {
        let inp = match (&swa, m.is_swa(il)) {
            (Some(s), true) => s,
            _ => &full,
        };
        cur = b.layer(cur, pos, inp, out_ids, il);
    }
    if m.family == Family::GptOss {
        b.g.set_output(cur);
        cur = b.g.get_rows(cur, out_ids);
    }
    let cur = b.norm_biased(cur, None, false);
    b.g.set_output(cur);
    let out_ty = (pl.weight_type)(Weight::Output, None);
    let w = b.g.placed(out_ty, [m.n_embd, m.n_vocab, 1, 1], pl.output, true);
    let mut logits = b.g.mul_mat(w, cur);
    if m.bias.output {
        let bias = b.vector([m.n_vocab, 1, 1, 1], None);
        logits = b.g.binary(Op::Add, logits, bias);
    }
    if m.family.softcap() {
        logits = b.g.unary(Op::Scale, logits);
        logits = b.g.unary(Op::Unary, logits);
        logits = b.g.unary(Op::Scale, logits);
    }
    b.g.set_output(logits);
    b.g.expand(logits);
    b.g
}
