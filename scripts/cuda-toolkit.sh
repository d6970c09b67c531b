# Sourced by scripts/build-cuda.sh and scripts/llamacpp-build-cuda.sh: a CUDA 13.0 toolkit from pinned
# pip wheels for a machine with no GPU and no CUDA install (steps 1 and 2 of build-cuda.sh's header).
# Sets N (the toolkit root) and exports PATH, NVCC, CUDA_HOME, CUDA_ROOT, CUDA_PATH.
CUDA_DIR=${GPUPLAN_CUDA_HOME:-$HOME/.cache/gpuplan-cuda13}

WHEELS=(nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
        nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85
        nvidia-cublas==13.0.2.14 nvidia-cuda-nvrtc==13.0.88 nvidia-curand==10.4.0.35)
if [ ! -f "$CUDA_DIR/.installed" ]; then
  python3 -m venv "$CUDA_DIR/venv"
  "$CUDA_DIR/venv/bin/pip" install -q --disable-pip-version-check "${WHEELS[@]}"
  touch "$CUDA_DIR/.installed"
fi
N=$(ls -d "$CUDA_DIR"/venv/lib/python3*/site-packages/nvidia/cu13 | head -n1)
"$N/bin/nvcc" --version | grep -q 'release 13.0' || { echo "nvcc in $N is not 13.0" >&2; exit 1; }
export PATH="$N/bin:$PATH" NVCC="$N/bin/nvcc" CUDA_HOME="$N" CUDA_ROOT="$N" CUDA_PATH="$N"

# the wheels ship versioned sonames only; the linker wants lib<name>.so
for l in cublas cublasLt nvrtc cudart; do ln -sfn "lib$l.so.13" "$N/lib/lib$l.so"; done
ln -sfn libcurand.so.10 "$N/lib/libcurand.so"
if [ ! -f "$N/lib/stubs/libcuda.so" ]; then
  cargo fetch -q
  # every driver entry point cudarc declares becomes an empty stub symbol
  SYS=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-*/src/driver/sys/mod.rs | sort -V | tail -n1)
  mkdir -p "$N/lib/stubs"
  grep -o 'fn cu[A-Za-z0-9_]*(' "$SYS" | sed 's/^fn //; s/($//' | sort -u \
    | awk '{print "void " $1 "(void) {}"}' > "$N/lib/stubs/libcuda_stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$N/lib/stubs/libcuda.so" "$N/lib/stubs/libcuda_stub.c"
fi

