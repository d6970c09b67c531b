//! ggml's graph allocator (`ggml_gallocr`, ggml/src/ggml-alloc.c), ported for sizing: it walks the
//! graph in order, gives each tensor the best-fitting free block (or grows the buffer), lets an
//! in-place op reuse its parent's memory, and frees a tensor after its last consumer. A compute
//! buffer's size is the high-water mark of that walk: not a sum of tensors but the largest set alive
//! at once, with the fragmentation the greedy choice leaves.

use super::ggml::{Graph, Id};

/// What a backend's buffer type does to a tensor's size (`ggml_backend_buft_get_alloc_size`) and
/// its alignment (`ggml_backend_buft_get_alignment`).
pub trait BufferType {
    fn alignment(&self) -> u64;
    fn alloc_size(&self, g: &Graph, t: Id) -> u64;
}

fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

#[derive(Clone, Copy, Debug)]
struct Block {
    offset: u64,
    size: u64,
}

/// `ggml_dyn_tallocr` with one chunk (the buffer types modeled have no maximum size): a sorted list
/// of free blocks, the last one unbounded.
#[derive(Clone, Debug)]
struct DynAlloc {
    alignment: u64,
    free: Vec<Block>,
    max_size: u64,
}

impl DynAlloc {
    fn new(alignment: u64) -> Self {
        DynAlloc {
            alignment,
            free: vec![Block {
                offset: 0,
                size: u64::MAX / 2,
            }],
            max_size: 0,
        }
    }

    /// `ggml_dyn_tallocr_alloc`: the smallest free block that fits, searched among all but the last
    /// (unbounded) block, else the last block.
    fn alloc(&mut self, size: u64) -> u64 {
        let size = align(size, self.alignment);
        let last = self.free.len() - 1;
        let i = (0..last)
            .filter(|&i| self.free[i].size >= size)
            .fold(None, |best: Option<usize>, i| match best {
                Some(b) if self.free[b].size < self.free[i].size => Some(b),
                _ => Some(i),
            })
            .unwrap_or(last);
        let offset = self.free[i].offset;
        self.free[i].offset += size;
        self.free[i].size -= size;
        if self.free[i].size == 0 {
            self.free.remove(i);
        }
        self.max_size = self.max_size.max(offset + size);
        offset
    }

    /// `ggml_dyn_tallocr_free_bytes`: merge with an adjacent free block, or insert in offset order.
    fn free(&mut self, offset: u64, size: u64) {
        let size = align(size, self.alignment);
        for i in 0..self.free.len() {
            let b = self.free[i];
            if b.offset + b.size == offset {
                self.free[i].size += size;
                if let Some(next) = self.free.get(i + 1).copied() {
                    if self.free[i].offset + self.free[i].size == next.offset {
                        self.free[i].size += next.size;
                        self.free.remove(i + 1);
                    }
                }
                return;
            }
            if offset + size == b.offset {
                self.free[i].offset = offset;
                self.free[i].size += size;
                if i > 0 {
                    let prev = self.free[i - 1];
                    if prev.offset + prev.size == offset {
                        self.free[i - 1].size += self.free[i].size;
                        self.free.remove(i);
                    }
                }
                return;
            }
        }
        let at = self
            .free
            .iter()
            .position(|b| b.offset >= offset)
            .unwrap_or(self.free.len());
        self.free.insert(at, Block { offset, size });
    }
}

/// The allocator's bookkeeping for one tensor (`hash_node`).
#[derive(Clone, Copy, Default, Debug)]
struct Node {
    n_children: u32,
    n_views: u32,
    buffer: usize,
    offset: u64,
    allocated: bool,
}

struct Gallocr<'a> {
    g: &'a Graph,
    bufts: &'a [&'a dyn BufferType],
    nodes: Vec<Node>,
    allocs: Vec<DynAlloc>,
}

