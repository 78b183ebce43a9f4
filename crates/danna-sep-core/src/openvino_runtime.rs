//! Finding and loading OpenVINO, the second inference runtime (see `docs/runtimes.md`).
//!
//! The `openvino` crate is built with `runtime-linking`: nothing links against OpenVINO at
//! build time, and [`ensure_loaded`] `dlopen`s its C library (`libopenvino_c.so.2641`, from the
//! PyPI `openvino` wheel, which `cargo xtask setup` provisions and `cargo xtask bundle` ships
//! next to the plugin). The C library finds `libopenvino.so`, the CPU plugin, the ONNX
//! frontend and TBB through its own rpath (`$ORIGIN`), so those lie in the same folder. Like
//! [`crate::runtime`] it runs once per process, never on the audio thread, and caches its
//! outcome (success or the same error).
//!
//! Search order: [`RuntimeConfig::openvino_library`] (`DANNA_SEP_OV_LIB`, absolute), then
//! [`LIB_NAMES`] in the folder of the binary that holds this code, then in development builds
//! the checkout's `.deps/openvino/` ([`paths::dev_openvino_lib`]).
//! [`RuntimeConfig::openvino_no_fallback`] restricts it to the first.
//!
//! OpenVINO is optional: when it cannot be loaded ONNX Runtime runs, and the status line says
//! why ([`crate::selection::RuntimePlan`]). Windows builds look for `openvino_c.dll` but the
//! Windows bundles do not ship it yet.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use openvino::{Core, DeviceType, PropertyKey};
use parking_lot::Mutex;

use crate::config::RuntimeConfig;
use crate::error::collapse_whitespace;
use crate::paths;

/// The OpenVINO release `cargo xtask setup` provisions (the wheel `openvino==2026.4.1`).
pub const OV_VERSION: &str = "2026.4.1";

/// File names looked for next to the binary, in order.
#[cfg(not(windows))]
pub const LIB_NAMES: &[&str] = &["libopenvino_c.so.2641", "libopenvino_c.so"];

/// File names looked for next to the binary, in order.
#[cfg(windows)]
pub const LIB_NAMES: &[&str] = &["openvino_c.dll"];

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
    std::panic::catch_unwind(|| {
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
