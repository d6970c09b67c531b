#!/usr/bin/env bash
# gpuplan's GPU validation suite (issue 6), for the lent GPU machine (no cargo, no internet there):
# build target/cuda/gpuplan-cuda here with scripts/build-cuda.sh, carry target/cuda/gpuplan-cuda.xz
# (unpacked here on first use), run this from the repository root. Every run appends its record to ONE file, $OUT/records.json (the device tool
# returns files from $OUT); the log and nvidia-smi's view go next to it.
#
#   bash scripts/gpu-suite.sh              (OUT defaults to ./suite-out)
#
# Runs, cheapest first so a budget cut loses the least: the CUDA context and first-cuBLAS-matmul
# probes; Phi-3.5 Mini bf16 at 4K and 32K, q8_0, q4_k, batch 8 at 4K; Vision bf16 with one image
# (4 HD crops); MoE q4_k and q8_0; MoE bf16 at 512 and 4K, the borderline cases on an 80 GB card
# (an out-of-memory there is recorded as data: "out_of_memory" and the step it happened at).
# Each run has its own timeout so one hang cannot eat the budget; the whole suite is sized to stay
# well under 4 minutes on an H100 (small decode counts).
set -uo pipefail
BIN=${GPUPLAN_BIN:-target/cuda/gpuplan-cuda}
OUT=${OUT:-suite-out}
PER_RUN=${PER_RUN_TIMEOUT:-120}   # generous: the first run may JIT-compile PTX modules
BUDGET=${SUITE_BUDGET:-220}       # seconds for the whole suite: later runs are skipped past it
mkdir -p "$OUT"
REC="$OUT/records.json"
LOG="$OUT/suite.log"
: > "$LOG"
# the binary travels xz-compressed (~8 MB instead of ~60 MB): unpack it next to itself
if [ ! -x "$BIN" ] && [ -f "$BIN.xz" ]; then
  if command -v xz >/dev/null; then
    xz -dkc "$BIN.xz" > "$BIN"
  else
    python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],"wb"))' "$BIN.xz" "$BIN"
  fi
  chmod +x "$BIN"
fi
[ -x "$BIN" ] || { echo "no $BIN: build it with scripts/build-cuda.sh and carry it (or $BIN.xz)" | tee -a "$LOG" >&2; exit 2; }

# CUDA 13 cuBLAS / cuRAND / cudart: the image ships them in its PyTorch environment and/or
# /usr/local/cuda; look in the usual places before searching the whole disk
LIB=$( (ldconfig -p 2>/dev/null | awk '/libcublas\.so\.13/ {print $NF; exit}') )
if [ -z "$LIB" ]; then
  LIB=$(find /usr/local /usr/lib /opt /root /home -name 'libcublas.so.13*' 2>/dev/null | head -n1)
fi
if [ -z "$LIB" ]; then
  LIB=$(find / -name 'libcublas.so.13*' -not -path '/proc/*' 2>/dev/null | head -n1)
fi
if [ -n "$LIB" ]; then
  export LD_LIBRARY_PATH="$(dirname "$LIB")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}" | tee -a "$LOG"
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv 2>&1 | tee "$OUT/nvidia-smi.txt" | tee -a "$LOG"
"$BIN" --version 2>&1 | tee -a "$LOG"

START=$SECONDS
run() {
  local t0=$SECONDS rc left=$((BUDGET - (SECONDS - START)))
  if [ "$left" -le 5 ]; then
    echo "== SKIPPED (suite budget of $BUDGET s spent): validate $*" | tee -a "$LOG"
    return
  fi
  [ "$left" -lt "$PER_RUN" ] || left=$PER_RUN
  echo "== validate $* ($((SECONDS - START)) s into the suite, limit $left s)" | tee -a "$LOG"
  timeout "$left" "$BIN" validate --device cuda:0 --record "$REC" "$@" >>"$LOG" 2>&1
  rc=$?
  # 0 ran (out-of-memory runs included: they are records), 3 device unavailable, 124 timed out
  echo "   exit $rc after $((SECONDS - t0)) s" | tee -a "$LOG"
}

run --probe context
run --probe cublas
run phi-3.5-mini --precision bf16 --context 4096 --decode 16
# the borderline case early, so a budget cut cannot lose it: MoE bf16 weights are 78.0 GiB of the
# ~79.2 GiB an 80 GB H100 lets a program allocate
run phi-3.5-moe --precision bf16 --context 512 --decode 8
run phi-3.5-moe --precision bf16 --context 4096 --decode 8
run phi-3.5-mini --precision q8_0 --context 4096 --decode 16
run phi-3.5-mini --precision q4_k --context 4096 --decode 16
run phi-3.5-mini --precision bf16 --context 4096 --decode 8 --batch 8
run phi-3.5-vision --precision bf16 --context 4096 --decode 8 --images 1
run phi-3.5-moe --precision q4_k --context 4096 --decode 8
run phi-3.5-moe --precision q8_0 --context 4096 --decode 8
run phi-3.5-mini --precision bf16 --context 32768 --decode 8
# on a 141 GB H200 the MoE fits in bf16: a long context too
TOTAL_MIB=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits 2>/dev/null | head -n1)
if [ "${TOTAL_MIB:-0}" -gt 120000 ]; then
  run phi-3.5-moe --precision bf16 --context 16384 --decode 8
fi
echo "suite done in $((SECONDS - START)) s; records in $REC" | tee -a "$LOG"

# what `gpuplan detect` makes of this machine (issue 4's device check)
"$BIN" detect >> "$LOG" 2>&1
"$BIN" detect --format json > "$OUT/detect.json" 2>> "$LOG"

# a second, independent implementation when time is left: transformers on the same shapes
if [ $((SECONDS - START)) -lt $((BUDGET + 40)) ] && python3 -c 'import torch, transformers, yaml' 2>/dev/null; then
  echo "== transformers probe: phi-3.5-mini bf16, 4096 context, 16 decode" | tee -a "$LOG"
  timeout 90 python3 scripts/transformers-probe.py phi-3.5-mini 4096 16 > "$OUT/transformers.json" 2>> "$LOG"
  echo "   exit $? after $((SECONDS - START)) s" | tee -a "$LOG"
fi
