//! Just enough of ggml to replay llama.cpp's graph construction for the graph allocator: tensor
//! types and their row sizes, shapes and strides, views, and the ops with the shapes and source order
//! ggml.c gives them. Nothing is computed; a [`Graph`] is the list of nodes and leafs that
//! `ggml_build_forward_expand` would produce.

/// ggml tensor types (ggml.h `ggml_type`): the one table gpuplan sizes every GGML type with.
pub use crate::spec::precision::Ggml as Type;

/// The ggml ops the replayed graphs use. Only what the allocator and the scheduler look at matters:
/// whether an op may reuse its parent's memory, whether it is a view, and its batch size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    None,
    Dup,
    Add,
    AddId,
    Mul,
    Div,
    Scale,
    RmsNorm,
    MulMat,
    MulMatId,
    GetRows,
    SetRows,
    Cont,
    Reshape,
    View,
    Permute,
    Transpose,
    SoftMax,
    Rope,
    FlashAttnExt,
    Unary,
    Glu,
    Clamp,
    ArgSort,
    SumRows,
}

impl Op {
    /// `ggml_op_can_inplace` (ggml-alloc.c): the ops whose result may overwrite a parent.
    pub const fn can_inplace(self) -> bool {
        matches!(
            self,
            Op::Scale
                | Op::Add
                | Op::AddId
                | Op::Mul
                | Op::Div
                | Op::Unary
                | Op::Rope
                | Op::RmsNorm
                | Op::Clamp
                | Op::SoftMax
        )
    }

    /// `ggml_is_view_op` (ggml-backend.cpp).
    pub const fn is_view(self) -> bool {
        matches!(self, Op::View | Op::Reshape | Op::Permute | Op::Transpose)
    }
}

/// A tensor allocated outside the graph allocator (a weight or a KV cache tensor): the scheduler
/// backend whose buffer holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub backend: usize,
    /// a weight (the scheduler runs ops on a weight's backend)
    pub weight: bool,
}

pub type Id = usize;

/// The most sources a tensor of the modeled graphs has (`ggml_flash_attn_ext`: q, k, v, mask and
/// sinks; ggml allows `GGML_MAX_SRC` = 10).
const MAX_SRC: usize = 5;

/// A tensor's sources, kept inline: a replay builds thousands of tensors, the scheduler copies them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Srcs {
    ids: [Id; MAX_SRC],
    len: u8,
}

impl Srcs {
    /// The sources `ids`, in order (at most [`MAX_SRC`]: the graph builder's ops have no more).
    pub fn of(ids: &[Id]) -> Srcs {
        assert!(ids.len() <= MAX_SRC, "a ggml op has at most {MAX_SRC} sources here");
        let mut s = Srcs::default();
        s.ids[..ids.len()].copy_from_slice(ids);
        s.len = ids.len() as u8;
        s
    }
}

impl std::ops::Deref for Srcs {
    type Target = [Id];
    fn deref(&self) -> &[Id] {
        &self.ids[..usize::from(self.len)]
    }
}

impl<'a> IntoIterator for &'a Srcs {
    type Item = &'a Id;
    type IntoIter = std::slice::Iter<'a, Id>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl FromIterator<Id> for Srcs {
    fn from_iter<I: IntoIterator<Item = Id>>(iter: I) -> Srcs {
        let mut s = Srcs::default();
        for id in iter {
            assert!(
                usize::from(s.len) < MAX_SRC,
                "a ggml op has at most {MAX_SRC} sources here"
            );
            s.ids[usize::from(s.len)] = id;
            s.len += 1;
        }
        s
    }
}

impl std::ops::DerefMut for Srcs {
    fn deref_mut(&mut self) -> &mut [Id] {
        &mut self.ids[..usize::from(self.len)]
    }
}

#[derive(Debug, Clone)]
pub struct Tensor {
    pub ty: Type,
    pub ne: [u64; 4],
    pub nb: [u64; 4],
    pub op: Op,
    pub src: Srcs,
    /// the tensor whose memory a view uses (`view_src`, always the root, never a view)
    pub view_src: Option<Id>,
    /// byte offset of a view into `view_src` (`view_offs`)
    pub view_offs: u64,
    /// `ggml_set_input`: allocated before any node, on the CPU side
    pub input: bool,
    /// `ggml_set_output`: never freed
    pub output: bool,
    pub placed: Option<Placed>,
    /// `ggml_backend_sched_set_tensor_backend` by llama.cpp
    pub forced_backend: Option<usize>,
}

