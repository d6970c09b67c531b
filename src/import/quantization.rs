//! config.json `quantization_config` -> the checkpoint's weight format and how it applied it.
//!
//! Each method's keys are read as the library that writes them defines them:
//! - `gptq`: optimum `GPTQConfig` / AutoGPTQ (`bits`, `group_size`, `desc_act`, `sym`);
//! - `awq`: transformers `AwqConfig` / AutoAWQ (`bits` or `w_bit`, `group_size` or `q_group_size`,
//!   `zero_point`, `version`, `modules_to_not_convert`);
//! - `bitsandbytes`: transformers `BitsAndBytesConfig` (`load_in_4bit` / `load_in_8bit`,
//!   `bnb_4bit_quant_type`, `bnb_4bit_use_double_quant`, `llm_int8_skip_modules`);
//! - `fp8`: transformers `FineGrainedFP8Config` and the DeepSeek / Qwen releases (`fmt`,
//!   `weight_block_size`, `activation_scheme`, `modules_to_not_convert`); `fbgemm_fp8`;
//! - `compressed-tensors`: `format`, `config_groups.*.weights` (`num_bits`, `type`, `strategy`,
//!   `group_size`, `symmetric`, `block_structure`, `actorder`), `input_activations`, `ignore`;
//! - `mxfp4` (gpt-oss): `modules_to_not_convert`;
//! - `modelopt` (NVIDIA ModelOpt): `quant_algo` (`NVFP4`, `FP8`), `exclude_modules`.
//!
//! Every value is bounded before use (bit widths, group and block sizes, list lengths), so a hostile
//! config yields an error naming the field, never a huge allocation or an overflow.

use crate::spec::precision::{Format, Quantization, ScaleDtype, TensorKind};
use serde::Serialize;
use serde_json::{Map, Value};

/// How the checkpoint's linear layers are quantized, as far as counting parameters from the
/// safetensors headers needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Quant {
    None,
    /// GPTQ / AWQ / compressed-tensors: `bits`-bit weights packed in int32, `group` input columns
    /// per scale
    Packed {
        bits: u64,
        group: Option<u64>,
    },
    /// bitsandbytes LLM.int8
    Bnb8,
    /// bitsandbytes NF4/FP4: two weights per byte in a u8 `weight`
    Bnb4,
    Fp8,
    /// MXFP4 / NVFP4: two weights per byte
    Fp4,
    /// a method gpuplan has no format for
    Other,
}

/// The quantization methods gpuplan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Gptq,
    Awq,
    Bitsandbytes,
    Fp8,
    FbgemmFp8,
    CompressedTensors,
    Mxfp4,
    Modelopt,
}

impl Method {
    fn parse(s: &str) -> Option<Method> {
        Some(match s.to_ascii_lowercase().as_str() {
            "gptq" => Method::Gptq,
            "awq" => Method::Awq,
            "bitsandbytes" => Method::Bitsandbytes,
            "fp8" => Method::Fp8,
            "fbgemm_fp8" => Method::FbgemmFp8,
            "compressed-tensors" | "compressed_tensors" => Method::CompressedTensors,
            "mxfp4" => Method::Mxfp4,
            "modelopt" => Method::Modelopt,
            _ => return None,
        })
    }
}

/// What `quantization_config` says.
#[derive(Debug, Clone)]
pub struct QuantConfig {
    /// None for a method gpuplan does not read
    pub method: Option<Method>,
    /// the gpuplan format the weights are stored in, when the table has it
    pub format: Option<&'static Format>,
    pub quant: Quant,
    /// ignore lists and scale dtypes, for the model spec
    pub quantization: Quantization,
    /// (key under quantization_config, value) the format rests on
    pub read: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

/// An error in `quantization_config.<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantError {
    pub key: String,
    pub message: String,
}

