//! Terminal output in cargo's style.
//!
//! Status lines go to stderr with the verb right-aligned in 12 columns and bold
//! green (`   Compiling`, `   Stripping`, `    Finished`), `warning:` / `note:` /
//! `error:` labels, and honour `-q`, `-v` and `--color`. Only results go to stdout,
//! so scripts can capture the tarball path without parsing status noise.

use anstream::AutoStream;
use anstyle::{AnsiColor, Style};
use std::io::Write;

use crate::error::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    Quiet,
    #[default]
    Normal,
    Verbose,
}

/// Where status, warnings and results are written.
#[derive(Debug, Clone, Copy)]
pub struct Shell {
    pub verbosity: Verbosity,
    pub color: ColorChoice,
}

const GREEN: Style = AnsiColor::Green.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default().bold();
const BOLD: Style = Style::new().bold();

impl Default for Shell {
    fn default() -> Self {
        Shell {
            verbosity: Verbosity::Normal,
            color: ColorChoice::Auto,
        }
    }
}

impl Shell {
    pub fn new(verbosity: Verbosity, color: ColorChoice) -> Self {
        Shell { verbosity, color }
    }

    fn stderr(&self) -> AutoStream<std::io::Stderr> {
        let choice = match self.color {
            ColorChoice::Auto => anstream::ColorChoice::Auto,
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
        };
        AutoStream::new(std::io::stderr(), choice)
    }

    /// `   Compiling hello v0.1.0` — a step of the pipeline.
    pub fn status(&self, verb: &str, message: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Normal {
            let mut err = self.stderr();
            let _ = writeln!(err, "{GREEN}{verb:>12}{GREEN:#} {message}");
        }
    }

    /// Extra detail shown only with `-v`.
    pub fn verbose(&self, verb: &str, message: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Verbose {
            let mut err = self.stderr();
            let _ = writeln!(err, "{CYAN}{verb:>12}{CYAN:#} {message}");
        }
    }

    pub fn warn(&self, message: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Normal {
            let mut err = self.stderr();
            let _ = writeln!(err, "{YELLOW}warning{YELLOW:#}{BOLD}:{BOLD:#} {message}");
        }
    }

    pub fn note(&self, message: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Normal {
            let mut err = self.stderr();
            let _ = writeln!(err, "{CYAN}note{CYAN:#}{BOLD}:{BOLD:#} {message}");
        }
    }

    /// Plain text on stderr (tables), suppressed by `-q`.
    pub fn print_err(&self, text: &str) {
        if self.verbosity >= Verbosity::Normal {
            let mut err = self.stderr();
            let _ = err.write_all(text.as_bytes());
        }
    }

    /// Render an error (always shown, even with `-q`).
    pub fn error(&self, err: &anyhow::Error) {
        let mut out = self.stderr();
        let failure = err.chain().find_map(|e| e.downcast_ref::<Failure>());
        let _ = writeln!(out, "{RED}error{RED:#}{BOLD}:{BOLD:#} {err}");
        for cause in err.chain().skip(1) {
            if let Some(f) = cause.downcast_ref::<Failure>() {
                let _ = writeln!(out, "  caused by: {}", f.what);
            } else {
                let _ = writeln!(out, "  caused by: {cause}");
            }
        }
        if let Some(f) = failure {
            for d in &f.details {
                let _ = writeln!(out, "  {d}");
            }
            if let Some(h) = &f.help {
                let _ = writeln!(out, "{CYAN}help{CYAN:#}{BOLD}:{BOLD:#} {h}");
            }
        }
    }
}

/// Write a result line to stdout. A closed pipe is not an error (`| head`).
pub fn print_out(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}
