//! The embedded GPU catalog (`gpus/*.yaml`): it loads, its names are unambiguous, and the memory
//! totals are the exact nvidia-smi / rocm-smi numbers from docs/reference/measured.md.

use std::collections::HashMap;

use gpuplan::estimate::arch;
use gpuplan::spec::gpu::{Ecc, GpuSpec, Vendor};
use gpuplan::spec::Catalog;

fn catalog() -> Catalog {
    Catalog::embedded(arch::check_declared).expect("embedded catalog loads")
}

fn gpus() -> Vec<GpuSpec> {
    catalog().gpu_specs().cloned().collect()
}

fn gpu(key: &str) -> GpuSpec {
    catalog().gpu(key).unwrap_or_else(|e| panic!("lookup `{key}`: {e}"))
}

/// GPUs whose price no source reached gives with a date; each must say so in its notes.
const NO_SOURCED_PRICE: [&str; 19] = [
    "a100-40gb-pcie",
    "mi250x",
    "a800",
    "b300",
    "dgx-spark",
    "gb200",
    "gb300",
    "h20",
    "h800",
    "jetson-agx-thor",
    "l20",
    "mi325x",
    "mi355x",
    "rtx-5060-ti-16gb",
    "rtx-5070-ti",
    "rtx-5080",
    "rtx-pro-4500",
    "rtx-pro-5000",
    "rtx-pro-6000-server",
];

#[test]
fn catalog_has_at_least_45_gpus_including_the_required_ones() {
    let all = gpus();
    assert!(all.len() >= 45, "only {} GPUs", all.len());
    for id in [
        "rtx-3060-12gb",
        "rtx-3090",
        "rtx-3090-ti",
        "rtx-4060-ti-16gb",
        "rtx-4070-ti-super",
        "rtx-4080",
        "rtx-4090",
        "rtx-5090",
        "rtx-a6000",
        "rtx-6000-ada",
        "rtx-pro-6000",
        "l4",
        "l40s",
        "a10",
        "a10g",
        "t4",
        "v100-sxm2-16gb",
        "v100-pcie-32gb",
        "a100-40gb-sxm",
        "a100-40gb-pcie",
        "a100-80gb-sxm",
        "a100-80gb-pcie",
        "h100-pcie",
        "h100-sxm",
        "h100-nvl",
        "h200",
        "gh200",
        "b200",
        "mi250x",
        "mi300x",
        "b300",
        "gb200",
        "gb300",
        "h20",
        "h800",
        "a800",
        "l20",
        "mi325x",
        "mi355x",
        "rtx-5060-ti-16gb",
        "rtx-5070-ti",
        "rtx-5080",
        "rtx-pro-4500",
        "rtx-pro-5000",
        "rtx-pro-6000-server",
        "dgx-spark",
        "jetson-agx-thor",
    ] {
        assert!(all.iter().any(|g| g.id == id), "{id} missing from the catalog");
    }
}

#[test]
fn ids_are_short_lowercase_hyphenated() {
    for g in gpus() {
        let ok = !g.id.is_empty()
            && g.id.len() <= 24
            && g.id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !g.id.starts_with('-')
            && !g.id.ends_with('-');
        assert!(ok, "id `{}` is not short, lowercase and hyphenated", g.id);
    }
}

/// Every key `Catalog::gpu` matches (id, display name, aliases, NVML names) belongs to one GPU only,
/// so a lookup never depends on file order.
#[test]
fn ids_names_aliases_and_nvml_names_are_unique() {
    let mut owner: HashMap<String, String> = HashMap::new();
    for g in gpus() {
        let keys = std::iter::once(&g.id)
            .chain(std::iter::once(&g.name))
            .chain(&g.aliases)
            .chain(&g.nvml_names);
        let mut own: Vec<String> = keys.map(|k| k.to_ascii_lowercase()).collect();
        own.sort();
        own.dedup();
        for k in own {
            if let Some(prev) = owner.insert(k.clone(), g.id.clone()) {
                panic!("`{k}` names both {prev} and {}", g.id);
            }
        }
    }
}

