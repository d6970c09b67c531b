#!/usr/bin/env bash
# The llama.cpp check (issue 10): build the real llama.cpp (scripts/llamacpp-build.sh), load
# synthetic full-size GGUF files (`gpuplan synth`: exact shapes and tensor types, data a hole of
# zeros) of Phi-3.5 Mini (Q4_K_M, Q8_0, F16), Phi-3.5 MoE (Q4_K_M), Llama 3.2 3B, Qwen3 8B and
# Qwen3-30B-A3B (Q4_K_M) with contexts of 4K and 32K, ubatch 512 and 2048, flash attention on and
# off, 1 and 4 slots, and hold
# llama.cpp's own buffer lines against gpuplan's prediction of them (`gpuplan records --check`):
# model, KV and output buffers equal to the printed 0.01 MiB, compute buffers within 5%. A failure
# names the record, the term and both numbers.
#
#   scripts/llamacpp-check.sh          records go to a temporary directory, then the comparison
#   scripts/llamacpp-check.sh --save   and they replace validation/records/llamacpp-cpu-*.json
#   LLAMACPP_CHECK_REGISTERED=validation/predictions/<campaign>.json   records copy their registered
#                                      prediction (register first: scripts/register-predictions.sh)
#
# Resources: the GGUF files are sparse (no disk); llama.cpp maps them (page cache of zeros while a
# model is loaded, up to the MoE's 23.6 GiB; clean pages the kernel reclaims). Anonymous memory:
# the KV buffer llama.cpp clears at creation, 3.4 GiB at most here (the 32K contexts use quantized
# caches or the 3B model for that reason). Weight repacking is off (--no-repack): with it, the CPU
# backend copies Q4_K weights into memory instead of mapping them. About 6 minutes to build
# llama.cpp on 2 cores, then 2-3 minutes of runs.
#
# Splits (issue 12): a CPU-only build has one device, so the probe serves its own CPU backend over
# llama.cpp's RPC backend on localhost (`--rpc`, what `rpc-server` does) and offloads to that device:
# `-ngl` and `--n-cpu-moe` then split the model between two devices as between a GPU and the CPU,
# and every buffer is held per device (each RPC device's, the CPU's). Two RPC devices split the
# layers as two GPUs do, with pipeline parallelism where llama.cpp turns it on. What is GPU-specific
# (CUDA's row padding, pinned host buffers, op offload) the published CUDA logs check
# (validation/field/). The RPC servers hold what is offloaded in anonymous memory: at most 2.9 GiB.
set -euo pipefail
cd "$(dirname "$0")/.."
SAVE=0
REGISTER=
case "${1:-}" in
  --save) SAVE=1 ;;
  # register the predictions for these runs before running them (committed, clean tree)
  --register) REGISTER=${2:?--register FILE} ;;
  "") ;;
  *) echo "usage: $0 [--save | --register validation/predictions/<date>-cpu.json]" >&2; exit 2 ;;
esac

if [ -n "$REGISTER" ]; then
  if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "llamacpp-check: commit first: a registered prediction names the commit that made it" >&2
    exit 1
  fi
  cargo build --quiet
  BIN=${CARGO_TARGET_DIR:-target}/debug/gpuplan
  COMMIT=$(git rev-parse HEAD)
fi
T0=$SECONDS
[ -n "$REGISTER" ] || PROBE=$(scripts/llamacpp-build.sh)
BUILD_S=$((SECONDS - T0))
cargo build --quiet
BIN=${CARGO_TARGET_DIR:-target}/debug/gpuplan
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
REC=$WORK/records

T1=$SECONDS
run() {
  if [ -n "$REGISTER" ]; then
    "$BIN" predict --campaign "$REGISTER" --commit "$COMMIT" --engine llama.cpp --no-repack --format json "$@" > /dev/null
    return
  fi
  "$BIN" validate --engine llama.cpp --probe-bin "$PROBE" --no-repack --work-dir "$WORK" --record "$REC" \
    ${LLAMACPP_CHECK_REGISTERED:+--registered "$LLAMACPP_CHECK_REGISTERED"} --format json "$@" > /dev/null
}
run phi-3.5-mini -p q4_k_m \
  --setting ctx=4096,fa=on \
  --setting ctx=4096,ubatch=2048,fa=off \
  --setting ctx=4096,fa=off,parallel=4 \
  --setting ctx=32768,fa=on,parallel=4,ctk=q4_0,ctv=q4_0
run phi-3.5-mini -p q8_0 \
  --setting ctx=4096,fa=on \
  --setting ctx=4096,fa=off,parallel=4
run phi-3.5-mini -p fp16 \
  --setting ctx=4096,fa=off \
  --setting ctx=4096,ubatch=2048,fa=on
