//! The checker's one error: a [`Violation`] naming the entry at fault and what
//! is wrong with it, the `bail_at!`/`ensure_at!` shorthands that raise one, and
//! the small formatters every message uses.
//!
//! In: an entry name and a detail (or a reader's [`Failure`]). Out: an
//! [`anyhow::Error`] whose plain `Display` is the whole message, so callers
//! need no context chain and can still `downcast_ref` the [`Violation`]. Why a
//! file of its own: every other file of the checker raises these, so this one
//! sits at the bottom and imports none of them.

use anyhow::anyhow;

use crate::error::Failure;

/// An invariant violation: which entry, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {detail}")]
pub struct Violation {
    /// The outer tar entry (or document) at fault, e.g. `index.json` or `blobs/sha256/…`.
    pub entry: String,
    /// Expected vs actual.
    pub detail: String,
}

pub(super) fn violation(entry: impl Into<String>, detail: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Violation {
        entry: entry.into(),
        detail: detail.into(),
    })
}

/// A reader's failure (a truncated tar, an oversized document) as an error
/// whose message is the failure's sentence and its details.
pub(super) fn from_failure(f: Failure) -> anyhow::Error {
    let mut msg = f.what;
    for d in f.details {
        msg.push_str(": ");
        msg.push_str(&d);
    }
    anyhow!(msg)
}

/// `"value"` or `missing`, for messages.
pub(super) fn show(v: Option<&str>) -> String {
    v.map_or_else(|| "missing".to_string(), |s| format!("{s:?}"))
}

/// A number or `missing`, for messages.
pub(super) fn show_num(v: Option<u64>) -> String {
    v.map_or_else(|| "missing".to_string(), |n| n.to_string())
}

/// Return a [`Violation`] of `$entry` with a formatted detail.
macro_rules! bail_at {
    ($entry:expr, $($fmt:tt)+) => {
        return Err($crate::validate::errors::violation($entry, format!($($fmt)+)))
    };
}

/// [`bail_at!`] unless `$cond` holds.
macro_rules! ensure_at {
    ($cond:expr, $entry:expr, $($fmt:tt)+) => {
        if !$cond {
            $crate::validate::errors::bail_at!($entry, $($fmt)+);
        }
    };
}
pub(super) use {bail_at, ensure_at};
