//! Parameter values shared by the command line and the JSON API. Each kind of value has one parser
//! (`fn(&str) -> Result<T, String>`, most of them in `cli`): clap calls it as the `value_parser` of
//! `--context 32k`, and serde calls the same function for `"context": "32k"` through the
//! `deserialize_with` helpers below, so a value is read, bounded and refused the same way in both,
//! with the same message.

use crate::cli::{parse_command, parse_format, parse_kv, parse_overrides, parse_runtime, Overrides};
use crate::estimate::engine::command::parse_gib;
use crate::estimate::engine::command::Command as EngineCommand;
use crate::estimate::engine::offload::GpuLayers;
use crate::estimate::Runtime;
use crate::report::units::{parse_bytes, parse_rate, parse_tokens};
use crate::spec::{Format, KvPrecision};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

/// The longest context accepted at all, even with `--allow-long-context`: 16M tokens. The longest
/// context a catalog model declares is 128K; 16M keeps every byte product (batch x context x KV
/// bytes per token) far inside u64 and still shows what an absurd request would need.
pub const MAX_CONTEXT_TOKENS: u64 = 1 << 24;

/// The largest batch accepted: 65,536 sequences (`fit` searches the largest batch up to 4,096).
pub const MAX_BATCH: u64 = 1 << 16;

/// Images per sequence, or HD crops per image, accepted at most.
pub const MAX_IMAGES: u64 = 1024;

/// Tokens per sequence: 4096, 32k, 128K (k = 1024), at most [`MAX_CONTEXT_TOKENS`].
pub fn parse_context(s: &str) -> Result<u64, String> {
    let n = parse_tokens(s)?;
    if n > MAX_CONTEXT_TOKENS {
        return Err(format!(
            "`{s}` tokens is more than gpuplan estimates ({MAX_CONTEXT_TOKENS} at most)"
        ));
    }
    Ok(n)
}

fn bounded(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number between {min} and {max}"))?;
    if !(min..=max).contains(&n) {
        return Err(format!("{n} is out of range: {min} to {max}"));
    }
    Ok(n)
}

/// Sequences decoded together: 1 to [`MAX_BATCH`].
pub fn parse_batch(s: &str) -> Result<u64, String> {
    bounded(s, 1, MAX_BATCH)
}

/// GPUs per pipeline stage, or pipeline stages: 1 to the largest layout gpuplan searches.
pub fn parse_gpu_count(s: &str) -> Result<u64, String> {
    bounded(s, 1, crate::plan::layout::MAX_GPUS)
}

/// Images per sequence or crops per image: 0 to [`MAX_IMAGES`].
pub fn parse_image_count(s: &str) -> Result<u64, String> {
    bounded(s, 0, MAX_IMAGES)
}

/// A model: a name (catalog id, alias, Hugging Face id; a path on the command line) or, in the API, a
/// config.json object given inline.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelKey {
    Name(String),
    Config(serde_json::Map<String, serde_json::Value>),
}

impl FromStr for ModelKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(ModelKey::Name(s.to_string()))
    }
}

impl<'de> Deserialize<'de> for ModelKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ModelKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a model id (string) or a config.json (object)")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ModelKey, E> {
                Ok(ModelKey::Name(s.to_string()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<ModelKey, A::Error> {
                Deserialize::deserialize(de::value::MapAccessDeserializer::new(map)).map(ModelKey::Config)
            }
        }
        d.deserialize_any(V)
    }
}

/// One value through a parser: a JSON string as is, a whole JSON number as its digits.
struct Parsed<T>(fn(&str) -> Result<T, String>);

impl<'de, T> Visitor<'de> for Parsed<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or a whole number")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        (self.0)(s).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<T, E> {
        self.visit_str(&n.to_string())
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<T, E> {
        match u64::try_from(n) {
            Ok(u) => self.visit_u64(u),
            Err(_) => Err(E::custom(format!("{n} is negative"))),
        }
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<T, E> {
        Err(E::custom(format!("{x} is not a whole number")))
    }
}

/// A list of values through a parser.
struct ParsedList<T>(fn(&str) -> Result<T, String>);

impl<'de, T> Visitor<'de> for ParsedList<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        struct One<T>(fn(&str) -> Result<T, String>);
        impl<'de, T> de::DeserializeSeed<'de> for One<T> {
            type Value = T;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
                d.deserialize_any(Parsed(self.0))
            }
        }
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(One(self.0))? {
            out.push(v);
        }
        Ok(out)
    }
}

