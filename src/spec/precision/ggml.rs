//! GGML tensor types: every type a GGUF file may hold, with its block geometry.
//!
//! Block sizes are ggml's `type_traits` table (`ggml/src/ggml.c`: `blck_size`, `type_size`), whose
//! sizes are the block structs of `ggml/src/ggml-common.h` with their `static_assert`s, read at
//! ggml-org/llama.cpp 01243c587feceaa5d6a6c2305535ef2f549c48b8
//! (https://github.com/ggml-org/llama.cpp/blob/01243c587feceaa5d6a6c2305535ef2f549c48b8/ggml/src/ggml-common.h).
//! Type ids are `enum ggml_type` in `ggml/include/ggml.h`. A row of `n` weights takes
//! `n / block` blocks (`ggml_row_size`); blocks never straddle rows.

use serde::{Deserialize, Serialize};

/// One `enum ggml_type` value. The ids 4 and 5 (Q4_2/Q4_3) and 31..33, 36..38 (the repacked
/// Q4_0_4_4.. / IQ4_NL_4_4.. types) were removed from GGUF files and are not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(non_camel_case_types)]
pub enum Ggml {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
    NVFP4,
    Q1_0,
    Q2_0,
}

/// (type, id, name, weights per block, bytes per block).
const TABLE: &[(Ggml, u32, &str, u64, u64)] = &[
    (Ggml::F32, 0, "F32", 1, 4),
    (Ggml::F16, 1, "F16", 1, 2),
    // ggml_half d + 16 nibbles
    (Ggml::Q4_0, 2, "Q4_0", 32, 18),
    // d, m + 16 nibbles
    (Ggml::Q4_1, 3, "Q4_1", 32, 20),
    // d + 4 B high bits + 16 nibbles
    (Ggml::Q5_0, 6, "Q5_0", 32, 22),
    (Ggml::Q5_1, 7, "Q5_1", 32, 24),
    // d + 32 int8
    (Ggml::Q8_0, 8, "Q8_0", 32, 34),
    (Ggml::Q8_1, 9, "Q8_1", 32, 36),
    // scales[16] + qs[64] + d, dmin: 2.625 bits per weight
    (Ggml::Q2_K, 10, "Q2_K", 256, 84),
    // hmask[32] + qs[64] + scales[12] + d: 3.4375
    (Ggml::Q3_K, 11, "Q3_K", 256, 110),
    // d, dmin + scales[12] + qs[128]: 4.5
    (Ggml::Q4_K, 12, "Q4_K", 256, 144),
    // d, dmin + scales[12] + qh[32] + qs[128]: 5.5
    (Ggml::Q5_K, 13, "Q5_K", 256, 176),
    // ql[128] + qh[64] + scales[16] + d: 6.5625
    (Ggml::Q6_K, 14, "Q6_K", 256, 210),
    // f32 d + qs[256] + bsums[16] (intermediate type of dot products)
    (Ggml::Q8_K, 15, "Q8_K", 256, 292),
    (Ggml::IQ2_XXS, 16, "IQ2_XXS", 256, 66),
    (Ggml::IQ2_XS, 17, "IQ2_XS", 256, 74),
    (Ggml::IQ3_XXS, 18, "IQ3_XXS", 256, 98),
    (Ggml::IQ1_S, 19, "IQ1_S", 256, 50),
    (Ggml::IQ4_NL, 20, "IQ4_NL", 32, 18),
    (Ggml::IQ3_S, 21, "IQ3_S", 256, 110),
    (Ggml::IQ2_S, 22, "IQ2_S", 256, 82),
    (Ggml::IQ4_XS, 23, "IQ4_XS", 256, 136),
    (Ggml::I8, 24, "I8", 1, 1),
    (Ggml::I16, 25, "I16", 1, 2),
    (Ggml::I32, 26, "I32", 1, 4),
    (Ggml::I64, 27, "I64", 1, 8),
    (Ggml::F64, 28, "F64", 1, 8),
    (Ggml::IQ1_M, 29, "IQ1_M", 256, 56),
    (Ggml::BF16, 30, "BF16", 1, 2),
    // ternary: qs[48] (5 trits a byte) + qh[4] + d: 1.6875
    (Ggml::TQ1_0, 34, "TQ1_0", 256, 54),
    (Ggml::TQ2_0, 35, "TQ2_0", 256, 66),
    // e8m0 exponent + 16 B of e2m1 pairs
    (Ggml::MXFP4, 39, "MXFP4", 32, 17),
    // four ue4m3 scales (one per 16 weights) + 32 B of e2m1 pairs
    (Ggml::NVFP4, 40, "NVFP4", 64, 36),
    // d + 16 B of sign bits
    (Ggml::Q1_0, 41, "Q1_0", 128, 18),
    // d + 16 B of 2-bit codes
    (Ggml::Q2_0, 42, "Q2_0", 64, 18),
];

impl Ggml {
    /// Every type, in id order.
    pub fn all() -> impl Iterator<Item = Ggml> {
        TABLE.iter().map(|t| t.0)
    }

