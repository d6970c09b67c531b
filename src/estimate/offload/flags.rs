//! llama.cpp's placement flags, typed: `-ngl`, `-ot`, `--cpu-moe`, `--n-cpu-moe`, mmap and the KV
//! and op offload switches (`common/arg.cpp`, `common/common.h`; docs/engines/offload.md).

use regex::Regex;
use serde::{Serialize, Serializer};
use std::fmt;

/// `-ngl` / `--n-gpu-layers`: how many of the `n_layer + 1` units (blocks and the output layer) go
/// to the GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "layers")]
pub enum GpuLayers {
    /// `auto` (-1, the default): every unit, unless `--fit` lowers it.
    #[default]
    Auto,
    /// `all` (-2): every unit.
    All,
    Count(u32),
}

impl GpuLayers {
    /// Units offloaded for a model of `n_layer` blocks: llama.cpp clamps larger counts to
    /// `n_layer + 1` (`llama_model::n_gpu_layers`, `act_gpu_layers`).
    pub fn units(self, n_layer: u32) -> u32 {
        match self {
            GpuLayers::Auto | GpuLayers::All => n_layer + 1,
            GpuLayers::Count(n) => n.min(n_layer + 1),
        }
    }

    /// Parses the flag's value as llama.cpp does (`auto`, `all`, a count; -1 and -2 are the codes of
    /// auto and all). Other negative counts are refused: llama.cpp would read them as "all".
    pub fn parse(s: &str) -> Result<GpuLayers, String> {
        match s.trim() {
            "auto" | "-1" => Ok(GpuLayers::Auto),
            "all" | "-2" => Ok(GpuLayers::All),
            t => match t.parse::<i64>() {
                Ok(n) if (0..=u32::MAX as i64).contains(&n) => Ok(GpuLayers::Count(n as u32)),
                Ok(n) if n < 0 => Err(format!(
                    "-ngl {n}: a negative layer count other than -1 (auto) and -2 (all) is not a split; llama.cpp would offload everything, write `all`"
                )),
                _ => Err(format!("-ngl `{s}`: give a layer count, `auto` or `all`")),
            },
        }
    }
}

impl fmt::Display for GpuLayers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuLayers::Auto => write!(f, "auto"),
            GpuLayers::All => write!(f, "all"),
            GpuLayers::Count(n) => write!(f, "{n}"),
        }
    }
}

/// Where an override sends a tensor: the buffer type named after `=` in `-ot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "index")]
pub enum Target {
    /// `CPU`: host memory (with mmap, the mapped file; otherwise the GPU's pinned host type).
    Cpu,
    /// `CUDA<i>` (also `ROCm<i>`, `Vulkan<i>`): GPU `i`.
    Gpu(u32),
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("cpu") {
            return Ok(Target::Cpu);
        }
        for prefix in ["CUDA", "ROCm", "Vulkan", "MUSA", "SYCL"] {
            if let Some(i) = t.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok()) {
                return Ok(Target::Gpu(i));
            }
        }
        Err(format!(
            "unknown buffer type `{s}` (llama.cpp's names: CPU, CUDA0, CUDA1, ...; `-ot REGEX=CPU`)"
        ))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Cpu => write!(f, "CPU"),
            Target::Gpu(i) => write!(f, "CUDA{i}"),
        }
    }
}

/// One `-ot PATTERN=BUFT` rule. llama.cpp matches with `std::regex_search` (a match anywhere in
/// the name); gpuplan uses Rust's `regex`, which has no look-around or back-references: such
/// patterns are refused with that reason.
#[derive(Debug, Clone)]
pub struct TensorOverride {
    pub pattern: String,
    regex: Regex,
    pub target: Target,
}

impl PartialEq for TensorOverride {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern && self.target == other.target
    }
}

impl Serialize for TensorOverride {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}={}", self.pattern, self.target))
    }
}

impl TensorOverride {
    pub fn new(pattern: &str, target: Target) -> Result<TensorOverride, String> {
        let regex = Regex::new(pattern).map_err(|e| match e {
            regex::Error::Syntax(m) if m.contains("look-around") || m.contains("backreferences") => format!(
                "-ot `{pattern}`: look-around and back-references are not supported here (std::regex has them, Rust's regex does not); list the tensors instead"
            ),
            e => format!("-ot `{pattern}`: not a regular expression ({e})"),
        })?;
        Ok(TensorOverride {
            pattern: pattern.to_string(),
            regex,
            target,
        })
    }

    pub fn matches(&self, tensor: &str) -> bool {
        self.regex.is_match(tensor)
    }

    /// Parses `-ot`'s value: `PATTERN=BUFT[,PATTERN=BUFT...]` (`parse_tensor_buffer_overrides`).
    pub fn parse_list(value: &str) -> Result<Vec<TensorOverride>, String> {
        value
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|item| {
                let (pattern, buft) = item
                    .split_once('=')
                    .ok_or_else(|| format!("-ot `{item}`: expected PATTERN=BUFFER_TYPE, e.g. exps=CPU"))?;
                TensorOverride::new(pattern, Target::parse(buft)?)
            })
            .collect()
    }
}

