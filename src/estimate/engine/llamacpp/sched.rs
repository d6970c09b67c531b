//! The backend scheduler's graph split (`ggml_backend_sched_split_graph`, ggml/src/ggml-backend.cpp),
//! ported for sizing: which backend runs each node, where the graph splits between backends, and the
//! copies of a split's inputs that the destination backend allocates in its own compute buffer. The
//! result is the graph, in the order and with the buffer of each tensor, that the graph allocator
//! reserves.

use super::ggml::{Graph, Id, Op, Srcs, Tensor};
use std::collections::HashMap;

/// A backend as the scheduler sees it. Backends are in priority order, the CPU last.
#[derive(Debug, Clone, Copy)]
pub struct Backend {
    pub is_cpu: bool,
    /// `op_offload`: an op on weights in host memory runs here instead when its batch is at least
    /// this (the CUDA backend's `offload_op`: 32)
    pub offload_min_batch: Option<u64>,
}

/// The scheduled graph: nodes and leafs with the buffer (index of the backend's buffer type) each is
/// allocated in.
#[derive(Debug)]
pub struct Scheduled {
    pub graph: Graph,
    /// graph splits: runs of nodes on one backend (the log's `graph splits = N`)
    pub splits: usize,
    pub nodes: Vec<(Id, usize)>,
    pub leafs: Vec<(Id, usize)>,
}

/// The batch size the scheduler compares with `offload_min_batch` (`get_op_batch_size` in the CUDA
/// backend).
fn op_batch_size(t: &Tensor) -> u64 {
    match t.op {
        Op::GetRows => 0,
        Op::MulMat => t.ne[1],
        Op::MulMatId | Op::Rope => t.ne[2],
        _ => t.ne[1] * t.ne[2] * t.ne[3],
    }
}

struct Split {
    backend: usize,
    start: usize,
    end: usize,
    /// (source read from another backend, its copy on this split's backend)
    inputs: Vec<(Id, Id)>,
}

struct Sched<'a> {
    backends: &'a [Backend],
    ids: Vec<Option<usize>>,
}

impl Sched<'_> {
    fn cpu(&self) -> usize {
        self.backends.len() - 1
    }

    /// `ggml_backend_supports_buft`: a backend uses its own buffers; the CPU backend also uses the
    /// host buffers of the other CPU-side buffer types.
    fn supports(&self, backend: usize, buffer_backend: usize) -> bool {
        backend == buffer_backend || (self.backends[backend].is_cpu && self.backends[buffer_backend].is_cpu)
    }

    /// `ggml_backend_sched_backend_from_buffer`: the highest-priority backend that can use the
    /// buffer holding `t`.
    fn backend_of_buffer(&self, g: &Graph, t: Id) -> Option<usize> {
        let root = g.t[t].view_src.unwrap_or(t);
        let placed = g.t[root].placed?;
        (0..self.backends.len()).find(|&b| self.supports(b, placed.backend))
    }

    /// `ggml_backend_sched_backend_id_from_cur`: pass 1's assignment of one tensor.
    fn assign_from_cur(&self, g: &Graph, t: Id) -> Option<usize> {
        let tensor = &g.t[t];
        if tensor.placed.is_some() || tensor.view_src.is_some_and(|v| g.t[v].placed.is_some()) {
            return self.backend_of_buffer(g, t);
        }
        if tensor.input {
            return Some(self.cpu());
        }
        if matches!(tensor.op, Op::Rope | Op::FlashAttnExt) {
            return None;
        }
        let weight = tensor.src.iter().find(|&&s| g.t[s].placed.is_some_and(|p| p.weight))?;
        let backend = self.backend_of_buffer(g, *weight)?;
        if backend == self.cpu() {
            // op_offload: a large batch on host weights goes to a GPU that accepts it
            let batch = op_batch_size(tensor);
            if let Some(b) = (0..backend).find(|&b| self.backends[b].offload_min_batch.is_some_and(|m| batch >= m)) {
                return Some(b);
            }
        }
        Some(backend)
    }

    /// `ggml_backend_sched_buffer_supported`: whether `backend` can read `t` where it lives.
    fn readable(&self, g: &Graph, t: Id, backend: usize) -> bool {
        let root = g.t[t].view_src.unwrap_or(t);
        if let Some(p) = g.t[root].placed {
            return self.supports(backend, p.backend);
        }
        match self.ids[t].or_else(|| g.t[t].view_src.and_then(|v| self.ids[v])) {
            Some(b) => self.supports(backend, b),
            None => false,
        }
    }

    fn assigned(&self, g: &Graph, t: Id) -> bool {
        self.ids[t].is_some() || g.t[t].view_src.is_some_and(|v| self.ids[v].is_some())
    }

    /// Pass 2: spread assignments to unassigned neighbours, GPU backends first (down, up), then any
    /// backend (down, up).
    fn expand(&mut self, g: &Graph, order: &[Id], skip_cpu: bool) {
        let mut cur = None;
        for &n in order {
            if g.t[n].op.is_view() {
                continue;
            }
            match self.ids[n] {
                Some(b) => cur = (!(skip_cpu && b == self.cpu())).then_some(b),
                None => self.ids[n] = cur,
            }
        }
    }

    /// Pass 3: a node still unassigned goes to the backend that can read most of its inputs. (Pass 3
    /// also moves assigned nodes to a higher-priority backend of the same buffer type; each modeled
    /// backend has a buffer type of its own, so that never applies.)
    fn settle(&mut self, g: &Graph, n: Id) {
        if self.ids[n].is_some() {
            return;
        }
        let readable = |b: usize| {
            g.t[n]
                .src
                .iter()
                .filter(|&&s| self.assigned(g, s) && self.readable(g, s, b))
                .count()
        };
        let best = (0..self.backends.len()).fold(None, |best: Option<(usize, usize)>, b| {
            let count = readable(b);
            match best {
                Some((_, c)) if c >= count => best,
                _ => Some((b, count)),
            }
        });
        self.ids[n] = best.map(|(b, _)| b);
    }

    /// Pass 4: views take their source's backend, unassigned sources their consumer's.
    fn fill_sources(&mut self, g: &Graph, n: Id) {
        if self.ids[n].is_none() {
            self.ids[n] = g.t[n].view_src.and_then(|v| self.ids[v]);
        }
        let cur = self.ids[n];
        for &s in &g.t[n].src {
            if self.ids[s].is_none() {
                self.ids[s] = match g.t[s].view_src {
                    Some(v) => self.ids[v],
                    None => cur,
                };
            }
        }
        if self.ids[n].is_none() {
            self.ids[n] = Some(0);
        }
    }
}

