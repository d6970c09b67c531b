//! Running tools/llamacpp-probe (the real llama.cpp) as a child process: its JSON, and what went wrong
//! when there is none (not built, killed, timed out, out of memory). A crash in llama.cpp (a
//! GGML_ASSERT aborts the process) stays in the child.

use super::settings::RunSettings;
use crate::measure::record::BufferKind;
use serde::Deserialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where `scripts/llamacpp-build.sh` puts the probe.
pub const DEFAULT_PROBE: &str = "target/llamacpp-probe/release/llamacpp-probe";

/// One buffer line as the probe parsed it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Buffer {
    pub kind: BufferKind,
    pub device: String,
    pub mib: f64,
    pub line: String,
}

/// /proc/self/status of the probe, bytes.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
pub struct Rss {
    pub rss: u64,
    /// VmHWM since the phase began
    pub peak: u64,
    pub anon: u64,
    pub file: u64,
}

/// llama-bench's tests as the probe ran them.
#[derive(Debug, Clone, Deserialize)]
pub struct Bench {
    pub pp_tokens: u64,
    pub pp_s: Option<f64>,
    pub tg_tokens: u64,
    pub tg_s: Option<f64>,
    pub error: Option<String>,
}

impl Bench {
    pub fn pp_tokens_per_s(&self) -> Option<f64> {
        self.pp_s.filter(|&t| t > 0.0).map(|t| self.pp_tokens as f64 / t)
    }

    pub fn tg_tokens_per_s(&self) -> Option<f64> {
        self.tg_s.filter(|&t| t > 0.0).map(|t| self.tg_tokens as f64 / t)
    }
}

/// llama-bench's default tests: a 512-token prompt, 128 generated tokens.
pub const PP: u64 = 512;
pub const TG: u64 = 128;

