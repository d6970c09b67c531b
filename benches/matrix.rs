//! The full-catalog matrix: every model x every GPU x every weight format x 8 contexts, in one process,
//! and the same in each model's own format (what `gpuplan matrix` runs). Target: under 50 ms (README
//! "Performance", which gives both). Run: `cargo bench --bench matrix`.

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
