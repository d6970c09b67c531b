//! `--host local`: this machine's RAM as the offload estimate needs it.
//!
//! - size and what is free: `/proc/meminfo` (MemTotal; MemAvailable, the kernel's own estimate of
//!   what can be allocated without swapping, https://www.kernel.org/doc/html/latest/filesystems/proc.html)
//! - speed and width: the SMBIOS "Memory Device" (type 17) records the firmware publishes under
//!   `/sys/firmware/dmi/entries/17-*/raw` (root only on most distributions). Peak bandwidth = the
//!   configured speed x the data width of the channels in use, counting one channel per populated
//!   DIMM unless the locator strings name the channels (two DIMMs on one channel would otherwise be
//!   counted twice). Layout per DMTF SMBIOS 3.7 (DSP0134) section 7.18.
//!
//! When the speed cannot be read (no SMBIOS in a VM or container, no root), the host has memory
//! figures and no bandwidth, and says why: memory answers still come, speeds do not.

use crate::spec::host::{Bandwidth, BandwidthSource, Host, Usable};
use std::collections::BTreeSet;
use std::path::Path;

/// What `/proc/meminfo` says, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemInfo {
    pub total: u64,
    pub available: u64,
}

/// Reads MemTotal and MemAvailable (kB in the file).
pub fn parse_meminfo(text: &str) -> Option<MemInfo> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some(MemInfo {
        total: field("MemTotal")?,
        available: field("MemAvailable")?,
    })
}

/// One populated memory device from SMBIOS type 17.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimm {
    /// data width, bits (64 for a DDR4/DDR5 DIMM)
    pub data_width_bits: u64,
    /// configured speed, MT/s (the rated speed when no configured speed is given)
    pub speed_mts: u64,
    /// "DDR5", "DDR4", ... (None: a type this reader does not name)
    pub kind: Option<&'static str>,
    pub locator: String,
    pub size_bytes: u64,
}

/// Parses one raw SMBIOS structure (formatted area + string set). None: not type 17, not
/// populated, or too short to hold a speed.
pub fn parse_type17(raw: &[u8]) -> Option<Dimm> {
    let len = *raw.get(1)? as usize;
    if raw.first() != Some(&17) || len < 0x17 || raw.len() < len {
        return None;
    }
    let word = |o: usize| (o + 2 <= len).then(|| u16::from_le_bytes([raw[o], raw[o + 1]]));
    let dword = |o: usize| (o + 4 <= len).then(|| u32::from_le_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]]));
    let size_bytes = match word(0x0C)? {
        0 | 0xFFFF => return None,
        0x7FFF => u64::from(dword(0x1C)? & 0x7FFF_FFFF) << 20,
        s if s & 0x8000 != 0 => u64::from(s & 0x7FFF) << 10,
        s => u64::from(s) << 20,
    };
    let data_width_bits = match word(0x0A)? {
        0 | 0xFFFF => return None,
        w => u64::from(w),
    };
    // configured speed (2.7+), its extended form (3.3+) when it reads 0xFFFF, else the rated speed
    let speed = |base: usize, ext: usize| match word(base) {
        Some(0xFFFF) => dword(ext).map(|v| u64::from(v & 0x7FFF_FFFF)),
        Some(0) | None => None,
        Some(v) => Some(u64::from(v)),
    };
    let speed_mts = speed(0x20, 0x58).or_else(|| speed(0x15, 0x54))?;
    let kind = match raw.get(0x12)? {
        0x12 => Some("DDR"),
        0x13 => Some("DDR2"),
        0x18 => Some("DDR3"),
        0x1A => Some("DDR4"),
        0x1B => Some("LPDDR"),
        0x1C => Some("LPDDR2"),
        0x1D => Some("LPDDR3"),
        0x1E => Some("LPDDR4"),
        0x22 => Some("DDR5"),
        0x23 => Some("LPDDR5"),
        _ => None,
    };
    let locator = smbios_string(raw, len, *raw.get(0x10)?).unwrap_or_default();
    Some(Dimm {
        data_width_bits,
        speed_mts,
        kind,
        locator,
        size_bytes,
    })
}

