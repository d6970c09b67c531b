//! llamacpp-probe: load a GGUF file in llama.cpp once, create one context per requested setting, and
//! print what llama.cpp itself says it allocated (its buffer log lines, per device and kind) and the
//! process RSS, as one JSON object on stdout. Every llama.cpp log line is also copied to stderr as it
//! arrives, so a crash (GGML_ASSERT aborts) still leaves its last words for the caller.
//!
//! ```text
//! llamacpp-probe --model FILE [--n-gpu-layers N] [--no-repack] [--no-mmap]
//!                [--rpc | --rpc-servers N] [--n-cpu-moe N] [--cpu-moe] [--n-cpu-ffn N]
//!                [--override-tensor PATTERN=CPU ...]
//!                --run ctx=4096,batch=2048,ubatch=512,parallel=1,fa=auto,ctk=f16,ctv=f16,kvu=0,outs=0,swa=on,pp=512,tg=128
//!                [--run ...]
//! ```
//!
//! `--rpc` gives a CPU-only build a second device: the probe serves its own CPU backend over
//! ggml-rpc on a free localhost port (what `rpc-server` does) and offloads to that RPC device, so
//! `-ngl`, `--n-cpu-moe` and `-ot` split the model between two devices as they do between a GPU and
//! the CPU. `--rpc-servers N` serves N such devices (llama.cpp splits the layers over them as over N
//! GPUs). The servers' messages go to stderr; the JSON stays alone on stdout.
//! Exit status: 0 when the JSON was printed (a context that failed is a run with status "error"),
//! 1 when the model did not load (the JSON says why), 2 on bad arguments.

use llama_cpp_sys_2 as sys;
use serde::Serialize;
use std::ffi::{c_char, c_void, CStr, CString};
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

// ggml-rpc (built with GGML_RPC=ON, ggml/include/ggml-rpc.h; bindgen does not cover that header)
// and the C library's descriptor calls
extern "C" {
    fn ggml_backend_rpc_start_server(
        endpoint: *const c_char,
        cache_dir: *const c_char,
        n_threads: usize,
        n_devices: usize,
        devices: *mut sys::ggml_backend_dev_t,
    );
    fn ggml_backend_rpc_add_server(endpoint: *const c_char) -> sys::ggml_backend_reg_t;
    fn dup(fd: i32) -> i32;
    fn dup2(from: i32, to: i32) -> i32;
}

/// llama.cpp's log, split into lines (a line may arrive in several callbacks).
static LOG: Mutex<(Vec<String>, String)> = Mutex::new((Vec::new(), String::new()));

unsafe extern "C" fn on_log(_level: sys::ggml_log_level, text: *const c_char, _user: *mut c_void) {
    if text.is_null() {
        return;
    }
    let s = CStr::from_ptr(text).to_string_lossy();
    let _ = std::io::stderr().write_all(s.as_bytes());
    if let Ok(mut log) = LOG.lock() {
        log.1.push_str(&s);
        while let Some(i) = log.1.find('\n') {
            let line: String = log.1.drain(..=i).collect();
            log.0.push(line.trim_end().to_string());
        }
    }
}

/// Log lines since the last call.
fn take_log() -> Vec<String> {
    LOG.lock().map(|mut l| std::mem::take(&mut l.0)).unwrap_or_default()
}

/// One context's settings, spelled as llama-server's flags.
#[derive(Debug, Clone, Serialize)]
struct Setting {
    ctx_size: u32,
    batch_size: u32,
    ubatch_size: u32,
    parallel: u32,
    /// on, off, auto
    flash_attn: String,
    cache_type_k: String,
    cache_type_v: String,
    kv_unified: bool,
    /// logits rows the reserved graph holds (0: the library default, n_batch; llama-server sets
    /// its slot count)
    n_outputs_max: u32,
    /// full-size cache for sliding-window layers (library default on, llama-server off)
    swa_full: bool,
    /// llama-bench's prompt test: tokens decoded as one batch after the context is made (0: none)
    pp: u32,
    /// llama-bench's generation test: tokens decoded one at a time from an empty cache (0: none)
    tg: u32,
}