/// Bit widths any method stores.
const MAX_BITS: u64 = 16;
/// Largest group or block size accepted (far above any real one: whole rows are `-1`).
const MAX_GROUP: u64 = 1 << 20;
/// Longest ignore list read.
const MAX_LIST: usize = 1 << 16;
/// Most `config_groups` read.
const MAX_GROUPS: usize = 64;

/// Reads a `quantization_config` object. `model_dtype` is the checkpoint's 16-bit dtype (the dtype
/// compressed-tensors writes its scales in).
pub fn read(q: &Map<String, Value>, model_dtype: ScaleDtype) -> Result<QuantConfig, QuantError> {
    let mut r = Reader {
        q,
        read: Vec::new(),
        warnings: Vec::new(),
    };
    let method_name = r.string("quant_method")?.unwrap_or_default().to_string();
    if method_name.is_empty() {
        return Err(err("quant_method", "quantization_config without quant_method"));
    }
    r.read.push(("quant_method".into(), method_name.clone()));
    let Some(method) = Method::parse(&method_name) else {
        r.warnings.push(format!(
            "quantization `{method_name}` has no format in gpuplan's table: --precision defaults to the checkpoint dtype"
        ));
        return Ok(r.finish(None, None, Quant::Other, Quantization::default()));
    };
    let mut quantization = Quantization::default();
    let (format, quant) = match method {
        Method::Gptq => r.gptq()?,
        Method::Awq => {
            let f = r.awq()?;
            quantization.unquantized = r.ignore_list("modules_to_not_convert")?;
            f
        }
        Method::Bitsandbytes => {
            let f = r.bitsandbytes()?;
            quantization.unquantized = r.ignore_list("llm_int8_skip_modules")?;
            f
        }
        Method::Fp8 => {
            let f = r.fp8(&mut quantization)?;
            let mut kinds = r.ignore_list("modules_to_not_convert")?;
            kinds.extend(r.ignore_list("ignored_layers")?);
            quantization.unquantized = dedup(kinds);
            f
        }
        Method::FbgemmFp8 => {
            // fbgemm's per-channel weight_scale is f32 [out, 1]
            quantization.scale_dtype = Some(ScaleDtype::F32);
            quantization.unquantized = r.ignore_list("modules_to_not_convert")?;
            (Format::parse("fp8-channel"), Quant::Fp8)
        }
        Method::CompressedTensors => {
            let f = r.compressed_tensors(model_dtype, &mut quantization)?;
            quantization.unquantized = r.ignore_list("ignore")?;
            f
        }
        Method::Mxfp4 => {
            quantization.unquantized = r.ignore_list("modules_to_not_convert")?;
            (Format::parse("mxfp4"), Quant::Fp4)
        }
        Method::Modelopt => {
            let f = r.modelopt()?;
            quantization.unquantized = r.ignore_list("exclude_modules")?;
            f
        }
    };
    // kinds the format keeps anyway need no mention
    quantization
        .unquantized
        .retain(|k| format.is_some_and(|f| f.quantizes(*k)));
    Ok(r.finish(Some(method), format, quant, quantization))
}

fn err(key: &str, message: impl Into<String>) -> QuantError {
    QuantError {
        key: key.to_string(),
        message: message.into(),
    }
}

