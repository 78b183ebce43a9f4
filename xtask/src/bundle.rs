//! `cargo xtask bundle <package> [cargo build args]`: builds the plugin bundles with
//! `nice-plug-xtask` and ships ONNX Runtime and OpenVINO inside them.
//!
//! `nice-plug-xtask` writes `target/bundled/<Name>.vst3/Contents/<arch>-linux/<Name>.so` and
//! `target/bundled/<Name>.clap` (a plain file on Linux), with `<Name>` from `bundler.toml`. The
//! plugin looks for `libonnxruntime.so` next to its own `.so` (see
//! `crates/danna-sep-core/src/runtime.rs`), and for OpenVINO's `libopenvino_c.so.2641` there
//! too (`openvino_runtime.rs`), so the libraries are copied into the VST3 architecture
//! folder and next to the `.clap` file, and so is the shipped model set (`models/demo` as
//! `danna-sep-models/`, see `crates/danna-sep-core/src/modelset/locate.rs`). A release build
//! looks nowhere else: it contains no path of this checkout (`tests/build_paths.rs`).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use crate::{bundle_windows, setup};

/// Entry point for `cargo xtask bundle ...`; `--target windows` goes to `bundle_windows.rs`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let Some(rest) = bundle_windows::wants_windows(args) else {
        return bundle(root, args);
    };
    let mut release = false;
    for arg in &rest {
        match arg.as_str() {
            "danna-sep" => {}
            "--release" => release = true,
            other => bail!(
                "`bundle --target windows` takes `danna-sep` and `--release` only (got {other})"
            ),
        }
    }
    bundle_windows::bundle(root, release).map(|_| ())
}

/// Builds and bundles, then copies ONNX Runtime into the bundles. `args` are what follows
/// `bundle` on the command line, e.g. `["danna-sep", "--release"]`.
pub fn bundle(root: &Path, args: &[String]) -> Result<()> {
    let forwarded = std::iter::once("bundle".to_string()).chain(args.iter().cloned());
    nice_plug_xtask::main_with_args("cargo xtask", forwarded)?;

    let ort = setup::ensure_ort(root)?;
    let openvino = crate::openvino::ensure(root)?;
    let bundled = target_dir(root).join("bundled");
    for package in packages(args) {
        let name = bundle_name(root, &package)?;
        let mut copied = false;
        let vst3_dir = bundled
            .join(format!("{name}.vst3"))
            .join("Contents")
            .join(vst3_arch_dir());
        if vst3_dir.is_dir() {
            install(&ort, &vst3_dir)?;
            install_openvino(&openvino, &vst3_dir)?;
            install_models(root, &vst3_dir)?;
            copied = true;
        }
        if bundled.join(format!("{name}.clap")).is_file() {
            install(&ort, &bundled)?;
            install_openvino(&openvino, &bundled)?;
            install_models(root, &bundled)?;
            copied = true;
        }
        if !copied {
            eprintln!("warning: no VST3 or CLAP bundle for {package}; ONNX Runtime not copied");
        }
    }
    Ok(())
}

/// Copies the library into `dir` under the name the plugin looks for.
fn install(ort: &Path, dir: &Path) -> Result<()> {
    let dest = dir.join("libonnxruntime.so");
    setup::atomic_copy(ort, &dest)?;
    eprintln!("Copied ONNX Runtime to '{}'", dest.display());
    Ok(())
}

/// Copies OpenVINO's CPU subset ([`crate::openvino::LIBS`], under their sonames) into `dir`,
/// where the plugin's loader looks first; the C library finds the others there through its
/// `$ORIGIN` rpath, and the core finds its CPU plugin and ONNX frontend in its own folder.
fn install_openvino(from: &Path, dir: &Path) -> Result<()> {
    for lib in crate::openvino::LIBS {
        setup::atomic_copy(&from.join(lib), &dir.join(lib))?;
    }
    eprintln!("Copied OpenVINO to '{}'", dir.display());
    Ok(())
}

/// Folder name the plugin looks for next to its binary (`danna_sep_core::modelset::BUNDLED_DIR`).
const BUNDLED_MODELS: &str = "danna-sep-models";