/// The n-th (1-based) string of the structure's string set.
fn smbios_string(raw: &[u8], formatted_len: usize, n: u8) -> Option<String> {
    if n == 0 {
        return None;
    }
    raw.get(formatted_len..)?
        .split(|&b| b == 0)
        .nth(usize::from(n) - 1)
        .map(|s| String::from_utf8_lossy(s).trim().to_string())
}

/// Peak bandwidth of the populated DIMMs, GB/s, and how it was counted.
pub fn dimm_bandwidth(dimms: &[Dimm]) -> Option<(f64, String)> {
    let first = dimms.first()?;
    // the bus runs at the slowest DIMM's configured speed
    let speed = dimms.iter().map(|d| d.speed_mts).min()?;
    let width = first.data_width_bits;
    let channels: BTreeSet<String> = dimms.iter().filter_map(|d| channel_of(&d.locator)).collect();
    let (n, how) = if !channels.is_empty() && dimms.iter().all(|d| channel_of(&d.locator).is_some()) {
        (channels.len() as u64, "channels named by the DIMM locators")
    } else {
        (
            dimms.len() as u64,
            "one channel per populated DIMM (assumed: no channel names in the locators)",
        )
    };
    let gbps = crate::spec::host::peak_bandwidth_gbps(speed, n * width);
    let kind = first.kind.unwrap_or("memory");
    Some((
        gbps,
        format!(
            "SMBIOS: {} DIMMs of {kind} at {speed} MT/s, {n} x {width}-bit ({how})",
            dimms.len()
        ),
    ))
}

