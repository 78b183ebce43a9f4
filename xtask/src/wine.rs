//! Running the Windows build under wine (Debian's wine 8.0), for tests only.
//!
//! [`Prefix::create`] makes a fresh `WINEPREFIX` and fills the one gap wine 8.0 has for Rust
//! programs: Rust's std imports `ProcessPrng` from `bcryptprimitives.dll`, which wine 8.0 lacks,
//! so every Rust `.exe` would exit with status 53 before `main`. A stand-in DLL built here from
//! `xtask/wine/bcryptprimitives.c` with mingw-w64 (it forwards to wine's `BCryptGenRandom`) goes
//! into the prefix's `system32`. It is test scaffolding: it never goes into a bundle (a real
//! Windows has the function).

use anyhow::{ensure, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process;

/// A wine prefix made for one test run.
pub struct Prefix {
    /// The `WINEPREFIX` folder.
    pub dir: PathBuf,
}

impl Prefix {
    /// Deletes `dir` if it exists, creates a new prefix there (`wineboot --init`) and installs
    /// the stand-in `bcryptprimitives.dll`.
    pub fn create(root: &Path, dir: &Path) -> Result<Prefix> {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let prefix = Prefix {
            dir: dir.to_path_buf(),
        };
        let mut boot = Command::new("wineboot");
        boot.arg("--init");
        prefix.env(&mut boot);
        process::run(boot, root).context("creating the wine prefix failed")?;
        prefix.wait(root)?;

        let system32 = dir.join("drive_c/windows/system32");
        ensure!(system32.is_dir(), "wineboot made no {}", system32.display());
        let mut cc = Command::new("x86_64-w64-mingw32-gcc");
        cc.args(["-shared", "-O2", "-s", "-o"])
            .arg(system32.join("bcryptprimitives.dll"))
            .arg(root.join("xtask/wine/bcryptprimitives.c"))
            .arg("-lbcrypt");
        process::run(cc, root).context("building the stand-in bcryptprimitives.dll failed")?;
        Ok(prefix)
    }

    /// `wine <program>` in this prefix, with wine's own logging off (so a program's stderr is
    /// its own) and no `DANNA_SEP_*` variable inherited from the caller.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new("wine");
        cmd.arg(program);
        self.env(&mut cmd);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DANNA_SEP_") {
                cmd.env_remove(key);
            }
        }
        cmd
    }

    /// `cargo test --target x86_64-pc-windows-gnu <args>` with wine in this prefix as the
    /// runner of the test executables (`CARGO_TARGET_<triple>_RUNNER`), no `DANNA_SEP_*`
    /// variable inherited.
    pub fn cargo_test(&self, args: &[&str]) -> Command {
        let mut cmd = crate::process::cargo();
        cmd.args(["test", "--target", crate::windows::TARGET])
            .args(args);
        self.env(&mut cmd);
        cmd.env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER", "wine");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DANNA_SEP_") {
                cmd.env_remove(key);
            }
        }
        cmd
    }

    /// Runs a [`Prefix::cargo_test`] command, showing its output, and fails unless every test
    /// binary it started ended with `test result: ok.`. The exit status alone is not enough:
    /// a test binary that crashes under wine (an unhandled page fault handed to `winedbg`) can
    /// leave cargo with status 0 and no result line.
    pub fn run_tests(&self, cmd: Command, root: &Path) -> Result<()> {
        let mut cmd = cmd;
        cmd.current_dir(root);
        let shown = process::describe(&cmd);
        eprintln!("+ {shown}");
        let out = cmd
            .output()
            .with_context(|| format!("could not start `{shown}`"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        print!("{stdout}");
        eprint!("{stderr}");
        ensure!(out.status.success(), "`{shown}` failed ({})", out.status);
        check_test_output(&stdout, &stderr).with_context(|| format!("`{shown}`"))
    }

    /// Waits until the prefix's wine server has exited (every program and service of it).
    pub fn wait(&self, root: &Path) -> Result<()> {
        let mut wait = Command::new("wineserver");
        wait.arg("-w");
        self.env(&mut wait);
        process::run(wait, root)
    }

    /// Stops the prefix's wine server (and any program still running in it).
    pub fn kill(&self) {
        let mut kill = Command::new("wineserver");
        kill.arg("-k");
        self.env(&mut kill);
        let _ = kill.status();
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("WINEPREFIX", &self.dir)
            .env("WINEDEBUG", "-all")
            // No Mono or Gecko installer prompt while the prefix is made; nothing here needs them.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY");
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `path` (absolute) as a Windows program under wine sees it: wine maps the Unix root to drive
/// `Z:`.
pub fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// `Ok` when the test binaries cargo started (its `Running` lines on stderr) each printed
/// `test result: ok.` and none of the output reports a failed test or a crash.
pub fn check_test_output(stdout: &str, stderr: &str) -> Result<()> {
    let started = stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("Running "))
        .count();
    let passed = stdout
        .lines()
        .filter(|l| l.starts_with("test result: ok."))
        .count();
    let crashed = [stdout, stderr]
        .iter()
        .any(|text| text.contains("Unhandled exception") || text.contains("Unhandled page fault"));
    ensure!(!crashed, "a test binary crashed under wine");
    ensure!(
        !stdout.lines().any(|l| l.ends_with("FAILED")),
        "a test failed"
    );
    ensure!(
        started > 0 && passed == started,
        "{passed} of the {started} test binaries started reported `test result: ok.`"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_paths_are_on_drive_z() {
        assert_eq!(
            windows_path(Path::new("/work/x/Danna-Sep.clap")),
            r"Z:\work\x\Danna-Sep.clap"
        );
    }

    const RUNNING: &str = "     Running tests/clack_host.rs (target/x.exe)\n";

    #[test]
    fn a_clean_run_passes() {
        let out = "running 2 tests\ntest a ... ok\ntest b ... ok\n\ntest result: ok. 2 passed; 0 failed\n";
        assert!(check_test_output(out, RUNNING).is_ok());
    }

    #[test]
    fn a_crash_without_a_result_line_fails_although_the_status_was_zero() {
        let out = "running 2 tests\ntest a ... ok\ntest b ... ";
        let err = "wine: Unhandled page fault on execute access to 00000001808CB7D5\n";
        assert!(check_test_output(out, &format!("{RUNNING}{err}")).is_err());
        assert!(check_test_output(out, RUNNING).is_err(), "no result line");
    }

    #[test]
    fn a_failed_test_fails() {
        let out = "test a ... FAILED\ntest result: ok. 1 passed\n";
        assert!(check_test_output(out, RUNNING).is_err());
    }
}
