//! `cargo slim keygen` flags, and the password from the environment.
//!
//! In: `--output-key-prefix`, and `CARGO_SLIM_KEY_PASSWORD` / `COSIGN_PASSWORD`.
//! Out: a [`KeygenRequest`]. Why here: the environment is read in the binary, so
//! the library takes the password as a value and its tests set none. cargo slim
//! never prompts for a password: it behaves the same at a terminal and in CI.

use std::path::PathBuf;

use clap::Args;

use cargo_slim::commands::keygen::KeygenRequest;

/// `cargo slim keygen [--output-key-prefix PREFIX]`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = "\
Writes PREFIX.key (cosign's encrypted `ENCRYPTED SIGSTORE PRIVATE KEY`, mode 0600) and
PREFIX.pub (PEM `PUBLIC KEY`): an ECDSA P-256 pair that `cosign sign --key` and `cosign
verify --key` use as they are. The password comes from CARGO_SLIM_KEY_PASSWORD, else
COSIGN_PASSWORD; an empty value is allowed, and when neither is set the password is empty
(with a warning) — there is no prompt. An existing PREFIX.key or PREFIX.pub is never
replaced: the command then writes nothing.

Exit codes: 0 ok, 1 error (a file exists, or cannot be written), 2 usage error.")]
pub struct KeygenArgs {
    /// Write PREFIX.key and PREFIX.pub instead of cosign.key and cosign.pub
    #[arg(long, value_name = "PREFIX", default_value = "cosign")]
    pub output_key_prefix: PathBuf,
}

/// The environment variables a key's password is read from, first set first.
pub const PASSWORD_VARS: [&str; 2] = ["CARGO_SLIM_KEY_PASSWORD", "COSIGN_PASSWORD"];

/// The password from [`PASSWORD_VARS`] (any bytes), or `None` when neither is set.
pub fn password_from_env() -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    PASSWORD_VARS
        .iter()
        .find_map(std::env::var_os)
        .map(OsStringExt::into_vec)
}

impl KeygenArgs {
    /// The request, and whether the password is empty because none was set.
    pub fn to_request(&self) -> (KeygenRequest, bool) {
        let password = password_from_env();
        let unset = password.is_none();
        let request = KeygenRequest {
            prefix: self.output_key_prefix.clone(),
            password: password.unwrap_or_default().into(),
        };
        (request, unset)
    }
}
