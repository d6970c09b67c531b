//! Host specs (`hosts/*.yaml`): the machine around the GPU. What a CPU+GPU offload needs from it:
//! system RAM (size and the share a model may use), the memory's theoretical peak bandwidth, and the
//! PCIe link to the GPU. gpuplan applies its own efficiency to the peak (`estimate::offload`).
//!
//! A [`Host`] is what the estimate sees: a catalog entry, `--host local` (read by `measure::host`),
//! or either one with `--host-memory` / `--host-bandwidth` applied.

use super::error::SpecError;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const GIB: u64 = 1 << 30;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    pub id: String,
    pub name: String,
    pub kind: HostKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    pub memory: HostMemory,
    /// The PCIe link of the GPU slot; absent on unified-memory machines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcie: Option<Pcie>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HostKind {
    Desktop,
    Workstation,
    Server,
    /// CPU and GPU share one memory (Apple M-series, AMD Strix Halo, NVIDIA GB10): there is no
    /// separate pool to offload to.
    Unified,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostMemory {
    /// `DDR4`, `DDR5`, `LPDDR5X`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Transfer rate, MT/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_mts: Option<u64>,
    /// Total data width of the populated channels, bits (64 per DDR4/DDR5 channel: dual channel = 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus_width_bits: Option<u64>,
    /// Theoretical peak, GB/s (decimal). Derived from speed x width when absent; given where the
    /// vendor states it (unified-memory machines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_gbps: Option<f64>,
    /// The usual installed size for this platform, GiB (`--host-memory` sets yours).
    pub size_gib: f64,
    /// Share of the installed RAM a model may occupy: the rest is firmware/kernel reservations and
    /// the operating system.
    pub usable_share: f64,
    /// Where `usable_share` comes from.
    pub usable_source: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pcie {
    /// PCIe generation of the slot (3, 4, 5; gen 6's FLIT encoding is not modeled).
    pub generation: u8,
    pub lanes: u8,
}

/// Peak bandwidth of `bits` of bus at `mts` MT/s, GB/s: MT/s x bytes per transfer / 1000.
pub fn peak_bandwidth_gbps(mts: u64, bits: u64) -> f64 {
    mts as f64 * (bits as f64 / 8.0) / 1000.0
}

impl Pcie {
    /// PCIe 4.0 x16, the catalog's most common card interface: what an unknown link is taken as.
    pub const COMMON: Pcie = Pcie {
        generation: 4,
        lanes: 16,
    };

    /// Per-direction payload bandwidth of the link, GB/s: 8 GT/s (gen 3) doubling each generation,
    /// 128b/130b line code (PCI-SIG base specifications 3.0-5.0).
    pub fn peak_gbps(&self) -> f64 {
        let gt_per_lane = 8.0 * f64::from(1u32 << (self.generation.saturating_sub(3)));
        gt_per_lane * 128.0 / 130.0 / 8.0 * f64::from(self.lanes)
    }

    /// The link a GPU and a slot negotiate: the lower generation and the narrower width.
    pub fn negotiated(self, other: Pcie) -> Pcie {
        Pcie {
            generation: self.generation.min(other.generation),
            lanes: self.lanes.min(other.lanes),
        }
    }

    /// The link between a host's slot and a card: the negotiated one when both are known, else the
    /// one that is; None when neither is.
    pub fn between(slot: Option<Pcie>, card: Option<Pcie>) -> Option<Pcie> {
        match (slot, card) {
            (Some(a), Some(b)) => Some(a.negotiated(b)),
            (a, b) => a.or(b),
        }
    }

    /// Reads "PCIe 4.0 x16" (the GPU catalog's `host_interface`).
    pub fn parse(s: &str) -> Option<Pcie> {
        let rest = s.trim().strip_prefix("PCIe")?.trim();
        let (gen, lanes) = rest.split_once(" x")?;
        let generation = gen.trim().split('.').next()?.parse().ok()?;
        let lanes = lanes.trim().parse().ok()?;
        (3..=5).contains(&generation).then_some(Pcie { generation, lanes })
    }
}

impl HostSpec {
    pub fn from_yaml(file: &Path, text: &str) -> Result<HostSpec, SpecError> {
        let spec: HostSpec = serde_yaml::from_str(text).map_err(|e| SpecError::from_yaml(file, e))?;
        spec.validate(file, text)?;
        Ok(spec)
    }

    pub fn validate(&self, file: &Path, text: &str) -> Result<(), SpecError> {
        let bad = |field: &str, msg: String| Err(SpecError::invalid(file, text, field, msg));
        if self.id.trim().is_empty() || self.id.contains(char::is_whitespace) {
            return bad("id", format!("`{}` must be a non-empty word without spaces", self.id));
        }
        let m = &self.memory;
        if !(m.size_gib.is_finite() && m.size_gib > 0.0) {
            return bad("memory.size_gib", "must be a positive number".into());
        }
        if !(m.usable_share > 0.0 && m.usable_share <= 1.0) {
            return bad("memory.usable_share", "must be in (0, 1]".into());
        }
        if m.usable_source.trim().is_empty() {
            return bad("memory.usable_source", "say where the usable share comes from".into());
        }
        match (m.speed_mts, m.bus_width_bits, m.bandwidth_gbps) {
            (Some(0), _, _) => return bad("memory.speed_mts", "must be positive".into()),
            (_, Some(0), _) => return bad("memory.bus_width_bits", "must be positive".into()),
            (_, _, Some(b)) if !(b.is_finite() && b > 0.0) => {
                return bad("memory.bandwidth_gbps", "must be a positive number".into())
            }
            (Some(s), Some(w), Some(b)) => {
                // a stated figure may round the derived one (Apple: 800 for 819.2), not contradict it
                let derived = peak_bandwidth_gbps(s, w);
                if (b - derived).abs() > 0.05 * derived {
                    return bad(
                        "memory.bandwidth_gbps",
                        format!("{b} GB/s disagrees with speed_mts x bus_width_bits ({derived:.1} GB/s)"),
                    );
                }
            }
            (Some(_), Some(_), None) | (_, _, Some(_)) => {}
            _ => return bad("memory", "give speed_mts and bus_width_bits, or bandwidth_gbps".into()),
        }
        match (self.kind, self.pcie) {
            (HostKind::Unified, Some(_)) => {
                return bad(
                    "pcie",
                    "a unified-memory machine has no GPU slot to offload over".into(),
                )
            }
            (HostKind::Unified, None) => {}
            (_, None) => return bad("pcie", "give the GPU slot's generation and lanes".into()),
            (_, Some(p)) => {
                if !(3..=5).contains(&p.generation) {
                    return bad("pcie.generation", "must be 3, 4 or 5".into());
                }
                if ![1, 2, 4, 8, 16].contains(&p.lanes) {
                    return bad("pcie.lanes", "must be 1, 2, 4, 8 or 16".into());
                }
            }
        }
        Ok(())
    }

    /// Theoretical peak bandwidth, GB/s.
    pub fn bandwidth_gbps(&self) -> f64 {
        let m = &self.memory;
        m.bandwidth_gbps
            .or_else(|| Some(peak_bandwidth_gbps(m.speed_mts?, m.bus_width_bits?)))
            .unwrap_or_default()
    }

    /// This entry as the estimate sees it, at its usual size.
    pub fn host(&self) -> Host {
        let total = (self.memory.size_gib * GIB as f64).round() as u64;
        Host {
            id: self.id.clone(),
            name: self.name.clone(),
            unified: self.kind == HostKind::Unified,
            total_bytes: total,
            usable: Usable::Share {
                share: self.memory.usable_share,
                source: self.memory.usable_source.clone(),
            },
            bandwidth: Bandwidth::Known {
                gbps: self.bandwidth_gbps(),
                source: BandwidthSource::Catalog,
            },
            pcie: self.pcie,
        }
    }
}

/// The host the estimate plans against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Host {
    pub id: String,
    pub name: String,
    pub unified: bool,
    /// Installed RAM (catalog, `--host-memory`) or MemTotal (`--host local`).
    pub total_bytes: u64,
    pub usable: Usable,
    pub bandwidth: Bandwidth,
    /// The GPU slot; None: unknown (the GPU's own interface is assumed) or unified memory.
    pub pcie: Option<Pcie>,
}

