//! `--chart FILE.svg`: a self-contained SVG bar chart of the stages and the top
//! crates, with labels and sizes, readable in a browser or a pull request without
//! any other file (no scripts, no external fonts or styles).

use super::{human, stages, BuildReport, TOP_CRATES};

const WIDTH: u32 = 760;
const LABEL_W: u32 = 190;
const BAR_MAX: u32 = 400;
const ROW_H: u32 = 22;

/// Escape text for XML content and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn section(out: &mut String, y: &mut u32, title: &str, rows: &[(String, u64)], color: &str) {
    out.push_str(&format!(
        "<text x=\"10\" y=\"{}\" font-weight=\"bold\" font-size=\"14\">{}</text>\n",
        *y + 14,
        escape(title)
    ));
    *y += 24;
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    for (label, bytes) in rows {
        let w = ((*bytes as f64 / max as f64) * BAR_MAX as f64)
            .round()
            .max(1.0) as u32;
        out.push_str(&format!(
            "<g><title>{label}: {bytes} bytes</title>\
             <text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\" class=\"label\">{label}</text>\
             <rect x=\"{bx}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"{color}\"/>\
             <text x=\"{vx}\" y=\"{ty}\" class=\"value\">{value}</text></g>\n",
            label = escape(label),
            lx = LABEL_W - 8,
            ty = *y + 15,
            bx = LABEL_W,
            y = *y,
            h = ROW_H - 6,
            vx = LABEL_W + w + 6,
            value = escape(&human(*bytes)),
        ));
        *y += ROW_H;
    }
    *y += 10;
}

/// Render the chart.
pub fn render(r: &BuildReport) -> String {
    let stage_rows: Vec<(String, u64)> = stages(&r.sizes)
        .into_iter()
        .map(|(l, _, b)| (l.to_string(), b))
        .collect();
    let crate_rows: Vec<(String, u64)> = r
        .crates
        .iter()
        .take(TOP_CRATES)
        .map(|c| (c.name.clone(), c.bytes))
        .collect();
    let mut body = String::new();
    let mut y = 40;
    section(&mut body, &mut y, "stages", &stage_rows, "#2b7bb9");
    if !crate_rows.is_empty() {
        section(
            &mut body,
            &mut y,
            "top crates (unstripped binary)",
            &crate_rows,
            "#e0803a",
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{h}\" viewBox=\"0 0 {WIDTH} {h}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <style>.label {{ fill: #222; }} .value {{ fill: #444; }}</style>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">{title}</text>\n{body}</svg>\n",
        h = y + 10,
        title = escape(&format!("{} ({}) — image pull {}", r.reference, r.platform, human(r.sizes.image_pull))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape("<a&b>\"'"), "&lt;a&amp;b&gt;&quot;&apos;");
    }

    #[test]
    fn has_labels_and_sizes() {
        let svg = render(&crate::report::tests::sample());
        for want in [
            "image pull size",
            "tarball on disk",
            "std",
            "hello",
            "196.3 KiB",
        ] {
            assert!(svg.contains(want), "{want} missing");
        }
        assert!(svg.starts_with("<?xml"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
