//! The device backends llama.cpp offloads to, as data: how each one's buffers size a tensor, whether
//! it claims large batches on weights left in host memory (op offload), and whether it lends the
//! CPU pinned host buffers. Sources: ggml/src/ggml-cuda/ggml-cuda.cu and ggml/src/ggml-rpc/ggml-rpc.cpp
//! of the build vendored by llama-cpp-sys-2 0.1.161 (docs/engines/llamacpp.md, "Device backends").

use super::compute::{
    CudaBuffer, HostBuffer, CUDA_ALIGNMENT, HOST_ALIGNMENT, MATRIX_ROW_PADDING, OP_OFFLOAD_MIN_BATCH,
};
use super::gallocr::BufferType;
use super::ggml::Type;
use serde::Serialize;

/// `x` rounded up to a multiple of `to` (`GGML_PAD`).
pub fn pad(x: u64, to: u64) -> u64 {
    x.div_ceil(to).saturating_mul(to)
}

/// How a buffer type sizes a tensor placed in it: its `get_alloc_size`, then the type's alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Alloc {
    /// the CPU's buffers, CUDA's pinned host buffers and an RPC server's CPU buffers: `ggml_nbytes`,
    /// 32-byte aligned (`TENSOR_ALIGNMENT`)
    Host,
    /// a CUDA device buffer: quantized rows padded to [`MATRIX_ROW_PADDING`] elements, 128-byte
    /// aligned (`ggml_backend_cuda_buffer_type_get_alloc_size`, `_get_alignment`)
    Cuda,
}

impl Alloc {
    /// Bytes a tensor that no graph computes (a weight, a K or V cache) of type `ty`, `ne0` elements
    /// per row and `nbytes` takes in this buffer type.
    pub fn tensor_bytes(self, ty: Type, ne0: u64, nbytes: u64) -> u64 {
        match self {
            Alloc::Host => pad(nbytes, HOST_ALIGNMENT),
            Alloc::Cuda => pad(nbytes.saturating_add(cuda_row_padding(ty, ne0)), CUDA_ALIGNMENT),
        }
    }

    /// The buffer type the graph allocator sizes compute buffers with.
    pub fn buffer_type(self) -> &'static dyn BufferType {
        match self {
            Alloc::Host => &HostBuffer,
            Alloc::Cuda => &CudaBuffer,
        }
    }
}

/// Bytes CUDA adds to a quantized tensor whose rows are not a multiple of [`MATRIX_ROW_PADDING`]
/// (`[TAG_ALLOC_SIZE_EXPAND]` in ggml-cuda.cu): one partial row's worth, once per tensor.
pub(super) fn cuda_row_padding(ty: Type, ne0: u64) -> u64 {
    if ty.is_quantized() && ne0 % MATRIX_ROW_PADDING != 0 {
        ty.row_size(MATRIX_ROW_PADDING - ne0 % MATRIX_ROW_PADDING)
    } else {
        0
    }
}

/// The backend of the devices `-ngl` offloads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GpuBackend {
    /// ggml-cuda: what gpuplan plans for
    #[default]
    Cuda,
    /// ggml-rpc to an `rpc-server` that runs the CPU backend (`--rpc HOST:PORT`). The client asks the
    /// server for its buffer type's alignment and, for quantized rows off 512 and ops that may
    /// expand, the allocation size: the CPU backend's, `ggml_nbytes` at 32 bytes. The device has no
    /// host buffer type and no `offload_op` (both NULL in `ggml_backend_rpc_device_i`). It is how a
    /// CPU-only build gets a second device, which the CI's llama.cpp check splits models over.
    RpcCpu,
}

impl GpuBackend {
    /// How the device's buffers size a tensor.
    pub fn alloc(self) -> Alloc {
        match self {
            GpuBackend::Cuda => Alloc::Cuda,
            GpuBackend::RpcCpu => Alloc::Host,
        }
    }

    /// The batch from which the device claims an op on weights in host memory and copies the
    /// weights over (`offload_op`); None: it never does.
    pub fn offload_min_batch(self) -> Option<u64> {
        match self {
            GpuBackend::Cuda => Some(OP_OFFLOAD_MIN_BATCH),
            GpuBackend::RpcCpu => None,
        }
    }

    /// Whether the device lends the CPU pinned host buffers (`CUDA_Host`) for its compute and
    /// output buffers and for host weights read without mmap; without, those are plain `CPU`.
    pub fn pinned_host(self) -> bool {
        self == GpuBackend::Cuda
    }

    /// Whether op offload runs for a prompt ubatch of `ubatch` tokens on `gpus` such devices.
    pub fn offloads_ops(self, ubatch: u64, gpus: usize, no_op_offload: bool) -> bool {
        !no_op_offload && gpus > 0 && self.offload_min_batch().is_some_and(|min| ubatch >= min)
    }

    /// The name of the `index`-th device in llama.cpp's buffer lines. RPC devices print as their
    /// server's device number and endpoint (`RPC0[127.0.0.1:50052]`, each server's first device
    /// being `RPC0`); without the endpoint gpuplan names them `RPC0`, `RPC1`, ... in model order.
    pub fn device_name(self, index: usize) -> String {
        match self {
            GpuBackend::Cuda => format!("CUDA{index}"),
            GpuBackend::RpcCpu => format!("RPC{index}"),
        }
    }

    /// Whether the device has a CUDA context and cuBLAS workspace beside its buffers.
    pub fn has_cuda_context(self) -> bool {
        self == GpuBackend::Cuda
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rpc_cpu_device_sizes_tensors_as_the_cpu_does() {
        // Q4_K rows of 3072 elements: 6 blocks of 256, 144 bytes each; 3072 % 512 == 0, no padding
        let (ty, ne0, nbytes) = (Type::Q4_K, 3072, 864 * 8192);
        assert_eq!(GpuBackend::RpcCpu.alloc().tensor_bytes(ty, ne0, nbytes), 864 * 8192);
        assert_eq!(GpuBackend::Cuda.alloc().tensor_bytes(ty, ne0, nbytes), 864 * 8192);
        // three Q4_K rows of 8448 elements (33 blocks of 144 bytes): 8448 % 512 = 256, so CUDA adds
        // one block (144 bytes) and aligns to 128; the CPU and an RPC server's CPU align to 32
        let nbytes = 3 * 33 * 144;
        assert_eq!(GpuBackend::RpcCpu.alloc().tensor_bytes(ty, 8448, nbytes), 14_272);
        assert_eq!(GpuBackend::Cuda.alloc().tensor_bytes(ty, 8448, nbytes), 14_464);
        assert!(GpuBackend::RpcCpu.offload_min_batch().is_none() && !GpuBackend::RpcCpu.pinned_host());
        assert!(GpuBackend::Cuda.offloads_ops(512, 1, false) && !GpuBackend::Cuda.offloads_ops(31, 1, false));
        assert!(!GpuBackend::RpcCpu.offloads_ops(512, 1, false));
    }
}
