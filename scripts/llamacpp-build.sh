#!/usr/bin/env bash
# Builds tools/llamacpp-probe: the real llama.cpp (the source vendored by the crates.io crate
# llama-cpp-sys-2 0.1.161, pinned in tools/llamacpp-probe/Cargo.lock, with its RPC backend) behind
# a small loader that prints llama.cpp's own buffer accounting as JSON. Kept out of gpuplan's own build: `cargo build`
# and `cargo test` never compile it.
#
#   scripts/llamacpp-build.sh            -> target/llamacpp-probe/release/llamacpp-probe
#   LLAMACPP_PROBE_FEATURES=cuda scripts/llamacpp-build.sh   (CUDA: needs nvcc, see scripts/build-cuda.sh)
#
# Needs cmake, clang and libclang (bindgen); installs the Debian packages when they are missing.
# About 6 minutes on 2 cores from a clean target directory.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v clang >/dev/null 2>&1 || need+=(clang)
# bindgen dlopens libclang.so
if ! ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/*/libclang*.so* >/dev/null 2>&1; then
  need+=(libclang-dev)
fi
if ((${#need[@]})); then
  echo "llamacpp-build: installing ${need[*]}" >&2
  SUDO=
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# the RPC backend too (ggml-rpc): `llamacpp-probe --rpc` serves the CPU backend as a second device
export GGML_RPC=ON
TARGET=${LLAMACPP_PROBE_TARGET:-target/llamacpp-probe}
FEATURES=${LLAMACPP_PROBE_FEATURES:-}
cargo build --release --locked \
  --manifest-path tools/llamacpp-probe/Cargo.toml \
  --target-dir "$TARGET" \
  ${FEATURES:+--features "$FEATURES"} >&2
echo "$TARGET/release/llamacpp-probe"