/// Splits `graph` over `backends` (each backend allocating in the buffer of the same index) and
/// returns the graph the allocator sees: for each split, the copies of its inputs first, then its
/// nodes (`ggml_backend_sched_split_graph`). With `n_copies` > 1 (pipeline parallelism) every graph
/// input and every split input has `n_copies` copies, flagged input and output and listed as leafs
/// ahead of the graph's own, so the allocator places them first and never frees them.
pub fn split(mut graph: Graph, backends: &[Backend], n_copies: usize) -> Scheduled {
    let mut s = Sched {
        backends,
        ids: graph.t.iter().map(|t| t.forced_backend).collect(),
    };
    let (nodes, leafs) = (graph.nodes.clone(), graph.leafs.clone());
    for &t in leafs.iter().chain(&nodes) {
        if s.ids[t].is_none() {
            s.ids[t] = s.assign_from_cur(&graph, t);
        }
    }
    let reversed: Vec<Id> = nodes.iter().rev().copied().collect();
    s.expand(&graph, &nodes, true);
    s.expand(&graph, &reversed, true);
    s.expand(&graph, &nodes, false);
    s.expand(&graph, &reversed, false);
    for &n in &nodes {
        if !graph.t[n].op.is_view() {
            s.settle(&graph, n);
        }
    }
    for &n in &nodes {
        s.fill_sources(&graph, n);
    }
    let (splits, copies) = cut(&mut graph, &mut s, &nodes, n_copies.max(1));
    let cpu = s.cpu();
    let backend = |ids: &[Option<usize>], t: Id| ids[t].unwrap_or(cpu);
    let mut out = Vec::new();
    for split in &splits {
        for &(input, copy) in &split.inputs {
            // the scheduler's graph copy puts, for each input, a dependency view of the original
            // (allocated nowhere; it keeps the original alive until here) and then the copy
            let view = graph.push(Tensor {
                op: Op::None,
                src: Srcs::of(&[input]),
                view_src: Some(graph.t[input].view_src.unwrap_or(input)),
                view_offs: 0,
                input: false,
                output: false,
                placed: None,
                forced_backend: None,
                ..graph.t[input].clone()
            });
            s.ids.push(s.ids[input]);
            out.push((view, backend(&s.ids, input)));
            out.push((copy, split.backend));
        }
        out.extend(nodes[split.start..split.end].iter().map(|&n| (n, backend(&s.ids, n))));
    }
    let leafs = copies.iter().chain(&leafs).map(|&l| (l, backend(&s.ids, l))).collect();
    Scheduled {
        graph,
        splits: splits.len(),
        nodes: out,
        leafs,
    }
}

