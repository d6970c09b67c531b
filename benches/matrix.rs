//! The full-catalog matrix: every model x every GPU x every weight format x 8 contexts, in one process,
//! the same in each model's own format (what `gpuplan matrix` runs), and in Q4_K_M with a host (the
//! offload cells). Target: under 50 ms (README "Performance", which gives each). Run:
//! `cargo bench --bench matrix`.

use criterion::{criterion_group, criterion_main, Criterion};
use gpuplan::estimate::arch::check_declared;
use gpuplan::plan::{matrix::matrix, Options};
use gpuplan::spec::{precision::FORMATS, Catalog, Format};
use std::hint::black_box;

const CONTEXTS: [u64; 8] = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072];

fn full_catalog(c: &mut Criterion) {
    let catalog = Catalog::embedded(check_declared).expect("embedded catalog");
    let models: Vec<_> = catalog.model_specs().cloned().collect();
    let gpus: Vec<_> = catalog.gpu_specs().cloned().collect();
    let formats: Vec<&'static Format> = FORMATS.iter().collect();
    let opts = Options::default();
    // The first call is cold: llama.cpp's compute graphs are replayed and remembered per thread
    // (estimate::engine::llamacpp::compute), so criterion's iterations below time the warm path.
    let start = std::time::Instant::now();
    let cells = matrix(&models, &gpus, &formats, &CONTEXTS, &opts).cells.len();
    let cold = start.elapsed();
    println!(
        "{} models x {} GPUs x {} formats x {} contexts = {cells} cells (contexts above a model's maximum skipped); first (cold) call {cold:.2?}",
        models.len(),
        gpus.len(),
        formats.len(),
        CONTEXTS.len()
    );
    c.bench_function("matrix/full-catalog", |b| {
        b.iter(|| black_box(matrix(&models, &gpus, &formats, &CONTEXTS, &opts)))
    });
    // what `gpuplan matrix` runs by default: each model in its own format on the engine a user would
    // run it with, every GPU, the 8 contexts
    let own = matrix(&models, &gpus, &[], &CONTEXTS, &opts).cells.len();
    println!(
        "{} models x {} GPUs, each model's own format: {own} cells",
        models.len(),
        gpus.len()
    );
    c.bench_function("matrix/full-catalog-own-formats", |b| {
        b.iter(|| black_box(matrix(&models, &gpus, &[], &CONTEXTS, &opts)))
    });
    // offload cells: every model in Q4_K_M (llama.cpp) with 128 GB of DDR5 behind each GPU, so each
    // cell that does not fit whole gets the split with the least on the host that fits
    let ddr5 = catalog.host("desktop-ddr5-6000").expect("host").host();
    let host: &'static gpuplan::spec::host::Host = Box::leak(Box::new(ddr5.with_memory(128 << 30)));
    let q4 = [Format::parse("q4_k_m").expect("format")];
    let with_host = Options {
        host: Some(host),
        ..Options::default()
    };
    let start = std::time::Instant::now();
    let m = matrix(&models, &gpus, &q4, &CONTEXTS, &with_host);
    let cold = start.elapsed();
    let offload = m.cells.iter().filter(|c| c.offload.is_some()).count();
    println!(
        "{} models x {} GPUs in q4_k_m with a host: {} cells, {offload} fit only with offload; first (cold) call {cold:.2?}",
        models.len(),
        gpus.len(),
        m.cells.len()
    );
    c.bench_function("matrix/full-catalog-q4_k_m-offload", |b| {
        b.iter(|| black_box(matrix(&models, &gpus, &q4, &CONTEXTS, &with_host)))
    });
    // including catalog parsing, as the CLI pays it
    c.bench_function("matrix/full-catalog+load", |b| {
        b.iter(|| {
            let catalog = Catalog::embedded(check_declared).expect("embedded catalog");
            let models: Vec<_> = catalog.model_specs().cloned().collect();
            let gpus: Vec<_> = catalog.gpu_specs().cloned().collect();
            black_box(matrix(&models, &gpus, &formats, &CONTEXTS, &opts))
        })
    });
}

criterion_group!(benches, full_catalog);
criterion_main!(benches);
