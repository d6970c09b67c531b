//! Views: typed plan results -> documents. Formatting only; every number comes from `plan`.

pub mod catalog;
pub mod detect;
pub mod engine;
pub mod fit;
pub mod import;
pub mod matrix;
pub mod records;
pub mod sizing;
pub mod validate;

use crate::estimate::speed::band::{Band, Basis, Phase};
use crate::report::units::rate;

/// A rate's band as a range: "41.0-47.9".
pub fn band_range((low, high): (f64, f64)) -> String {
    format!("{}-{}", rate(low), rate(high))
}

/// What a band rests on, in words: ("published llama.cpp results on Ada GPUs", "40 rows, 4 GPUs,
/// each predicted without its GPU").
pub fn band_basis(b: &Band) -> (String, String) {
    let engine = match b.phase {
        Phase::LlamaCppDecode | Phase::LlamaCppPrefill => "llama.cpp",
        Phase::VllmDecode => "vLLM",
    };
    let over = match b.basis {
        Basis::Class(c) => format!("{} GPUs", c.name()),
        Basis::Engine => "all GPUs".into(),
    };
    (
        format!("published {engine} results on {over}"),
        format!(
            "{} rows, {} GPU{}{}",
            b.rows,
            b.gpus,
            if b.gpus == 1 { "" } else { "s" },
            if b.held_out {
                ", each predicted without its GPU"
            } else {
                ""
            }
        ),
    )
}

/// A band's ratios as a spread around the estimate: "-0.1% to +0.1%".
pub fn band_spread(b: &Band) -> String {
    format!("{:+.1}% to {:+.1}%", (b.low - 1.0) * 100.0, (b.high - 1.0) * 100.0)
}
