//! GGUF metadata and tensor shapes -> [`ModelSpec`]: the fields every decoder shares are read here
//! (sizes from the token embedding's shape where it is there, the rest from `<arch>.*` keys, layout
//! from block 0's tensor names); each family adds its own in `import/family/<family>.rs`.

use super::super::family::{self, Family};
use super::super::provenance::Provenance;
use super::super::{Basis, FieldNote, ImportError, TensorSummary};
use super::{Gguf, TensorInfo, Value};
use crate::spec::model::{ArchType, Architecture, MlpKind, MoeSpec, NormKind};
use crate::spec::precision::Quantization;
use crate::spec::ModelSpec;
use std::collections::HashMap;
use std::path::Path;

/// What a GGUF header makes: the spec, its provenance, the exact tensors, warnings.
pub struct FromGguf {
    pub spec: ModelSpec,
    pub notes: Vec<FieldNote>,
    pub summary: TensorSummary,
    pub warnings: Vec<String>,
}

/// A GGUF header being read into a spec: metadata and tensor look-ups, and the provenance recorder.
pub struct Ctx<'a> {
    pub path: &'a Path,
    pub g: &'a Gguf,
    /// `general.architecture`
    pub arch: String,
    /// `<arch>.expert_count` (0 for dense models)
    pub experts: u64,
    /// the family's spec type, once chosen
    pub family_kind: ArchType,
    tensors: HashMap<&'a str, &'a TensorInfo>,
    pub prov: Provenance,
}

impl<'a> Ctx<'a> {
    pub fn unsupported(&self, message: impl Into<String>) -> ImportError {
        ImportError::unsupported(self.path, message)
    }

    /// `<arch>.<k>`
    pub fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.arch)
    }

    /// A metadata integer `<arch>.<k>` (a per-layer list must be uniform).
    pub fn meta(&self, k: &str) -> Result<Option<u64>, ImportError> {
        match self.g.get(&self.key(k)) {
            None => Ok(None),
            Some(Value::Ints(v)) => match v.first() {
                Some(&first) if v.iter().all(|&x| x == first) && first >= 0 => Ok(Some(first as u64)),
                _ => Err(self.unsupported(format!("`{}` varies per layer: no spec form for that", self.key(k)))),
            },
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.unsupported(format!("`{}` is {v:?}, not a count", self.key(k)))),
        }
    }

    /// A per-layer metadata list `<arch>.<k>` (hybrid models: 0 where a layer has no such block): its
    /// largest entry and how many layers have a nonzero one; a single integer counts for every layer.
    pub fn per_layer(&self, k: &str, layers: u64) -> Result<Option<(u64, u64)>, ImportError> {
        match self.g.get(&self.key(k)) {
            None => Ok(None),
            Some(Value::Ints(v)) => {
                if v.iter().any(|&x| x < 0) || v.len() as u64 != layers {
                    return Err(self.unsupported(format!(
                        "`{}` has {} entries for {layers} layers (or a negative one)",
                        self.key(k),
                        v.len()
                    )));
                }
                let max = v.iter().copied().max().unwrap_or(0) as u64;
                Ok(Some((max, v.iter().filter(|&&x| x > 0).count() as u64)))
            }
            Some(v) => v
                .as_u64()
                .map(|n| Some((n, if n > 0 { layers } else { 0 })))
                .ok_or_else(|| self.unsupported(format!("`{}` is {v:?}, not a count", self.key(k)))),
        }
    }

    pub fn required(&self, k: &str) -> Result<u64, ImportError> {
        self.meta(k)?
            .ok_or_else(|| self.unsupported(format!("metadata `{}` is missing", self.key(k))))
    }

    /// Records `field` = `v`, stated by metadata key `<arch>.<k>`; returns `v`.
    pub fn stated(&mut self, field: &str, k: &str, v: u64) -> u64 {
        let source = format!("GGUF {}", self.key(k));
        self.prov.record(field, v, Basis::Config, source);
        v
    }

    pub fn tensor(&self, name: &str) -> Option<&'a TensorInfo> {
        self.tensors.get(name).copied()
    }

    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Block 0 holds `blk.0.<suffix>`.
    pub fn b0(&self, suffix: &str) -> bool {
        self.has(&format!("blk.0.{suffix}"))
    }

    pub fn any_tensor_ends_with(&self, suffix: &str) -> bool {
        self.g.tensors.iter().any(|t| t.name.ends_with(suffix))
    }
}

