//! Finding and loading the ONNX Runtime shared library (`libonnxruntime.so`; on Windows
//! `onnxruntime.dll`).
//!
//! `ort` is built with its `load-dynamic` feature, so nothing links against ONNX Runtime at
//! build time: the library is `dlopen`ed at run time by [`ensure_loaded`]. That call does file
//! system access, `dlopen` and allocations, so it must run on the main or a background thread,
//! never on the audio thread. It runs once per process; every later call returns the cached
//! result (success or the same error).
//!
//! Search order (first hit wins, see [`candidate_paths`]):
//!
//! 1. the file named by [`RuntimeConfig::library`] (`DANNA_SEP_ORT_LIB`), which must be an
//!    absolute path: a relative one would be resolved against the host's working directory or
//!    the system's library search path, so it is refused (and nothing else is tried);
//! 2. `libonnxruntime.so` / `libonnxruntime.so.1.31.1` (Windows: `onnxruntime.dll`) in the
//!    directory of the binary that contains this code. For the plugin that is the plugin
//!    `.so`/`.dll` itself (found with `dladdr` / `GetModuleHandleExW`,
//!    because the host's executable and working directory say nothing about where the plugin
//!    lives); for the CLI it is the executable. `cargo xtask bundle` copies the library there.
//!    A symlinked binary's real folder comes first ([`paths::dirs_of`]);
//! 3. development builds only: the checkout's own copy,
//!    `<repo>/.deps/onnxruntime/libonnxruntime.so` (Windows builds:
//!    `<repo>/.deps/windows/onnxruntime/onnxruntime.dll`), which `cargo xtask setup` provisions.
//!    Release builds contain no build-machine path ([`paths`]).
//!
//! [`RuntimeConfig::no_fallback`] (`DANNA_SEP_ORT_NO_FALLBACK=1`) restricts the search to
//! step 1. It exists for tests of the failure path, which must not silently find the real
//! library.

use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::config::{RuntimeConfig, ENV_ORT_LIB};
use crate::error::collapse_whitespace;
use crate::{native, paths};

/// The ONNX Runtime version that `cargo xtask setup` provisions and the bundles ship.
pub const ORT_VERSION: &str = "1.31.1";

/// File names looked for next to the binary, in order.
#[cfg(not(windows))]
pub const LIB_NAMES: &[&str] = &["libonnxruntime.so", "libonnxruntime.so.1.31.1"];

/// File names looked for next to the binary, in order (the wheel's DLL, as the bundles ship it;
/// its `onnxruntime_providers_shared.dll` lies next to it).
#[cfg(windows)]
pub const LIB_NAMES: &[&str] = &["onnxruntime.dll"];

/// A successfully loaded ONNX Runtime.
pub struct OrtRuntime {
    /// The library file that was loaded.
    pub path: PathBuf,
    /// The version the library reports about itself (`OrtApiBase::GetVersionString`), e.g.
    /// `"1.31.1"`.
    pub version: String,
    /// The process-wide `ort` environment. `ort` allows exactly one environment per process and
    /// sessions need it (`ort::session::Session::builder(&runtime.environment)`), so it is
    /// created here once and shared.
    pub environment: ort::environment::Environment,
}

impl std::fmt::Debug for OrtRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtRuntime")
            .field("path", &self.path)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Why ONNX Runtime could not be loaded. Its `Display` is a single line that lists every path
/// tried and what went wrong with it, so it can be shown in a host's log or the plugin's GUI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeLoadError {
    /// Each candidate tried, in order, with the reason it was rejected.
    pub tried: Vec<(PathBuf, String)>,
}

impl std::fmt::Display for RuntimeLoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "could not load ONNX Runtime (libonnxruntime {ORT_VERSION}); tried: "
        )?;
        if self.tried.is_empty() {
            write!(f, "nothing (no candidate paths)")?;
        }
        for (i, (path, reason)) in self.tried.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{} ({})", path.display(), reason)?;
        }
        write!(
            f,
            ". Set {ENV_ORT_LIB} to the library file, or run `cargo xtask setup`"
        )
    }
}

impl std::error::Error for RuntimeLoadError {}

static RUNTIME: OnceLock<Result<OrtRuntime, RuntimeLoadError>> = OnceLock::new();

/// Loads ONNX Runtime once per process and returns it; see the module docs for the search order.
/// The first call's `config` decides; later calls return the cached outcome, including the
/// same error.
///
/// Must not be called from the audio thread (it may `dlopen`, allocate and touch the disk).
pub fn ensure_loaded(config: &RuntimeConfig) -> Result<&'static OrtRuntime, RuntimeLoadError> {
    RUNTIME
        .get_or_init(|| load_first(&candidate_paths(config)?))
        .as_ref()
        .map_err(Clone::clone)
}

