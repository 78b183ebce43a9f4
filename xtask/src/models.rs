//! `cargo xtask models ...`: the model toolchain, implemented in Python (`models/`) and run in
//! the project's venv as `.venv/bin/python -m danna_sep_models.cli ...`.
//!
//! Subcommands (arguments are passed through unchanged; relative paths are relative to the
//! directory `cargo xtask` was started from):
//! - `export --out DIR [--config small|full|tiny] [--models xumx,unet,demucs]
//!   [--xumx F] [--unet F] [--demucs F] [--seed N]`: export our definitions (random init or
//!   checkpoints) to an ONNX model set with `manifest.toml`, checking ONNX Runtime against
//!   PyTorch on several lengths;
//! - `import-danna DIR --out DIR`: convert the official Danna-Sep files (`xumx.onnx`,
//!   `unet_attention.pth`, `demucs_4_decoders.pth`) or training checkpoints;
//! - `check DIR`: validate a model-set folder;
//! - `reference --model-set DIR [--mode full|fast] [--outdir D] FILE.wav...`: the original
//!   inference recipe through ONNX Runtime (golden outputs).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{process, python};

const USAGE: &str = "\
Usage: cargo xtask models <command> [args]

Commands:
  export --out DIR [--config small|full|tiny] [--models xumx,unet,demucs]
         [--xumx FILE] [--unet FILE] [--demucs FILE] [--seed N]
                          export ONNX model set (+ manifest.toml), ORT-vs-PyTorch checked
  import-danna DIR --out DIR [--xumx F] [--unet F] [--demucs F]
                          convert the official Danna-Sep files or training checkpoints
  check DIR               validate a model-set folder (manifest + ONNX files)
  reference --model-set DIR [--mode full|fast] [--outdir D] FILE.wav...
                          separate with the original recipe (golden reference)

Each command accepts --help for details.";

/// Entry point for `cargo xtask models <args>`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let Some(command) = args.first() else {
        println!("{USAGE}");
        return Ok(());
    };
    match command.as_str() {
        "export" | "import-danna" | "check" | "reference" => {}
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            return Ok(());
        }
        "train" | "eval" => bail!("`models {command}` is not available yet"),
        other => bail!("unknown `models` command `{other}`\n\n{USAGE}"),
    }
    python::setup_venv(root)?;
    let mut cmd = Command::new(python::venv_python(root));
    cmd.args(["-m", "danna_sep_models.cli"]).args(args);
    let cwd = std::env::current_dir().context("reading the current directory")?;
    process::run(cmd, &cwd)
}
