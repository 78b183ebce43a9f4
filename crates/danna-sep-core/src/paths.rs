//! Where this binary lives, and the checkout folders a development build falls back to.
//!
//! Bundles carry ONNX Runtime and the model set next to the plugin binary, so both are looked
//! for in [`module_dirs`]. Only development builds (`debug_assertions`, i.e. `cargo build` and
//! `cargo test`) also know the checkout they were built from and fall back to the copies
//! `cargo xtask setup` provisions there: a release build contains no build-machine path, so a
//! missing bundled file can never fall through to a path someone else could create on the
//! machine that built it.

use std::ffi::{CStr, OsStr};
use std::path::{Path, PathBuf};

/// The repository root this crate was built from (development builds only).
#[cfg(debug_assertions)]
pub const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The checkout's ONNX Runtime provisioned by `cargo xtask setup` (development builds only).
#[cfg(debug_assertions)]
pub fn project_runtime_lib() -> PathBuf {
    Path::new(REPO_ROOT).join(".deps/onnxruntime/libonnxruntime.so")
}

/// The checkout's demo model set (development builds only).
#[cfg(debug_assertions)]
pub fn project_models() -> PathBuf {
    Path::new(REPO_ROOT).join("models/demo")
}

/// The checkout's Spleeter 2-stem set, made by `cargo xtask setup` (development builds only).
#[cfg(debug_assertions)]
pub fn project_spleeter() -> PathBuf {
    Path::new(REPO_ROOT).join("models/spleeter-2stems")
}

/// [`project_spleeter`] in a development build, `None` in a release build.
#[cfg(debug_assertions)]
pub fn dev_spleeter() -> Option<PathBuf> {
    Some(project_spleeter())
}

/// [`project_spleeter`] in a development build, `None` in a release build.
#[cfg(not(debug_assertions))]
pub fn dev_spleeter() -> Option<PathBuf> {
    None
}

/// [`project_runtime_lib`] in a development build, `None` in a release build.
#[cfg(debug_assertions)]
pub fn dev_runtime_lib() -> Option<PathBuf> {
    Some(project_runtime_lib())
}

/// [`project_runtime_lib`] in a development build, `None` in a release build.
#[cfg(not(debug_assertions))]
pub fn dev_runtime_lib() -> Option<PathBuf> {
    None
}

/// [`project_models`] in a development build, `None` in a release build.
#[cfg(debug_assertions)]
pub fn dev_models() -> Option<PathBuf> {
    Some(project_models())
}

/// [`project_models`] in a development build, `None` in a release build.
#[cfg(not(debug_assertions))]
pub fn dev_models() -> Option<PathBuf> {
    None
}

/// The directories of the binary (plugin `.so` or executable) that contains this code, see
/// [`dirs_of`].
pub fn module_dirs() -> Vec<PathBuf> {
    module_path().map_or_else(Vec::new, |module| dirs_of(&module))
}

/// The folders to look in next to `module`: its real folder (symlinks resolved) first, then,
/// if different, the folder of the path as the dynamic loader knows it. A plugin symlinked
/// into `~/.clap` thus finds the library shipped next to the real file before anything that
/// happens to lie next to the link.
pub fn dirs_of(module: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::fs::canonicalize(module)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    if let Some(dir) = module.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dirs.iter().any(|d| d == dir) {
            dirs.push(dir.to_path_buf());
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

    #[cfg(unix)]
    #[test]
    fn a_symlinked_module_looks_in_its_real_folder_first() {
        let tmp = std::env::temp_dir().join(format!("danna-paths-{}", std::process::id()));
        let (real, link) = (tmp.join("real"), tmp.join("link"));
        std::fs::create_dir_all(&real).unwrap();
        std::fs::create_dir_all(&link).unwrap();
        std::fs::write(real.join("plugin.clap"), b"").unwrap();
        std::os::unix::fs::symlink(real.join("plugin.clap"), link.join("plugin.clap")).unwrap();
        let dirs = dirs_of(&link.join("plugin.clap"));
        let real = std::fs::canonicalize(&real).unwrap();
        std::fs::remove_dir_all(&tmp).unwrap();
        assert_eq!(dirs, vec![real, link]);
    }

    #[test]
    fn a_plain_module_has_one_folder() {
        let exe = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(dirs_of(&exe), vec![exe.parent().unwrap().to_path_buf()]);
    }

    #[test]
    fn development_builds_fall_back_to_the_checkout() {
        // The test profile keeps debug assertions, so the fallbacks exist here; release builds
        // are checked for their absence by `tests/build_paths.rs`.
        let lib = dev_runtime_lib().expect("a development build has the fallback");
        assert!(lib.starts_with(REPO_ROOT));
        assert!(lib.ends_with(".deps/onnxruntime/libonnxruntime.so"));
        assert_eq!(dev_models(), Some(project_models()));
    }
}
