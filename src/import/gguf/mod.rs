//! GGUF headers, never tensor data: magic, version, counts, the metadata key/values and the tensor
//! infos (name, dimensions, GGML type, offset). Exact bytes per tensor follow from the GGML type's
//! block size and block bytes (ggml-common.h). The architecture and its sizes come from the
//! `general.architecture` metadata and the tensor shapes.
//!
//! A bounded reader of its own (candle's allocates whatever a length field says): every count and
//! length is checked against the bytes left in the file before anything is read or allocated,
//! strings are kept only when short, and arrays are skipped unless they are small integer lists.

mod spec;

pub use spec::{to_spec, Ctx, FromGguf};

use super::{FileSummary, ImportError, SourceKind, TensorEntry, TensorSummary};
use crate::spec::precision::{Ftype, Ggml, GgufTypes, Role, FORMATS};
use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Limits far above any real file (DeepSeek-V3 has ~1,000 tensors and ~50 keys).
pub const MAX_TENSORS: u64 = 1 << 20;
pub const MAX_KEYS: u64 = 1 << 20;
/// GGML_MAX_DIMS
pub const MAX_DIMS: u32 = 4;
/// Keys and tensor names longer than this are errors (llama.cpp caps names at 64 bytes).
pub const MAX_NAME: u64 = 1 << 16;
/// Metadata strings longer than this are skipped, not kept (chat templates are ~10 KB).
pub const MAX_KEPT_STRING: u64 = 1 << 20;
/// Integer arrays up to this length are kept (per-layer head counts); longer ones are skipped.
pub const MAX_KEPT_ARRAY: u64 = 1 << 16;
const MAX_ARRAY_DEPTH: u32 = 3;

/// (name, weights per block, bytes per block) of a GGML type id, from the one type table
/// ([`Ggml`], ggml.c `type_traits`).
pub fn ggml_type(id: u32) -> Option<(&'static str, u64, u64)> {
    let t = Ggml::from_id(id)?;
    let (bytes, per) = t.block();
    Some((t.name(), per, bytes))
}

/// A metadata value as kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Uint(u64),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// a string too long to keep
    LongStr(u64),
    /// an integer array (kept when short)
    Ints(Vec<i64>),
    /// any other array: its element type and length
    Array {
        elem: u32,
        len: u64,
    },
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Uint(v) => Some(v),
            Value::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ne[0..n]: ne[0] is the row length (innermost)
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    /// relative to the data section
    pub offset: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gguf {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// start of the tensor data (header, infos and padding before it)
    pub data_start: u64,
    pub file_len: u64,
}

impl Gguf {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Reads what a length field promises only after checking it is in the file.
struct Rd<'a, R> {
    r: R,
    pos: u64,
    len: u64,
    path: &'a Path,
    scratch: Vec<u8>,
}