impl Tensor {
    /// `ggml_nbytes`.
    pub fn nbytes(&self) -> u64 {
        if self.ne.contains(&0) {
            return 0;
        }
        let (bytes, elements) = self.ty.block();
        let rest: u64 = (1..4).map(|i| (self.ne[i] - 1) * self.nb[i]).sum();
        if elements == 1 {
            bytes + (self.ne[0] - 1) * self.nb[0] + rest
        } else {
            self.ne[0] * self.nb[0] / elements + rest
        }
    }

    pub fn elements(&self) -> u64 {
        self.ne.iter().product()
    }

    /// `ggml_is_contiguous`.
    pub fn is_contiguous(&self) -> bool {
        let mut expected = self.ty.block().0;
        if self.nb[0] != expected {
            return false;
        }
        expected *= self.ne[0] / self.ty.block().1;
        for i in 1..4 {
            if self.ne[i] != 1 && self.nb[i] != expected {
                return false;
            }
            expected *= self.ne[i];
        }
        true
    }
}

/// Strides of a contiguous tensor (`ggml_new_tensor_impl`).
pub fn contiguous_nb(ty: Type, ne: [u64; 4]) -> [u64; 4] {
    let (bytes, elements) = ty.block();
    let nb1 = bytes * (ne[0] / elements);
    [bytes, nb1, nb1 * ne[1], nb1 * ne[1] * ne[2]]
}

/// Tensors, and the nodes and leafs of the graph in `ggml_build_forward_expand` order.
#[derive(Debug, Default)]
pub struct Graph {
    pub t: Vec<Tensor>,
    pub nodes: Vec<Id>,
    pub leafs: Vec<Id>,
    visited: Vec<bool>,
}

/// A dropped graph's lists, emptied: what [`Graph::recycled`] builds the next graph in.
#[derive(Default)]
struct Spare {
    t: Vec<Tensor>,
    nodes: Vec<Id>,
    leafs: Vec<Id>,
    visited: Vec<bool>,
}

thread_local! {
    /// The lists of the largest graph dropped on this thread ([`Graph::recycled`]).
    static SPARE: std::cell::RefCell<Spare> = std::cell::RefCell::new(Spare::default());
}

impl Drop for Graph {
    fn drop(&mut self) {
        let lists = Spare {
            t: std::mem::take(&mut self.t),
            nodes: std::mem::take(&mut self.nodes),
            leafs: std::mem::take(&mut self.leafs),
            visited: std::mem::take(&mut self.visited),
        };
        // a thread being torn down keeps nothing
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if lists.t.capacity() > spare.t.capacity() {
                *spare = lists;
            }
        });
    }
}

impl Graph {
    /// An empty graph in the lists a graph dropped before on this thread left behind: the searches
    /// replay graphs of one size again and again, and growing lists of thousands of tensors each
    /// time (fresh pages, copies) costs a cold replay more than its arithmetic. Nothing else carries
    /// over.
    pub fn recycled() -> Graph {
        let mut s = SPARE.with(|spare| std::mem::take(&mut *spare.borrow_mut()));
        s.t.clear();
        s.nodes.clear();
        s.leafs.clear();
        s.visited.clear();
        Graph {
            t: s.t,
            nodes: s.nodes,
            leafs: s.leafs,
            visited: s.visited,
        }
    }

    pub fn push(&mut self, t: Tensor) -> Id {
        self.t.push(t);
        self.visited.push(false);
        self.t.len() - 1
    }

    fn new_tensor(&mut self, ty: Type, ne: [u64; 4], op: Op, src: Srcs) -> Id {
        self.push(Tensor {
            ty,
            ne,
            nb: contiguous_nb(ty, ne),
            op,
            src,
            view_src: None,
            view_offs: 0,
            input: false,
            output: false,
            placed: None,
            forced_backend: None,
        })
    }

    /// A graph input (`ggml_set_input`).
    pub fn input(&mut self, ty: Type, ne: [u64; 4]) -> Id {
        let id = self.new_tensor(ty, ne, Op::None, Srcs::default());
        self.t[id].input = true;
        id
    }

    /// A tensor that lives in a model or KV buffer of `backend`.
    pub fn placed(&mut self, ty: Type, ne: [u64; 4], backend: usize, weight: bool) -> Id {
        let id = self.new_tensor(ty, ne, Op::None, Srcs::default());
        self.t[id].placed = Some(Placed { backend, weight });
        id
    }

    pub fn ne(&self, a: Id) -> [u64; 4] {
        self.t[a].ne
    }

    pub fn nb(&self, a: Id) -> [u64; 4] {
        self.t[a].nb
    }

    /// `ggml_view_impl`: a view of `a` at byte offset `offs` (views of views point at the root).
    fn view_with(&mut self, a: Id, op: Op, ne: [u64; 4], nb: [u64; 4], offs: u64) -> Id {
        let root = self.t[a].view_src.unwrap_or(a);
        let view_offs = offs + self.t[a].view_offs;
        let ty = self.t[a].ty;
        self.push(Tensor {
            ty,
            ne,
            nb,
            op,
            src: Srcs::of(&[a]),
            view_src: Some(root),
            view_offs,
            input: false,
            output: false,
            placed: None,
            forced_backend: None,
        })
    }

