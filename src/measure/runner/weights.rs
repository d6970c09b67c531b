//! Where the runner's tensors come from, and how each is stored.
//!
//! A [`Source`] hands out one tensor at a time by its Hugging Face name: [`Synthetic`] makes it on
//! the target device at the exact shape and dtype (values are irrelevant to memory and speed),
//! [`Safetensors`] reads a real checkpoint, [`ShapeWalk`] returns zero-stride broadcast scalars so a
//! full-size model can be built with no memory at all. The [`Loader`] in front of it decides each
//! tensor's storage from the weight format's own rules (`Format::storage_for`, the same rules the
//! estimator counts with), counts what was built and drives the loading progress bar.

use crate::spec::model::ModelSpec;
use crate::spec::precision::{Format, Ggml, GgufModel, QuantTensor, Role, StorageType, TypeRules};
use candle_core::quantized::{GgmlDType, QStorage, QTensor};
use candle_core::{DType, Device, Result, Shape, Tensor};
use indicatif::ProgressBar;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How one tensor is held by the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Dense(DType),
    Quant(GgmlDType),
}

impl Storage {
    /// The runner's storage for the estimator's storage type; `cols` is the row length (GGML types
    /// fall back to a 32-wide block type when rows are not whole K-blocks, as llama.cpp does).
    pub fn from_estimate(s: StorageType, cols: usize) -> Result<Storage> {
        Ok(match s {
            StorageType::F32 => Storage::Dense(DType::F32),
            StorageType::F16 => Storage::Dense(DType::F16),
            StorageType::Bf16 => Storage::Dense(DType::BF16),
            StorageType::Ggml(t) => match t.for_row(cols as u64) {
                Ggml::F32 => Storage::Dense(DType::F32),
                Ggml::F16 => Storage::Dense(DType::F16),
                Ggml::Q8_0 => Storage::Quant(GgmlDType::Q8_0),
                Ggml::Q6_K => Storage::Quant(GgmlDType::Q6K),
                Ggml::Q5_K => Storage::Quant(GgmlDType::Q5K),
                Ggml::Q5_1 => Storage::Quant(GgmlDType::Q5_1),
                Ggml::Q5_0 => Storage::Quant(GgmlDType::Q5_0),
                Ggml::Q4_K => Storage::Quant(GgmlDType::Q4K),
                Ggml::Q4_0 => Storage::Quant(GgmlDType::Q4_0),
                Ggml::Q4_1 => Storage::Quant(GgmlDType::Q4_1),
                Ggml::Q3_K => Storage::Quant(GgmlDType::Q3K),
                Ggml::Q2_K => Storage::Quant(GgmlDType::Q2K),
                Ggml::BF16 => Storage::Dense(DType::BF16),
                other => candle_core::bail!("the candle runner has no {} kernels", other.name()),
            },
            other => candle_core::bail!("the candle runner cannot hold {} tensors", other.label()),
        })
    }
}

/// Bytes of a tensor of `numel` elements in `dtype` (GGML: whole blocks).
pub fn ggml_bytes(dtype: GgmlDType, numel: usize) -> usize {
    numel.div_ceil(dtype.block_size()) * dtype.type_size()
}

/// One tensor at a time, by name.
pub trait Source: Send + Sync {
    fn dense(&self, name: &str, shape: &Shape, dtype: DType, dev: &Device) -> Result<Tensor>;
    /// A `rows x cols` matrix in a GGML block type.
    fn quantized(&self, name: &str, rows: usize, cols: usize, dtype: GgmlDType, dev: &Device) -> Result<QTensor>;
    /// What the values are, for records: "synthetic", "safetensors: DIR".
    fn describe(&self) -> String;
}

/// Tensors the loader built, by the runner's own count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    pub tensors: u64,
    pub params: u64,
    pub bytes: u64,
}

/// A tensor's name and shape, as the model asked for it.
pub type Requested = (String, Vec<usize>);

