//! `cargo slim load` and `build --load`: an image tarball into the local container
//! engine, the way `ko build --local` puts an image where `docker run` finds it.
//!
//! In: a tarball path and the engine ([`crate::engine::find`]). Out: [`Loaded`],
//! the reference the engine knows the image by. Why a command of its own: after a
//! build, the next step on a laptop is to run the image; this is that step
//! without a shell pipeline, with the engine's own error when it refuses.

use std::path::Path;

use anyhow::Result;

use crate::engine::{Engine, Kind};
use crate::shell::Shell;

/// An image loaded into an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// What the engine calls the image, e.g. `localhost/hello:0.1.0`.
    pub reference: String,
    pub engine: Kind,
}

impl Loaded {
    /// The `--message-format json` line.
    pub fn to_json(&self, tarball: &Path) -> serde_json::Value {
        serde_json::json!({
            "reason": "image-loaded",
            "path": tarball,
            "reference": self.reference,
            "engine": self.engine.program(),
        })
    }
}

/// Load `tarball` into `engine`. A path that is not a regular file is refused
/// before the engine runs (a FIFO would make it wait for ever).
pub fn load(tarball: &Path, engine: &Engine, shell: &Shell) -> Result<Loaded> {
    crate::io::open_regular(tarball, "an image tarball")?;
    shell.status(
        "Loading",
        format!("{} into {}", tarball.display(), engine.kind),
    );
    let reference = engine.load(tarball)?;
    shell.status("Loaded", &reference);
    Ok(Loaded {
        reference,
        engine: engine.kind,
    })
}
