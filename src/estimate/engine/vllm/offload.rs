//! `--cpu-offload-gb`: vLLM keeps part of the decoder layers' parameters in pinned host memory and
//! the GPU reads them there over PCIe in every forward pass (docs/engines/vllm.md, "CPU offload").
//!
//! What vLLM does (vllm/model_executor/models/utils.py `make_layers` → `maybe_offload_to_cpu` up to
//! 0.11; `vllm/model_executor/offloader/uva.py` `UVAOffloader._maybe_offload_to_cpu` from 0.12):
//! - the budget is `int(cpu_offload_gb * 1024**3)` bytes on each GPU (every tensor-parallel and
//!   pipeline rank builds its own layers with its own budget);
//! - only the decoder layers `make_layers` builds are candidates, in layer order, and in each layer
//!   its parameters in registration order (`module.parameters()`); the embedding, the final norm and
//!   the LM head stay on the GPU;
//! - before each parameter it checks `offloaded >= budget` and stops; otherwise it moves the whole
//!   parameter (`numel x element_size` bytes at its sharded, fused shape), so the last one may
//!   overshoot the budget and one layer may be split;
//! - the copy is pinned (`pin_memory=True`), and in the V1 engine the parameter becomes a CUDA view
//!   of that host memory (UVA, `get_cuda_view_from_cpu_tensor`): kernels read it over PCIe, nothing
//!   is copied back to the GPU, CUDA graphs and torch.compile are unaffected (the V0 engine's
//!   `functional_call` path copied a module's parameters to the GPU in each forward instead).
//!
//! Consequences gpuplan models: "Model loading took" (allocated GPU memory after loading) drops by
//! the offloaded tensors as the caching allocator held them, so the KV cache grows by that much; the
//! host pins each offloaded tensor rounded up to a power of two (PyTorch's `CachingHostAllocator`,
//! `c10::llvm::PowerOf2Ceil`); each forward step reads the offloaded bytes over PCIe.

use super::load::{self, Allocated, Fused};
use super::profile::Settings;
use crate::estimate::prepared::Prepared;
use crate::spec::gpu::GIB;
use crate::spec::precision::Role;
use serde::Serialize;

/// The offload of one GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CpuOffload {
    /// `int(cpu_offload_gb x 2^30)`
    pub max_bytes: u64,
    /// what vLLM counts as offloaded (sum of `numel x element_size`; ≥ `max_bytes` by at most one
    /// parameter unless every candidate is offloaded); 0.12+ logs it as "Total CPU offloaded
    /// parameters"
    pub offloaded_bytes: u64,
    /// parameters (tensors) moved
    pub parameters: u64,
    /// decoder layers wholly on the host; the next one is split when `split_layer`
    pub whole_layers: u64,
    pub split_layer: bool,
    /// every decoder-layer parameter of this GPU: the most `--cpu-offload-gb` can move
    pub offloadable_bytes: u64,
    /// GPU memory the offload frees: the moved tensors as the caching allocator held them
    pub gpu_freed_bytes: u64,
    /// pinned host memory: each moved tensor rounded up to a power of two
    pub pinned_bytes: u64,
    /// routed-expert bytes among the moved (a decode step reads only the experts it routes to)
    pub expert_bytes: u64,
}

impl CpuOffload {
    /// The budget exceeds every candidate parameter: vLLM moves all decoder layers and the rest
    /// of the budget goes unused (vLLM does not refuse it).
    pub fn exceeds_layers(&self) -> bool {
        self.max_bytes > self.offloadable_bytes
    }
}

/// `int(cpu_offload_gb * 1024**3)` (vllm/config `OffloadConfig` / `CacheConfig`); 0 for a value
/// vLLM refuses (negative, not a number), which `config_refusal` reports.
pub fn max_bytes(s: &Settings) -> u64 {
    let gb = s.cpu_offload_gb;
    if gb.is_finite() && gb > 0.0 {
        (gb * GIB as f64) as u64
    } else {
        0
    }
}

