//! Small helpers for running child processes with readable errors.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// The `cargo` that runs this xtask (so toolchain overrides carry over), or `cargo` from `PATH`.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `cmd` in `dir`, echoing it first, and fails unless it exits successfully.
pub fn run(mut cmd: Command, dir: &Path) -> Result<()> {
    cmd.current_dir(dir);
    let shown = describe(&cmd);
    eprintln!("+ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// A shell-like rendering of a command for logs and error messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
