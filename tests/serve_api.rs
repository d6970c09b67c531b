//! `gpuplan serve`'s API against the command line: the same parameters give byte-identical JSON (and
//! HTML for the report); bad input gets a 4xx with a message; a panicking handler gets a 500 and the
//! server goes on; SIGINT and SIGTERM stop it cleanly; a non-loopback address needs --allow-remote.

mod http;

use axum::routing::get;
use gpuplan::estimate::arch::check_declared;
use gpuplan::serve::{app, Background, State};
use gpuplan::spec::Catalog;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn server() -> Background {
    let catalog = Catalog::embedded(check_declared).unwrap();
    let extra = axum::Router::new().route(
        "/api/test-panic",
        get(|| async {
            let v: Vec<u8> = Vec::new();
            // an out-of-bounds index: the kind of bug a handler could hit
            v[std::hint::black_box(3)].to_string()
        }),
    );
    Background::start(app(State::new(catalog).unwrap(), extra), 2).unwrap()
}

fn cli(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_gpuplan")).args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn the_api_answers_exactly_what_the_cli_prints() {
    let s = server();
    let a = s.addr.to_string();
    let same = |path: &str, body: Option<&str>, args: &[&str]| {
        let r = match body {
            Some(b) => http::post(&a, path, b),
            None => http::get(&a, path),
        };
        assert_eq!(r.status, 200, "{path} {body:?}: {}", r.text());
        let expected = cli(args);
        assert!(r.text() == expected, "{path} {body:?} differs from gpuplan {args:?}");
        assert_eq!(r.header("content-type"), Some("application/json"));
    };
    same("/api/models", None, &["models", "-f", "json"]);
    same("/api/gpus", None, &["gpus", "-f", "json"]);
    same("/api/formats", None, &["formats", "-f", "json"]);
    same(
        "/api/fit",
        Some(r#"{"model": "phi-3.5-mini", "gpu": "rtx-4090", "context": "32k"}"#),
        &[
            "fit",
            "phi-3.5-mini",
            "--gpu",
            "rtx-4090",
            "--context",
            "32k",
            "-f",
            "json",
        ],
    );
    same(
        "/api/fit",
        Some(
            r#"{"model": "microsoft/Phi-3.5-MoE-instruct", "gpu": "h100-sxm", "gpus": 2, "runtime": "vllm",
                "batch": 32, "precision": "fp8", "kv_precision": "fp8", "context": 8192, "ecc": "off"}"#,
        ),
        &[
            "fit",
            "microsoft/Phi-3.5-MoE-instruct",
            "--gpu",
            "h100-sxm",
            "--gpus",
            "2",
            "--runtime",
            "vllm",
            "--batch",
            "32",
            "--precision",
            "fp8",
            "--kv-precision",
            "fp8",
            "--context",
            "8192",
            "--ecc",
            "off",
            "-f",
            "json",
        ],
    );
    same(
        "/api/fit",
        Some(r#"{"model": "phi-3.5-moe", "gpu": "rtx-4090", "gpus": 2, "pipeline": 2, "precision": "q4_k_m"}"#),
        &[
            "fit",
            "phi-3.5-moe",
            "--gpu",
            "rtx-4090",
            "--gpus",
            "2",
            "--pipeline",
            "2",
            "--precision",
            "q4_k_m",
            "-f",
            "json",
        ],
    );
    same(
        "/api/compare",
        Some(r#"{"models": ["phi-3.5-mini", "phi-3.5-moe"], "gpu": "l40s", "context": "16k"}"#),
        &[
            "compare",
            "phi-3.5-mini",
            "phi-3.5-moe",
            "--gpu",
            "l40s",
            "--context",
            "16k",
            "-f",
            "json",
        ],
    );
    same(
        "/api/matrix",
        Some(
            r#"{"models": ["phi-3.5-mini", "phi-3.5-vision"], "gpu": ["rtx-3090", "h200"],
                "precision": ["bf16", "q4_k_m"], "context": ["4k", 32768], "runtime": "llama.cpp"}"#,
        ),
        &[
            "matrix",
            "--models",
            "phi-3.5-mini,phi-3.5-vision",
            "--gpu",
            "rtx-3090,h200",
            "--precision",
            "bf16,q4_k_m",
            "--context",
            "4k,32768",
            "--runtime",
            "llama.cpp",
            "-f",
            "json",
        ],
    );
    // the default matrix: the whole catalog
    same("/api/matrix", Some("{}"), &["matrix", "-f", "json"]);
    s.stop().unwrap();
}

#[test]
fn report_and_import_match_the_cli() {
    let s = server();
    let a = s.addr.to_string();
    let root = env!("CARGO_MANIFEST_DIR");
    let workload = format!("{root}/examples/workloads/moe-chat-50-users.yaml");
    let r = http::post(&a, "/api/report", &std::fs::read_to_string(&workload).unwrap());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.text() == cli(&["report", "--workload", &workload, "-f", "html"]));

    // a config.json body imports as `gpuplan import config.json` does; only the source label differs
    let dir = tempfile::tempdir().unwrap();
    let config = r#"{"model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192,
        "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
        "max_position_embeddings": 131072, "tie_word_embeddings": true, "torch_dtype": "bfloat16"}"#;
    // the model's id comes from its directory's name: `config` for the API's body
    std::fs::create_dir(dir.path().join("config")).unwrap();
    let path = dir.path().join("config/config.json");
    std::fs::write(&path, config).unwrap();
    let r = http::post(&a, "/api/import", config);
    assert_eq!(r.status, 200, "{}", r.text());
    let expected = cli(&["import", path.to_str().unwrap(), "-f", "json"]);
    assert_eq!(r.text(), expected.replace(path.to_str().unwrap(), "config.json"));

    // the same config inline as the model of a fit
    let fit = http::post(&a, "/api/fit", &format!(r#"{{"model": {config}, "gpu": "rtx-4090"}}"#));
    assert_eq!(fit.status, 200, "{}", fit.text());
    let expected = cli(&["fit", path.to_str().unwrap(), "--gpu", "rtx-4090", "-f", "json"]);
    assert_eq!(
        fit.json()["memory"],
        serde_json::from_str::<serde_json::Value>(&expected).unwrap()["memory"]
    );
    s.stop().unwrap();
}

#[test]
fn bad_input_gets_a_4xx_with_a_clear_message() {
    let s = server();
    let a = s.addr.to_string();
    let error = |path: &str, body: &[u8], status: u16, says: &str| {
        let r = http::request(&a, "POST", path, Some(body)).unwrap();
        assert_eq!(
            r.status,
            status,
            "{path} {}: {}",
            String::from_utf8_lossy(&body[..body.len().min(80)]),
            r.text()
        );
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains(says), "{msg:?} should say {says:?}");
    };
    error("/api/fit", b"{\"model\": \"phi-3.5-mini\",", 400, "malformed JSON");
    error("/api/fit", b"[1, 2]", 400, "must be a JSON object");
    error(
        "/api/fit",
        b"{\"gpu\": \"h100\"}",
        422,
        "give a MODEL, or a --cmd that names one",
    );
    error("/api/fit", b"{\"model\": \"phi-3.5-mini\"}", 400, "missing field `gpu`");
    error(
        "/api/fit",
        b"{\"model\": \"phi-3.5-mini\", \"gpu\": \"h100\", \"contxt\": 5}",
        400,
        "unknown parameter `contxt`",
    );
    error(
        "/api/fit",
        b"{\"model\": \"phi-9\", \"gpu\": \"h100\"}",
        422,
        "unknown model `phi-9`",
    );
    error(
        "/api/fit",
        b"{\"model\": \"phi-3.5-mini\", \"gpu\": \"b900\"}",
        422,
        "unknown gpu `b900`",
    );
    error(
        "/api/fit",
        b"{\"model\": \"phi-3.5-mini\", \"gpu\": \"h100\", \"batch\": 0}",
        400,
        "batch: 0 is out of range: 1 to 65536",
    );
    error(
        "/api/fit",
        b"{\"model\": \"phi-3.5-mini\", \"gpu\": \"h100\", \"batch\": 1e30}",
        400,
        "batch: 1000000000000000000000000000000 is not a whole number",
    );
    error(
        "/api/fit",
        b"{\"model\": \"phi-3.5-mini\", \"gpu\": \"h100\", \"gpus\": -4}",
        400,
        "gpus: -4 is negative",
    );
    error(
        "/api/fit",
        b"{\"model\": \"phi-3.5-mini\", \"gpu\": \"h100\", \"context\": \"1000M\"}",
        400,
        "context: `1000M` tokens is more than gpuplan estimates",
    );
    error(
        "/api/fit",
        b"{\"model\": \"phi-3.5-mini\", \"gpu\": \"h100\", \"context\": \"1M\"}",
        422,
        "longer than phi-3.5-mini's maximum of 131072 tokens",
    );
    error(
        "/api/fit",
        b"{\"model\": \"phi-3.5-mini\", \"gpu\": \"h100\", \"precision\": \"q3_x\"}",
        400,
        "precision: unknown precision `q3_x`",
    );
    error(
        "/api/fit",
        b"{\"model\": 7, \"gpu\": \"h100\"}",
        400,
        "a model id (string) or a config.json",
    );
    // engine settings past their ranges, given directly or in a pasted command
    for (setting, says) in [
        (
            "\"block_size\": 18446744073709551615",
            "block_size 18446744073709551615 is out of range",
        ),
        ("\"max_num_batched_tokens\": \"1000M\"", "max_num_batched_tokens"),
        ("\"max_num_seqs\": 0", "max_num_seqs 0 is out of range"),
        (
            "\"cmd\": \"llama-server -m x.gguf -np 99999999\"",
            "batch 99999999 is out of range",
        ),
        (
            "\"cmd\": \"vllm serve x --max-model-len 99999999999\", \"allow_long_context\": true",
            "context 99999999999 is out of range",
        ),
    ] {
        let body = format!("{{\"model\": \"phi-3.5-mini\", \"gpu\": \"h100\", {setting}}}");
        error("/api/fit", body.as_bytes(), 422, says);
    }
    error(
        "/api/fit",
        b"{\"model\": {\"model_type\": \"nonsense\"}, \"gpu\": \"h100\"}",
        422,
        "not an architecture gpuplan imports",
    );
    // no request reads the server's files
    error(
        "/api/fit",
        b"{\"model\": \"phi-3.5-mini\", \"gpu\": \"gpus/h100-sxm.yaml\"}",
        422,
        "unknown gpu `gpus/h100-sxm.yaml`",
    );
    error(
        "/api/report",
        b"name: x\nmodels:\n  - id: /etc/model.yaml\n",
        422,
        "not file paths",
    );
    error("/api/report", b"name: [unclosed", 422, "workload.yaml");
    error("/api/import", b"{\"model_type\": \"llama\"", 422, "config.json");
    error(
        "/api/compare",
        b"{\"models\": [\"phi-3.5-mini\"], \"gpu\": \"h100\"}",
        422,
        "at least two models",
    );
    let big = vec![b' '; (1 << 20) + 1];
    error("/api/fit", &big, 413, "request body over 1048576 bytes (1 MiB)");
    error("/api/report", &big, 413, "request body over 1048576 bytes");
    let r = http::get(&a, "/api/nothing");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("no such route: /api/nothing"));
    let r = http::get(&a, "/api/fit");
    assert_eq!(r.status, 405, "GET on a POST route");
    // still serving after all of that
    assert_eq!(http::get(&a, "/api/formats").status, 200);
    s.stop().unwrap();
}

