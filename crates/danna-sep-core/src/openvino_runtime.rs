//! Finding and loading OpenVINO, the second inference runtime (see `docs/runtimes.md`).
//!
//! The `openvino` crate is built with `runtime-linking`: nothing links against OpenVINO at
//! build time, and [`ensure_loaded`] opens its C library at run time (from the PyPI `openvino`
//! wheel, which `cargo xtask setup` provisions and `cargo xtask bundle` ships next to the
//! plugin and the CLI): `libopenvino_c.so.2641` on Linux, `openvino_c.dll` on Windows. The C
//! library imports the core (`libopenvino.so.2641` / `openvino.dll`), which imports TBB, and
//! the core loads the CPU plugin and the ONNX frontend from its own folder, so all of them lie
//! in one folder. Linux finds them through the libraries' `$ORIGIN` rpath; Windows looks for a
//! DLL's imports in the executable's folder (inside a DAW, the DAW's), so there the C library
//! is loaded first with [`native::load_with_its_folder`] (`LOAD_WITH_ALTERED_SEARCH_PATH`).
//! Like [`crate::runtime`] it runs once per process, never on the audio thread, and caches its
//! outcome (success or the same error).
//!
//! Search order: [`RuntimeConfig::openvino_library`] (`DANNA_SEP_OV_LIB`, absolute), then
//! [`LIB_NAMES`] in the folder of the binary that holds this code, then in development builds
//! the checkout's copy ([`paths::dev_openvino_lib`]: `.deps/openvino/` on Linux,
//! `.deps/windows/openvino/` for Windows builds).
//! [`RuntimeConfig::openvino_no_fallback`] restricts it to the first.
//!
//! OpenVINO is optional: when it cannot be loaded ONNX Runtime runs, and the status line says
//! why ([`crate::selection::RuntimePlan`]).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use openvino::{Core, DeviceType, PropertyKey};
use parking_lot::Mutex;

use crate::config::RuntimeConfig;
use crate::error::collapse_whitespace;
use crate::{native, paths};

/// The OpenVINO release `cargo xtask setup` provisions (the wheel `openvino==2026.4.1`).
pub const OV_VERSION: &str = "2026.4.1";

/// File names looked for next to the binary, in order ([`lib_names`] of this platform).
pub const LIB_NAMES: &[&str] = lib_names(cfg!(windows));

/// The C library's file names on Windows (`windows`) or Linux, in search order: the names the
/// wheel ships (Windows DLLs carry no soname version; the Linux file is the soname, the
/// unversioned name a fallback for a hand-made install).
pub const fn lib_names(windows: bool) -> &'static [&'static str] {
    if windows {
        &["openvino_c.dll"]
    } else {
        &["libopenvino_c.so.2641", "libopenvino_c.so"]
    }
}

/// A loaded OpenVINO with its CPU device.
pub struct OvRuntime {
    /// The C library that was loaded.
    pub path: PathBuf,
    /// The release the library reports (`2026.4.1`, the build number's first field).
    pub version: String,
    /// Whether the CPU device offers bf16 inference (its `OPTIMIZATION_CAPABILITIES` list
    /// `BF16`: AVX512_BF16 or AMX).
    pub has_bf16: bool,
    /// The one `Core` of the process. `Core` is not `Sync`, and compiling sets device
    /// properties on it first, so compiles take turns; inference does not touch it.
    pub core: Mutex<Core>,
}

impl std::fmt::Debug for OvRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvRuntime")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("has_bf16", &self.has_bf16)
            .finish_non_exhaustive()
    }
}

/// Why OpenVINO could not be loaded: one line listing every path tried and why it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not load OpenVINO {OV_VERSION}; tried: {}", describe_tried(.tried))]
pub struct OvLoadError {
    /// Each candidate, in order, with the reason it was rejected.
    pub tried: Vec<(PathBuf, String)>,
}

fn describe_tried(tried: &[(PathBuf, String)]) -> String {
    if tried.is_empty() {
        return "nothing (no candidate paths)".into();
    }
    tried
        .iter()
        .map(|(p, why)| format!("{} ({why})", p.display()))
        .collect::<Vec<_>>()
        .join("; ")
}

static OPENVINO: OnceLock<Result<OvRuntime, OvLoadError>> = OnceLock::new();

/// Loads OpenVINO once per process; the first call's `config` decides, later calls return the
/// cached outcome. Not for the audio thread.
pub fn ensure_loaded(config: &RuntimeConfig) -> Result<&'static OvRuntime, OvLoadError> {
    OPENVINO
        .get_or_init(|| load_first(&candidate_paths(config)?))
        .as_ref()
        .map_err(Clone::clone)
}

/// The candidate library paths for this process, in search order.
pub fn candidate_paths(config: &RuntimeConfig) -> Result<Vec<PathBuf>, OvLoadError> {
    paths::library_candidates(
        config.openvino_library.as_deref(),
        config.openvino_no_fallback,
        &paths::module_dirs(),
        LIB_NAMES,
        paths::dev_openvino_lib().as_deref(),
    )
    .map_err(|relative| OvLoadError {
        tried: vec![(
            relative,
            "refused: DANNA_SEP_OV_LIB must be an absolute path".into(),
        )],
    })
}

