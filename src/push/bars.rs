//! Progress bars for blob uploads.
//!
//! In: whether bars are wanted ([`super::PushOptions::progress`]), the shell's
//! verbosity, and each blob's size and digest. Out: a bar per upload of at least
//! [`PROGRESS_MIN`], drawn on stderr, or none at all when stderr is no terminal
//! or output is quiet. Why apart: how an upload looks is no part of how it is
//! sent.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::shell::{Shell, Verbosity};

/// Blobs at least this large get a progress bar.
pub const PROGRESS_MIN: u64 = 1 << 20;

/// A set of bars on stderr, when `wanted`, stderr is a terminal and output is
/// not quiet.
pub fn bars(wanted: bool, shell: &Shell) -> Option<MultiProgress> {
    use std::io::IsTerminal;
    if !wanted || shell.verbosity < Verbosity::Normal || !std::io::stderr().is_terminal() {
        return None;
    }
    Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// The bar of one upload of `size` bytes labelled `label`, when there are bars
/// and the blob is large enough for one.
pub fn bar(bars: Option<&MultiProgress>, size: u64, label: &str) -> Option<ProgressBar> {
    bars.filter(|_| size >= PROGRESS_MIN).map(|m| {
        let b = m.add(ProgressBar::new(size));
        b.set_style(style());
        b.set_prefix("Uploading");
        b.set_message(label.to_string());
        b
    })
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>12.cyan.bold} [{bar:27}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}