/// The outcome of the first [`ensure_loaded`], without loading anything (`None` before it).
pub fn load_outcome() -> Option<Result<&'static OrtRuntime, &'static RuntimeLoadError>> {
    RUNTIME.get().map(Result::as_ref)
}

/// The candidate library paths for this process, in search order (the configuration and the
/// location of the current binary, and in a development build the checkout's copy; nothing
/// else). See [`candidates_from`].
pub fn candidate_paths(config: &RuntimeConfig) -> Result<Vec<PathBuf>, RuntimeLoadError> {
    candidates_from(
        config.library.as_deref(),
        config.no_fallback,
        &paths::module_dirs(),
        paths::dev_runtime_lib().as_deref(),
    )
}

/// Why a relative [`RuntimeConfig::library`] is refused.
pub const RELATIVE_LIBRARY: &str = "refused: DANNA_SEP_ORT_LIB must be an absolute path";

/// The pure core of [`candidate_paths`]: `library` is the configured file, `module_dirs` the
/// directories of the current binary (real folder first), `project_lib` the development
/// fallback (`None` in release builds). Duplicates are removed, keeping the first occurrence.
/// A relative `library` is an error listing only it (see the module docs).
pub fn candidates_from(
    library: Option<&Path>,
    no_fallback: bool,
    module_dirs: &[PathBuf],
    project_lib: Option<&Path>,
) -> Result<Vec<PathBuf>, RuntimeLoadError> {
    paths::library_candidates(library, no_fallback, module_dirs, LIB_NAMES, project_lib).map_err(
        |relative| RuntimeLoadError {
            tried: vec![(relative, RELATIVE_LIBRARY.to_string())],
        },
    )
}

/// Tries the candidates in order and returns the first that loads and works.
fn load_first(candidates: &[PathBuf]) -> Result<OrtRuntime, RuntimeLoadError> {
    let mut tried = Vec::new();
    for path in candidates {
        match try_load(path) {
            Ok(runtime) => return Ok(runtime),
            Err(Failure::Skip(reason)) => tried.push((path.clone(), collapse_whitespace(&reason))),
            Err(Failure::Fatal(reason)) => {
                // `ort` keeps the first library it managed to `dlopen` for the rest of the
                // process and silently ignores later paths, so once a library got that far
                // trying further candidates would only pretend to load them.
                tried.push((path.clone(), collapse_whitespace(&reason)));
                break;
            }
        }
    }
    Err(RuntimeLoadError { tried })
}

/// How a candidate failed.
enum Failure {
    /// Nothing was committed; the next candidate may be tried.
    Skip(String),
    /// `ort` already adopted this library, so no other candidate can be loaded any more.
    Fatal(String),
}

fn try_load(path: &Path) -> Result<OrtRuntime, Failure> {
    if !path.is_file() {
        return Err(Failure::Skip("not found".into()));
    }
    // `ort` reports most problems as errors (dlopen failure, missing `OrtGetApiBase`, too old a
    // version) but a few internal `expect`s remain, e.g. if `GetApi` returns null. Those must
    // not take down the host, so they are caught and turned into errors. (A library whose
    // initialisers crash the process, e.g. with an illegal instruction, cannot be caught.)
    let attempt = catch_unwind(AssertUnwindSafe(|| {
        // Windows' loader wants backslashes and no `\\?\` prefix; the version lookup compares
        // the same spelling with the loaded modules.
        let path = native::loader_path(path);
        let builder = ort::init_from(&path).map_err(|e| Failure::Skip(describe_load_error(&e)))?;
        let version = loaded_version(&path).map_err(Failure::Fatal)?;
        // Exercise the full API table once, so a broken library fails here, not later.
        let _build_info = ort::info();
        let environment = builder
            .with_name("danna-sep")
            .with_telemetry(false)
            .build()
            .map_err(|e| Failure::Fatal(format!("creating the ORT environment failed: {e}")))?;
        Ok(OrtRuntime {
            path,
            version,
            environment,
        })
    }));
    match attempt {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(Failure::Fatal(format!("ort panicked: {msg}")))
        }
    }
}

