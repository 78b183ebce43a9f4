//! Which built plugin binary the host tests load. Included by the CLAP and VST3 host tests.

use std::path::{Path, PathBuf};

/// The plugin binary to test, in order of preference:
/// 1. the file named by the environment variable `env_var`;
/// 2. `bundled` (relative to the project root, e.g. the `.clap` file or the `.vst3` bundle's
///    module), if it is newer than every input of the build (so a stale bundle from an earlier
///    `cargo xtask bundle` is not tested by mistake);
/// 3. the cdylib `cargo test` built next to this test binary (`target/debug/deps/`), which is
///    always current; a plain cdylib exports both `clap_entry` and the VST3 entry points;
/// 4. `target/debug/libdanna_sep.so`, built with `cargo build --lib` if missing.
pub fn plugin_library(env_var: &str, bundled: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var) {
        return PathBuf::from(path);
    }
    let root = crate::repo_root();
    let root = root.as_path();
    let bundle = root.join(bundled);
    if bundle.is_file() {
        if is_newer_than_sources(&bundle, root) {
            return bundle;
        }
        eprintln!(
            "note: {} is older than the sources; testing the freshly built cdylib instead",
            bundle.display()
        );
    }
    let exe = std::env::current_exe().expect("test executable path");
    if let Some(cdylib) = exe.parent().map(|d| d.join("libdanna_sep.so")) {
        if cdylib.is_file() {
            return cdylib;
        }
    }
    let cdylib = root.join("target/debug/libdanna_sep.so");
    if !cdylib.is_file() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--lib"])
            .current_dir(root)
            .status()
            .expect("running cargo build --lib");
        assert!(status.success(), "cargo build --lib failed");
    }
    cdylib
}

/// Whether `file` was modified after everything the plugin is built from: `src/`, the
/// manifests and lock file, and the vendored dependencies.
pub fn is_newer_than_sources(file: &Path, root: &Path) -> bool {
    fn newest(path: &Path) -> std::time::SystemTime {
        let mut t = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        if path.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                t = t.max(newest(&entry.path()));
            }
        }
        t
    }
    let Ok(built) = std::fs::metadata(file).and_then(|m| m.modified()) else {
        return false;
    };
    let inputs = ["src", "Cargo.toml", "Cargo.lock", "vendor"];
    inputs.iter().all(|p| built >= newest(&root.join(p)))
}
