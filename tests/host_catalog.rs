//! The embedded host catalog (`hosts/*.yaml`): it loads, the peak bandwidths are transfer rate x bus
//! width exactly, every platform kind the offload estimate needs is there, and bad entries get an
//! error naming file, line and field.

use gpuplan::estimate::arch::check_declared;
use gpuplan::spec::host::{HostKind, HostSpec};
use gpuplan::spec::Catalog;

fn catalog() -> Catalog {
    Catalog::embedded(check_declared).expect("embedded catalog loads")
}

fn host(key: &str) -> HostSpec {
    catalog().host(key).unwrap_or_else(|e| panic!("lookup `{key}`: {e}"))
}

#[test]
fn every_kind_of_platform_is_there() {
    let c = catalog();
    for kind in [
        HostKind::Desktop,
        HostKind::Workstation,
        HostKind::Server,
        HostKind::Unified,
    ] {
        assert!(c.host_specs().any(|h| h.kind == kind), "no {kind:?} host");
    }
    assert!(c.host_specs().count() >= 15);
}

#[test]
fn peak_bandwidth_is_rate_times_width() {
    for (id, gbps) in [
        ("desktop-ddr4-3200", 51.2),
        ("desktop-ddr5-5600", 89.6),
        ("desktop-ddr5-6000", 96.0),
        ("threadripper-pro-7000wx", 332.8),
        ("epyc-7003", 204.8),
        ("epyc-9004", 460.8),
        ("epyc-9005", 576.0),
        ("xeon-e5-v4", 76.8),
        ("strix-halo", 256.0),
        // stated by the vendor where it rounds the arithmetic
        ("apple-m2-ultra", 800.0),
        ("dgx-spark", 273.0),
    ] {
        let h = host(id);
        assert!(
            (h.bandwidth_gbps() - gbps).abs() < 1e-9,
            "{id}: {} GB/s",
            h.bandwidth_gbps()
        );
    }
}

#[test]
fn aliases_and_names_resolve() {
    assert_eq!(host("am5").id, "desktop-ddr5-5600");
    assert_eq!(host("Genoa").id, "epyc-9004");
    let e = catalog().host("ddr5-9999").unwrap_err().to_string();
    assert!(e.contains("unknown host `ddr5-9999`"), "{e}");
}

#[test]
fn discrete_hosts_have_a_gpu_slot_and_unified_ones_none() {
    for h in catalog().host_specs() {
        assert_eq!(h.pcie.is_none(), h.kind == HostKind::Unified, "{}", h.id);
        let host = h.host();
        assert!(host.usable_bytes() < host.total_bytes, "{}", h.id);
        assert!(!h.sources.is_empty(), "{} has no source", h.id);
    }
}

fn host_err(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, text).unwrap();
    match catalog().host(path.to_str().unwrap()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string().replace(&path.display().to_string(), "bad.yaml"),
    }
}

const DDR5: &str = include_str!("../hosts/desktop-ddr5-6000.yaml");

#[test]
fn bad_entries_name_the_field() {
    let e = host_err(&DDR5.replace("usable_share: 0.9", "usable_share: 1.5"));
    assert!(e.contains("memory.usable_share") && e.contains("(0, 1]"), "{e}");
    let e = host_err(&DDR5.replace("  speed_mts: 6000\n", ""));
    assert!(e.contains("field `memory`") && e.contains("speed_mts"), "{e}");
    let e = host_err(&DDR5.replace("  generation: 5", "  generation: 7"));
    assert!(e.contains("pcie.generation"), "{e}");
    let e = host_err(&DDR5.replace("bus_width_bits: 128", "bus_width_bits: 128\n  bandwidth_gbps: 200"));
    assert!(e.contains("disagrees"), "{e}");
    let e = host_err(&DDR5.replace("kind: desktop", "kind: laptop"));
    assert!(e.starts_with("bad.yaml:3"), "{e}");
}
