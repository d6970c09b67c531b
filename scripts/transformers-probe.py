#!/usr/bin/env python3
"""Second, independent implementation for calibrating gpuplan's `transformers` runtime profile.

Builds Phi-3.5 Mini (and optionally MoE) from gpuplan's model spec with random weights directly on the
GPU (no download: the config comes from models/*.yaml), runs one prefill of CONTEXT tokens and DECODE
greedy steps through `generate`, and prints one JSON record with PyTorch's own accounting
(max_memory_allocated / reserved) and NVML's device-used memory, beside the parameter count.

    python3 scripts/transformers-probe.py phi-3.5-mini 4096 16 > out.json
"""
import json
import sys
import time

import torch
import yaml
from transformers import AutoModelForCausalLM, Phi3Config, PhimoeConfig


def config_for(spec):
    a = spec["architecture"]
    common = dict(
        hidden_size=a["hidden_size"],
        intermediate_size=a["intermediate_size"],
        num_hidden_layers=a["layers"],
        num_attention_heads=a["attention_heads"],
        num_key_value_heads=a.get("kv_heads", a["attention_heads"]),
        vocab_size=a["vocab_size"],
        max_position_embeddings=spec["max_context"],
        tie_word_embeddings=a.get("tie_embeddings", False),
        torch_dtype="bfloat16",
    )
    if a["type"] == "phimoe":
        m = a["moe"]
        return PhimoeConfig(num_local_experts=m["experts"], num_experts_per_tok=m["experts_per_token"],
                            attention_bias=True, lm_head_bias=True, **common)
    return Phi3Config(**common)


def nvml_used():
    try:
        import pynvml
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        return pynvml.nvmlDeviceGetMemoryInfo(h).used
    except Exception:  # no pynvml: the torch figures still stand
        return None


def main():
    model_id, context, decode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    spec = yaml.safe_load(open(f"models/{model_id}.yaml"))
    cfg = config_for(spec)
    torch.cuda.init()
    torch.zeros(1, device="cuda")
    base_used = nvml_used()
    torch.set_default_dtype(torch.bfloat16)
    t0 = time.time()
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16, attn_implementation="sdpa")
    model.eval()
    torch.cuda.synchronize()
    load_s = time.time() - t0
    params = sum(p.numel() for p in model.parameters())
    weights_alloc = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    ids = torch.randint(0, cfg.vocab_size, (1, context), device="cuda")
    with torch.no_grad():
        # warm-up at the full prompt shape: the first generate pays one-time costs (kernel and
        # cuBLAS heuristic selection for new shapes, lazy modules); a shorter warm-up left them in the
        # timed prefill and made (decode run - prefill run) negative (validation/runs/*/transformers.json)
        model.generate(ids, max_new_tokens=2, min_new_tokens=2, do_sample=False)
    torch.cuda.synchronize()
    t1 = time.time()
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=1, min_new_tokens=1, do_sample=False)
    torch.cuda.synchronize()
    ttft = time.time() - t1
    t2 = time.time()
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=decode, min_new_tokens=decode, do_sample=False)
    torch.cuda.synchronize()
    total = time.time() - t2
    record = {
        "runtime": "transformers",
        "model": model_id,
        "context": context,
        "decode": decode,
        "params_total": params,
        "torch_version": torch.__version__,
        "device": torch.cuda.get_device_name(0),
        "weights_allocated_bytes": weights_alloc,
        "peak_allocated_bytes": torch.cuda.max_memory_allocated(),
        "peak_reserved_bytes": torch.cuda.max_memory_reserved(),
        "nvml_used_after_context_bytes": base_used,
        "nvml_used_end_bytes": nvml_used(),
        "load_s": load_s,
        "ttft_s": ttft,
        # generate(decode) repeats the prefill: subtract it to get the decode steps alone; None when
        # the difference is not positive (the timing is then not a measurement)
        "decode_tokens_per_s": (decode - 1) / (total - ttft) if total > ttft else None,
        "generated": int(out.shape[1] - context),
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
