//! Everything an estimate needs for one (setup, GPU), computed once: the stage, KV bytes per token,
//! activation geometry, image tokens, the memory a program can use, and the engine's resolved
//! settings. The accounting that reads it lives in `generic.rs` (candle, transformers) and in each
//! engine's module; `memory.rs` dispatches between them.

use super::activations::Geometry;
use super::arch::vision::{self, ImageInput};
use super::engine::Settings;
use super::kv::KvPerToken;
use super::overhead;
use super::stage::{self, Stage};
use super::{ModelFacts, Setup, WeightFacts};
use crate::spec::gpu::GpuSpec;

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
    /// what a CUDA program can allocate on this GPU
    pub visible: u64,
    /// what the engine lets itself use of it (vLLM: `gpu_memory_utilization` x visible)
    pub budget: u64,
    /// the engine's settings, defaults resolved for this GPU
    pub settings: Settings,
    /// the pipeline stage estimated (the whole model without pipeline parallelism)
    pub stage: Stage,
    /// parameters whose matmuls run per token on this stage, before the tensor-parallel split
    pub matmul_params: u64,
}

impl<'a> Prepared<'a> {
    pub fn new(setup: Setup<'a>, gpu: &'a GpuSpec, facts: &'a ModelFacts, weights: &'a WeightFacts) -> Self {
        let model = setup.model;
        let tp = setup.tp.max(1);
        let stage = stage::stage(model, setup.pp, setup.stage);
        let kv = stage::stage_kv_with(model, setup.kv, tp, &stage, setup.runtime.recurrent_state);
        let mut geometry = geometry(model, tp, &kv);
        if !stage.is_whole() {
            geometry.layers = stage.layers;
        }
        let matmul_params = stage::matmul_parameters(model, facts, &stage, geometry.vocab * tp, geometry.hidden);
        let image_tokens = match &model.vision {
            Some(v) if setup.images > 0 => setup.images * vision::tokens_per_image(v, &image_input(&setup)),
            _ => 0,
        };
        let visible = overhead::visible_total(gpu, setup.ecc);
        let head_dim = model.architecture.as_ref().map(|a| a.head_dim());
        let settings = Settings::resolve(setup.runtime, &setup.engine, gpu, setup.kv, head_dim);
        let budget = settings.budget(visible);
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
            settings,
            stage,
            matmul_params,
        }
    }

    /// Tokens one sequence holds in the KV cache: text context plus image tokens.
    pub fn sequence_tokens(&self, context: u64) -> u64 {
        context + self.image_tokens
    }

    /// The most tokens one forward step takes: vLLM's `max_num_batched_tokens`, llama.cpp's
    /// `n_ubatch`, or the runtime profile's chunk (None: the whole prompt at once).
    pub fn step_limit(&self) -> Option<u64> {
        self.settings.step_limit().or(self.setup.runtime.prefill_chunk)
    }

    /// Tokens per prefill step: the step limit, or the whole prompt; runtimes that reserve a full
    /// chunk up front size activations for it even for shorter prompts.
    pub fn prefill_chunk(&self, tokens: u64) -> u64 {
        match self.step_limit() {
            Some(c) if self.setup.runtime.reserves_full_chunk => c,
            Some(c) => c.min(tokens),
            None => tokens,
        }
        .max(1)
    }

    /// Tokens one prefill step processes: chunk x batch, or at most the step budget when the limit
    /// bounds the whole step (then the batch's prompts share it).
    pub fn tokens_in_flight(&self, chunk: u64, batch: u64, tokens: u64) -> u64 {
        let rt = self.setup.runtime;
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

    /// HD crops per image ([`crops_per_image`]).
    pub fn crops(&self) -> u64 {
        crops_per_image(&self.setup)
    }
}

/// One image as the estimate takes it: the requested crops (tiles for Llama 4) at the tower's
/// default image size.
pub fn image_input(setup: &Setup) -> ImageInput {
    ImageInput {
        crops: crops_per_image(setup),
        width: 0,
        height: 0,
    }
}

/// HD crops per image: the requested count capped at the model's maximum, or its default (0 for
/// models without a vision tower).
fn crops_per_image(setup: &Setup) -> u64 {
    match &setup.model.vision {
        Some(v) if setup.crops == 0 => v.default_crops,
        Some(v) => setup.crops.min(v.max_crops),
        None => 0,
    }
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
