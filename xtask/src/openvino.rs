//! OpenVINO for `cargo xtask setup`: the CPU subset of the official `openvino` wheel on PyPI
//! (pinned by version and sha256, kept in `.deps/wheels/`), extracted to `.deps/openvino/`,
//! where development builds of the core look for it (`danna_sep_core::paths`). Idempotent and
//! offline once the files are there.
//!
//! The subset is what a CPU build runs: the C API the `openvino` crate loads, the core, the
//! CPU plugin, the ONNX frontend and TBB (with hwloc and tbbbind, which TBB loads for its
//! NUMA/hybrid-core topology). The C library finds the rest through its `$ORIGIN` rpath, and
//! the core finds its plugin and frontend in its own folder.

use anyhow::{bail, ensure, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{process, setup, windows};

/// The OpenVINO release (must match `danna_sep_core::openvino_runtime::OV_VERSION`).
pub const OV_VERSION: &str = "2026.4.1";

/// The wheel (`pip download --platform manylinux_2_28_x86_64 --python-version 3.11`).
pub const WHEEL: &str = "openvino-2026.4.1-22982-cp311-cp311-manylinux_2_28_x86_64.whl";

/// The sha256 of [`WHEEL`], as downloaded from PyPI on 2026-12-03; a different file is refused.
pub const WHEEL_SHA256: &str = "2d22b1da03f7caf74df30e9f6417d0ab2f637e4a38e08e1dcd294d2c37407aaf";

/// The libraries taken from the wheel's `openvino/libs/` (≈ 92 MB of its 170 MB).
pub const LIBS: [&str; 7] = [
    "libopenvino_c.so.2641",
    "libopenvino.so.2641",
    "libopenvino_intel_cpu_plugin.so",
    "libopenvino_onnx_frontend.so.2641",
    "libtbb.so.12",
    "libtbbbind_2_5.so.3",
    "libhwloc.so.15",
];

/// `.deps/openvino/`.
pub fn ov_dir(root: &Path) -> PathBuf {
    root.join(".deps/openvino")
}

/// Makes sure every one of [`LIBS`] is in [`ov_dir`], downloading and checking the wheel only
/// when needed. Returns the folder.
pub fn ensure(root: &Path) -> Result<PathBuf> {
    let dir = ov_dir(root);
    if LIBS.iter().all(|lib| setup::is_elf(&dir.join(lib))) {
        return Ok(dir);
    }
    let wheels = root.join(".deps/wheels");
    let wheel = wheels.join(WHEEL);
    if !wheel.is_file() {
        let mut pip = Command::new("python3");
        pip.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args([
                "--platform",
                "manylinux_2_28_x86_64",
                "--python-version",
                "3.11",
            ])
            .arg(format!("openvino=={OV_VERSION}"))
            .arg("-d")
            .arg(&wheels);
        process::run(pip, root).context("downloading the openvino wheel from PyPI failed")?;
    }
    let digest = windows::sha256_file(&wheel)?;
    if digest != WHEEL_SHA256 {
        bail!(
            "{} has sha256 {digest}, expected {WHEEL_SHA256}; delete it to download it again",
            wheel.display()
        );
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for lib in LIBS {
        let dest = dir.join(lib);
        setup::extract_member(&wheel, &format!("openvino/libs/{lib}"), &dest)?;
        ensure!(
            setup::is_elf(&dest),
            "{} is not a shared library",
            dest.display()
        );
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_wheel_is_the_pinned_version_and_holds_the_c_library() {
        assert!(WHEEL.starts_with(&format!("openvino-{OV_VERSION}-")));
        // The libraries' soname suffix is the year's last two digits, minor and patch.
        let parts: Vec<&str> = OV_VERSION.split('.').collect();
        let suffix = format!("{}{}{}", &parts[0][2..], parts[1], parts[2]);
        assert!(LIBS[0].ends_with(&format!(".so.{suffix}")), "{}", LIBS[0]);
    }
}
