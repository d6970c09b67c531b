//! llama.cpp's placement flags, typed: `-ngl`, `-ot`, `--cpu-moe`, `--n-cpu-moe` and the KV and op
//! offload switches (`common/arg.cpp`, `common/common.h`; docs/engines/offload.md).

use crate::spec::intern::Pool;
use regex::Regex;
use serde::{Serialize, Serializer};
use std::fmt;

/// `-ngl` / `--n-gpu-layers` as given: how many of the `n_layer + 1` units (blocks and the output
/// layer) go to the GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuLayers {
    /// `auto` (-1, the default) and `all` (-2): every unit (`--fit` may lower an unset count; gpuplan
    /// predicts explicit settings).
    All,
    Count(u64),
}

impl GpuLayers {
    /// Parses the flag's value as llama.cpp does (`auto`, `all`, a count; -1 and -2 are the codes of
    /// auto and all). Other negative counts are refused: they are not a split.
    pub fn parse(s: &str) -> Result<GpuLayers, String> {
        match s.trim() {
            "auto" | "all" | "-1" | "-2" => Ok(GpuLayers::All),
            t => match t.parse::<i64>() {
                Ok(n) if n >= 0 => Ok(GpuLayers::Count(n as u64)),
                Ok(n) => Err(format!(
                    "-ngl {n}: a negative layer count other than -1 (auto) and -2 (all) is not a split"
                )),
                Err(_) => Err(format!("-ngl `{s}`: give a layer count, `auto` or `all`")),
            },
        }
    }

    /// As llama.cpp's settings keep it: None = every unit.
    pub fn count(self) -> Option<u64> {
        match self {
            GpuLayers::All => None,
            GpuLayers::Count(n) => Some(n),
        }
    }
}

/// Where an override sends a tensor: the buffer type named after `=` in `-ot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `CPU`: host memory (the mapped file with mmap; otherwise pinned or plain host memory).
    Cpu,
    /// `CUDA<i>` (also `ROCm<i>`, `Vulkan<i>`, ...): GPU `i`.
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
            "unknown buffer type `{s}` (llama.cpp's names: CPU, CUDA0, CUDA1, ...; e.g. `-ot exps=CPU`)"
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

/// One `-ot PATTERN=BUFT` rule. llama.cpp matches with `std::regex_search` (a match anywhere in the
/// name); gpuplan uses Rust's `regex`, which has no look-around or back-references: such patterns
/// are refused with that reason.
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

impl fmt::Display for TensorOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.pattern, self.target)
    }
}

impl Serialize for TensorOverride {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
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
                    .rsplit_once('=')
                    .ok_or_else(|| format!("-ot `{item}`: expected PATTERN=BUFFER_TYPE, e.g. exps=CPU"))?;
                TensorOverride::new(pattern, Target::parse(buft)?)
            })
            .collect()
    }
}

/// Keeps an override list for the rest of the run. The planner copies engine flags by value
/// (`Setup` is `Copy`), so the rules a user typed live in one leaked slice, shared by every equal
/// list and bounded in number (`spec::intern`).
pub fn intern(rules: Vec<TensorOverride>) -> Result<&'static [TensorOverride], String> {
    static RULES: Pool<Vec<TensorOverride>> = Pool::new("-ot rule lists", 1024);
    if rules.is_empty() {
        Ok(&[])
    } else {
        RULES.intern(rules).map(Vec::as_slice)
    }
}

/// The placement flags of one llama.cpp run beyond `-ngl` and `--no-mmap` (which llama.cpp's own
/// settings carry).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct OffloadFlags {
    /// `-ot` rules in command-line order
    pub overrides: &'static [TensorOverride],
    /// `--cpu-moe`: every routed-expert tensor on the CPU
    pub cpu_moe: bool,
    /// `--n-cpu-moe N`: the routed experts of blocks 0..N on the CPU
    pub n_cpu_moe: u64,
    /// `--n-cpu-ffn N`: the dense FFN (`ffn_up`, `ffn_gate`, `ffn_down`) of blocks 0..N on the CPU
    pub n_cpu_ffn: u64,
    /// `--no-kv-offload`: every layer's KV cache on the CPU
    pub no_kv_offload: bool,
    /// `--no-op-offload`: host weights are never copied to the GPU for large batches
    pub no_op_offload: bool,
}

impl OffloadFlags {
    /// Whether any tensor override is in force (llama.cpp then turns pipeline parallelism off).
    pub fn has_overrides(&self) -> bool {
        !self.overrides.is_empty() || self.cpu_moe || self.n_cpu_moe > 0 || self.n_cpu_ffn > 0
    }

