//! The binary as users run it: the JSON contract of `fit`, the other formats, exit codes, errors.

use std::process::{Command, Output};

fn gpuplan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpuplan"))
        .args(args)
        .env_remove("GPUPLAN_CATALOG")
        .output()
        .expect("run gpuplan")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    serde_json::from_str(&stdout(&gpuplan(&a))).expect("valid JSON")
}

#[test]
fn fit_json_has_the_documented_contract() {
    let v = json(&[
        "fit",
        "phi-3.5-mini",
        "--gpu",
        "h100-sxm",
        "--context",
        "32k",
        "--batch",
        "2",
    ]);
    for key in [
        "model",
        "gpu",
        "precision",
        "context",
        "batch",
        "fits",
        "max_context",
        "max_batch",
    ] {
        assert!(!v[key].is_null(), "missing {key}");
    }
    assert_eq!(v["model"], "phi-3.5-mini");
    assert_eq!(v["context"], 32768);
    assert_eq!(v["batch"], 2);
    assert_eq!(v["params"]["total"], 3_821_079_552u64);
    assert_eq!(v["params"]["active"], 3_821_079_552u64);
    for key in [
        "weights_bytes",
        "kv_cache_bytes",
        "activations_bytes",
        "overhead_bytes",
        "total_bytes",
        "available_bytes",
    ] {
        assert!(
            v["memory"][key].is_u64(),
            "memory.{key} must be an integer: {}",
            v["memory"][key]
        );
    }
    // 2 sequences x 32768 tokens x 384 KiB
    assert_eq!(v["memory"]["kv_cache_bytes"], 2u64 * 32768 * 393_216);
    let m = &v["memory"];
    let sum: u64 = ["weights_bytes", "kv_cache_bytes", "activations_bytes", "overhead_bytes"]
        .iter()
        .map(|k| m[k].as_u64().unwrap())
        .sum();
    assert_eq!(m["total_bytes"].as_u64(), Some(sum));
    for key in ["decode_tokens_per_s", "prefill_tokens_per_s", "ttft_s"] {
        assert!(
            v["throughput"][key].as_f64().is_some_and(|x| x > 0.0),
            "throughput.{key}"
        );
    }
}

#[test]
fn fit_reports_a_model_that_does_not_fit_with_exit_zero() {
    let v = json(&["fit", "phi-3.5-moe", "--gpu", "rtx-4090"]);
    assert_eq!(v["fits"], false);
    assert!(v["max_context"].is_null());
    assert!(v["headroom_bytes"].as_i64().unwrap() < 0);
}

#[test]
fn table_markdown_and_csv_render() {
    let t = stdout(&gpuplan(&["fit", "phi-3.5-mini", "--gpu", "h100"]));
    assert!(
        t.contains("FITS") && t.contains("kv cache") && !t.contains('\x1b'),
        "{t}"
    );
    let md = stdout(&gpuplan(&[
        "fit",
        "phi-3.5-mini",
        "--gpu",
        "h100",
        "--format",
        "markdown",
    ]));
    assert!(md.contains("| component | bytes | size | detail |"), "{md}");
    let csv = stdout(&gpuplan(&[
        "compare",
        "phi-3.5-mini",
        "phi-3.5-moe",
        "--gpu",
        "h200",
        "--format",
        "csv",
    ]));
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("model,params,active,precision"));
    assert_eq!(lines.count(), 2);
}

