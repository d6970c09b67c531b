//! The page in a real browser: headless Chromium driven over WebDriver (chromedriver). Choose a model
//! and a GPU the way a person does (type, click, Enter), read the verdict and the total from the DOM,
//! and check them against the command line; then the linked URL, the matrix heatmap, the sizing
//! report, and the layout at phone width.
//!
//! Needs Debian's `chromium` and `chromium-driver`. With GPUPLAN_BROWSER_TESTS=required (`.ci/run`
//! sets it) a missing browser fails the test; without it the test says why it skipped.

mod http;

use gpuplan::estimate::arch::check_declared;
use gpuplan::serve::{app, Background, State};
use gpuplan::spec::Catalog;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// chromium and chromedriver, or None (after failing when they are required).
pub fn browser_tools() -> Option<(String, String)> {
    let which = |names: &[&str]| {
        names.iter().find_map(|n| {
            Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {n}"))
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        })
    };
    let chromium = std::env::var("CHROMIUM")
        .ok()
        .or_else(|| which(&["chromium", "chromium-browser", "google-chrome"]));
    let driver = std::env::var("CHROMEDRIVER").ok().or_else(|| which(&["chromedriver"]));
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let missing = format!(
                "{}{}",
                if c.is_none() { "chromium " } else { "" },
                if d.is_none() { "chromedriver" } else { "" }
            );
            if std::env::var("GPUPLAN_BROWSER_TESTS").is_ok_and(|v| v == "required") {
                panic!("GPUPLAN_BROWSER_TESTS=required but not installed: {missing} (apt-get install -y chromium chromium-driver)");
            }
            eprintln!("SKIPPED: not installed: {missing} (apt-get install -y chromium chromium-driver); the page was not checked in a browser");
            None
        }
    }
}

