//! Writes this build script's pid to `$SLOWBUILD_PIDFILE` (when set), then sleeps
//! for `$SLOWBUILD_SECS` seconds (default 60): a stand-in for a long C build,
//! which cargo-slim must stop when it is interrupted.

use std::time::Duration;

fn main() {
    println!("cargo:rerun-if-env-changed=SLOWBUILD_PIDFILE");
    println!("cargo:rerun-if-env-changed=SLOWBUILD_SECS");
    if let Some(file) = std::env::var_os("SLOWBUILD_PIDFILE") {
        let tmp = std::path::PathBuf::from(&file).with_extension("part");
        std::fs::write(&tmp, std::process::id().to_string()).expect("write the pid file");
        std::fs::rename(&tmp, &file).expect("move the pid file into place");
    }
    let secs: u64 = std::env::var("SLOWBUILD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    std::thread::sleep(Duration::from_secs(secs));
}