/// "CHANNEL A" / "ChannelB-DIMM0" / "P0 CHANNEL C" -> "A", "B", "C".
fn channel_of(locator: &str) -> Option<String> {
    let upper = locator.to_ascii_uppercase();
    let at = upper.find("CHANNEL")? + "CHANNEL".len();
    let id: String = upper[at..]
        .trim_start_matches([' ', '_', '-'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    // "CHANNELA" style names run into the DIMM number: keep the first character only
    id.chars().next().map(|c| c.to_string())
}

/// This machine as a host: /proc/meminfo for the size, SMBIOS for the speed when readable.
pub fn local() -> Result<Host, String> {
    let text = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| format!("--host local: cannot read /proc/meminfo ({e}); give --host-memory instead"))?;
    let mem = parse_meminfo(&text).ok_or("--host local: /proc/meminfo has no MemTotal/MemAvailable")?;
    let bandwidth = match read_dimms(Path::new("/sys/firmware/dmi/entries")) {
        Ok(dimms) => match dimm_bandwidth(&dimms) {
            Some((gbps, detail)) => Bandwidth::Known {
                gbps,
                source: BandwidthSource::Smbios { detail },
            },
            None => Bandwidth::Unknown {
                why: "SMBIOS lists no populated memory device with a speed; give --host-bandwidth".into(),
            },
        },
        Err(why) => Bandwidth::Unknown { why },
    };
    Ok(Host {
        id: "local".into(),
        name: "this machine".into(),
        unified: false,
        total_bytes: mem.total,
        usable: Usable::Measured {
            bytes: mem.available,
            source: "MemAvailable in /proc/meminfo, read now".into(),
        },
        bandwidth,
        pcie: None,
    })
}

fn read_dimms(dir: &Path) -> Result<Vec<Dimm>, String> {
    let unreadable = |e: std::io::Error| {
        format!(
            "the memory speed is unknown: {} is not readable ({e}; a VM or container exposes no SMBIOS, and it needs root); give --host-bandwidth (GB/s peak, e.g. 89.6 for DDR5-5600 dual channel)",
            dir.display()
        )
    };
    let mut dimms = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        let is_type17 = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("17-"));
        if !is_type17 {
            continue;
        }
        let raw = std::fs::read(path.join("raw")).map_err(unreadable)?;
        dimms.extend(parse_type17(&raw));
    }
    Ok(dimms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_in_bytes() {
        let m =
            parse_meminfo("MemTotal:       24683664 kB\nMemFree:        19176536 kB\nMemAvailable:   23255864 kB\n")
                .unwrap();
        assert_eq!(m.total, 24_683_664 * 1024);
        assert_eq!(m.available, 23_255_864 * 1024);
        assert_eq!(parse_meminfo("MemFree: 1 kB\n"), None);
    }

    /// A type 17 structure as SMBIOS 3.x firmware writes it: 32 GiB DDR5 DIMM, 64-bit data width,
    /// rated 6400, configured 6000 MT/s, locator "CHANNEL A DIMM 1".
    fn ddr5_dimm(locator: &str, configured: u16) -> Vec<u8> {
        let len = 0x28usize;
        let mut raw = vec![0u8; len];
        raw[0] = 17;
        raw[1] = len as u8;
        raw[0x08..0x0A].copy_from_slice(&64u16.to_le_bytes());
        raw[0x0A..0x0C].copy_from_slice(&64u16.to_le_bytes());
        raw[0x0C..0x0E].copy_from_slice(&0x7FFFu16.to_le_bytes());
        raw[0x1C..0x20].copy_from_slice(&32768u32.to_le_bytes());
        raw[0x10] = 1; // locator: string 1
        raw[0x12] = 0x22;
        raw[0x15..0x17].copy_from_slice(&6400u16.to_le_bytes());
        raw[0x20..0x22].copy_from_slice(&configured.to_le_bytes());
        raw.extend_from_slice(locator.as_bytes());
        raw.extend_from_slice(&[0, 0]);
        raw
    }

    #[test]
    fn type17_reads_size_width_speed_and_locator() {
        let d = parse_type17(&ddr5_dimm("CHANNEL A DIMM 1", 6000)).unwrap();
        assert_eq!(d.size_bytes, 32 << 30);
        assert_eq!(d.data_width_bits, 64);
        assert_eq!(d.speed_mts, 6000);
        assert_eq!(d.kind, Some("DDR5"));
        assert_eq!(d.locator, "CHANNEL A DIMM 1");
        // no configured speed: the rated one
        assert_eq!(parse_type17(&ddr5_dimm("X", 0)).unwrap().speed_mts, 6400);
        // empty slot
        let mut empty = ddr5_dimm("X", 6000);
        empty[0x0C..0x0E].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(parse_type17(&empty), None);
        assert_eq!(parse_type17(&[17, 4, 0, 0]), None);
    }

    #[test]
    fn channels_come_from_locators_when_named() {
        let dimm = |loc: &str| parse_type17(&ddr5_dimm(loc, 6000)).unwrap();
        // four DIMMs on two channels: 2 x 64 bits, not 4
        let four = [
            dimm("CHANNEL A DIMM 0"),
            dimm("CHANNEL A DIMM 1"),
            dimm("CHANNEL B DIMM 0"),
            dimm("CHANNEL B DIMM 1"),
        ];
        let (gbps, how) = dimm_bandwidth(&four).unwrap();
        assert_eq!(gbps, 96.0);
        assert!(how.contains("2 x 64-bit"), "{how}");
        // unnamed: one channel per DIMM, said so
        let (gbps, how) = dimm_bandwidth(&[dimm("DIMM1"), dimm("DIMM2")]).unwrap();
        assert_eq!(gbps, 96.0);
        assert!(how.contains("assumed"), "{how}");
        assert_eq!(channel_of("ChannelB-DIMM0").as_deref(), Some("B"));
        assert_eq!(dimm_bandwidth(&[]), None);
    }
}
