#!/usr/bin/env python3
"""Writes the seed inputs each fuzz target starts from (fuzz/corpus/<target>/seed-*): the catalog
YAMLs, published config.json files, and small but complete safetensors and GGUF files. The fuzzer's
minimized corpus grows from these; `cargo fuzz cmin` keeps it small."""
import json, os, re, struct, glob, shutil

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
corpus = os.path.join(root, "fuzz", "corpus")

def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

for p in sorted(glob.glob(os.path.join(root, "models", "*.yaml"))):
    put("model_yaml", os.path.basename(p), open(p, "rb").read())
put("model_yaml", "summary.yaml", "id: s\nname: S\nmax_context: 4096\nparameters: 7000000000\nkv_cache:\n  layers: 32\n  kv_heads: 8\n  head_dim: 128\n")
put("model_yaml", "mla.yaml", """id: dsv2-lite
name: DeepSeek-V2-Lite
max_context: 163840
architecture:
  type: deepseek_v2
  hidden_size: 2048
  layers: 27
  attention_heads: 16
  head_dim: 192
  intermediate_size: 10944
  vocab_size: 102400
  moe:
    experts: 64
    experts_per_token: 6
    expert_intermediate_size: 1408
    shared_expert_intermediate_size: 2816
    shared_expert_gate: false
    dense_layers: 1
  mla:
    kv_lora_rank: 512
    qk_nope_head_dim: 128
    qk_rope_head_dim: 64
    v_head_dim: 128
""")
for p in sorted(glob.glob(os.path.join(root, "gpus", "*.yaml"))):
    put("gpu_yaml", os.path.basename(p), open(p, "rb").read())

configs = {
    "phi2": {"model_type": "phi", "vocab_size": 51200, "hidden_size": 2560, "intermediate_size": 10240, "num_hidden_layers": 32,
             "num_attention_heads": 32, "max_position_embeddings": 2048, "torch_dtype": "float16"},
    "mixtral": {"model_type": "mixtral", "hidden_size": 4096, "num_key_value_heads": 8, "num_local_experts": 8, "num_experts_per_tok": 2,
                "sliding_window": None, "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128}},
    "qwen2moe": {"model_type": "qwen2_moe", "num_experts": 60, "mlp_only_layers": [0, 3], "decoder_sparse_step": 2,
                 "use_sliding_window": True, "max_window_layers": 2},
    "gemma2": {"architectures": ["Gemma2ForCausalLM"], "head_dim": 256, "sliding_window": 4096, "torch_dtype": "float32"},
    "phi3": {"model_type": "phi3", "max_position_embeddings": 131072, "rope_scaling": {"type": "longrope", "long_factor": [1.0, 2.0]},
             "sliding_window": 262144, "quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": True}},
    "phi3v": {"model_type": "phi3_v", "hidden_size": 3072, "num_hidden_layers": 32, "num_attention_heads": 32, "intermediate_size": 8192,
              "vocab_size": 32064, "max_position_embeddings": 131072, "img_processor": {"model_name": "openai/clip-vit-large-patch14-336",
              "image_dim_out": 1024}, "embd_layer": {"projection_cls": "mlp", "with_learnable_separator": True}},
    "phi3small": {"model_type": "phi3small", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                  "ff_intermediate_size": 14336, "vocab_size": 100352, "max_position_embeddings": 8192, "hidden_act": "gegelu"},
    "phimoe": {"model_type": "phimoe", "attention_bias": True, "lm_head_bias": True, "quantization_config": {"quant_method": "fp8"}},
    "dsv3": {"model_type": "deepseek_v3", "num_nextn_predict_layers": 1, "torch_dtype": "bfloat16"},
    "dsv2lite": {"model_type": "deepseek_v2", "q_lora_rank": None, "num_experts_per_tok": 6, "first_k_dense_replace": 1, "moe_layer_freq": 1},
    "llama": {"model_type": "llama", "num_key_value_heads": 8, "head_dim": 128, "attention_bias": True, "mlp_bias": False,
              "quantization_config": {"quant_method": "awq", "w_bit": 4, "q_group_size": 64}},
    "mistral": {"model_type": "mistral", "_name_or_path": "mistralai/Mistral-7B-v0.1"},
}
for name, c in configs.items():
    put("hf_config", name + ".json", json.dumps(c, indent=1))

