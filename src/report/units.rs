//! Human-readable numbers. Memory in GiB (what nvidia-smi's MiB add up to); the seed article's
//! decimal GB where a view compares with it.

pub const GIB: f64 = (1u64 << 30) as f64;
pub const MIB: f64 = (1u64 << 20) as f64;

/// Bytes as GiB with two decimals, or MiB below 1 GiB.
pub fn bytes(b: u64) -> String {
    let f = b as f64;
    if f >= GIB {
        format!("{:.2} GiB", f / GIB)
    } else {
        format!("{:.0} MiB", f / MIB)
    }
}

/// Signed bytes (headroom).
pub fn signed_bytes(b: i64) -> String {
    if b < 0 {
        format!("-{}", bytes(b.unsigned_abs()))
    } else {
        bytes(b as u64)
    }
}

/// Decimal gigabytes, one decimal (the seed article's unit).
pub fn gb(b: u64) -> String {
    format!("{:.1} GB", b as f64 / 1e9)
}

/// Token counts: 131072 -> "128K", 4096 -> "4K", 3000 -> "3000".
pub fn tokens(n: u64) -> String {
    if n >= 1024 && n % 1024 == 0 {
        format!("{}K", n / 1024)
    } else {
        n.to_string()
    }
}

/// Parameters: 3821079552 -> "3.82B".
pub fn params(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.2}B", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.0}M", f / 1e6)
    } else {
        format!("{:.0}K", f / 1e3)
    }
}

/// A rate with sensible precision: 1234.5 -> "1235", 45.67 -> "45.7", 3.456 -> "3.46".
pub fn rate(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// Seconds: 0.0123 -> "12.3 ms", 2.5 -> "2.50 s".
pub fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// Dollars: below 10 with cents, otherwise whole dollars with thousands separators ($12,345).
pub fn usd(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let sign = if x < 0.0 { "-" } else { "" };
    let a = x.abs();
    if a < 10.0 {
        return format!("{sign}${a:.2}");
    }
    let digits = format!("{:.0}", a);
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}${grouped}")
}

/// A fraction as a percentage with no decimals: 0.256 -> "26%".
pub fn percent(f: f64) -> String {
    if f.is_finite() {
        format!("{:.0}%", f * 100.0)
    } else {
        "-".into()
    }
}

/// Parses token counts as users write them: 4096, 4k, 128K, 1M (k = 1024).
pub fn parse_tokens(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let (num, mult) = match t.chars().last() {
        Some('k') | Some('K') => (&t[..t.len() - 1], 1024),
        Some('m') | Some('M') => (&t[..t.len() - 1], 1024 * 1024),
        _ => (t.as_str(), 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a token count (e.g. 4096, 8k, 128K)"))?;
    n.checked_mul(mult)
        .filter(|&v| v > 0 && v <= crate::spec::MAX_TOKENS)
        .ok_or_else(|| format!("`{s}` must be between 1 and 2^40 tokens"))
}

/// Parses byte sizes as users write them: 8589934592, 8GiB, 8G (binary), 8GB (decimal), 512MiB.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim() {
        "" | "B" | "b" => 1,
        "K" | "k" | "KiB" | "kiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "g" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "`{s}`: unknown unit (use B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB)"
            ))
        }
    };
    let x: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 8GiB, 512MiB, 16GB)"))?;
    let bytes = x * mult as f64;
    if bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64 {
        Ok(bytes.round() as u64)
    } else {
        Err(format!("`{s}` must be between 1 B and 2^64 B"))
    }
}

/// Parses a positive rate (GB/s, TFLOPS) for a clap value parser.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` must be a positive number (GB/s)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bytes_in_binary_and_decimal_units() {
        assert_eq!(parse_bytes("8GiB"), Ok(8 << 30));
        assert_eq!(parse_bytes("8G"), Ok(8 << 30));
        assert_eq!(parse_bytes("16GB"), Ok(16_000_000_000));
        assert_eq!(parse_bytes("1.5MiB"), Ok(1_572_864));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("8 parsecs").is_err());
        assert!(parse_bytes("0").is_err());
    }

    #[test]
    fn parses_rates() {
        assert_eq!(parse_rate("89.6"), Ok(89.6));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("nan").is_err());
    }

    #[test]
    fn parses_and_prints_tokens() {
        assert_eq!(parse_tokens("128K"), Ok(131_072));
        assert_eq!(parse_tokens("4k"), Ok(4096));
        assert_eq!(parse_tokens("3000"), Ok(3000));
        assert!(parse_tokens("0").is_err());
        assert!(parse_tokens("abc").is_err());
        assert_eq!(tokens(131_072), "128K");
        assert_eq!(tokens(3000), "3000");
    }

    #[test]
    fn prints_money_and_percent() {
        assert_eq!(usd(1234567.4), "$1,234,567");
        assert_eq!(usd(2.691), "$2.69");
        assert_eq!(usd(-15000.0), "-$15,000");
        assert_eq!(usd(100.0), "$100");
        assert_eq!(percent(0.256), "26%");
    }
}