impl<R: Read + Seek> Rd<'_, R> {
    fn err(&self, message: impl Into<String>) -> ImportError {
        ImportError::header(self.path, self.pos, message)
    }

    fn need(&self, n: u64, what: &str) -> Result<(), ImportError> {
        let left = self.len - self.pos;
        if n > left {
            Err(self.err(format!(
                "{what}: needs {n} bytes but the file ends {left} bytes on (truncated or corrupt)"
            )))
        } else {
            Ok(())
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ImportError> {
        self.need(N as u64, what)?;
        let mut b = [0u8; N];
        self.r
            .read_exact(&mut b)
            .map_err(|e| self.err(format!("{what}: {e}")))?;
        self.pos += N as u64;
        Ok(b)
    }

    fn u32(&mut self, what: &str) -> Result<u32, ImportError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, ImportError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), ImportError> {
        self.need(n, what)?;
        if n <= 1 << 16 {
            // short skips through the buffer (tokenizer arrays hold 100k+ short strings)
            self.scratch.resize(n as usize, 0);
            self.r
                .read_exact(&mut self.scratch)
                .map_err(|e| self.err(format!("{what}: {e}")))?;
        } else {
            let off = i64::try_from(n).map_err(|_| self.err(format!("{what}: {n} bytes is out of range")))?;
            self.r
                .seek(SeekFrom::Current(off))
                .map_err(|e| self.err(format!("{what}: {e}")))?;
        }
        self.pos += n;
        Ok(())
    }

    /// A length-prefixed string: kept (must be UTF-8) when at most `keep` bytes, else skipped.
    fn string(&mut self, keep: u64, what: &str) -> Result<Option<String>, ImportError> {
        let n = self.u64(what)?;
        self.need(n, what)?;
        if n > keep {
            self.skip(n, what)?;
            return Ok(None);
        }
        let mut b = vec![0u8; n as usize];
        self.r
            .read_exact(&mut b)
            .map_err(|e| self.err(format!("{what}: {e}")))?;
        let at = self.pos;
        self.pos += n;
        String::from_utf8(b).map(Some).map_err(|e| {
            ImportError::header(
                self.path,
                at + e.utf8_error().valid_up_to() as u64,
                format!("{what}: not valid UTF-8"),
            )
        })
    }

    /// A name (key or tensor name): must be kept.
    fn name(&mut self, what: &str) -> Result<String, ImportError> {
        let at = self.pos;
        match self.string(MAX_NAME, what)? {
            Some(s) => Ok(s),
            None => Err(ImportError::header(
                self.path,
                at,
                format!("{what}: longer than {MAX_NAME} bytes"),
            )),
        }
    }

    fn value(&mut self, ty: u32, key: &str, depth: u32) -> Result<Value, ImportError> {
        let what = format!("value of `{key}`");
        Ok(match ty {
            0 => Value::Uint(self.array::<1>(&what)?[0] as u64),
            1 => Value::Int(self.array::<1>(&what)?[0] as i8 as i64),
            2 => Value::Uint(u16::from_le_bytes(self.array(&what)?) as u64),
            3 => Value::Int(i16::from_le_bytes(self.array(&what)?) as i64),
            4 => Value::Uint(self.u32(&what)? as u64),
            5 => Value::Int(i32::from_le_bytes(self.array(&what)?) as i64),
            6 => Value::Float(f32::from_le_bytes(self.array(&what)?) as f64),
            7 => match self.array::<1>(&what)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(self.err(format!("{what}: bool byte {b} is neither 0 nor 1"))),
            },
            8 => {
                let at = self.pos;
                match self.string(MAX_KEPT_STRING, &what)? {
                    Some(s) => Value::Str(s),
                    None => Value::LongStr(self.pos - at - 8),
                }
            }
            9 => self.array_value(key, depth)?,
            10 => Value::Uint(self.u64(&what)?),
            11 => Value::Int(i64::from_le_bytes(self.array(&what)?)),
            12 => Value::Float(f64::from_le_bytes(self.array(&what)?)),
            other => return Err(self.err(format!("{what}: unknown metadata type {other}"))),
        })
    }

    fn array_value(&mut self, key: &str, depth: u32) -> Result<Value, ImportError> {
        let what = format!("array `{key}`");
        if depth >= MAX_ARRAY_DEPTH {
            return Err(self.err(format!("{what}: arrays nested deeper than {MAX_ARRAY_DEPTH}")));
        }
        let elem = self.u32(&what)?;
        let len = self.u64(&what)?;
        let fixed = match elem {
            0 | 1 | 7 => Some(1u64),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            8 => None,
            9 => None,
            other => return Err(self.err(format!("{what}: unknown element type {other}"))),
        };
        Ok(match fixed {
            Some(size) => {
                let total = len
                    .checked_mul(size)
                    .ok_or_else(|| self.err(format!("{what}: {len} elements overflow")))?;
                self.need(total, &what)?;
                let int = !matches!(elem, 6 | 7 | 12);
                if int && len <= MAX_KEPT_ARRAY {
                    let mut v = Vec::with_capacity(len as usize);
                    for _ in 0..len {
                        let x = self.value(elem, key, depth + 1)?;
                        v.push(match x {
                            Value::Uint(u) => i64::try_from(u).unwrap_or(i64::MAX),
                            Value::Int(i) => i,
                            _ => 0,
                        });
                    }
                    Value::Ints(v)
                } else {
                    self.skip(total, &what)?;
                    Value::Array { elem, len }
                }
            }
            None => {
                // every string carries an 8-byte length, every array 12 bytes of header
                let min = if elem == 8 { 8 } else { 12 };
                self.need(len.saturating_mul(min), &what)?;
                for _ in 0..len {
                    if elem == 8 {
                        let n = self.u64(&what)?;
                        self.skip(n, &what)?;
                    } else {
                        self.array_value(key, depth + 1)?;
                    }
                }
                Value::Array { elem, len }
            }
        })
    }
}

