#!/usr/bin/env python3
"""Refits the throughput constants of gpuplan's `candle` runtime profile from the committed GPU
validation records (validation/records/*.json) and prints them with each record's error, so the
constants in src/estimate/runtime.rs can be checked or redone when records are added.

    pip install numpy && python3 scripts/calibrate-candle.py

The model forms are those of src/estimate/throughput.rs:
  decode  = step + weights/(BW x 0.8) + cached_elems/(simt x r_c) + expanded_elems/(simt x r_e)
            + moe_layers x (moe_16 | moe_q)
  prefill = fixed + matmul/(tensor peak x 0.6) + attention/(simt x e_16 | e_32) + tokens x moe_layers x m
(simt = the fp32 non-tensor peak)
Relative least squares (each record weighs by its own time). Shapes are Phi-3.5 Mini / MoE / Vision.
"""
import glob
import json

import numpy as np

PEAK = 989e12  # H100 SXM and H200: dense bf16 tensor TFLOPS (gpus/*.yaml)
SIMT = 67e12  # and their fp32 (non-tensor) TFLOPS, the scale of eager attention and KV work
BW = {"h100": 3350e9, "h200": 4800e9}
WEIGHTS_READ = {  # decode weight bytes per step (embeddings gathered, 2 of 16 experts): the estimator's
    ("phi-3.5-mini", "bf16"): 7.445e9, ("phi-3.5-vision", "bf16"): 7.445e9,
    ("phi-3.5-mini", "q8_0"): 3.955e9, ("phi-3.5-mini", "q4_k"): 2.095e9,
    ("phi-3.5-moe", "bf16"): 13.02e9, ("phi-3.5-moe", "q4_k"): 3.67e9, ("phi-3.5-moe", "q8_0"): 6.92e9,
}


def records():
    for f in sorted(glob.glob("validation/records/*.json")):
        r = json.load(open(f))
        if r["device"]["kind"] == "cuda" and r["outcome"]["status"] == "ran" and r["model"] in ("phi-3.5-mini", "phi-3.5-moe", "phi-3.5-vision"):
            yield r


def fit(rows, label):
    a = np.array([r[1] for r in rows])
    y = np.array([r[2] for r in rows])
    t = np.array([r[3] for r in rows])
    w = np.diag(1 / t)
    x = np.linalg.lstsq(w @ a, w @ y, rcond=None)[0]
    print(label, x)
    for (name, row, rest, time), p in zip(rows, a @ x):
        pred = p + (time - rest)
        print(f"  {name:60s} predicted {pred*1e3:9.2f} ms measured {time*1e3:9.2f} ms  tok/s error {(time/pred-1)*100:+6.1f}%")
    return x


def main():
    dec, pre = [], []
    for r in records():
        gpu = "h200" if "h200" in r["name"] else "h100"
        mini = r["model"] != "phi-3.5-moe"
        b, ctx = r["batch"], r["context"] + r["image_tokens"]
        per_tok = 196608 if mini else 65536  # cached K+V elements per token, all layers
        cached = per_tok * ctx * b
        expanded = 0 if mini else cached * 4  # 32 query heads over 8 KV heads
        moe = 0 if mini else 32
        q = r["precision"] != "bf16"
        t = r["measured"]["throughput"]
        step = b / t["decode_tokens_per_s"]
        wt = WEIGHTS_READ[(r["model"], r["precision"])] / (BW[gpu] * 0.8)
        dec.append((r["name"], [1, cached / SIMT, expanded / SIMT, moe * (not q), moe * q], step - wt, step))
        lhd = 32 * 32 * (96 if mini else 128)
        mm = (3.821e9 - 98.5e6) if mini else (6.641e9 - 131.3e6)
        pairs = (ctx * ctx + ctx * 512) / 2 * b
        lin = 2 * mm * ctx * b / (PEAK * 0.6)
        prompt = (r["prompt_tokens"] + r["image_tokens"]) * b / t["prefill_tokens_per_s"]
        att = 4 * lhd * pairs / SIMT
        pre.append((r["name"], [1, att * (not q), att * q, ctx * b * moe], prompt - lin, prompt))
    x = fit(dec, "decode [step_s, 1/cached_per_flop, 1/expanded_per_flop, moe_layer_s, moe_layer_quantized_s]:")
    print(f"=> step_overhead_s {x[0]:.6g}, kv_cached_elements_per_flop {1/x[1]:.4g}, kv_expanded_elements_per_flop {1/x[2]:.4g}, moe_layer_s {x[3]:.4g}, moe_layer_quantized_s {x[4]:.4g}")
    x = fit(pre, "prefill [fixed_s, 1/attention_eff, 1/attention_eff_f32, moe_token_layer_s]:")
    print(f"=> prefill_fixed_s {x[0]:.4g}, attention_efficiency {1/x[1]:.4g}, attention_efficiency_f32 {1/x[2]:.4g}, moe_prefill_token_layer_s {x[3]:.4g}")


if __name__ == "__main__":
    main()
