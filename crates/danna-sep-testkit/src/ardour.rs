//! Drives Ardour 7 headless (Debian's `ardour` package) for `tests/ardour.rs`: scans the VST3
//! bundle with Ardour's scanner, builds a session with `ardour7-lua` and the scripts in
//! `tests/ardour/`, and exports it with `ardour7-export`.
//!
//! Every run gets its own `HOME`, so Ardour's configuration, plugin cache and script folder
//! are the test's alone; the bundle is found through `VST3_PATH`, which Ardour reads on a
//! first start.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;

/// Where Debian installs Ardour 7's libraries and helper binaries.
pub const ARDOUR_LIB_DIR: &str = "/usr/lib/ardour7";

/// Overrides which VST3 bundle (the `.vst3` folder) the Ardour test loads.
pub const ENV_VST3_BUNDLE: &str = "DANNA_SEP_VST3_BUNDLE";

/// How long one Ardour command may run before the test kills it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// How often an export whose process crashed is retried (Ardour 7.3 sometimes crashes while
/// it shuts down after an export, "double free or corruption").
pub const EXPORT_ATTEMPTS: usize = 3;

/// Ardour's tools, or why they are not there.
pub struct Ardour {
    lua: PathBuf,
    export: PathBuf,
    scanner: PathBuf,
}

impl Ardour {
    /// Finds `ardour7-lua`, `ardour7-export` and `ardour-vst3-scanner`; the error names the
    /// first one missing.
    pub fn find() -> Result<Ardour, String> {
        let which = |name: &str| -> Result<PathBuf, String> {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
                .ok_or_else(|| format!("{name} not found on PATH (Debian package `ardour`)"))
        };
        let scanner = Path::new(ARDOUR_LIB_DIR).join("ardour-vst3-scanner");
        if !scanner.is_file() {
            return Err(format!("{} not found", scanner.display()));
        }
        Ok(Ardour {
            lua: which("ardour7-lua")?,
            export: which("ardour7-export")?,
            scanner,
        })
    }
}

/// The session the Lua script built.
pub struct Session {
    /// The session folder.
    pub dir: PathBuf,
    /// The session (and snapshot) name.
    pub name: String,
    /// The plugin's latency in samples as Ardour reads it, if a plugin was inserted.
    pub latency: Option<u32>,
    /// The test signal's source files, one mono file per channel.
    pub signal: Vec<PathBuf>,
}

/// One isolated Ardour environment: a private `HOME` with the test signal generator on the
/// script path, and the VST3 bundle scanned.
pub struct Sandbox {
    ardour: Ardour,
    home: TempDir,
    vst3_path: Option<PathBuf>,
}

impl Sandbox {
    /// A fresh `HOME` (`label` names its folder) with `tests/ardour/test_signal.lua` installed
    /// as a user script; `bundle` (a `.vst3` folder), if given, is scanned and put on
    /// `VST3_PATH`.
    pub fn new(ardour: Ardour, label: &str, bundle: Option<&Path>) -> Sandbox {
        let home = TempDir::new(label);
        let scripts = home.join(".config/ardour7/scripts");
        std::fs::create_dir_all(&scripts).unwrap();
        std::fs::copy(
            scripts_dir().join("test_signal.lua"),
            scripts.join("test_signal.lua"),
        )
        .expect("installing test_signal.lua");
        let sandbox = Sandbox {
            ardour,
            vst3_path: bundle.map(|b| b.parent().expect("bundle has a parent").to_path_buf()),
            home,
        };
        if let Some(bundle) = bundle {
            let mut scan = sandbox.command(&sandbox.ardour.scanner);
            scan.env("LD_LIBRARY_PATH", ARDOUR_LIB_DIR).arg(bundle);
            let (status, output) = run(scan);
            assert!(
                status.success() && output.contains("Found Plugin"),
                "ardour-vst3-scanner {}: {status}\n{output}",
                bundle.display()
            );
        }
        sandbox
    }