/// The source, the weight format and the device, plus counters. Shared by every [`Vb`].
pub struct Loader {
    /// None once released: a mapped checkpoint would otherwise stay resident (RSS) after loading
    source: Mutex<Option<Box<dyn Source>>>,
    description: String,
    pub format: &'static Format,
    pub device: Device,
    /// what GGUF type rules need to know about the whole model (fused qkv, experts, ...)
    pub gguf: GgufModel,
    tensors: AtomicU64,
    params: AtomicU64,
    bytes: AtomicU64,
    progress: Mutex<Option<ProgressBar>>,
    /// every (name, shape) requested, in order, when asked to record them (the shape walk)
    log: Option<Mutex<Vec<Requested>>>,
}

impl Loader {
    /// `model` decides the GGUF type rules (`GgufModel::from_architecture`), as in the estimator.
    pub fn new(source: Box<dyn Source>, format: &'static Format, device: Device, model: &ModelSpec) -> Self {
        let gguf = model
            .architecture
            .as_ref()
            .map(GgufModel::from_architecture)
            .unwrap_or_default();
        Loader {
            description: source.describe(),
            source: Mutex::new(Some(source)),
            format,
            device,
            gguf,
            tensors: AtomicU64::new(0),
            params: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            progress: Mutex::new(None),
            log: None,
        }
    }

    /// Keeps the name and shape of every tensor requested.
    pub fn recording(mut self) -> Self {
        self.log = Some(Mutex::new(Vec::new()));
        self
    }

    pub fn with_progress(self, bar: Option<ProgressBar>) -> Self {
        if let Ok(mut p) = self.progress.lock() {
            *p = bar;
        }
        self
    }

    pub fn finish_progress(&self) {
        if let Ok(mut p) = self.progress.lock() {
            if let Some(bar) = p.take() {
                bar.finish_and_clear();
            }
        }
    }