/// Copies the shipped demo model set (`models/demo`: `manifest.toml` and its ONNX files) into
/// `dir/danna-sep-models`, where the plugin finds it next to its binary, and the Spleeter
/// 2-stem set (`models/spleeter-2stems`, made by `cargo xtask setup`) into
/// `dir/spleeter-2stems` when it was provisioned (a stale copy is removed when it was not).
pub fn install_models(root: &Path, dir: &Path) -> Result<()> {
    install_spleeter(root, dir)?;
    let src = root.join("models/demo");
    if !src.join("manifest.toml").is_file() {
        eprintln!(
            "warning: {} has no manifest.toml; the bundle ships without a model set",
            src.display()
        );
        return Ok(());
    }
    let dest = dir.join(BUNDLED_MODELS);
    std::fs::create_dir_all(&dest)?;
    for entry in std::fs::read_dir(&src)? {
        let path = entry?.path();
        let keep = path.extension().is_some_and(|e| e == "onnx" || e == "toml");
        if keep && path.is_file() {
            setup::atomic_copy(&path, &dest.join(path.file_name().expect("file name")))?;
        }
    }
    eprintln!("Copied the model set to '{}'", dest.display());
    Ok(())
}

/// `models/spleeter-2stems` into `dir/spleeter-2stems` (`danna_sep_core::modelset::VOCAL_DIR`):
/// the manifest, the ONNX file and the notice.
fn install_spleeter(root: &Path, dir: &Path) -> Result<()> {
    let src = root.join(crate::spleeter::SET_DIR);
    let dest = dir.join(crate::spleeter::BUNDLED_DIR);
    if !src.join("manifest.toml").is_file() {
        if dest.exists() {
            std::fs::remove_dir_all(&dest)?;
        }
        eprintln!(
            "note: no Spleeter model ({} missing; `cargo xtask models spleeter` makes it): \
             the bundle's Karaoke choice runs the full ensemble",
            src.display()
        );
        return Ok(());
    }
    std::fs::create_dir_all(&dest)?;
    for entry in std::fs::read_dir(&src)? {
        let path = entry?.path();
        let keep = path
            .extension()
            .is_some_and(|e| e == "onnx" || e == "toml" || e == "txt");
        if keep && path.is_file() {
            setup::atomic_copy(&path, &dest.join(path.file_name().expect("file name")))?;
        }
    }
    eprintln!("Copied the Spleeter 2-stem model to '{}'", dest.display());
    Ok(())
}

/// The packages named on the command line, following nice-plug-xtask's convention: either
/// `-p <pkg>` repeated, or the first argument.
fn packages(args: &[String]) -> Vec<String> {
    if args.first().map(String::as_str) == Some("-p") {
        args.chunks(2)
            .take_while(|pair| pair[0] == "-p" && pair.len() == 2)
            .map(|pair| pair[1].clone())
            .collect()
    } else {
        args.first().cloned().into_iter().collect()
    }
}

/// The bundle name from `bundler.toml` (`[<package>] name = ...`), else the package name.
pub fn bundle_name(root: &Path, package: &str) -> Result<String> {
    let path = root.join("bundler.toml");
    if !path.exists() {
        return Ok(package.to_string());
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(table
        .get(package)
        .and_then(|t| t.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or(package)
        .to_string())
}

/// `CARGO_TARGET_DIR` if set (relative to the root), else `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// The VST3 architecture folder for this machine, as nice-plug-xtask names it.
fn vst3_arch_dir() -> String {
    let arch = match std::env::consts::ARCH {
        "x86" => "i386",
        other => other,
    };
    format!("{arch}-linux")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn packages_from_first_arg_or_dash_p() {
        assert_eq!(
            packages(&strings(&["danna-sep", "--release"])),
            ["danna-sep"]
        );
        assert_eq!(
            packages(&strings(&["-p", "a", "-p", "b", "--release"])),
            ["a", "b"]
        );
        assert!(packages(&[]).is_empty());
    }

    #[test]
    fn bundle_name_comes_from_bundler_toml() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert_eq!(bundle_name(root, "danna-sep").unwrap(), "Danna-Sep");
        assert_eq!(bundle_name(root, "other").unwrap(), "other");
    }
}