    /// A command with this sandbox's environment.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("HOME", self.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_DATA_HOME");
        if let Some(path) = &self.vst3_path {
            cmd.env("VST3_PATH", path);
        }
        cmd
    }

    /// Builds session `name` (in this sandbox) with `tests/ardour/build_session.lua`: a stereo
    /// track with `seconds` of the test signal at `rate`, and `plugin` (a VST3 name, or none)
    /// inserted with `params` (`"Name=value;..."`, Ardour's plain parameter values).
    pub fn build_session(
        &self,
        name: &str,
        rate: u32,
        seconds: f64,
        plugin: Option<&str>,
        params: &str,
    ) -> Session {
        let dir = self.home.join(name);
        let mut cmd = self.command(&self.ardour.lua);
        cmd.arg(scripts_dir().join("build_session.lua"))
            .env("DS_SESSION_DIR", &dir)
            .env("DS_SESSION_NAME", name)
            .env("DS_RATE", rate.to_string())
            .env("DS_SECONDS", seconds.to_string())
            .env("DS_PLUGIN", plugin.unwrap_or(""))
            .env("DS_PARAMS", params);
        let (status, output) = run(cmd);
        assert!(
            status.success(),
            "ardour7-lua build_session.lua: {status}\n{output}"
        );
        let mut latency = None;
        let mut signal = Vec::new();
        for line in output.lines() {
            if let Some(v) = line.strip_prefix("LATENCY ") {
                latency = Some(v.trim().parse().expect("LATENCY is a number"));
            } else if let Some(p) = line.strip_prefix("SIGNAL ") {
                signal.push(PathBuf::from(p.trim()));
            }
        }
        assert_eq!(signal.len(), 2, "two signal channels expected:\n{output}");
        assert_eq!(
            plugin.is_some(),
            latency.is_some(),
            "LATENCY line:\n{output}"
        );
        Session {
            dir,
            name: name.to_string(),
            latency,
            signal,
        }
    }

    /// Exports the session range of `session` through the master bus as 32-bit float WAV to
    /// `out`. An export whose process was killed by a signal is retried, up to
    /// [`EXPORT_ATTEMPTS`] in all; any other failure fails at once. Returns the attempts made.
    pub fn export(&self, session: &Session, out: &Path) -> usize {
        for attempt in 1..=EXPORT_ATTEMPTS {
            let _ = std::fs::remove_file(out);
            let mut cmd = self.command(&self.ardour.export);
            cmd.args(["-b", "float", "-o"])
                .arg(out)
                .arg(&session.dir)
                .arg(&session.name);
            let (status, output) = run(cmd);
            if status.success() {
                return attempt;
            }
            let crashed = std::os::unix::process::ExitStatusExt::signal(&status).is_some()
                // The `ardour7-export` wrapper script execs the tool, but a shell in between
                // reports a signal as 128 + n.
                || status.code().is_some_and(|c| c > 128);
            assert!(crashed, "ardour7-export failed: {status}\n{output}");
            eprintln!("ardour7-export crashed ({status}), attempt {attempt} of {EXPORT_ATTEMPTS}");
        }
        panic!("ardour7-export crashed {EXPORT_ATTEMPTS} times");
    }
}

/// `tests/ardour/`, where the Lua scripts live.
pub fn scripts_dir() -> PathBuf {
    crate::repo_root().join("tests/ardour")
}

/// The VST3 bundle to load: [`ENV_VST3_BUNDLE`], else `target/bundled/Danna-Sep.vst3` if it is
/// newer than the plugin's sources (`cargo xtask bundle danna-sep` makes it; Ardour needs the
/// bundle, with ONNX Runtime and the models inside, not the bare cdylib). The error says why
/// there is none.
pub fn vst3_bundle() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(ENV_VST3_BUNDLE) {
        return Ok(PathBuf::from(path));
    }
    let root = crate::repo_root();
    let module = root.join(crate::vst3_host::BUNDLE_MODULE);
    if !module.is_file() {
        return Err(format!(
            "{} is missing (run `cargo xtask bundle danna-sep`)",
            module.display()
        ));
    }
    if !crate::plugin_binary::is_newer_than_sources(&module, &root) {
        return Err(format!(
            "{} is older than the sources (run `cargo xtask bundle danna-sep`)",
            module.display()
        ));
    }
    Ok(root.join("target/bundled/Danna-Sep.vst3"))
}

/// Runs `cmd` to completion (killed after [`COMMAND_TIMEOUT`]) and returns its status and its
/// stdout and stderr together.
fn run(mut cmd: Command) -> (ExitStatus, String) {
    let out = tempfile_path("out");
    let file = std::fs::File::create(&out).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} ran longer than {COMMAND_TIMEOUT:?}");
        }
        // A watchdog poll, not a timing assumption: the command's own duration decides.
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = String::from_utf8_lossy(&std::fs::read(&out).unwrap()).into_owned();
    let _ = std::fs::remove_file(&out);
    (status, output)
}

/// A unique file name in the temporary folder for a command's output.
fn tempfile_path(label: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "danna-sep-ardour-{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}
