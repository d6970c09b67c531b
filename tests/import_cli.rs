//! The `import` subcommand and model paths wherever a model id is accepted, through the binary.

mod common;

use std::process::Command;

fn gpuplan(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gpuplan"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn import_writes_yaml_and_paths_work_as_model_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("Tiny-Mixtral");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"model_type":"mixtral","hidden_size":256,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
            "intermediate_size":512,"vocab_size":1000,"num_local_experts":4,"num_experts_per_tok":2,"max_position_embeddings":8192}"#,
    )
    .unwrap();
    let out = tmp.path().join("tiny.yaml");
    let (ok, stdout, stderr) = gpuplan(&["import", dir.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("tiny-mixtral") && stdout.contains("Provenance"),
        "{stdout}"
    );
    let yaml = std::fs::read_to_string(&out).unwrap();
    assert!(yaml.contains("type: mixtral"), "{yaml}");

    // the directory, its config.json and the written YAML all work where a model id does
    for model in [
        dir.to_str().unwrap().to_string(),
        dir.join("config.json").to_str().unwrap().to_string(),
        out.to_str().unwrap().to_string(),
    ] {
        let (ok, stdout, stderr) = gpuplan(&["fit", &model, "--gpu", "rtx-4090", "--format", "json"]);
        assert!(ok, "{model}: {stderr}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(v["fits"], serde_json::Value::Bool(true), "{model}");
    }
    let (ok, stdout, _) = gpuplan(&["import", dir.to_str().unwrap(), "--format", "json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["kind"], "config");
    assert!(v["provenance"].as_array().unwrap().len() > 5);

    // errors go to stderr with the path and exit code 1
    std::fs::write(dir.join("config.json"), "{\"model_type\": 7}").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gpuplan"))
        .args(["import", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("config.json:1: field `model_type`"), "{stderr}");
}