/// Where a parameter sits in its decoder layer's registration order (Llama, Qwen, Mistral,
/// Gemma, Phi-3 `*DecoderLayer.__init__`: `self_attn` — `qkv_proj` with its bias, then `o_proj`
/// and the rest —, then the MLP or MoE block, then the layer norms); a recurrent mixer (Mamba,
/// Gated DeltaNet) takes the attention's place.
fn phase(t: &Allocated) -> (u8, u8) {
    let within = match t.fused {
        Some(Fused::Qkv) => 0,
        Some(Fused::QkvBias) => 1,
        _ => 2,
    };
    (phase_of_block(t), within)
}

/// The block of the decoder layer a tensor group belongs to, in registration order.
fn phase_of_block(t: &Allocated) -> u8 {
    let g = t.group;
    if g.name.contains("self_attn") {
        0
    } else if matches!(
        g.role,
        Role::MlpUp | Role::MlpDown | Role::Expert | Role::ExpertDown | Role::Router
    ) || g.name.contains("mlp")
    {
        2
    } else if g.role == Role::Norm && g.name == "layers.*.norms" {
        3
    } else {
        1
    }
}

/// One parameter as vLLM registers it: bytes at its fused shape on this rank, whether it holds
/// routed experts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Param {
    bytes: u64,
    expert: bool,
}

/// The parameters of decoder layer `layer` in registration order: q, k and v as one `qkv_proj`
/// (their biases as one bias), gate and up as one `gate_up_proj`, each layer's routed experts as
/// one `w13` and one `w2`; a group the architecture gives fewer layers than the model covers the
/// first ones (as [`crate::estimate::stage::Stage::select`] counts them).
fn layer_params(groups: &[Allocated], layer: u64) -> Vec<Param> {
    let mut out: Vec<((u8, u8), Option<Fused>, Param)> = Vec::new();
    for t in groups
        .iter()
        .filter(|t| t.group.per_decoder_layer && t.held.contains(&layer))
    {
        let ph = phase(t);
        let expert = t.group.routed_expert;
        let bytes = t.bytes * t.group.count_per_layer;
        match t.fused {
            Some(kind) => match out.iter_mut().find(|o| o.1 == Some(kind)) {
                Some(o) => o.2.bytes += bytes,
                None => out.push((ph, Some(kind), Param { bytes, expert })),
            },
            None => out.extend((0..t.group.count_per_layer).map(|_| (ph, None, Param { bytes: t.bytes, expert }))),
        }
    }
    out.sort_by_key(|o| o.0);
    out.into_iter().map(|o| o.2).collect()
}

