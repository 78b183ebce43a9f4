//! The failure paths of `danna_sep_core::runtime::ensure_loaded`: a missing file, a garbage
//! file and a real shared library that is not ONNX Runtime must give a clear one-line error
//! (repeated on every call), never a crash.
//!
//! `ort` loads its library once per process, so each case runs in a fresh child process: the
//! test binary re-invokes itself, running only the ignored `probe` test with the environment
//! prepared. `DANNA_SEP_ORT_NO_FALLBACK=1` keeps the search from falling through to the real
//! library.

use std::path::{Path, PathBuf};
use std::process::Command;

use danna_sep_core::config::{Config, ENV_ORT_LIB, ENV_ORT_NO_FALLBACK};
use danna_sep_core::runtime;
use danna_sep_testkit::TempDir;

/// Set in the child so `probe` knows it was started by `run_probe`.
const PROBE_ENV: &str = "DANNA_SEP_ORT_PROBE";

/// Runs in the child process only: calls `ensure_loaded` twice and prints both outcomes.
#[test]
#[ignore = "helper run in a child process by the other tests"]
fn probe() {
    if std::env::var_os(PROBE_ENV).is_none() {
        return;
    }
    let config = Config::from_env().runtime;
    let first = runtime::ensure_loaded(&config).map(|r| r.version.clone());
    let second = runtime::ensure_loaded(&config).map(|r| r.version.clone());
    match (first, second) {
        (Err(a), Err(b)) => {
            println!("PROBE-ERR1: {a}");
            println!("PROBE-ERR2: {b}");
        }
        (Ok(v), _) => println!("PROBE-OK: {v}"),
        (Err(a), Ok(v)) => println!("PROBE-INCONSISTENT: {a} then {v}"),
    }
}

/// Runs `probe` in a child with `DANNA_SEP_ORT_LIB=lib` and returns the first error line.
fn run_probe(lib: &Path) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "probe",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, "1")
        .env(ENV_ORT_LIB, lib)
        .env(ENV_ORT_NO_FALLBACK, "1")
        .output()
        .expect("re-running the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "child crashed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let line = |prefix: &str| {
        stdout
            .lines()
            // The harness prints `test probe ... ` on the same line as the first output.
            .find_map(|l| l.find(prefix).map(|i| l[i + prefix.len()..].to_string()))
    };
    let err1 = line("PROBE-ERR1: ")
        .unwrap_or_else(|| panic!("expected an error, child said:\n{stdout}\n{stderr}"));
    let err2 = line("PROBE-ERR2: ").expect("second call must return an error too");
    assert_eq!(err1, err2, "the error must be cached and repeated");
    err1
}

#[test]
fn missing_file_is_a_clear_error() {
    let dir = TempDir::new("ort-missing");
    let lib = dir.join("does-not-exist.so");
    let err = run_probe(&lib);
    assert!(
        err.contains(&format!("{} (not found)", lib.display())),
        "{err}"
    );
    assert!(err.contains(ENV_ORT_LIB), "{err}");
}

#[test]
fn garbage_file_is_a_clear_error() {
    let dir = TempDir::new("ort-garbage");
    let lib = dir.join("garbage.so");
    std::fs::write(&lib, b"this is not a shared library\n\x00\x01\x02").unwrap();
    let err = run_probe(&lib);
    assert!(err.contains(&lib.display().to_string()), "{err}");
    assert!(!err.contains("not found"), "{err}");
    assert!(err.contains("ELF") || err.contains("too short"), "{err}");
}

#[test]
fn library_without_ort_api_is_a_clear_error() {
    // Any real shared library that is not ONNX Runtime will do; libm is always there.
    let Some(libm) = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file()) else {
        eprintln!("SKIPPED: no libm.so.6 at the usual Debian paths");
        return;
    };
    let err = run_probe(&libm);
    assert!(err.contains("OrtGetApiBase"), "{err}");
}