fn dedup(mut v: Vec<TensorKind>) -> Vec<TensorKind> {
    let mut out = Vec::new();
    for k in v.drain(..) {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

struct Reader<'a> {
    q: &'a Map<String, Value>,
    read: Vec<(String, String)>,
    warnings: Vec<String>,
}

impl<'a> Reader<'a> {
    fn finish(
        self,
        method: Option<Method>,
        format: Option<&'static Format>,
        quant: Quant,
        quantization: Quantization,
    ) -> QuantConfig {
        QuantConfig {
            method,
            format,
            quant,
            quantization,
            read: self.read,
            warnings: self.warnings,
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.q.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, QuantError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.len() <= 256 => Ok(Some(s.as_str())),
            Some(Value::String(_)) => Err(err(key, "longer than 256 characters")),
            Some(v) => Err(err(key, format!("expected a string, got {}", kind(v)))),
        }
    }

    fn flag(&self, key: &str) -> Result<Option<bool>, QuantError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(err(key, format!("expected true or false, got {}", kind(v)))),
        }
    }

    /// An integer in `lo..=hi`.
    fn int(&self, key: &str, lo: i64, hi: i64) -> Result<Option<i64>, QuantError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let n = v.as_i64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        });
        match n {
            Some(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
            Some(n) => Err(err(key, format!("{n} is outside {lo}..={hi}"))),
            None => Err(err(key, format!("expected an integer, got {}", kind(v)))),
        }
    }

    fn bits(&self, keys: &[&str], default: u64) -> Result<u64, QuantError> {
        for k in keys {
            if let Some(b) = self.int(k, 1, MAX_BITS as i64)? {
                return Ok(b as u64);
            }
        }
        Ok(default)
    }

    /// A group size: positive, or -1 for one group per row (None).
    fn group(&self, keys: &[&str], default: Option<u64>) -> Result<Option<u64>, QuantError> {
        for k in keys {
            if let Some(g) = self.int(k, -1, MAX_GROUP as i64)? {
                return match g {
                    -1 => Ok(None),
                    0 => Err(err(k, "0 is not a group size (use -1 for per-channel)")),
                    g => Ok(Some(g as u64)),
                };
            }
        }
        Ok(default)
    }

    /// Module names of an ignore list, as the tensor kinds they leave unquantized.
    fn ignore_list(&mut self, key: &str) -> Result<Vec<TensorKind>, QuantError> {
        let Some(v) = self.get(key) else { return Ok(Vec::new()) };
        let Value::Array(items) = v else {
            return Err(err(key, format!("expected a list of module names, got {}", kind(v))));
        };
        if items.len() > MAX_LIST {
            return Err(err(key, format!("{} entries (at most {MAX_LIST} read)", items.len())));
        }
        let mut kinds = Vec::new();
        let mut specific = 0;
        for item in items {
            let Some(name) = item.as_str() else {
                return Err(err(key, format!("expected module names, got {}", kind(item))));
            };
            match module_kind(name) {
                Some(k) if !layer_specific(name) => kinds.push(k),
                _ => specific += 1,
            }
        }
        if specific > 0 {
            self.warnings.push(format!(
                "quantization_config.{key}: {specific} entries name single layers or modules gpuplan does not \
                 model; those tensors are sized as quantized"
            ));
        }
        let kinds = dedup(kinds);
        if !kinds.is_empty() {
            let shown: Vec<String> = kinds.iter().map(|k| format!("{k:?}").to_ascii_lowercase()).collect();
            self.read.push((key.to_string(), shown.join(", ")));
        }
        Ok(kinds)
    }

    fn gptq(&mut self) -> Result<(Option<&'static Format>, Quant), QuantError> {
        let bits = self.bits(&["bits"], 4)?;
        let group = self.group(&["group_size"], Some(128))?;
        self.read.push(("bits".into(), bits.to_string()));
        self.read
            .push(("group_size".into(), group.map_or("-1".into(), |g| g.to_string())));
        if let Some(f) = self.string("checkpoint_format")? {
            if f != "gptq" {
                self.warnings.push(format!(
                    "GPTQ checkpoint_format `{f}`: sized as AutoGPTQ's `gptq` layout"
                ));
            }
        }
        let format = self.packed_format("gptq", bits, group, &[3, 4, 8]);
        Ok((format, Quant::Packed { bits, group }))
    }

    fn awq(&mut self) -> Result<(Option<&'static Format>, Quant), QuantError> {
        let bits = self.bits(&["bits", "w_bit"], 4)?;
        let group = self.group(&["group_size", "q_group_size"], Some(128))?;
        self.read.push(("bits".into(), bits.to_string()));
        self.read
            .push(("group_size".into(), group.map_or("-1".into(), |g| g.to_string())));
        if let Some(v) = self.string("version")? {
            if !v.eq_ignore_ascii_case("gemm") {
                self.warnings.push(format!(
                    "AWQ version `{v}`: sized as the GEMM layout (GEMV pads its scales differently)"
                ));
            }
        }
        if self.flag("zero_point")? == Some(false) {
            self.warnings
                .push("AWQ without zero points: sized with them (AutoAWQ always writes qzeros)".into());
        }
        let format = self.packed_format("awq", bits, group, &[4]);
        Ok((format, Quant::Packed { bits, group }))
    }

    /// The table's GPTQ / AWQ format for `bits` and `group`, or the nearest with a warning.
    fn packed_format(
        &mut self,
        method: &str,
        bits: u64,
        group: Option<u64>,
        widths: &[u64],
    ) -> Option<&'static Format> {
        if !widths.contains(&bits) {
            self.warnings.push(format!(
                "{method} with {bits} bits has no format in gpuplan's table: --precision defaults to the checkpoint dtype"
            ));
            return None;
        }
        let g = match group {
            Some(g @ (32 | 64)) => format!("-g{g}"),
            Some(128) => String::new(),
            other => {
                self.warnings.push(format!(
                    "{method} group size {}: gpuplan's formats have 32, 64 and 128; sized with 128, so the weight \
                     estimate differs slightly from the checkpoint (the safetensors bytes, when read, are exact)",
                    other.map_or("per-channel".to_string(), |g| g.to_string())
                ));
                String::new()
            }
        };
        Format::parse(&format!("{method}-int{bits}{g}"))
    }

    fn bitsandbytes(&mut self) -> Result<(Option<&'static Format>, Quant), QuantError> {
        let on =
            |k: &str| -> Result<bool, QuantError> { Ok(self.flag(k)?.or(self.flag(&format!("_{k}"))?) == Some(true)) };
        let (in_8bit, in_4bit) = (on("load_in_8bit")?, on("load_in_4bit")?);
        if in_8bit {
            self.read.push(("load_in_8bit".into(), "true".into()));
            return Ok((Format::parse("int8"), Quant::Bnb8));
        }
        if !in_4bit {
            self.warnings
                .push("bitsandbytes config without load_in_8bit/load_in_4bit".into());
            return Ok((None, Quant::Other));
        }
        let kind_ = self.string("bnb_4bit_quant_type")?.unwrap_or("fp4");
        let double = self.flag("bnb_4bit_use_double_quant")?.unwrap_or(false);
        let id = match (kind_, double) {
            ("nf4", true) => "bnb-nf4",
            ("nf4", false) => "bnb-nf4-nodq",
            ("fp4", true) => "bnb-fp4-dq",
            ("fp4", false) => "bnb-fp4",
            (other, _) => return Err(err("bnb_4bit_quant_type", format!("`{other}`: expected nf4 or fp4"))),
        };
        self.read.push(("bnb_4bit_quant_type".into(), kind_.into()));
        self.read.push(("bnb_4bit_use_double_quant".into(), double.to_string()));
        Ok((Format::parse(id), Quant::Bnb4))
    }

    fn fp8(&mut self, quantization: &mut Quantization) -> Result<(Option<&'static Format>, Quant), QuantError> {
        if let Some(fmt) = self.string("fmt")? {
            if !fmt.eq_ignore_ascii_case("e4m3") {
                self.warnings.push(format!(
                    "FP8 format `{fmt}`: sized as e4m3 (both are one byte per weight)"
                ));
            }
        }
        let id = match self.get("weight_block_size") {
            None => "fp8",
            Some(v) => {
                let size = block_size(v).map_err(|m| err("weight_block_size", m))?;
                self.read
                    .push(("weight_block_size".into(), format!("[{size}, {size}]")));
                if size != 128 {
                    self.warnings.push(format!(
                        "FP8 block {size}x{size}: gpuplan's fp8-block format has 128x128 blocks; scales sized for 128"
                    ));
                }
                // DeepSeek's reference writes f32 scale_inv; Qwen3's releases bf16: the safetensors
                // headers, when read, decide (the directory import sets it)
                quantization.scale_dtype = None;
                "fp8-block"
            }
        };
        if self.string("activation_scheme")? == Some("static") {
            self.warnings.push(
                "FP8 with static activation scales: one f32 input_scale per linear layer (4 B each) not counted".into(),
            );
        }
        Ok((Format::parse(id), Quant::Fp8))
    }

    fn modelopt(&mut self) -> Result<(Option<&'static Format>, Quant), QuantError> {
        let algo = self.string("quant_algo")?.unwrap_or("").to_ascii_uppercase();
        self.read.push(("quant_algo".into(), algo.clone()));
        Ok(match algo.as_str() {
            "NVFP4" | "NVFP4_AWQ" => (Format::parse("nvfp4"), Quant::Fp4),
            "FP8" => (Format::parse("fp8"), Quant::Fp8),
            _ => {
                self.warnings.push(format!(
                    "ModelOpt quant_algo `{algo}` has no format in gpuplan's table: --precision defaults to the checkpoint dtype"
                ));
                (None, Quant::Other)
            }
        })
    }

    fn compressed_tensors(
        &mut self,
        model_dtype: ScaleDtype,
        quantization: &mut Quantization,
    ) -> Result<(Option<&'static Format>, Quant), QuantError> {
        let key = "config_groups";
        let groups = match self.get(key) {
            Some(Value::Object(m)) => m,
            Some(v) => return Err(err(key, format!("expected an object, got {}", kind(v)))),
            None => {
                self.warnings
                    .push("compressed-tensors config without config_groups: no format".into());
                return Ok((None, Quant::Other));
            }
        };
        if groups.len() > MAX_GROUPS {
            return Err(err(key, format!("{} groups (at most {MAX_GROUPS} read)", groups.len())));
        }
        let Some((name, scheme)) = groups.iter().next() else {
            return Err(err(key, "empty"));
        };
        if groups.len() > 1 {
            self.warnings.push(format!(
                "compressed-tensors with {} config groups: every linear layer sized as `{name}`",
                groups.len()
            ));
        }
        let at = |k: &str| format!("{key}.{name}.{k}");
        let Value::Object(scheme) = scheme else {
            return Err(err(&at(""), "expected an object"));
        };
        let weights = match scheme.get("weights") {
            Some(Value::Object(w)) => Reader {
                q: w,
                read: Vec::new(),
                warnings: Vec::new(),
            },
            _ => return Err(err(&at("weights"), "expected an object")),
        };
        let activations = scheme.get("input_activations").filter(|v| !v.is_null());
        let rebase = |e: QuantError| err(&at(&format!("weights.{}", e.key)), e.message);
        let bits = weights.bits(&["num_bits"], 8).map_err(rebase)?;
        let ty = weights
            .string("type")
            .map_err(rebase)?
            .unwrap_or("int")
            .to_ascii_lowercase();
        let strategy = weights
            .string("strategy")
            .map_err(rebase)?
            .unwrap_or("tensor")
            .to_ascii_lowercase();
        let group = weights.group(&["group_size"], None).map_err(rebase)?;
        let symmetric = weights.flag("symmetric").map_err(rebase)?.unwrap_or(true);
        let actorder = weights
            .get("actorder")
            .is_some_and(|v| v.as_str().is_some_and(|s| s != "static"));
        self.read
            .push(("format".into(), self.string("format")?.unwrap_or("").to_string()));
        self.read.push((
            at("weights"),
            format!(
                "{ty}{bits} {strategy}{}",
                group.map_or(String::new(), |g| format!(" {g}"))
            ),
        ));
        quantization.scale_dtype = Some(model_dtype);
        let act_bits = match activations {
            Some(Value::Object(a)) => a.get("num_bits").and_then(Value::as_u64),
            _ => None,
        };
        let id = match (ty.as_str(), bits, strategy.as_str()) {
            ("float", 8, "tensor") => "fp8",
            ("float", 8, "channel") => "fp8-channel",
            ("float", 8, "block") => {
                let size = match weights.get("block_structure") {
                    Some(v) => block_size(v).map_err(|m| err(&at("weights.block_structure"), m))?,
                    None => 128,
                };
                if size != 128 {
                    self.warnings
                        .push(format!("FP8 block {size}x{size}: scales sized for gpuplan's 128x128"));
                }
                "fp8-block"
            }
            ("float", 4, _) => "nvfp4",
            ("int", 8, _) if act_bits == Some(8) => "w8a8-int8",
            ("int", 8, _) => "w8a16",
            ("int", 4, _) if !symmetric => "w4a16-asym",
            ("int", 4, _) => "w4a16",
            _ => {
                self.warnings.push(format!(
                    "compressed-tensors {ty} {bits}-bit {strategy} has no format in gpuplan's table: --precision defaults to the checkpoint dtype"
                ));
                return Ok((None, Quant::Other));
            }
        };
        if ty == "float" && bits == 4 {
            // NVFP4 scales are fp8; their size does not depend on the model dtype
            quantization.scale_dtype = None;
        }
        if id.starts_with("w4a16") && group != Some(128) {
            self.warnings.push(format!(
                "compressed-tensors group size {}: sized with 128",
                group.map_or("per-channel".to_string(), |g| g.to_string())
            ));
        }
        if actorder && ty == "int" {
            quantization.act_order = true;
            self.read.push((at("weights.actorder"), "weight_g_idx stored".into()));
        }
        let quant = match ty.as_str() {
            "int" if bits < 8 || act_bits != Some(8) => Quant::Packed { bits, group },
            "float" if bits == 4 => Quant::Fp4,
            "float" => Quant::Fp8,
            _ => Quant::Other,
        };
        Ok((Format::parse(id), quant))
    }
}

