//! Where this binary lives, and the repository folders a development build falls back to.
//!
//! Bundles carry ONNX Runtime and the model set next to the plugin binary, so both are looked
//! for in [`module_dirs`]; a build run from a checkout finds the copies `cargo xtask setup`
//! provisions under the repository root.

use std::ffi::{CStr, OsStr};
use std::path::{Path, PathBuf};

/// The repository root this crate was built from (the development fallback only).
pub const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The project-local ONNX Runtime provisioned by `cargo xtask setup`.
pub fn project_runtime_lib() -> PathBuf {
    Path::new(REPO_ROOT).join(".deps/onnxruntime/libonnxruntime.so")
}

/// The demo model set shipped in the repository.
pub fn project_models() -> PathBuf {
    Path::new(REPO_ROOT).join("models/demo")
}

/// The directories of the binary (plugin `.so` or executable) that contains this code: the path
/// as the dynamic loader knows it and, if different, with symlinks resolved (a plugin symlinked
/// into `~/.clap` keeps its library next to the real file).
pub fn module_dirs() -> Vec<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