impl Setting {
    fn parse(spec: &str) -> Result<Setting, String> {
        let mut s = Setting {
            ctx_size: 4096,
            batch_size: 2048,
            ubatch_size: 512,
            parallel: 1,
            flash_attn: "auto".into(),
            cache_type_k: "f16".into(),
            cache_type_v: "f16".into(),
            kv_unified: false,
            n_outputs_max: 0,
            swa_full: true,
            pp: 0,
            tg: 0,
        };
        for kv in spec.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("`{kv}`: expected key=value"))?;
            let num = || v.parse::<u32>().map_err(|e| format!("{k}={v}: {e}"));
            match k {
                "ctx" => s.ctx_size = num()?,
                "batch" => s.batch_size = num()?,
                "ubatch" => s.ubatch_size = num()?,
                "parallel" => s.parallel = num()?,
                "fa" => {
                    fa_type(v)?;
                    s.flash_attn = v.into()
                }
                "ctk" => {
                    cache_type(v)?;
                    s.cache_type_k = v.into()
                }
                "ctv" => {
                    cache_type(v)?;
                    s.cache_type_v = v.into()
                }
                "kvu" => s.kv_unified = flag(v)?,
                "outs" => s.n_outputs_max = num()?,
                "swa" => s.swa_full = flag(v)?,
                "pp" => s.pp = num()?,
                "tg" => s.tg = num()?,
                other => return Err(format!("unknown setting `{other}`")),
            }
        }
        Ok(s)
    }
}

fn flag(v: &str) -> Result<bool, String> {
    match v {
        "1" | "on" | "true" => Ok(true),
        "0" | "off" | "false" => Ok(false),
        other => Err(format!("`{other}`: expected on or off")),
    }
}

fn fa_type(v: &str) -> Result<sys::llama_flash_attn_type, String> {
    Ok(match v {
        "on" => sys::LLAMA_FLASH_ATTN_TYPE_ENABLED,
        "off" => sys::LLAMA_FLASH_ATTN_TYPE_DISABLED,
        "auto" => sys::LLAMA_FLASH_ATTN_TYPE_AUTO,
        other => return Err(format!("fa={other}: expected on, off or auto")),
    })
}

/// llama-server's `--cache-type-k/v` names (common/arg.cpp `kv_cache_types`).
fn cache_type(v: &str) -> Result<sys::ggml_type, String> {
    Ok(match v {
        "f32" => sys::GGML_TYPE_F32,
        "f16" => sys::GGML_TYPE_F16,
        "bf16" => sys::GGML_TYPE_BF16,
        "q8_0" => sys::GGML_TYPE_Q8_0,
        "q4_0" => sys::GGML_TYPE_Q4_0,
        "q4_1" => sys::GGML_TYPE_Q4_1,
        "iq4_nl" => sys::GGML_TYPE_IQ4_NL,
        "q5_0" => sys::GGML_TYPE_Q5_0,
        "q5_1" => sys::GGML_TYPE_Q5_1,
        other => return Err(format!("cache type {other}: not one llama.cpp takes")),
    })
}

/// One buffer line: `load_tensors:   CPU_Mapped model buffer size =  2281.66 MiB`.
#[derive(Debug, Clone, Serialize)]
struct Buffer {
    /// model, kv, compute, output
    kind: &'static str,
    /// the buffer type's name: CPU, CPU_Mapped, CUDA0, CUDA_Host, ...
    device: String,
    /// as printed (two decimals)
    mib: f64,
    line: String,
}

/// The line a context's destructor prints, with four decimals:
/// `~llama_context:        CPU compute buffer size is 306.0156 MiB, matches expectation of ...`.
fn parse_freed(line: &str) -> Option<Buffer> {
    let (head, tail) = line.split_once(" compute buffer size is ")?;
    let device = device_of(head)?;
    let mib = tail.split_whitespace().next()?.parse().ok()?;
    Some(Buffer {
        kind: "compute",
        device,
        mib,
        line: line.to_string(),
    })
}

/// The buffer type's name: the last word before the figure's name (`load_tensors:   CUDA0`,
/// `sched_reserve: RPC0[127.0.0.1:50052]`: an RPC name holds the server's colon).
fn device_of(head: &str) -> Option<String> {
    head.split_whitespace().next_back().map(str::to_string)
}

