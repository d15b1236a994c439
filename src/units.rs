//! Sizes: byte counts ↔ the text people read and write.
//!
//! In: a byte count, or a size a user typed (`"2 MiB"`, `"1.5MB"`, `"1234"`). Out:
//! `1.5 MiB`-style labels, `12,345,678` groupings, and strictly parsed limits. Why
//! one leaf: the report, budgets, push progress and every error message print sizes
//! the same way, and a typo in a budget (`2 mb`, `2 MiBs`) must be refused, never
//! read as something else. Units: `B`, `KB`, `KiB`, `MB`, `MiB`, `GB`, `GiB`;
//! decimal units are powers of 1000.

/// Parse `"2 MiB"`, `"1.5MB"`, `"300 KiB"`, `"1234"` (bytes) into bytes.
pub fn parse_size(input: &str) -> Result<u64, String> {
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    if num.is_empty() {
        return Err(format!(
            "`{input}` is not a size: it must start with a number (e.g. \"2 MiB\")"
        ));
    }
    let mult: u64 = match unit {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "KiB" => 1024,
        "MB" => 1000 * 1000,
        "MiB" => 1024 * 1024,
        "GB" => 1000 * 1000 * 1000,
        "GiB" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
            "`{input}` is not a size: unknown unit `{other}` (use B, KB, KiB, MB, MiB, GB or GiB)"
        ))
        }
    };
    let out_of_range = || {
        format!(
            "`{input}` is out of range (the largest size is {} bytes)",
            u64::MAX
        )
    };
    if !num.contains('.') {
        // Whole numbers are exact: no rounding through f64, no silent clamping.
        let n: u128 = num
            .parse()
            .map_err(|_| format!("`{input}` is not a size: `{num}` is not a number"))?;
        return n
            .checked_mul(u128::from(mult))
            .and_then(|b| u64::try_from(b).ok())
            .ok_or_else(out_of_range);
    }
    if mult == 1 {
        return Err(format!("`{input}`: a byte count must be a whole number"));
    }
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{input}` is not a size: `{num}` is not a number"))?;
    let bytes = (value * mult as f64).round();
    // 2^64 is the first f64 that does not fit: compare against it, not u64::MAX.
    if !bytes.is_finite() || bytes >= 18_446_744_073_709_551_616.0 {
        return Err(out_of_range());
    }
    Ok(bytes as u64)
}

/// Parse `"5%"` or `"5"` (percent) into a fraction-free percentage.
pub fn parse_percent(input: &str) -> Result<f64, String> {
    let s = input.trim();
    let s = s.strip_suffix('%').unwrap_or(s).trim();
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{input}` is not a percentage (e.g. \"5%\")"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{input}` must be a non-negative percentage"));
    }
    Ok(v)
}

/// `1.5 MiB`-style size: binary units, one decimal above 1 KiB.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `12,345,678`
pub fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (s, want) in [
            ("0", 0),
            ("1234", 1234),
            ("10 B", 10),
            ("1KB", 1000),
            ("1 kB", 1000),
            ("1 KiB", 1024),
            ("2 MiB", 2 * 1024 * 1024),
            ("1.5 MB", 1_500_000),
            ("1.5MiB", 1_572_864),
            (" 3 GiB ", 3 * 1024 * 1024 * 1024),
        ] {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
        for bad in ["", "MiB", "2 mb", "2 MiBs", "1.2.3 MB", "-1 MB", "1.5", "x"] {
            assert!(parse_size(bad).is_err(), "{bad} should fail");
        }
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        for huge in [
            "18446744073709551616",
            "99999999999999999999 B",
            "17179869184 GiB",
            "17179869184.5 GiB",
        ] {
            let e = parse_size(huge).unwrap_err();
            assert!(e.contains("out of range"), "{huge}: {e}");
        }
    }

    #[test]
    fn percents() {
        assert_eq!(parse_percent("5%"), Ok(5.0));
        assert_eq!(parse_percent("2.5"), Ok(2.5));
        assert!(parse_percent("five").is_err());
        assert!(parse_percent("-1%").is_err());
    }

    #[test]
    fn human_and_grouped() {
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(2 * 1024 * 1024), "2.0 MiB");
        assert_eq!(grouped(1234567), "1,234,567");
        assert_eq!(grouped(12), "12");
    }
}