    /// A new tensor of `a`'s type and shape computed by `op` from `src`.
    fn like(&mut self, a: Id, op: Op, src: Srcs) -> Id {
        let (ty, ne) = (self.t[a].ty, self.t[a].ne);
        self.new_tensor(ty, ne, op, src)
    }

    pub fn unary(&mut self, op: Op, a: Id) -> Id {
        self.like(a, op, Srcs::of(&[a]))
    }

    pub fn binary(&mut self, op: Op, a: Id, b: Id) -> Id {
        self.like(a, op, Srcs::of(&[a, b]))
    }

    pub fn mul_mat(&mut self, a: Id, b: Id) -> Id {
        let (na, nb) = (self.ne(a), self.ne(b));
        self.new_tensor(Type::F32, [na[1], nb[1], nb[2], nb[3]], Op::MulMat, Srcs::of(&[a, b]))
    }

    /// `ggml_mul_mat_id(as, b, ids)`: `[as.ne1, ids.ne0, b.ne2, 1]`.
    pub fn mul_mat_id(&mut self, a: Id, b: Id, ids: Id) -> Id {
        let (na, nb, ni) = (self.ne(a), self.ne(b), self.ne(ids));
        self.new_tensor(
            Type::F32,
            [na[1], ni[0], nb[2], 1],
            Op::MulMatId,
            Srcs::of(&[a, b, ids]),
        )
    }

    /// `ggml_add_id(a, b, ids)`: a's shape.
    pub fn add_id(&mut self, a: Id, b: Id, ids: Id) -> Id {
        self.like(a, Op::AddId, Srcs::of(&[a, b, ids]))
    }

    pub fn get_rows(&mut self, a: Id, b: Id) -> Id {
        let (na, nb) = (self.ne(a), self.ne(b));
        let ty = if self.t[a].ty == Type::I32 {
            Type::I32
        } else {
            Type::F32
        };
        self.new_tensor(ty, [na[0], nb[0], nb[1], nb[2]], Op::GetRows, Srcs::of(&[a, b]))
    }

    /// `ggml_set_rows(a, b, c)`: writes rows `b` at indices `c` into `a`; the result is a view of `a`
    /// whose sources ggml.c orders `b, c, a`.
    pub fn set_rows(&mut self, a: Id, b: Id, c: Id) -> Id {
        let (ne, nb) = (self.ne(a), self.nb(a));
        let v = self.view_with(a, Op::SetRows, ne, nb, 0);
        self.t[v].src = Srcs::of(&[b, c, a]);
        v
    }

    pub fn rope(&mut self, a: Id, pos: Id, factors: Option<Id>) -> Id {
        let src = [Some(a), Some(pos), factors].into_iter().flatten().collect();
        self.like(a, Op::Rope, src)
    }

    /// `ggml_soft_max_ext(a, mask)` with optional sinks (`ggml_soft_max_add_sinks`).
    pub fn soft_max(&mut self, a: Id, mask: Option<Id>, sinks: Option<Id>) -> Id {
        let src = [Some(a), mask, sinks].into_iter().flatten().collect();
        self.like(a, Op::SoftMax, src)
    }

    /// `ggml_flash_attn_ext`: the result is `[D_v, n_head, n_tokens, n_stream]` (permuted vs q).
    pub fn flash_attn_ext(&mut self, q: Id, k: Id, v: Id, mask: Id, sinks: Option<Id>) -> Id {
        let (nq, nv) = (self.ne(q), self.ne(v));
        let src = [Some(q), Some(k), Some(v), Some(mask), sinks]
            .into_iter()
            .flatten()
            .collect();
        self.new_tensor(Type::F32, [nv[0], nq[2], nq[1], nq[3]], Op::FlashAttnExt, src)
    }

    /// `ggml_swiglu_split` / `ggml_geglu_split`: a new tensor shaped like `a`.
    pub fn glu_split(&mut self, a: Id, b: Id) -> Id {
        self.like(a, Op::Glu, Srcs::of(&[a, b]))
    }

    /// `ggml_swiglu` on a fused gate/up tensor: half as wide.
    pub fn glu_fused(&mut self, a: Id) -> Id {
        let (ty, mut ne) = (self.t[a].ty, self.ne(a));
        ne[0] /= 2;
        self.new_tensor(ty, ne, Op::Glu, Srcs::of(&[a]))
    }

    /// `ggml_argsort`: i32 indices of `a`'s shape.
    pub fn argsort(&mut self, a: Id) -> Id {
        let ne = self.ne(a);
        self.new_tensor(Type::I32, ne, Op::ArgSort, Srcs::of(&[a]))
    }

