//! A model as llama.cpp's graph sees it: the hyper-parameters it reads from the GGUF header and the
//! graph family (`src/models/<name>.cpp`) that builds its forward pass.

/// The graph families modeled; each follows one file of llama.cpp's `src/models/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// llama.cpp (Llama, Mistral; Mixtral with experts)
    Llama,
    /// qwen2.cpp: q, k, v biases
    Qwen2,
    /// qwen2moe.cpp: biases, routed experts plus a gated shared expert
    Qwen2Moe,
    /// qwen3.cpp: q and k RMS norms
    Qwen3,
    /// qwen3moe.cpp
    Qwen3Moe,
    /// phi3.cpp: fused qkv, fused gate and up
    Phi3,
    /// gemma.cpp: scaled embeddings
    Gemma,
    /// gemma2.cpp: sliding window on even layers, logit soft-capping, post norms
    Gemma2,
    /// gemma3.cpp: sliding window on 5 of 6 layers, q and k norms, post norms, scaled token rows
    Gemma3,
    /// openai-moe.cpp (gpt-oss): sliding window on even layers, attention sinks, biased experts
    GptOss,
}

impl Family {
    /// q, k and v carry biases (`build_qkv` adds them).
    pub fn qkv_bias(self) -> bool {
        matches!(self, Family::Qwen2 | Family::Qwen2Moe | Family::GptOss)
    }

    /// q and k pass through RMS norms before rope.
    pub fn qk_norm(self) -> bool {
        matches!(self, Family::Qwen3 | Family::Qwen3Moe | Family::Gemma3)
    }

    /// q is scaled before attention (the attention op then runs with scale 1).
    pub fn scales_q(self) -> bool {
        matches!(self, Family::Phi3 | Family::Gemma | Family::Gemma2 | Family::Gemma3)
    }

    /// Norms after attention and after the FFN as well as before them.
    pub fn post_norms(self) -> bool {
        matches!(self, Family::Gemma2 | Family::Gemma3)
    }

    /// Attention scores and logits soft-capped by `tanh` (Gemma 2).
    pub fn softcap(self) -> bool {
        self == Family::Gemma2
    }
}

/// Routed experts (`n_expert`, `n_expert_used`, `n_ff_exp`) and a shared expert's width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Experts {
    pub count: u64,
    pub used: u64,
    pub ff: u64,
    /// Qwen2-MoE's shared expert (`n_ff_shexp`)
    pub shared_ff: Option<u64>,
}

/// Sliding-window attention: the window (`n_swa`) and the layer pattern (`n_swa_pattern`): layer
/// `il` uses the window when `il % pattern < pattern - 1` (llama-hparams.cpp `set_swa_pattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub size: u64,
    pub pattern: u64,
}

/// What llama.cpp's graph needs to know about a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Model {
    pub family: Family,
    pub n_embd: u64,
    pub n_layer: u64,
    pub n_head: u64,
    pub n_head_kv: u64,
    /// `n_embd_head_k` = `n_embd_head_v`
    pub head_dim: u64,
    pub n_ff: u64,
    pub n_vocab: u64,
    pub window: Option<Window>,
    pub experts: Option<Experts>,
}

impl Model {
    /// Whether layer `il` attends over the sliding-window cache.
    pub fn is_swa(&self, il: u64) -> bool {
        self.window
            .is_some_and(|w| w.pattern == 0 || il % w.pattern < w.pattern - 1)
    }

    /// K (and V) row width of one layer: `n_embd_k_gqa`.
    pub fn n_embd_gqa(&self) -> u64 {
        self.head_dim * self.n_head_kv
    }
}

/// The shapes of the synthetic GGUF files measured with the modeled llama.cpp build
/// (validation/field/llamacpp-local-*.json, whose notes give each file's shapes).
#[cfg(test)]
pub mod measured {
    use super::super::context::Params;
    use super::super::ggml::Type;
    use super::{Experts, Family, Model, Window};

