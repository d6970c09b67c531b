//! The matrix asks each offload plan only for the split with the least on the host that fits (a
//! bisection); `fit` runs the whole split search and picks the fastest split that fits. They must
//! agree: every further row reads more weights from the host, so the first split that fits is the
//! fastest one. Checked for MoE models (`--n-cpu-moe`) and dense ones (`-ngl`), on cards of 12-32 GB,
//! with hosts of 32-256 GB.

use gpuplan::estimate::arch::check_declared;
use gpuplan::estimate::engine::offload::solve::Plan;
use gpuplan::estimate::engine::offload::speed::HYBRID;
use gpuplan::estimate::engine::offload::MODELED;
use gpuplan::estimate::engine::Settings;
use gpuplan::estimate::{ModelFacts, Prepared, WeightFacts};
use gpuplan::plan::Options;
use gpuplan::spec::{Catalog, Format};

const GIB: u64 = 1 << 30;

#[test]
fn the_least_offload_that_fits_is_the_fastest_split_that_fits() {
    let c = Catalog::embedded(check_declared).expect("catalog");
    let ddr5 = c.host("desktop-ddr5-6000").expect("host").host();
    let mut compared = 0;
    for (model, format) in [
        ("gpt-oss-120b", "mxfp4_moe"),
        ("qwen3-30b-a3b", "q4_k_m"),
        ("qwen3-32b", "q4_k_m"),
        ("llama-3.3-70b", "q4_k_m"),
    ] {
        let m = c.model(model, check_declared).expect("model");
        let opts = Options {
            precision: Some(Format::parse(format).expect("format")),
            ..Options::default()
        };
        let setup = opts.setup(&m);
        let facts = ModelFacts::new(&m);
        let weights = WeightFacts::new(&m, &facts, setup.format, 1);
        for gpu in ["rtx-3060-12gb", "rtx-4060-ti-16gb", "rtx-4090", "rtx-5090"] {
            let g = c.gpu(gpu).expect("gpu");
            let p = Prepared::new(setup, &g, &facts, &weights);
            let Settings::LlamaCpp(s) = p.settings else {
                panic!("{model} {format}: llama.cpp");
            };
            for context in [4096, 32768] {
                let plan = Plan::new(&p, &s, 1, context, 1, &MODELED);
                for ram in [32, 64, 128, 256] {
                    let host = ddr5.clone().with_memory(ram * GIB);
                    let least = plan.least_offload(&p, Some(&host), &HYBRID).map(|r| r.knob);
                    let best = plan.search(&p, Some(&host), &HYBRID).best_row().map(|r| r.knob);
                    assert_eq!(least, best, "{model} {format} on {gpu} at {context} with {ram} GiB");
                    compared += usize::from(least.is_some());
                }
            }
        }
    }
    // most of these fit some way
    assert!(compared > 100, "{compared} splits compared");
}

/// A matrix with a host marks the cells that fit only with part of the model in RAM, with the split
/// `fit` chooses for the same model, GPU, host and context; without a host it marks none.
#[test]
fn the_matrix_offload_cells_are_fits_offload_choice() {
    use gpuplan::plan::{fit::fit, matrix::matrix};
    let c = Catalog::embedded(check_declared).expect("catalog");
    let host = c.host("desktop-ddr5-6000").expect("host").host().with_memory(128 * GIB);
    let host: &'static gpuplan::spec::host::Host = Box::leak(Box::new(host));
    let models: Vec<_> = ["gpt-oss-120b", "qwen3-32b", "qwen3-235b-a22b"]
        .iter()
        .map(|m| c.model(m, check_declared).expect("model"))
        .collect();
    let gpus: Vec<_> = ["rtx-3060-12gb", "rtx-4090"]
        .iter()
        .map(|g| c.gpu(g).expect("gpu"))
        .collect();
    let q4 = Format::parse("q4_k_m").expect("format");
    let opts = Options {
        host: Some(host),
        ..Options::default()
    };
    let m = matrix(&models, &gpus, &[q4], &[8192, 32768], &opts);
    let mut marked = 0;
    for cell in &m.cells {
        let model = models.iter().find(|x| *x.id == *cell.model).expect("model");
        let gpu = gpus.iter().find(|x| *x.id == *cell.gpu).expect("gpu");
        let r = fit(
            model,
            gpu,
            &Options {
                precision: Some(q4),
                context: Some(cell.context),
                ..opts
            },
        );
        let chosen = r
            .offload
            .as_ref()
            .and_then(|o| o.search.as_ref()?.best_row().map(|row| row.knob));
        assert_eq!(
            cell.offload.map(|o| o.split),
            chosen,
            "{} on {} at {}",
            cell.model,
            cell.gpu,
            cell.context
        );
        assert!(cell.offload.is_none() || !cell.fits);
        marked += usize::from(cell.offload.is_some());
    }
    assert!(marked >= 6, "{marked} offload cells");
    let without = matrix(&models, &gpus, &[q4], &[8192], &Options::default());
    assert!(without.cells.iter().all(|c| c.offload.is_none()));
}