/// Reads the version string of the (already loaded) library at `path` through
/// `OrtGetApiBase()->GetVersionString()`. `ort` checks the version internally but does not
/// expose it, so the library's symbol is looked up again in the loaded module
/// ([`native::with_loaded_symbol`]: `dlopen(RTLD_NOLOAD)` on Unix, `GetModuleHandleW` on
/// Windows), which never loads a second copy.
fn loaded_version(path: &Path) -> Result<String, String> {
    let outcome = native::with_loaded_symbol(path, c"OrtGetApiBase", |sym| {
        // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime; the returned table
        // and the version string are static data of the library, which stays loaded.
        unsafe {
            let get_base: unsafe extern "C" fn() -> *const ort::sys::OrtApiBase =
                std::mem::transmute(sym);
            let base = get_base();
            if base.is_null() {
                return Err("OrtGetApiBase returned null".to_string());
            }
            let version = ((*base).GetVersionString)();
            if version.is_null() {
                return Err("GetVersionString returned null".to_string());
            }
            Ok(CStr::from_ptr(version).to_string_lossy().into_owned())
        }
    });
    match outcome {
        Ok(version) => version,
        Err(native::SymbolError::NotLoaded) => {
            Err("library is not loaded after ort::init_from".into())
        }
        Err(err) => Err(err.to_string()),
    }
}

/// `ort`'s message plus the `dlerror` text: `libloading` keeps that (the useful part, e.g.
/// "invalid ELF header") in its error's source, which `ort`'s message leaves out.
fn describe_load_error(err: &ort::LoadDynamicError) -> String {
    let mut msg = err.to_string();
    let ort::LoadDynamicError::Dlopen { error, .. } = err else {
        return msg;
    };
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_path_comes_first_then_module_dirs_then_project() {
        let dirs = vec![PathBuf::from("/plug/a"), PathBuf::from("/plug/b")];
        let got = candidates_from(
            Some(Path::new("/custom/libort.so")),
            false,
            &dirs,
            Some(Path::new("/proj/.deps/onnxruntime/libonnxruntime.so")),
        )
        .unwrap();
        let want: Vec<PathBuf> = [
            "/custom/libort.so",
            "/plug/a/libonnxruntime.so",
            "/plug/a/libonnxruntime.so.1.31.1",
            "/plug/b/libonnxruntime.so",
            "/plug/b/libonnxruntime.so.1.31.1",
            "/proj/.deps/onnxruntime/libonnxruntime.so",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn without_a_project_fallback_only_the_binary_folder_is_searched() {
        let got = candidates_from(None, false, &[PathBuf::from("/plug")], None).unwrap();
        assert_eq!(
            got,
            vec![
                PathBuf::from("/plug/libonnxruntime.so"),
                PathBuf::from("/plug/libonnxruntime.so.1.31.1"),
            ]
        );
    }

    #[test]
    fn no_fallback_keeps_only_the_env_path() {
        let dirs = vec![PathBuf::from("/plug")];
        let project = Some(Path::new("/proj/lib.so"));
        let got = candidates_from(Some(Path::new("/x/lib.so")), true, &dirs, project).unwrap();
        assert_eq!(got, vec![PathBuf::from("/x/lib.so")]);
        assert!(candidates_from(None, true, &dirs, project)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_relative_env_path_is_refused_with_one_line() {
        let dirs = vec![PathBuf::from("/plug")];
        let project = Some(Path::new("/proj/lib.so"));
        for relative in ["libonnxruntime.so", "lib/libonnxruntime.so", "./x.so"] {
            let err = candidates_from(Some(Path::new(relative)), false, &dirs, project)
                .expect_err("a relative DANNA_SEP_ORT_LIB must be refused");
            assert_eq!(err.tried.len(), 1, "nothing else is tried");
            let msg = err.to_string();
            assert!(!msg.contains('\n'), "{msg}");
            assert!(
                msg.contains(&format!("{relative} ({RELATIVE_LIBRARY})")),
                "{msg}"
            );
        }
    }

    #[test]
    fn empty_env_value_is_ignored_and_duplicates_removed() {
        let dirs = vec![PathBuf::from("/p"), PathBuf::from("/p")];
        let got = candidates_from(
            Some(Path::new("")),
            false,
            &dirs,
            Some(Path::new("/p/libonnxruntime.so")),
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                PathBuf::from("/p/libonnxruntime.so"),
                PathBuf::from("/p/libonnxruntime.so.1.31.1"),
            ]
        );
    }

    #[test]
    fn error_is_one_line_and_lists_paths() {
        let err = load_first(&[
            PathBuf::from("/nonexistent/a/libonnxruntime.so"),
            PathBuf::from("/nonexistent/b/libonnxruntime.so"),
        ])
        .unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "{msg}");
        assert!(
            msg.contains("/nonexistent/a/libonnxruntime.so (not found)"),
            "{msg}"
        );
        assert!(
            msg.contains("/nonexistent/b/libonnxruntime.so (not found)"),
            "{msg}"
        );
        assert!(msg.contains(ENV_ORT_LIB), "{msg}");
    }
}