/// How much of the RAM a model may use.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Usable {
    /// A share of `total_bytes` (catalog entries and `--host-memory`).
    Share { share: f64, source: String },
    /// Measured: MemAvailable when `--host local` read /proc/meminfo.
    Measured { bytes: u64, source: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Bandwidth {
    Known {
        gbps: f64,
        source: BandwidthSource,
    },
    /// No figure: memory answers only, no speed. The reason is shown to the user.
    Unknown {
        why: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BandwidthSource {
    /// The host catalog entry (speed x bus width, or the vendor's figure).
    Catalog,
    /// `--host-bandwidth`.
    Flag,
    /// SMBIOS memory devices of this machine: configured speed x total data width.
    Smbios { detail: String },
}

impl Host {
    /// A host known only by its RAM size (`--host-memory` without `--host`): no bandwidth and no
    /// PCIe figure, unless `--host-bandwidth` gives one.
    pub fn from_memory(total_bytes: u64) -> Host {
        Host {
            id: "custom".into(),
            name: "custom host".into(),
            unified: false,
            total_bytes,
            usable: Usable::Share {
                share: DEFAULT_USABLE_SHARE,
                source: DEFAULT_USABLE_SOURCE.into(),
            },
            bandwidth: Bandwidth::Unknown {
                why: "no --host and no --host-bandwidth: give the memory's peak GB/s (e.g. --host-bandwidth 89.6 for DDR5-5600 dual channel) or a --host from `gpuplan hosts`".into(),
            },
            pcie: None,
        }
    }

    /// Bytes a model may occupy in this RAM.
    pub fn usable_bytes(&self) -> u64 {
        match &self.usable {
            Usable::Share { share, .. } => (self.total_bytes as f64 * share) as u64,
            Usable::Measured { bytes, .. } => (*bytes).min(self.total_bytes),
        }
    }

    pub fn bandwidth_gbps(&self) -> Option<f64> {
        match &self.bandwidth {
            Bandwidth::Known { gbps, .. } => Some(*gbps),
            Bandwidth::Unknown { .. } => None,
        }
    }

    /// `--host-memory`: a different installed size; a measured share scales with it.
    pub fn with_memory(mut self, total_bytes: u64) -> Host {
        if let Usable::Measured { bytes, .. } = &self.usable {
            let share = *bytes as f64 / self.total_bytes.max(1) as f64;
            self.usable = Usable::Share {
                share: share.clamp(f64::MIN_POSITIVE, 1.0),
                source: "the share MemAvailable/MemTotal measured on this machine".into(),
            };
        }
        self.total_bytes = total_bytes;
        self
    }

    /// `--host-bandwidth`.
    pub fn with_bandwidth(mut self, gbps: f64) -> Host {
        self.bandwidth = Bandwidth::Known {
            gbps,
            source: BandwidthSource::Flag,
        };
        self
    }
}

/// The usable share assumed for a host known only by its size: 2-3% of installed RAM is reserved by
/// firmware and the kernel (MemTotal < installed), and a headless Linux or a light desktop needs a
/// few GiB more; 0.9 leaves 6.4 GiB of 64 GiB. An assumption, not a measurement: `--host local`
/// measures MemAvailable instead.
pub const DEFAULT_USABLE_SHARE: f64 = 0.9;
pub const DEFAULT_USABLE_SOURCE: &str =
    "assumed 0.9: firmware/kernel reservations (2-3% of installed RAM) plus a few GiB for the OS";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_bandwidth_is_transfers_times_bus_bytes() {
        assert_eq!(peak_bandwidth_gbps(5600, 128), 89.6);
        assert_eq!(peak_bandwidth_gbps(4800, 768), 460.8);
        assert_eq!(peak_bandwidth_gbps(3200, 512), 204.8);
    }

    #[test]
    fn pcie_links() {
        let g4 = Pcie::parse("PCIe 4.0 x16").unwrap();
        assert_eq!(
            g4,
            Pcie {
                generation: 4,
                lanes: 16
            }
        );
        assert!((g4.peak_gbps() - 31.51).abs() < 0.01);
        let g5 = Pcie {
            generation: 5,
            lanes: 16,
        };
        assert_eq!(g5.negotiated(g4), g4);
        assert!(
            (Pcie {
                generation: 3,
                lanes: 8
            }
            .peak_gbps()
                - 7.88)
                .abs()
                < 0.01
        );
        assert_eq!(Pcie::parse("SXM5"), None);
        assert_eq!(Pcie::parse("PCIe 5.0 x8").map(|p| p.lanes), Some(8));
    }

    #[test]
    fn overrides_replace_size_and_bandwidth() {
        let h = Host::from_memory(64 * GIB);
        assert_eq!(h.bandwidth_gbps(), None);
        assert_eq!(h.usable_bytes(), (64.0 * GIB as f64 * 0.9) as u64);
        let h = h.with_bandwidth(89.6).with_memory(128 * GIB);
        assert_eq!(h.bandwidth_gbps(), Some(89.6));
        assert_eq!(h.total_bytes, 128 * GIB);
    }

    #[test]
    fn a_measured_share_scales_with_a_new_size() {
        let mut h = Host::from_memory(32 * GIB);
        h.usable = Usable::Measured {
            bytes: 24 * GIB,
            source: "MemAvailable".into(),
        };
        let h = h.with_memory(64 * GIB);
        assert_eq!(h.usable_bytes(), 48 * GIB);
    }
}