/// Reads a GGUF header from `r` (at the start of a file of `file_len` bytes).
pub fn read<R: Read + Seek>(path: &Path, r: R, file_len: u64) -> Result<Gguf, ImportError> {
    let mut rd = Rd {
        r,
        pos: 0,
        len: file_len,
        path,
        scratch: Vec::new(),
    };
    let magic = rd.array::<4>("magic")?;
    if &magic != b"GGUF" {
        return Err(ImportError::header(path, 0, "not a GGUF file (magic is not `GGUF`)"));
    }
    let version = rd.u32("version")?;
    match version {
        2 | 3 => {}
        1 => {
            return Err(ImportError::header(
                path,
                4,
                "GGUF version 1 (2023) is not supported; convert the file again",
            ))
        }
        v if v.swap_bytes() <= 3 => return Err(ImportError::header(path, 4, "big-endian GGUF is not supported")),
        v => return Err(ImportError::header(path, 4, format!("unknown GGUF version {v}"))),
    }
    let n_tensors = rd.u64("tensor count")?;
    let n_keys = rd.u64("metadata count")?;
    if n_tensors > MAX_TENSORS {
        return Err(ImportError::header(
            path,
            8,
            format!("{n_tensors} tensors: more than the {MAX_TENSORS} gpuplan accepts"),
        ));
    }
    if n_keys > MAX_KEYS {
        return Err(ImportError::header(
            path,
            16,
            format!("{n_keys} metadata keys: more than the {MAX_KEYS} gpuplan accepts"),
        ));
    }
    // each key/value is at least 8 (length) + 4 (type) + 1 bytes; each tensor info at least 8 + 4 + 4 + 8
    rd.need(
        n_keys.saturating_mul(13).saturating_add(n_tensors.saturating_mul(24)),
        "metadata and tensor infos",
    )?;

    let mut metadata: Vec<(String, Value)> = Vec::new();
    let mut keys = HashSet::new();
    for _ in 0..n_keys {
        let at = rd.pos;
        let key = rd.name("metadata key")?;
        if !keys.insert(key.clone()) {
            return Err(ImportError::header(
                path,
                at,
                format!("metadata key `{key}` appears twice"),
            ));
        }
        let ty = rd.u32(&format!("type of `{key}`"))?;
        let v = rd.value(ty, &key, 0)?;
        metadata.push((key, v));
    }
    let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
        None => 32,
        Some((_, v)) => match v.as_u64() {
            Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 30 => a,
            _ => return Err(rd.err(format!("general.alignment {v:?} is not a power of two"))),
        },
    };

    let mut tensors = Vec::new();
    let mut names = HashSet::new();
    for i in 0..n_tensors {
        let at = rd.pos;
        let name = rd.name(&format!("name of tensor {i}"))?;
        if !names.insert(name.clone()) {
            return Err(ImportError::header(path, at, format!("tensor `{name}` appears twice")));
        }
        let what = format!("tensor `{name}`");
        let n_dims = rd.u32(&what)?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(rd.err(format!("{what}: {n_dims} dimensions (1 to {MAX_DIMS} allowed)")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(rd.u64(&what)?);
        }
        let ty = rd.u32(&what)?;
        let (tname, block, block_bytes) = ggml_type(ty)
            .ok_or_else(|| rd.err(format!("{what}: unknown GGML type {ty} (newer than this gpuplan?)")))?;
        let offset = rd.u64(&what)?;
        let elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= 1 << 60);
        let Some(elements) = elements else {
            return Err(rd.err(format!("{what}: dimensions {dims:?} overflow")));
        };
        if dims[0] % block != 0 {
            return Err(rd.err(format!(
                "{what}: row length {} is not a multiple of the {tname} block ({block})",
                dims[0]
            )));
        }
        // elements / block whole blocks (rows are whole blocks, so this is exact)
        let bytes = (elements / block)
            .checked_mul(block_bytes)
            .ok_or_else(|| rd.err(format!("{what}: size overflows")))?;
        if offset % alignment != 0 {
            return Err(rd.err(format!("{what}: data offset {offset} is not aligned to {alignment}")));
        }
        tensors.push(TensorInfo {
            name,
            dims,
            ggml_type: ty,
            offset,
            bytes,
        });
    }
    let data_start = rd.pos.div_ceil(alignment).saturating_mul(alignment);
    // the data region: each tensor inside the file, none overlapping
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    order.sort_by_key(|t| t.offset);
    let mut end = 0u64;
    for t in order {
        if t.offset < end {
            return Err(ImportError::header(
                path,
                data_start,
                format!("tensor `{}` overlaps the tensor before it", t.name),
            ));
        }
        end = t
            .offset
            .checked_add(t.bytes)
            .ok_or_else(|| ImportError::header(path, data_start, format!("tensor `{}`: offset overflows", t.name)))?;
        let abs_end = data_start.saturating_add(end);
        if abs_end > file_len {
            return Err(ImportError::header(
                path,
                data_start.saturating_add(t.offset),
                format!(
                    "tensor `{}` ends at byte {abs_end} but the file has {file_len}: truncated",
                    t.name
                ),
            ));
        }
    }
    Ok(Gguf {
        version,
        metadata,
        tensors,
        alignment,
        data_start,
        file_len,
    })
}

