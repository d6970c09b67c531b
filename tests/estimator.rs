//! Estimator behaviours with exact answers: tensor-parallel sharding, MoE decode bytes, image tokens,
//! paged KV rounding, sliding windows, vLLM's up-front pool.

use gpuplan::estimate::arch::{self, moe::expected_experts_touched, vision};
use gpuplan::estimate::engine::{candle::CANDLE, vllm::VLLM};
use gpuplan::estimate::{kv, throughput, ModelFacts, Prepared, Setup, WeightFacts};
use gpuplan::spec::{Catalog, Format, KvPrecision};

fn cat() -> Catalog {
    Catalog::embedded(arch::check_declared).unwrap()
}

#[test]
fn tensor_parallel_shards_matrices_and_replicates_norms() {
    let c = cat();
    let m = c.model("phi-3.5-moe", arch::check_declared).unwrap();
    let f = ModelFacts::new(&m);
    let bf16 = Format::parse("bf16").unwrap();
    let one = WeightFacts::new(&m, &f, bf16, 1);
    let two = WeightFacts::new(&m, &f, bf16, 2);
    let line = |w: &WeightFacts, name: &str| w.lines.iter().find(|l| l.component.name() == name).unwrap().bytes;
    assert_eq!(line(&two, "experts") * 2, line(&one, "experts"));
    assert_eq!(line(&two, "attention") * 2, line(&one, "attention"));
    assert_eq!(line(&two, "router"), line(&one, "router"), "router is replicated");
    // o_proj bias and norms replicate; q/k/v biases shard
    assert!(line(&two, "norms + biases") * 2 > line(&one, "norms + biases"));
    // KV: 8 heads over 2 GPUs -> 4 each; over 16 GPUs each keeps one whole head
    assert_eq!(kv::per_token(&m, KvPrecision::Bf16, 2).total(), 65_536);
    assert_eq!(kv::per_token(&m, KvPrecision::Bf16, 16).total(), 16_384);
}

#[test]
fn moe_decode_reads_only_touched_experts() {
    let c = cat();
    let m = c.model("phi-3.5-moe", arch::check_declared).unwrap();
    let gpu = c.gpu("h200").unwrap();
    let f = ModelFacts::new(&m);
    let w = WeightFacts::new(&m, &f, Format::parse("bf16").unwrap(), 1);
    let p = Prepared::new(Setup::new(&m, Format::parse("bf16").unwrap(), &CANDLE), &gpu, &f, &w);
    let (b1, t1) = throughput::decode_weight_bytes(&p, 1);
    assert_eq!(t1, Some(2.0));
    // batch 1 reads 2 of 16 experts: weights minus 14/16 of the experts and the embedding table
    let expected = w.total - w.embedding - w.experts + w.experts / 8;
    assert!(b1.abs_diff(expected) <= 1, "{b1} vs {expected}");
    let (b64, t64) = throughput::decode_weight_bytes(&p, 64);
    let touched = t64.unwrap();
    assert!((touched - expected_experts_touched(16, 2, 64)).abs() < 1e-12 && touched > 15.9);
    assert!(b64 > b1);
}

#[test]
fn phi3_v_image_tokens_follow_the_processor() {
    let c = cat();
    let m = c.model("phi-3.5-vision", arch::check_declared).unwrap();
    let v = m.vision.as_ref().unwrap();
    assert_eq!(v.tokens_per_crop(), 144);
    // (h*w + 1) x 144 + 1 + (h + 1) x 12
    assert_eq!(vision::image_tokens(v, 1, 1), 313);
    assert_eq!(vision::image_tokens(v, 2, 2), 757);
    assert_eq!(vision::image_tokens(v, 4, 4), 2509);
    assert_eq!(vision::crop_grid(4), (2, 2));
    assert_eq!(vision::crop_grid(16), (4, 4));
    assert_eq!(vision::crop_grid(6), (2, 3));
    let gpu = c.gpu("h100").unwrap();
    let f = ModelFacts::new(&m);
    let fmt = Format::parse("bf16").unwrap();
    let w = WeightFacts::new(&m, &f, fmt, 1);
    let mut s = Setup::new(&m, fmt, &CANDLE);
    s.images = 1;
    let p = Prepared::new(s, &gpu, &f, &w);
    assert_eq!(p.image_tokens, 757, "default 4 crops");
    assert_eq!(p.memory(1000, 1).kv_cache_bytes, (1000 + 757) * 393_216);
}

#[test]
fn vllm_pages_kv_and_takes_its_share_up_front() {
    let c = cat();
    let m = c.model("phi-3.5-mini", arch::check_declared).unwrap();
    let gpu = c.gpu("h100").unwrap();
    let f = ModelFacts::new(&m);
    let fmt = Format::parse("bf16").unwrap();
    let w = WeightFacts::new(&m, &f, fmt, 1);
    let p = Prepared::new(Setup::new(&m, fmt, &VLLM), &gpu, &f, &w);
    // 1000 tokens occupy 63 blocks of 16 = 1008 tokens
    assert_eq!(p.memory(1000, 1).kv_cache_bytes, 1008 * 393_216);
    // 90% of the 81,121 MiB a program can allocate on an H100 80GB
    assert_eq!(p.budget, (81_121u64 * 1_048_576) * 9 / 10);
}

#[test]
fn sliding_window_caps_kv_only_where_the_runtime_honors_it() {
    let c = cat();
    let m = c.model("phi-3-mini-4k", arch::check_declared).unwrap();
    let per = kv::per_token(&m, KvPrecision::F16, 1);
    assert_eq!((per.windowed, per.window), (393_216, 2047));
    assert_eq!(kv::cache_bytes(&per, 4096, 1, true), 2047 * 393_216);
    assert_eq!(kv::cache_bytes(&per, 4096, 1, false), 4096 * 393_216);
}