/// A square block size from `[n, n]` (FP8 weight_block_size / block_structure).
fn block_size(v: &Value) -> Result<u64, String> {
    let Value::Array(a) = v else {
        return Err(format!("expected [rows, cols], got {}", kind(v)));
    };
    let dims: Vec<u64> = a.iter().filter_map(Value::as_u64).collect();
    match dims.as_slice() {
        [r, c] if (1..=MAX_GROUP).contains(r) && r == c => Ok(*r),
        [r, c] if (1..=MAX_GROUP).contains(r) && (1..=MAX_GROUP).contains(c) => {
            Err(format!("non-square blocks [{r}, {c}] are not modelled"))
        }
        _ => Err(format!("expected two integers in 1..={MAX_GROUP}")),
    }
}

/// The tensor kind an ignore-list entry names (module paths or `re:` patterns as compressed-tensors
/// writes them).
fn module_kind(name: &str) -> Option<TensorKind> {
    let n = name.strip_prefix("re:").unwrap_or(name).to_ascii_lowercase();
    let has = |s: &str| n.contains(s);
    Some(if has("lm_head") || has("output_layer") {
        TensorKind::LmHead
    } else if has("embed") || has("wte") {
        TensorKind::Embeddings
    } else if has("visual") || has("vision") || has("mm_projector") || has("multi_modal_projector") {
        TensorKind::Vision
    } else if has("router")
        || n.ends_with("mlp.gate")
        || n.ends_with("mlp.gate$")
        || has("gate.weight")
        || has("block_sparse_moe.gate")
    {
        TensorKind::Router
    } else if has("shared_expert") {
        TensorKind::Mlp
    } else if has("experts") {
        TensorKind::Experts
    } else if has("attn") || has("attention") {
        TensorKind::Attention
    } else if has("mlp") || has("feed_forward") {
        TensorKind::Mlp
    } else {
        return None;
    })
}