/// Reads the header of the file at `path` (buffered: only the header is read).
pub fn read_file(path: &Path) -> Result<Gguf, ImportError> {
    let f = std::fs::File::open(path).map_err(|e| ImportError::io(path, e))?;
    let len = f.metadata().map_err(|e| ImportError::io(path, e))?.len();
    read(path, std::io::BufReader::with_capacity(1 << 16, f), len)
}

/// Imports a GGUF file.
pub fn import_file(path: &Path) -> Result<super::Imported, ImportError> {
    let g = read_file(path)?;
    let f = to_spec(path, &g)?;
    super::finish(path, SourceKind::Gguf, f.spec, f.notes, Some(f.summary), f.warnings)
}

/// Tensors llama.cpp's converters add that are not model parameters (RoPE frequency tables).
const NOT_PARAMETERS: &[&str] = &[
    "rope_freqs.weight",
    "rope_factors_long.weight",
    "rope_factors_short.weight",
];

/// The tensor summary of a GGUF file (shapes in row-major order).
pub fn summary(path: &Path, g: &Gguf) -> TensorSummary {
    let tensors: Vec<TensorEntry> = g
        .tensors
        .iter()
        .map(|t| TensorEntry {
            name: t.name.clone(),
            dtype: ggml_type(t.ggml_type).map_or("?", |x| x.0).to_string(),
            shape: t.dims.iter().rev().copied().collect(),
            bytes: t.bytes,
            file: 0,
        })
        .collect();
    let file = FileSummary {
        path: path.to_path_buf(),
        header_bytes: g.data_start,
        data_bytes: g.file_len.saturating_sub(g.data_start),
        tensors: tensors.len() as u64,
    };
    let mut s = TensorSummary::new(vec![file], tensors);
    let mut skipped = 0;
    s.parameters = s
        .tensors
        .iter()
        .filter(|t| {
            let skip = NOT_PARAMETERS.contains(&t.name.as_str());
            skipped += u64::from(skip);
            !skip
        })
        .map(|t| t.elements())
        .sum();
    if skipped > 0 {
        s.not_counted.push(format!(
            "{skipped} RoPE frequency tables llama.cpp adds (not model parameters)"
        ));
    }
    s
}

