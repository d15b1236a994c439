//! Image references inside YAML text: where each `slim://PACKAGE[/BIN]` scalar is, and
//! the same text with only those scalars changed.
//!
//! In: the bytes of a YAML stream (any number of `---` documents: Deployments, Jobs,
//! CRDs, Helm-rendered output) and the name to show for it in errors. Out: every
//! scalar whose value is an image reference, with its line, column and byte range;
//! then the text with each such range rewritten. Why: `ko` re-serialises the YAML it
//! resolves and so loses comments, key order, quoting and anchors; here the parser
//! (saphyr-parser, which gives each event its source span) only *locates* the
//! scalars, and every other byte of the input is copied through untouched.

use std::fmt;
use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, SpannedEventReceiver};

use crate::error::Failure;

/// The scheme that marks an image to build: `slim://PACKAGE` or `slim://PACKAGE/BIN`.
pub const SCHEME: &str = "slim://";

/// An image to build, named by its cargo package and, optionally, the binary target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    pub package: String,
    pub bin: Option<String>,
}

impl ImageRef {
    /// Parse `slim://PACKAGE[/BIN]`; `None` when the text does not use the scheme,
    /// an error (without a location: the caller adds it) when it does but is malformed.
    pub fn parse(text: &str) -> Option<Result<ImageRef, String>> {
        let rest = text.strip_prefix(SCHEME)?;
        let mut parts = rest.split('/');
        let package = parts.next().unwrap_or_default();
        let bin = parts.next();
        let well_formed = is_name(package) && bin.is_none_or(is_name) && parts.next().is_none();
        Some(if well_formed {
            Ok(ImageRef {
                package: package.to_string(),
                bin: bin.map(str::to_string),
            })
        } else {
            Err(format!(
                "`{text}` is not an image reference: write `{SCHEME}PACKAGE` or `{SCHEME}PACKAGE/BIN`"
            ))
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.bin {
            Some(bin) => write!(f, "{SCHEME}{}/{bin}", self.package),
            None => write!(f, "{SCHEME}{}", self.package),
        }
    }
}

/// A cargo package or target name: letters, digits, `-` and `_`.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One reference found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub reference: ImageRef,
    /// 1-based line of the reference.
    pub line: usize,
    /// 1-based column of the reference (inside the quotes of a quoted scalar).
    pub column: usize,
    /// Bytes of the reference itself inside the text (inside the quotes of a
    /// quoted scalar): what [`rewrite`] replaces.
    range: Range<usize>,
}

/// Every image reference in `text`, in order. `origin` names the text in errors
/// (a path, or `<stdin>`). YAML that does not parse, a malformed reference, or one
/// written with escapes (so its bytes are not the reference) is an error naming
/// the line.
pub fn find(text: &str, origin: &str) -> Result<Vec<Site>, Failure> {
    let mut scalars = Scalars::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut scalars, true) {
        let m = e.marker();
        return Err(Failure::new(format!(
            "{origin}:{}:{}: not valid YAML: {}",
            m.line(),
            m.col() + 1,
            e.info()
        ))
        .help("resolve reads YAML documents (Kubernetes manifests, Helm-rendered output)"));
    }
    let offsets = ByteOffsets::new(text);
    let mut sites = Vec::new();
    for (value, style, span) in scalars.found {
        let (line, column) = (span.start.line(), span.start.col() + 1);
        let at = |msg: String| Failure::new(format!("{origin}:{line}:{column}: {msg}"));
        let value = match style {
            // A block scalar's value ends with its line break.
            ScalarStyle::Literal | ScalarStyle::Folded => value.trim_end_matches('\n'),
            _ => value.as_str(),
        };
        let reference = match ImageRef::parse(value) {
            None => continue,
            Some(parsed) => parsed.map_err(at)?,
        };
        let raw = offsets.byte(span.start.index())..offsets.byte(span.end.index());
        let Some(inner) = text[raw.clone()].find(value) else {
            return Err(at(format!(
                "`{reference}` is written with escapes; write it as plain text so only it changes"
            )));
        };
        let start = raw.start + inner;
        let (line, column) = position(text, start);
        sites.push(Site {
            reference,
            line,
            column,
            range: start..start + value.len(),
        });
    }
    Ok(sites)
}

/// `text` with each site's reference replaced by what `resolved` gives for it; all
/// other bytes are copied as they are. `sites` are those [`find`] returned for
/// this same text.
pub fn rewrite(text: &str, sites: &[Site], resolved: impl Fn(&ImageRef) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for site in sites {
        out.push_str(&text[copied..site.range.start]);
        out.push_str(&resolved(&site.reference));
        copied = site.range.end;
    }
    out.push_str(&text[copied..]);
    out
}

