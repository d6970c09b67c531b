//! safetensors headers, never tensor data: an 8-byte little-endian length N, then N bytes of JSON
//! naming each tensor's dtype, shape and byte range. The JSON is parsed and validated by the
//! `safetensors` crate's `Metadata` (contiguous offsets, byte ranges that match dtype x shape, all
//! with checked arithmetic); this file bounds N by the crate's 100 MB limit and the file size before
//! reading it, and checks that the data the header promises is in the file.
//!
//! Sharded checkpoints: `model.safetensors.index.json` maps tensors to shard files; every shard it
//! names is read and the map is checked against the shards' own headers.

use super::{FileSummary, ImportError, TensorEntry, TensorSummary};
use safetensors::tensor::Metadata;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The safetensors crate's own header limit (`MAX_HEADER_SIZE`).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;
/// Index files list every tensor once: a few MB for the largest models.
pub const MAX_INDEX_BYTES: u64 = 64 << 20;

/// One file's header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// N: bytes of JSON after the 8-byte length
    pub json_len: u64,
    /// bytes of tensor data the header describes
    pub data_len: u64,
    /// (name, dtype, shape, bytes) in file order
    pub tensors: Vec<(String, String, Vec<u64>, u64)>,
    /// `__metadata__` `format` entry (pt, tf, mlx, ...), when present
    pub format: Option<String>,
}

/// Reads a header from `r` (positioned at the start of a file of `file_len` bytes).
pub fn read_header<R: Read>(path: &Path, mut r: R, file_len: u64) -> Result<Header, ImportError> {
    if file_len < 8 {
        return Err(ImportError::header(
            path,
            0,
            format!("{file_len} bytes: too short for the 8-byte header length"),
        ));
    }
    let mut len = [0u8; 8];
    r.read_exact(&mut len)
        .map_err(|e| ImportError::header(path, 0, format!("reading the header length: {e}")))?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER_BYTES {
        return Err(ImportError::header(
            path,
            0,
            format!("header length {n} exceeds the safetensors limit of {MAX_HEADER_BYTES} bytes"),
        ));
    }
    if n > file_len - 8 {
        return Err(ImportError::header(
            path,
            0,
            format!("header length {n} runs past the end of the file ({file_len} bytes): truncated or not safetensors"),
        ));
    }
    let mut json = Vec::with_capacity(n as usize);
    r.take(n)
        .read_to_end(&mut json)
        .map_err(|e| ImportError::header(path, 8, format!("reading the header: {e}")))?;
    if (json.len() as u64) < n {
        return Err(ImportError::header(
            path,
            8 + json.len() as u64,
            "file ends inside the header",
        ));
    }
    let text = std::str::from_utf8(&json)
        .map_err(|e| ImportError::header(path, 8 + e.valid_up_to() as u64, "header is not valid UTF-8"))?;
    let meta: Metadata = serde_json::from_str(text).map_err(|e| {
        // headers are one line: the column is the byte offset within the JSON
        let at = if e.line() <= 1 {
            8 + e.column().saturating_sub(1) as u64
        } else {
            8
        };
        ImportError::header(path, at, format!("invalid header: {e}"))
    })?;
    let data_len = meta.data_len() as u64;
    let have = file_len - 8 - n;
    if data_len > have {
        return Err(ImportError::header(
            path,
            8 + n,
            format!("the header describes {data_len} bytes of tensor data but only {have} follow it: truncated file"),
        ));
    }
    if data_len < have {
        return Err(ImportError::header(
            path,
            8 + n + data_len,
            format!(
                "{} bytes after the last tensor's data: not a safetensors file as written",
                have - data_len
            ),
        ));
    }
    let mut tensors = Vec::new();
    for name in meta.offset_keys() {
        if let Some(info) = meta.info(&name) {
            let shape: Vec<u64> = info.shape.iter().map(|&d| d as u64).collect();
            let bytes = (info.data_offsets.1 - info.data_offsets.0) as u64;
            tensors.push((name, format!("{:?}", info.dtype), shape, bytes));
        }
    }
    let format = meta.metadata().as_ref().and_then(|m| m.get("format").cloned());
    Ok(Header {
        json_len: n,
        data_len,
        tensors,
        format,
    })
}

/// Reads the header of the file at `path`.
pub fn read_file(path: &Path) -> Result<Header, ImportError> {
    let f = std::fs::File::open(path).map_err(|e| ImportError::io(path, e))?;
    let len = f.metadata().map_err(|e| ImportError::io(path, e))?.len();
    read_header(path, std::io::BufReader::new(f), len)
}

