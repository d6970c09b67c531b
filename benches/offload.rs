//! `fit` when the model does not fit the GPU and a host is known: the offload split search runs
//! (every split's buffers, largest context and decode speed). Target: under 5 ms a fit (README
//! "Performance", which gives the first, cold fit of a process beside criterion's warm ones). Run:
//! `cargo bench --bench offload`.

use criterion::{criterion_group, criterion_main, Criterion};
use gpuplan::estimate::arch::check_declared;
use gpuplan::plan::{fit::fit, Options};
use gpuplan::spec::host::Host;
use gpuplan::spec::{Catalog, Format};
use std::hint::black_box;

const GIB: u64 = 1 << 30;

/// The README's two offload questions: gpt-oss-120b on one RTX 4090 with 64 GB of DDR5, and
/// Qwen3-235B-A22B in Q4_K_M on two RTX 3090s with 128 GB.
fn split_search(c: &mut Criterion) {
    let catalog = Catalog::embedded(check_declared).expect("embedded catalog");
    let ddr5 = catalog.host("desktop-ddr5-6000").expect("host").host();
    let cases: [(&str, &str, &str, u64, u64); 2] = [
        ("gpt-oss-120b", "rtx-4090", "mxfp4_moe", 1, 64),
        ("qwen3-235b-a22b", "rtx-3090", "q4_k_m", 2, 128),
    ];
    for (model, gpu, format, gpus, ram_gib) in cases {
        let m = catalog.model(model, check_declared).expect("model");
        let g = catalog.gpu(gpu).expect("gpu");
        let host: &'static Host = Box::leak(Box::new(ddr5.clone().with_memory(ram_gib * GIB)));
        let opts = Options {
            precision: Some(Format::parse(format).expect("format")),
            context: Some(32768),
            gpus,
            host: Some(host),
            ..Options::default()
        };
        // the first fit of a process replays every graph (the CLI's case); criterion's iterations
        // below find them remembered per thread (`gpuplan serve`'s case)
        let start = std::time::Instant::now();
        assert!(fit(&m, &g, &opts).offload.is_some(), "{model}: the split search runs");
        println!("{model} on {gpus} x {gpu}: first (cold) fit {:.2?}", start.elapsed());
        c.bench_function(&format!("fit/offload-search/{model}"), |b| {
            b.iter(|| black_box(fit(&m, &g, &opts)))
        });
    }
}

criterion_group!(benches, split_search);
criterion_main!(benches);