/// The `general.file_type` a file of `format` declares: the inverse of [`file_type_format`] (None
/// for formats llama.cpp has no file type for, e.g. q4_k).
pub fn format_file_type(format: &str) -> Option<Ftype> {
    Ftype::all().find(|ft| file_type_format(ft.id()) == Some(format))
}

/// llama.cpp `general.file_type` (enum llama_ftype) -> gpuplan format id.
fn file_type_format(ft: u64) -> Option<&'static str> {
    match Ftype::from_id(ft)? {
        Ftype::F32 => Some("fp32"),
        Ftype::F16 => Some("fp16"),
        Ftype::BF16 => Some("bf16"),
        t => FORMATS.iter().find(|f| f.ftype == Some(t)).map(|f| f.id),
    }
}

/// The role and decoder layer of a GGUF weight tensor, by its llama.cpp name (`blk.N.attn_q.weight`).
fn tensor_role(name: &str) -> Option<(Role, Option<u64>)> {
    let (layer, rest) = match name.strip_prefix("blk.") {
        Some(r) => {
            let (n, rest) = r.split_once('.')?;
            (Some(n.parse::<u64>().ok()?), rest)
        }
        None => (None, name),
    };
    let base = rest
        .strip_suffix(".weight")
        .or_else(|| rest.strip_suffix(".bias").map(|_| "bias"))?;
    let role = match base {
        "token_embd" => Role::Embedding,
        "output" => Role::LmHead,
        "bias" => Role::Bias,
        "attn_q" | "attn_qkv" | "attn_q_a" | "attn_q_b" | "attn_kv_a_mqa" => Role::AttnQkv,
        "attn_k" => Role::AttnK,
        "attn_v" | "attn_kv_b" | "attn_k_b" | "attn_v_b" => Role::AttnV,
        "attn_output" => Role::AttnOut,
        "ffn_gate" | "ffn_up" | "ffn_gate_shexp" | "ffn_up_shexp" => Role::MlpUp,
        "ffn_down" | "ffn_down_shexp" => Role::MlpDown,
        "ffn_gate_exps" | "ffn_up_exps" => Role::Expert,
        "ffn_down_exps" => Role::ExpertDown,
        "ffn_gate_inp" | "ffn_gate_inp_shexp" => Role::Router,
        b if b.ends_with("_norm") => Role::Norm,
        _ => return None,
    };
    Some((role, layer))
}

/// Every weight tensor's type as the file holds it, by role and runs of layers: what a GGUF file's
/// own mix (llama-quantize's rules, `--tensor-type` overrides, unsloth's dynamic files) stores.
/// Elements are per matrix (a stacked expert tensor counts one expert).
pub fn tensor_types(g: &Gguf) -> Vec<GgufTypes> {
    let mut rows: Vec<(Role, Option<u64>, Ggml, u64)> = g
        .tensors
        .iter()
        .filter_map(|t| {
            let (role, layer) = tensor_role(&t.name)?;
            let ggml = Ggml::from_id(t.ggml_type)?;
            let matrix = t.dims.iter().take(2).product::<u64>();
            Some((role, layer, ggml, matrix))
        })
        .collect();
    rows.sort_by_key(|&(role, layer, ggml, elements)| (role as u8, elements, ggml.id(), layer));
    rows.dedup();
    let mut out: Vec<GgufTypes> = Vec::new();
    for (role, layer, ggml, elements) in rows {
        if let (Some(last), Some(l)) = (out.last_mut(), layer) {
            if let Some([_, end]) = last.layers.as_mut() {
                if last.role == role && last.ggml == ggml && last.elements == elements && *end + 1 == l {
                    *end = l;
                    continue;
                }
            }
        }
        out.push(GgufTypes {
            role,
            layers: layer.map(|l| [l, l]),
            ggml,
            elements,
        });
    }
    out
}
