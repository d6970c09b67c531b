#!/usr/bin/env bash
# Issue 10's GPU campaign, registered before it runs. Two modes over ONE list of runs (RUNS below):
#
#   scripts/gpu-campaign.sh register GPU     on the development machine, committed tree: `gpuplan
#       predict` writes every run with gpuplan's prediction and `git rev-parse HEAD` to
#       validation/predictions/<date>-<GPU>.json (GPU a catalog id: h200, h100-sxm); commit that file
#       before the campaign runs.
#   bash scripts/gpu-campaign.sh run FILE    on the lent GPU machine (no cargo, no internet), FILE the
#       registered predictions of that GPU: every run, each record naming the prediction it answers,
#       into $OUT/records/ (OUT defaults to ./campaign-out; the device tool returns $OUT).
#
# What runs (out of sample: no constant was fitted on any of them):
#  - candle, configurations no constant was fitted to: Phi-3.5 Mini bf16 at 8K and 16K with 4 and 16
#    sequences, MoE q4_k at 32K, Vision with 2 images;
#  - the real llama.cpp on the GPU (every layer offloaded, llama-server's defaults otherwise): Phi-3.5
#    Mini Q4_K_M, Q8_0 and F16 at 4K and 32K, MoE Q4_K_M at 4K; its buffer lines, NVML's peak, and
#    llama-bench's pp512 and tg128 against gpuplan's llama.cpp throughput.
#
# Carry (run mode): target/cuda/gpuplan-cuda(.xz) from scripts/build-cuda.sh and
# target/llamacpp-cuda/llamacpp-probe-cuda.tar.xz from scripts/llamacpp-build-cuda.sh. Each run has its
# own time limit and the campaign a budget, so one hang cannot spend the device time.
set -uo pipefail
MODE=${1:-}
RUNS=(
  "candle|phi-3.5-mini --precision bf16 --context 8192 --batch 4 --decode 8"
  "candle|phi-3.5-mini --precision bf16 --context 8192 --batch 16 --decode 8"
  "candle|phi-3.5-mini --precision bf16 --context 16384 --batch 4 --decode 8"
  "candle|phi-3.5-mini --precision bf16 --context 16384 --batch 16 --decode 8"
  "candle|phi-3.5-moe --precision q4_k --context 32768 --decode 8"
  "candle|phi-3.5-vision --precision bf16 --context 4096 --images 2 --decode 8"
  "llama.cpp|phi-3.5-mini --precision q4_k_m --setting ctx=4096 --setting ctx=32768"
  "llama.cpp|phi-3.5-mini --precision q8_0 --setting ctx=4096 --setting ctx=32768"
  "llama.cpp|phi-3.5-mini --precision fp16 --setting ctx=4096 --setting ctx=32768"
  "llama.cpp|phi-3.5-moe --precision q4_k_m --setting ctx=4096"
)
# llama.cpp on the GPU: all layers, llama-bench's tests on each context
LLAMACPP_ARGS=(--engine llama.cpp --n-gpu-layers -1 --bench)

case "$MODE" in
register)
  GPU=${2:?usage: $0 register GPU (a catalog id, e.g. h200)}
  cd "$(dirname "$0")/.."
  if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "gpu-campaign: commit first: a registered prediction names the commit that made it" >&2
    exit 1
  fi
  cargo build --quiet
  BIN=${CARGO_TARGET_DIR:-target}/debug/gpuplan
  COMMIT=$(git rev-parse HEAD)
  FILE=validation/predictions/$(date -u +%Y-%m-%d)-$GPU.json
  for r in "${RUNS[@]}"; do
    engine=${r%%|*}
    read -ra args <<< "${r#*|}"
    extra=()
    [ "$engine" = llama.cpp ] && extra=("${LLAMACPP_ARGS[@]}")
    "$BIN" predict --campaign "$FILE" --for-gpu "$GPU" --commit "$COMMIT" "${extra[@]}" "${args[@]}" \
      --format json > /dev/null || exit 1
  done
  echo "gpu-campaign: registered $(grep -c '"id"' "$FILE") runs in $FILE (commit $COMMIT); commit it before the campaign"
  ;;
run)
  FILE=${2:?usage: $0 run validation/predictions/<date>-<gpu>.json}
  BIN=${GPUPLAN_BIN:-target/cuda/gpuplan-cuda}
  PROBE_TAR=${LLAMACPP_PROBE_TAR:-target/llamacpp-cuda/llamacpp-probe-cuda.tar.xz}
  OUT=${OUT:-campaign-out}
  PER_RUN=${PER_RUN_TIMEOUT:-150}
  BUDGET=${CAMPAIGN_BUDGET:-420}
  mkdir -p "$OUT/records" "$OUT/work"
  LOG="$OUT/campaign.log"
  : > "$LOG"
  if [ ! -x "$BIN" ] && [ -f "$BIN.xz" ]; then
    python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],"wb"))' "$BIN.xz" "$BIN"
    chmod +x "$BIN"
  fi
  [ -x "$BIN" ] || { echo "no $BIN: build it with scripts/build-cuda.sh and carry it" | tee -a "$LOG" >&2; exit 2; }
  PROBE_DIR=$OUT/llamacpp-probe
  mkdir -p "$PROBE_DIR"
  if [ -f "$PROBE_TAR" ]; then
    tar -C "$PROBE_DIR" -xJf "$PROBE_TAR"
  else
    echo "no $PROBE_TAR: the llama.cpp runs will record that the probe is missing" | tee -a "$LOG"
  fi
  # CUDA 13 cuBLAS / cudart from the image (as scripts/gpu-suite.sh finds them), and the probe's libraries
  LIB=$( (ldconfig -p 2>/dev/null | awk '/libcublas\.so\.13/ {print $NF; exit}') )
  [ -n "$LIB" ] || LIB=$(find /usr/local /usr/lib /opt /root /home -name 'libcublas.so.13*' 2>/dev/null | head -n1)
  export LD_LIBRARY_PATH="$PROBE_DIR${LIB:+:$(dirname "$LIB")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" | tee -a "$LOG"
  nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv 2>&1 | tee "$OUT/nvidia-smi.txt" | tee -a "$LOG"
  START=$SECONDS
  for r in "${RUNS[@]}"; do
    engine=${r%%|*}
    read -ra args <<< "${r#*|}"
    left=$((BUDGET - (SECONDS - START)))
    if [ "$left" -le 10 ]; then
      echo "== SKIPPED (campaign budget of $BUDGET s spent): $r" | tee -a "$LOG"
      continue
    fi
    [ "$left" -lt "$PER_RUN" ] || left=$PER_RUN
    extra=(--device cuda:0)
    [ "$engine" = llama.cpp ] && extra=("${LLAMACPP_ARGS[@]}" --probe-bin "$PROBE_DIR/llamacpp-probe" --work-dir "$OUT/work" --timeout $((left - 5)))
    echo "== $engine ${args[*]} ($((SECONDS - START)) s in, limit $left s)" | tee -a "$LOG"
    t0=$SECONDS
    timeout "$left" "$BIN" validate "${extra[@]}" --registered "$FILE" --record "$OUT/records" "${args[@]}" >> "$LOG" 2>&1
    echo "   exit $? after $((SECONDS - t0)) s" | tee -a "$LOG"
  done
  rm -rf "$OUT/work"
  echo "campaign done in $((SECONDS - START)) s; records in $OUT/records" | tee -a "$LOG"
  ;;
*)
  echo "usage: $0 register GPU | run PREDICTIONS.json" >&2
  exit 2
  ;;
esac
