//! GGUF v3 bytes (ggml `docs/gguf.md`): the header, the metadata key/values and the tensor infos;
//! the data region is a hole (`File::set_len`), so a 25 GB model costs a few MB on disk and reads
//! back as zeros.

use std::io::{BufWriter, Write};
use std::path::Path;

/// GGUF's default data alignment (`general.alignment` absent).
pub const ALIGNMENT: u64 = 32;

/// A metadata value, in the GGUF type it is written as.
#[derive(Debug, Clone, PartialEq)]
pub enum Meta {
    U32(u32),
    I32(i32),
    F32(f32),
    Str(String),
    Strs(Vec<String>),
    F32s(Vec<f32>),
    I32s(Vec<i32>),
}

/// A tensor info: `dims` in ggml order, `ggml_type` the enum ggml_type id, `bytes` its data size.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    pub bytes: u64,
}

/// Where the bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// header, metadata, tensor infos and the padding to the data start
    pub header_bytes: u64,
    /// the data region: every tensor, each padded to [`ALIGNMENT`]
    pub data_bytes: u64,
    /// what the padding between tensors adds to the data region
    pub padding_bytes: u64,
    pub file_bytes: u64,
}

/// Data offsets relative to the data start: each tensor starts aligned.
pub fn offsets(tensors: &[TensorInfo]) -> (Vec<u64>, u64) {
    let mut at = 0u64;
    let offs = tensors
        .iter()
        .map(|t| {
            let o = at;
            at = (at + t.bytes).next_multiple_of(ALIGNMENT);
            o
        })
        .collect();
    (offs, at)
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn value(out: &mut Vec<u8>, v: &Meta) {
    // gguf_type: UINT32 4, INT32 5, FLOAT32 6, STRING 8, ARRAY 9
    let array = |out: &mut Vec<u8>, elem: u32, n: usize| {
        out.extend_from_slice(&9u32.to_le_bytes());
        out.extend_from_slice(&elem.to_le_bytes());
        out.extend_from_slice(&(n as u64).to_le_bytes());
    };
    match v {
        Meta::U32(x) => {
            out.extend_from_slice(&4u32.to_le_bytes());
            out.extend_from_slice(&x.to_le_bytes());
        }
        Meta::I32(x) => {
            out.extend_from_slice(&5u32.to_le_bytes());
            out.extend_from_slice(&x.to_le_bytes());
        }
        Meta::F32(x) => {
            out.extend_from_slice(&6u32.to_le_bytes());
            out.extend_from_slice(&x.to_le_bytes());
        }
        Meta::Str(s) => {
            out.extend_from_slice(&8u32.to_le_bytes());
            string(out, s);
        }
        Meta::Strs(list) => {
            array(out, 8, list.len());
            for s in list {
                string(out, s);
            }
        }
        Meta::F32s(list) => {
            array(out, 6, list.len());
            for x in list {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        Meta::I32s(list) => {
            array(out, 5, list.len());
            for x in list {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
}

/// The header bytes up to the aligned data start.
pub fn header(metadata: &[(String, Meta)], tensors: &[TensorInfo]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        string(&mut out, k);
        value(&mut out, v);
    }
    let (offs, _) = offsets(tensors);
    for (t, off) in tensors.iter().zip(offs) {
        string(&mut out, &t.name);
        out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&t.ggml_type.to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
    }
    out.resize((out.len() as u64).next_multiple_of(ALIGNMENT) as usize, 0);
    out
}

/// Writes the file: header, then the data region as a hole.
pub fn write(path: &Path, metadata: &[(String, Meta)], tensors: &[TensorInfo]) -> std::io::Result<Written> {
    let head = header(metadata, tensors);
    let (_, data_bytes) = offsets(tensors);
    let file = std::fs::File::create(path)?;
    let mut w = BufWriter::new(file);
    w.write_all(&head)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    let file_bytes = head.len() as u64 + data_bytes;
    file.set_len(file_bytes)?;
    file.sync_all()?;
    Ok(Written {
        header_bytes: head.len() as u64,
        data_bytes,
        padding_bytes: data_bytes - tensors.iter().map(|t| t.bytes).sum::<u64>(),
        file_bytes,
    })
}
