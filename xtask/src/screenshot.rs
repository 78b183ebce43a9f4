//! `cargo xtask screenshot`: the editor without a DAW.
//!
//! Builds the plugin's standalone application (`--features standalone`), starts it with
//! nice-plug's dummy audio backend (no audio device needed) on a private Xvfb display, waits
//! for its window, grabs it to `docs/screenshot.png`, and stops both processes.
//!
//! Nothing is installed here. Needed on Debian: `xvfb` (the X server), `imagemagick`
//! (`import` grabs the window), `xdotool` (finds the window; without it the whole screen is
//! grabbed after a fixed wait), and to build the standalone `libasound2-dev libjack-jackd2-dev`
//! plus the X11/GL headers that `.ci/run` installs.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process;

/// Debian packages the screenshot needs, for the error message.
const PACKAGES: &str =
    "apt-get install -y xvfb imagemagick xdotool libasound2-dev libjack-jackd2-dev";

/// Window title the standalone's editor uses (matched as a substring).
const WINDOW_NAME: &str = "Danna-Sep";

/// Where the PNG goes, relative to the workspace root.
const OUTPUT: &str = "docs/screenshot.png";

/// Time the engine gets to start (load a runtime, compile the models, report Ready) before the
/// grab, so the status bar shows a running plugin.
const SETTLE: Duration = Duration::from_secs(8);

/// Kills and reaps a child process when dropped, so an error never leaves Xvfb running.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Entry point for `cargo xtask screenshot`.
pub fn run(root: &Path) -> Result<()> {
    for tool in ["Xvfb", "import"] {
        if which(tool).is_none() {
            bail!(
                "`{tool}` not found; the screenshot needs an X server and ImageMagick: {PACKAGES}"
            );
        }
    }
    let xdotool = which("xdotool").is_some();
    if !xdotool {
        eprintln!("warning: `xdotool` not found; grabbing the whole screen after a fixed wait");
    }

    let mut build = process::cargo();
    build.args([
        "build",
        "--features",
        "standalone",
        "--bin",
        "danna-sep-standalone",
    ]);
    process::run(build, root).with_context(|| {
        format!("building the standalone failed (it needs ALSA and JACK headers: {PACKAGES})")
    })?;
    let exe = target_dir(root).join("debug").join("danna-sep-standalone");

    let (xvfb, display) = start_xvfb()?;
    eprintln!("Xvfb on {display}");
    let app = Command::new(&exe)
        .args(["--backend", "dummy"])
        .env("DISPLAY", &display)
        // No GPU under Xvfb: Mesa's software renderer draws the OpenGL window.
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .current_dir(root)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("could not start {}", exe.display()))?;
    let mut app = Guard(app);

    let window = if xdotool {
        Some(wait_for_window(&display, &mut app.0)?)
    } else {
        std::thread::sleep(Duration::from_secs(10));
        None
    };
    if xdotool {
        // Xvfb starts the pointer mid-screen, where it would hover a control and open a
        // tooltip: park it in the corner, outside the window.
        let _ = Command::new("xdotool")
            .args(["mousemove", "1279", "799"])
            .env("DISPLAY", &display)
            .status();
    }
    std::thread::sleep(SETTLE);
    if let Some(status) = app.0.try_wait()? {
        bail!("the standalone exited early ({status})");
    }

    let out = root.join(OUTPUT);
    std::fs::create_dir_all(out.parent().expect("OUTPUT has a folder"))?;
    let mut grab = Command::new("import");
    grab.env("DISPLAY", &display)
        .arg("-window")
        .arg(window.as_deref().unwrap_or("root"))
        .arg(&out);
    process::run(grab, root)?;
    drop(app);
    drop(xvfb);
    eprintln!("Wrote {}", out.display());
    Ok(())
}

/// Starts Xvfb on a display it picks itself (`-displayfd`), so concurrent runs and existing X
/// servers never collide. Returns the server and `:N`.
fn start_xvfb() -> Result<(Guard, String)> {
    let child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
            "+extension",
            "GLX",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("could not start Xvfb")?;
    let mut guard = Guard(child);
    let stdout = guard.0.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("reading the display number from Xvfb")?;
    let n: u32 = line
        .trim()
        .parse()
        .with_context(|| format!("Xvfb did not report a display number (got {line:?})"))?;
    Ok((guard, format!(":{n}")))
}

/// Polls until a visible window named [`WINDOW_NAME`] exists; returns its id.
fn wait_for_window(display: &str, app: &mut Child) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = app.try_wait()? {
            bail!("the standalone exited before opening its window ({status})");
        }
        let out = Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", WINDOW_NAME])
            .env("DISPLAY", display)
            .stderr(Stdio::null())
            .output()
            .context("running xdotool")?;
        if let Some(id) = String::from_utf8_lossy(&out.stdout).lines().next() {
            return Ok(id.trim().to_string());
        }
        if Instant::now() > deadline {
            bail!("no window named '{WINDOW_NAME}' appeared within 60 s");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The first `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `<root>/target`).
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