/// An entry names one layer (`model.layers.3.mlp`), not every layer (`model.layers.*.mlp`).
fn layer_specific(name: &str) -> bool {
    let n = name.strip_prefix("re:").unwrap_or(name);
    n.split('.')
        .any(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Result<QuantConfig, QuantError> {
        let v: Value = serde_json::from_str(json).expect("json");
        read(v.as_object().expect("object"), ScaleDtype::Bf16)
    }

    fn id(json: &str) -> Option<&'static str> {
        cfg(json).expect("reads").format.map(|f| f.id)
    }

    #[test]
    fn methods_map_to_formats() {
        assert_eq!(
            id(r#"{"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": false}"#),
            Some("gptq-int4")
        );
        assert_eq!(
            id(r#"{"quant_method": "gptq", "bits": 8, "group_size": 32}"#),
            Some("gptq-int8-g32")
        );
        assert_eq!(
            id(r#"{"quant_method": "gptq", "bits": 3, "group_size": 64}"#),
            Some("gptq-int3-g64")
        );
        assert_eq!(
            id(r#"{"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": true}"#),
            Some("awq-int4")
        );
        assert_eq!(
            id(r#"{"quant_method": "awq", "w_bit": 4, "q_group_size": 64}"#),
            Some("awq-int4-g64")
        );
        assert_eq!(
            id(
                r#"{"quant_method": "bitsandbytes", "load_in_4bit": true, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true}"#
            ),
            Some("bnb-nf4")
        );
        assert_eq!(
            id(r#"{"quant_method": "bitsandbytes", "_load_in_4bit": true}"#),
            Some("bnb-fp4")
        );
        assert_eq!(
            id(r#"{"quant_method": "bitsandbytes", "load_in_8bit": true}"#),
            Some("int8")
        );
        assert_eq!(
            id(
                r#"{"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": [128, 128]}"#
            ),
            Some("fp8-block")
        );
        assert_eq!(
            id(r#"{"quant_method": "fp8", "activation_scheme": "dynamic"}"#),
            Some("fp8")
        );
        assert_eq!(
            id(
                r#"{"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]}"#
            ),
            Some("mxfp4")
        );
        assert_eq!(
            id(r#"{"quant_method": "modelopt", "quant_algo": "NVFP4", "exclude_modules": ["lm_head"]}"#),
            Some("nvfp4")
        );
    }

    #[test]
    fn compressed_tensors_schemes() {
        let w4a16 = r#"{"quant_method": "compressed-tensors", "format": "pack-quantized", "ignore": ["lm_head"],
            "config_groups": {"group_0": {"targets": ["Linear"], "input_activations": null,
            "weights": {"num_bits": 4, "type": "int", "symmetric": true, "strategy": "group", "group_size": 128}}}}"#;
        let c = cfg(w4a16).expect("reads");
        assert_eq!(c.format.map(|f| f.id), Some("w4a16"));
        assert_eq!(c.quantization.scale_dtype, Some(ScaleDtype::Bf16));
        assert!(c.quantization.unquantized.is_empty(), "lm_head is kept by every format");
        assert!(!c.quantization.act_order);
        let c =
            cfg(&w4a16.replace(r#""group_size": 128"#, r#""group_size": 128, "actorder": "group""#)).expect("reads");
        assert!(c.quantization.act_order, "weight_g_idx is stored");
        let w8a8 = r#"{"quant_method": "compressed-tensors", "format": "int-quantized",
            "config_groups": {"group_0": {"targets": ["Linear"],
            "input_activations": {"num_bits": 8, "type": "int", "strategy": "token", "dynamic": true},
            "weights": {"num_bits": 8, "type": "int", "symmetric": true, "strategy": "channel"}}}}"#;
        assert_eq!(id(w8a8), Some("w8a8-int8"));
        let fp8 = r#"{"quant_method": "compressed-tensors", "format": "float-quantized",
            "config_groups": {"g": {"weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}}"#;
        assert_eq!(id(fp8), Some("fp8-channel"));
        let nvfp4 = r#"{"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized",
            "config_groups": {"g": {"weights": {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16}}}}"#;
        let c = cfg(nvfp4).expect("reads");
        assert_eq!(c.format.map(|f| f.id), Some("nvfp4"));
        assert_eq!(c.quantization.scale_dtype, None);
    }

    #[test]
    fn ignore_lists_become_tensor_kinds() {
        let c = cfg(r#"{"quant_method": "fp8", "weight_block_size": [128, 128],
            "modules_to_not_convert": ["model.layers.*.self_attn", "lm_head", "model.layers.3.mlp"]}"#)
        .expect("reads");
        assert_eq!(c.quantization.unquantized, vec![TensorKind::Attention]);
        assert!(c.warnings.iter().any(|w| w.contains("1 entries name single layers")));
        assert_eq!(module_kind("re:.*mlp.gate$"), Some(TensorKind::Router));
        assert_eq!(module_kind("model.visual.blocks"), Some(TensorKind::Vision));
        assert_eq!(module_kind("re:.*shared_expert.*"), Some(TensorKind::Mlp));
    }

    #[test]
    fn hostile_values_are_bounded_and_named() {
        for (json, key) in [
            (r#"{"quant_method": "gptq", "bits": 1e300}"#, "bits"),
            (r#"{"quant_method": "gptq", "bits": 64}"#, "bits"),
            (r#"{"quant_method": "gptq", "group_size": 0}"#, "group_size"),
            (r#"{"quant_method": "gptq", "group_size": -7}"#, "group_size"),
            (
                r#"{"quant_method": "awq", "q_group_size": 18446744073709551615}"#,
                "q_group_size",
            ),
            (
                r#"{"quant_method": "fp8", "weight_block_size": [0, 0]}"#,
                "weight_block_size",
            ),
            (
                r#"{"quant_method": "fp8", "weight_block_size": [128, 64]}"#,
                "weight_block_size",
            ),
            (
                r#"{"quant_method": "fp8", "weight_block_size": "big"}"#,
                "weight_block_size",
            ),
            (
                r#"{"quant_method": "fp8", "modules_to_not_convert": "lm_head"}"#,
                "modules_to_not_convert",
            ),
            (
                r#"{"quant_method": "fp8", "modules_to_not_convert": [1, 2]}"#,
                "modules_to_not_convert",
            ),
            (
                r#"{"quant_method": "bitsandbytes", "load_in_4bit": "yes"}"#,
                "load_in_4bit",
            ),
            (
                r#"{"quant_method": "bitsandbytes", "load_in_4bit": true, "bnb_4bit_quant_type": "int3"}"#,
                "bnb_4bit_quant_type",
            ),
            (
                r#"{"quant_method": "compressed-tensors", "config_groups": []}"#,
                "config_groups",
            ),
            (
                r#"{"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {"num_bits": 99}}}}"#,
                "config_groups.g.weights.num_bits",
            ),
            (r#"{"quant_method": 4}"#, "quant_method"),
            (r#"{"bits": 4}"#, "quant_method"),
        ] {
            let e = cfg(json).expect_err(json);
            assert_eq!(e.key, key, "{json}: {}", e.message);
        }
        // an unknown method is a warning, not an error
        let c = cfg(r#"{"quant_method": "hqq", "nbits": 4}"#).expect("reads");
        assert!(c.format.is_none());
        assert!(c.warnings[0].contains("hqq"));
    }
}
