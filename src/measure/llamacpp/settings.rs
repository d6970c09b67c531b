//! One llama.cpp context's settings, spelled as `llama-server` spells its flags, with llama-server's
//! defaults for an explicit `--parallel` (common/common.h, common/arg.cpp of the llama.cpp vendored by
//! llama-cpp-sys-2 0.1.161): ctx 4096 (llama-server's own default, 0, means the model's training
//! context; gpuplan always states it), batch 2048, ubatch 512, one slot, flash attention auto, f16
//! caches, no unified KV (llama-server turns it on only when `--parallel` is left on auto).

use crate::estimate::engine::llamacpp;
use crate::estimate::engine::offload::OffloadFlags;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// `-fa, --flash-attn`, as records spell it (the estimator's [`llamacpp::FlashAttn`] is not read back
/// from files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashAttn {
    On,
    Off,
    Auto,
}

impl From<FlashAttn> for llamacpp::FlashAttn {
    fn from(f: FlashAttn) -> Self {
        match f {
            FlashAttn::On => llamacpp::FlashAttn::On,
            FlashAttn::Off => llamacpp::FlashAttn::Off,
            FlashAttn::Auto => llamacpp::FlashAttn::Auto,
        }
    }
}

impl FromStr for FlashAttn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on" => Ok(FlashAttn::On),
            "off" => Ok(FlashAttn::Off),
            "auto" => Ok(FlashAttn::Auto),
            other => Err(format!("fa={other}: expected on, off or auto")),
        }
    }
}

impl FlashAttn {
    pub const fn as_str(self) -> &'static str {
        match self {
            FlashAttn::On => "on",
            FlashAttn::Off => "off",
            FlashAttn::Auto => "auto",
        }
    }
}

/// `-ctk` / `-ctv`: the cache types llama-server takes (common/arg.cpp `kv_cache_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheType {
    F32,
    F16,
    Bf16,
    Q8_0,
    Q4_0,
    Q4_1,
    #[serde(rename = "iq4_nl")]
    Iq4Nl,
    Q5_0,
    Q5_1,
}

impl CacheType {
    pub const ALL: [CacheType; 9] = [
        CacheType::F32,
        CacheType::F16,
        CacheType::Bf16,
        CacheType::Q8_0,
        CacheType::Q4_0,
        CacheType::Q4_1,
        CacheType::Iq4Nl,
        CacheType::Q5_0,
        CacheType::Q5_1,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            CacheType::F32 => "f32",
            CacheType::F16 => "f16",
            CacheType::Bf16 => "bf16",
            CacheType::Q8_0 => "q8_0",
            CacheType::Q4_0 => "q4_0",
            CacheType::Q4_1 => "q4_1",
            CacheType::Iq4Nl => "iq4_nl",
            CacheType::Q5_0 => "q5_0",
            CacheType::Q5_1 => "q5_1",
        }
    }

    /// The estimator's KV precision, where it has one.
    pub fn kv_precision(self) -> Option<crate::spec::KvPrecision> {
        use crate::spec::KvPrecision as K;
        Some(match self {
            CacheType::F32 => K::F32,
            CacheType::F16 => K::F16,
            CacheType::Bf16 => K::Bf16,
            CacheType::Q8_0 => K::Q8_0,
            CacheType::Q4_0 => K::Q4_0,
            _ => return None,
        })
    }
}

impl FromStr for CacheType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CacheType::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            format!(
                "cache type `{s}` (llama.cpp takes {})",
                CacheType::ALL.map(CacheType::as_str).join(", ")
            )
        })
    }
}

/// One context: what `--setting` takes and what a record states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSettings {
    /// `-c`: total context (cells of the KV cache; slots share it)
    pub ctx_size: u64,
    /// `-b`
    pub batch_size: u64,
    /// `-ub`
    pub ubatch_size: u64,
    /// `-np`: slots (llama.cpp's n_seq_max); llama-server reserves this many logit rows
    pub parallel: u64,
    pub flash_attn: FlashAttn,
    pub cache_type_k: CacheType,
    pub cache_type_v: CacheType,
    /// `-kvu`: one KV stream shared by the slots (else one per slot)
    pub kv_unified: bool,
    /// `-ngl`: layers on the GPU (-1 all, 0 none)
    pub n_gpu_layers: i64,
    /// weight repacking into CPU_REPACK buffers (`--no-repack` turns it off)
    pub repack: bool,
    /// `--n-cpu-moe`: the routed experts of the first N blocks stay in host memory
    #[serde(default, skip_serializing_if = "crate::spec::model::is_zero")]
    pub n_cpu_moe: u64,
    /// `--n-cpu-ffn`: the dense feed-forward matrices of the first N blocks stay in host memory
    #[serde(default, skip_serializing_if = "crate::spec::model::is_zero")]
    pub n_cpu_ffn: u64,
    /// `--rpc`: offload to this many RPC servers running this CPU's backend (the probe serves them)
    /// instead of GPUs: how a CPU-only build splits a model over several devices; 0: none
    #[serde(default, skip_serializing_if = "crate::spec::model::is_zero")]
    pub rpc: u64,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            ctx_size: 4096,
            batch_size: 2048,
            ubatch_size: 512,
            parallel: 1,
            flash_attn: FlashAttn::Auto,
            cache_type_k: CacheType::F16,
            cache_type_v: CacheType::F16,
            kv_unified: false,
            n_gpu_layers: 0,
            repack: true,
            n_cpu_moe: 0,
            n_cpu_ffn: 0,
            rpc: 0,
        }
    }
}