/// A rate through its parser: a JSON number (whole or not) or a string.
struct ParsedRate(fn(&str) -> Result<f64, String>);

impl<'de> Visitor<'de> for ParsedRate {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or a string")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<f64, E> {
        (self.0)(s).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<f64, E> {
        self.visit_str(&n.to_string())
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<f64, E> {
        self.visit_str(&n.to_string())
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<f64, E> {
        self.visit_str(&x.to_string())
    }
}

/// `deserialize_with` functions: each calls the command line's parser for its field.
pub mod de_with {
    use super::*;

    macro_rules! with {
        ($name:ident, $list:ident, $t:ty, $parse:expr) => {
            pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$t>, D::Error> {
                d.deserialize_any(Parsed($parse)).map(Some)
            }
            #[allow(dead_code)]
            pub fn $list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<$t>, D::Error> {
                d.deserialize_seq(ParsedList($parse))
            }
        };
    }

    with!(context, contexts, u64, parse_context);
    with!(tokens, tokens_list, u64, parse_tokens);
    with!(bytes, bytes_list, u64, parse_bytes);
    with!(batch, batches, u64, parse_batch);
    with!(gpu_count, gpu_counts, u64, parse_gpu_count);
    with!(format, formats, &'static Format, parse_format);
    with!(kv, kvs, KvPrecision, parse_kv);
    with!(runtime, runtimes, &'static Runtime, parse_runtime);
    with!(command, commands, EngineCommand, parse_command);
    with!(gpu_layers, gpu_layers_list, GpuLayers, GpuLayers::parse);

    /// `-ot` values, each a comma-separated list of rules (`override_tensor`).
    pub fn overrides_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Overrides>, D::Error> {
        d.deserialize_seq(ParsedList(parse_overrides))
    }

    /// A bandwidth in GB/s (`--host-bandwidth`).
    pub fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(ParsedRate(parse_rate)).map(Some)
    }

    /// GiB (vLLM's `--cpu-offload-gb`).
    pub fn gib<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(ParsedRate(parse_gib)).map(Some)
    }

    /// A count that is not optional (images, crops).
    pub fn image_count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(Parsed(parse_image_count))
    }

    /// A batch that is not optional (`matrix`).
    pub fn batch_value<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(Parsed(parse_batch))
    }
}

/// The default batch: one sequence.
pub fn one() -> u64 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "de_with::context")]
        context: Option<u64>,
        #[serde(default, deserialize_with = "de_with::batch")]
        batch: Option<u64>,
        #[serde(default, deserialize_with = "de_with::formats")]
        precision: Vec<&'static Format>,
    }

    fn t(json: &str) -> Result<T, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn the_cli_and_the_api_read_values_alike() {
        assert_eq!(
            t(r#"{"context": "32k"}"#).unwrap().context,
            Some(parse_context("32k").unwrap())
        );
        assert_eq!(t(r#"{"context": 32768}"#).unwrap().context, Some(32768));
        let too_long = (MAX_CONTEXT_TOKENS + 1).to_string();
        let cli = parse_context(&too_long).unwrap_err();
        let api = t(&format!(r#"{{"context": {too_long}}}"#)).unwrap_err();
        assert!(api.starts_with(&cli), "{api} vs {cli}");
        assert!(t(r#"{"batch": 0}"#)
            .unwrap_err()
            .starts_with("0 is out of range: 1 to 65536"));
        assert!(t(r#"{"batch": -3}"#).unwrap_err().starts_with("-3 is negative"));
        assert!(t(r#"{"batch": 2.5}"#)
            .unwrap_err()
            .starts_with("2.5 is not a whole number"));
        assert_eq!(t(r#"{"batch": "8"}"#).unwrap().batch, Some(8));
        assert_eq!(t(r#"{"precision": ["q4_k_m", "bf16"]}"#).unwrap().precision.len(), 2);
        let e = t(r#"{"precision": ["q3_x"]}"#).unwrap_err();
        assert!(e.starts_with(&parse_format("q3_x").unwrap_err()), "{e}");
        assert_eq!(
            serde_json::from_str::<ModelKey>("\"phi-3.5-mini\"").unwrap(),
            ModelKey::Name("phi-3.5-mini".into())
        );
        assert!(matches!(
            serde_json::from_str::<ModelKey>("{\"model_type\": \"llama\"}").unwrap(),
            ModelKey::Config(_)
        ));
        assert!(serde_json::from_str::<ModelKey>("7").is_err());
    }
}
