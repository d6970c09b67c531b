//! Choosing a split: for a model on given GPUs and a host, every way of keeping part of it on the
//! CPU that llama.cpp's own flags express — the routed experts of the first N blocks
//! (`--n-cpu-moe N`) for MoE models, the first layers (`-ngl`) for dense ones — with the memory
//! each needs, the largest context each fits, and the decode speed each gives. The fastest split
//! that fits is the answer; the others make the trade-off table.
//!
//! Memory is additive in the split: weights per device from the placement (exact), the KV cache in
//! closed form per context, and the compute buffers from a replay of the graph. A replay is the
//! expensive part, so the search replays two representative placements (nothing on the host, and
//! the first block's experts or layer on the host) and reuses their compute buffers and graph splits
//! for the other rows; the chosen split is then computed in full by [`super::split`].

use super::speed::{self, Decode, DecodeBytes, HybridProfile};
use super::{layout, Layout, PlacementKey, Rules};
use crate::estimate::arch::moe::expected_share_touched;
use crate::estimate::engine::llamacpp::backend::{Alloc, GpuBackend};
use crate::estimate::engine::llamacpp::compute::SplitBuffers;
use crate::estimate::engine::llamacpp::context::Context;
use crate::estimate::engine::llamacpp::weights::Place;
use crate::estimate::engine::llamacpp::{self, Settings};
use crate::estimate::prepared::Prepared;
use crate::estimate::recent::{remembered, Recent};
use crate::estimate::search::largest;
use crate::spec::host::Host;
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;

/// The setting a row of the search varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Knob {
    /// `--n-cpu-moe N` with every layer on the GPUs
    Experts { n_cpu_moe: u64 },
    /// `-ngl N`
    Layers { n_gpu_layers: u64 },
}

impl Knob {
    /// `s` with this knob set (and nothing else moved).
    pub fn apply(self, s: &Settings) -> Settings {
        let mut out = *s;
        match self {
            Knob::Experts { n_cpu_moe } => {
                out.offload.n_cpu_moe = n_cpu_moe;
                out.n_gpu_layers = None;
            }
            Knob::Layers { n_gpu_layers } => out.n_gpu_layers = Some(n_gpu_layers),
        }
        out
    }
}

/// One split of the search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub knob: Knob,
    /// bytes on the fullest GPU at the requested context
    pub gpu_bytes: u64,
    /// RAM the split needs at the requested context
    pub host_bytes: u64,
    pub fits_gpu: bool,
    /// None when no host is given
    pub fits_host: Option<bool>,
    /// the largest context (per sequence) this split fits on the GPUs and the host; None: none
    pub max_context: Option<u64>,
    /// decode at the requested context; None without the host's bandwidth
    pub decode: Option<Decode>,
}

impl Row {
    pub fn fits(&self) -> bool {
        self.fits_gpu && self.fits_host != Some(false)
    }
}

/// The search's result: the rows in the order of more and more on the host, and the chosen one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Search {
    pub rows: Vec<Row>,
    /// index into `rows` of the fastest split that fits (the most on the GPU when there is no
    /// speed to compare)
    pub best: Option<usize>,
}

impl Search {
    pub fn best_row(&self) -> Option<&Row> {
        self.best.map(|i| &self.rows[i])
    }
}

/// What one part of the model costs where it lives: bytes in a GPU buffer, bytes in host memory,
/// bytes a decode step reads, bytes a prompt ubatch copies to the GPU when it is on the host.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Cost {
    gpu: u64,
    host: u64,
    reads: u64,
    copy: u64,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        self.gpu += o.gpu;
        self.host += o.host;
        self.reads += o.reads;
        self.copy += o.copy;
    }
}

/// The model's costs per block (whole, and its routed experts alone), for the output layer and the
/// token embeddings: any split the search considers is a sum of these, so it needs no placement
/// pass per row.
struct Costs {
    blocks: Vec<Cost>,
    experts: Vec<Cost>,
    output: Cost,
    input: Cost,
}

