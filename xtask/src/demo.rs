//! `cargo xtask demo [--no-python]`: builds the release bundles and separates the demo file
//! with the CLI, writing the stems to `out/demo/`.

use anyhow::{bail, Result};
use std::path::Path;

use crate::{bundle, process, setup};

/// Entry point for `cargo xtask demo`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let mut with_python = true;
    for arg in args {
        match arg.as_str() {
            "--no-python" => with_python = false,
            other => bail!("unknown argument to `demo`: {other} (expected --no-python)"),
        }
    }
    setup::setup(root, with_python)?;
    bundle::bundle(root, &["danna-sep".to_string(), "--release".to_string()])?;

    let mut separate = process::cargo();
    separate.args([
        "run",
        "--release",
        "--bin",
        "danna-sep",
        "--",
        "separate",
        "examples/demo.wav",
        "-o",
        "out/demo",
    ]);
    process::run(separate, root)?;
    println!("Stems written to {}", root.join("out/demo").display());
    Ok(())
}