/// A WebDriver session on a chromedriver this test started.
struct Browser {
    driver: Child,
    addr: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(chromium: &str, chromedriver: &str) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let start = Instant::now();
        while http::request(&addr, "GET", "/status", None).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        // the flags this sandbox needs: no sandbox as root, no GPU, no background network traffic
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let r = http::post(&addr, "/session", &caps.to_string());
        let v = r.json();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {}", r.text()))
            .to_string();
        Browser {
            driver,
            addr,
            session,
            _profile: profile,
        }
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = body.to_string();
        let r = http::request(&self.addr, method, &path, (method == "POST").then_some(body.as_bytes())).unwrap();
        let v = r.json();
        assert_eq!(r.status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    fn script(&self, js: &str) -> Value {
        self.call("POST", "/execute/sync", json!({"script": js, "args": []}))
    }

    fn element(&self, css: &str) -> String {
        let v = self.call("POST", "/element", json!({"using": "css selector", "value": css}));
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_string()
    }

    fn click(&self, css: &str) {
        let e = self.element(css);
        self.call("POST", &format!("/element/{e}/click"), json!({}));
    }

    fn keys(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.call("POST", &format!("/element/{e}/value"), json!({ "text": text }));
    }

    /// Polls a script until it returns something other than null/false.
    fn wait(&self, what: &str, js: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.script(js);
            if !(v.is_null() || v == Value::Bool(false)) {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn text(&self, css: &str) -> String {
        self.script(&format!("return document.querySelector({css:?})?.textContent ?? null"))
            .as_str()
            .unwrap_or_else(|| panic!("no {css}"))
            .to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http::request(&self.addr, "DELETE", &format!("/session/{}", self.session), None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn cli(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_gpuplan")).args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// The `verdict` line of `gpuplan fit` (table format).
fn cli_verdict(args: &[&str]) -> String {
    let out = cli(args);
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix("verdict"))
        .unwrap_or_else(|| panic!("no verdict in {out}"))
        .trim()
        .to_string()
}

#[test]
fn the_page_answers_as_the_cli_does() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let server = Background::start(
        app(
            State::new(Catalog::embedded(check_declared).unwrap()).unwrap(),
            Default::default(),
        ),
        2,
    )
    .unwrap();
    let base = format!("http://{}", server.addr);
    let b = Browser::start(&chromium, &chromedriver);

    b.go(&format!("{base}/"));
    b.wait("the catalog", "return document.body.dataset.ready === 'true'");
    // a person: type the model, pick the GPU, type the context, press Enter
    b.keys("#model", "phi-3.5-mini");
    b.click("#gpu option[value='rtx-4090']");
    b.keys("#context", "32k\u{E007}");
    b.wait(
        "the verdict",
        "return document.querySelector('.card .verdict') !== null",
    );
    let args = ["fit", "phi-3.5-mini", "--gpu", "rtx-4090", "--context", "32k"];
    let verdict = b.text(".card .verdict");
    assert_eq!(verdict, cli_verdict(&args));
    let json: Value = serde_json::from_str(&cli(&[&args[..], &["-f", "json"]].concat())).unwrap();
    let total = b.script("return document.querySelector('.card .total').dataset.bytes");
    assert_eq!(total.as_str().unwrap(), json["memory"]["total_bytes"].to_string());
    // the total with its error band, as the CLI's table prints them
    let table = cli(&args);
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.contains("│ total"))
        .unwrap()
        .split('┆')
        .map(str::trim)
        .collect();
    let band = row[3].split(';').next().unwrap();
    assert_eq!(b.text(".card .total"), format!("{} ({band})", row[2]));
    assert_eq!(
        b.script("return document.querySelector('.card .verdict').dataset.fits"),
        json["fits"].to_string()
    );
    // the stacked bar has its four parts and the limit
    assert_eq!(
        b.script("return document.querySelectorAll('.card .bar .seg').length"),
        json!(4)
    );

    // the URL holds the state: opening it again shows the same answer
    let url = b.call("GET", "/url", json!({}));
    let url = url.as_str().unwrap().to_string();
    assert!(
        url.contains("model=phi-3.5-mini") && url.contains("gpu=rtx-4090") && url.contains("context=32k"),
        "{url}"
    );
    b.go(&format!("{base}/"));
    b.go(&url);
    b.wait(
        "the verdict from the URL",
        "return document.querySelector('.card .verdict') !== null",
    );
    assert_eq!(b.text(".card .verdict"), verdict);

    // two GPUs at once, under vLLM: one card each, each equal to the CLI
    b.go(&format!(
        "{base}/?model=phi-3.5-moe&gpu=h100-sxm,h200&runtime=vllm&precision=fp8&batch=8"
    ));
    b.wait(
        "two cards",
        "return document.querySelectorAll('.card .verdict').length === 2 || null",
    );
    for (i, gpu) in ["h100-sxm", "h200"].iter().enumerate() {
        let shown = b.script(&format!(
            "return document.querySelectorAll('.card .verdict')[{i}].textContent"
        ));
        let expected = cli_verdict(&[
            "fit",
            "phi-3.5-moe",
            "--gpu",
            gpu,
            "--runtime",
            "vllm",
            "--precision",
            "fp8",
            "--batch",
            "8",
        ]);
        assert_eq!(shown.as_str().unwrap(), expected, "{gpu}");
    }

    // an unknown model: the API's message, shown as an alert
    b.go(&format!("{base}/?model=phi-9&gpu=h100-sxm"));
    b.wait("the error", "return document.querySelector('#results .error') !== null");
    assert!(b.text("#results .error").contains("unknown model `phi-9`"));

    // the matrix as a heatmap: one cell per (row, GPU), as the API answers
    b.go(&format!(
        "{base}/?view=matrix&m-models=phi-3.5-mini,phi-3.5-moe&m-gpu=rtx-4090,h100-sxm,h200"
    ));
    b.wait("the heatmap", "return document.querySelector('.heatmap') !== null");
    let cells = b.script("return document.querySelectorAll('.heatmap td.fit, .heatmap td.nofit').length");
    assert_eq!(cells, json!(6));
    let fits = b.script("return document.querySelectorAll('.heatmap td.fit').length");
    let m: Value = serde_json::from_str(&cli(&[
        "matrix",
        "--models",
        "phi-3.5-mini,phi-3.5-moe",
        "--gpu",
        "rtx-4090,h100-sxm,h200",
        "-f",
        "json",
    ]))
    .unwrap();
    let cli_fits = m["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["fits"] == json!(true))
        .count();
    assert_eq!(fits, json!(cli_fits));

    // the sizing report form: the example workload renders into the frame
    b.go(&format!("{base}/?view=report"));
    b.wait("the page", "return document.body.dataset.ready === 'true'");
    b.click("#report-form button");
    b.wait(
        "the report",
        "return document.querySelector('#report-frame').hidden === false || null",
    );
    let report = b.script("return document.querySelector('#report-frame').srcdoc");
    assert!(report.as_str().unwrap().contains("<h2>Recommendation</h2>"));

    // phone width: nothing wider than the screen
    b.call("POST", "/window/rect", json!({"width": 390, "height": 844}));
    b.go(&format!("{base}/?model=phi-3.5-mini&gpu=rtx-4090&context=32k"));
    b.wait(
        "the verdict at phone width",
        "return document.querySelector('.card .verdict') !== null",
    );
    let overflow = b.script("return document.documentElement.scrollWidth - document.documentElement.clientWidth");
    assert_eq!(overflow, json!(0), "horizontal scroll at phone width");
    if let Ok(path) = std::env::var("GPUPLAN_SCREENSHOT") {
        b.call("POST", "/window/rect", json!({"width": 1100, "height": 1000}));
        b.go(&format!(
            "{base}/?model=phi-3.5-mini&gpu=rtx-4090,l40s&context=32k&runtime=vllm"
        ));
        b.wait(
            "the verdict",
            "return document.querySelectorAll('.card .verdict').length === 2 || null",
        );
        let png = b.call("GET", "/screenshot", json!({}));
        std::fs::write(&path, base64_decode(png.as_str().unwrap())).unwrap();
        eprintln!("screenshot: {path}");
    }
    drop(b);
    server.stop().unwrap();
}

#[test]
fn the_page_works_from_the_keyboard() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let server = Background::start(
        app(
            State::new(Catalog::embedded(check_declared).unwrap()).unwrap(),
            Default::default(),
        ),
        2,
    )
    .unwrap();
    let b = Browser::start(&chromium, &chromedriver);
    b.go(&format!("http://{}/", server.addr));
    b.wait("the catalog", "return document.body.dataset.ready === 'true'");
    // every form control has a label
    let unlabeled = b.script(
        "return [...document.querySelectorAll('input, select, textarea')].filter(e => e.type !== 'checkbox' && !(e.labels && e.labels.length)).map(e => e.id)",
    );
    assert_eq!(unlabeled, json!([]));
    // Tab from the model field reaches the GPU list; arrow keys choose; Enter in a field submits
    b.keys("#model", "phi-3.5-mini\u{E004}\u{E004}");
    assert_eq!(
        b.script("return document.activeElement.id"),
        json!("gpu"),
        "Tab, Tab: past the config.json toggle to the GPUs"
    );
    b.keys("#gpu", "\u{E015}");
    let chosen = b.script("return [...document.querySelector('#gpu').selectedOptions].map(o => o.value)");
    assert_eq!(chosen.as_array().map(Vec::len), Some(1), "{chosen}");
    b.keys("#batch", "\u{E007}");
    b.wait(
        "the verdict",
        "return document.querySelector('.card .verdict') !== null",
    );
    let gpu = chosen[0].as_str().unwrap().to_string();
    assert_eq!(
        b.text(".card .verdict"),
        cli_verdict(&["fit", "phi-3.5-mini", "--gpu", &gpu])
    );
    drop(b);
    server.stop().unwrap();
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'=' && !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | (val(c) as u32) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
