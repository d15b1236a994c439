//! Terminal output in cargo's style.
//!
//! Status lines go to stderr with the verb right-aligned in 12 columns and bold
//! green (`   Compiling`, `   Stripping`, `    Finished`), `warning:` / `note:` /
//! `error:` labels, and honour `-q`, `-v` and `--color`. Only results go to stdout,
//! so scripts can capture the tarball path without parsing status noise. The
//! library never writes to stdout: results go back to the binary as values.
//!
//! A shell writes to stderr, or to an in-memory buffer ([`Shell::buffer`], like
//! cargo's `Shell::from_write`) so tests can read the warnings a stage gave.

use anstream::AutoStream;
use anstyle::{AnsiColor, Style};
use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::error::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

/// Where status lines, warnings and errors are written.
#[derive(Debug, Clone)]
pub struct Shell {
    pub verbosity: Verbosity,
    pub color: ColorChoice,
    sink: Sink,
}

#[derive(Debug, Clone)]
enum Sink {
    Stderr,
    /// Lines kept in memory; `true`: with their colours, for [`Shell::replay`].
    Buffer(Arc<Mutex<Vec<u8>>>, bool),
}

/// Appends to the shared buffer of a [`Shell::buffer`].
struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        b.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const GREEN: Style = AnsiColor::Green.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default().bold();
const BOLD: Style = Style::new().bold();

impl Default for Shell {
    fn default() -> Self {
        Shell::new(Verbosity::Normal, ColorChoice::Auto)
    }
}

impl Shell {
    /// A shell on stderr.
    pub fn new(verbosity: Verbosity, color: ColorChoice) -> Self {
        Shell {
            verbosity,
            color,
            sink: Sink::Stderr,
        }
    }

    /// A shell that writes plain text (no colours) to memory; read it back with
    /// [`Shell::captured`].
    pub fn buffer(verbosity: Verbosity) -> Self {
        Shell {
            verbosity,
            color: ColorChoice::Never,
            sink: Sink::Buffer(Arc::default(), false),
        }
    }

    /// A shell with this one's verbosity and colours whose lines wait in memory,
    /// to be shown in one piece by [`Shell::replay`]: for work that runs beside
    /// other work (the images of a multi-image build), so each one's lines stay
    /// together.
    pub fn deferred(&self) -> Self {
        Shell {
            verbosity: self.verbosity,
            color: self.color,
            sink: Sink::Buffer(Arc::default(), true),
        }
    }

    /// Show what `deferred` (a [`Shell::deferred`] shell) kept, as this shell
    /// shows its own lines (colours stripped where this one has none), and
    /// empty it.
    pub fn replay(&self, deferred: &Shell) {
        let Sink::Buffer(b, _) = &deferred.sink else {
            return;
        };
        let bytes = std::mem::take(&mut *b.lock().unwrap_or_else(|p| p.into_inner()));
        let mut err = self.stderr();
        let _ = err.write_all(&bytes);
        let _ = err.flush();
    }

    /// Everything written so far to a [`Shell::buffer`] (empty for stderr).
    pub fn captured(&self) -> String {
        match &self.sink {
            Sink::Stderr => String::new(),
            Sink::Buffer(b, _) => {
                String::from_utf8_lossy(&b.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
            }
        }
    }

    fn stderr(&self) -> Box<dyn Write> {
        let choice = match self.color {
            ColorChoice::Auto => anstream::ColorChoice::Auto,
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
        };
        match &self.sink {
            Sink::Stderr => Box::new(AutoStream::new(std::io::stderr(), choice)),
            Sink::Buffer(b, true) => Box::new(BufferWriter(b.clone())),
            Sink::Buffer(b, false) => {
                let raw: Box<dyn Write> = Box::new(BufferWriter(b.clone()));
                Box::new(anstream::StripStream::new(raw))
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_shell_keeps_plain_text_by_verbosity() {
        let shell = Shell::buffer(Verbosity::Normal);
        shell.status("Packing", "hello");
        shell.warn("careful");
        shell.verbose("Timing", "hidden at normal verbosity");
        shell.error(&anyhow::Error::new(
            Failure::new("boom").detail("why").help("fix"),
        ));
        assert_eq!(
            shell.captured(),
            "     Packing hello\nwarning: careful\nerror: boom\n  why\nhelp: fix\n"
        );
        let quiet = Shell::buffer(Verbosity::Quiet);
        quiet.warn("not shown");
        assert_eq!(quiet.captured(), "");
        assert_eq!(Shell::default().captured(), "");
    }
}
