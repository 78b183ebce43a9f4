//! The project's Python venv (`.venv`, made by `cargo xtask setup`) for tests that compare with
//! the Python reference pipeline, and the raw little-endian files they exchange.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `.venv/bin/python`, or `None` after printing a loud SKIPPED banner for `test`. With the
/// environment variable `CI` set a missing venv fails the test instead.
pub fn python_or_skip(test: &str) -> Option<PathBuf> {
    let python = crate::repo_root().join(".venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {} is missing: run `cargo xtask setup` first",
        python.display()
    );
    eprintln!(
        "\n########################################################################\n\
         # SKIPPED {test}: {} not found (run `cargo xtask setup`).\n\
         # The comparison against the Python reference did NOT run.\n\
         ########################################################################\n",
        python.display()
    );
    None
}

/// Runs `script` with `args` in the venv; panics with its output when it fails.
pub fn run_script(python: &Path, dir: &Path, script: &str, args: &[&str]) {
    let file = dir.join("fixture.py");
    std::fs::write(&file, script).unwrap();
    let out = Command::new(python)
        .arg(&file)
        .args(args)
        .env("OMP_NUM_THREADS", "1")
        .current_dir(crate::repo_root())
        .output()
        .expect("running the venv's python");
    assert!(
        out.status.success(),
        "{} failed:\n{}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A raw little-endian f32 file.
pub fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Signal-to-noise ratio of `estimate` against `reference` in dB (∞ when equal).
pub fn snr_db(reference: &[f32], estimate: &[f32]) -> f64 {
    assert_eq!(reference.len(), estimate.len());
    let (mut s, mut n) = (0.0f64, 0.0f64);
    for (&r, &e) in reference.iter().zip(estimate) {
        s += (r as f64).powi(2);
        n += (r as f64 - e as f64).powi(2);
    }
    10.0 * (s / n).log10()
}