/// `--setting ctx=32768,ubatch=2048,fa=off,parallel=4,ctk=q8_0,ctv=q8_0,batch=2048,kvu=on`: keys
/// not given keep llama-server's defaults.
impl FromStr for RunSettings {
    type Err = String;
    fn from_str(spec: &str) -> Result<Self, String> {
        let mut s = RunSettings::default();
        for kv in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = kv.split_once('=').ok_or_else(|| {
                format!("`{kv}`: expected key=value (ctx, batch, ubatch, parallel, fa, ctk, ctv, kvu)")
            })?;
            let count = || {
                crate::report::units::parse_tokens(v)
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("{k}={v}: expected a positive count"))
            };
            match k {
                "ctx" | "c" => s.ctx_size = count()?,
                "batch" | "b" => s.batch_size = count()?,
                "ubatch" | "ub" => s.ubatch_size = count()?,
                "parallel" | "np" => s.parallel = count()?,
                "fa" => s.flash_attn = v.parse()?,
                "ctk" => s.cache_type_k = v.parse()?,
                "ctv" => s.cache_type_v = v.parse()?,
                "kvu" => {
                    s.kv_unified = match v {
                        "on" | "1" | "true" => true,
                        "off" | "0" | "false" => false,
                        _ => return Err(format!("kvu={v}: expected on or off")),
                    }
                }
                other => {
                    return Err(format!(
                        "unknown setting `{other}` (ctx, batch, ubatch, parallel, fa, ctk, ctv, kvu)"
                    ))
                }
            }
        }
        s.check()?;
        Ok(s)
    }
}

impl RunSettings {
    /// What llama.cpp itself refuses at context creation.
    pub fn check(&self) -> Result<(), String> {
        let quantized_v = !matches!(self.cache_type_v, CacheType::F32 | CacheType::F16 | CacheType::Bf16);
        if quantized_v && self.flash_attn == FlashAttn::Off {
            return Err(format!(
                "ctv={}: llama.cpp needs flash attention for a quantized V cache",
                self.cache_type_v.as_str()
            ));
        }
        if self.parallel > self.ctx_size {
            return Err(format!("parallel={} exceeds ctx={}", self.parallel, self.ctx_size));
        }
        Ok(())
    }

    /// The probe's `--run` argument; n_outputs_max and swa_full as llama-server sets them (one
    /// logit row per slot; windowed caches not full size).
    pub fn probe_arg(&self) -> String {
        format!(
            "ctx={},batch={},ubatch={},parallel={},fa={},ctk={},ctv={},kvu={},outs={},swa=off",
            self.ctx_size,
            self.batch_size,
            self.ubatch_size,
            self.parallel,
            self.flash_attn.as_str(),
            self.cache_type_k.as_str(),
            self.cache_type_v.as_str(),
            if self.kv_unified { "on" } else { "off" },
            self.parallel
        )
    }

    /// The estimator's llama.cpp flags for these settings.
    pub fn flags(&self) -> llamacpp::Flags {
        llamacpp::Flags {
            batch_size: Some(self.batch_size),
            ubatch_size: Some(self.ubatch_size),
            flash_attn: Some(self.flash_attn.into()),
            cache_type_k: self.cache_type_k.kv_precision(),
            cache_type_v: self.cache_type_v.kv_precision(),
            // -1: every layer, llama.cpp's and the estimator's default
            n_gpu_layers: u64::try_from(self.n_gpu_layers).ok(),
            no_mmap: false,
            kv_unified: self.kv_unified,
            // the probe runs as llama-server sets the context: windowed caches not full size, one
            // logit row per slot (`probe_arg`)
            swa_full: false,
            entry: llamacpp::Entry::Server,
            // the probe places by -ngl, --n-cpu-moe and --n-cpu-ffn
            offload: OffloadFlags {
                n_cpu_moe: self.n_cpu_moe,
                n_cpu_ffn: self.n_cpu_ffn,
                ..OffloadFlags::default()
            },
        }
    }

    /// The `llama-server` command line with these settings.
    pub fn command(&self, model: &str) -> String {
        let mut c = format!(
            "llama-server -m {model} -c {} -b {} -ub {} -np {} -fa {} -ctk {} -ctv {} -ngl {}",
            self.ctx_size,
            self.batch_size,
            self.ubatch_size,
            self.parallel,
            self.flash_attn.as_str(),
            self.cache_type_k.as_str(),
            self.cache_type_v.as_str(),
            self.n_gpu_layers
        );
        if self.kv_unified {
            c.push_str(" -kvu");
        }
        if self.n_cpu_moe > 0 {
            c.push_str(&format!(" --n-cpu-moe {}", self.n_cpu_moe));
        }
        if self.n_cpu_ffn > 0 {
            c.push_str(&format!(" --n-cpu-ffn {}", self.n_cpu_ffn));
        }
        if !self.repack {
            c.push_str(" --no-repack");
        }
        if self.rpc > 0 {
            let servers: Vec<String> = (0..self.rpc).map(|i| format!("127.0.0.1:PORT{i}")).collect();
            c.push_str(&format!(" --rpc {}", servers.join(",")));
        }
        c
    }

