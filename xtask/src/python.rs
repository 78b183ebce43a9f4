//! The Python toolchain under `models/`: the project-local virtual environment (`.venv`) and
//! the pytest suite.
//!
//! `setup_venv` is idempotent and cheap when nothing changed: it creates `.venv` with
//! `python3 -m venv` if absent and runs `pip install -e models[test,bench]` only when
//! `models/pyproject.toml` (which pins every dependency) differs from what was last installed,
//! as recorded in a stamp file inside the venv. The first install downloads the pinned torch
//! wheel with its CUDA libraries (~4 GB, a few minutes, ~6 GB installed); later runs take
//! milliseconds.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::process;

/// Stamp file (inside `.venv`) holding the hash of the installed requirements.
const STAMP: &str = ".danna-sep-requirements.stamp";

/// The venv's Python interpreter.
pub fn venv_python(root: &Path) -> PathBuf {
    root.join(".venv").join("bin").join("python")
}

/// Creates or updates the project's Python virtual environment (`.venv`).
pub fn setup_venv(root: &Path) -> Result<()> {
    let python = venv_python(root);
    if !python.exists() {
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "venv", ".venv"]);
        process::run(cmd, root).context("creating .venv with `python3 -m venv` failed")?;
    }
    let wanted = requirements_hash(root)?;
    let stamp = root.join(".venv").join(STAMP);
    if fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) {
        return Ok(());
    }
    let mut cmd = pip_install(&python);
    cmd.arg("-e")
        .arg(format!("{}[test,bench]", root.join("models").display()));
    process::run(cmd, root).context("installing the models package into .venv failed")?;
    fs::write(&stamp, format!("{wanted}\n"))
        .with_context(|| format!("writing {}", stamp.display()))?;
    Ok(())
}

/// `python -m pip install` as every install into the venv runs it: no version check, and no
/// pip cache, which would keep a second copy of the ~4 GB of torch/CUDA wheels (CI machines
/// can be short of disk: a CI run once failed with ENOSPC in the venv's install).
pub fn pip_install(python: &Path) -> Command {
    let mut cmd = Command::new(python);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-cache-dir",
    ]);
    cmd
}

/// Runs the Python test suite (`pytest models/tests`); fails when a test fails or none ran.
pub fn run_tests(root: &Path) -> Result<()> {
    setup_venv(root)?;
    let mut cmd = Command::new(venv_python(root));
    cmd.args(["-m", "pytest", "models/tests", "-q"]);
    cmd.current_dir(root);
    let shown = process::describe(&cmd);
    eprintln!("+ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    match status.code() {
        Some(0) => Ok(()),
        // pytest's "no tests were collected": a broken suite, not a pass
        Some(5) => bail!("`{shown}` collected no tests"),
        _ => bail!("`{shown}` failed ({status})"),
    }
}

/// Hash of what decides the installed packages: `models/pyproject.toml` and the interpreter
/// path. FNV-1a (64 bit) so the value is stable across Rust versions.
fn requirements_hash(root: &Path) -> Result<String> {
    let pyproject = root.join("models").join("pyproject.toml");
    let bytes = fs::read(&pyproject).with_context(|| format!("reading {}", pyproject.display()))?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes
        .iter()
        .chain(venv_python(root).to_string_lossy().as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Ok(format!("{h:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_changes_with_pyproject() {
        let dir = std::env::temp_dir().join(format!("xtask-python-{}", std::process::id()));
        fs::create_dir_all(dir.join("models")).unwrap();
        fs::write(dir.join("models/pyproject.toml"), "a = 1\n").unwrap();
        let a = requirements_hash(&dir).unwrap();
        assert_eq!(a, requirements_hash(&dir).unwrap());
        fs::write(dir.join("models/pyproject.toml"), "a = 2\n").unwrap();
        assert_ne!(a, requirements_hash(&dir).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }
}
