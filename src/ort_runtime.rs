//! Finding and loading the ONNX Runtime shared library (`libonnxruntime.so`).
//!
//! `ort` is built with its `load-dynamic` feature, so nothing links against ONNX Runtime at
//! build time: the library is `dlopen`ed at run time by [`ensure_loaded`]. That call does file
//! system access, `dlopen` and allocations, so it must run on the main or a background thread,
//! never on the audio thread. It runs once per process; every later call returns the cached
//! result (success or the same error).
//!
//! Search order (first hit wins, see [`candidate_paths`]):
//!
//! 1. the file named by the environment variable [`ENV_LIB`] (`DANNA_SEP_ORT_LIB`);
//! 2. `libonnxruntime.so` / `libonnxruntime.so.1.31.1` in the directory of the binary that
//!    contains this code. For the plugin that is the plugin `.so` itself (found with `dladdr`,
//!    because the host's executable and working directory say nothing about where the plugin
//!    lives); for the CLI it is the executable. `cargo xtask bundle` copies the library there;
//! 3. the project's own copy, `<crate>/.deps/onnxruntime/libonnxruntime.so`, which
//!    `cargo xtask setup` provisions (useful during development and in tests).
//!
//! Setting [`ENV_NO_FALLBACK`] (`DANNA_SEP_ORT_NO_FALLBACK=1`) restricts the search to step 1.
//! It exists for tests of the failure path, which must not silently find the real library.

use std::ffi::{CStr, OsStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The ONNX Runtime version that `cargo xtask setup` provisions and the bundles ship.
pub const ORT_VERSION: &str = "1.31.1";

/// Environment variable naming the ONNX Runtime library file to load (highest priority).
pub const ENV_LIB: &str = "DANNA_SEP_ORT_LIB";

/// Environment variable that, when set to a non-empty value other than `0`, restricts the search
/// to [`ENV_LIB`]. Meant for tests of the failure path.
pub const ENV_NO_FALLBACK: &str = "DANNA_SEP_ORT_NO_FALLBACK";

/// File names looked for next to the binary, in order.
pub const LIB_NAMES: [&str; 2] = ["libonnxruntime.so", "libonnxruntime.so.1.31.1"];

/// The project-local copy provisioned by `cargo xtask setup`.
pub const PROJECT_LIB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/.deps/onnxruntime/libonnxruntime.so"
);

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
pub struct OrtLoadError {
    /// Each candidate tried, in order, with the reason it was rejected.
    pub tried: Vec<(PathBuf, String)>,
}

impl std::fmt::Display for OrtLoadError {
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
            ". Set {ENV_LIB} to the library file, or run `cargo xtask setup`"
        )
    }
}

impl std::error::Error for OrtLoadError {}

/// Loads ONNX Runtime once per process and returns it; see the module docs for the search order.
///
/// Must not be called from the audio thread (it may `dlopen`, allocate and touch the disk).
/// Later calls are cheap and return the cached outcome, including the same error.
pub fn ensure_loaded() -> Result<&'static OrtRuntime, OrtLoadError> {
    static RUNTIME: OnceLock<Result<OrtRuntime, OrtLoadError>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| load_first(&candidate_paths()))
        .as_ref()
        .map_err(Clone::clone)
}

/// The candidate library paths for this process, in search order (reads the environment and
/// the location of the current binary, nothing else). See [`candidates_from`].
pub fn candidate_paths() -> Vec<PathBuf> {
    let env_lib = std::env::var_os(ENV_LIB);
    let no_fallback = std::env::var_os(ENV_NO_FALLBACK).is_some_and(|v| !v.is_empty() && v != "0");
    candidates_from(
        env_lib.as_deref(),
        no_fallback,
        &module_dirs(),
        Path::new(PROJECT_LIB),
    )
}

/// The pure core of [`candidate_paths`]: `env_lib` is the value of [`ENV_LIB`] (ignored when
/// empty), `module_dirs` the directories of the current binary (as given and with symlinks
/// resolved), `project_lib` the project-local fallback. Duplicates are removed, keeping the
/// first occurrence.
pub fn candidates_from(
    env_lib: Option<&OsStr>,
    no_fallback: bool,
    module_dirs: &[PathBuf],
    project_lib: &Path,
) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut push = |p: PathBuf| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    if let Some(env_lib) = env_lib.filter(|s| !s.is_empty()) {
        push(PathBuf::from(env_lib));
    }
    if no_fallback {
        return out;
    }
    for dir in module_dirs {
        for name in LIB_NAMES {
            push(dir.join(name));
        }
    }
    push(project_lib.to_path_buf());
    out
}

