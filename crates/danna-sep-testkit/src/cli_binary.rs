//! The `danna-sep` command-line binary, for tests outside the CLI crate (whose own tests use
//! `CARGO_BIN_EXE_danna-sep`).

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/danna-sep`, built (or found up to date) with `cargo build -p
/// danna-sep-cli` first, so a test never runs a stale binary.
pub fn cli_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--quiet",
            "-p",
            "danna-sep-cli",
            "--bin",
            "danna-sep",
        ])
        .current_dir(crate::repo_root());
    if release {
        build.arg("--release");
    }
    let status = build.status().expect("running cargo build for the CLI");
    assert!(status.success(), "building the danna-sep CLI failed");
    let bin = profile_dir.join("danna-sep");
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}
