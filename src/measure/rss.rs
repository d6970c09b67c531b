//! CPU memory: this process's resident set from /proc/self/status. `VmHWM` is the kernel's own
//! peak (no sampling gaps); writing "5" to /proc/self/clear_refs resets it to the current RSS, so
//! each phase gets its own peak.

use std::sync::atomic::{AtomicBool, Ordering};

/// Current and peak resident bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rss {
    pub current: u64,
    pub peak: u64,
}

fn field_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// Reads VmRSS and VmHWM.
pub fn read() -> anyhow::Result<Rss> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| anyhow::anyhow!("/proc/self/status: {e} (CPU memory is measured on Linux only)"))?;
    let kib = |name| field_kib(&status, name).ok_or_else(|| anyhow::anyhow!("/proc/self/status has no {name} line"));
    Ok(Rss {
        current: kib("VmRSS:")? * 1024,
        peak: kib("VmHWM:")? * 1024,
    })
}

static RESET_WORKS: AtomicBool = AtomicBool::new(true);

/// Resets the peak to the current RSS. Returns false where the kernel refuses (then peaks are
/// cumulative since the process started, which the record says).
pub fn reset_peak() -> bool {
    if !RESET_WORKS.load(Ordering::Relaxed) {
        return false;
    }
    let ok = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    RESET_WORKS.store(ok, Ordering::Relaxed);
    ok
}

/// Fixes glibc's mmap threshold at its 128 KiB default. glibc otherwise raises it (up to 32 MiB)
/// after large frees, serving later buffers from per-thread heaps that keep freed memory resident:
/// RSS would then miss a model's allocations that reuse it. With the threshold fixed, every buffer
/// above 128 KiB is its own mapping, returned to the kernel when freed, so RSS follows the live
/// tensors. Returns false where it cannot be set (not glibc).
pub fn track_large_allocations() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: std::os::raw::c_int, value: std::os::raw::c_int) -> std::os::raw::c_int;
        }
        const M_MMAP_THRESHOLD: std::os::raw::c_int = -3;
        // SAFETY: mallopt takes two integers and only changes allocator tuning
        unsafe { mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// Returns freed heap memory to the kernel, so RSS after a phase shows live memory and not
/// glibc's cached free chunks (a no-op elsewhere).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: glibc's malloc_trim takes no pointers and is safe to call at any time
        unsafe {
            malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status_fields() {
        let s = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(field_kib(s, "VmRSS:"), Some(1024));
        assert_eq!(field_kib(s, "VmHWM:"), Some(2048));
        assert_eq!(field_kib(s, "VmSwap:"), None);
    }

    #[test]
    fn peak_is_at_least_current_and_grows_with_a_touched_allocation() {
        let before = read().unwrap();
        assert!(before.peak >= before.current);
        reset_peak();
        let v = vec![1u8; 64 << 20];
        let after = read().unwrap();
        assert!(after.peak >= before.current + (60 << 20), "{before:?} -> {after:?}");
        drop(v);
    }
}