#[test]
fn a_handler_panic_is_a_500_and_the_server_goes_on() {
    let s = server();
    let a = s.addr.to_string();
    for _ in 0..3 {
        let r = http::get(&a, "/api/test-panic");
        assert_eq!(r.status, 500);
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(
            msg.starts_with("internal error") && msg.contains("index out of bounds"),
            "{msg}"
        );
        let ok = http::post(&a, "/api/fit", r#"{"model": "phi-3.5-mini", "gpu": "h100"}"#);
        assert_eq!(ok.status, 200);
    }
    s.stop().unwrap();
}

#[test]
fn the_openapi_description_lists_every_route() {
    let s = server();
    let a = s.addr.to_string();
    let doc = http::get(&a, "/api/openapi.json").json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "/api/compare",
            "/api/fit",
            "/api/formats",
            "/api/gpus",
            "/api/import",
            "/api/matrix",
            "/api/models",
            "/api/openapi.json",
            "/api/report"
        ]
    );
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let r = http::request(&a, &method.to_uppercase(), path, Some(b"{}")).unwrap();
            assert!(r.status != 404 && r.status != 405, "{method} {path}: {}", r.status);
        }
    }
    // the documented parameters are the ones the API takes (the command line's)
    let fit_params: Vec<&str> = doc["components"]["schemas"]["FitParams"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let r = http::post(&a, "/api/fit", r#"{"x": 1}"#);
    let known = r.json()["error"].as_str().unwrap().to_string();
    for p in &fit_params {
        assert!(
            known.contains(&format!(" {p}")),
            "{p} is documented but not taken: {known}"
        );
    }
    assert_eq!(known.matches(", ").count() + 1, fit_params.len(), "{known}");
    s.stop().unwrap();
}

/// Starts the binary; returns the child and its address (from the line it prints).
fn spawn_binary(extra: &[&str]) -> (std::process::Child, String, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gpuplan"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (child, addr, err)
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigint_and_sigterm_stop_the_server_cleanly() {
    for signal in ["-INT", "-TERM"] {
        let (mut child, addr, mut err) = spawn_binary(&[]);
        assert_eq!(
            http::post(&addr, "/api/fit", r#"{"model": "phi-3.5-mini", "gpu": "h100"}"#).status,
            200
        );
        let killed = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let status = wait_exit(&mut child);
        assert_eq!(status.code(), Some(0), "{signal}: {status:?}");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
        assert!(
            rest.contains("signal received") && rest.contains("stopped"),
            "{signal}: {rest}"
        );
        assert!(
            std::net::TcpStream::connect(&addr).is_err(),
            "{signal}: still listening"
        );
    }
}

#[test]
fn a_non_loopback_address_must_be_asked_for() {
    let o = Command::new(env!("CARGO_BIN_EXE_gpuplan"))
        .args(["serve", "--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not a loopback address") && err.contains("--allow-remote"),
        "{err}"
    );
}
