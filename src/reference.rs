//! Image references (`[registry/]repo[:tag]`), normalised the way podman does.
//!
//! A short name like `hello:0.1.0` becomes `localhost/hello:0.1.0`, which is what
//! `podman load` would call it anyway; writing the full name into `index.json` and
//! `manifest.json` makes every loader agree on one name. A reference is checked
//! here so a bad `--tag` fails before a long build, not at push time.
//!
//! Two mistakes get their own sentence: a scheme (`http://host/app`; plain HTTP is
//! `--insecure`), and credentials (`user:pw@host/app`), which are never echoed —
//! the error shows `***@host/app`. The name (`registry/repository`) may hold at
//! most [`NAME_MAX`] characters, as docker and podman enforce.

/// The longest `registry/repository` docker and podman accept (distribution's
/// `NameTotalLengthMax`).
pub const NAME_MAX: usize = 255;

use crate::error::Failure;

/// A parsed, normalised reference: `registry/repository:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

impl Reference {
    /// Parse and normalise `input`. A missing registry becomes `localhost`, a missing
    /// tag becomes `latest`. Digest references are not image names and are refused.
    pub fn parse(input: &str) -> Result<Reference, Failure> {
        refuse_scheme_and_credentials(input)?;
        let shown = shorten(&redact(input), 80);
        let bad = |why: &str| {
            Failure::new(format!("invalid image reference `{shown}`"))
                .detail(why.to_string())
                .help("use the form [registry/]repository[:tag], e.g. ghcr.io/acme/app:1.2.0 or app:0.1.0 (lowercase repository)")
        };
        if input.contains('@') {
            return Err(bad("a digest (@sha256:…) cannot name a new image"));
        }
        let (name, tag) = match input.rfind(':') {
            Some(i) if !input[i..].contains('/') => (&input[..i], &input[i + 1..]),
            _ => (input, "latest"),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first, rest)
            }
            _ => ("localhost", name),
        };
        if registry.is_empty() || registry.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(bad("the registry part is empty or malformed"));
        }
        if repository.is_empty() {
            return Err(bad("the repository name is empty"));
        }
        for component in repository.split('/') {
            if !valid_component(component) {
                return Err(bad(&format!(
                    "repository component `{component}` must be lowercase letters and digits, separated by `.`, `_`, `__` or `-`"
                )));
            }
        }
        let name_len = registry.len() + 1 + repository.len();
        if name_len > NAME_MAX {
            return Err(bad(&format!(
                "the name `{}` is {name_len} characters long; a repository name, registry included, may hold at most {NAME_MAX} (the limit docker and podman enforce)",
                shorten(&format!("{registry}/{repository}"), 60)
            )));
        }
        if !valid_tag(tag) {
            return Err(bad(&format!(
                "tag `{}` must be 1-128 characters of letters, digits, `_`, `.`, `-`, not starting with `.` or `-`",
                redact(tag)
            )));
        }
        Ok(Reference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: tag.to_string(),
        })
    }

    /// The default name for a binary and version: lowercase name, and a tag in which
    /// characters a tag cannot hold (semver's `+build`) become `_`.
    pub fn default_for(bin: &str, version: Option<&str>) -> Result<Reference, Failure> {
        let tag: String = version
            .unwrap_or("latest")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // A binary's file name may hold characters a repository name cannot: keep it
        // when it is valid as it is, else map it to one that is.
        let lower = bin.to_ascii_lowercase();
        if lower.split('/').count() == 1 && valid_component(&lower) {
            return Reference::parse(&format!("{lower}:{tag}"));
        }
        let mapped: String = bin
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let mut name = mapped.trim_matches('-').to_string();
        while name.contains("--") {
            name = name.replace("--", "-");
        }
        if name.is_empty() {
            name = "app".to_string();
        }
        Reference::parse(&format!("{name}:{tag}"))
    }
}

/// Check one more tag for an image (`--tag`, `tags = […]`): the reference rules,
/// and an error that never shows what looks like a credential in it.
pub fn check_tag(tag: &str) -> Result<(), Failure> {
    if valid_tag(tag) {
        return Ok(());
    }
    let mut f = Failure::new(format!("invalid tag `{}`", shorten(&redact(tag), 80)))
        .help("a tag is 1-128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`");
    if tag.contains('@') {
        f = f.detail("the part before `@` is not shown: it may be a credential");
    }
    Err(f)
}