#[test]
fn no_color_is_respected() {
    let o = Command::new(env!("CARGO_BIN_EXE_gpuplan"))
        .args(["fit", "phi-3.5-mini", "--gpu", "h100"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains('\x1b'));
}

#[test]
fn matrix_without_arguments_covers_the_catalog() {
    let models = json(&["models"]).as_array().unwrap().len();
    let gpus = json(&["gpus"]).as_array().unwrap().len();
    let m = json(&["matrix"]);
    assert_eq!(m["cells"].as_array().unwrap().len(), models * gpus);
    assert_eq!(m["models"].as_array().unwrap().len(), models);
}

#[test]
fn matrix_takes_lists() {
    let m = json(&[
        "matrix",
        "--models",
        "phi-3.5-mini,phi-3.5-moe",
        "--gpu",
        "h100,h200",
        "--precision",
        "bf16,q4_k_m",
        "--context",
        "4k,32k",
    ]);
    assert_eq!(m["cells"].as_array().unwrap().len(), 2 * 2 * 2 * 2);
}

#[test]
fn errors_exit_non_zero_with_a_message() {
    let o = gpuplan(&["fit", "phi-9", "--gpu", "h100"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown model `phi-9`"), "{err}");
    // values are parsed with the command line (the API shares the parsers): a bad one is a usage
    // error naming it
    let o = gpuplan(&["fit", "phi-3.5-mini", "--gpu", "h100", "--precision", "int3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown precision `int3`"));
    let o = gpuplan(&["fit", "phi-3.5-mini", "--gpu", "h100", "--context", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`lots` is not a token count"));
    let o = gpuplan(&["fit", "phi-3.5-mini", "--gpu", "h100", "--batch", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("0 is out of range: 1 to 65536"));
    // past the model's maximum: refused unless asked for
    let o = gpuplan(&["fit", "phi-3.5-mini", "--gpu", "h100", "--context", "256k"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "context 262144 is longer than phi-3.5-mini's maximum of 131072 tokens: pass --allow-long-context"
        ),
        "{err}"
    );
    let o = gpuplan(&[
        "fit",
        "phi-3.5-mini",
        "--gpu",
        "h100",
        "--context",
        "256k",
        "--allow-long-context",
        "-f",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("exceeds the model's maximum"));
    let o = gpuplan(&["fit", "phi-3.5-mini"]);
    assert_eq!(o.status.code(), Some(2), "usage error");
}

#[test]
fn user_catalog_extends_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("gpus")).unwrap();
    let gpu = include_str!("../gpus/h100-sxm.yaml")
        .replace("id: h100-sxm", "id: my-card")
        .replace("reported_mib: 81559", "reported_mib: 40000")
        .replace("  cuda_visible_mib: 81121\n", "");
    std::fs::write(dir.path().join("gpus/my-card.yaml"), gpu).unwrap();
    let v = json(&[
        "fit",
        "phi-3.5-mini",
        "--gpu",
        "my-card",
        "--catalog",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(v["gpu"], "my-card");
    // a bad user file fails loudly with its path and line
    std::fs::write(
        dir.path().join("gpus/bad.yaml"),
        "id: bad\nname: x\nvendor: nvidia\nbogus: 1\n",
    )
    .unwrap();
    let o = gpuplan(&["gpus", "--catalog", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.yaml:4") && err.contains("unknown field `bogus`"),
        "{err}"
    );
}

#[test]
fn a_yaml_path_works_where_an_id_does() {
    let v = json(&[
        "fit",
        concat!(env!("CARGO_MANIFEST_DIR"), "/models/phi-3.5-moe.yaml"),
        "--gpu",
        concat!(env!("CARGO_MANIFEST_DIR"), "/gpus/h200.yaml"),
    ]);
    assert_eq!(v["model"], "phi-3.5-moe");
    assert_eq!(v["params"]["active"], 6_640_999_744u64);
}

#[test]
fn fit_json_has_the_engine_object() {
    let v = json(&[
        "fit",
        "llama-3.1-8b",
        "--gpu",
        "h100-sxm",
        "--runtime",
        "vllm",
        "--context",
        "16000",
    ]);
    let e = &v["engine"];
    assert_eq!(e["name"], "vllm");
    assert!(e["version"].as_str().is_some_and(|s| s.starts_with("vLLM")));
    assert_eq!(e["starts"], true);
    for key in [
        "weights_bytes",
        "non_torch_bytes",
        "activation_peak_bytes",
        "cuda_graph_bytes",
        "available_kv_cache_bytes",
        "kv_cache_tokens",
        "max_concurrency",
    ] {
        assert!(e[key].is_number(), "engine.{key}");
    }
    let cmd = e["command"].as_str().expect("a vLLM command");
    assert!(
        cmd.starts_with("vllm serve meta-llama/Llama-3.1-8B-Instruct --max-model-len 16000"),
        "{cmd}"
    );

    let v = json(&["fit", "phi-3.5-mini", "--gpu", "rtx-4090", "--precision", "q4_k_m"]);
    let e = &v["engine"];
    assert_eq!(e["name"], "llama.cpp", "GGUF formats default to llama.cpp");
    for key in [
        "model_buffer_bytes",
        "host_model_buffer_bytes",
        "kv_buffer_bytes",
        "compute_buffer_bytes",
        "host_compute_buffer_bytes",
    ] {
        assert!(e[key].is_number(), "engine.{key}");
    }
    assert!(e["command"].as_str().is_some_and(|c| c.starts_with("llama-server -m ")));
    assert_eq!(e["ollama"]["num_ctx"], 4096);
}

/// The emitted command, pasted back with --cmd, gives the same estimate.
#[test]
fn cmd_round_trips_the_emitted_command() {
    let cases: &[&[&str]] = &[
        &[
            "fit",
            "llama-3.1-8b",
            "--gpu",
            "h100-sxm",
            "--context",
            "16000",
            "--gpus",
            "2",
        ],
        &[
            "fit",
            "phi-3.5-mini",
            "--gpu",
            "a100-80gb-sxm",
            "--context",
            "32k",
            "--kv-precision",
            "fp8",
            "--gpu-memory-utilization",
            "0.85",
            "--max-num-seqs",
            "64",
        ],
        &[
            "fit",
            "phi-3.5-mini",
            "--gpu",
            "rtx-4090",
            "--precision",
            "q4_k_m",
            "--context",
            "8k",
            "--batch",
            "4",
            "--flash-attn",
            "off",
            "--ubatch-size",
            "1024",
        ],
    ];
    for args in cases {
        let first = json(args);
        let cmd = first["engine"]["command"].as_str().expect("a command").to_string();
        let again = json(&["fit", "--gpu", args[3], "--cmd", &cmd]);
        for key in ["model", "precision", "kv_precision", "context", "batch", "gpus", "fits"] {
            assert_eq!(first[key], again[key], "{key} after --cmd \"{cmd}\"");
        }
        assert_eq!(first["engine"], again["engine"], "engine after --cmd \"{cmd}\"");
        assert_eq!(first["memory"]["total_bytes"], again["memory"]["total_bytes"]);
    }
}

#[test]
fn bad_engine_commands_name_the_flag_and_the_engine() {
    let o = gpuplan(&[
        "fit",
        "--gpu",
        "h100",
        "--cmd",
        "vllm serve meta-llama/Llama-3.1-8B-Instruct --turbo",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("vLLM: unknown flag `--turbo`"));
    // a TP that does not divide the heads: vLLM's own reason
    let v = json(&[
        "fit",
        "llama-3.1-8b",
        "--gpu",
        "h100-sxm",
        "--runtime",
        "vllm",
        "--gpus",
        "3",
    ]);
    assert_eq!(v["fits"], false);
    assert_eq!(v["engine"]["refusal"]["reason"], "heads_not_divisible");
    assert_eq!(v["engine"]["refusal"]["tp"], 3);
    // utilization outside (0, 1]
    let v = json(&[
        "fit",
        "llama-3.1-8b",
        "--gpu",
        "h100-sxm",
        "--runtime",
        "vllm",
        "--gpu-memory-utilization",
        "1.5",
    ]);
    assert_eq!(v["engine"]["refusal"]["reason"], "bad_setting");
    // vLLM's default max_model_len (the model's 128K) does not fit a 24 GB card: it refuses
    let v = json(&[
        "fit",
        "--gpu",
        "rtx-4090",
        "--cmd",
        "vllm serve meta-llama/Llama-3.1-8B-Instruct",
    ]);
    assert_eq!(v["context"], 131072);
    assert_eq!(v["engine"]["starts"], false);
    assert_eq!(v["engine"]["refusal"]["reason"], "kv_cache_too_small");
}

#[test]
fn completions_for_three_shells() {
    for (shell, marker) in [
        ("bash", "_gpuplan()"),
        ("zsh", "#compdef gpuplan"),
        ("fish", "complete -c gpuplan"),
    ] {
        let o = gpuplan(&["completions", shell]);
        assert!(o.status.success(), "{shell}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(marker), "{shell}: no {marker}");
        // the subcommands and a flag of one of them are offered
        for word in ["serve", "matrix", "allow-long-context"] {
            assert!(out.contains(word), "{shell}: no {word}");
        }
    }
    assert_eq!(gpuplan(&["completions", "tcsh"]).status.code(), Some(2));
}