impl Gallocr<'_> {
    /// Whether `t` already has memory: a weight or KV tensor, a view of one, or allocated here.
    fn has_memory(&self, t: Id) -> bool {
        let tensor = &self.g.t[t];
        tensor.placed.is_some()
            || tensor.view_src.is_some_and(|v| self.g.t[v].placed.is_some())
            || self.nodes[t].allocated
    }

    fn is_output(&self, t: Id) -> bool {
        let tensor = &self.g.t[t];
        tensor.output || tensor.view_src.is_some_and(|v| self.g.t[v].output)
    }

    /// `ggml_gallocr_free_extra_space`: a node reusing a larger parent hands back the tail.
    fn free_extra_space(&mut self, node: Id, parent: Id) {
        let p = self.nodes[parent];
        let a = self.allocs[p.buffer].alignment;
        let parent_size = align(self.bufts[p.buffer].alloc_size(self.g, parent), a);
        let node_size = align(self.bufts[self.nodes[node].buffer].alloc_size(self.g, node), a);
        if parent_size > node_size {
            self.allocs[p.buffer].free(p.offset + node_size, parent_size - node_size);
        }
    }

    /// Takes over `parent`'s memory for `node` when the op allows it and nothing else reads the
    /// parent (`ggml_gallocr_allocate_node`'s in-place branch). Returns whether it did.
    fn reuse_parent(&mut self, node: Id, parent: Id) -> bool {
        if !self.nodes[parent].allocated || self.is_output(parent) {
            return false;
        }
        let (n, p) = (&self.g.t[node], &self.g.t[parent]);
        if n.ty != p.ty || n.ne != p.ne || n.nb != p.nb {
            return false;
        }
        let ph = self.nodes[parent];
        if ph.n_children != 1 || ph.n_views != 0 {
            return false;
        }
        let owner = match p.view_src {
            // a view can hand over its source only when it is the source's sole use and starts at it
            Some(vs) => {
                let vh = self.nodes[vs];
                if vh.n_views != 1 || vh.n_children != 0 || p.view_offs != 0 {
                    return false;
                }
                self.nodes[vs].allocated = false;
                vs
            }
            None => parent,
        };
        self.nodes[node].buffer = ph.buffer;
        self.nodes[node].offset = ph.offset;
        self.nodes[parent].allocated = false;
        self.free_extra_space(node, owner);
        true
    }

    fn allocate(&mut self, node: Id, buffer: usize) {
        if self.has_memory(node) || self.g.t[node].view_src.is_some() {
            return;
        }
        self.nodes[node].allocated = true;
        if self.g.t[node].op.can_inplace() {
            let parents = self.g.t[node].src;
            if parents.iter().any(|&p| self.reuse_parent(node, p)) {
                return;
            }
        }
        let size = self.bufts[buffer].alloc_size(self.g, node);
        self.nodes[node].buffer = buffer;
        self.nodes[node].offset = self.allocs[buffer].alloc(size);
    }

    fn release(&mut self, t: Id) {
        if self.g.t[t].output {
            return;
        }
        let h = self.nodes[t];
        let size = self.bufts[h.buffer].alloc_size(self.g, t);
        self.allocs[h.buffer].free(h.offset, size);
        self.nodes[t].allocated = false;
    }

    /// After `node` ran: a parent with no consumers left (and no views) is freed; a view passes the
    /// release on to its source.
    fn consumed(&mut self, parent: Id) {
        self.nodes[parent].n_children -= 1;
        let ph = self.nodes[parent];
        if ph.n_children != 0 || ph.n_views != 0 {
            return;
        }
        match self.g.t[parent].view_src {
            Some(vs) => {
                self.nodes[vs].n_views -= 1;
                let vh = self.nodes[vs];
                if vh.n_views == 0 && vh.n_children == 0 && vh.allocated {
                    self.release(vs);
                }
            }
            None if ph.allocated => self.release(parent),
            None => {}
        }
    }
}

/// `ggml_gallocr_reserve_n`: allocates `nodes` and `leafs` (each with its buffer index into
/// `bufts`) the way `ggml_gallocr_alloc_graph_impl` does and returns each buffer's size. Inputs are
/// allocated first, so they stay alive through the whole graph.
pub fn reserve(g: &Graph, nodes: &[(Id, usize)], leafs: &[(Id, usize)], bufts: &[&dyn BufferType]) -> Vec<u64> {
    let mut ga = Gallocr {
        g,
        bufts,
        nodes: vec![Node::default(); g.t.len()],
        allocs: bufts.iter().map(|b| DynAlloc::new(b.alignment())).collect(),
    };
    for &(leaf, buffer) in leafs {
        ga.allocate(leaf, buffer);
    }
    for &(node, buffer) in nodes {
        let t = &g.t[node];
        if let (Some(vs), false) = (t.view_src, t.op == super::ggml::Op::None) {
            ga.nodes[vs].n_views += 1;
        }
        if t.input {
            ga.allocate(node, buffer);
        }
        for &s in &t.src {
            ga.nodes[s].n_children += 1;
            if g.t[s].input {
                ga.allocate(s, buffer);
            }
        }
    }
    for &(node, buffer) in nodes {
        for &p in &g.t[node].src {
            ga.allocate(p, buffer);
        }
        ga.allocate(node, buffer);
        for &p in &g.t[node].src {
            ga.consumed(p);
        }
    }
    ga.allocs.iter().map(|a| a.max_size).collect()
}

/// A buffer type of tensors at their own size, 32-byte aligned (the tests' host buffer).
#[cfg(test)]
pub(super) struct Plain;

#[cfg(test)]
impl BufferType for Plain {
    fn alignment(&self) -> u64 {
        32
    }
    fn alloc_size(&self, g: &Graph, t: Id) -> u64 {
        g.t[t].nbytes()
    }
}

#[cfg(test)]
mod tests {
    use super::super::ggml::{Op, Type};
    use super::*;

    fn size(g: &Graph) -> u64 {
        let nodes: Vec<_> = g.nodes.iter().map(|&n| (n, 0)).collect();
        let leafs: Vec<_> = g.leafs.iter().map(|&n| (n, 0)).collect();
        reserve(g, &nodes, &leafs, &[&Plain])[0]
    }

    #[test]
    fn a_chain_of_in_place_ops_needs_one_tensor() {
        let mut g = Graph::default();
        let w = g.placed(Type::F32, [256, 256, 1, 1], 0, true);
        let x = g.input(Type::F32, [256, 1, 1, 1]);
        let y = g.mul_mat(w, x); // 1 KiB
        let y = g.unary(Op::Scale, y);
        let y = g.unary(Op::Unary, y);
        g.expand(y);
        // the input (1 KiB) stays; the product is reused in place twice
        assert_eq!(size(&g), 2048);
    }

    #[test]
    fn a_freed_block_is_reused_and_the_buffer_is_the_peak() {
        let mut g = Graph::default();
        let w = g.placed(Type::F32, [64, 64, 1, 1], 0, true);
        let x = g.input(Type::F32, [64, 1, 1, 1]); // 256 B, allocated first, freed after a
        let a = g.mul_mat(w, x); // 256 B
        let b = g.mul_mat(w, a); // takes x's block; a is freed after b
        let c = g.mul_mat(w, b); // takes a's block
        g.expand(c);
        assert_eq!(size(&g), 2 * 256);
    }
}
