//! `cargo xtask test`: the project's single test command (what CI runs).
//!
//! Steps, in order:
//! 1. setup (ONNX Runtime into `.deps/`, Python venv);
//! 2. `bundle danna-sep` (debug profile), so the CLAP host test loads the real bundle;
//! 3. `cargo test --workspace` with `DANNA_SEP_ORT_LIB` pointing at the provisioned library;
//! 4. `cargo clippy --workspace --all-targets -- -D warnings`;
//! 5. `cargo fmt --all --check`;
//! 6. the Python tests (`python::run_tests`);
//! 7. with `--windows`, or when `CI` is set: the Windows build under wine (`test_windows.rs`;
//!    installs mingw-w64 and wine only then, so a plain `cargo xtask test` is not slower).
//!
//! Steps 1 and 2 abort on failure since everything after depends on them. Steps 3 to 7 are
//! independent, so all of them run and the command fails at the end if any failed; that way one
//! CI run reports every problem.

use anyhow::{bail, Context, Result};
use std::path::Path;

use crate::{bundle, process, python, setup, test_windows};

/// Entry point for `cargo xtask test [--windows]`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let mut windows = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    for arg in args {
        match arg.as_str() {
            "--windows" => windows = true,
            other => bail!("`cargo xtask test` takes only --windows (got {other})"),
        }
    }
    setup::setup(root, true)?;
    // The Python tests render v2 songs, which need the generator's soundfonts and kits.
    setup::synth_packages(root)?;
    let ort = setup::ort_lib_path(root);

    // Debug profile, decided by measuring on the 2-core dev machine: from cold, the debug build
    // took 242 s CPU (5m23s wall under load) and the release build (thin LTO) 205 s CPU (3m33s
    // wall), so cold CI runs cost about the same; but after a source change the debug build
    // relinks in seconds where release redoes LTO, and the debug plugin keeps debug assertions,
    // so nice-plug's allocation checker is active while tests/clack_host.rs drives it. Neither
    // profile shares artifacts with `cargo test` (the test profile).
    bundle::bundle(root, &["danna-sep".to_string()]).context("bundling failed")?;

    let mut failed: Vec<&str> = Vec::new();
    let mut step = |name: &'static str, result: Result<()>| {
        if let Err(err) = result {
            eprintln!("error: {name}: {err:#}");
            failed.push(name);
        }
    };

    let mut test = process::cargo();
    test.args(["test", "--workspace"])
        .env("DANNA_SEP_ORT_LIB", &ort);
    step("cargo test", process::run(test, root));

    let mut clippy = process::cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    step("cargo clippy", process::run(clippy, root));

    let mut fmt = process::cargo();
    fmt.args(["fmt", "--all", "--check"]);
    step("cargo fmt --check", process::run(fmt, root));

    step("python tests", python::run_tests(root));

    if windows {
        step("windows (wine)", test_windows::run(root));
    }

    if failed.is_empty() {
        println!("All checks passed.");
        Ok(())
    } else {
        bail!("failed: {}", failed.join(", "))
    }
}