#[derive(Debug, Clone, Deserialize)]
pub struct Run {
    pub status: String,
    pub error: Option<String>,
    pub buffers: Vec<Buffer>,
    /// compute buffers as the context's destructor printed them (four decimals)
    #[serde(default)]
    pub freed: Vec<Buffer>,
    pub lines: Vec<String>,
    pub context_s: f64,
    #[serde(default)]
    pub bench: Option<Bench>,
    pub rss_before: Rss,
    pub rss_after: Rss,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Model {
    pub status: String,
    pub error: Option<String>,
    pub size_bytes: Option<u64>,
    pub n_params: Option<u64>,
    pub load_s: f64,
    pub buffers: Vec<Buffer>,
    /// the RPC servers the model was offloaded to, in device order (`--rpc-servers`)
    #[serde(default)]
    pub rpc: Vec<String>,
    pub lines: Vec<String>,
    pub rss_before: Rss,
    pub rss_after: Rss,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Output {
    pub engine: String,
    pub system_info: String,
    pub gpu_offload: bool,
    pub model: Model,
    pub runs: Vec<Run>,
}

/// How a probe run ended when it gave no JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// no probe binary where it was looked for
    NotBuilt,
    /// killed by a signal it did not ask for (the kernel's OOM killer sends SIGKILL)
    Killed,
    /// stopped by gpuplan at the time limit
    TimedOut,
    /// it said it could not allocate
    OutOfMemory,
    /// anything else: a non-zero exit without JSON, unreadable JSON, an abort
    Error,
}

impl Fault {
    /// The record's outcome status.
    pub fn status(self) -> &'static str {
        match self {
            Fault::NotBuilt | Fault::Error => "error",
            Fault::Killed | Fault::TimedOut => "killed",
            Fault::OutOfMemory => "out_of_memory",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub fault: Fault,
    pub message: String,
}

/// The words llama.cpp and ggml use when an allocation fails.
pub fn says_out_of_memory(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "failed to allocate",
        "unable to allocate",
        "out of memory",
        "cudamalloc failed",
        "std::bad_alloc",
    ]
    .iter()
    .any(|k| t.contains(k))
}

/// The probe to run: `--probe-bin`, else `GPUPLAN_LLAMACPP_PROBE`, else [`DEFAULT_PROBE`].
pub fn locate(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("GPUPLAN_LLAMACPP_PROBE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PROBE))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

/// Loads `gguf` once and creates a context per setting (`n_gpu_layers`, `n_cpu_moe`, `n_cpu_ffn`,
/// `rpc` and `repack` from the first);
/// with `bench`, llama-bench's pp512 and tg128 on each context.
pub fn run(
    bin: &Path,
    gguf: &Path,
    settings: &[RunSettings],
    bench: bool,
    timeout: Duration,
) -> Result<Output, Failure> {
    if !bin.is_file() {
        return Err(Failure {
            fault: Fault::NotBuilt,
            message: format!(
                "no llama.cpp probe at {}: build it with scripts/llamacpp-build.sh (or point --probe-bin / GPUPLAN_LLAMACPP_PROBE at one)",
                bin.display()
            ),
        });
    }
    let first = settings.first().cloned().unwrap_or_default();
    let mut cmd = Command::new(bin);
    cmd.arg("--model")
        .arg(gguf)
        .arg("--n-gpu-layers")
        .arg(first.n_gpu_layers.to_string());
    if !first.repack {
        cmd.arg("--no-repack");
    }
    if first.n_cpu_moe > 0 {
        cmd.arg("--n-cpu-moe").arg(first.n_cpu_moe.to_string());
    }
    if first.n_cpu_ffn > 0 {
        cmd.arg("--n-cpu-ffn").arg(first.n_cpu_ffn.to_string());
    }
    if first.rpc > 0 {
        cmd.arg("--rpc-servers").arg(first.rpc.to_string());
    }
    for s in settings {
        let mut arg = s.probe_arg();
        if bench {
            arg.push_str(&format!(",pp={PP},tg={TG}"));
        }
        cmd.arg("--run").arg(arg);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure {
            fault: Fault::Error,
            message: format!("{}: {e}", bin.display()),
        })?;
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = child.stdout.take().map(|o| read(Box::new(o)));
    let err = child.stderr.take().map(|e| read(Box::new(e)));
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Ok(st),
            Ok(None) if start.elapsed() > timeout => {
                timed_out = true;
                let _ = child.kill();
                break child.wait();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => break Err(e),
        }
    }
    .map_err(|e| Failure {
        fault: Fault::Error,
        message: format!("waiting for {}: {e}", bin.display()),
    })?;
    let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    if timed_out {
        return Err(Failure {
            fault: Fault::TimedOut,
            message: format!(
                "stopped after {} s (the time limit); last lines: {}",
                timeout.as_secs(),
                tail(&stderr, 3)
            ),
        });
    }
    #[cfg(unix)]
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&status) {
        let fault = match sig {
            9 => Fault::Killed,
            _ if says_out_of_memory(&stderr) => Fault::OutOfMemory,
            _ => Fault::Error,
        };
        let why = match sig {
            9 => "SIGKILL (the kernel's OOM killer, or someone else)",
            6 => "SIGABRT (a llama.cpp assertion)",
            11 => "SIGSEGV",
            _ => "a signal",
        };
        return Err(Failure {
            fault,
            message: format!(
                "llama.cpp died of signal {sig}, {why}; last lines: {}",
                tail(&stderr, 4)
            ),
        });
    }
    match serde_json::from_str::<Output>(&stdout) {
        Ok(o) => Ok(o),
        Err(e) => Err(Failure {
            fault: if says_out_of_memory(&stderr) {
                Fault::OutOfMemory
            } else {
                Fault::Error
            },
            message: format!(
                "the probe exited with {status} and no readable JSON ({e}); last lines: {}",
                tail(&stderr, 4)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_probe_is_a_fault_not_a_panic() {
        let e = run(
            Path::new("/nonexistent/llamacpp-probe"),
            Path::new("x.gguf"),
            &[RunSettings::default()],
            false,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert_eq!(e.fault, Fault::NotBuilt);
        assert!(e.message.contains("scripts/llamacpp-build.sh"), "{}", e.message);
    }

    #[cfg(unix)]
    #[test]
    fn a_killed_or_silent_probe_is_recorded_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let script = |name: &str, body: &str| {
            use std::os::unix::fs::PermissionsExt;
            let p = dir.path().join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            p
        };
        let s = [RunSettings::default()];
        let t = Duration::from_secs(20);
        let killed = script("killed", "echo 'load_tensors: loading' >&2; kill -9 $$");
        assert_eq!(
            run(&killed, Path::new("m"), &s, false, t).unwrap_err().fault,
            Fault::Killed
        );
        let oom = script(
            "oom",
            "echo 'ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size 99' >&2; kill -6 $$",
        );
        assert_eq!(
            run(&oom, Path::new("m"), &s, false, t).unwrap_err().fault,
            Fault::OutOfMemory
        );
        let silent = script("silent", "exit 3");
        let e = run(&silent, Path::new("m"), &s, false, t).unwrap_err();
        assert_eq!(e.fault, Fault::Error);
        let slow = script("slow", "exec sleep 30");
        let e = run(&slow, Path::new("m"), &s, false, Duration::from_millis(300)).unwrap_err();
        assert_eq!(e.fault, Fault::TimedOut);
    }
}