/// Exact totals as nvidia-smi (or rocm-smi / HIP for AMD) prints them; see measured.md section 1.
#[test]
fn reported_totals_match_measured_values_exactly() {
    for (key, mib) in [
        ("NVIDIA H100 80GB HBM3", 81_559),
        ("NVIDIA H100 PCIe", 81_559),
        ("NVIDIA H100 NVL", 95_830),
        ("NVIDIA H200", 143_771),
        ("NVIDIA GH200 480GB", 97_871),
        ("NVIDIA B200", 183_359),
        ("NVIDIA A100-SXM4-80GB", 81_920),
        ("NVIDIA A100 80GB PCIe", 81_920),
        ("NVIDIA A100-SXM4-40GB", 40_960),
        ("NVIDIA A100-PCIE-40GB", 40_960),
        ("NVIDIA L4", 23_034),
        ("NVIDIA L40S", 46_068),
        ("NVIDIA A10", 23_028),
        ("NVIDIA A10G", 23_028),
        ("Tesla T4", 15_360),
        ("Tesla V100-SXM2-16GB", 16_160),
        ("Tesla V100-PCIE-32GB", 32_768),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 97_887),
        ("NVIDIA RTX A6000", 49_140),
        ("NVIDIA RTX 6000 Ada Generation", 49_140),
        ("NVIDIA GeForce RTX 5090", 32_607),
        ("NVIDIA GeForce RTX 4090", 24_564),
        ("NVIDIA GeForce RTX 4080", 16_376),
        ("NVIDIA GeForce RTX 4070 Ti SUPER", 16_376),
        ("NVIDIA GeForce RTX 4060 Ti", 16_380),
        ("NVIDIA GeForce RTX 3090 Ti", 24_564),
        ("NVIDIA GeForce RTX 3090", 24_576),
        ("NVIDIA GeForce RTX 3060", 12_288),
        ("mi300x", 196_288),
        ("mi250x", 65_520),
        // nvidia-smi lines quoted in each entry's sources
        ("NVIDIA B300 SXM6 AC", 275_040),
        ("NVIDIA GB200", 189_471),
        ("NVIDIA GB300", 284_208),
        ("NVIDIA H20", 97_871),
        ("NVIDIA H800", 81_559),
        ("NVIDIA A800-SXM4-80GB", 81_920),
        ("NVIDIA L20", 46_068),
        ("NVIDIA GeForce RTX 5060 Ti", 16_311),
        ("NVIDIA GeForce RTX 5070 Ti", 16_303),
        ("NVIDIA GeForce RTX 5080", 16_303),
        ("NVIDIA RTX PRO 6000 Blackwell Server Edition", 97_887),
        // /proc/meminfo MemTotal 127,600,748 kB: nvidia-smi prints no total on GB10
        ("NVIDIA GB10", 124_610),
    ] {
        assert_eq!(gpu(key).memory.reported_mib, mib, "{key}");
    }
    // rocm-smi prints bytes: 205,822,885,888 B is exactly 196,288 MiB.
    assert_eq!(gpu("mi300x").reported_bytes(), 205_822_885_888);
}

/// `cuda_visible_mib` is set only where a CUDA/HIP-visible total was measured (measured.md).
#[test]
fn cuda_visible_totals_are_the_measured_ones_and_only_those() {
    let measured = [
        ("h100-sxm", 81_121),
        ("rtx-4080", 16_072),
        ("v100-sxm2-16gb", 16_130),
        ("mi300x", 196_288),
        ("mi250x", 65_520),
    ];
    for g in gpus() {
        let want = measured.iter().find(|(id, _)| *id == g.id).map(|(_, mib)| *mib);
        assert_eq!(g.memory.cuda_visible_mib, want, "{}", g.id);
    }
}

#[test]
fn ecc_state_follows_the_memory_kind() {
    for g in gpus() {
        if g.memory.kind.starts_with("HBM") {
            assert_eq!(
                g.memory.ecc,
                Ecc::None,
                "{}: HBM ECC is inline and costs no capacity",
                g.id
            );
        }
    }
    for id in ["l4", "l40s", "a10", "a10g", "t4"] {
        assert_eq!(gpu(id).memory.ecc, Ecc::On, "{id} ships with ECC on");
    }
    for id in ["rtx-a6000", "rtx-6000-ada", "rtx-pro-6000", "rtx-4090", "rtx-3090-ti"] {
        assert_eq!(gpu(id).memory.ecc, Ecc::Off, "{id} has ECC available but off");
    }
    // measured.md: switching ECC on costs 1/16 (24564 -> 23028, 49140 -> 46068).
    assert_eq!(gpu("rtx-4090").memory.reported_mib * 15 / 16, 23_028);
    assert_eq!(gpu("rtx-a6000").memory.reported_mib * 15 / 16, 46_068);
}

#[test]
fn amd_boards_carry_no_nvml_names() {
    for g in gpus().into_iter().filter(|g| g.vendor == Vendor::Amd) {
        assert!(g.nvml_names.is_empty(), "{} lists NVML names", g.id);
    }
}

fn is_iso_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    let num = |p: &str, len: usize| {
        if p.len() == len {
            p.parse::<u32>().ok()
        } else {
            None
        }
    };
    match (num(y, 4), num(m, 2), num(d, 2)) {
        (Some(y), Some(m), Some(d)) => y >= 2000 && (1..=12).contains(&m) && (1..=31).contains(&d),
        _ => false,
    }
}