/// Pass 5: cuts the node list where the backend changes and redirects each source a split's backend
/// cannot read to a copy allocated on that backend (one copy per source and backend). Returns the
/// splits with their inputs; the copies are pushed onto the graph and allocated at the start of their
/// split (see [`split`]). With `n_copies` > 1 it also returns the tensors the allocator must hold
/// for the whole graph: `n_copies` copies of each split input (the one a split reads being one of
/// them) and, pass 6, of every graph input (the original being one of them), whether a node reads
/// it or not: the reserve graph keeps the embeddings input of a text batch unread, and the scheduler
/// copies it anyway so that switching batch kinds does not reallocate ("collect all input tensors
/// into graph_inputs", ggml/src/ggml-backend.cpp of the vendored build).
fn cut(graph: &mut Graph, s: &mut Sched, nodes: &[Id], n_copies: usize) -> (Vec<Split>, Vec<Id>) {
    let mut held: Vec<Id> = Vec::new();
    if n_copies > 1 {
        let inputs: Vec<Id> = graph.leafs.iter().copied().filter(|&l| graph.t[l].input).collect();
        for input in inputs {
            graph.t[input].output = true;
            held.push(input);
            for _ in 1..n_copies {
                held.push(copy_on(graph, s, input, s.ids[input], true));
            }
        }
    }
    let first = nodes.iter().position(|&n| !graph.t[n].op.is_view()).unwrap_or(0);
    let Some(&start_node) = nodes.get(first) else {
        return (Vec::new(), held);
    };
    let mut cur = s.ids[start_node].unwrap_or(0);
    let mut splits = vec![Split {
        backend: cur,
        start: 0,
        end: 0,
        inputs: Vec::new(),
    }];
    let mut copies: HashMap<(Id, usize), Id> = HashMap::new();
    for (i, &n) in nodes.iter().enumerate().skip(first) {
        if graph.t[n].op.is_view() {
            continue;
        }
        let backend = s.ids[n].unwrap_or(0);
        // a new split also starts where a weight the current backend cannot read would be copied
        let needs_new = backend == cur
            && splits.last().is_some_and(|sp| !sp.inputs.is_empty())
            && graph.t[n].src.iter().any(|&src| {
                graph.t[src].placed.is_some_and(|p| p.weight) && s.ids[src] != Some(cur) && !s.readable(graph, src, cur)
            });
        if backend != cur || needs_new {
            if let Some(last) = splits.last_mut() {
                last.end = i;
            }
            splits.push(Split {
                backend,
                start: i,
                end: 0,
                inputs: Vec::new(),
            });
            cur = backend;
        }
        for j in 0..graph.t[n].src.len() {
            let src = graph.t[n].src[j];
            if s.ids[src] == Some(cur) || s.readable(graph, src, cur) {
                continue;
            }
            let copy = match copies.get(&(src, cur)) {
                Some(&c) => c,
                None => {
                    // with pipeline parallelism every copy is held, the one this split reads too
                    let c = copy_on(graph, s, src, Some(cur), n_copies > 1);
                    copies.insert((src, cur), c);
                    if n_copies > 1 {
                        held.push(c);
                        for _ in 1..n_copies {
                            held.push(copy_on(graph, s, src, Some(cur), true));
                        }
                    }
                    if let Some(last) = splits.last_mut() {
                        last.inputs.push((src, c));
                    }
                    c
                }
            };
            graph.t[n].src[j] = copy;
        }
    }
    if let Some(last) = splits.last_mut() {
        last.end = nodes.len();
    }
    (splits, held)
}

/// A copy of `src` (its type and shape, memory of its own) on `backend`. `held`: flagged input and
/// output, so the allocator places it first and never frees it (pipeline parallelism's copies);
/// otherwise allocated at the start of its split and freed after its last reader.
fn copy_on(graph: &mut Graph, s: &mut Sched, src: Id, backend: Option<usize>, held: bool) -> Id {
    let c = graph.push(Tensor {
        op: Op::None,
        src: Srcs::default(),
        view_src: None,
        view_offs: 0,
        input: held,
        output: held,
        placed: None,
        forced_backend: None,
        ..graph.t[src].clone()
    });
    s.ids.push(backend);
    c
}

#[cfg(test)]
mod tests {
    use super::super::gallocr::{self, Plain};
    use super::super::ggml::Type;
    use super::*;

    /// GPU0 multiplies the host's input by its weight, GPU1 the result by its own: each GPU copies
    /// in one 256-byte vector. With pipeline parallelism every copy is held four times, and the host
    /// holds four copies of its input.
    fn buffers(n_copies: usize) -> Vec<u64> {
        let mut g = Graph::default();
        let w0 = g.placed(Type::F32, [64, 64, 1, 1], 0, true);
        let w1 = g.placed(Type::F32, [64, 64, 1, 1], 1, true);
        let x = g.input(Type::F32, [64, 1, 1, 1]);
        let a = g.mul_mat(w0, x);
        let b = g.mul_mat(w1, a);
        g.expand(b);
        let gpu = Backend {
            is_cpu: false,
            offload_min_batch: None,
        };
        let cpu = Backend {
            is_cpu: true,
            offload_min_batch: None,
        };
        let s = split(g, &[gpu, gpu, cpu], n_copies);
        assert_eq!(s.splits, 2);
        gallocr::reserve(&s.graph, &s.nodes, &s.leafs, &[&Plain, &Plain, &Plain])
    }

    #[test]
    fn pipeline_parallelism_holds_every_copied_input_n_copies_times() {
        // one copy: the copied-in vector and the product on each GPU, the input on the host
        assert_eq!(buffers(1), vec![512, 512, 256]);
        // four: four held copies and the product on each GPU, four inputs on the host
        assert_eq!(buffers(4), vec![4 * 256 + 256, 4 * 256 + 256, 4 * 256]);
    }
}