    pub const LLAMA_3_1_8B: Model = Model {
        family: Family::Llama,
        n_embd: 4096,
        n_layer: 32,
        n_head: 32,
        n_head_kv: 8,
        head_dim: 128,
        n_ff: 14336,
        n_vocab: 128256,
        window: None,
        experts: None,
    };
    pub const QWEN2_5_7B: Model = Model {
        family: Family::Qwen2,
        n_embd: 3584,
        n_layer: 28,
        n_head: 28,
        n_head_kv: 4,
        n_ff: 18944,
        n_vocab: 152064,
        ..LLAMA_3_1_8B
    };
    pub const QWEN3_8B: Model = Model {
        family: Family::Qwen3,
        n_layer: 36,
        n_ff: 12288,
        n_vocab: 151936,
        ..LLAMA_3_1_8B
    };
    pub const PHI_3_5_MINI: Model = Model {
        family: Family::Phi3,
        n_embd: 3072,
        n_head_kv: 32,
        head_dim: 96,
        n_ff: 8192,
        n_vocab: 32064,
        ..LLAMA_3_1_8B
    };
    pub const GEMMA_2_2B: Model = Model {
        family: Family::Gemma2,
        n_embd: 2304,
        n_layer: 26,
        n_head: 8,
        n_head_kv: 4,
        head_dim: 256,
        n_ff: 9216,
        n_vocab: 256000,
        window: Some(Window { size: 4096, pattern: 2 }),
        ..LLAMA_3_1_8B
    };
    pub const GEMMA_3_4B: Model = Model {
        family: Family::Gemma3,
        n_embd: 2560,
        n_layer: 34,
        n_head: 8,
        n_head_kv: 4,
        head_dim: 256,
        n_ff: 10240,
        n_vocab: 262208,
        window: Some(Window { size: 1024, pattern: 6 }),
        ..LLAMA_3_1_8B
    };
    pub const QWEN3_30B_A3B: Model = Model {
        family: Family::Qwen3Moe,
        n_embd: 2048,
        n_layer: 48,
        n_head_kv: 4,
        n_ff: 6144,
        n_vocab: 151936,
        experts: Some(Experts {
            count: 128,
            used: 8,
            ff: 768,
            shared_ff: None,
        }),
        ..LLAMA_3_1_8B
    };
    pub const GPT_OSS_20B: Model = Model {
        family: Family::GptOss,
        n_embd: 2880,
        n_layer: 24,
        n_head: 64,
        head_dim: 64,
        n_ff: 2880,
        n_vocab: 201088,
        window: Some(Window { size: 128, pattern: 2 }),
        experts: Some(Experts {
            count: 32,
            used: 4,
            ff: 2880,
            shared_ff: None,
        }),
        ..LLAMA_3_1_8B
    };
    pub const MIXTRAL_8X7B: Model = Model {
        n_vocab: 32000,
        experts: Some(Experts {
            count: 8,
            used: 2,
            ff: 14336,
            shared_ff: None,
        }),
        ..LLAMA_3_1_8B
    };
    pub const QWEN1_5_MOE_A2_7B: Model = Model {
        family: Family::Qwen2Moe,
        n_embd: 2048,
        n_layer: 24,
        n_head: 16,
        n_head_kv: 16,
        n_ff: 5632,
        n_vocab: 151936,
        experts: Some(Experts {
            count: 60,
            used: 4,
            ff: 1408,
            shared_ff: Some(5632),
        }),
        ..LLAMA_3_1_8B
    };

    /// One measured run: the settings and the figures llama.cpp printed (KV and output to 2
    /// decimals of MiB, the compute buffer to 4, as printed when the context is freed).
    pub struct Run {
        pub id: &'static str,
        pub model: Model,
        pub params: Params,
        /// full-attention and sliding-window KV buffers
        pub kv: (&'static str, &'static str),
        pub output: &'static str,
        pub compute: &'static str,
    }

    const fn params(n_ctx: u64, n_ubatch: u64, n_seq_max: u64, unified: bool, fa: bool) -> Params {
        Params {
            n_ctx,
            n_batch: 2048,
            n_ubatch,
            n_seq_max,
            kv_unified: unified,
            swa_full: true,
            n_outputs_max: None,
            flash_attn: fa,
            type_k: Type::F16,
            type_v: Type::F16,
        }
    }

