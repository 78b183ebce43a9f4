//! OpenVINO for `cargo xtask setup`: the CPU subset of the official `openvino` wheel on PyPI
//! (pinned by version and sha256, kept in `.deps/wheels/`), extracted to `.deps/openvino/`,
//! where development builds of the core look for it (`danna_sep_core::paths`). Idempotent and
//! offline once the files are there.
//!
//! The subset is what a CPU build runs: the C API the `openvino` crate loads, the core, the
//! CPU plugin, the ONNX frontend and TBB (with hwloc and tbbbind, which TBB loads for its
//! NUMA/hybrid-core topology). The C library finds the rest through its `$ORIGIN` rpath, and
//! the core finds its plugin and frontend in its own folder.
//!
//! For the Windows build (`cargo xtask setup --windows`, [`ensure_windows`]) the same subset
//! comes from the `win_amd64` wheel of the same release, kept in `.deps/windows/wheels/` and
//! extracted to `.deps/windows/openvino/` ([`WINDOWS_DLLS`]); `cargo xtask bundle --target
//! windows` ships it next to the plugin and the CLI. There hwloc is linked into
//! `tbbbind_2_5.dll`, and the core loader preloads `openvino_c.dll` so that its imports are
//! found in its folder (`danna_sep_core::native::load_with_its_folder`).

use anyhow::{ensure, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

use crate::{setup, windows};

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

/// The Windows wheel (`pip download --platform win_amd64 --python-version 3.11`, 85 MB).
pub const WINDOWS_WHEEL: &str = "openvino-2026.4.1-22982-cp311-cp311-win_amd64.whl";

/// The sha256 of [`WINDOWS_WHEEL`], as downloaded from PyPI on 2026-12-07.
pub const WINDOWS_WHEEL_SHA256: &str =
    "bfddae6d6d3ad240157b946f180c33d0ddfaaae7487995d929a4e6b4bc12b283";

/// The DLLs taken from the Windows wheel's `openvino/libs/` (≈ 69 MB): the C API (what the core
/// loads), the core, the CPU plugin, the ONNX frontend, TBB and tbbbind (hwloc inside).
/// The core's imports are `tbb12.dll` and the Visual C++ runtime; the rest import the core.
pub const WINDOWS_DLLS: [&str; 6] = [
    "openvino_c.dll",
    "openvino.dll",
    "openvino_intel_cpu_plugin.dll",
    "openvino_onnx_frontend.dll",
    "tbb12.dll",
    "tbbbind_2_5.dll",
];

/// `.deps/windows/openvino/`.
pub fn windows_dir(root: &Path) -> PathBuf {
    root.join(".deps/windows/openvino")
}

/// Makes sure every one of [`WINDOWS_DLLS`] is in [`windows_dir`], downloading and checking
/// the Windows wheel only when needed. Returns the folder.
pub fn ensure_windows(root: &Path) -> Result<PathBuf> {
    let dir = windows_dir(root);
    if WINDOWS_DLLS
        .iter()
        .all(|dll| windows::is_pe(&dir.join(dll)))
    {
        return Ok(dir);
    }
    let wheel = windows::pinned_wheel(
        root,
        &windows::wheels_dir(root),
        &format!("openvino=={OV_VERSION}"),
        "win_amd64",
        WINDOWS_WHEEL,
        WINDOWS_WHEEL_SHA256,
    )?;
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for dll in WINDOWS_DLLS {
        let dest = dir.join(dll);
        setup::extract_member(&wheel, &format!("openvino/libs/{dll}"), &dest)?;
        ensure!(
            windows::is_pe(&dest),
            "{} is not a Windows DLL",
            dest.display()
        );
    }
    Ok(dir)
}

/// Makes sure every one of [`LIBS`] is in [`ov_dir`], downloading and checking the wheel only
/// when needed. Returns the folder.
pub fn ensure(root: &Path) -> Result<PathBuf> {
    let dir = ov_dir(root);
    if LIBS.iter().all(|lib| setup::is_elf(&dir.join(lib))) {
        return Ok(dir);
    }
    let wheel = windows::pinned_wheel(
        root,
        &root.join(".deps/wheels"),
        &format!("openvino=={OV_VERSION}"),
        "manylinux_2_28_x86_64",
        WHEEL,
        WHEEL_SHA256,
    )?;
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

    #[test]
    fn the_windows_wheel_is_the_same_release_and_starts_with_the_c_library() {
        // The same build as the Linux wheel (release and build number), for `win_amd64`.
        let build = WHEEL.split("-cp311").next().unwrap();
        assert_eq!(WINDOWS_WHEEL, format!("{build}-cp311-cp311-win_amd64.whl"));
        assert_eq!(WINDOWS_WHEEL_SHA256.len(), 64);
        // What `danna_sep_core::openvino_runtime::LIB_NAMES` looks for on Windows.
        assert_eq!(WINDOWS_DLLS[0], "openvino_c.dll");
        // The Windows counterpart of each Linux library but hwloc (linked into tbbbind there).
        assert_eq!(WINDOWS_DLLS.len(), LIBS.len() - 1);
        assert!(WINDOWS_DLLS.iter().all(|d| d.ends_with(".dll")));
    }
}