    /// The part of a record name that tells settings apart.
    pub fn slug(&self) -> String {
        let mut s = format!(
            "ctx{}_ub{}_np{}_fa{}",
            self.ctx_size,
            self.ubatch_size,
            self.parallel,
            self.flash_attn.as_str()
        );
        if self.batch_size != 2048 {
            s.push_str(&format!("_b{}", self.batch_size));
        }
        if (self.cache_type_k, self.cache_type_v) != (CacheType::F16, CacheType::F16) {
            s.push_str(&format!(
                "_k{}_v{}",
                self.cache_type_k.as_str(),
                self.cache_type_v.as_str()
            ));
        }
        if self.kv_unified {
            s.push_str("_kvu");
        }
        if self.n_gpu_layers != 0 {
            s.push_str(&format!("_ngl{}", self.n_gpu_layers));
        }
        if self.n_cpu_moe > 0 {
            s.push_str(&format!("_ncmoe{}", self.n_cpu_moe));
        }
        if self.n_cpu_ffn > 0 {
            s.push_str(&format!("_ncffn{}", self.n_cpu_ffn));
        }
        match self.rpc {
            0 => {}
            1 => s.push_str("_rpc"),
            n => s.push_str(&format!("_rpc{n}")),
        }
        s
    }
}

impl fmt::Display for RunSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.slug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_with_server_defaults() {
        let s: RunSettings = "ctx=32k,ubatch=2048,fa=off,parallel=4,ctk=q8_0".parse().unwrap();
        assert_eq!(
            (s.ctx_size, s.ubatch_size, s.parallel, s.batch_size),
            (32768, 2048, 4, 2048)
        );
        assert_eq!(
            (s.flash_attn, s.cache_type_k, s.cache_type_v),
            (FlashAttn::Off, CacheType::Q8_0, CacheType::F16)
        );
        assert_eq!(s.slug(), "ctx32768_ub2048_np4_faoff_kq8_0_vf16");
        assert_eq!(
            s.probe_arg(),
            "ctx=32768,batch=2048,ubatch=2048,parallel=4,fa=off,ctk=q8_0,ctv=f16,kvu=off,outs=4,swa=off"
        );
        assert_eq!(
            s.command("m.gguf"),
            "llama-server -m m.gguf -c 32768 -b 2048 -ub 2048 -np 4 -fa off -ctk q8_0 -ctv f16 -ngl 0"
        );
    }

    #[test]
    fn a_split_over_an_rpc_device_is_named_and_spelled() {
        let s = RunSettings {
            n_gpu_layers: 99,
            n_cpu_moe: 30,
            rpc: 1,
            repack: false,
            ..RunSettings::default()
        };
        assert_eq!(s.slug(), "ctx4096_ub512_np1_faauto_ngl99_ncmoe30_rpc");
        assert!(s
            .command("m.gguf")
            .ends_with("-ngl 99 --n-cpu-moe 30 --no-repack --rpc 127.0.0.1:PORT0"));
        assert_eq!(s.flags().offload.n_cpu_moe, 30);
        let ffn = RunSettings {
            n_cpu_moe: 0,
            n_cpu_ffn: 14,
            ..s.clone()
        };
        assert!(ffn.slug().ends_with("_ngl99_ncffn14_rpc") && ffn.command("m").contains(" --n-cpu-ffn 14"));
        assert_eq!(ffn.flags().offload.n_cpu_ffn, 14);
        // a record written before these settings existed reads as neither
        let old: RunSettings = serde_json::from_value(serde_json::json!({
            "ctx_size": 4096, "batch_size": 2048, "ubatch_size": 512, "parallel": 1,
            "flash_attn": "on", "cache_type_k": "f16", "cache_type_v": "f16",
            "kv_unified": false, "n_gpu_layers": 0, "repack": false
        }))
        .unwrap();
        assert_eq!((old.n_cpu_moe, old.rpc), (0, 0));
        let two = RunSettings { rpc: 2, ..s };
        assert!(two.slug().ends_with("_ncmoe30_rpc2"));
    }

    #[test]
    fn what_llama_cpp_refuses_is_refused_here() {
        let e = "fa=off,ctv=q4_0".parse::<RunSettings>().unwrap_err();
        assert!(e.contains("flash attention"), "{e}");
        assert!("ctk=q3_k".parse::<RunSettings>().unwrap_err().contains("q3_k"));
        assert!("threads=4".parse::<RunSettings>().unwrap_err().contains("threads"));
        assert!("ctx=0".parse::<RunSettings>().is_err());
    }
}
