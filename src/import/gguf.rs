//! GGUF headers, never tensor data: magic, version, counts, the metadata key/values and the tensor
//! infos (name, dimensions, GGML type, offset). Exact bytes per tensor follow from the GGML type's
//! block size and block bytes (ggml-common.h). The architecture and its sizes come from the
//! `general.architecture` metadata and the tensor shapes.
//!
//! A bounded reader of its own (candle's allocates whatever a length field says): every count and
//! length is checked against the bytes left in the file before anything is read or allocated,
//! strings are kept only when short, and arrays are skipped unless they are small integer lists.

use super::{Basis, FieldNote, FileSummary, ImportError, SourceKind, TensorEntry, TensorSummary};
use crate::spec::model::{ArchType, Architecture, MlaSpec, MlpKind, MoeSpec, NormKind};
use crate::spec::ModelSpec;
use std::collections::{HashMap, HashSet};
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

/// (id, name, weights per block, bytes per block) for every GGML type a GGUF file may hold
/// (ggml.h `enum ggml_type`; block structs and their static_asserts in ggml-common.h).
pub const GGML_TYPES: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
];

pub fn ggml_type(id: u32) -> Option<(&'static str, u64, u64)> {
    GGML_TYPES.iter().find(|t| t.0 == id).map(|t| (t.1, t.2, t.3))
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
    let (spec, notes, summary, warnings) = to_spec(path, &g)?;
    super::finish(path, SourceKind::Gguf, spec, notes, Some(summary), warnings)
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

/// llama.cpp `general.file_type` values (enum llama_ftype in llama.h) and the gpuplan format each
/// one is. Read by the importer, written by `gpuplan synth`.
pub const FILE_TYPES: &[(u64, &str)] = &[
    (0, "fp32"),
    (1, "fp16"),
    (2, "q4_0"),
    (7, "q8_0"),
    (15, "q4_k_m"),
    (17, "q5_k_m"),
    (18, "q6_k"),
    (32, "bf16"),
];

/// llama.cpp `general.file_type` -> gpuplan format id, where the table has it.
fn file_type_format(ft: u64) -> Option<&'static str> {
    FILE_TYPES.iter().find(|t| t.0 == ft).map(|t| t.1)
}

