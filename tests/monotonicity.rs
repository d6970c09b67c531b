//! Property tests: more context, batch or bits never needs less memory; a bigger GPU never fits less.

use gpuplan::estimate::{arch, engine, ModelFacts, Prepared, Setup, WeightFacts};
use gpuplan::spec::{Catalog, Format, GpuSpec, KvPrecision, ModelSpec};
use proptest::prelude::*;
use std::sync::OnceLock;

fn catalog() -> &'static (Vec<ModelSpec>, Vec<GpuSpec>) {
    static C: OnceLock<(Vec<ModelSpec>, Vec<GpuSpec>)> = OnceLock::new();
    C.get_or_init(|| {
        let c = Catalog::embedded(arch::check_declared).expect("catalog");
        (c.model_specs().cloned().collect(), c.gpu_specs().cloned().collect())
    })
}

struct Case<'a> {
    m: &'a ModelSpec,
    gpu: &'a GpuSpec,
    format: &'static Format,
    kv: KvPrecision,
    rt: &'static gpuplan::estimate::Runtime,
    images: u64,
}

impl Case<'_> {
    fn total(&self, ctx: u64, batch: u64) -> u64 {
        let facts = ModelFacts::new(self.m);
        let w = WeightFacts::new(self.m, &facts, self.format, 1);
        let mut setup = Setup::new(self.m, self.format, self.rt);
        setup.kv = self.kv;
        setup.images = self.images;
        Prepared::new(setup, self.gpu, &facts, &w).total(ctx, batch)
    }
}

/// Format chains ordered by weight bits, within which activations keep one element size.
const CHAINS: &[&[&str]] = &[
    &["q4_0", "q4_k_m", "q5_k_m", "q6_k", "q8_0"],
    &["q4_k", "q4_k_m"],
    &["awq-int4", "gptq-int4", "int8", "bf16"],
    &["fp8", "bf16"],
];

const KV_CHAIN: &[KvPrecision] = &[
    KvPrecision::Q4_0,
    KvPrecision::Fp8,
    KvPrecision::Q8_0,
    KvPrecision::F16,
    KvPrecision::F32,
];

fn runtimes() -> Vec<&'static gpuplan::estimate::Runtime> {
    engine::RUNTIMES.to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn more_context_or_batch_never_needs_less(mi in 0usize..64, gi in 0usize..64, fi in 0usize..13, ri in 0usize..5,
                                              ctx in 1u64..140_000, extra in 1u64..20_000, batch in 1u64..16, more in 1u64..8, images in 0u64..3) {
        let (models, gpus) = catalog();
        let m = &models[mi % models.len()];
        let gpu = &gpus[gi % gpus.len()];
        let format = &gpuplan::spec::precision::FORMATS[fi];
        let rt = runtimes()[ri];
        let case = Case { m, gpu, format, kv: rt.default_kv(format), rt, images };
        let base = case.total(ctx, batch);
        prop_assert!(case.total(ctx + extra, batch) >= base);
        prop_assert!(case.total(ctx, batch + more) >= base);
        let with_image = Case { images: images + 1, ..case };
        prop_assert!(with_image.total(ctx, batch) >= base);
    }

    #[test]
    fn more_bits_never_need_less(mi in 0usize..64, chain in 0usize..4, ri in 0usize..5, ctx in 1u64..140_000, batch in 1u64..8, ki in 0usize..4) {
        let (models, gpus) = catalog();
        let m = &models[mi % models.len()];
        let rt = runtimes()[ri];
        let formats = CHAINS[chain];
        let kv = KV_CHAIN[ki];
        for pair in formats.windows(2) {
            let at = |f: &str| Case { m, gpu: &gpus[0], format: Format::parse(f).unwrap(), kv, rt, images: 0 }.total(ctx, batch);
            let (lo, hi) = (at(pair[0]), at(pair[1]));
            prop_assert!(hi >= lo, "{} {} -> {}: {lo} > {hi}", m.id, pair[0], pair[1]);
        }
        let f = Format::parse(formats[0]).unwrap();
        let at = |kv| Case { m, gpu: &gpus[0], format: f, kv, rt, images: 0 }.total(ctx, batch);
        let (lo, hi) = (at(KV_CHAIN[ki]), at(KV_CHAIN[ki + 1]));
        prop_assert!(hi >= lo, "kv {:?} -> {:?}", KV_CHAIN[ki], KV_CHAIN[ki + 1]);
    }

    #[test]
    fn a_bigger_gpu_never_fits_less(mi in 0usize..64, gi in 0usize..64, fi in 0usize..13, ri in 0usize..5,
                                    ctx in 1u64..140_000, batch in 1u64..8, extra_mib in 1u64..100_000) {
        let (models, gpus) = catalog();
        let m = &models[mi % models.len()];
        let small = &gpus[gi % gpus.len()];
        let mut big = small.clone();
        big.memory.reported_mib += extra_mib;
        big.memory.cuda_visible_mib = small.memory.cuda_visible_mib.map(|v| v + extra_mib);
        let format = &gpuplan::spec::precision::FORMATS[fi];
        let rt = runtimes()[ri];
        let facts = ModelFacts::new(m);
        let w = WeightFacts::new(m, &facts, format, 1);
        let setup = Setup::new(m, format, rt);
        let ps = Prepared::new(setup, small, &facts, &w);
        let pb = Prepared::new(setup, &big, &facts, &w);
        if ps.fits(ctx, batch) {
            prop_assert!(pb.fits(ctx, batch));
        }
        prop_assert!(gpuplan::plan::solve::max_context(&pb, batch) >= gpuplan::plan::solve::max_context(&ps, batch));
    }
}