/// Tries the candidates in order and returns the first that loads and works.
fn load_first(candidates: &[PathBuf]) -> Result<OrtRuntime, OrtLoadError> {
    let mut tried = Vec::new();
    for path in candidates {
        match try_load(path) {
            Ok(runtime) => return Ok(runtime),
            Err(Failure::Skip(reason)) => tried.push((path.clone(), one_line(&reason))),
            Err(Failure::Fatal(reason)) => {
                // `ort` keeps the first library it managed to `dlopen` for the rest of the
                // process and silently ignores later paths, so once a library got that far
                // trying further candidates would only pretend to load them.
                tried.push((path.clone(), one_line(&reason)));
                break;
            }
        }
    }
    Err(OrtLoadError { tried })
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
        let builder = ort::init_from(path).map_err(|e| Failure::Skip(describe_load_error(&e)))?;
        let version = loaded_version(path).map_err(Failure::Fatal)?;
        // Exercise the full API table once, so a broken library fails here, not later.
        let _build_info = ort::info();
        let environment = builder
            .with_name("danna-sep")
            .with_telemetry(false)
            .build()
            .map_err(|e| Failure::Fatal(format!("creating the ORT environment failed: {e}")))?;
        Ok(OrtRuntime {
            path: path.to_path_buf(),
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
/// expose it, so the library is looked up again with `RTLD_NOLOAD`, which only returns a handle
/// if it is already loaded and never loads a second copy.
#[cfg(unix)]
fn loaded_version(path: &Path) -> Result<String, String> {
    use std::os::unix::ffi::OsStrExt;

    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| "path contains a NUL byte".to_string())?;
    // SAFETY: plain libc calls with valid C strings; the handle is closed before returning
    // (the library stays loaded because `ort` holds its own handle).
    unsafe {
        let handle = libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
        if handle.is_null() {
            return Err("library is not loaded after ort::init_from".into());
        }
        let sym = libc::dlsym(handle, c"OrtGetApiBase".as_ptr());
        let result = if sym.is_null() {
            Err("does not export OrtGetApiBase".to_string())
        } else {
            let get_base: unsafe extern "C" fn() -> *const ort::sys::OrtApiBase =
                std::mem::transmute(sym);
            let base = get_base();
            if base.is_null() {
                Err("OrtGetApiBase returned null".to_string())
            } else {
                let version = ((*base).GetVersionString)();
                if version.is_null() {
                    Err("GetVersionString returned null".to_string())
                } else {
                    Ok(CStr::from_ptr(version).to_string_lossy().into_owned())
                }
            }
        };
        libc::dlclose(handle);
        result
    }
}

#[cfg(not(unix))]
fn loaded_version(_path: &Path) -> Result<String, String> {
    Err("only supported on Unix-like systems".into())
}

/// The directories of the binary (plugin `.so` or executable) that contains this code: the path
/// as the dynamic loader knows it and, if different, with symlinks resolved (a plugin symlinked
/// into `~/.clap` keeps its library next to the real file).
pub(crate) fn module_dirs() -> Vec<PathBuf> {
    let Some(module) = module_path() else {
        return Vec::new();
    };
    let mut dirs = Vec::new();
    if let Some(dir) = module.parent() {
        dirs.push(dir.to_path_buf());
    }
    if let Some(dir) = std::fs::canonicalize(&module)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// The file of the binary that contains this function, via `dladdr`.
#[cfg(unix)]
fn module_path() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;

    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `dladdr` only reads the address and fills `info`; any address inside this binary
    // identifies it, and this function's own address is one.
    let ok = unsafe { libc::dladdr(module_path as *const libc::c_void, &mut info) };
    if ok == 0 || info.dli_fname.is_null() {
        return std::env::current_exe().ok();
    }
    // SAFETY: `dli_fname` points to a NUL-terminated string owned by the dynamic loader.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(OsStr::from_bytes(name.to_bytes()));
    if path.is_absolute() {
        Some(path)
    } else {
        // For the main executable glibc reports `argv[0]`, which may be relative to a working
        // directory that has changed since. A relative name can only be the executable here
        // (hosts `dlopen` plugins by absolute path), so ask the kernel instead.
        std::env::current_exe().ok()
    }
}

#[cfg(not(unix))]
fn module_path() -> Option<PathBuf> {
    std::env::current_exe().ok()
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

/// Error messages from `dlerror` and friends may contain newlines; the error is one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_path_comes_first_then_module_dirs_then_project() {
        let dirs = vec![PathBuf::from("/plug/a"), PathBuf::from("/plug/b")];
        let got = candidates_from(
            Some(OsStr::new("/custom/libort.so")),
            false,
            &dirs,
            Path::new("/proj/.deps/onnxruntime/libonnxruntime.so"),
        );
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
    fn no_fallback_keeps_only_the_env_path() {
        let dirs = vec![PathBuf::from("/plug")];
        let got = candidates_from(
            Some(OsStr::new("/x/lib.so")),
            true,
            &dirs,
            Path::new("/proj/lib.so"),
        );
        assert_eq!(got, vec![PathBuf::from("/x/lib.so")]);
        assert!(candidates_from(None, true, &dirs, Path::new("/proj/lib.so")).is_empty());
    }

    #[test]
    fn empty_env_value_is_ignored_and_duplicates_removed() {
        let dirs = vec![PathBuf::from("/p"), PathBuf::from("/p")];
        let got = candidates_from(
            Some(OsStr::new("")),
            false,
            &dirs,
            Path::new("/p/libonnxruntime.so"),
        );
        assert_eq!(
            got,
            vec![
                PathBuf::from("/p/libonnxruntime.so"),
                PathBuf::from("/p/libonnxruntime.so.1.31.1"),
            ]
        );
    }

    #[test]
    fn project_lib_points_into_this_crate() {
        assert!(PROJECT_LIB.starts_with(env!("CARGO_MANIFEST_DIR")));
        assert!(PROJECT_LIB.ends_with("/.deps/onnxruntime/libonnxruntime.so"));
    }

    #[test]
    fn module_path_is_this_test_binary() {
        // In a unit test this code lives in the test executable itself.
        let module = module_path().expect("dladdr should find this binary");
        let exe = std::env::current_exe().unwrap();
        assert_eq!(
            std::fs::canonicalize(module).unwrap(),
            std::fs::canonicalize(exe).unwrap()
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
        assert!(msg.contains(ENV_LIB), "{msg}");
    }

    #[test]
    fn one_line_collapses_whitespace() {
        assert_eq!(one_line("a\nb  c\n"), "a b c");
    }
}