/// `input` with what could be credentials hidden: the text before an `@` (back to
/// the last `/`, or the start) becomes `***`, unless a digest follows the `@`.
pub fn redact(input: &str) -> String {
    let mut out = String::new();
    let mut rest = input;
    while let Some(at) = rest.find('@') {
        let after = &rest[at + 1..];
        if looks_like_digest(after) {
            out.push_str(&rest[..=at]);
        } else {
            let start = rest[..at].rfind('/').map_or(0, |i| i + 1);
            out.push_str(&rest[..start]);
            out.push_str("***@");
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `s`, cut to `n` characters with `…`.
fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// `sha256:abc…`-like: what follows `@` in a digest reference.
fn looks_like_digest(s: &str) -> bool {
    match s.split_once(':') {
        Some((alg, hex)) => {
            !alg.is_empty()
                && !hex.is_empty()
                && !s.contains('/')
                && alg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && hex.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// `http://…` and `user:pw@host/…` get a sentence of their own; a password is
/// never part of any message.
fn refuse_scheme_and_credentials(input: &str) -> Result<(), Failure> {
    let (scheme, rest) = match input.split_once("://") {
        Some((s, rest))
            if !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b)) =>
        {
            (Some(s), rest)
        }
        _ => (None, input),
    };
    // Userinfo comes before the host: an `@` with no `/` before it, and no digest after.
    let userinfo_end = rest
        .find('@')
        .filter(|&at| !rest[..at].contains('/') && !looks_like_digest(&rest[at + 1..]));
    let prefix = scheme.map(|s| format!("{s}://")).unwrap_or_default();
    if let Some(at) = userinfo_end {
        let shown = shorten(&format!("{prefix}***@{}", &rest[at + 1..]), 80);
        return Err(Failure::new(format!(
            "invalid image reference `{shown}`: credentials do not belong in a reference"
        ))
        .detail("a user name or password in a reference ends up in shell history, CI logs and error messages (it is not shown here)")
        .help(format!(
            "drop the `USER:PASSWORD@` part, and set {} and {} (CI secrets), or log in with `podman login` / `docker login`",
            "CARGO_SLIM_REGISTRY_USERNAME", "CARGO_SLIM_REGISTRY_PASSWORD"
        )));
    }
    if let Some(s) = scheme {
        let lower = s.to_ascii_lowercase();
        let why = match lower.as_str() {
            "http" => "plain HTTP is chosen with `--insecure` (localhost, 127.0.0.1 and [::1] may use it without)".to_string(),
            "https" => "TLS is the default".to_string(),
            _ => format!("`{s}` is not a registry protocol"),
        };
        return Err(Failure::new(format!(
            "invalid image reference `{}`: a scheme does not belong in a reference",
            shorten(input, 80)
        ))
        .detail(format!("a reference is [registry/]repository[:tag]; {why}"))
        .help(format!(
            "drop `{prefix}`: write `{}`{}",
            shorten(rest, 80),
            if lower == "http" {
                ", and pass --insecure if the registry serves plain HTTP"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    if bytes.is_empty() || !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_alnum(b) {
            i += 1;
            continue;
        }
        // separators: `.`, `_`, `__`, or one or more `-`
        let sep_len = match b {
            b'.' => 1,
            b'_' if bytes.get(i + 1) == Some(&b'_') => 2,
            b'_' => 1,
            b'-' => bytes[i..].iter().take_while(|&&x| x == b'-').count(),
            _ => return false,
        };
        i += sep_len;
        if i >= bytes.len() || !is_alnum(bytes[i]) {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        let cases = [
            ("hello", "localhost/hello:latest"),
            ("hello:0.1.0", "localhost/hello:0.1.0"),
            ("localhost/hello:1", "localhost/hello:1"),
            ("localhost:5000/a/b:v2", "localhost:5000/a/b:v2"),
            ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
            ("ghcr.io/acme/app:1.2.0", "ghcr.io/acme/app:1.2.0"),
            ("acme/app:x", "localhost/acme/app:x"),
            ("my_service:0.1.0", "localhost/my_service:0.1.0"),
            ("a__b-c--d.e:T_1.x-y", "localhost/a__b-c--d.e:T_1.x-y"),
        ];
        for (input, want) in cases {
            assert_eq!(
                Reference::parse(input).unwrap().to_string(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn rejects() {
        for input in [
            "Hello:1",
            "hello:",
            "hello:-x",
            "hello:a+b",
            "-hello",
            "a///b",
            "a/b/",
            "a___b",
            "app@sha256:00",
            "",
            "a.b/",
        ] {
            assert!(
                Reference::parse(input).is_err(),
                "{input} should be rejected"
            );
        }
    }

    fn failure_text(input: &str) -> String {
        let f = Reference::parse(input).unwrap_err();
        format!(
            "{} | {} | {}",
            f.what,
            f.details.join(" | "),
            f.help.unwrap_or_default()
        )
    }

    #[test]
    fn what_looks_like_a_credential_is_never_echoed() {
        assert_eq!(redact("x:REFPW-s3cr3t@y"), "***@y");
        assert_eq!(redact("r:5000/app:x:pw@y"), "r:5000/***@y");
        assert_eq!(redact("app@sha256:abc"), "app@sha256:abc");
        assert_eq!(redact("plain"), "plain");
        let f = check_tag("x:REFPW-s3cr3t@y").unwrap_err();
        let text = format!("{f:?}");
        assert!(
            !text.contains("s3cr3t") && !text.contains("REFPW"),
            "{text}"
        );
        assert!(f.what.contains("***@y"), "{text}");
        let e = Reference::parse("r:5000/app:x:REFPW-s3cr3t@y").unwrap_err();
        let text = format!("{e:?}");
        assert!(
            !text.contains("s3cr3t") && !text.contains("REFPW"),
            "{text}"
        );
        assert!(check_tag("v1.2.3_rc-1").is_ok());
    }

    #[test]
    fn credentials_are_refused_and_never_echoed() {
        for input in [
            "user:hunter2@ghcr.io/acme/app:1",
            "user:hunter2@127.0.0.1:5000/app",
            "https://user:hunter2@ghcr.io/acme/app:1",
            "hunter2@ghcr.io/acme/app",
        ] {
            let t = failure_text(input);
            assert!(!t.contains("hunter2"), "{input}: {t}");
            assert!(
                t.contains("credentials do not belong in a reference"),
                "{t}"
            );
            assert!(t.contains("CARGO_SLIM_REGISTRY_USERNAME"), "{t}");
            assert!(t.contains("CARGO_SLIM_REGISTRY_PASSWORD"), "{t}");
            assert!(t.contains("podman login"), "{t}");
            assert!(!t.contains("digest"), "{t}");
            assert!(t.contains("***@"), "{t}");
        }
        // A digest is still a digest.
        let t = failure_text("ghcr.io/acme/app@sha256:00ab");
        assert!(t.contains("digest"), "{t}");
        let t = failure_text("app@sha256:00");
        assert!(t.contains("digest"), "{t}");
    }

    #[test]
    fn a_scheme_is_refused_with_a_sentence() {
        let t = failure_text("http://127.0.0.1:5000/app:1");
        assert!(t.contains("a scheme does not belong in a reference"), "{t}");
        assert!(t.contains("drop `http://`"), "{t}");
        assert!(t.contains("127.0.0.1:5000/app:1"), "{t}");
        assert!(t.contains("--insecure"), "{t}");
        assert!(!t.contains("lowercase"), "{t}");
        let t = failure_text("https://ghcr.io/acme/app");
        assert!(t.contains("drop `https://`"), "{t}");
        assert!(t.contains("TLS is the default"), "{t}");
    }

    #[test]
    fn names_longer_than_255_are_refused() {
        let repo = "a".repeat(300);
        let t = failure_text(&format!("ghcr.io/{repo}:1"));
        assert!(t.contains("at most 255"), "{t}");
        assert!(t.contains("308 characters"), "{t}");
        assert!(t.len() < 1000, "the input is shortened: {t}");
        // Counted with the registry: `localhost/` + 246 = 256.
        assert!(Reference::parse(&"b".repeat(246)).is_err());
        assert!(Reference::parse(&"b".repeat(245)).is_ok());
        let ok = format!("ghcr.io/{}", "c".repeat(255 - "ghcr.io/".len()));
        assert!(Reference::parse(&ok).is_ok());
    }

    #[test]
    fn default_names() {
        assert_eq!(
            Reference::default_for("Hello", Some("0.1.0+git.5"))
                .unwrap()
                .to_string(),
            "localhost/hello:0.1.0_git.5"
        );
        assert_eq!(
            Reference::default_for("app", None).unwrap().to_string(),
            "localhost/app:latest"
        );
        for (bin, want) in [
            (".tmpX1", "localhost/tmpx1:latest"),
            ("my_app.v2", "localhost/my_app.v2:latest"),
            ("My App!", "localhost/my-app:latest"),
            ("___", "localhost/app:latest"),
        ] {
            assert_eq!(Reference::default_for(bin, None).unwrap().to_string(), want);
        }
    }
}