fn parse_buffer(line: &str) -> Option<Buffer> {
    let kinds = [
        (" model buffer size = ", "model"),
        (" KV buffer size = ", "kv"),
        (" compute buffer size = ", "compute"),
        (" output buffer size = ", "output"),
    ];
    let (marker, kind) = kinds.iter().find(|(m, _)| line.contains(m))?;
    let (head, tail) = line.split_once(marker)?;
    let device = device_of(head)?;
    let mib = tail.split_whitespace().next()?.parse().ok()?;
    Some(Buffer {
        kind,
        device,
        mib,
        line: line.to_string(),
    })
}

/// /proc/self/status figures, bytes.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Rss {
    rss: u64,
    peak: u64,
    anon: u64,
    file: u64,
}

fn rss() -> Rss {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    Rss {
        rss: field("VmRSS:"),
        peak: field("VmHWM:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
    }
}

/// Resets VmHWM to the current RSS (Linux `clear_refs` 5), so each phase has its own peak.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[derive(Debug, Serialize)]
struct Run {
    settings: Setting,
    /// ok or error
    status: &'static str,
    error: Option<String>,
    buffers: Vec<Buffer>,
    /// the compute buffers again, as the destructor prints them (four decimals)
    freed: Vec<Buffer>,
    /// llama.cpp's own lines for this context (buffers, KV cache size, graph)
    lines: Vec<String>,
    context_s: f64,
    /// the pp / tg tests, when asked for
    bench: Option<Bench>,
    rss_before: Rss,
    /// after the context is created, with the peak over its creation
    rss_after: Rss,
}

/// llama-bench's two tests on this context (its `pp512` and `tg128` with the default counts).
#[derive(Debug, Serialize)]
struct Bench {
    pp_tokens: u32,
    pp_s: Option<f64>,
    tg_tokens: u32,
    tg_s: Option<f64>,
    error: Option<String>,
}

/// Decodes `tokens` tokens: one batch of them (`pp`), or one at a time (`tg`). Token ids cycle
/// through the vocabulary's byte tokens; the weights are zeros, so only the shapes matter.
unsafe fn decode(ctx: *mut sys::llama_context, tokens: u32, one_at_a_time: bool) -> Result<f64, String> {
    let per = if one_at_a_time { 1 } else { tokens.max(1) };
    let batch = sys::llama_batch_init(per as i32, 0, 1);
    let t0 = Instant::now();
    let mut pos = 0u32;
    let mut result = Ok(());
    while pos < tokens && result.is_ok() {
        let n = per.min(tokens - pos);
        for i in 0..n {
            let k = i as usize;
            *batch.token.add(k) = 3 + ((pos + i) % 256) as i32;
            *batch.pos.add(k) = (pos + i) as i32;
            *batch.n_seq_id.add(k) = 1;
            *(*batch.seq_id.add(k)).add(0) = 0;
            *batch.logits.add(k) = i8::from(i == n - 1);
        }
        let mut b = batch;
        b.n_tokens = n as i32;
        let rc = sys::llama_decode(ctx, b);
        if rc != 0 {
            result = Err(format!("llama_decode returned {rc}"));
        }
        pos += n;
    }
    sys::llama_synchronize(ctx);
    let secs = t0.elapsed().as_secs_f64();
    sys::llama_batch_free(batch);
    result.map(|()| secs)
}

/// The pp test, then the tg test from an empty cache (as llama-bench runs them).
fn bench(ctx: *mut sys::llama_context, s: &Setting) -> Bench {
    let mut b = Bench {
        pp_tokens: s.pp,
        pp_s: None,
        tg_tokens: s.tg,
        tg_s: None,
        error: None,
    };
    unsafe {
        let mem = sys::llama_get_memory(ctx);
        if s.pp > 0 {
            match decode(ctx, s.pp, false) {
                Ok(t) => b.pp_s = Some(t),
                Err(e) => b.error = Some(e),
            }
            sys::llama_memory_clear(mem, true);
        }
        if s.tg > 0 && b.error.is_none() {
            // one warm-up token, as llama-bench does, then the timed run
            let _ = decode(ctx, 1, true);
            sys::llama_memory_clear(mem, true);
            match decode(ctx, s.tg, true) {
                Ok(t) => b.tg_s = Some(t),
                Err(e) => b.error = Some(e),
            }
        }
    }
    b
}

/// The in-process RPC server and the device llama.cpp reaches it by.
struct Rpc {
    endpoint: String,
    device: sys::ggml_backend_dev_t,
}

/// Points descriptor 1 at stderr and returns the original stdout, for the JSON alone.
unsafe fn stdout_for_json() -> Option<std::fs::File> {
    use std::os::fd::FromRawFd;
    let _ = std::io::stdout().flush();
    let saved = dup(1);
    if saved < 0 || dup2(2, 1) < 0 {
        return None;
    }
    Some(std::fs::File::from_raw_fd(saved))
}

/// Starts `rpc-server`'s loop on this process's CPU backend at a free localhost port (a thread that
/// runs until the process exits), waits until it accepts connections, and adds it as a device.
unsafe fn serve_cpu_over_rpc() -> Result<Rpc, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let endpoint = format!("127.0.0.1:{port}");
    let cpu = sys::ggml_backend_dev_by_type(sys::GGML_BACKEND_DEVICE_TYPE_CPU);
    if cpu.is_null() {
        return Err("no CPU device".into());
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let c_endpoint = CString::new(endpoint.clone()).map_err(|e| e.to_string())?;
    // raw pointers are not Send; the device lives as long as the process
    let cpu_addr = cpu as usize;
    std::thread::spawn(move || {
        let mut devices = [cpu_addr as sys::ggml_backend_dev_t];
        ggml_backend_rpc_start_server(c_endpoint.as_ptr(), std::ptr::null(), threads, 1, devices.as_mut_ptr());
    });
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(&endpoint).is_err() {
        if Instant::now() > deadline {
            return Err(format!("the RPC server at {endpoint} did not start"));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let c_endpoint = CString::new(endpoint.clone()).map_err(|e| e.to_string())?;
    let reg = ggml_backend_rpc_add_server(c_endpoint.as_ptr());
    if reg.is_null() {
        return Err(format!("{endpoint}: the RPC server has no device"));
    }
    let device = sys::ggml_backend_reg_dev_get(reg, 0);
    if device.is_null() {
        return Err(format!("{endpoint}: no device 0"));
    }
    Ok(Rpc { endpoint, device })
}

#[derive(Debug, Serialize)]
struct Model {
    path: String,
    n_gpu_layers: i32,
    repack: bool,
    mmap: bool,
    /// the RPC servers' endpoints the model was offloaded to (`--rpc`, `--rpc-servers`)
    rpc: Vec<String>,
    /// tensor overrides to the CPU, as patterns (`--n-cpu-moe`, `--cpu-moe`, `--override-tensor`)
    overrides: Vec<String>,
    status: &'static str,
    error: Option<String>,
    /// llama_model_size: Σ ggml_nbytes of the model's tensors, exact
    size_bytes: Option<u64>,
    n_params: Option<u64>,
    load_s: f64,
    buffers: Vec<Buffer>,
    lines: Vec<String>,
    rss_before: Rss,
    rss_after: Rss,
}

#[derive(Debug, Serialize)]
struct Output {
    probe: &'static str,
    engine: &'static str,
    system_info: String,
    gpu_offload: bool,
    model: Model,
    runs: Vec<Run>,
}

struct Args {
    model: String,
    n_gpu_layers: i32,
    repack: bool,
    mmap: bool,
    /// RPC servers to serve and offload to
    rpc: u32,
    /// patterns whose tensors stay in CPU memory
    overrides: Vec<String>,
    runs: Vec<Setting>,
}

/// common/common.h `LLM_FFN_EXPS_REGEX`: a block's routed expert matrices.
const FFN_EXPS_REGEX: &str = "\\.ffn_(up|down|gate|gate_up)_(ch|)exps";

/// common/common.h `LLM_FFN_DENSE_REGEX`: a block's dense feed-forward matrices.
const FFN_DENSE_REGEX: &str = "\\.ffn_(up|down|gate)\\.";

/// `--n-cpu-moe N` (`--n-cpu-ffn N` with the dense pattern): one pattern per block `0..N`
/// (common/common.h `llm_add_n_cpu_ffn_overrides`).
fn first_blocks_patterns(n: u32, ffn: &str) -> Vec<String> {
    (0..n).map(|i| format!("blk\\.{i}{ffn}")).collect()
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        model: String::new(),
        n_gpu_layers: 0,
        repack: true,
        mmap: true,
        rpc: 0,
        overrides: vec![],
        runs: vec![],
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--model" => a.model = value()?,
            "--n-gpu-layers" => a.n_gpu_layers = value()?.parse().map_err(|e| format!("--n-gpu-layers: {e}"))?,
            "--no-repack" => a.repack = false,
            "--no-mmap" => a.mmap = false,
            "--rpc" => a.rpc = 1,
            "--rpc-servers" => a.rpc = value()?.parse().map_err(|e| format!("--rpc-servers: {e}"))?,
            "--cpu-moe" => a.overrides.push(FFN_EXPS_REGEX.to_string()),
            "--n-cpu-moe" => {
                let n = value()?.parse().map_err(|e| format!("--n-cpu-moe: {e}"))?;
                a.overrides.extend(first_blocks_patterns(n, FFN_EXPS_REGEX));
            }
            "--n-cpu-ffn" => {
                let n = value()?.parse().map_err(|e| format!("--n-cpu-ffn: {e}"))?;
                a.overrides.extend(first_blocks_patterns(n, FFN_DENSE_REGEX));
            }
            "--override-tensor" => {
                let v = value()?;
                for rule in v.split(',') {
                    match rule.rsplit_once('=') {
                        Some((pattern, "CPU")) if !pattern.is_empty() => a.overrides.push(pattern.to_string()),
                        _ => return Err(format!("--override-tensor {rule}: expected PATTERN=CPU")),
                    }
                }
            }
            "--run" => a.runs.push(Setting::parse(&value()?)?),
            "--version" => {
                println!("llamacpp-probe {} (llama-cpp-sys-2 0.1.161)", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if a.model.is_empty() {
        return Err("--model FILE is required".into());
    }
    Ok(a)
}

fn is_relevant(line: &str) -> bool {
    [
        "buffer size",
        "llama_kv_cache",
        "n_ctx",
        "n_batch",
        "n_ubatch",
        "flash_attn",
        "n_seq_max",
        "graph",
        "error",
        "failed",
    ]
    .iter()
    .any(|k| line.contains(k))
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("llamacpp-probe: {e}");
            std::process::exit(2);
        }
    };
    unsafe { sys::llama_log_set(Some(on_log), std::ptr::null_mut()) };
    let _backend = match llama_cpp_2::llama_backend::LlamaBackend::init() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("llamacpp-probe: backend: {e}");
            std::process::exit(1);
        }
    };
    let system_info = unsafe { CStr::from_ptr(sys::llama_print_system_info()) }
        .to_string_lossy()
        .trim()
        .to_string();
    let gpu_offload = unsafe { sys::llama_supports_gpu_offload() };

    // the RPC server prints to stdout: keep the real stdout for the JSON, send the rest to stderr
    let json_out = if a.rpc > 0 { unsafe { stdout_for_json() } } else { None };
    let mut rpc = Vec::new();
    for _ in 0..a.rpc {
        match unsafe { serve_cpu_over_rpc() } {
            Ok(r) => rpc.push(r),
            Err(e) => {
                eprintln!("llamacpp-probe: --rpc: {e}");
                std::process::exit(1);
            }
        }
    }
    // NULL-terminated, as llama_model_params wants both lists
    let mut devices: Vec<sys::ggml_backend_dev_t> = rpc.iter().map(|r| r.device).collect();
    devices.push(std::ptr::null_mut());
    let patterns: Vec<CString> = a
        .overrides
        .iter()
        .map(|p| CString::new(p.as_str()).unwrap_or_default())
        .collect();
    let cpu_buft = unsafe { sys::ggml_backend_cpu_buffer_type() };
    let mut overrides: Vec<sys::llama_model_tensor_buft_override> = patterns
        .iter()
        .map(|p| sys::llama_model_tensor_buft_override {
            pattern: p.as_ptr(),
            buft: cpu_buft,
        })
        .collect();
    overrides.push(sys::llama_model_tensor_buft_override {
        pattern: std::ptr::null(),
        buft: std::ptr::null_mut(),
    });

    let mut mp = unsafe { sys::llama_model_default_params() };
    if !rpc.is_empty() {
        mp.devices = devices.as_mut_ptr();
    }
    if !a.overrides.is_empty() {
        mp.tensor_buft_overrides = overrides.as_ptr();
    }
    mp.n_gpu_layers = a.n_gpu_layers;
    mp.use_extra_bufts = a.repack;
    mp.load_mode = if a.mmap {
        sys::LLAMA_LOAD_MODE_MMAP
    } else {
        sys::LLAMA_LOAD_MODE_NONE
    };
    let path = CString::new(a.model.clone()).unwrap_or_default();
    take_log();
    let rss_before = rss();
    reset_peak();
    let t0 = Instant::now();
    let model = unsafe { sys::llama_model_load_from_file(path.as_ptr(), mp) };
    let load_s = t0.elapsed().as_secs_f64();
    let lines = take_log();
    let mut m = Model {
        path: a.model.clone(),
        n_gpu_layers: a.n_gpu_layers,
        repack: a.repack,
        mmap: a.mmap,
        rpc: rpc.iter().map(|r| r.endpoint.clone()).collect(),
        overrides: a.overrides.clone(),
        status: if model.is_null() { "error" } else { "ok" },
        error: None,
        size_bytes: None,
        n_params: None,
        load_s,
        buffers: lines
            .iter()
            .filter_map(|l| parse_buffer(l))
            .filter(|b| b.kind == "model")
            .collect(),
        lines: Vec::new(),
        rss_before,
        rss_after: rss(),
    };
    if model.is_null() {
        // llama.cpp says why in its log: keep its last lines
        let said: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("error") || l.contains("failed") || l.contains("llama_model_load"))
            .collect();
        m.error = Some(
            said[said.len().saturating_sub(4)..]
                .iter()
                .map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join(" | "),
        );
        m.lines = lines.iter().rev().take(20).rev().cloned().collect();
    } else {
        m.size_bytes = Some(unsafe { sys::llama_model_size(model) });
        m.n_params = Some(unsafe { sys::llama_model_n_params(model) });
        m.lines = lines.into_iter().filter(|l| is_relevant(l)).collect();
    }

    let mut runs = Vec::new();
    if !model.is_null() {
        for s in &a.runs {
            let mut cp = unsafe { sys::llama_context_default_params() };
            cp.n_ctx = s.ctx_size;
            cp.n_batch = s.batch_size;
            cp.n_ubatch = s.ubatch_size;
            cp.n_seq_max = s.parallel;
            cp.kv_unified = s.kv_unified;
            cp.n_outputs_max = s.n_outputs_max;
            cp.swa_full = s.swa_full;
            // parse() checked these names
            cp.flash_attn_type = fa_type(&s.flash_attn).unwrap_or(sys::LLAMA_FLASH_ATTN_TYPE_AUTO);
            cp.type_k = cache_type(&s.cache_type_k).unwrap_or(sys::GGML_TYPE_F16);
            cp.type_v = cache_type(&s.cache_type_v).unwrap_or(sys::GGML_TYPE_F16);
            take_log();
            let before = rss();
            reset_peak();
            let t0 = Instant::now();
            let ctx = unsafe { sys::llama_init_from_model(model, cp) };
            let context_s = t0.elapsed().as_secs_f64();
            let after = rss();
            let lines = take_log();
            let error = ctx.is_null().then(|| {
                lines
                    .iter()
                    .filter(|l| l.contains("error") || l.contains("failed"))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" | ")
            });
            let bench = (!ctx.is_null() && (s.pp > 0 || s.tg > 0)).then(|| bench(ctx, s));
            if !ctx.is_null() {
                unsafe { sys::llama_free(ctx) };
            }
            // the destructor prints the compute buffers with four decimals
            let freed: Vec<Buffer> = take_log().iter().filter_map(|l| parse_freed(l)).collect();
            runs.push(Run {
                settings: s.clone(),
                status: if error.is_some() { "error" } else { "ok" },
                error,
                buffers: lines.iter().filter_map(|l| parse_buffer(l)).collect(),
                freed,
                lines: lines.into_iter().filter(|l| is_relevant(l)).collect(),
                context_s,
                bench,
                rss_before: before,
                rss_after: after,
            });
        }
        unsafe { sys::llama_model_free(model) };
    }
    let failed = m.status != "ok";
    let out = Output {
        probe: "llamacpp-probe 0.1.0",
        engine: "llama.cpp vendored by llama-cpp-sys-2 0.1.161",
        system_info,
        gpu_offload,
        model: m,
        runs,
    };
    match serde_json::to_string_pretty(&out) {
        Ok(j) => match json_out {
            Some(mut f) => {
                let _ = writeln!(f, "{j}");
            }
            None => println!("{j}"),
        },
        Err(e) => {
            eprintln!("llamacpp-probe: {e}");
            std::process::exit(1);
        }
    }
    std::process::exit(i32::from(failed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_lines_parse() {
        let b = parse_buffer("load_tensors:   CPU_Mapped model buffer size =  2281.66 MiB").unwrap();
        assert_eq!((b.kind, b.device.as_str(), b.mib), ("model", "CPU_Mapped", 2281.66));
        let b = parse_buffer("llama_context:        CPU  output buffer size =     0.12 MiB").unwrap();
        assert_eq!((b.kind, b.device.as_str(), b.mib), ("output", "CPU", 0.12));
        let b = parse_buffer("llama_kv_cache:      CUDA0 KV buffer size =  1536.00 MiB").unwrap();
        assert_eq!((b.kind, b.device.as_str()), ("kv", "CUDA0"));
        let b = parse_buffer("sched_reserve:  CUDA_Host compute buffer size =    20.01 MiB").unwrap();
        assert_eq!((b.kind, b.device.as_str(), b.mib), ("compute", "CUDA_Host", 20.01));
        assert!(parse_buffer("llama_context: n_ctx = 4096").is_none());
        let f = parse_freed(
            "~llama_context:        CPU compute buffer size is 306.0156 MiB, matches expectation of 306.0156 MiB",
        )
        .unwrap();
        assert_eq!((f.device.as_str(), f.mib), ("CPU", 306.0156));
    }

    #[test]
    fn rpc_device_names_keep_their_port() {
        let b = parse_buffer("load_tensors: RPC0[127.0.0.1:50052] model buffer size =  1918.35 MiB").unwrap();
        assert_eq!(
            (b.kind, b.device.as_str(), b.mib),
            ("model", "RPC0[127.0.0.1:50052]", 1918.35)
        );
        let f =
            parse_freed("~llama_context: RPC0[127.0.0.1:50052] compute buffer size is 256.5000 MiB, matches").unwrap();
        assert_eq!((f.device.as_str(), f.mib), ("RPC0[127.0.0.1:50052]", 256.5));
    }

    #[test]
    fn n_cpu_moe_names_the_first_blocks_experts() {
        assert_eq!(
            first_blocks_patterns(2, FFN_EXPS_REGEX),
            [
                "blk\\.0\\.ffn_(up|down|gate|gate_up)_(ch|)exps",
                "blk\\.1\\.ffn_(up|down|gate|gate_up)_(ch|)exps"
            ]
        );
        assert_eq!(
            first_blocks_patterns(1, FFN_DENSE_REGEX),
            ["blk\\.0\\.ffn_(up|down|gate)\\."]
        );
    }

    #[test]
    fn settings_parse_and_refuse_unknown_names() {
        let s = Setting::parse("ctx=32768,ubatch=2048,fa=off,parallel=4,ctk=q8_0,outs=4,swa=off").unwrap();
        assert_eq!((s.n_outputs_max, s.swa_full), (4, false));
        assert_eq!((s.ctx_size, s.ubatch_size, s.parallel), (32768, 2048, 4));
        assert_eq!((s.flash_attn.as_str(), s.cache_type_k.as_str()), ("off", "q8_0"));
        assert!(Setting::parse("fa=maybe").is_err());
        assert!(Setting::parse("ctk=q3").is_err());
        assert!(Setting::parse("threads=4").is_err());
    }
}