impl Costs {
    fn new(p: &Prepared, s: &Settings, gpus: usize, batch: u64, ubatch: u64, backend: GpuBackend) -> Costs {
        let (m, file, _) = llamacpp::model_of(p);
        let tensors = llamacpp::file_tensors(p, &file);
        let (experts, used) = m.experts.map_or((0, 0), |x| (x.count, x.used));
        let share = |tokens: u64| expected_share_touched(experts, used, tokens);
        let (step, prompt) = (share(batch.max(1)), share(ubatch));
        let op_offload = backend.offloads_ops(ubatch, gpus, s.offload.no_op_offload);
        let mut c = Costs {
            blocks: vec![Cost::default(); m.n_layer as usize],
            experts: vec![Cost::default(); m.n_layer as usize],
            output: Cost::default(),
            input: Cost::default(),
        };
        for t in tensors.iter() {
            let scale = |x: f64| {
                if t.routed {
                    (t.nbytes as f64 * x) as u64
                } else {
                    t.nbytes
                }
            };
            let cost = Cost {
                gpu: t.bytes_in(backend.alloc()),
                // mapped: the tensor's own pages; pinned or plain host buffers: 32-byte aligned
                host: if s.mmap { t.nbytes } else { t.bytes_in(Alloc::Host) },
                reads: if t.place == Place::Input { 0 } else { scale(step) },
                copy: if op_offload && t.place != Place::Input {
                    scale(prompt)
                } else {
                    0
                },
            };
            match t.place {
                Place::Input => c.input += cost,
                Place::Output => c.output += cost,
                Place::Layer(il) => {
                    c.blocks[il as usize] += cost;
                    if t.routed {
                        c.experts[il as usize] += cost;
                    }
                }
            }
        }
        c
    }

    /// The layout of `units` (device per block, then the output layer) with the experts of the
    /// first `n_cpu_moe` blocks on the host, from the base layout `base`.
    fn layout(&self, base: &Layout, units: Vec<Option<usize>>, n_cpu_moe: u64) -> Layout {
        let gpus = base.gpus;
        let mut l = Layout {
            units,
            gpus,
            backend: base.backend,
            gpu_model: vec![0; gpus],
            gpu_expert_blocks: vec![0; gpus],
            host_expert_blocks: 0,
            host_buffers: Default::default(),
            host_weights: self.input.host,
            pinned_weights: 0,
            gpu_reads: vec![0; gpus],
            host_reads: self.input.reads,
            ubatch_copy_bytes: 0,
            model: base.model,
            unknown_gpu: None,
            flags: base.flags,
            no_kv_offload: base.no_kv_offload,
            mmap: base.mmap,
        };
        let moe = self.experts.iter().any(|e| e.gpu > 0);
        let place = |l: &mut Layout, cost: &Cost, device: Option<usize>| match device {
            Some(g) => {
                l.gpu_model[g] += cost.gpu;
                l.gpu_reads[g] += cost.reads;
            }
            None => {
                l.host_weights += cost.host;
                l.host_reads += cost.reads;
                l.ubatch_copy_bytes += cost.copy;
            }
        };
        for (il, (block, experts)) in self.blocks.iter().zip(&self.experts).enumerate() {
            let device = l.units[il];
            let on_host = (il as u64) < n_cpu_moe;
            match device {
                Some(_) if on_host => {
                    let rest = Cost {
                        gpu: block.gpu - experts.gpu,
                        host: block.host - experts.host,
                        reads: block.reads - experts.reads,
                        copy: block.copy - experts.copy,
                    };
                    place(&mut l, &rest, device);
                    place(&mut l, experts, None);
                }
                _ => place(&mut l, block, device),
            }
            if moe {
                match device.filter(|_| !on_host) {
                    Some(g) => l.gpu_expert_blocks[g] += 1,
                    None => l.host_expert_blocks += 1,
                }
            }
        }
        let output_device = l.units[self.blocks.len()];
        place(&mut l, &self.output, output_device);
        if !l.mmap && gpus > 0 {
            // the modeled build keeps unmapped host weights in pinned memory
            l.pinned_weights = l.host_weights;
        }
        l
    }
}

/// Compute buffers and graph splits of a placement family, from one replay: nothing on the host
/// (the first row), or the first block's experts or layer there (every other row).
struct Replayed {
    buffers: SplitBuffers,
    /// graph splits beyond the full offload's, per block with experts on the host, or in all
    /// (layers: the CPU's blocks are contiguous, one hand-over each way)
    extra_splits: u64,
}

fn replay(p: &Prepared, s: &Settings, knob: Knob, gpus: usize, context: u64, batch: u64, rules: &Rules) -> Replayed {
    // through the remembered splits: nothing on the host is also the whole fit's split; as first
    // scheduled (no retry without pipeline parallelism, which depends on the GPU's size)
    let sp = super::scheduled_split(p, &knob.apply(s), gpus, context, batch, rules);
    let mut compute: Vec<u64> = sp.gpus.iter().map(|g| g.compute_buffer_bytes).collect();
    compute.push(sp.host.compute_buffer_bytes);
    let buffers = SplitBuffers {
        compute,
        splits_prompt: sp.graph_splits_prompt as usize,
        splits_token: sp.graph_splits_token as usize,
    };
    let extra_splits = sp.graph_splits_token.saturating_sub(super::FULL_OFFLOAD_SPLITS);
    Replayed { buffers, extra_splits }
}

