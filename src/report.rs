//! Report: the size of every stage → a human table (stderr).
//!
//! Every number is the byte count of something that was really produced: the
//! binary cargo wrote, the stripped bytes put in the layer, the compressed layer
//! blob, the pull size (manifest + config + layers, what a registry client
//! downloads) and the tarball on disk. Humans get KiB/MiB; exact bytes are shown
//! beside them so the table can be checked against `ls -l`.

/// Byte counts of each stage of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizes {
    pub binary_unstripped: u64,
    pub binary_stripped: u64,
    pub layer_compressed: u64,
    pub layer_uncompressed: u64,
    pub image_pull: u64,
    pub tarball: u64,
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
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The rows of the table: label and bytes.
pub fn rows(s: &Sizes) -> Vec<(&'static str, u64)> {
    vec![
        ("binary (unstripped)", s.binary_unstripped),
        ("binary (stripped)", s.binary_stripped),
        ("layer (gzip)", s.layer_compressed),
        ("image pull size", s.image_pull),
        ("tarball on disk", s.tarball),
    ]
}

/// An aligned table, ready for stderr.
pub fn table(s: &Sizes) -> String {
    let rows = rows(s);
    let label_w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let human_w = rows.iter().map(|r| human(r.1).len()).max().unwrap_or(0);
    let bytes_w = rows.iter().map(|r| grouped(r.1).len()).max().unwrap_or(0);
    let mut out = String::new();
    for (label, bytes) in rows {
        out.push_str(&format!(
            "{:>12} {label:<label_w$}  {:>human_w$}  {:>bytes_w$} bytes\n",
            "",
            human(bytes),
            grouped(bytes)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        for (n, want) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (5 * 1024 * 1024, "5.0 MiB"),
            (3 * 1024 * 1024 * 1024, "3.0 GiB"),
        ] {
            assert_eq!(human(n), want);
        }
    }

    #[test]
    fn grouping() {
        for (n, want) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1234567, "1,234,567"),
        ] {
            assert_eq!(grouped(n), want);
        }
    }

    #[test]
    fn table_is_aligned() {
        let t = table(&Sizes {
            binary_unstripped: 4_000_000,
            binary_stripped: 400_000,
            layer_compressed: 200_000,
            layer_uncompressed: 401_000,
            image_pull: 201_000,
            tarball: 210_000,
        });
        let ends: Vec<usize> = t.lines().map(|l| l.find(" bytes").unwrap()).collect();
        assert!(ends.windows(2).all(|w| w[0] == w[1]), "{t}");
        assert!(t.contains("4,000,000 bytes"));
    }
}