    /// `ggml_sum_rows`: one column.
    pub fn sum_rows(&mut self, a: Id) -> Id {
        let ne = self.ne(a);
        self.new_tensor(Type::F32, [1, ne[1], ne[2], ne[3]], Op::SumRows, Srcs::of(&[a]))
    }

    /// `ggml_cont_4d`.
    pub fn cont(&mut self, a: Id, ne: [u64; 4]) -> Id {
        let ty = self.t[a].ty;
        self.new_tensor(ty, ne, Op::Cont, Srcs::of(&[a]))
    }

    /// `ggml_dup`.
    pub fn dup(&mut self, a: Id) -> Id {
        self.like(a, Op::Dup, Srcs::of(&[a]))
    }

    pub fn reshape(&mut self, a: Id, ne: [u64; 4]) -> Id {
        let nb = contiguous_nb(self.t[a].ty, ne);
        self.view_with(a, Op::Reshape, ne, nb, 0)
    }

    pub fn view(&mut self, a: Id, ne: [u64; 4], nb: [u64; 4], offs: u64) -> Id {
        self.view_with(a, Op::View, ne, nb, offs)
    }

    /// `ggml_permute(a, axes)`: dimension i of `a` becomes dimension `axes[i]`.
    pub fn permute(&mut self, a: Id, axes: [usize; 4]) -> Id {
        let (one, onb) = (self.ne(a), self.nb(a));
        let (mut ne, mut nb) = ([0; 4], [0; 4]);
        for i in 0..4 {
            ne[axes[i]] = one[i];
            nb[axes[i]] = onb[i];
        }
        self.view_with(a, Op::Permute, ne, nb, 0)
    }

    pub fn transpose(&mut self, a: Id) -> Id {
        let (mut ne, mut nb) = (self.ne(a), self.nb(a));
        ne.swap(0, 1);
        nb.swap(0, 1);
        self.view_with(a, Op::Transpose, ne, nb, 0)
    }

    pub fn set_output(&mut self, a: Id) {
        self.t[a].output = true;
    }

    /// `ggml_build_forward_expand`: a post-order walk over the sources, left to right, appending each
    /// tensor not seen before to the nodes (or, without an op, to the leafs).
    pub fn expand(&mut self, root: Id) {
        if self.visited[root] {
            return;
        }
        self.visited[root] = true;
        let mut stack: Vec<(Id, usize)> = vec![(root, 0)];
        while let Some(top) = stack.last_mut() {
            let (id, next) = *top;
            if let Some(&s) = self.t[id].src.get(next) {
                top.1 += 1;
                if !self.visited[s] {
                    self.visited[s] = true;
                    stack.push((s, 0));
                }
            } else {
                stack.pop();
                if self.t[id].op == Op::None {
                    self.leafs.push(id);
                } else {
                    self.nodes.push(id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_sizes_follow_ggml_type_traits() {
        assert_eq!(Type::Q8_0.row_size(4096), 4352);
        assert_eq!(Type::Q4_K.row_size(4096), 2304);
        assert_eq!(Type::Q6_K.row_size(256), 210);
        assert_eq!(Type::F16.row_size(1024), 2048);
    }

    #[test]
    fn views_keep_the_root_and_the_offset() {
        let mut g = Graph::default();
        let a = g.input(Type::F32, [8, 4, 1, 1]);
        let v = g.view(a, [8, 2, 1, 1], [4, 32, 64, 64], 64);
        let w = g.view(v, [8, 1, 1, 1], [4, 32, 32, 32], 32);
        assert_eq!(g.t[w].view_src, Some(a));
        assert_eq!(g.t[w].view_offs, 96);
        let b = g.input(Type::F32, [8, 4, 2, 1]);
        let p = g.permute(b, [0, 2, 1, 3]);
        assert_eq!(g.ne(p), [8, 2, 4, 1]);
        assert!(!g.t[p].is_contiguous());
        // a permute that only moves a dimension of size 1 stays contiguous
        let q = g.permute(a, [0, 2, 1, 3]);
        assert!(g.t[q].is_contiguous());
    }

    #[test]
    fn expand_orders_nodes_post_order_left_to_right() {
        let mut g = Graph::default();
        let a = g.input(Type::F32, [4, 1, 1, 1]);
        let b = g.input(Type::F32, [4, 1, 1, 1]);
        let x = g.unary(Op::Scale, a);
        let y = g.unary(Op::Scale, b);
        let z = g.binary(Op::Add, x, y);
        g.expand(z);
        assert_eq!(g.nodes, vec![x, y, z]);
        assert_eq!(g.leafs, vec![a, b]);
    }
}
