//! `cargo xtask setup [--no-python] [--windows] [--synth]`: installs the missing Debian packages,
//! provisions ONNX Runtime and the Python environment, and (with Python) the Spleeter 2-stem
//! model (`spleeter.rs`; optional: a failure is one line and setup goes on); `--windows` also
//! the Windows cross-build (opt-in, see `windows.rs`); `--synth` the v2 data generator's
//! soundfonts and drum kits (opt-in; `cargo xtask test` and `models synth` install them).
//!
//! ONNX Runtime comes from the official `onnxruntime` wheel on PyPI, because PyPI is reachable
//! from every machine this project builds on and the wheel contains a self-contained
//! `libonnxruntime.so`. The wheel is kept in `.deps/wheels` and the library is extracted to
//! `.deps/onnxruntime/`, so a second run needs no network. OpenVINO comes from its wheel the
//! same way (`openvino.rs`).

use anyhow::{bail, ensure, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{process, python, windows};

/// The ONNX Runtime version the project is built and tested against (must match
/// `danna_sep_core::runtime::ORT_VERSION`).
pub const ORT_VERSION: &str = "1.31.1";

/// Entry point for `cargo xtask setup`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let (mut with_python, mut with_windows, mut with_synth) = (true, false, false);
    for arg in args {
        match arg.as_str() {
            "--no-python" => with_python = false,
            "--windows" => with_windows = true,
            "--synth" => with_synth = true,
            other => {
                bail!("unknown argument to `setup`: {other} (expected --no-python, --windows or --synth)")
            }
        }
    }
    setup(root, with_python)?;
    if with_synth {
        synth_packages(root)?;
    }
    if with_windows {
        windows::setup(root, false)?;
    }
    Ok(())
}

/// Everything `setup` does, for use by other commands.
pub fn setup(root: &Path, with_python: bool) -> Result<()> {
    debian_packages(root)?;
    let lib = ensure_ort(root)?;
    println!("ONNX Runtime {ORT_VERSION}: {}", lib.display());
    let ov = crate::openvino::ensure(root)?;
    println!("OpenVINO {}: {}", crate::openvino::OV_VERSION, ov.display());
    if with_python {
        python::setup_venv(root).context("setting up the Python environment failed")?;
        crate::spleeter::provision(root);
    }
    Ok(())
}

/// The v2 generator's soundfonts and drum kits (`install-debian-packages.sh --synth`): opt-in,
/// because only generating data and its tests need them.
pub fn synth_packages(root: &Path) -> Result<()> {
    debian_packages_with(root, &["--synth"])
}

/// Installs the missing Debian packages with `scripts/install-debian-packages.sh` (a no-op when
/// all are present). On systems without `dpkg` it only says what it skipped.
fn debian_packages(root: &Path) -> Result<()> {
    debian_packages_with(root, &[])
}

fn debian_packages_with(root: &Path, extra: &[&str]) -> Result<()> {
    let has_dpkg = Command::new("dpkg-query")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_dpkg {
        eprintln!(
            "note: no dpkg here; install the packages listed in scripts/install-debian-packages.sh yourself"
        );
        return Ok(());
    }
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("scripts/install-debian-packages.sh"))
        .args(extra);
    process::run(cmd, root).context("installing Debian packages failed")
}

/// `.deps/onnxruntime/libonnxruntime.so`, the path every other tool uses.
pub fn ort_lib_path(root: &Path) -> PathBuf {
    root.join(".deps/onnxruntime/libonnxruntime.so")
}

/// Makes sure `.deps/onnxruntime/libonnxruntime.so` (and the versioned file next to it)
/// exists, downloading and extracting the wheel only when needed. Returns the library path.
pub fn ensure_ort(root: &Path) -> Result<PathBuf> {
    let lib = ort_lib_path(root);
    let dir = lib
        .parent()
        .expect("library path has a parent")
        .to_path_buf();
    let versioned = dir.join(format!("libonnxruntime.so.{ORT_VERSION}"));
    if is_elf(&lib) && is_elf(&versioned) {
        return Ok(lib);
    }

    let wheel = match find_wheel(root)? {
        Some(wheel) => wheel,
        None => {
            download_wheel(root)?;
            find_wheel(root)?.context("pip reported success but no onnxruntime wheel was saved")?
        }
    };

    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    extract_member(
        &wheel,
        &format!("onnxruntime/capi/libonnxruntime.so.{ORT_VERSION}"),
        &versioned,
    )?;
    ensure!(
        is_elf(&versioned),
        "{} is not a shared library",
        versioned.display()
    );
    // A copy rather than a symlink: bundles and CI artifacts copy files, and a dangling link
    // would be worse than 30 MB.
    atomic_copy(&versioned, &lib)?;
    Ok(lib)
}

/// `.deps/wheels/onnxruntime-<ORT_VERSION>-*.whl`, if already downloaded.
fn find_wheel(root: &Path) -> Result<Option<PathBuf>> {
    let dir = root.join(".deps/wheels");
    if !dir.is_dir() {
        return Ok(None);
    }
    let prefix = format!("onnxruntime-{ORT_VERSION}-");
    let mut wheels: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        })
        .collect();
    wheels.sort();
    Ok(wheels.pop())
}

fn download_wheel(root: &Path) -> Result<()> {
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .arg(format!("onnxruntime=={ORT_VERSION}"))
        .args(["-d", ".deps/wheels"]);
    process::run(cmd, root).context("downloading the onnxruntime wheel from PyPI failed")
}

/// Extracts one member of a zip file with Python's `zipfile` (Python is a prerequisite anyway
/// and this avoids a zip dependency in the xtask). Writes to a temporary file first so an
/// interrupted run never leaves a truncated library behind.
pub fn extract_member(zip: &Path, member: &str, dest: &Path) -> Result<()> {
    const SCRIPT: &str = "import shutil, sys, zipfile\n\
        with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, \
        open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst)\n";
    let tmp = partial_path(dest);
    let mut cmd = Command::new("python3");
    cmd.args(["-c", SCRIPT]).arg(zip).arg(member).arg(&tmp);
    eprintln!("Extracting {member} from {}", zip.display());
    let status = cmd.status().context("could not run python3")?;
    ensure!(
        status.success(),
        "extracting {member} from {} failed ({status})",
        zip.display()
    );
    fs::rename(&tmp, dest).with_context(|| format!("moving into {}", dest.display()))
}

/// Copies `from` to `to` through a temporary file and a rename. A host or test may have `to`
/// mapped; overwriting it in place would corrupt the running process, replacing the directory
/// entry does not.
pub fn atomic_copy(from: &Path, to: &Path) -> Result<()> {
    let tmp = partial_path(to);
    fs::copy(from, &tmp)
        .with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
    fs::rename(&tmp, to).with_context(|| format!("moving into {}", to.display()))
}

/// `<path>.partial`, the temporary name used while writing `path`.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Whether `path` is a regular file starting with the ELF magic number.
pub fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}