    /// validation/field/llamacpp-local-<id>.json
    pub const RUNS: &[Run] = &[
        Run {
            id: "gemma-2-2b-ctx8192-fa-off",
            model: GEMMA_2_2B,
            params: params(8192, 512, 1, false, false),
            kv: ("416.00", "416.00"),
            output: "0.98",
            compute: "562.5195",
        },
        Run {
            id: "gemma-2-2b-ctx8192-fa-on-swa",
            model: GEMMA_2_2B,
            params: Params {
                swa_full: false,
                ..params(8192, 512, 1, false, true)
            },
            kv: ("416.00", "234.00"),
            output: "0.98",
            compute: "535.0273",
        },
        Run {
            id: "gemma-3-4b-ctx16384-np2-outs2-fa-off-swa",
            model: GEMMA_3_4B,
            params: Params {
                n_outputs_max: Some(2),
                swa_full: false,
                ..params(16384, 512, 2, false, false)
            },
            kv: ("320.00", "348.00"),
            output: "2.00",
            compute: "184.0196",
        },
        Run {
            id: "gemma-3-4b-ctx32768-fa-on-swa",
            model: GEMMA_3_4B,
            params: Params {
                swa_full: false,
                ..params(32768, 512, 1, false, true)
            },
            kv: ("640.00", "174.00"),
            output: "1.00",
            compute: "575.6543",
        },
        Run {
            id: "gemma-3-4b-ctx32768-np2-fa-off-swa",
            model: GEMMA_3_4B,
            params: Params {
                swa_full: false,
                ..params(32768, 512, 2, false, false)
            },
            kv: ("640.00", "348.00"),
            output: "2.00",
            compute: "580.1465",
        },
        Run {
            id: "gpt-oss-20b-ctx16384-fa-off-swa",
            model: GPT_OSS_20B,
            params: Params {
                swa_full: false,
                ..params(16384, 512, 1, false, false)
            },
            kv: ("384.00", "18.00"),
            output: "0.77",
            compute: "2129.6445",
        },
        Run {
            id: "gpt-oss-20b-ctx32768-np4-unified-outs4-swa",
            model: GPT_OSS_20B,
            params: Params {
                n_outputs_max: Some(4),
                swa_full: false,
                ..params(32768, 512, 4, true, true)
            },
            kv: ("768.00", "24.00"),
            output: "3.07",
            compute: "128.6504",
        },
        Run {
            id: "gpt-oss-20b-ctx65536-np4-unified-swa",
            model: GPT_OSS_20B,
            params: Params {
                swa_full: false,
                ..params(65536, 512, 4, true, true)
            },
            kv: ("1536.00", "24.00"),
            output: "3.07",
            compute: "485.9023",
        },
        Run {
            id: "llama-3.1-8b-ctx16384-np4-streams",
            model: LLAMA_3_1_8B,
            params: params(16384, 512, 4, false, true),
            kv: ("2048.00", "0.00"),
            output: "1.96",
            compute: "294.5195",
        },
        Run {
            id: "llama-3.1-8b-ctx16384-np4-unified-outs4",
            model: LLAMA_3_1_8B,
            params: Params {
                n_outputs_max: Some(4),
                ..params(16384, 512, 4, true, true)
            },
            kv: ("2048.00", "0.00"),
            output: "1.96",
            compute: "140.0176",
        },
        Run {
            id: "llama-3.1-8b-ctx16384-np4-unified",
            model: LLAMA_3_1_8B,
            params: params(16384, 512, 4, true, false),
            kv: ("2048.00", "0.00"),
            output: "1.96",
            compute: "1108.0156",
        },
        Run {
            id: "llama-3.1-8b-ctx32768-fa-on-q8",
            model: LLAMA_3_1_8B,
            params: Params {
                type_k: Type::Q8_0,
                type_v: Type::Q8_0,
                ..params(32768, 512, 1, false, true)
            },
            kv: ("2176.00", "0.00"),
            output: "0.49",
            compute: "330.5977",
        },
        Run {
            id: "llama-3.1-8b-ctx4096-ub2048",
            model: LLAMA_3_1_8B,
            params: params(4096, 2048, 1, false, false),
            kv: ("512.00", "0.00"),
            output: "0.49",
            compute: "1264.0625",
        },
        Run {
            id: "llama-3.1-8b-ctx5000-ub128",
            model: LLAMA_3_1_8B,
            params: Params {
                type_k: Type::Q8_0,
                ..params(5000, 128, 1, false, false)
            },
            kv: ("490.00", "0.00"),
            output: "0.49",
            compute: "93.5664",
        },
        Run {
            id: "llama-3.1-8b-ctx8192-fa-off",
            model: LLAMA_3_1_8B,
            params: params(8192, 512, 1, false, false),
            kv: ("1024.00", "0.00"),
            output: "0.49",
            compute: "580.0156",
        },
        Run {
            id: "llama-3.1-8b-ctx8192-fa-on",
            model: LLAMA_3_1_8B,
            params: params(8192, 512, 1, false, true),
            kv: ("1024.00", "0.00"),
            output: "0.49",
            compute: "298.5195",
        },
        Run {
            id: "mixtral-8x7b-ctx4096-fa-off",
            model: MIXTRAL_8X7B,
            params: params(4096, 512, 1, false, false),
            kv: ("512.00", "0.00"),
            output: "0.12",
            compute: "316.0156",
        },
        Run {
            id: "mixtral-8x7b-ctx8192-fa-on-outs1",
            model: MIXTRAL_8X7B,
            params: Params {
                n_outputs_max: Some(1),
                ..params(8192, 512, 1, false, true)
            },
            kv: ("1024.00", "0.00"),
            output: "0.12",
            compute: "216.0176",
        },
        Run {
            id: "phi-3.5-mini-ctx16384-fa-on",
            model: PHI_3_5_MINI,
            params: params(16384, 512, 1, false, true),
            kv: ("6144.00", "0.00"),
            output: "0.12",
            compute: "108.6445",
        },
        Run {
            id: "phi-3.5-mini-ctx4096-fa-off",
            model: PHI_3_5_MINI,
            params: params(4096, 512, 1, false, false),
            kv: ("1536.00", "0.00"),
            output: "0.12",
            compute: "306.0156",
        },
        Run {
            id: "qwen1.5-moe-a2.7b-ctx8192-fa-on",
            model: QWEN1_5_MOE_A2_7B,
            params: params(8192, 512, 1, false, true),
            kv: ("1536.00", "0.00"),
            output: "0.58",
            compute: "324.7695",
        },
        Run {
            id: "qwen1.5-moe-a2.7b-ctx8192-np4-unified-outs4",
            model: QWEN1_5_MOE_A2_7B,
            params: Params {
                n_outputs_max: Some(4),
                ..params(8192, 512, 4, true, true)
            },
            kv: ("1536.00", "0.00"),
            output: "2.32",
            compute: "61.0176",
        },
        Run {
            id: "qwen2.5-7b-ctx32768-fa-on",
            model: QWEN2_5_7B,
            params: params(32768, 512, 1, false, true),
            kv: ("1792.00", "0.00"),
            output: "0.58",
            compute: "371.0195",
        },
        Run {
            id: "qwen2.5-7b-ctx4096-fa-off",
            model: QWEN2_5_7B,
            params: params(4096, 512, 1, false, false),
            kv: ("224.00", "0.00"),
            output: "0.58",
            compute: "342.0156",
        },
        Run {
            id: "qwen3-30b-a3b-ctx32768-np4-unified-outs4",
            model: QWEN3_30B_A3B,
            params: Params {
                n_outputs_max: Some(4),
                swa_full: false,
                ..params(32768, 512, 4, true, true)
            },
            kv: ("3072.00", "0.00"),
            output: "2.32",
            compute: "120.0176",
        },
        Run {
            id: "qwen3-30b-a3b-ctx8192-fa-on",
            model: QWEN3_30B_A3B,
            params: params(8192, 512, 1, false, true),
            kv: ("768.00", "0.00"),
            output: "0.58",
            compute: "324.7695",
        },
        Run {
            id: "qwen3-8b-ctx40960-fa-on-q8",
            model: QWEN3_8B,
            params: Params {
                type_k: Type::Q8_0,
                type_v: Type::Q8_0,
                ..params(40960, 512, 1, false, true)
            },
            kv: ("3060.00", "0.00"),
            output: "0.58",
            compute: "376.8477",
        },
    ];

    pub fn run(id: &str) -> &'static Run {
        RUNS.iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no measured run {id}"))
    }

    /// Bytes as llama.cpp prints them: MiB with `decimals` decimals.
    pub fn mib(bytes: u64, decimals: usize) -> String {
        format!("{:.*}", decimals, bytes as f64 / 1048576.0)
    }
}