fn load_first(candidates: &[PathBuf]) -> Result<OvRuntime, OvLoadError> {
    let mut tried = Vec::new();
    for path in candidates {
        match try_load(path) {
            Ok(runtime) => return Ok(runtime),
            Err((reason, adopted)) => {
                tried.push((path.clone(), collapse_whitespace(&reason)));
                // `openvino-sys` keeps the first library it opened for the process; a later
                // candidate would only pretend to load.
                if adopted {
                    break;
                }
            }
        }
    }
    Err(OvLoadError { tried })
}

/// Loads one candidate; the error says why, and whether `openvino-sys` adopted the library
/// before it failed.
fn try_load(path: &Path) -> Result<OvRuntime, (String, bool)> {
    if !path.is_file() {
        return Err(("not found".into(), false));
    }
    // Inside `catch_unwind`: `openvino-sys` panics where a symbol is missing (a library that
    // is not OpenVINO's), and that must not take down the host.
    // The form Windows' loader compares (backslashes, no `\\?\`), so that `openvino-sys`'s
    // own load finds the module [`native::load_with_its_folder`] mapped; unchanged on Unix.
    let path = &native::loader_path(path);
    std::panic::catch_unwind(|| {
        native::load_with_its_folder(path).map_err(|e| (e, false))?;
        openvino_sys::library::load_from(path).map_err(|e| (e, false))?;
        let adopted = |e: String| (e, true);
        let core =
            Core::new().map_err(|e| adopted(format!("creating the OpenVINO core failed: {e}")))?;
        let version = openvino::version().build_number;
        let version = version.split('-').next().unwrap_or_default().to_string();
        let capabilities = core
            .get_property(&DeviceType::CPU, &PropertyKey::DeviceCapabilities)
            .map_err(|e| adopted(format!("the CPU device does not answer: {e}")))?;
        Ok(OvRuntime {
            path: path.to_path_buf(),
            version,
            has_bf16: capabilities.split([' ', ',']).any(|c| c == "BF16"),
            core: Mutex::new(core),
        })
    })
    .unwrap_or_else(|_| Err(("openvino panicked while loading".into(), true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_platform_looks_for_the_wheel_s_file_name_first() {
        // The file names in the win_amd64 and manylinux wheels' `openvino/libs/` (the Windows
        // one is what `cargo xtask bundle --target windows` ships as `openvino_c.dll`).
        assert_eq!(lib_names(true), ["openvino_c.dll"]);
        let linux = lib_names(false);
        assert_eq!(linux[0], "libopenvino_c.so.2641");
        // The soname suffix is the release's year's last two digits, minor and patch.
        let parts: Vec<&str> = OV_VERSION.split('.').collect();
        let suffix = format!(".so.{}{}{}", &parts[0][2..], parts[1], parts[2]);
        assert!(linux[0].ends_with(&suffix), "{}", linux[0]);
        assert_eq!(LIB_NAMES, lib_names(cfg!(windows)));
    }

    #[test]
    fn the_candidates_are_the_configured_file_then_each_name_next_to_the_binary() {
        let dir = paths::module_dirs().remove(0);
        let config = RuntimeConfig::default();
        let candidates = candidate_paths(&config).unwrap();
        for (candidate, name) in candidates.iter().zip(LIB_NAMES) {
            assert_eq!(candidate, &dir.join(name));
        }
        // Development builds end with the checkout's copy, for this platform.
        if let Some(dev) = paths::dev_openvino_lib() {
            assert_eq!(candidates.last(), Some(&dev));
        }
        let configured = std::env::temp_dir().join(LIB_NAMES[0]);
        let only = RuntimeConfig {
            openvino_library: Some(configured.clone()),
            openvino_no_fallback: true,
            ..RuntimeConfig::default()
        };
        assert_eq!(candidate_paths(&only).unwrap(), vec![configured]);
    }

    /// Windows, run under wine by the Windows stage: OpenVINO from the checkout's
    /// `.deps/windows/openvino/`, a folder that is not this test executable's (as a plugin's
    /// folder is not the DAW's), loads: `openvino_c.dll`'s imports resolve there, and the core
    /// finds its CPU plugin, which answers.
    #[cfg(windows)]
    #[test]
    fn openvino_loads_from_a_folder_that_is_not_the_executable_s() {
        let Some(lib) = paths::dev_openvino_lib().filter(|p| p.is_file()) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI provisions .deps/windows/openvino"
            );
            eprintln!("SKIPPED: no .deps/windows/openvino (run `cargo xtask setup --windows`)");
            return;
        };
        let config = RuntimeConfig {
            openvino_library: Some(std::path::absolute(&lib).unwrap()),
            openvino_no_fallback: true,
            ..RuntimeConfig::default()
        };
        let ov = ensure_loaded(&config).unwrap();
        assert_eq!(ov.version, OV_VERSION);
    }
}