#[test]
fn every_gpu_has_a_dated_sourced_price_or_says_why_not() {
    for g in gpus() {
        assert!(!g.sources.is_empty(), "{} has no sources", g.id);
        match &g.price {
            Some(p) => {
                assert!(
                    is_iso_date(&p.date),
                    "{}: price date `{}` is not YYYY-MM-DD",
                    g.id,
                    p.date
                );
                assert!(p.source.len() > 10, "{}: price source `{}`", g.id, p.source);
                assert!(
                    !NO_SOURCED_PRICE.contains(&g.id.as_str()),
                    "{} has a price now: update the list",
                    g.id
                );
            }
            None => {
                assert!(NO_SOURCED_PRICE.contains(&g.id.as_str()), "{} has no price", g.id);
                let notes = g.notes.as_deref().unwrap_or_default();
                assert!(
                    notes.contains("price: unknown"),
                    "{}: notes must say why the price is missing",
                    g.id
                );
            }
        }
    }
}

#[test]
fn lookups_by_nvml_name_alias_and_any_case() {
    for (key, id) in [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("nvidia h100 80gb hbm3", "h100-sxm"),
        ("h100", "h100-sxm"),
        ("A100-SXM4-40GB", "a100-40gb-sxm"),
        ("NVIDIA A100-PCIE-40GB", "a100-40gb-pcie"),
        ("a100", "a100-80gb-sxm"),
        ("NVIDIA A100 80GB PCIe", "a100-80gb-pcie"),
        ("4090", "rtx-4090"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("Tesla T4", "t4"),
        ("NVIDIA GH200 120GB", "gh200"),
        ("  NVIDIA L4 ", "l4"),
        ("v100", "v100-sxm2-16gb"),
        ("AMD Instinct MI300X VF", "mi300x"),
        ("AMD Instinct MI250X", "mi250x"),
    ] {
        assert_eq!(gpu(key).id, id, "lookup `{key}`");
    }
    assert!(
        catalog().gpu("NVIDIA GeForce RTX 4090 Laptop GPU").is_err(),
        "a laptop part must not match"
    );
    for (key, id) in [
        ("NVIDIA GB10", "dgx-spark"),
        ("gb10", "dgx-spark"),
        ("NVIDIA Thor", "jetson-agx-thor"),
        ("NVIDIA B300 SXM6 AC", "b300"),
        ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "rtx-pro-6000-server"),
    ] {
        assert_eq!(gpu(key).id, id, "lookup `{key}`");
    }
}

/// Every interconnect uses the per-direction figures of stas00/ml-engineering network/README.md; the
/// export parts (H800, A800) have 400 GB/s NVLink, 200 per direction. Single-package unified-memory
/// machines (DGX Spark, Jetson Thor) have no GPU-to-GPU link.
#[test]
fn interconnect_bandwidths_are_per_direction_figures() {
    for g in gpus() {
        let shared_pool = g.memory.unified.as_ref().is_some_and(|u| u.shared_pool);
        let Some(ic) = g.interconnect.as_ref() else {
            assert!(shared_pool, "{} has no interconnect", g.id);
            continue;
        };
        let expected = match ic.kind.as_str() {
            "nvlink2" => 150.0,
            "nvlink3" => 300.0,
            "nvlink4" => 450.0,
            "nvlink5" => 900.0,
            "nvlink3-export" | "nvlink4-export" => 200.0,
            "pcie5-x8" => 31.5,
            "pcie3" => 15.75,
            "pcie4" => 31.0,
            "pcie4-x8" => 15.5,
            "pcie5" => 63.0,
            "xgmi" if ["mi300x", "mi325x", "mi355x"].contains(&g.id.as_str()) => 448.0,
            "xgmi" if g.id == "mi250x" => 350.0,
            other => panic!("{}: unexpected interconnect kind `{other}`", g.id),
        };
        assert_eq!(ic.bandwidth_gbps, expected, "{}", g.id);
    }
}

/// Unified memory: a shared pool is usable only beyond what the OS holds (the DGX Spark's idle
/// MemTotal - MemAvailable: 127,600,748 - 118,566,368 kB), and GH200's HBM stays whole while its Grace
/// LPDDR5X is reachable beside it.
#[test]
fn unified_memory_is_usable_only_beyond_the_os_share() {
    use gpuplan::estimate::{overhead::visible_total, EccMode};
    let spark = gpu("dgx-spark");
    let u = spark.memory.unified.as_ref().expect("unified");
    assert!(u.shared_pool);
    // rounded up: the OS share is what a plan must leave free
    assert_eq!(u.os_reserved_mib, (127_600_748u64 - 118_566_368).div_ceil(1024));
    assert_eq!(
        visible_total(&spark, EccMode::Default),
        (124_610 - u.os_reserved_mib) << 20
    );
    let gh = gpu("gh200");
    let u = gh.memory.unified.as_ref().expect("unified");
    assert!(!u.shared_pool);
    assert_eq!(u.host_mib, Some(480 << 10));
    // the HBM total is what a discrete GPU of the same size would offer
    assert_eq!(
        visible_total(&gh, EccMode::Default),
        gh.reported_bytes() - gh.reported_bytes() / 81559 * 438
    );
}
