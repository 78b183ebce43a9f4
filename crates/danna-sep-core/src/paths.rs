//! Where this binary lives, and the checkout folders a development build falls back to.
//!
//! Bundles carry ONNX Runtime and the model set next to the plugin binary, so both are looked
//! for in [`module_dirs`]. Only development builds (`debug_assertions`, i.e. `cargo build` and
//! `cargo test`) also know the checkout they were built from and fall back to the copies
//! `cargo xtask setup` provisions there: a release build contains no build-machine path, so a
//! missing bundled file can never fall through to a path someone else could create on the
//! machine that built it.

use std::path::{Path, PathBuf};

use crate::native;

/// The repository root this crate was built from (development builds only).
#[cfg(debug_assertions)]
pub const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The checkout's ONNX Runtime provisioned by `cargo xtask setup` (development builds only).
#[cfg(debug_assertions)]
pub fn project_runtime_lib() -> PathBuf {
    Path::new(REPO_ROOT).join(PROJECT_RUNTIME_LIB)
}

/// [`project_runtime_lib`] relative to the checkout.
#[cfg(all(debug_assertions, not(windows)))]
const PROJECT_RUNTIME_LIB: &str = ".deps/onnxruntime/libonnxruntime.so";

/// [`project_runtime_lib`] relative to the checkout, for Windows builds (`cargo xtask setup
/// --windows`). Under wine the checkout is reachable through the `Z:` drive.
#[cfg(all(debug_assertions, windows))]
const PROJECT_RUNTIME_LIB: &str = ".deps/windows/onnxruntime/onnxruntime.dll";

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
    // `loader_path`: Windows' canonical form is `\\?\C:\...`, which the loader does not match
    // with the modules it has mapped.
    if let Some(dir) = std::fs::canonicalize(module)
        .ok()
        .and_then(|p| native::loader_path(&p).parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    if let Some(dir) = module.parent().filter(|d| !d.as_os_str().is_empty()) {
        let dir = native::loader_path(dir);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// The file of the binary that contains this function: the plugin `.so`/`.dll` inside a host,
/// the executable for the CLI ([`native::module_file_of`]: `dladdr` on Unix,
/// `GetModuleHandleExW(FROM_ADDRESS)` on Windows). Never the process's executable for a
/// plugin: inside a DAW that is the DAW.
fn module_path() -> Option<PathBuf> {
    let path = native::module_file_of(module_path as *const std::ffi::c_void)?;
    if path.is_absolute() {
        Some(path)
    } else {
        // For the main executable glibc reports `argv[0]`, which may be relative to a working
        // directory that has changed since. A relative name can only be the executable here
        // (hosts `dlopen` plugins by absolute path), so ask the kernel instead.
        std::env::current_exe().ok()
    }
}

/// Candidate files for a shared library, in search order: the configured `library` (which
/// must be absolute: a relative one is returned as the error, nothing else is tried), then
/// unless `no_fallback` each of `names` in each of `module_dirs`, then `project_lib` (the
/// development fallback). Duplicates are removed, keeping the first occurrence.
pub fn library_candidates(
    library: Option<&Path>,
    no_fallback: bool,
    module_dirs: &[PathBuf],
    names: &[&str],
    project_lib: Option<&Path>,
) -> Result<Vec<PathBuf>, PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut push = |p: PathBuf| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    if let Some(library) = library.filter(|s| !s.as_os_str().is_empty()) {
        if !library.is_absolute() {
            return Err(library.to_path_buf());
        }
        push(library.to_path_buf());
    }
    if no_fallback {
        return Ok(out);
    }
    for dir in module_dirs {
        for name in names {
            push(dir.join(name));
        }
    }
    if let Some(project_lib) = project_lib {
        push(project_lib.to_path_buf());
    }
    Ok(out)
}

/// The checkout's OpenVINO C library in development builds, `None` in a release build:
/// `.deps/openvino/libopenvino_c.so.2641` (`cargo xtask setup`) or, for Windows builds,
/// `.deps/windows/openvino/openvino_c.dll` (`cargo xtask setup --windows`; under wine the
/// checkout is reachable through the `Z:` drive).
pub fn dev_openvino_lib() -> Option<PathBuf> {
    #[cfg(debug_assertions)]
    return Some(Path::new(REPO_ROOT).join(DEV_OPENVINO_LIB));
    #[cfg(not(debug_assertions))]
    None
}

/// [`dev_openvino_lib`] relative to the checkout.
#[cfg(all(debug_assertions, not(windows)))]
const DEV_OPENVINO_LIB: &str = ".deps/openvino/libopenvino_c.so.2641";

/// [`dev_openvino_lib`] relative to the checkout, for Windows builds.
#[cfg(all(debug_assertions, windows))]
const DEV_OPENVINO_LIB: &str = ".deps/windows/openvino/openvino_c.dll";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_path_is_this_test_binary() {
        // In a unit test this code lives in the test executable itself.
        let module = module_path().expect("the loader should know this binary");
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
        // On Windows the canonical form is `\\?\C:\...`; the folder comes without the prefix.
        assert_eq!(
            dirs_of(&exe),
            vec![native::loader_path(exe.parent().unwrap())]
        );
    }

    // The fallbacks exist only with debug assertions (the Windows stage runs these tests in
    // release).
    #[cfg(debug_assertions)]
    #[test]
    fn development_builds_fall_back_to_the_checkout() {
        // The test profile keeps debug assertions, so the fallbacks exist here; release builds
        // are checked for their absence by `tests/build_paths.rs`.
        let lib = dev_runtime_lib().expect("a development build has the fallback");
        assert!(lib.starts_with(REPO_ROOT));
        assert!(lib.ends_with(PROJECT_RUNTIME_LIB));
        assert_eq!(dev_models(), Some(project_models()));
        let ov = dev_openvino_lib().expect("a development build has the fallback");
        assert!(ov.starts_with(REPO_ROOT));
        assert!(ov.ends_with(DEV_OPENVINO_LIB));
        assert!(ov.ends_with(crate::openvino_runtime::LIB_NAMES[0]));
    }
}