# quantization_config as each method's writer spells it, and hostile values (src/import/quantization.rs)
base_llama = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "vocab_size": 256, "max_position_embeddings": 512, "torch_dtype": "bfloat16"}
quant_configs = {
    "mxfp4": {"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]},
    "fp8-block": {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": [128, 128]},
    "fp8-block-hostile": {"quant_method": "fp8", "weight_block_size": [0, 18446744073709551616], "modules_to_not_convert": [1]},
    "ct-w4a16": {"quant_method": "compressed-tensors", "format": "pack-quantized", "ignore": ["lm_head", "re:.*mlp.gate$"],
                 "config_groups": {"group_0": {"targets": ["Linear"], "input_activations": None,
                                               "weights": {"num_bits": 4, "type": "int", "symmetric": True, "strategy": "group", "group_size": 128, "actorder": "group"}}}},
    "ct-w8a8": {"quant_method": "compressed-tensors", "format": "int-quantized",
                "config_groups": {"group_0": {"targets": ["Linear"], "input_activations": {"num_bits": 8, "type": "int", "strategy": "token", "dynamic": True},
                                              "weights": {"num_bits": 8, "type": "int", "symmetric": True, "strategy": "channel"}}}},
    "ct-nvfp4": {"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized",
                 "config_groups": {"group_0": {"weights": {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16}}}},
    "ct-hostile": {"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {"num_bits": 1e300, "group_size": -5, "block_structure": [128]}}}},
    "modelopt": {"quant_method": "modelopt", "quant_algo": "NVFP4", "group_size": 16, "exclude_modules": ["lm_head", "model.layers.0.self_attn*"]},
    "bnb-nf4": {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True,
                "bnb_4bit_compute_dtype": "bfloat16", "llm_int8_skip_modules": ["lm_head"]},
    "gptq-3bit": {"quant_method": "gptq", "bits": 3, "group_size": 64, "desc_act": True, "sym": True, "checkpoint_format": "gptq"},
    "awq-g32": {"quant_method": "awq", "bits": 4, "group_size": 32, "zero_point": True, "version": "gemv", "modules_to_not_convert": ["visual"]},
    "gptq-hostile": {"quant_method": "gptq", "bits": -4, "group_size": 0},
}
for name, q in quant_configs.items():
    put("hf_config", "quant-" + name + ".json", json.dumps(dict(base_llama, quantization_config=q), indent=1))

def safetensors(tensors, meta=True):
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "I8": 1, "U8": 1, "F8_E4M3": 1}
    h, at = {}, 0
    if meta:
        h["__metadata__"] = {"format": "pt"}
    for n, d, s in tensors:
        k = sizes[d]
        for x in s:
            k *= x
        h[n] = {"dtype": d, "shape": s, "data_offsets": [at, at + k]}
        at += k
    j = json.dumps(h, separators=(",", ":")).encode()
    return struct.pack("<Q", len(j)) + j + b"\0" * at

put("safetensors_header", "tiny.safetensors", safetensors([("model.embed_tokens.weight", "BF16", [10, 4]), ("model.norm.weight", "F32", [4]),
                                                          ("model.layers.0.self_attn.q_proj.qweight", "I32", [1, 4]), ("x.scales", "F16", [2, 2]),
                                                          ("w8", "I8", [3, 3]), ("u8", "U8", [5]), ("f8", "F8_E4M3", [2, 2])]))
put("safetensors_header", "empty.safetensors", safetensors([], meta=False))
put("safetensors_header", "index.json", json.dumps({"metadata": {"total_size": 64}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))

def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b

GG = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q8_0": (8, 32, 34), "Q4_K": (12, 256, 144), "Q6_K": (14, 256, 210), "BF16": (30, 1, 2)}

def gguf(kvs, tensors):
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, (t, v) in kvs:
        out += gstr(k) + struct.pack("<I", t)
        if t == 8:
            out += gstr(v)
        elif t == 4:
            out += struct.pack("<I", v)
        elif t == 6:
            out += struct.pack("<f", v)
        elif t == 9:
            out += struct.pack("<IQ", 8, len(v)) + b"".join(gstr(x) for x in v)
        elif t == 99:  # int array
            out = out[:-4] + struct.pack("<IIQ", 9, 4, len(v)) + b"".join(struct.pack("<I", x) for x in v)
    off = 0
    for n, ty, dims in tensors:
        tid, per, by = GG[ty]
        out += gstr(n) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", tid, off)
        k = 1
        for d in dims:
            k *= d
        off += -(-(k // per * by) // 32) * 32
    out += b"\0" * ((-len(out)) % 32)
    return out + b"\0" * off

def llama_kvs(arch, extra=()):
    return [("general.architecture", (8, arch)), ("general.file_type", (4, 15)), (arch + ".context_length", (4, 2048)),
            (arch + ".embedding_length", (4, 32)), (arch + ".block_count", (4, 1)), (arch + ".feed_forward_length", (4, 16)),
            (arch + ".attention.head_count", (4, 4)), (arch + ".attention.head_count_kv", (99, [2])),
            ("tokenizer.ggml.tokens", (9, ["a", "b", "c"]))] + list(extra)

# small shapes keep the files (data included) under 4 KB
layer = [("blk.0.attn_norm.weight", "F32", [32]), ("blk.0.attn_q.weight", "Q8_0", [32, 32]), ("blk.0.attn_k.weight", "Q4_0", [32, 16]),
         ("blk.0.attn_v.weight", "Q4_0", [32, 16]), ("blk.0.attn_output.weight", "Q8_0", [32, 32]), ("blk.0.ffn_norm.weight", "F32", [32]),
         ("blk.0.ffn_gate.weight", "F16", [32, 16]), ("blk.0.ffn_up.weight", "BF16", [32, 16]), ("blk.0.ffn_down.weight", "Q8_0", [32, 32])]
put("gguf_header", "llama.gguf", gguf(llama_kvs("llama"), [("token_embd.weight", "Q4_0", [32, 3]), ("output_norm.weight", "F32", [32]),
                                                           ("output.weight", "Q6_K", [256, 1])] + layer))
put("gguf_header", "moe.gguf", gguf(llama_kvs("llama", [("llama.expert_count", (4, 2)), ("llama.expert_used_count", (4, 1))]),
                                    [("token_embd.weight", "Q8_0", [32, 3]), ("blk.0.ffn_gate_exps.weight", "Q4_K", [256, 1, 2])]))
put("gguf_header", "gemma2.gguf", gguf(llama_kvs("gemma2", [("gemma2.attention.sliding_window", (4, 4096))]),
                                       [("token_embd.weight", "F32", [32, 3]), ("blk.0.post_ffw_norm.weight", "F32", [32])]))
put("gguf_header", "deepseek2.gguf", gguf(llama_kvs("deepseek2", [("deepseek2.expert_count", (4, 4)), ("deepseek2.expert_used_count", (4, 2)),
                                                                  ("deepseek2.attention.kv_lora_rank", (4, 16)), ("deepseek2.rope.dimension_count", (4, 8)),
                                                                  ("deepseek2.attention.key_length", (4, 24)), ("deepseek2.attention.value_length", (4, 16)),
                                                                  ("deepseek2.leading_dense_block_count", (4, 0)), ("deepseek2.expert_feed_forward_length", (4, 16)),
                                                                  ("deepseek2.expert_shared_count", (4, 1))]),
                                          [("token_embd.weight", "F16", [32, 3])]))

# the 2025-2026 families: every real config in tests/configs, and Python's json floats as some
# Nemotron-H configs carry them (Infinity, NaN), in a read field and an unread one
for p in sorted(glob.glob(os.path.join(root, "tests", "configs", "*.json"))):
    put("hf_config", os.path.basename(p), open(p, "rb").read())
nemotron = open(os.path.join(root, "tests", "configs", "nvidia--Nemotron-H-8B-Base-8K.json")).read()
put("hf_config", "nemotron-infinity.json", nemotron.replace("{", '{\n "time_step_limit": [0.0, Infinity], "time_step_floor": NaN,', 1))
put("hf_config", "nemotron-infinity-read.json", nemotron.replace('"ssm_state_size": 128', '"ssm_state_size": -Infinity'))
put("hf_config", "unknown-remote.json", json.dumps({"model_type": "brand_new", "auto_map": {"AutoModelForCausalLM": "m.M"}}))
hybrid = lambda arch, extra: [("general.architecture", (8, arch)), ("general.file_type", (4, 1)), (arch + ".context_length", (4, 2048)),
                              (arch + ".embedding_length", (4, 32)), (arch + ".block_count", (4, 3)),
                              (arch + ".attention.head_count", (99, [0, 4, 0])), (arch + ".attention.head_count_kv", (99, [0, 2, 0])),
                              (arch + ".feed_forward_length", (99, [0, 0, 16])), (arch + ".ssm.time_step_rank", (4, 4)),
                              (arch + ".ssm.inner_size", (4, 64)), (arch + ".ssm.group_count", (4, 1)), (arch + ".ssm.state_size", (4, 8)),
                              (arch + ".ssm.conv_kernel", (4, 4))] + list(extra)
put("gguf_header", "nemotron_h.gguf", gguf(hybrid("nemotron_h", []), [("token_embd.weight", "F16", [32, 3]), ("blk.0.ssm_in.weight", "F16", [32, 36])]))
put("gguf_header", "qwen3next.gguf", gguf(hybrid("qwen3next", [("qwen3next.full_attention_interval", (4, 2)), ("qwen3next.expert_count", (4, 2)),
                                                               ("qwen3next.expert_used_count", (4, 1))]), [("token_embd.weight", "F16", [32, 3])]))
put("gguf_header", "gpt-oss.gguf", gguf(llama_kvs("gpt-oss", [("gpt-oss.expert_count", (4, 2)), ("gpt-oss.expert_used_count", (4, 1)),
                                                             ("gpt-oss.attention.sliding_window", (4, 128))]),
                                        [("token_embd.weight", "F16", [32, 3]), ("blk.0.attn_sinks.weight", "F32", [4])]))
