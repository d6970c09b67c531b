//! The context llama.cpp picks when a command gives none: `--fit` (on by default) in
//! common/fit.cpp `common_params_fit_impl`, the part that sizes the context on one GPU.
//!
//! With `-c` unset (`n_ctx = 0`), llama.cpp measures its buffers (model + KV + compute on the
//! device, a dry run) at `n_ctx_max = n_ctx_train x n_streams` (`n_streams`: 1 with a unified KV
//! cache, else the slots). When the device would keep at least the margin free (`--fit-target`,
//! 1024 MiB) that context stays. Otherwise it measures again at `n_ctx_min = --fit-ctx x n_streams`
//! (4096 x n_streams) and interpolates linearly between the two measurements to the context that
//! leaves the margin free, rounded down to a multiple of `256 x n_streams`. When even `n_ctx_min`
//! does not leave the margin, the context stays at `n_ctx_min` and llama.cpp goes on to move layers
//! to the CPU (unless `-ngl` was given), which gpuplan does not model here.
//!
//! `-c 0` asks for the full context explicitly: `n_ctx_max` without lowering it.

use super::profile::Settings;
use super::{cuda_context_bytes, figures, gpu_bytes};
use crate::estimate::prepared::Prepared;
use crate::spec::gpu::MIB;
use serde::Serialize;

/// `--fit-ctx` default (common/common.h `fit_params_min_ctx`).
pub const MIN_CTX: u64 = 4096;
/// `--fit-target` default, MiB (common/common.h `fit_params_target`).
pub const MARGIN_MIB: u64 = 1024;
/// The CUDA backend's context granularity `--fit` rounds down to, per stream.
const ALIGN: u64 = 256;

/// How llama.cpp sizes a context the command leaves unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FitParams {
    /// `--fit-ctx`: the smallest context per stream `--fit` lowers to
    pub min_ctx: u64,
    /// `--fit-target`: device memory to leave free, bytes
    pub margin_bytes: u64,
    /// false for `-c 0`: the full context without lowering it
    pub lower: bool,
}

impl Default for FitParams {
    fn default() -> Self {
        FitParams {
            min_ctx: MIN_CTX,
            margin_bytes: MARGIN_MIB * MIB,
            lower: true,
        }
    }
}

/// What `--fit` did with the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FitOutcome {
    /// the training context (times the streams) leaves the margin free: kept
    TrainingContext,
    /// `-c 0`: the training context, kept whether or not it fits
    Requested,
    /// lowered between `--fit-ctx` and the training context to leave the margin free
    Lowered,
    /// even the smallest context leaves less than the margin: llama.cpp keeps it and moves layers
    /// to the CPU next (not modeled)
    AtMinimum,
}

/// The context llama.cpp runs with, all slots together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FittedContext {
    /// `n_ctx` as `--fit` sets it (before llama_context pads it)
    pub n_ctx: u64,
    /// the model's training context (`n_ctx_train`)
    pub n_ctx_train: u64,
    /// KV streams: 1 with a unified cache, else the slots
    pub n_streams: u64,
    pub outcome: FitOutcome,
    /// device memory free before loading (gpuplan's usable memory less the CUDA context)
    pub free_bytes: u64,
    /// what llama.cpp projected at the training context: model, KV and compute buffers
    pub projected_bytes: u64,
    pub margin_bytes: u64,
}

impl FittedContext {
    /// Tokens per slot as gpuplan counts its context: `n_ctx` over the slots.
    pub fn per_slot(&self, slots: u64) -> u64 {
        (self.n_ctx / slots.max(1)).max(1)
    }
}