/// Metadata and tensor shapes -> spec.
pub fn to_spec(path: &Path, g: &Gguf) -> Result<FromGguf, ImportError> {
    let summary = super::summary(path, g);
    let arch = match g.get("general.architecture") {
        Some(Value::Str(s)) => s.clone(),
        _ => {
            return Err(ImportError::unsupported(
                path,
                "no `general.architecture` string in the metadata",
            ))
        }
    };
    let mut ctx = Ctx {
        path,
        g,
        arch,
        experts: 0,
        family_kind: ArchType::Llama,
        tensors: g.tensors.iter().map(|t| (t.name.as_str(), t)).collect(),
        prov: Provenance::default(),
    };
    ctx.experts = ctx.meta("expert_count")?.unwrap_or(0);
    let Some(fam) = family::by_gguf(&ctx.arch, &ctx) else {
        return Err(ctx.unsupported(format!(
            "GGUF architecture `{}` is not one gpuplan imports ({})",
            ctx.arch,
            family::gguf_names().join(", ")
        )));
    };
    ctx.family_kind = fam.kind;
    let (mut a, max_context) = decoder(&mut ctx, fam)?;
    (fam.gguf_fn)(&mut ctx, &mut a)?;
    let dtype = dtype(&mut ctx, &summary);
    let name = match g.get("general.name") {
        Some(Value::Str(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => super::super::source_name(path),
    };
    let spec = ModelSpec {
        id: super::super::id_from(&super::super::source_name(path)),
        name: name.chars().filter(|c| !c.is_control()).take(200).collect(),
        hf_id: None,
        aliases: Vec::new(),
        max_context,
        dtype,
        parameters: None,
        active_parameters: None,
        architecture: Some(a),
        kv_cache: None,
        vision: None,
        quantization: Some(Quantization {
            gguf_types: super::tensor_types(g),
            ..Quantization::default()
        })
        .filter(|q| !q.gguf_types.is_empty()),
        sources: Vec::new(),
        notes: None,
    };
    Ok(FromGguf {
        spec,
        notes: ctx.prov.notes,
        summary,
        warnings: ctx.prov.warnings,
    })
}

/// The fields every decoder shares, the layout block 0 shows, the sliding window and the experts.
fn decoder(ctx: &mut Ctx, fam: &Family) -> Result<(Architecture, u64), ImportError> {
    let kind = fam.kind;
    ctx.prov.record(
        "architecture.type",
        kind.name(),
        Basis::Config,
        format!("GGUF general.architecture {}", ctx.arch),
    );
    let embd = ctx.tensor("token_embd.weight").filter(|t| t.dims.len() == 2);
    let hidden = match embd {
        Some(t) => {
            ctx.prov.record(
                "architecture.hidden_size",
                t.dims[0],
                Basis::Exact,
                "token_embd.weight row length",
            );
            t.dims[0]
        }
        None => {
            let v = ctx.required("embedding_length")?;
            ctx.stated("architecture.hidden_size", "embedding_length", v)
        }
    };
    let v = ctx.required("block_count")?;
    let layers = ctx.stated("architecture.layers", "block_count", v);
    // hybrid models list heads and FFN widths per layer, 0 where a layer has none
    let (v, _) = ctx
        .per_layer("attention.head_count", layers)?
        .ok_or_else(|| ctx.unsupported(format!("metadata `{}` is missing", ctx.key("attention.head_count"))))?;
    let heads = ctx.stated("architecture.attention_heads", "attention.head_count", v);
    if heads == 0 {
        return Err(ctx.unsupported(format!("`{}` is 0", ctx.key("attention.head_count"))));
    }
    let (kv_heads, attention_layers) = match ctx.per_layer("attention.head_count_kv", layers)? {
        Some((k, n)) => (ctx.stated("architecture.kv_heads", "attention.head_count_kv", k), n),
        None => (heads, layers),
    };
    let (v, mlp_layers) = ctx
        .per_layer("feed_forward_length", layers)?
        .ok_or_else(|| ctx.unsupported(format!("metadata `{}` is missing", ctx.key("feed_forward_length"))))?;
    let intermediate = ctx.stated("architecture.intermediate_size", "feed_forward_length", v);
    let vocab = match embd {
        Some(t) => {
            ctx.prov.record(
                "architecture.vocab_size",
                t.dims[1],
                Basis::Exact,
                "token_embd.weight rows",
            );
            t.dims[1]
        }
        None => match ctx.meta("vocab_size")? {
            Some(v) => ctx.stated("architecture.vocab_size", "vocab_size", v),
            None => return Err(ctx.unsupported("no token_embd.weight and no vocab_size: cannot tell the vocabulary")),
        },
    };
    let v = ctx.required("context_length")?;
    let max_context = ctx.stated("max_context", "context_length", v);
    let head_dim = match ctx.meta("attention.key_length")? {
        Some(h) if !matches!(kind, ArchType::DeepseekV2 | ArchType::DeepseekV3) => {
            ctx.stated("architecture.head_dim", "attention.key_length", h)
        }
        _ => hidden / heads,
    };
    let tie = !ctx.has("output.weight");
    ctx.prov.record(
        "architecture.tie_embeddings",
        tie,
        Basis::Exact,
        if tie {
            "no output.weight: the head reuses token_embd"
        } else {
            "output.weight present"
        },
    );
    let norm = if ctx.b0("attn_norm.bias") {
        NormKind::Layer
    } else {
        NormKind::Rms
    };
    let norms = [
        "attn_norm.weight",
        "ffn_norm.weight",
        "post_attention_norm.weight",
        "post_ffw_norm.weight",
    ]
    .iter()
    .filter(|n| ctx.b0(n))
    .count() as u64;
    let fused_qkv = ctx.b0("attn_qkv.weight");
    let up_rows = ctx.tensor("blk.0.ffn_up.weight").and_then(|t| t.dims.get(1).copied());
    let mlp = if ctx.b0("ffn_gate.weight") || ctx.experts > 0 || up_rows == Some(intermediate.saturating_mul(2)) {
        MlpKind::Gated
    } else {
        MlpKind::Plain
    };
    let mut a = Architecture {
        kv_heads: Some(kv_heads),
        head_dim: Some(head_dim),
        tie_embeddings: tie,
        norm,
        norms_per_layer: norms.max(1),
        mlp,
        qkv_bias: ctx.b0("attn_q.bias") || ctx.b0("attn_qkv.bias"),
        o_bias: ctx.b0("attn_output.bias"),
        mlp_bias: ctx.b0("ffn_up.bias") || ctx.b0("ffn_down.bias"),
        lm_head_bias: ctx.has("output.bias"),
        fused_qkv,
        attention_layers: (attention_layers < layers).then_some(attention_layers),
        mlp_layers: (mlp_layers < layers).then_some(mlp_layers),
        ..Architecture::decoder(kind, hidden, layers, heads, intermediate, vocab)
    };
    ctx.prov.record(
        "architecture.layout",
        format!(
            "{} norm x{}, {:?} MLP, biases qkv {} o {} mlp {} head {}, fused qkv {}",
            if norm == NormKind::Layer { "layer" } else { "rms" },
            a.norms_per_layer,
            mlp,
            a.qkv_bias,
            a.o_bias,
            a.mlp_bias,
            a.lm_head_bias,
            fused_qkv
        ),
        Basis::Exact,
        "block 0 tensor names",
    );
    if let Some(w) = ctx.meta("attention.sliding_window")? {
        a.sliding_window = Some(ctx.stated("architecture.sliding_window", "attention.sliding_window", w));
    }
    if ctx.experts > 0 {
        a.moe = Some(experts(ctx, intermediate)?);
    }
    Ok((a, max_context))
}

/// The MoE block from `<arch>.expert_*` metadata and block 0's router tensors.
fn experts(ctx: &mut Ctx, intermediate: u64) -> Result<MoeSpec, ImportError> {
    let top = ctx.required("expert_used_count")?;
    let experts = ctx.experts;
    let mut m = MoeSpec {
        experts: ctx.stated("architecture.moe.experts", "expert_count", experts),
        experts_per_token: ctx.stated("architecture.moe.experts_per_token", "expert_used_count", top),
        expert_intermediate_size: None,
        shared_expert_intermediate_size: None,
        router_bias: ctx.has("blk.0.ffn_gate_inp.bias"),
        shared_expert_gate: ctx.has("blk.0.ffn_gate_inp_shexp.weight"),
        dense_layers: 0,
        expert_bias: false,
    };
    if let Some(e) = ctx.meta("expert_feed_forward_length")? {
        m.expert_intermediate_size = Some(ctx.stated(
            "architecture.moe.expert_intermediate_size",
            "expert_feed_forward_length",
            e,
        ));
    }
    if let Some(s) = ctx.meta("expert_shared_feed_forward_length")? {
        m.shared_expert_intermediate_size = Some(s);
    } else if let Some(n) = ctx.meta("expert_shared_count")? {
        m.shared_expert_intermediate_size =
            (n > 0).then(|| n.saturating_mul(m.expert_intermediate_size.unwrap_or(intermediate)));
    }
    if let Some(d) = ctx.meta("leading_dense_block_count")? {
        m.dense_layers = ctx.stated("architecture.moe.dense_layers", "leading_dense_block_count", d);
    }
    Ok(m)
}

/// The default `--precision`: `general.file_type` where gpuplan has the format, else the type most
/// bytes are stored in.
fn dtype(ctx: &mut Ctx, summary: &TensorSummary) -> String {
    let file_type = ctx
        .g
        .get("general.file_type")
        .and_then(Value::as_u64)
        .map(|ft| (ft, super::file_type_format(ft)));
    match file_type {
        Some((ft, Some(id))) => {
            ctx.prov
                .record("dtype", id, Basis::Config, format!("GGUF general.file_type {ft}"));
            id.to_string()
        }
        other => {
            let main = summary.by_dtype.first().map(|l| l.dtype.clone()).unwrap_or_default();
            let id = match main.as_str() {
                "F32" => "fp32",
                "F16" => "fp16",
                "BF16" => "bf16",
                "Q8_0" => "q8_0",
                "Q6_K" => "q6_k",
                "Q4_0" => "q4_0",
                _ => "q4_k",
            };
            ctx.prov.warn(format!(
                "GGUF file type {} has no format in gpuplan's table: --precision defaults to {id} (most bytes are {main}); \
                 the per-tensor bytes below are exact",
                other.map_or("(absent)".to_string(), |(ft, _)| ft.to_string())
            ));
            id.to_string()
        }
    }
}