    pub fn counted(&self) -> Counted {
        Counted {
            tensors: self.tensors.load(Ordering::Relaxed),
            params: self.params.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    pub fn log(&self) -> Vec<Requested> {
        self.log
            .as_ref()
            .and_then(|l| l.lock().ok().map(|v| v.clone()))
            .unwrap_or_default()
    }

    pub fn describe(&self) -> String {
        self.description.clone()
    }

    /// Drops the source (unmaps a checkpoint) once the model is built.
    pub fn release_source(&self) {
        if let Ok(mut s) = self.source.lock() {
            s.take();
        }
    }

    fn with_source<T>(&self, f: impl FnOnce(&dyn Source) -> Result<T>) -> Result<T> {
        let guard = self
            .source
            .lock()
            .map_err(|_| candle_core::Error::Msg("weight source lock poisoned".into()))?;
        match guard.as_deref() {
            Some(s) => f(s),
            None => candle_core::bail!("the weight source was released after loading"),
        }
    }

    fn count(&self, name: &str, shape: &[usize], bytes: usize) {
        let numel: usize = shape.iter().product();
        self.tensors.fetch_add(1, Ordering::Relaxed);
        self.params.fetch_add(numel as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        if let Some(log) = &self.log {
            if let Ok(mut l) = log.lock() {
                l.push((name.to_string(), shape.to_vec()));
            }
        }
        if let Ok(p) = self.progress.lock() {
            if let Some(bar) = p.as_ref() {
                bar.inc(bytes as u64);
            }
        }
    }

    /// The storage the format gives a tensor of `role` whose rows are `cols` long.
    pub fn storage(&self, role: Role, cols: usize) -> Result<Storage> {
        let tensor = QuantTensor {
            role,
            layer: None,
            rows: 0,
            cols: cols as u64,
        };
        let rules = TypeRules {
            model: &self.gguf,
            checkpoint: None,
        };
        Storage::from_estimate(self.format.storage_for(&tensor, &rules), cols)
    }

    fn dense(&self, name: &str, shape: Shape, dtype: DType) -> Result<Tensor> {
        let t = self
            .with_source(|s| s.dense(name, &shape, dtype, &self.device))
            .map_err(|e| named(name, e))?;
        if t.dims() != shape.dims() {
            candle_core::bail!(
                "tensor `{name}` has shape {:?}, the model needs {:?}",
                t.dims(),
                shape.dims()
            );
        }
        self.count(name, shape.dims(), shape.elem_count() * dtype.size_in_bytes());
        Ok(t)
    }

    fn quantized(&self, name: &str, rows: usize, cols: usize, dtype: GgmlDType) -> Result<QTensor> {
        let q = self
            .with_source(|s| s.quantized(name, rows, cols, dtype, &self.device))
            .map_err(|e| named(name, e))?;
        self.count(name, &[rows, cols], ggml_bytes(dtype, rows * cols));
        Ok(q)
    }
}

/// Names the tensor a load failed on (an out-of-memory error then says how far loading got).
fn named(name: &str, e: candle_core::Error) -> candle_core::Error {
    let m = e.to_string();
    if m.contains(name) {
        e
    } else {
        candle_core::Error::Msg(format!("`{name}`: {m}"))
    }
}

/// A path into the model's tensor names (like candle-nn's VarBuilder), over a shared [`Loader`].
#[derive(Clone)]
pub struct Vb {
    pub loader: Arc<Loader>,
    prefix: String,
}

impl Vb {
    pub fn new(loader: Arc<Loader>) -> Self {
        Vb {
            loader,
            prefix: String::new(),
        }
    }

    pub fn pp(&self, s: impl ToString) -> Vb {
        let s = s.to_string();
        let prefix = if self.prefix.is_empty() {
            s
        } else {
            format!("{}.{s}", self.prefix)
        };
        Vb {
            loader: self.loader.clone(),
            prefix,
        }
    }

    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub fn device(&self) -> &Device {
        &self.loader.device
    }

    /// A dense tensor stored as the format keeps tensors of `role` (errors if the format
    /// quantizes that role: those go through [`Vb::matrix`]).
    pub fn tensor(&self, shape: impl Into<Shape>, name: &str, role: Role) -> Result<Tensor> {
        let shape = shape.into();
        let cols = shape.dims().last().copied().unwrap_or(1);
        match self.loader.storage(role, cols)? {
            Storage::Dense(dtype) => self.loader.dense(&self.path(name), shape, dtype),
            Storage::Quant(q) => {
                candle_core::bail!("`{}` would be {q:?}: not a dense tensor", self.path(name))
            }
        }
    }

    /// A dense tensor in an explicit dtype.
    pub fn tensor_dtype(&self, shape: impl Into<Shape>, name: &str, dtype: DType) -> Result<Tensor> {
        self.loader.dense(&self.path(name), shape.into(), dtype)
    }

    /// A `rows x cols` matrix (rows = output features) in the format's storage for `role`.
    pub fn matrix(&self, rows: usize, cols: usize, name: &str, role: Role) -> Result<Matrix> {
        let path = self.path(name);
        Ok(match self.loader.storage(role, cols)? {
            Storage::Dense(dtype) => Matrix::Dense(self.loader.dense(&path, (rows, cols).into(), dtype)?),
            Storage::Quant(q) => Matrix::Quant(Arc::new(self.loader.quantized(&path, rows, cols, q)?)),
        })
    }

    /// A candle-nn VarBuilder over the same loader, for model code from candle-transformers
    /// (dense formats only).
    pub fn var_builder(&self, dtype: DType) -> candle_nn::VarBuilder<'static> {
        let backend: Box<dyn candle_nn::var_builder::SimpleBackend> = Box::new(VbBackend(self.loader.clone()));
        let vb = candle_nn::VarBuilder::from_backend(backend, dtype, self.loader.device.clone());
        // an empty segment would make every name start with "."
        if self.prefix.is_empty() {
            vb
        } else {
            vb.pp(&self.prefix)
        }
    }
}

/// A weight matrix as the runner holds it.
#[derive(Clone)]
pub enum Matrix {
    Dense(Tensor),
    Quant(Arc<QTensor>),
}

struct VbBackend(Arc<Loader>);

impl candle_nn::var_builder::SimpleBackend for VbBackend {
    fn get(&self, s: Shape, name: &str, _: candle_nn::Init, dtype: DType, _: &Device) -> Result<Tensor> {
        self.0.dense(name, s, dtype)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> Result<Tensor> {
        candle_core::bail!("`{name}`: the runner needs every tensor's shape")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

// ---------------------------------------------------------------------------------------------
// synthetic weights

/// Synthetic weights made directly on the target device, one tensor at a time: no host copy of
/// the model ever exists. Matrices hold 1/cols (activations stay finite through the layers), norms
/// 1, biases 0, the token embedding table and MoE routers random values (so tokens differ and the
/// router spreads them over experts). Every value is written, so CPU pages are really resident
/// (`Tensor::zeros` may be a lazily mapped calloc that RSS would not see).
pub struct Synthetic;

impl Synthetic {
    fn is_random(name: &str) -> bool {
        name.ends_with("embed_tokens.weight") || name.contains("block_sparse_moe.gate")
    }
}

impl Source for Synthetic {
    fn dense(&self, name: &str, shape: &Shape, dtype: DType, dev: &Device) -> Result<Tensor> {
        let dims = shape.dims();
        if Synthetic::is_random(name) {
            return random_rows(shape, dtype, dev);
        }
        let value = if name.ends_with(".bias") {
            0.0
        } else if dims.len() >= 2 {
            // fan-in: the last dims of a matrix or a conv kernel
            1.0 / dims[1..].iter().product::<usize>().max(1) as f64
        } else if name.contains("norm") {
            1.0
        } else {
            0.01
        };
        filled(value, shape, dtype, dev)
    }

    fn quantized(&self, name: &str, rows: usize, cols: usize, dtype: GgmlDType, dev: &Device) -> Result<QTensor> {
        let data = synthetic_blocks(dtype, rows, cols, name.ends_with("embed_tokens.weight"))?;
        let storage = QStorage::from_data(Cow::Borrowed(bytes_of(&data)), dev, dtype)?;
        QTensor::new(storage, (rows, cols))
    }

    fn describe(&self) -> String {
        "synthetic".into()
    }
}

/// A tensor filled with `value`, written on the device (alloc + const_set: no host buffer).
fn filled(value: f64, shape: &Shape, dtype: DType, dev: &Device) -> Result<Tensor> {
    use half::{bf16, f16};
    match dtype {
        DType::BF16 => Tensor::full(bf16::from_f64(value), shape.clone(), dev),
        DType::F16 => Tensor::full(f16::from_f64(value), shape.clone(), dev),
        DType::F32 => Tensor::full(value as f32, shape.clone(), dev),
        DType::F64 => Tensor::full(value, shape.clone(), dev),
        other => candle_core::bail!("no synthetic {other:?} tensors"),
    }
}

/// Random N(0, 1) rows, generated in f32 a slab at a time and written into the final tensor, so the
/// f32 transient stays small (curand makes f32 only).
fn random_rows(shape: &Shape, dtype: DType, dev: &Device) -> Result<Tensor> {
    let dims = shape.dims();
    if dims.len() != 2 {
        return Tensor::randn(0f32, 1f32, shape.clone(), dev)?.to_dtype(dtype);
    }
    let (rows, cols) = (dims[0], dims[1]);
    let out = filled(0.0, shape, dtype, dev)?;
    let slab = (16 << 20) / (4 * cols.max(1)); // ~16 MiB of f32 per step
    let slab = slab.max(1);
    let mut start = 0;
    while start < rows {
        let n = slab.min(rows - start);
        let part = Tensor::randn(0f32, 1f32, (n, cols), dev)?.to_dtype(dtype)?;
        out.slice_set(&part, 0, start)?;
        start += n;
    }
    Ok(out)
}

/// Valid GGML blocks for a `rows x cols` matrix: small finite f16 scales, quant values varied per
/// block and row (a handful of templates), so dequantized weights are finite and rows differ.
/// Built per tensor (the largest is one embedding table, tens of MB), never for the whole model.
/// `random` varies every row (the embedding table) instead of cycling templates.
pub fn synthetic_blocks(dtype: GgmlDType, rows: usize, cols: usize, random: bool) -> Result<Vec<u16>> {
    let (block_bytes, per_block) = (dtype.type_size(), dtype.block_size());
    if cols % per_block != 0 {
        candle_core::bail!("{cols} columns are not whole {dtype:?} blocks of {per_block}");
    }
    if block_bytes % 2 != 0 {
        candle_core::bail!("{dtype:?} blocks are {block_bytes} bytes: not supported for synthetic weights");
    }
    const TEMPLATES: usize = 8;
    let templates: Vec<Vec<u8>> = (0..TEMPLATES)
        .map(|t| block_template(dtype, t))
        .collect::<Result<_>>()?;
    let blocks_per_row = cols / per_block;
    let total = rows * blocks_per_row * block_bytes;
    // u16 storage: GGML blocks start with (or hold) f16 fields, which need 2-byte alignment
    let mut data = vec![0u16; total / 2];
    let bytes = bytes_of_mut(&mut data);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for r in 0..rows {
        for b in 0..blocks_per_row {
            let t = if random {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % TEMPLATES as u64) as usize
            } else {
                (r + b) % TEMPLATES
            };
            let at = (r * blocks_per_row + b) * block_bytes;
            bytes[at..at + block_bytes].copy_from_slice(&templates[t]);
        }
    }
    Ok(data)
}

/// f16 bits of 1/1024 (2^-10: exponent field 5, mantissa 0): a small, exact, normal scale.
const F16_SCALE: [u8; 2] = 0x1400u16.to_le_bytes();

/// One block of `dtype` with quant pattern `t`. Layouts from ggml-common.h (little-endian).
fn block_template(dtype: GgmlDType, t: usize) -> Result<Vec<u8>> {
    let mut b = vec![0u8; dtype.type_size()];
    let pattern = |i: usize| ((i * 37 + t * 11 + 5) % 256) as u8;
    match dtype {
        // d: f16, qs: [i8; 32]
        GgmlDType::Q8_0 => {
            b[..2].copy_from_slice(&F16_SCALE);
            for (i, q) in b[2..].iter_mut().enumerate() {
                *q = pattern(i) % 64; // 0..63 as i8: positive, varied
            }
        }
        // d, dmin: f16; scales: [u8; 12] (6-bit scales and mins); qs: [u8; 128] nibbles
        GgmlDType::Q4K | GgmlDType::Q5K => {
            b[..2].copy_from_slice(&F16_SCALE);
            // dmin = 0: no offsets
            for s in &mut b[4..16] {
                *s = 1;
            }
            for (i, q) in b[16..].iter_mut().enumerate() {
                *q = pattern(i);
            }
        }
        // d: f16, qh: [u8; 4], qs: [u8; 16]
        GgmlDType::Q5_0 | GgmlDType::Q4_0 => {
            b[..2].copy_from_slice(&F16_SCALE);
            for (i, q) in b[2..].iter_mut().enumerate() {
                *q = pattern(i);
            }
        }
        // ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16 at the end
        GgmlDType::Q6K => {
            let n = b.len();
            for (i, q) in b[..n - 2].iter_mut().enumerate() {
                *q = if i >= 192 { 1 } else { pattern(i) };
            }
            b[n - 2..].copy_from_slice(&F16_SCALE);
        }
        other => candle_core::bail!("no synthetic {other:?} blocks"),
    }
    Ok(b)
}

fn bytes_of(v: &[u16]) -> &[u8] {
    // SAFETY: u16 has no padding and u8 has alignment 1; the length covers the same memory
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

fn bytes_of_mut(v: &mut [u16]) -> &mut [u8] {
    // SAFETY: as above; the borrow is unique
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, std::mem::size_of_val(v)) }
}

// ---------------------------------------------------------------------------------------------
// zero-memory shape walk

/// Broadcast scalars: every tensor is one element viewed at the requested shape (stride 0), so a
/// full-size model is built in no memory. Only construction works on them; the walk never runs.
pub struct ShapeWalk;

impl Source for ShapeWalk {
    fn dense(&self, _: &str, shape: &Shape, dtype: DType, dev: &Device) -> Result<Tensor> {
        Tensor::zeros((), dtype, dev)?.broadcast_as(shape.clone())
    }

    fn quantized(&self, name: &str, _: usize, _: usize, _: GgmlDType, _: &Device) -> Result<QTensor> {
        candle_core::bail!("the shape walk builds dense formats only (asked for quantized `{name}`)")
    }

    fn describe(&self) -> String {
        "shape walk (broadcast scalars)".into()
    }
}

// ---------------------------------------------------------------------------------------------
// real checkpoints

/// A Hugging Face checkpoint directory: every `*.safetensors` file in it (sharded or not),
/// memory-mapped. Tensors are converted to the runner's dtype on the host, one at a time, then
/// moved to the device; quantized formats quantize each matrix on the host.
pub struct Safetensors {
    dir: PathBuf,
    files: usize,
    st: candle_core::safetensors::MmapedSafetensors,
}

impl Safetensors {
    pub fn open(dir: &Path) -> anyhow::Result<Safetensors> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("--weights {}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        files.sort();
        if files.is_empty() {
            anyhow::bail!("--weights {}: no *.safetensors files in this directory", dir.display());
        }
        // SAFETY: the files are mapped read-only; gpuplan does not modify them while loading, and
        // another process truncating them is outside what a loader can guard against
        let st = unsafe { candle_core::safetensors::MmapedSafetensors::multi(&files) }
            .map_err(|e| anyhow::anyhow!("--weights {}: {e}", dir.display()))?;
        Ok(Safetensors {
            dir: dir.to_path_buf(),
            files: files.len(),
            st,
        })
    }

    fn load(&self, name: &str) -> Result<Tensor> {
        self.st.load(name, &Device::Cpu).map_err(|e| {
            candle_core::Error::Msg(format!(
                "tensor `{name}` in {} ({} file(s)): {e}",
                self.dir.display(),
                self.files
            ))
        })
    }
}

impl Source for Safetensors {
    fn dense(&self, name: &str, shape: &Shape, dtype: DType, dev: &Device) -> Result<Tensor> {
        let t = self.load(name)?;
        if t.elem_count() != shape.elem_count() {
            candle_core::bail!(
                "tensor `{name}` in {} has shape {:?}, the model needs {:?}",
                self.dir.display(),
                t.dims(),
                shape.dims()
            );
        }
        // Phi-3-V stores glb_GN as [1, 1, C] and sub_GN as [1, 1, 1, C]: same elements, any view
        t.reshape(shape.clone())?.to_dtype(dtype)?.to_device(dev)
    }

    fn quantized(&self, name: &str, rows: usize, cols: usize, dtype: GgmlDType, dev: &Device) -> Result<QTensor> {
        let t = self.load(name)?;
        if t.dims() != [rows, cols] {
            candle_core::bail!(
                "tensor `{name}` in {} has shape {:?}, the model needs [{rows}, {cols}]",
                self.dir.display(),
                t.dims()
            );
        }
        let t = t.to_dtype(DType::F32)?;
        if dev.is_cpu() {
            QTensor::quantize(&t, dtype)
        } else {
            QTensor::quantize_onto(&t, dtype, dev)
        }
    }

    fn describe(&self) -> String {
        format!("safetensors: {}", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_blocks_dequantize_to_small_finite_values() {
        for dtype in [GgmlDType::Q8_0, GgmlDType::Q4K, GgmlDType::Q5_0, GgmlDType::Q6K] {
            let (rows, cols) = (3, 512);
            let data = synthetic_blocks(dtype, rows, cols, false).unwrap();
            assert_eq!(data.len() * 2, ggml_bytes(dtype, rows * cols));
            let storage = QStorage::from_data(Cow::Borrowed(bytes_of(&data)), &Device::Cpu, dtype).unwrap();
            let q = QTensor::new(storage, (rows, cols)).unwrap();
            let v: Vec<f32> = q
                .dequantize(&Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert!(v.iter().all(|x| x.is_finite() && x.abs() < 1.0), "{dtype:?}");
            assert!(v.iter().any(|x| *x != 0.0), "{dtype:?} is not all zeros");
        }
    }

    #[test]
    fn f16_scale_is_one_over_1024() {
        assert_eq!(half::f16::from_le_bytes(F16_SCALE).to_f64(), 1.0 / 1024.0);
    }
}