/// GPU and host bytes of layout `l` at `context`, with cached compute buffers.
fn bytes_at(p: &Prepared, s: &Settings, l: &Layout, r: &Replayed, context: u64, batch: u64) -> (u64, u64) {
    let m = &l.model;
    let ctx = Context::new(m, &llamacpp::params(s, context, batch));
    let cuda = super::context_bytes(p, l.backend);
    let gpu = (0..l.gpus)
        .map(|g| {
            let kv = ctx
                .kv_buffers(m, l.backend.alloc(), |il| l.kv_device(il) == Some(g))
                .total();
            l.gpu_model[g]
                .saturating_add(kv)
                .saturating_add(r.buffers.compute[g])
                .saturating_add(cuda)
        })
        .max()
        .unwrap_or(0);
    let host_kv = ctx.kv_buffers(m, Alloc::Host, |il| l.kv_device(il).is_none()).total();
    let output = llamacpp::context::output_buffer(m.n_vocab, ctx.n_seq_max);
    let host = l
        .host_weights
        .saturating_add(host_kv)
        .saturating_add(r.buffers.compute[l.gpus])
        .saturating_add(output);
    (gpu, host)
}

/// What the search is for: GPUs, context and batch, the host.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// equal GPUs (`p.gpu` each)
    pub gpus: usize,
    /// tokens per sequence
    pub context: u64,
    /// sequences (llama.cpp's slots)
    pub batch: u64,
    pub host: Option<&'a Host>,
}

/// Decode of layout `l` for `q`: weights and KV read per side, the hand-overs per token.
pub fn decode_of(
    p: &Prepared,
    s: &Settings,
    l: &Layout,
    host_splits: u64,
    q: &Query,
    profile: &HybridProfile,
) -> Option<Decode> {
    let m = &l.model;
    let ctx = Context::new(m, &llamacpp::params(s, q.context, q.batch));
    let kv_row = ctx.type_k.row_size(m.n_embd_gqa()) + ctx.type_v.row_size(m.n_embd_gqa());
    let mut bytes = DecodeBytes {
        gpu: l.gpu_reads.clone(),
        host: l.host_reads,
        host_splits,
    };
    for il in 0..m.n_layer {
        let b = kv_row
            .saturating_mul(super::kv_read_tokens(m, il, q.context))
            .saturating_mul(q.batch.max(1));
        match l.kv_device(il) {
            Some(g) => bytes.gpu[g] = bytes.gpu[g].saturating_add(b),
            None => bytes.host = bytes.host.saturating_add(b),
        }
    }
    let rt = p.setup.runtime;
    speed::decode(
        &bytes,
        p.gpu.bandwidth_gbps,
        rt.memory_efficiency,
        rt.step_overhead_s,
        q.host.and_then(Host::bandwidth_gbps),
        profile,
    )
}

/// Every split of `p`'s model that llama.cpp's `--n-cpu-moe` (MoE) or `-ngl` (dense) gives for `q`
/// (GPUs of `p.budget` bytes each).
pub fn search(p: &Prepared, s: &Settings, q: &Query, rules: &Rules, profile: &HybridProfile) -> Search {
    Plan::new(p, s, q.gpus, q.context, q.batch, rules).search(p, q.host, profile)
}

/// What a split search knows before it looks at a GPU's size or a host: the settings each row
/// varies, the per-block costs, the base placement and the two representative replays. None of it
/// depends on the GPU (`p.gpu`, `p.budget` enter per row), so a matrix builds one per model, format,
/// context and settings and asks it about every GPU.
pub struct Plan {
    settings: Settings,
    knobs: Vec<Knob>,
    full: Replayed,
    partial: Replayed,
    base: Layout,
    costs: Costs,
    gpus: usize,
    context: u64,
    batch: u64,
    rules: Rules,
}

thread_local! {
    /// Plans remembered per thread, as the replays are (a matrix asks for one per model, format and
    /// context on every call).
    static PLANS: RefCell<Recent<PlacementKey, Rc<Plan>>> = const { RefCell::new(Recent::new(1024)) };
}

/// [`Plan::new`], remembered.
pub fn plan(p: &Prepared, s: &Settings, gpus: usize, context: u64, batch: u64, rules: &Rules) -> Rc<Plan> {
    let key = PlacementKey::of(p, s, rules, gpus, context, batch);
    remembered(&PLANS, key, || Rc::new(Plan::new(p, s, gpus, context, batch, rules)))
}

