#!/usr/bin/env bash
# Builds the llama.cpp probe with llama.cpp's CUDA backend (GGML_CUDA, sm_90: H100/H200) on a machine
# with no GPU and no CUDA install, to carry to the GPU machine for scripts/gpu-campaign.sh. Run it from
# the repository root:
#
#   bash scripts/llamacpp-build-cuda.sh   -> target/llamacpp-cuda/llamacpp-probe-cuda.tar.xz
#
#  1. the CUDA 13.0 toolkit from pinned pip wheels and a link-time libcuda stub (scripts/cuda-toolkit.sh,
#     shared with scripts/build-cuda.sh);
#  2. the probe with the crate's `cuda` feature, llama.cpp as shared libraries (LLAMA_BUILD_SHARED_LIBS:
#     the crate links CUDA statically otherwise, and the wheels ship no static cuBLAS), for sm_90 only;
#  3. the probe and libllama/libggml* in one tar.xz. On the GPU machine gpu-campaign.sh unpacks it and
#     puts its directory and the CUDA 13 libraries (cuBLAS, cudart) on LD_LIBRARY_PATH.
# Not yet run end to end: no GPU machine was lent when it was written (issue 10); ggml-cuda's kernels
# take long to compile on 2 cores (expect well over the CPU build's 6 minutes).
set -euo pipefail
[ -f Cargo.toml ] || { echo "run from the repository root (no Cargo.toml here)" >&2; exit 2; }
source scripts/cuda-toolkit.sh

export LLAMA_BUILD_SHARED_LIBS=1
export CMAKE_CUDA_ARCHITECTURES=${CMAKE_CUDA_ARCHITECTURES:-90}
export CMAKE_CUDA_COMPILER="$N/bin/nvcc"
export CUDAToolkit_ROOT="$N"
TARGET=target/llamacpp-cuda
PROBE=$(LLAMACPP_PROBE_FEATURES=cuda LLAMACPP_PROBE_TARGET=$TARGET scripts/llamacpp-build.sh)

DIST=$TARGET/dist
rm -rf "$DIST"
mkdir -p "$DIST"
strip -o "$DIST/llamacpp-probe" "$PROBE"
# the shared libraries the build produced (libllama.so, libggml.so, libggml-base.so, libggml-cpu.so,
# libggml-cuda.so), wherever cmake put them under the build directory
find "$TARGET/release" -name 'lib*.so*' \( -name 'libllama*' -o -name 'libggml*' -o -name 'libmtmd*' \) \
  -exec cp -L {} "$DIST/" \;
ls -la "$DIST"
tar -C "$DIST" -cJf "$TARGET/llamacpp-probe-cuda.tar.xz" .
ls -la "$TARGET/llamacpp-probe-cuda.tar.xz"
echo "needs at load time:"; readelf -d "$DIST/llamacpp-probe" | grep NEEDED | sed 's/.*\[/  /; s/\]//'