/// 1-based line and column (in characters) of a byte offset: where the reference
/// itself starts, inside quotes or on the line after a block scalar's `|`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Collects the scalars that might be references, with their spans.
#[derive(Default)]
struct Scalars {
    found: Vec<(String, ScalarStyle, Span)>,
}

impl<'input> SpannedEventReceiver<'input> for Scalars {
    fn on_event(&mut self, event: Event<'input>, span: Span) {
        if let Event::Scalar(value, style, _, _) = event {
            if value.contains(SCHEME) {
                self.found.push((value.into_owned(), style, span));
            }
        }
    }
}

/// The parser counts characters; slicing needs bytes.
struct ByteOffsets(Vec<usize>);

impl ByteOffsets {
    fn new(text: &str) -> Self {
        let mut v: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        v.push(text.len());
        ByteOffsets(v)
    }

    fn byte(&self, char_index: usize) -> usize {
        self.0
            .get(char_index)
            .copied()
            .unwrap_or(*self.0.last().unwrap_or(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "\
# a comment with é, before everything
apiVersion: apps/v1
kind: Deployment   # trailing comment
metadata: {name: api, labels: {app: api}}
spec:
  template:
    spec:
      containers:
        - name: api
          image: slim://api
        - name: worker
          image: \"slim://tools/worker\"
          args: ['slim://api', 'it''s']
        - image: &img slim://api
        - image: *img
---
# another document
list: [slim://api, \"text\"]
block: |
  slim://tools
";

    fn refs(text: &str) -> Vec<(String, usize, usize)> {
        find(text, "k8s/app.yaml")
            .unwrap()
            .into_iter()
            .map(|s| (s.reference.to_string(), s.line, s.column))
            .collect()
    }

    #[test]
    fn finds_every_reference_with_its_place() {
        assert_eq!(
            refs(MANIFEST),
            vec![
                ("slim://api".to_string(), 10, 18),
                ("slim://tools/worker".to_string(), 12, 19),
                ("slim://api".to_string(), 13, 19),
                ("slim://api".to_string(), 14, 23),
                ("slim://api".to_string(), 18, 8),
                ("slim://tools".to_string(), 20, 3),
            ]
        );
    }

    #[test]
    fn rewrite_changes_only_the_references() {
        let sites = find(MANIFEST, "k8s/app.yaml").unwrap();
        let out = rewrite(MANIFEST, &sites, |r| {
            format!(
                "127.0.0.1:5000/{}@sha256:ab",
                r.bin.as_deref().unwrap_or(&r.package)
            )
        });
        let expected = MANIFEST
            .replace("slim://tools/worker", "127.0.0.1:5000/worker@sha256:ab")
            .replace("slim://tools\n", "127.0.0.1:5000/tools@sha256:ab\n")
            .replace("slim://api", "127.0.0.1:5000/api@sha256:ab");
        assert_eq!(out, expected);
        // The result is still YAML with the same shape: nothing left to resolve.
        assert!(find(&out, "out").unwrap().is_empty());
    }

    #[test]
    fn text_without_references_is_copied_as_is() {
        let text = "a: 1\n# slim is not slim:/x\nb: 'slim:/y'\n";
        let sites = find(text, "x").unwrap();
        assert!(sites.is_empty());
        assert_eq!(rewrite(text, &sites, |_| unreachable!()), text);
    }

    #[test]
    fn bad_references_and_bad_yaml_name_the_line() {
        let cases = [
            (
                "a: 1\nimage: slim://\n",
                "x.yaml:2:8: `slim://` is not an image reference",
            ),
            ("image: slim://a/b/c\n", "x.yaml:1:8: `slim://a/b/c` is not"),
            ("image: slim://a b\n", "x.yaml:1:8: `slim://a b` is not"),
            (
                "image: \"slim:\\/\\/api\"\n",
                "x.yaml:1:8: `slim://api` is written with escapes",
            ),
            ("a: [1\nb: 2\n", "x.yaml:"),
        ];
        for (text, want) in cases {
            let err = find(text, "x.yaml").unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_scheme_inside_a_longer_value_is_not_a_reference() {
        // Only a scalar that IS a reference is one; text mentioning it is an error
        // only when it starts with the scheme.
        assert!(find("note: see slim://api\n", "x").unwrap().is_empty());
    }
}
