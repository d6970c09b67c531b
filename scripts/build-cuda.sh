#!/usr/bin/env bash
# Builds gpuplan's CUDA binary (candle 0.11 `cuda` feature) on a machine with NO GPU and NO CUDA
# install, for an H100/H200 (sm_90) whose driver supports CUDA 13.0. Run it from the repository root:
#
#   bash scripts/build-cuda.sh            -> target/cuda/gpuplan-cuda (stripped)
#
# What it does (idempotent; a re-run with nothing changed takes seconds):
#  1. installs nvcc 13.0 from pip wheels into $GPUPLAN_CUDA_HOME (default ~/.cache/gpuplan-cuda13).
#     Every wheel is pinned: nvcc alone would pull crt/nvvm/runtime 13.5, whose PTX a 13.0 driver
#     cannot JIT. cccl supplies <nv/target> for cuda_fp16.h / cuda_bf16.h; cublas/nvrtc/curand are
#     there for linking only.
#  2. makes a link-time-only stub libcuda.so (no wheel ships the driver library). It is never shipped
#     or loaded: on the GPU machine the driver's real libcuda.so.1 is used.
#  3. cargo build --release --features cuda into target/cuda (the CPU build in target/ stays warm).
#     First build ~16-19 min on 2 cores (candle-kernels' sm_90a kernels take ~13 min), then minutes.
#  4. strips the binary to target/cuda/gpuplan-cuda (~60 MB: 33 MB of it candle's sm_90a kernels) and
#     lists the libraries it loads; also writes target/cuda/gpuplan-cuda.xz (~8 MB), the file to carry
#     to the GPU machine (the device tool carries at most 64 MiB with the working tree).
#
# On the GPU machine: scripts/gpu-suite.sh sets LD_LIBRARY_PATH to the CUDA 13 libraries (cuBLAS,
# cuRAND, cudart) and runs the suite; carry target/cuda/gpuplan-cuda (target/ is git-ignored).
set -euo pipefail
BIN=gpuplan
FEATURES=cuda
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}   # sm_90a: H100/H200 only
[ -f Cargo.toml ] || { echo "run from the repository root (no Cargo.toml here)" >&2; exit 2; }
# nvcc 13.0 from pinned pip wheels, the link-time libcuda stub: $N is the toolkit root
source scripts/cuda-toolkit.sh

cargo build --release --features "$FEATURES" --bin "$BIN" --target-dir target/cuda
strip -o "target/cuda/$BIN-cuda" "target/cuda/release/$BIN"
ls -la "target/cuda/$BIN-cuda"
if command -v xz >/dev/null; then
  xz -6 -T0 -kf "target/cuda/$BIN-cuda" && ls -la "target/cuda/$BIN-cuda.xz"
else
  python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(open(sys.argv[1],"rb"), lzma.open(sys.argv[1]+".xz","wb"))' "target/cuda/$BIN-cuda"
  ls -la "target/cuda/$BIN-cuda.xz"
fi
echo "needs at load time:"; readelf -d "target/cuda/$BIN-cuda" | grep NEEDED | sed 's/.*\[/  /; s/\]//'
