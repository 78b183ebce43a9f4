//! Release builds of the plugin and the CLI contain no path of the checkout they were built
//! from: a missing bundled ONNX Runtime or model set must never fall through to a
//! build-machine path that anyone on that machine could create (`danna_sep_core::paths`).
//!
//! CI builds only debug binaries, which keep the checkout fallbacks on purpose. So this test
//! builds the plugin library and the CLI with the `path-check` profile (release's settings,
//! above all no debug assertions, and stripped, but unoptimised and without LTO: a fraction of
//! a release build's time; unoptimised code keeps every string that optimised code would, so
//! the check is the stricter one) and reads the binaries.

use std::path::{Path, PathBuf};
use std::process::Command;

use danna_sep_testkit::repo_root;

/// What must not occur in a release binary: the checkout (as cargo names it and with symlinks
/// resolved) and the development fallback's folder name.
fn needles() -> Vec<String> {
    let mut needles = vec![
        env!("CARGO_MANIFEST_DIR").to_string(),
        repo_root().display().to_string(),
        ".deps/onnxruntime".to_string(),
    ];
    needles.dedup();
    needles
}

/// Every occurrence of `needle` in `bytes`, with the printable bytes around it.
fn occurrences(bytes: &[u8], needle: &str) -> Vec<String> {
    let needle = needle.as_bytes();
    let printable = |b: &u8| b.is_ascii_graphic() || *b == b' ';
    bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| {
            let start = bytes[..i]
                .iter()
                .rposition(|b| !printable(b))
                .map_or(0, |p| p + 1)
                .max(i.saturating_sub(80));
            let end = bytes[i..]
                .iter()
                .position(|b| !printable(b))
                .map_or(bytes.len(), |p| i + p)
                .min(i + needle.len() + 80);
            String::from_utf8_lossy(&bytes[start..end]).into_owned()
        })
        .collect()
}

/// `target/` of this build (the test binary is `target/<profile>/deps/<test>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf()
}

fn build_path_check(root: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--profile", "path-check"])
        .args([
            "-p",
            "danna-sep",
            "--lib",
            "-p",
            "danna-sep-cli",
            "--bin",
            "danna-sep",
        ])
        .current_dir(root)
        .status()
        .expect("running cargo build --profile path-check");
    assert!(status.success(), "cargo build --profile path-check failed");
}

#[test]
fn release_binaries_contain_no_checkout_path() {
    let root = repo_root();
    build_path_check(&root);
    let dir = target_dir().join("path-check");
    let mut found = Vec::new();
    for name in ["libdanna_sep.so", "danna-sep"] {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for needle in needles() {
            for context in occurrences(&bytes, &needle).into_iter().take(3) {
                found.push(format!("{name}: `{needle}` in \"{context}\""));
            }
        }
    }
    assert!(
        found.is_empty(),
        "release binaries name build-machine paths:\n{}",
        found.join("\n")
    );
}

#[test]
fn occurrences_are_found_with_their_context() {
    let bytes = b"\0\x01abc/work/x/.deps/onnxruntime/lib.so\0tail";
    let hits = occurrences(bytes, ".deps/onnxruntime");
    assert_eq!(hits, ["abc/work/x/.deps/onnxruntime/lib.so"]);
    assert!(occurrences(bytes, "/elsewhere").is_empty());
}
