//! Error bands in words: "-5.7%..+5.7%", and what a band rests on.

use crate::plan::evidence::{Band, BandBasis, Bands};

/// "-5.7%..+5.7%" (one decimal; whole percent from 10% up).
pub fn range(b: &Band) -> String {
    let pct = |x: f64| {
        let p = x * 100.0;
        let tenths = (p.abs() * 10.0).round();
        let digits = if tenths >= 100.0 && tenths % 10.0 == 0.0 { 0 } else { 1 };
        format!("{}{:.*}%", if p < 0.0 { "-" } else { "+" }, digits, p.abs())
    };
    format!("{}..{}", pct(b.low), pct(b.high))
}

/// A figure with its band: "26.48 GiB (-5.7%..+5.7%)".
pub fn with(figure: impl std::fmt::Display, b: &Band) -> String {
    format!("{figure} ({})", range(b))
}

/// What the bands rest on, in a sentence.
pub fn basis(bands: &Bands, runtime: impl std::fmt::Display) -> String {
    match (bands.memory.basis, bands.decode.basis) {
        (BandBasis::Records { records: m }, BandBasis::Records { records: s }) => format!(
            "error bands: memory {}, decode {}, prefill {}: the spread of measured / predicted over the {runtime} profile's validation records ({m} memory, {s} speed; `gpuplan records`)",
            range(&bands.memory),
            range(&bands.decode),
            range(&bands.prefill)
        ),
        (_, BandBasis::Published { rows, gpus, class }) => format!(
            "error bands: memory {} (stated, not measured); decode {}, prefill {}{}: where 80% of {rows} published {runtime} benchmark rows on {gpus} GPUs{} fell around the speed model's figures, each predicted by a fit without its GPU (validation/field/, docs/engines/speed.md)",
            range(&bands.memory),
            range(&bands.decode),
            range(&bands.prefill),
            match bands.prefill.basis {
                BandBasis::Published { .. } => "",
                _ => " (stated: no published prefill row)",
            },
            class.map(|c| format!(" ({} class)", c.name())).unwrap_or_default()
        ),
        _ => format!(
            "error bands: memory {}, speed {}: stated, not measured (no validation record calibrates the {runtime} profile)",
            range(&bands.memory),
            range(&bands.decode)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::evidence::{RECORD_BANDS, STATED_BANDS};

    #[test]
    fn bands_read_as_ranges() {
        assert_eq!(range(&STATED_BANDS.memory), "-15%..+15%");
        assert_eq!(range(&STATED_BANDS.decode), "-50%..+100%");
        let candle = RECORD_BANDS[0].1;
        assert_eq!(with("26.48 GiB", &candle.memory), "26.48 GiB (-5.7%..+5.7%)");
        assert!(basis(&candle, "candle").contains("validation records (20 memory, 20 speed"));
        assert!(basis(&STATED_BANDS, "vllm").contains("stated, not measured"));
        let llama = crate::plan::evidence::bands(crate::estimate::Runtime::parse("llama.cpp").unwrap(), None);
        let text = basis(&llama, "llama.cpp");
        assert!(text.contains("published llama.cpp benchmark rows"), "{text}");
        assert!(text.contains("memory -15%..+15% (stated, not measured)"), "{text}");
    }
}