    fn row(self) -> &'static (Ggml, u32, &'static str, u64, u64) {
        // TABLE lists the variants in declaration order, one row each
        // (`table_rows_follow_the_declaration_order`): the row is the discriminant's
        &TABLE[self as usize]
    }

    /// The `enum ggml_type` id stored in GGUF tensor infos.
    pub fn id(self) -> u32 {
        self.row().1
    }

    pub fn from_id(id: u32) -> Option<Ggml> {
        TABLE.iter().find(|t| t.1 == id).map(|t| t.0)
    }

    /// The name ggml prints (`ggml_type_name`, upper case).
    pub fn name(self) -> &'static str {
        self.row().2
    }

    pub fn from_name(name: &str) -> Option<Ggml> {
        TABLE.iter().find(|t| t.2.eq_ignore_ascii_case(name)).map(|t| t.0)
    }

    /// (bytes per block, weights per block): `type_size`, `blck_size`.
    pub fn block(self) -> (u64, u64) {
        let r = self.row();
        (r.4, r.3)
    }

    /// `ggml_row_size`: bytes of `n` elements (whole blocks).
    pub fn row_size(self, n: u64) -> u64 {
        let (bytes, per) = self.block();
        n / per * bytes
    }

    /// Bits per weight of whole blocks.
    pub fn bits_per_weight(self) -> f64 {
        let (bytes, per) = self.block();
        bytes as f64 * 8.0 / per as f64
    }

    /// Whether llama.cpp treats the type as quantized (`ggml_is_quantized`): block size above 1.
    pub fn is_quantized(self) -> bool {
        self.block().1 > 1
    }

    /// Exact bytes of `rows` rows of `cols` weights, when `cols` fills whole blocks (`ggml_row_size`).
    pub fn bytes(self, rows: u64, cols: u64) -> u64 {
        let (bytes, per) = self.block();
        rows * cols.div_ceil(per) * bytes
    }

    /// The type llama-quantize falls back to when a row is not a whole number of blocks
    /// (llama-quant.cpp `tensor_type_fallback`): the 256-wide i-quants to IQ4_NL, Q2_0/Q2_K/Q3_K and
    /// the ternary types to Q4_0, Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0. Other types have none.
    const fn fallback(self) -> Option<Ggml> {
        Some(match self {
            Ggml::IQ1_S
            | Ggml::IQ1_M
            | Ggml::IQ2_XXS
            | Ggml::IQ2_XS
            | Ggml::IQ2_S
            | Ggml::IQ3_XXS
            | Ggml::IQ3_S
            | Ggml::IQ4_XS => Ggml::IQ4_NL,
            Ggml::Q2_0 | Ggml::Q2_K | Ggml::Q3_K | Ggml::TQ1_0 | Ggml::TQ2_0 => Ggml::Q4_0,
            Ggml::Q4_K => Ggml::Q5_0,
            Ggml::Q5_K => Ggml::Q5_1,
            Ggml::Q6_K => Ggml::Q8_0,
            _ => return None,
        })
    }

    /// This type, its fallback when `cols` does not fill whole blocks, or F16 when the fallback does
    /// not either ("must use F16 due to unusual shape"). llama-quantize refuses a type without a
    /// fallback (Q8_0, Q4_0, ...) on ragged rows; F16 stands in for that case too.
    pub fn for_row(self, cols: u64) -> Ggml {
        if cols % self.block().1 == 0 {
            return self;
        }
        match self.fallback() {
            Some(fb) if cols % fb.block().1 == 0 => fb,
            _ => Ggml::F16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_follow_the_declaration_order() {
        for (i, row) in TABLE.iter().enumerate() {
            assert_eq!(row.0 as usize, i, "{}", row.2);
        }
    }

    #[test]
    fn all_types_have_one_row_and_unique_ids() {
        let mut ids: Vec<u32> = Ggml::all().map(Ggml::id).collect();
        assert_eq!(ids.len(), TABLE.len());
        ids.dedup();
        assert_eq!(ids.len(), TABLE.len());
        for t in Ggml::all() {
            assert_eq!(TABLE.iter().filter(|r| r.0 == t).count(), 1, "{t:?}");
            assert_eq!(Ggml::from_id(t.id()), Some(t));
            assert_eq!(Ggml::from_name(&t.name().to_ascii_lowercase()), Some(t));
        }
        assert_eq!(Ggml::from_id(4), None);
        assert_eq!(Ggml::from_id(31), None);
    }

    /// The bits per weight ggml-common.h states in its comments.
    #[test]
    fn bits_per_weight_match_the_struct_comments() {
        for (t, bpw) in [
            (Ggml::Q2_K, 2.625),
            (Ggml::Q3_K, 3.4375),
            (Ggml::Q4_K, 4.5),
            (Ggml::Q5_K, 5.5),
            (Ggml::Q6_K, 6.5625),
            (Ggml::IQ2_XXS, 2.0625),
            (Ggml::IQ2_XS, 2.3125),
            (Ggml::IQ2_S, 2.5625),
            (Ggml::IQ3_XXS, 3.0625),
            (Ggml::IQ3_S, 3.4375),
            (Ggml::IQ1_S, 1.5625),
            (Ggml::IQ1_M, 1.75),
            (Ggml::TQ1_0, 1.6875),
            (Ggml::TQ2_0, 2.0625),
            (Ggml::MXFP4, 4.25),
            (Ggml::NVFP4, 4.5),
            (Ggml::Q1_0, 1.125),
            (Ggml::Q2_0, 2.25),
        ] {
            assert_eq!(t.bits_per_weight(), bpw, "{t:?}");
        }
    }

    #[test]
    fn ragged_rows_fall_back_like_llama_quantize() {
        assert_eq!(Ggml::Q4_K.bytes(10, 512), 2880);
        assert_eq!(Ggml::Q4_K.for_row(3072), Ggml::Q4_K);
        assert_eq!(Ggml::Q4_K.for_row(160), Ggml::Q5_0);
        assert_eq!(Ggml::Q4_K.for_row(100), Ggml::F16);
        assert_eq!(Ggml::Q6_K.for_row(96), Ggml::Q8_0);
        assert_eq!(Ggml::IQ2_XS.for_row(2880), Ggml::IQ4_NL);
        assert_eq!(Ggml::Q3_K.for_row(2880), Ggml::Q4_0);
        assert_eq!(Ggml::Q8_0.for_row(100), Ggml::F16);
    }
}