/// The offload of this GPU under `s`; None when nothing is offloaded (no budget, or a summary spec
/// with no tensor list).
pub fn cpu_offload(p: &Prepared, s: &Settings) -> Option<CpuOffload> {
    let max = max_bytes(s);
    if max == 0 {
        return None;
    }
    let groups: Vec<_> = load::allocated(p)?.collect();
    let mut o = CpuOffload {
        max_bytes: max,
        offloaded_bytes: 0,
        parameters: 0,
        whole_layers: 0,
        split_layer: false,
        offloadable_bytes: 0,
        gpu_freed_bytes: 0,
        pinned_bytes: 0,
        expert_bytes: 0,
    };
    for layer in p.stage.range() {
        let params = layer_params(&groups, layer);
        o.offloadable_bytes += params.iter().map(|q| q.bytes).sum::<u64>();
        let mut moved = 0;
        for q in &params {
            if o.offloaded_bytes >= max {
                break;
            }
            o.offloaded_bytes += q.bytes;
            o.parameters += 1;
            o.gpu_freed_bytes += load::allocated_bytes(q.bytes);
            o.pinned_bytes += q.bytes.next_power_of_two();
            if q.expert {
                o.expert_bytes += q.bytes;
            }
            moved += 1;
        }
        if moved == params.len() && moved > 0 {
            o.whole_layers += 1;
        } else if moved > 0 {
            o.split_layer = true;
        }
    }
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::super::profile::Flags;
    use super::super::{figures, refusal, VLLM};
    use super::*;
    use crate::estimate::arch::check_declared;
    use crate::estimate::engine::report::Refusal;
    use crate::estimate::engine::settings::Flags as EngineFlags;
    use crate::estimate::speed::vllm::decode_step_s;
    use crate::estimate::{ModelFacts, Setup, WeightFacts};
    use crate::spec::precision::Format;
    use crate::spec::Catalog;

    /// `f` on `model` at its own dtype on `gpu` (tensor parallel `tp`) with `--cpu-offload-gb gb`.
    fn with<R>(model: &str, gpu: &str, tp: u64, gb: f64, f: impl FnOnce(&Prepared, &Settings) -> R) -> R {
        let c = Catalog::embedded(check_declared).unwrap();
        let model = c.model(model, check_declared).unwrap();
        let gpu = c.gpu(gpu).unwrap();
        let facts = ModelFacts::new(&model);
        let format = Format::parse(&model.dtype).unwrap();
        let weights = WeightFacts::new(&model, &facts, format, tp);
        let setup = Setup {
            tp,
            engine: EngineFlags {
                vllm: Flags {
                    cpu_offload_gb: Some(gb),
                    ..Flags::default()
                },
                ..EngineFlags::default()
            },
            ..Setup::new(&model, format, &VLLM)
        };
        let p = Prepared::new(setup, &gpu, &facts, &weights);
        let crate::estimate::engine::Settings::Vllm(s) = p.settings else {
            panic!("vLLM settings")
        };
        f(&p, &s)
    }

    /// Qwen2.5-1.5B in bf16, one decoder layer in `Qwen2DecoderLayer` order (hidden 1536, 12 heads
    /// and 2 KV heads of 128, intermediate 8960), bytes: qkv_proj.weight (1536 + 2 x 256) x 1536 x 2,
    /// its bias 2048 x 2, o_proj 1536 x 1536 x 2, gate_up_proj 2 x 8960 x 1536 x 2, down_proj
    /// 1536 x 8960 x 2, two RMSNorm weights of 1536 x 2.
    const QWEN_LAYER: [u64; 7] = [6_291_456, 4_096, 4_718_592, 55_050_240, 27_525_120, 3_072, 3_072];

    #[test]
    fn qwen_layers_are_offloaded_parameter_by_parameter_until_the_budget_is_reached() {
        let layer: u64 = QWEN_LAYER.iter().sum();
        assert_eq!(layer, 93_595_648);
        // 28 layers x 46,797,824 parameters + the tied 151,936 x 1536 embedding + the final norm:
        // the 1,543,714,304 the checkpoint holds
        assert_eq!(28 * layer / 2 + 151_936 * 1536 + 1536, 1_543_714_304);
        let o = with("qwen2.5-1.5b", "rtx-4090", 1, 0.5, cpu_offload).unwrap();
        // 0.5 GiB = 536,870,912 B: five whole layers (467,978,240 B), then layer 6's qkv, bias, o and
        // gate_up leave it at 534,042,624 < the budget, so down_proj goes too (561,567,744 B) and the
        // check before the first norm stops
        let partial: u64 = QWEN_LAYER[..5].iter().sum();
        assert_eq!(o.max_bytes, 536_870_912);
        assert_eq!(o.offloaded_bytes, 5 * layer + partial);
        assert_eq!(o.offloaded_bytes, 561_567_744);
        assert_eq!((o.parameters, o.whole_layers, o.split_layer), (40, 5, true));
        assert_eq!(o.offloadable_bytes, 28 * layer);
        // every tensor here either fits a shared segment (under 10 MiB) or leaves more than 1 MiB
        // of its 2 MiB-rounded segment, which the allocator splits off: freed = offloaded
        assert_eq!(o.gpu_freed_bytes, o.offloaded_bytes);
        // pinned: 8 MiB, 4 KiB, 8 MiB, 64 MiB, 32 MiB, 4 KiB, 4 KiB per whole layer
        let pinned = |b: &[u64]| b.iter().map(|x| x.next_power_of_two()).sum::<u64>();
        assert_eq!(pinned(&QWEN_LAYER), 117_452_800);
        assert_eq!(o.pinned_bytes, 5 * 117_452_800 + pinned(&QWEN_LAYER[..5]));
        assert_eq!(o.expert_bytes, 0);
    }

    #[test]
    fn the_qkv_bias_follows_its_weight_before_o_proj() {
        // one byte past qkv_proj.weight: the next parameter registered is its bias (4096 B), not
        // o_proj (4,718,592 B)
        let o = with("qwen2.5-1.5b", "rtx-4090", 1, 6_291_457.0 / 1_073_741_824.0, |p, s| {
            cpu_offload(p, s)
        })
        .unwrap();
        assert_eq!(o.max_bytes, 6_291_457);
        assert_eq!((o.offloaded_bytes, o.parameters), (6_291_456 + 4_096, 2));
    }

    #[test]
    fn a_budget_met_exactly_stops_at_the_layer_boundary() {
        // 93,595,648 B = 91,402 / 2^20 GiB exactly: after one layer offloaded >= budget
        let o = with("qwen2.5-1.5b", "rtx-4090", 1, 91_402.0 / 1_048_576.0, |p, s| {
            cpu_offload(p, s)
        })
        .unwrap();
        assert_eq!(o.max_bytes, 93_595_648);
        assert_eq!((o.offloaded_bytes, o.parameters), (93_595_648, 7));
        assert_eq!((o.whole_layers, o.split_layer), (1, false));
        // one byte more and layer 2's qkv_proj goes as well
        let o = with("qwen2.5-1.5b", "rtx-4090", 1, 91_402.0 / 1_048_576.0 + 1e-9, |p, s| {
            cpu_offload(p, s)
        })
        .unwrap();
        assert_eq!((o.offloaded_bytes, o.parameters), (93_595_648 + 6_291_456, 8));
    }

    #[test]
    fn tensor_parallel_ranks_each_offload_their_shard_up_to_the_budget() {
        // TP 2: qkv 1024 rows (6 query heads, 1 KV head each), o and down split by columns, gate_up
        // by rows, norms replicated: half of every matrix, the same norms
        let half: u64 = [3_145_728, 2_048, 2_359_296, 27_525_120, 13_762_560, 3_072, 3_072]
            .iter()
            .sum();
        let o = with("qwen2.5-1.5b", "rtx-4090", 2, 0.5, cpu_offload).unwrap();
        assert_eq!(o.offloadable_bytes, 28 * half);
        // 536,870,912 / 46,800,896 = 11.47 layers: 11 whole (514,809,856 B), then the 12th's qkv,
        // bias and o (520,316,928 < budget) and gate_up (547,842,048 >= budget), which stops it
        assert_eq!(o.whole_layers, 11);
        assert_eq!(
            o.offloaded_bytes,
            11 * half + 3_145_728 + 2_048 + 2_359_296 + 27_525_120
        );
    }

    #[test]
    fn the_kv_cache_grows_by_what_leaves_the_gpu() {
        let base = with("llama-3.1-8b", "rtx-4090", 1, 0.0, |p, s| figures(p, s, 16_384));
        let off = with("llama-3.1-8b", "rtx-4090", 1, 4.0, |p, s| figures(p, s, 16_384));
        let o = off.cpu_offload.unwrap();
        assert_eq!(base.cpu_offload, None);
        assert_eq!(base.weights_bytes - off.weights_bytes, o.gpu_freed_bytes);
        assert_eq!(
            off.available_kv_cache_bytes - base.available_kv_cache_bytes,
            o.gpu_freed_bytes as i64
        );
        // Llama-3.1-8B layers of 436,224,000 B: 9 whole (3,926,016,000), then qkv, o, gate_up
        // (4,244,783,104 < 4 GiB) and down_proj
        assert_eq!(
            o.offloaded_bytes,
            9 * 436_224_000 + 50_331_648 + 33_554_432 + 234_881_024 + 117_440_512
        );
        assert_eq!((o.parameters, o.whole_layers), (58, 9));
    }

    #[test]
    fn more_offload_means_more_kv_and_slower_decode() {
        let mut last: Option<(u64, f64)> = None;
        for gb in [0.0, 0.25, 1.0, 2.0, 4.0, 8.0, 12.0, 13.0, 20.0] {
            let (tokens, step) = with("llama-3.1-8b", "rtx-4090", 1, gb, |p, s| {
                (figures(p, s, 16_384).kv_cache_tokens, decode_step_s(p, 16_384, 4, s))
            });
            if let Some((t, d)) = last {
                assert!(tokens >= t, "{gb} GiB: {tokens} < {t} KV tokens");
                assert!(step >= d, "{gb} GiB: a step of {step} s < {d} s");
            }
            last = Some((tokens, step));
        }
        // past the decoder layers' 13.0 GiB nothing more moves
        let all = with("llama-3.1-8b", "rtx-4090", 1, 20.0, cpu_offload).unwrap();
        assert!(all.exceeds_layers());
        assert_eq!(all.offloaded_bytes, all.offloadable_bytes);
        assert_eq!((all.whole_layers, all.split_layer), (32, false));
    }

    #[test]
    fn the_decode_step_pays_the_offloaded_bytes_over_the_link() {
        // RTX 4090 on its own PCIe 4.0 x16: 31.5 GB/s peak, 0.70 of it
        let (base, off, o) = with("llama-3.1-8b", "rtx-4090", 1, 4.0, |p, s| {
            let none = Settings {
                cpu_offload_gb: 0.0,
                ..*s
            };
            (
                decode_step_s(p, 4096, 1, &none),
                decode_step_s(p, 4096, 1, s),
                cpu_offload(p, s).unwrap(),
            )
        });
        let link = 16.0 * 16.0 * 128.0 / 130.0 / 8.0 * 1e9 * 0.70;
        // what the GPU no longer reads from its own memory (RTX 4090: 1008 GB/s, GDDR)
        let read = crate::estimate::speed::vllm::coefficient(crate::estimate::speed::vllm::Coef::DecodeRead(
            crate::estimate::speed::MemoryKind::Gddr,
        ));
        let hbm_saved = o.offloaded_bytes as f64 / 1008e9 * read;
        assert!((off - base - (o.offloaded_bytes as f64 / link - hbm_saved)).abs() < 1e-9);
    }

    #[test]
    fn negative_or_undefined_budgets_are_refused_as_vllm_refuses_them() {
        for gb in [-1.0, f64::NAN, f64::INFINITY] {
            let r = with("qwen2.5-1.5b", "rtx-4090", 1, gb, |p, s| {
                assert_eq!(cpu_offload(p, s), None);
                refusal(p, s, 4096, &figures(p, s, 4096))
            });
            assert!(
                matches!(
                    r,
                    Some(Refusal::BadSetting {
                        flag: "--cpu-offload-gb",
                        ..
                    })
                ),
                "{gb}: {r:?}"
            );
        }
        assert_eq!(with("qwen2.5-1.5b", "rtx-4090", 1, 0.0, cpu_offload), None);
    }

    #[test]
    fn the_budget_is_gib_truncated_to_bytes() {
        let bytes = |gb: f64| with("qwen2.5-1.5b", "rtx-4090", 1, gb, |_, s| max_bytes(s));
        assert_eq!(bytes(1.0), 1 << 30);
        assert_eq!(bytes(0.1), 107_374_182); // int(0.1 * 1024**3)
        assert_eq!(bytes(0.0), 0);
    }
}