impl Plan {
    pub fn new(p: &Prepared, s: &Settings, gpus: usize, context: u64, batch: u64, rules: &Rules) -> Plan {
        let (m, _, _) = llamacpp::model_of(p);
        let n_layer = m.n_layer;
        let knobs: Vec<Knob> = if m.experts.is_some() {
            (0..=n_layer).map(|n| Knob::Experts { n_cpu_moe: n }).collect()
        } else {
            (0..=n_layer + 1)
                .rev()
                .map(|n| Knob::Layers { n_gpu_layers: n })
                .collect()
        };
        let full = replay(p, s, knobs[0], gpus, context, batch, rules);
        let partial = replay(p, s, knobs[1.min(knobs.len() - 1)], gpus, context, batch, rules);
        let ubatch = Context::new(&m, &llamacpp::params(s, context, batch)).n_ubatch;
        Plan {
            settings: *s,
            knobs,
            full,
            partial,
            base: layout(p, s, gpus, batch, ubatch, rules),
            costs: Costs::new(p, s, gpus, batch, ubatch, rules.backend),
            gpus,
            context,
            batch,
            rules: *rules,
        }
    }

    fn query<'h>(&self, host: Option<&'h Host>) -> Query<'h> {
        Query {
            gpus: self.gpus,
            context: self.context,
            batch: self.batch,
            host,
        }
    }

    /// Row `i`; its largest context only with `max_context` (a search over contexts).
    fn row(&self, p: &Prepared, i: usize, host: Option<&Host>, profile: &HybridProfile, max_context: bool) -> Row {
        let knob = self.knobs[i];
        let ks = knob.apply(&self.settings);
        let shares = vec![1.0; self.gpus];
        let (units, n_cpu_moe) = match knob {
            Knob::Experts { n_cpu_moe } => (self.base.units.clone(), n_cpu_moe),
            Knob::Layers { n_gpu_layers } => (
                super::placement::unit_devices(self.base.model.n_layer, Some(n_gpu_layers), self.rules.ngl, &shares),
                0,
            ),
        };
        let l = self.costs.layout(&self.base, units, n_cpu_moe);
        let r = if i == 0 { &self.full } else { &self.partial };
        let host_splits = match knob {
            Knob::Experts { n_cpu_moe } => self.partial.extra_splits * n_cpu_moe,
            Knob::Layers { .. } if i == 0 => 0,
            Knob::Layers { .. } => self.partial.extra_splits,
        };
        let usable = host.map(Host::usable_bytes);
        let (gpu_bytes, host_bytes) = bytes_at(p, &ks, &l, r, self.context, self.batch);
        let fits_at = |c: u64| {
            let (g, h) = bytes_at(p, &ks, &l, r, c, self.batch);
            g <= p.budget && usable.is_none_or(|u| h <= u)
        };
        Row {
            knob,
            gpu_bytes,
            host_bytes,
            fits_gpu: gpu_bytes <= p.budget,
            fits_host: usable.map(|u| host_bytes <= u),
            max_context: if max_context {
                largest(1, p.setup.model.max_context.max(1), fits_at)
            } else {
                None
            },
            decode: decode_of(p, &ks, &l, host_splits, &self.query(host), profile),
        }
    }

    /// Every row on `p`'s GPU and `host`, and the fastest that fits.
    pub fn search(&self, p: &Prepared, host: Option<&Host>, profile: &HybridProfile) -> Search {
        let rows: Vec<Row> = (0..self.knobs.len())
            .map(|i| self.row(p, i, host, profile, true))
            .collect();
        let best = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.fits())
            .max_by(|(i, a), (j, b)| {
                let speed = |r: &Row| r.decode.map_or(0.0, |d| d.tokens_per_s);
                // equal speed (or none): the split with more on the GPU (lower index)
                speed(a).total_cmp(&speed(b)).then(j.cmp(i))
            })
            .map(|(i, _)| i);
        Search { rows, best }
    }

    /// The split with the least on the host that fits `p`'s GPUs and `host` (without its largest
    /// context), found by bisection: past the first row (its own replay), each row moves one more
    /// block's experts or layer to the host, so the GPU bytes only fall and the host bytes only
    /// rise. Every row reads more from the host than the one before, so this is also the fastest
    /// ([`Plan::search`]'s choice; `tests/offload_plan.rs` holds them equal).
    pub fn least_offload(&self, p: &Prepared, host: Option<&Host>, profile: &HybridProfile) -> Option<Row> {
        let first = self.row(p, 0, host, profile, false);
        if first.fits_gpu {
            return first.fits().then_some(first);
        }
        let last = self.knobs.len() - 1;
        let fits_gpu = |i: usize| self.row(p, i, host, profile, false).fits_gpu;
        if last == 0 || !fits_gpu(last) {
            return None;
        }
        // the first i in 1..=last whose row fits the GPUs
        let (mut lo, mut hi) = (1, last);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if fits_gpu(mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let row = self.row(p, lo, host, profile, false);
        row.fits().then_some(row)
    }
}
