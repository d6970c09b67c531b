//! llama.cpp's max-context search bounds the total with compute buffers replayed at other contexts
//! (estimate::engine::llamacpp::max_context). Its answer must be the one a probe-by-probe search of
//! the real totals gives, for every architecture, with flash attention on (flat compute buffer) and
//! off (scores growing with the context), at one and at several slots.

use gpuplan::estimate::engine::llamacpp::{self, FlashAttn};
use gpuplan::estimate::search::largest;
use gpuplan::estimate::{arch, ModelFacts, Prepared, Setup, WeightFacts};
use gpuplan::spec::{Catalog, Format, GpuSpec, ModelSpec};
use proptest::prelude::*;
use std::sync::OnceLock;

fn catalog() -> &'static (Vec<ModelSpec>, Vec<GpuSpec>) {
    static C: OnceLock<(Vec<ModelSpec>, Vec<GpuSpec>)> = OnceLock::new();
    C.get_or_init(|| {
        let c = Catalog::embedded(arch::check_declared).expect("catalog");
        (c.model_specs().cloned().collect(), c.gpu_specs().cloned().collect())
    })
}

const FORMATS: &[&str] = &["q4_k_m", "q8_0", "fp16"];

fn both(
    m: &ModelSpec,
    gpu: &GpuSpec,
    format: &'static Format,
    fa: FlashAttn,
    batch: u64,
) -> (Option<u64>, Option<u64>) {
    let facts = ModelFacts::new(m);
    let w = WeightFacts::new(m, &facts, format, 1);
    let mut setup = Setup::new(m, format, &llamacpp::LLAMA_CPP);
    setup.engine.llamacpp.flash_attn = Some(fa);
    let p = Prepared::new(setup, gpu, &facts, &w);
    let probed = largest(1, m.max_context, |c| p.fits(c, batch));
    (p.max_context(batch), probed)
}

#[test]
fn every_model_on_a_24_and_an_80_gib_gpu() {
    let (models, gpus) = catalog();
    let format = Format::parse("q4_k_m").expect("q4_k_m");
    for gpu in gpus.iter().filter(|g| g.id == "rtx-4090" || g.id == "h100-sxm") {
        for m in models {
            for fa in [FlashAttn::On, FlashAttn::Off] {
                let (searched, probed) = both(m, gpu, format, fa, 1);
                assert_eq!(searched, probed, "{} on {} with flash attention {fa:?}", m.id, gpu.id);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bounds_give_the_probed_answer(mi in 0usize..128, gi in 0usize..128, fi in 0usize..3, fa_on: bool, batch in 1u64..5) {
        let (models, gpus) = catalog();
        let m = &models[mi % models.len()];
        let gpu = &gpus[gi % gpus.len()];
        let format = Format::parse(FORMATS[fi]).expect("format");
        let fa = if fa_on { FlashAttn::On } else { FlashAttn::Off };
        let (searched, probed) = both(m, gpu, format, fa, batch);
        prop_assert_eq!(searched, probed, "{} on {} in {} with flash attention {:?}, {} slots", m.id, gpu.id, format.id, fa, batch);
    }
}