/// Metadata and tensor shapes -> spec.
pub fn to_spec(path: &Path, g: &Gguf) -> Result<(ModelSpec, Vec<FieldNote>, TensorSummary, Vec<String>), ImportError> {
    let mut notes: Vec<FieldNote> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let summary = summary(path, g);
    let tensors: HashMap<&str, &TensorInfo> = g.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let has = |n: &str| tensors.contains_key(n);
    let unsupported = |m: String| ImportError::unsupported(path, m);

    let arch = match g.get("general.architecture") {
        Some(Value::Str(s)) => s.clone(),
        _ => return Err(unsupported("no `general.architecture` string in the metadata".into())),
    };
    let key = |k: &str| format!("{arch}.{k}");
    fn put(notes: &mut Vec<FieldNote>, field: &str, value: String, basis: Basis, source: String) {
        notes.retain(|n| n.field != field);
        notes.push(FieldNote {
            field: field.into(),
            value,
            basis,
            source,
        });
    }
    // a metadata integer (a per-layer list must be uniform)
    let meta = |k: &str| -> Result<Option<u64>, ImportError> {
        match g.get(&key(k)) {
            None => Ok(None),
            Some(Value::Ints(v)) => match v.first() {
                Some(&first) if v.iter().all(|&x| x == first) && first >= 0 => Ok(Some(first as u64)),
                _ => Err(unsupported(format!(
                    "`{}` varies per layer: no spec form for that",
                    key(k)
                ))),
            },
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| unsupported(format!("`{}` is {v:?}, not a count", key(k)))),
        }
    };
    let required = |k: &str| -> Result<u64, ImportError> {
        meta(k)?.ok_or_else(|| unsupported(format!("metadata `{}` is missing", key(k))))
    };
    let experts = meta("expert_count")?.unwrap_or(0);
    let kind = match arch.as_str() {
        "llama" if experts > 0 => ArchType::Mixtral,
        "llama" => ArchType::Llama,
        "qwen2" => ArchType::Qwen2,
        "qwen2moe" => ArchType::Qwen2Moe,
        "gemma" => ArchType::Gemma,
        "gemma2" => ArchType::Gemma2,
        "phi2" => ArchType::Phi,
        "phi3" => ArchType::Phi3,
        "phimoe" => ArchType::Phimoe,
        "deepseek2" if has("blk.0.exp_probs_b.bias") || g.tensors.iter().any(|t| t.name.ends_with(".exp_probs_b.bias")) => ArchType::DeepseekV3,
        "deepseek2" => ArchType::DeepseekV2,
        other => {
            return Err(unsupported(format!(
                "GGUF architecture `{other}` is not one gpuplan imports (llama, qwen2, qwen2moe, gemma, gemma2, phi2, phi3, phimoe, deepseek2)"
            )))
        }
    };
    put(
        &mut notes,
        "architecture.type",
        kind.name().into(),
        Basis::Config,
        format!("GGUF general.architecture {arch}"),
    );
    let stated = |notes: &mut Vec<FieldNote>, field: &str, k: &str, v: u64| {
        put(notes, field, v.to_string(), Basis::Config, format!("GGUF {}", key(k)));
        v
    };
    let embd = tensors.get("token_embd.weight").filter(|t| t.dims.len() == 2);
    let hidden = match embd {
        Some(t) => {
            put(
                &mut notes,
                "architecture.hidden_size",
                t.dims[0].to_string(),
                Basis::Exact,
                "token_embd.weight row length".into(),
            );
            t.dims[0]
        }
        None => stated(
            &mut notes,
            "architecture.hidden_size",
            "embedding_length",
            required("embedding_length")?,
        ),
    };
    let layers = stated(
        &mut notes,
        "architecture.layers",
        "block_count",
        required("block_count")?,
    );
    let heads = stated(
        &mut notes,
        "architecture.attention_heads",
        "attention.head_count",
        required("attention.head_count")?,
    );
    if heads == 0 {
        return Err(unsupported(format!("`{}` is 0", key("attention.head_count"))));
    }
    let kv_heads = match meta("attention.head_count_kv")? {
        Some(k) => stated(&mut notes, "architecture.kv_heads", "attention.head_count_kv", k),
        None => heads,
    };
    let intermediate = stated(
        &mut notes,
        "architecture.intermediate_size",
        "feed_forward_length",
        required("feed_forward_length")?,
    );
    let vocab = match embd {
        Some(t) => {
            put(
                &mut notes,
                "architecture.vocab_size",
                t.dims[1].to_string(),
                Basis::Exact,
                "token_embd.weight rows".into(),
            );
            t.dims[1]
        }
        None => match meta("vocab_size")? {
            Some(v) => stated(&mut notes, "architecture.vocab_size", "vocab_size", v),
            None => {
                return Err(unsupported(
                    "no token_embd.weight and no vocab_size: cannot tell the vocabulary".into(),
                ))
            }
        },
    };
    let max_context = stated(&mut notes, "max_context", "context_length", required("context_length")?);
    let head_dim = match meta("attention.key_length")? {
        Some(h) if kind != ArchType::DeepseekV2 && kind != ArchType::DeepseekV3 => {
            stated(&mut notes, "architecture.head_dim", "attention.key_length", h)
        }
        _ => hidden / heads,
    };
    let tie = !has("output.weight");
    put(
        &mut notes,
        "architecture.tie_embeddings",
        tie.to_string(),
        Basis::Exact,
        if tie {
            "no output.weight: the head reuses token_embd"
        } else {
            "output.weight present"
        }
        .into(),
    );
    let b0 = |s: &str| has(&format!("blk.0.{s}"));
    let norm = if b0("attn_norm.bias") {
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
    .filter(|n| b0(n))
    .count() as u64;
    let fused_qkv = b0("attn_qkv.weight");
    let up_rows = tensors.get("blk.0.ffn_up.weight").and_then(|t| t.dims.get(1).copied());
    let mlp = if b0("ffn_gate.weight") || experts > 0 || up_rows == Some(intermediate.saturating_mul(2)) {
        MlpKind::Gated
    } else {
        MlpKind::Plain
    };
    let mut a = Architecture {
        kind,
        hidden_size: hidden,
        layers,
        attention_heads: heads,
        kv_heads: Some(kv_heads),
        head_dim: Some(head_dim),
        intermediate_size: intermediate,
        vocab_size: vocab,
        tie_embeddings: tie,
        norm,
        norms_per_layer: norms.max(1),
        mlp,
        qkv_bias: b0("attn_q.bias") || b0("attn_qkv.bias"),
        o_bias: b0("attn_output.bias"),
        mlp_bias: b0("ffn_up.bias") || b0("ffn_down.bias"),
        lm_head_bias: has("output.bias"),
        fused_qkv,
        sliding_window: None,
        sliding_window_pattern: 1,
        moe: None,
        mla: None,
    };
    put(
        &mut notes,
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
        "block 0 tensor names".into(),
    );
    if let Some(w) = meta("attention.sliding_window")? {
        a.sliding_window = Some(stated(
            &mut notes,
            "architecture.sliding_window",
            "attention.sliding_window",
            w,
        ));
        if kind == ArchType::Gemma2 {
            a.sliding_window_pattern = 2;
        }
    }
    if experts > 0 {
        let top = required("expert_used_count")?;
        let mut m = MoeSpec {
            experts: stated(&mut notes, "architecture.moe.experts", "expert_count", experts),
            experts_per_token: stated(
                &mut notes,
                "architecture.moe.experts_per_token",
                "expert_used_count",
                top,
            ),
            expert_intermediate_size: None,
            shared_expert_intermediate_size: None,
            router_bias: has("blk.0.ffn_gate_inp.bias") || kind == ArchType::DeepseekV3,
            shared_expert_gate: has("blk.0.ffn_gate_inp_shexp.weight"),
            dense_layers: 0,
        };
        if let Some(e) = meta("expert_feed_forward_length")? {
            m.expert_intermediate_size = Some(stated(
                &mut notes,
                "architecture.moe.expert_intermediate_size",
                "expert_feed_forward_length",
                e,
            ));
        }
        if let Some(s) = meta("expert_shared_feed_forward_length")? {
            m.shared_expert_intermediate_size = Some(s);
        } else if let Some(n) = meta("expert_shared_count")? {
            m.shared_expert_intermediate_size =
                (n > 0).then(|| n.saturating_mul(m.expert_intermediate_size.unwrap_or(intermediate)));
        }
        if let Some(d) = meta("leading_dense_block_count")? {
            m.dense_layers = stated(
                &mut notes,
                "architecture.moe.dense_layers",
                "leading_dense_block_count",
                d,
            );
        }
        a.moe = Some(m);
    }
    if matches!(kind, ArchType::DeepseekV2 | ArchType::DeepseekV3) {
        let rope = required("rope.dimension_count")?;
        let k = meta("attention.key_length_mla")?
            .or(meta("attention.key_length")?)
            .unwrap_or(192);
        let v = meta("attention.value_length_mla")?
            .or(meta("attention.value_length")?)
            .unwrap_or(128);
        let m = MlaSpec {
            q_lora_rank: meta("attention.q_lora_rank")?.filter(|&r| r > 0),
            kv_lora_rank: required("attention.kv_lora_rank")?,
            qk_nope_head_dim: k
                .checked_sub(rope)
                .ok_or_else(|| unsupported(format!("key length {k} is shorter than the rotary part {rope}")))?,
            qk_rope_head_dim: rope,
            v_head_dim: v,
        };
        put(
            &mut notes,
            "architecture.mla",
            format!("{m:?}"),
            Basis::Config,
            "GGUF attention.*_lora_rank, key/value_length(_mla), rope.dimension_count".into(),
        );
        a.head_dim = Some(k);
        a.kv_heads = None;
        a.mla = Some(m);
        if g.tensors.iter().any(|t| t.name.ends_with("attn_k_b.weight"))
            && g.tensors.iter().any(|t| t.name.ends_with("attn_kv_b.weight"))
        {
            warnings.push(
                "the file holds both attn_kv_b and its split attn_k_b/attn_v_b: the tensor count includes kv_b twice"
                    .into(),
            );
        }
    }
    let dtype = match meta_file_type(g) {
        Some((ft, Some(id))) => {
            put(
                &mut notes,
                "dtype",
                id.into(),
                Basis::Config,
                format!("GGUF general.file_type {ft}"),
            );
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
            warnings.push(format!(
                "GGUF file type {} has no format in gpuplan's table: --precision defaults to {id} (most bytes are {main}); \
                 the per-tensor bytes below are exact",
                other.map_or("(absent)".to_string(), |(ft, _)| ft.to_string())
            ));
            id.to_string()
        }
    };
    let name = match g.get("general.name") {
        Some(Value::Str(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => super::source_name(path),
    };
    let spec = ModelSpec {
        id: super::id_from(&super::source_name(path)),
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
        sources: Vec::new(),
        notes: None,
    };
    Ok((spec, notes, summary, warnings))
}

fn meta_file_type(g: &Gguf) -> Option<(u64, Option<&'static str>)> {
    let ft = g.get("general.file_type")?.as_u64()?;
    Some((ft, file_type_format(ft)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ggml_block_table_agrees_with_the_estimator() {
        use crate::spec::precision::Ggml;
        for g in [
            Ggml::F32,
            Ggml::F16,
            Ggml::Q8_0,
            Ggml::Q6K,
            Ggml::Q5K,
            Ggml::Q5_1,
            Ggml::Q5_0,
            Ggml::Q4K,
            Ggml::Q4_0,
        ] {
            let (bytes, per) = g.block();
            let t = GGML_TYPES.iter().find(|t| t.1 == g.name()).expect("type in table");
            assert_eq!((t.2, t.3), (per, bytes), "{}", g.name());
        }
    }
}