    /// Where the rules send one tensor: the `-ot` rules in order, then the rules `--cpu-moe`,
    /// `--n-cpu-moe` and `--n-cpu-ffn` add (`LLM_FFN_EXPS_REGEX` / `LLM_FFN_DENSE_REGEX`, one per
    /// block in `llm_add_n_cpu_ffn_overrides`), the first match deciding. llama.cpp keeps the rules in
    /// command-line order; gpuplan checks `-ot` first, which is the order its emitted commands use.
    /// `name` is the GGUF name, `routed` whether it is a stacked routed-expert tensor (what
    /// `LLM_FFN_EXPS_REGEX` matches: the `ffn_{up,down,gate,gate_up}_{,ch}exps` weights and biases),
    /// `block` its block.
    pub fn target(&self, name: &str, routed: bool, block: Option<u64>) -> Option<Target> {
        self.target_of(|| name.to_string(), routed, block)
    }

    /// [`Self::target`] with the name built only when a `-ot` rule needs it.
    pub fn target_of(&self, name: impl Fn() -> String, routed: bool, block: Option<u64>) -> Option<Target> {
        if !self.overrides.is_empty() {
            let name = name();
            if let Some(rule) = self.overrides.iter().find(|r| r.matches(&name)) {
                return Some(rule.target);
            }
        }
        let before = |n: u64| block.is_some_and(|il| il < n);
        let expert = routed && (self.cpu_moe || before(self.n_cpu_moe));
        // `\.ffn_(up|down|gate)\.`: the dense FFN, weights and biases
        let dense = before(self.n_cpu_ffn) && {
            let name = name();
            [".ffn_up.", ".ffn_down.", ".ffn_gate."]
                .iter()
                .any(|d| name.contains(d))
        };
        (expert || dense).then_some(Target::Cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `LLM_FFN_EXPS_REGEX` of common/common.h, which `--cpu-moe` and `--n-cpu-moe` use.
    const FFN_EXPS_REGEX: &str = r"\.ffn_(up|down|gate|gate_up)_(ch|)exps";

    #[test]
    fn ngl_values() {
        assert_eq!(GpuLayers::parse("auto"), Ok(GpuLayers::All));
        assert_eq!(GpuLayers::parse("-1"), Ok(GpuLayers::All));
        assert_eq!(GpuLayers::parse("all"), Ok(GpuLayers::All));
        assert_eq!(GpuLayers::parse("999"), Ok(GpuLayers::Count(999)));
        assert_eq!(GpuLayers::parse("0").map(GpuLayers::count), Ok(Some(0)));
        assert!(GpuLayers::parse("-7").unwrap_err().contains("negative"));
        assert!(GpuLayers::parse("many").is_err());
    }

    #[test]
    fn override_lists() {
        let rules = TensorOverride::parse_list(r"exps=CPU,blk\.1[4-9]\.ffn.*=CUDA1").unwrap();
        assert_eq!(rules.len(), 2);
        assert!(rules[0].matches("blk.3.ffn_up_exps.weight"));
        assert_eq!(rules[1].target, Target::Gpu(1));
        assert!(rules[1].matches("blk.15.ffn_norm.weight"));
        assert!(!rules[1].matches("blk.25.ffn_norm.weight"));
        assert_eq!(rules[1].to_string(), r"blk\.1[4-9]\.ffn.*=CUDA1");
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
        // the structural rule agrees with llama.cpp's regex on every name it could meet
        let exps = Regex::new(FFN_EXPS_REGEX).unwrap();
        let flags = OffloadFlags {
            n_cpu_moe: 2,
            ..OffloadFlags::default()
        };
        for il in 0..12u64 {
            for (base, routed) in [
                ("ffn_up_exps", true),
                ("ffn_gate_exps", true),
                ("ffn_down_exps", true),
                ("ffn_down_shexp", false),
                ("ffn_gate_inp", false),
                ("attn_q", false),
            ] {
                for suffix in ["weight", "bias"] {
                    let name = format!("blk.{il}.{base}.{suffix}");
                    // --n-cpu-moe 2 is one rule per block: blk\.0<exps>, blk\.1<exps>
                    let llama = (0..2).any(|i| {
                        Regex::new(&format!(r"blk\.{i}{FFN_EXPS_REGEX}"))
                            .unwrap()
                            .is_match(&name)
                    });
                    assert_eq!(flags.target(&name, routed, Some(il)).is_some(), llama, "{name}");
                    let all = OffloadFlags {
                        cpu_moe: true,
                        ..OffloadFlags::default()
                    };
                    assert_eq!(
                        all.target(&name, routed, Some(il)).is_some(),
                        exps.is_match(&name),
                        "{name}"
                    );
                }
            }
        }
        assert!(flags.has_overrides());
        assert!(!OffloadFlags::default().has_overrides());
    }

    #[test]
    fn explicit_rules_come_first() {
        let rules = intern(TensorOverride::parse_list(r"blk\.0\.ffn_up_exps=CUDA0").unwrap()).unwrap();
        let flags = OffloadFlags {
            overrides: rules,
            cpu_moe: true,
            ..OffloadFlags::default()
        };
        assert_eq!(
            flags.target("blk.0.ffn_up_exps.weight", true, Some(0)),
            Some(Target::Gpu(0))
        );
        assert_eq!(
            flags.target("blk.0.ffn_down_exps.weight", true, Some(0)),
            Some(Target::Cpu)
        );
        assert_eq!(flags.target("blk.0.attn_q.weight", false, Some(0)), None);
    }
}