run phi-3.5-moe -p q4_k_m \
  --setting ctx=4096,fa=on \
  --setting ctx=4096,ubatch=2048,fa=off,parallel=4 \
  --setting ctx=32768,fa=on,ctk=q8_0,ctv=q8_0
run llama-3.2-3b -p q4_k_m \
  --setting ctx=4096,fa=on \
  --setting ctx=4096,ubatch=2048,fa=off,parallel=4 \
  --setting ctx=32768,fa=off,ctk=q8_0 \
  --setting ctx=32768,ubatch=2048,fa=on,parallel=4,ctk=q8_0,ctv=q8_0
# 2025 models: Qwen3 (q/k norms) and Qwen3's MoE (128 experts of 768, 8 a token)
run qwen3-8b -p q4_k_m \
  --setting ctx=4096,fa=on
run qwen3-30b-a3b -p q4_k_m \
  --setting ctx=4096,fa=on
# splits between an RPC device on this CPU and the CPU
run llama-3.2-3b -p q4_k_m --rpc --n-gpu-layers 14 \
  --setting ctx=4096,fa=on \
  --setting ctx=4096,ubatch=2048,fa=off,parallel=4
run llama-3.2-3b -p q4_k_m --rpc --n-gpu-layers 1 \
  --setting ctx=4096,fa=off
run llama-3.2-3b -p q4_k_m --rpc --n-gpu-layers 99 \
  --setting ctx=32768,ubatch=2048,fa=on,parallel=4,ctk=q8_0,ctv=q8_0
run phi-3.5-mini -p q4_k_m --rpc --n-gpu-layers 20 \
  --setting ctx=4096,ubatch=2048,fa=off,parallel=4 \
  --setting ctx=16384,fa=on,ctk=q4_0,ctv=q4_0
run phi-3.5-moe -p q4_k_m --rpc --n-gpu-layers 99 --n-cpu-moe 30 \
  --setting ctx=4096,fa=on \
  --setting ctx=4096,ubatch=2048,fa=off,parallel=4
run phi-3.5-moe -p q4_k_m --rpc --n-gpu-layers 8 --n-cpu-moe 28 \
  --setting ctx=4096,fa=off
run qwen3-8b -p q4_k_m --rpc --n-gpu-layers 20 \
  --setting ctx=4096,ubatch=2048,fa=off,parallel=4
run qwen3-30b-a3b -p q4_k_m --rpc --n-gpu-layers 99 --n-cpu-moe 46 \
  --setting ctx=4096,fa=on \
  --setting ctx=8192,ubatch=2048,fa=off,parallel=4
# dense feed-forward matrices of the first blocks on the CPU, attention on the device
run llama-3.2-3b -p q4_k_m --rpc --n-gpu-layers 99 --n-cpu-ffn 14 \
  --setting ctx=4096,fa=on \
  --setting ctx=4096,ubatch=2048,fa=off,parallel=4
# two RPC devices: the layers split between them by their (equal) free memory; with every layer on
# them and no override llama.cpp turns pipeline parallelism on (four copies of every input)
run llama-3.2-3b -p q4_k_m --rpc 2 --n-gpu-layers 99 \
  --setting ctx=4096,fa=on \
  --setting ctx=4096,ubatch=2048,fa=off,parallel=4
run llama-3.2-3b -p q4_k_m --rpc 2 --n-gpu-layers 20 \
  --setting ctx=4096,fa=on
run phi-3.5-moe -p q4_k_m --rpc 2 --n-gpu-layers 99 --n-cpu-moe 30 \
  --setting ctx=4096,fa=on
run qwen3-30b-a3b -p q4_k_m --rpc 2 --n-gpu-layers 99 --n-cpu-moe 44 \
  --setting ctx=4096,fa=on
run qwen3-8b -p q4_k_m --rpc 2 --n-gpu-layers 99 --n-cpu-ffn 8 \
  --setting ctx=4096,fa=on
RUNS_S=$((SECONDS - T1))
if [ -n "$REGISTER" ]; then
  echo "llamacpp-check: registered the runs' predictions in $REGISTER (commit $COMMIT); commit it, then run"
  echo "  LLAMACPP_CHECK_REGISTERED=$REGISTER $0 --save"
  exit 0
fi

"$BIN" records "$REC" --check ${LLAMACPP_CHECK_ALLOW_UNPREDICTED:+--allow-unpredicted}
echo "llamacpp-check: build ${BUILD_S} s, runs ${RUNS_S} s ($(ls "$REC" | wc -l) records)"
if [ "$SAVE" = 1 ]; then
  rm -f validation/records/llamacpp-cpu-*.json
  cp "$REC"/llamacpp-cpu-*.json validation/records/
  echo "llamacpp-check: saved $(ls validation/records/llamacpp-cpu-*.json | wc -l) records in validation/records/"
fi