/// `LLM_FFN_EXPS_REGEX` (`common/common.h`): every routed-expert tensor, weights and biases.
pub const FFN_EXPS_REGEX: &str = r"\.ffn_(up|down|gate|gate_up)_(ch|)exps";

/// The placement flags of one llama.cpp run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OffloadFlags {
    pub n_gpu_layers: GpuLayers,
    /// `-ot` rules in command-line order.
    pub overrides: Vec<TensorOverride>,
    /// `--cpu-moe`.
    pub cpu_moe: bool,
    /// `--n-cpu-moe N`.
    pub n_cpu_moe: u32,
    /// mmap (default on; `--no-mmap`, `--load-mode none`).
    pub mmap: bool,
    /// KV of GPU layers on the GPU (default on; `--no-kv-offload`).
    pub kv_offload: bool,
    /// Host weights copied to the GPU for batches of 32+ tokens (default on; `--no-op-offload`).
    pub op_offload: bool,
}

impl Default for OffloadFlags {
    fn default() -> Self {
        OffloadFlags {
            n_gpu_layers: GpuLayers::Auto,
            overrides: Vec::new(),
            cpu_moe: false,
            n_cpu_moe: 0,
            mmap: true,
            kv_offload: true,
            op_offload: true,
        }
    }
}

impl OffloadFlags {
    /// The override list llama.cpp ends up with: `-ot` rules first, then the rules `--cpu-moe`
    /// and `--n-cpu-moe` append (one per block, `llm_add_n_cpu_ffn_overrides`). The first
    /// matching rule decides, so `-ot` rules given before those flags win, as llama.cpp says.
    pub fn rules(&self) -> Vec<TensorOverride> {
        let mut rules = self.overrides.clone();
        if self.cpu_moe {
            rules.push(TensorOverride::new(FFN_EXPS_REGEX, Target::Cpu).expect("constant regex"));
        }
        for i in 0..self.n_cpu_moe {
            let pattern = format!(r"blk\.{i}{FFN_EXPS_REGEX}");
            rules.push(TensorOverride::new(&pattern, Target::Cpu).expect("constant regex"));
        }
        rules
    }

    /// Whether any tensor override is in force (llama.cpp then turns pipeline parallelism off).
    pub fn has_overrides(&self) -> bool {
        !self.overrides.is_empty() || self.cpu_moe || self.n_cpu_moe > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngl_values() {
        assert_eq!(GpuLayers::parse("auto"), Ok(GpuLayers::Auto));
        assert_eq!(GpuLayers::parse("-1"), Ok(GpuLayers::Auto));
        assert_eq!(GpuLayers::parse("all"), Ok(GpuLayers::All));
        assert_eq!(GpuLayers::parse("999"), Ok(GpuLayers::Count(999)));
        assert!(GpuLayers::parse("-7").unwrap_err().contains("negative"));
        assert!(GpuLayers::parse("many").is_err());
        assert_eq!(GpuLayers::Count(999).units(36), 37);
        assert_eq!(GpuLayers::Count(20).units(36), 20);
        assert_eq!(GpuLayers::Auto.units(36), 37);
    }

    #[test]
    fn override_lists() {
        let rules = TensorOverride::parse_list(r"exps=CPU,blk\.1[4-9]\.ffn.*=CUDA1").unwrap();
        assert_eq!(rules.len(), 2);
        assert!(rules[0].matches("blk.3.ffn_up_exps.weight"));
        assert_eq!(rules[1].target, Target::Gpu(1));
        assert!(rules[1].matches("blk.15.ffn_norm.weight"));
        assert!(!rules[1].matches("blk.25.ffn_norm.weight"));
        assert!(TensorOverride::parse_list("exps")
            .unwrap_err()
            .contains("PATTERN=BUFFER_TYPE"));
        assert!(TensorOverride::parse_list("exps=GPU")
            .unwrap_err()
            .contains("unknown buffer type"));
        assert!(TensorOverride::parse_list(r"^(?!blk)=CPU")
            .unwrap_err()
            .contains("look-around"));
    }

    #[test]
    fn cpu_moe_rules_are_llama_cpps() {
        let flags = OffloadFlags {
            n_cpu_moe: 2,
            ..OffloadFlags::default()
        };
        let rules = flags.rules();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].pattern, r"blk\.1\.ffn_(up|down|gate|gate_up)_(ch|)exps");
        // block 1's rule does not catch block 10 or 11
        assert!(rules[1].matches("blk.1.ffn_down_exps.weight"));
        assert!(rules[1].matches("blk.1.ffn_gate_up_exps.bias"));
        assert!(!rules.iter().any(|r| r.matches("blk.10.ffn_down_exps.weight")));
        assert!(!rules.iter().any(|r| r.matches("blk.1.ffn_down_shexp.weight")));
        let all = OffloadFlags {
            cpu_moe: true,
            ..OffloadFlags::default()
        };
        assert!(all.rules()[0].matches("blk.35.ffn_up_exps.weight"));
        assert!(all.has_overrides());
        assert!(!OffloadFlags::default().has_overrides());
    }
}