/// The context llama.cpp picks for `slots` sequences with `s` on `p`'s GPU when `-c` is not given
/// (or is 0).
pub fn fitted_context(p: &Prepared, s: &Settings, slots: u64, fit: FitParams) -> FittedContext {
    let slots = slots.max(1);
    let n_streams = if s.kv_unified { 1 } else { slots };
    let n_ctx_train = p.setup.model.max_context.max(1);
    let n_ctx_max = n_ctx_train.saturating_mul(n_streams).min(u64::from(u32::MAX));
    let n_ctx_min = fit.min_ctx.saturating_mul(n_streams).min(u64::from(u32::MAX));
    // the device buffers at a total context of n (gpuplan's context is per slot)
    let used = |n: u64| {
        let f = figures(p, s, n.div_ceil(slots), slots);
        gpu_bytes(&f).saturating_sub(f.cuda_context_bytes)
    };
    let used_max = used(n_ctx_max);
    let free = p.budget.saturating_sub(cuda_context_bytes(p));
    let result = |n_ctx, outcome| FittedContext {
        n_ctx,
        n_ctx_train,
        n_streams,
        outcome,
        free_bytes: free,
        projected_bytes: used_max,
        margin_bytes: fit.margin_bytes,
    };
    if !fit.lower {
        return result(n_ctx_max, FitOutcome::Requested);
    }
    let target = i128::from(free) - i128::from(fit.margin_bytes);
    if i128::from(used_max) <= target {
        return result(n_ctx_max, FitOutcome::TrainingContext);
    }
    if n_ctx_max <= n_ctx_min {
        return result(n_ctx_max, FitOutcome::AtMinimum);
    }
    let used_min = used(n_ctx_min);
    if target <= i128::from(used_min) || used_max <= used_min {
        return result(n_ctx_min, FitOutcome::AtMinimum);
    }
    // fit.cpp: n_ctx += (n_ctx_max - n_ctx_min) * (target - used_min) / (used_max - used_min), in
    // int64 arithmetic, then rounded down to a multiple of 256 x n_streams
    let step = i128::from(n_ctx_max - n_ctx_min) * (target - i128::from(used_min)) / i128::from(used_max - used_min);
    let n_ctx = n_ctx_min + u64::try_from(step).unwrap_or(0);
    let align = ALIGN * n_streams;
    result((n_ctx - n_ctx % align).max(n_ctx_min), FitOutcome::Lowered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::arch::check_declared;
    use crate::estimate::engine::llamacpp::profile::{Entry, Flags, LLAMA_CPP};
    use crate::estimate::engine::{Flags as EngineFlags, Settings as EngineSettings};
    use crate::estimate::{ModelFacts, Setup, WeightFacts};
    use crate::spec::{Catalog, Format};

    /// `--fit` for `model` in Q4_K_M on `gpu` with `slots` slots (unified or not).
    fn fitted(model: &str, gpu: &str, slots: u64, unified: bool, fit: FitParams) -> (FittedContext, u64, u64) {
        let c = Catalog::embedded(check_declared).unwrap();
        let (m, g) = (c.model(model, check_declared).unwrap(), c.gpu(gpu).unwrap());
        let facts = ModelFacts::new(&m);
        let format = Format::parse("q4_k_m").unwrap();
        let weights = WeightFacts::new(&m, &facts, format, 1);
        let setup = Setup {
            engine: EngineFlags {
                llamacpp: Flags {
                    kv_unified: unified,
                    entry: Entry::Server,
                    ..Flags::default()
                },
                ..EngineFlags::default()
            },
            ..Setup::new(&m, format, &LLAMA_CPP)
        };
        let p = Prepared::new(setup, &g, &facts, &weights);
        let EngineSettings::LlamaCpp(s) = p.settings else {
            panic!("llama.cpp settings")
        };
        let r = fitted_context(&p, &s, slots, fit);
        // device bytes llama.cpp projects at a total context of n, and what it has free
        let used = |n: u64| {
            let f = figures(&p, &s, n / slots, slots);
            gpu_bytes(&f) - f.cuda_context_bytes
        };
        (r, used(r.n_ctx), used(r.n_ctx + 2 * ALIGN * r.n_streams))
    }

    #[test]
    fn the_training_context_stays_where_it_fits() {
        // llama-server -m Llama-3.1-8B-Instruct-Q4_K_M.gguf on an H100: 4 unified slots, 128K
        let (r, used, _) = fitted("llama-3.1-8b", "h100-sxm", 4, true, FitParams::default());
        assert_eq!((r.n_ctx, r.outcome), (131072, FitOutcome::TrainingContext));
        assert!(used + r.margin_bytes <= r.free_bytes);
        // per-slot streams: the training context for each of the 4 slots
        let (r, _, _) = fitted("llama-3.1-8b", "h100-sxm", 4, false, FitParams::default());
        assert_eq!((r.n_ctx, r.n_streams), (4 * 131072, 4));
    }

    #[test]
    fn fit_lowers_the_context_to_leave_the_margin() {
        for (gpu, slots, unified) in [("rtx-3060", 4, true), ("rtx-4090", 4, false), ("l4", 2, false)] {
            let (r, used, used_more) = fitted("llama-3.1-8b", gpu, slots, unified, FitParams::default());
            assert_eq!(r.outcome, FitOutcome::Lowered, "{gpu}");
            assert_eq!(r.n_ctx % (ALIGN * r.n_streams), 0, "{gpu}: {}", r.n_ctx);
            assert!(r.n_ctx >= MIN_CTX * r.n_streams && r.n_ctx < r.n_ctx_train * r.n_streams);
            // the buffers grow linearly in n_ctx (KV) or stay flat (compute, flash attention on),
            // so the interpolated context leaves the margin and two steps more would not
            let target = r.free_bytes - r.margin_bytes;
            assert!(used <= target, "{gpu}: {used} > {target}");
            assert!(used_more > target, "{gpu}: {used_more} <= {target}");
        }
    }

    #[test]
    fn below_the_minimum_context_fit_stops_there() {
        let (r, _, _) = fitted("llama-3.1-70b", "rtx-4090", 1, false, FitParams::default());
        assert_eq!((r.n_ctx, r.outcome), (MIN_CTX, FitOutcome::AtMinimum));
        let min = FitParams {
            min_ctx: 16384,
            ..FitParams::default()
        };
        let (r, _, _) = fitted("llama-3.1-70b", "rtx-4090", 2, false, min);
        assert_eq!((r.n_ctx, r.outcome), (2 * 16384, FitOutcome::AtMinimum));
    }

    #[test]
    fn c_0_asks_for_the_training_context_whole() {
        let whole = FitParams {
            lower: false,
            ..FitParams::default()
        };
        let (r, _, _) = fitted("llama-3.1-8b", "rtx-3060", 2, false, whole);
        assert_eq!((r.n_ctx, r.outcome), (2 * 131072, FitOutcome::Requested));
    }
}
