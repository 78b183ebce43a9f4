//! `cargo xtask bundle danna-sep [--release] --target windows`: the x86_64 Windows bundles,
//! cross-built with mingw-w64 (`cargo xtask setup --windows` provisions it) and laid out in
//! `target/bundled/windows/` as they are installed:
//!
//! ```text
//! VST3/Danna-Sep.vst3/Contents/x86_64-win/Danna-Sep.vst3   the plugin DLL (VST3 bundle layout)
//!                                       .../onnxruntime.dll, onnxruntime_providers_shared.dll
//!                                       .../openvino_c.dll, openvino.dll, ... (CPU subset)
//!                                       .../danna-sep-models/   (models/demo)
//! CLAP/Danna-Sep/Danna-Sep.clap                            the same DLL, with the same files
//! CLI/danna-sep/danna-sep.exe                              the command line, with the same files
//! ```
//!
//! The plugin and the CLI look for ONNX Runtime, OpenVINO and the model set next to their own
//! module (`danna_sep_core::paths::module_dirs`, `GetModuleHandleExW` on Windows), so each
//! folder is self-contained ([`runtime_dlls`]). nice-plug-xtask is not used here: it writes to `target/bundled/` itself,
//! where the Windows `.clap` would replace the Linux one the Linux tests load.
//!
//! A release bundle contains no path of this checkout (the Windows test stage reads the
//! binaries, as `tests/build_paths.rs` does for Linux).

use anyhow::{ensure, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

use crate::{bundle, process, setup, windows};

/// The argument values of `--target` that select this build.
pub const TARGET_NAMES: [&str; 2] = ["windows", windows::TARGET];

/// Where the bundles of one build went.
pub struct WindowsBundles {
    /// `target/bundled/windows`.
    pub dir: PathBuf,
    /// The `.vst3` module inside its bundle.
    pub vst3: PathBuf,
    /// The `.clap` file.
    pub clap: PathBuf,
    /// `danna-sep.exe`.
    pub cli: PathBuf,
}

/// Builds the plugin DLL and the CLI for [`windows::TARGET`] (release profile if `release`,
/// else the dev profile) and writes the bundles.
pub fn bundle(root: &Path, release: bool) -> Result<WindowsBundles> {
    windows::setup(root, false)?;
    let mut build = process::cargo();
    build.args(["build", "--target", windows::TARGET]).args([
        "-p",
        "danna-sep",
        "--lib",
        "-p",
        "danna-sep-cli",
        "--bin",
        "danna-sep",
    ]);
    if release {
        build.arg("--release");
    }
    process::run(build, root).context("cross-building for Windows failed")?;

    let built = bundle::target_dir(root)
        .join(windows::TARGET)
        .join(if release { "release" } else { "debug" });
    let dll = built.join("danna_sep.dll");
    let exe = built.join("danna-sep.exe");
    ensure!(
        windows::is_pe(&dll) && windows::is_pe(&exe),
        "the build left no Windows DLL and EXE in {}",
        built.display()
    );
    let name = bundle::bundle_name(root, "danna-sep")?;
    let dir = bundle::target_dir(root).join("bundled/windows");
    let out = WindowsBundles {
        vst3: dir
            .join("VST3")
            .join(format!("{name}.vst3/Contents/x86_64-win/{name}.vst3")),
        clap: dir.join("CLAP").join(&name).join(format!("{name}.clap")),
        cli: dir.join("CLI/danna-sep/danna-sep.exe"),
        dir,
    };
    for (binary, dest) in [(&dll, &out.vst3), (&dll, &out.clap), (&exe, &out.cli)] {
        let folder = dest.parent().expect("bundle files lie in a folder");
        fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        setup::atomic_copy(binary, dest)?;
        install_runtime(root, folder)?;
        bundle::install_models(root, folder)?;
    }
    eprintln!("Windows bundles in '{}'", out.dir.display());
    Ok(out)
}

/// The DLLs shipped next to each binary, with the folder each comes from: ONNX Runtime's
/// ([`windows::ORT_DLLS`]) and OpenVINO's CPU subset ([`crate::openvino::WINDOWS_DLLS`]).
pub fn runtime_dlls(root: &Path) -> Vec<PathBuf> {
    let ort = windows::ort_dir(root);
    let ov = crate::openvino::windows_dir(root);
    let ort = windows::ORT_DLLS.iter().map(|dll| ort.join(dll));
    ort.chain(crate::openvino::WINDOWS_DLLS.iter().map(|dll| ov.join(dll)))
        .collect()
}

/// Copies [`runtime_dlls`] into `folder`.
fn install_runtime(root: &Path, folder: &Path) -> Result<()> {
    for dll in runtime_dlls(root) {
        let name = dll.file_name().expect("a DLL path ends in its name");
        setup::atomic_copy(&dll, &folder.join(name))?;
    }
    Ok(())
}

/// Whether `args` (what follows `bundle`) ask for the Windows build: `--target windows` or
/// `--target=x86_64-pc-windows-gnu` and the like. Returns the arguments without the target.
pub fn wants_windows(args: &[String]) -> Option<Vec<String>> {
    let mut rest = Vec::new();
    let mut found = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let value = if arg == "--target" {
            iter.next().map(String::as_str)
        } else {
            arg.strip_prefix("--target=")
        };
        match value {
            Some(v) if TARGET_NAMES.contains(&v) => found = true,
            _ if arg == "--target" => {
                rest.push(arg.clone());
                rest.extend(value.map(str::to_string));
            }
            _ => rest.push(arg.clone()),
        }
    }
    found.then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_bundle_folder_gets_both_runtimes_dlls() {
        let root = Path::new("/checkout");
        let dlls = runtime_dlls(root);
        let names: Vec<&str> = dlls
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "onnxruntime.dll",
                "onnxruntime_providers_shared.dll",
                "openvino_c.dll",
                "openvino.dll",
                "openvino_intel_cpu_plugin.dll",
                "openvino_onnx_frontend.dll",
                "tbb12.dll",
                "tbbbind_2_5.dll",
            ]
        );
        assert!(dlls[0].starts_with("/checkout/.deps/windows/onnxruntime"));
        assert!(dlls[2..]
            .iter()
            .all(|p| p.starts_with("/checkout/.deps/windows/openvino")));
    }

    #[test]
    fn the_windows_target_is_recognised_in_both_spellings() {
        let want = Some(strings(&["danna-sep", "--release"]));
        for args in [
            &["danna-sep", "--release", "--target", "windows"][..],
            &["danna-sep", "--target=windows", "--release"],
            &[
                "danna-sep",
                "--release",
                "--target",
                "x86_64-pc-windows-gnu",
            ],
        ] {
            assert_eq!(wants_windows(&strings(args)), want, "{args:?}");
        }
        assert_eq!(wants_windows(&strings(&["danna-sep", "--release"])), None);
        assert_eq!(
            wants_windows(&strings(&[
                "danna-sep",
                "--target",
                "aarch64-unknown-linux-gnu"
            ])),
            None
        );
    }
}
