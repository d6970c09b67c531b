//! Load benchmark of `gpuplan serve` on loopback: POST /api/fit from concurrent keep-alive
//! connections, a rotating mix of models, GPUs, runtimes and contexts; prints requests/s and latency
//! percentiles. Bounded: it stops after REQUESTS requests or SECONDS seconds, whichever comes first,
//! and sends traffic only to 127.0.0.1.
//!
//!   cargo bench --bench serve                     # defaults: 50,000 requests, 8 connections, 60 s cap
//!   REQUESTS=20000 CONNECTIONS=16 cargo bench --bench serve
//!
//! The server runs in this process on its own runtime (WORKERS threads, default 2: this machine's
//! cores); the client is one more thread, so client and server share the cores, as on a laptop.

use gpuplan::estimate::arch::check_declared;
use gpuplan::serve::{app, Background, State};
use gpuplan::spec::Catalog;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The request bodies the connections cycle through.
fn bodies() -> Vec<String> {
    let mut out = Vec::new();
    for model in [
        "phi-3.5-mini",
        "phi-3.5-moe",
        "phi-3.5-vision",
        "microsoft/Phi-3-medium-4k-instruct",
    ] {
        for gpu in ["rtx-4090", "l40s", "h100-sxm", "h200"] {
            for (runtime, context) in [("candle", "4k"), ("vllm", "4096"), ("llama.cpp", "2k")] {
                out.push(format!(
                    r#"{{"model": "{model}", "gpu": "{gpu}", "runtime": "{runtime}", "context": "{context}", "precision": "q4_k_m"}}"#
                ));
            }
        }
    }
    out
}

/// One keep-alive connection sending `n` requests in turn; the latency of each, in microseconds.
async fn connection(addr: std::net::SocketAddr, first: usize, n: u64, deadline: Instant) -> (Vec<u32>, u64) {
    let bodies = bodies();
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).ok();
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut latencies = Vec::with_capacity(n as usize);
    let mut errors = 0;
    let mut line = String::new();
    let mut body = Vec::new();
    for i in 0..n {
        if Instant::now() > deadline {
            break;
        }
        let b = &bodies[(first + i as usize) % bodies.len()];
        let req = format!(
            "POST /api/fit HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        );
        let t = Instant::now();
        w.write_all(req.as_bytes()).await.expect("write");
        line.clear();
        r.read_line(&mut line).await.expect("status");
        let ok = line.split_whitespace().nth(1) == Some("200");
        let mut length = 0usize;
        loop {
            line.clear();
            r.read_line(&mut line).await.expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().expect("content-length");
                }
            }
        }
        body.resize(length, 0);
        r.read_exact(&mut body).await.expect("body");
        latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
        if !ok {
            errors += 1;
        }
    }
    (latencies, errors)
}

fn main() {
    let requests = env("REQUESTS", 50_000);
    let connections = env("CONNECTIONS", 8).max(1);
    let seconds = env("SECONDS", 60);
    let workers = env("WORKERS", 2) as usize;
    let catalog = Catalog::embedded(check_declared).expect("catalog");
    let server = Background::start(app(State::new(catalog).expect("state"), Default::default()), workers)
        .expect("start the server");
    let addr = server.addr;
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let per = requests.div_ceil(connections);
    // warm-up: one request per body, not timed
    client.block_on(connection(
        addr,
        0,
        bodies().len() as u64,
        Instant::now() + Duration::from_secs(30),
    ));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let results = client.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|c| tokio::spawn(connection(addr, c as usize * 7, per, deadline)))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.expect("connection task"));
        }
        all
    });
    let elapsed = start.elapsed().as_secs_f64();
    let errors: u64 = results.iter().map(|(_, e)| e).sum();
    let mut lat: Vec<u32> = results.into_iter().flat_map(|(l, _)| l).collect();
    lat.sort_unstable();
    let q = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1] as f64 / 1000.0;
    println!(
        "serve /api/fit: {} requests ({} not 200) over {} connections in {:.2} s, {} server threads",
        lat.len(),
        errors,
        connections,
        elapsed,
        workers
    );
    println!(
        "  {:.0} requests/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len() as f64 / elapsed,
        q(0.50),
        q(0.90),
        q(0.99),
        q(1.0)
    );
    server.stop().expect("stop");
}
