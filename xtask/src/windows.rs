//! `cargo xtask setup --windows`: what the x86_64 Windows cross-build needs, opt-in only (the
//! default `setup` never runs this, so `cargo xtask demo` and `cargo xtask test` stay as fast).
//!
//! - the Rust target `x86_64-pc-windows-gnu` (`rustup target add`);
//! - Debian's mingw-w64 gcc, the target's linker (`.cargo/config.toml`), and, for the tests
//!   only, wine ([`setup`]'s `with_wine`; `scripts/install-debian-packages.sh --windows --wine`);
//! - ONNX Runtime's Windows DLLs (`onnxruntime.dll`, `onnxruntime_providers_shared.dll`) from
//!   the official `win_amd64` wheel on PyPI, pinned by version and sha256, kept in
//!   `.deps/windows/wheels` and extracted to `.deps/windows/onnxruntime/`;
//! - OpenVINO's CPU subset for Windows from its `win_amd64` wheel, the same way
//!   (`openvino.rs`: [`crate::openvino::ensure_windows`], `.deps/windows/openvino/`).
//!
//! A second run needs no network.

use anyhow::{bail, ensure, Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process;
use crate::setup::{self, ORT_VERSION};

/// The Rust target of the Windows build.
pub const TARGET: &str = "x86_64-pc-windows-gnu";

/// The wheel the DLLs come from (`pip download --platform win_amd64 --python-version 3.11`).
pub const WHEEL: &str = "onnxruntime-1.31.1-cp311-cp311-win_amd64.whl";

/// The sha256 of [`WHEEL`], as downloaded from PyPI on 2026-12-03; a different file is refused.
pub const WHEEL_SHA256: &str = "c3d91b5de31e2fc82d71bd65b2b22bddee8b49057a3a36338e9a868e0ea90c05";

/// The DLLs taken from the wheel; the bundles ship both next to the plugin and the CLI.
/// `onnxruntime.dll` is what `danna_sep_core::runtime` loads; it loads the second itself, only
/// for execution providers.
pub const ORT_DLLS: [&str; 2] = ["onnxruntime.dll", "onnxruntime_providers_shared.dll"];

/// `.deps/windows/onnxruntime/`, where the DLLs are extracted.
pub fn ort_dir(root: &Path) -> PathBuf {
    root.join(".deps/windows/onnxruntime")
}

/// Provisions the Windows cross-build (and wine, when `with_wine`); idempotent.
pub fn setup(root: &Path, with_wine: bool) -> Result<()> {
    let mut packages = Command::new("bash");
    packages
        .arg(root.join("scripts/install-debian-packages.sh"))
        .arg("--windows");
    if with_wine {
        packages.arg("--wine");
    }
    process::run(packages, root).context("installing the Windows build's Debian packages")?;
    rust_target(root)?;
    let dir = ensure_ort_dlls(root)?;
    println!("ONNX Runtime {ORT_VERSION} for Windows: {}", dir.display());
    let dir = crate::openvino::ensure_windows(root)?;
    println!(
        "OpenVINO {} for Windows: {}",
        crate::openvino::OV_VERSION,
        dir.display()
    );
    Ok(())
}

/// `rustup target add` [`TARGET`] unless it is installed.
fn rust_target(root: &Path) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context(
            "running rustup (the Windows build needs rustup's x86_64-pc-windows-gnu target)",
        )?;
    let list = String::from_utf8_lossy(&installed.stdout);
    if list.lines().any(|l| l.trim() == TARGET) {
        return Ok(());
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add", TARGET]);
    process::run(add, root)
}

/// Makes sure both [`ORT_DLLS`] are in [`ort_dir`], downloading and checking the wheel only
/// when needed. Returns the folder.
pub fn ensure_ort_dlls(root: &Path) -> Result<PathBuf> {
    let dir = ort_dir(root);
    if ORT_DLLS.iter().all(|dll| is_pe(&dir.join(dll))) {
        return Ok(dir);
    }
    let wheel = pinned_wheel(
        root,
        &wheels_dir(root),
        &format!("onnxruntime=={ORT_VERSION}"),
        "win_amd64",
        WHEEL,
        WHEEL_SHA256,
    )?;
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for dll in ORT_DLLS {
        let dest = dir.join(dll);
        setup::extract_member(&wheel, &format!("onnxruntime/capi/{dll}"), &dest)?;
        ensure!(is_pe(&dest), "{} is not a Windows DLL", dest.display());
    }
    Ok(dir)
}

/// `.deps/windows/wheels/`, where the Windows wheels are kept.
pub fn wheels_dir(root: &Path) -> PathBuf {
    root.join(".deps/windows/wheels")
}

/// `wheels/<wheel>`, downloaded with pip (`requirement` for `platform`, Python 3.11, no
/// dependencies) unless it is there, and refused unless its sha256 is `sha256`. Returns its
/// path; offline once the file is there.
pub fn pinned_wheel(
    root: &Path,
    wheels: &Path,
    requirement: &str,
    platform: &str,
    wheel: &str,
    sha256: &str,
) -> Result<PathBuf> {
    let path = wheels.join(wheel);
    if !path.is_file() {
        let mut pip = Command::new("python3");
        pip.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args(["--platform", platform, "--python-version", "3.11"])
            .arg(requirement)
            .arg("-d")
            .arg(wheels);
        process::run(pip, root)
            .with_context(|| format!("downloading the {platform} wheel {requirement} failed"))?;
        ensure!(
            path.is_file(),
            "pip saved no {} (a different build of {requirement}?)",
            path.display()
        );
    }
    let digest = sha256_file(&path)?;
    if digest != sha256 {
        bail!(
            "{} has sha256 {digest}, expected {sha256}; delete it to download it again",
            path.display()
        );
    }
    Ok(path)
}

/// The hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Whether `path` is a regular file starting with the PE/DOS magic `MZ`.
pub fn is_pe(path: &Path) -> bool {
    let mut magic = [0u8; 2];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"MZ"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_file() {
        let path = std::env::temp_dir().join(format!("xtask-sha-{}", std::process::id()));
        fs::write(&path, b"abc").unwrap();
        let digest = sha256_file(&path).unwrap();
        fs::remove_file(&path).unwrap();
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_pinned_wheel_is_the_pinned_version() {
        assert!(WHEEL.starts_with(&format!("onnxruntime-{ORT_VERSION}-")));
        assert_eq!(WHEEL_SHA256.len(), 64);
    }
}