/// The shards of a directory and every tensor in them, or None when the directory holds no
/// safetensors. Returns notes on the index, if any.
pub fn read_dir(dir: &Path) -> Result<Option<(TensorSummary, Vec<String>)>, ImportError> {
    let index_path = dir.join("model.safetensors.index.json");
    let mut notes = Vec::new();
    let (files, index) = if index_path.is_file() {
        let (files, index) = read_index(&index_path)?;
        (files.into_iter().map(|f| dir.join(f)).collect::<Vec<_>>(), Some(index))
    } else {
        let all = super::files_with_suffix(dir, ".safetensors")?;
        // Mistral-style repos ship consolidated.safetensors beside model-*.safetensors: prefer the
        // transformers shards
        let model: Vec<PathBuf> = all
            .iter()
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("model")))
            .cloned()
            .collect();
        if model.is_empty() {
            (all, None)
        } else {
            if model.len() < all.len() {
                notes.push(format!(
                    "read the {} model*.safetensors files, not the {} others",
                    model.len(),
                    all.len() - model.len()
                ));
            }
            (model, None)
        }
    };
    if files.is_empty() {
        return Ok(None);
    }
    let mut summaries = Vec::new();
    let mut tensors: Vec<TensorEntry> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, path) in files.iter().enumerate() {
        let h = read_file(path)?;
        summaries.push(FileSummary {
            path: path.clone(),
            header_bytes: 8 + h.json_len,
            data_bytes: h.data_len,
            tensors: h.tensors.len() as u64,
        });
        for (name, dtype, shape, bytes) in h.tensors {
            if let Some(&first) = seen.get(&name) {
                return Err(ImportError::unsupported(
                    path,
                    format!(
                        "tensor `{name}` is also in {}: which one loads is ambiguous",
                        files[first].display()
                    ),
                ));
            }
            seen.insert(name.clone(), i);
            tensors.push(TensorEntry {
                name,
                dtype,
                shape,
                bytes,
                file: i,
            });
        }
    }
    if let Some(index) = index {
        for (tensor, file) in &index.weight_map {
            let at = files
                .iter()
                .position(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == file.as_str()));
            if seen.get(tensor).copied() != at {
                return Err(ImportError::unsupported(
                    &index_path,
                    format!("weight_map puts `{tensor}` in {file}, but that shard's header does not hold it"),
                ));
            }
        }
        let unmapped = tensors
            .iter()
            .filter(|t| !index.weight_map.contains_key(&t.name))
            .count();
        if unmapped > 0 {
            notes.push(format!(
                "{unmapped} tensors in the shards are not in weight_map (transformers does not load them)"
            ));
        }
        let data: u64 = tensors.iter().map(|t| t.bytes).sum();
        if let Some(total) = index.total_size {
            if total != data {
                notes.push(format!(
                    "index metadata.total_size {total} differs from the {data} bytes the shard headers describe"
                ));
            }
        }
    }
    Ok(Some((TensorSummary::new(summaries, tensors), notes)))
}

/// `model.safetensors.index.json`: shard files (sorted) and the map.
pub struct Index {
    pub weight_map: HashMap<String, String>,
    pub total_size: Option<u64>,
}

/// Parses an index file; shard names must be plain file names in the same directory.
pub fn read_index(path: &Path) -> Result<(Vec<String>, Index), ImportError> {
    let text = super::read_text(path, MAX_INDEX_BYTES)?;
    parse_index(path, &text)
}

pub fn parse_index(path: &Path, text: &str) -> Result<(Vec<String>, Index), ImportError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ImportError::json(path, &e))?;
    let bad = |field: &str, msg: String| ImportError::field(path, text, field, msg);
    let map = v
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("weight_map", "missing or not an object".into()))?;
    let mut weight_map = HashMap::with_capacity(map.len());
    let mut files = BTreeSet::new();
    for (tensor, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| bad("weight_map", format!("`{tensor}`: the shard must be a file name")))?;
        if file.is_empty() || file.contains(['/', '\\']) || file == ".." || file == "." {
            return Err(bad(
                "weight_map",
                format!("`{tensor}`: shard `{file}` must be a plain file name in the same directory"),
            ));
        }
        files.insert(file.to_string());
        weight_map.insert(tensor.clone(), file.to_string());
    }
    let total_size = match v.get("metadata").and_then(|m| m.get("total_size")) {
        None | Some(Value::Null) => None,
        Some(t) => Some(
            t.as_u64()
                .ok_or_else(|| bad("total_size", format!("expected a byte count, got {t}")))?,
        ),
    };
    Ok((files.into_iter().collect(), Index { weight_map, total_size }))
}
