//! The operating system's dynamic loader, asked two questions: which file holds the module
//! that contains a given address ([`module_file_of`]), and where a symbol of an *already
//! loaded* library is ([`with_loaded_symbol`]), without ever loading a second copy.
//!
//! Unix answers with `dladdr` and `dlopen(RTLD_NOLOAD)` + `dlsym`; Windows with
//! `GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS)` + `GetModuleFileNameW` and
//! `GetModuleHandleW` + `GetProcAddress`. Inside a plugin the process's executable is the host
//! (the DAW), so only the address-based lookup says where the plugin itself lives.
//!
//! Windows' loader wants backslashes and no `\\?\` prefix in the paths it compares
//! ([`loader_path`] makes them so; `std::fs::canonicalize` returns `\\?\C:\...`).
//!
//! A third service, [`load_with_its_folder`], loads a library whose own imports lie next to it
//! (OpenVINO's `openvino_c.dll` imports `openvino.dll`, which imports `tbb12.dll`): on Unix the
//! library's `$ORIGIN` rpath does that and nothing is needed; Windows searches the imports of a
//! DLL loaded by full path in the *executable's* folder (inside a DAW, the DAW's), unless the
//! DLL is loaded with `LOAD_WITH_ALTERED_SEARCH_PATH`.

use std::ffi::{c_void, CStr};
use std::path::{Path, PathBuf};

/// Why a symbol of a loaded library could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// The path cannot be handed to the loader (it contains a NUL character).
    #[error("path contains a NUL character")]
    BadPath,
    /// No library with this path is loaded in the process.
    #[error("library is not loaded")]
    NotLoaded,
    /// The library is loaded but does not export the symbol.
    #[error("does not export {0}")]
    Missing(String),
}

/// `path` as the platform's loader compares it: unchanged on Unix; on Windows with `/` turned
/// into `\` and a `\\?\` prefix before a drive letter removed.
pub fn loader_path(path: &Path) -> PathBuf {
    if cfg!(windows) {
        windows_loader_path(&path.to_string_lossy()).into()
    } else {
        path.to_path_buf()
    }
}

/// The string form of [`loader_path`]'s Windows rule (pure, so it is tested on every platform).
fn windows_loader_path(path: &str) -> String {
    let path = path.replace('/', "\\");
    match path.strip_prefix(r"\\?\") {
        Some(rest) if rest.as_bytes().get(1) == Some(&b':') => rest.to_string(),
        _ => path,
    }
}

/// Calls `f` with the address of `symbol` in the library at `path`, which must already be
/// loaded in this process (nothing is loaded here). The library stays loaded while `f` runs.
pub fn with_loaded_symbol<R>(
    path: &Path,
    symbol: &CStr,
    f: impl FnOnce(*const c_void) -> R,
) -> Result<R, SymbolError> {
    imp::with_loaded_symbol(&loader_path(path), symbol, f)
}

/// The file of the module (executable or shared library) whose code contains `address`, or
/// `None` if the loader does not know one.
pub fn module_file_of(address: *const c_void) -> Option<PathBuf> {
    imp::module_file_of(address)
}

/// Makes the module whose code contains `address` stay loaded until the process exits, even
/// after whoever loaded it unloads it; `false` if the loader refused or knows no such module.
///
/// A plugin needs this: an engine thread's last instructions, after it has told its
/// [`crate::engine::ThreadGroup`] that it is done, are still code of the plugin's library, and
/// a host that unloads the library right after destroying the instance would pull that code
/// away (Windows' `FreeLibrary` does; seen as a page fault under wine). Unix pins with
/// `dlopen(RTLD_NOLOAD | RTLD_NODELETE)`, Windows with `GET_MODULE_HANDLE_EX_FLAG_PIN`.
pub fn pin_module_of(address: *const c_void) -> bool {
    imp::pin_module_of(address)
}

/// Loads the library at `path` (absolute) so that the libraries it imports are looked for in
/// its own folder first, and keeps it loaded for the life of the process; a later load of the
/// same path (`libloading`'s, in `openvino-sys`) then gets this module. Windows:
/// `LoadLibraryExW(LOAD_WITH_ALTERED_SEARCH_PATH)` on the full path (made absolute, with
/// backslashes: the flag's search is undefined for relative paths and `/`). Unix: nothing to
/// do (the libraries' `$ORIGIN` rpath finds their neighbours), `Ok`. The error is one line,
/// e.g. `LoadLibraryExW failed: error 126 (the module or a DLL it imports was not found)`.
pub fn load_with_its_folder(path: &Path) -> Result<(), String> {
    imp::load_with_its_folder(path)
}

/// What a Windows loader error code means, for the few a library load returns (the code alone
/// is what `GetLastError` gives; wine has no message table for `FormatMessageW` to read).
pub fn windows_load_error(code: u32) -> String {
    let meaning = match code {
        2 | 3 => "the file was not found",
        5 => "access denied",
        126 => "the module or a DLL it imports was not found",
        127 => "a DLL it imports lacks a function it needs",
        193 => "not a 64-bit Windows DLL",
        1114 => "a DLL's initialisation failed",
        _ => "see the Windows system error codes",
    };
    format!("LoadLibraryExW failed: error {code} ({meaning})")
}

#[cfg(unix)]
mod imp {
    use super::*;
    use std::ffi::{CString, OsStr};
    use std::os::unix::ffi::OsStrExt;

    pub fn load_with_its_folder(_path: &Path) -> Result<(), String> {
        Ok(())
    }

    pub fn with_loaded_symbol<R>(
        path: &Path,
        symbol: &CStr,
        f: impl FnOnce(*const c_void) -> R,
    ) -> Result<R, SymbolError> {
        let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| SymbolError::BadPath)?;
        // SAFETY: plain libc calls with valid C strings; `RTLD_NOLOAD` only returns a handle to
        // a library that is already loaded, and the handle is closed after `f` returned.
        unsafe {
            let handle = libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
            if handle.is_null() {
                return Err(SymbolError::NotLoaded);
            }
            let sym = libc::dlsym(handle, symbol.as_ptr());
            let result = if sym.is_null() {
                Err(SymbolError::Missing(symbol.to_string_lossy().into_owned()))
            } else {
                Ok(f(sym.cast_const()))
            };
            libc::dlclose(handle);
            result
        }
    }

    pub fn pin_module_of(address: *const c_void) -> bool {
        let Some(file) = module_file_of(address) else {
            return false;
        };
        let Ok(c_path) = CString::new(file.as_os_str().as_bytes()) else {
            return false;
        };
        // SAFETY: `RTLD_NOLOAD` only returns a handle to a library already loaded;
        // `RTLD_NODELETE` marks it never to be unloaded. The handle is kept on purpose (closing
        // it would be harmless too: NODELETE outlives it).
        let handle = unsafe {
            libc::dlopen(
                c_path.as_ptr(),
                libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
            )
        };
        !handle.is_null()
    }

    pub fn module_file_of(address: *const c_void) -> Option<PathBuf> {
        // SAFETY: `dladdr` only reads the address and fills `info`.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::dladdr(address, &mut info) };
        if ok == 0 || info.dli_fname.is_null() {
            return None;
        }
        // SAFETY: `dli_fname` points to a NUL-terminated string owned by the dynamic loader.
        let name = unsafe { CStr::from_ptr(info.dli_fname) };
        Some(PathBuf::from(OsStr::from_bytes(name.to_bytes())))
    }
}

#[cfg(windows)]
mod imp {
    use super::*;
    use std::ffi::OsString;
    use std::os::windows::ffi::{OsStrExt, OsStringExt};
    use windows_sys::Win32::Foundation::{GetLastError, HMODULE};
    use windows_sys::Win32::System::LibraryLoader::{
        GetModuleFileNameW, GetModuleHandleExW, GetModuleHandleW, GetProcAddress, LoadLibraryExW,
        GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, GET_MODULE_HANDLE_EX_FLAG_PIN,
        GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT, LOAD_WITH_ALTERED_SEARCH_PATH,
    };

    pub fn load_with_its_folder(path: &Path) -> Result<(), String> {
        let full = std::path::absolute(path)
            .map_err(|e| format!("cannot make {} absolute: {e}", path.display()))?;
        let wide: Vec<u16> = loader_path(&full).as_os_str().encode_wide().collect();
        if wide.contains(&0) {
            return Err("path contains a NUL character".into());
        }
        let wide: Vec<u16> = wide.into_iter().chain(Some(0)).collect();
        // SAFETY: a NUL-terminated wide path; the module handle is kept on purpose (the library
        // stays loaded for the process, as `openvino-sys` keeps its own handle).
        let module = unsafe {
            LoadLibraryExW(
                wide.as_ptr(),
                std::ptr::null_mut(),
                LOAD_WITH_ALTERED_SEARCH_PATH,
            )
        };
        if module.is_null() {
            // SAFETY: reads the calling thread's last error, set by the failed call.
            return Err(windows_load_error(unsafe { GetLastError() }));
        }
        Ok(())
    }

    pub fn with_loaded_symbol<R>(
        path: &Path,
        symbol: &CStr,
        f: impl FnOnce(*const c_void) -> R,
    ) -> Result<R, SymbolError> {
        let wide: Vec<u16> = path.as_os_str().encode_wide().collect();
        if wide.contains(&0) {
            return Err(SymbolError::BadPath);
        }
        let wide: Vec<u16> = wide.into_iter().chain(Some(0)).collect();
        // SAFETY: `GetModuleHandleW` only compares the NUL-terminated name with the modules
        // already mapped and takes no reference; the library stays loaded because whoever
        // loaded it (`ort`) keeps its handle for the life of the process.
        unsafe {
            let module = GetModuleHandleW(wide.as_ptr());
            if module.is_null() {
                return Err(SymbolError::NotLoaded);
            }
            match GetProcAddress(module, symbol.as_ptr().cast()) {
                Some(sym) => Ok(f(sym as *const c_void)),
                None => Err(SymbolError::Missing(symbol.to_string_lossy().into_owned())),
            }
        }
    }

    pub fn pin_module_of(address: *const c_void) -> bool {
        let mut module: HMODULE = std::ptr::null_mut();
        // SAFETY: with FROM_ADDRESS the "name" is an address inside the module; PIN keeps the
        // module loaded until the process ends, so there is nothing to free.
        let ok = unsafe {
            GetModuleHandleExW(
                GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                address.cast(),
                &mut module,
            )
        };
        ok != 0 && !module.is_null()
    }

    pub fn module_file_of(address: *const c_void) -> Option<PathBuf> {
        let mut module: HMODULE = std::ptr::null_mut();
        // SAFETY: with FROM_ADDRESS the "name" is an address inside the module; UNCHANGED_REFCOUNT
        // takes no reference, so there is nothing to free.
        let ok = unsafe {
            GetModuleHandleExW(
                GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS
                    | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                address.cast(),
                &mut module,
            )
        };
        if ok == 0 || module.is_null() {
            return None;
        }
        // Paths may be longer than MAX_PATH; grow until the name fits (the call truncates and
        // returns the buffer size when it does not).
        let mut buf = vec![0u16; 512];
        loop {
            // SAFETY: `buf` is writable for `buf.len()` UTF-16 units.
            let len = unsafe { GetModuleFileNameW(module, buf.as_mut_ptr(), buf.len() as u32) };
            let len = len as usize;
            if len == 0 {
                return None;
            }
            if len < buf.len() {
                return Some(PathBuf::from(OsString::from_wide(&buf[..len])));
            }
            if buf.len() >= 1 << 16 {
                return None;
            }
            buf.resize(buf.len() * 2, 0);
        }
    }
}

#[cfg(not(any(unix, windows)))]
mod imp {
    use super::*;

    pub fn load_with_its_folder(_path: &Path) -> Result<(), String> {
        Ok(())
    }

    pub fn with_loaded_symbol<R>(
        _path: &Path,
        _symbol: &CStr,
        _f: impl FnOnce(*const c_void) -> R,
    ) -> Result<R, SymbolError> {
        Err(SymbolError::NotLoaded)
    }

    pub fn module_file_of(_address: *const c_void) -> Option<PathBuf> {
        None
    }

    pub fn pin_module_of(_address: *const c_void) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker() {}

    #[test]
    fn the_module_of_a_function_here_is_this_test_binary() {
        let module = module_file_of(marker as *const c_void).expect("the loader knows this binary");
        let exe = std::env::current_exe().unwrap();
        assert_eq!(
            std::fs::canonicalize(module).unwrap(),
            std::fs::canonicalize(exe).unwrap()
        );
    }

    #[test]
    fn a_loaded_module_can_be_pinned_and_heap_memory_cannot() {
        // Unix: a shared library (the executable itself may be known only by a relative
        // argv[0]); Windows: this test binary, by an address of its own.
        #[cfg(unix)]
        let inside = libc::strlen as *const c_void;
        #[cfg(not(unix))]
        let inside = marker as *const c_void;
        assert!(pin_module_of(inside));
        // Heap memory belongs to no module.
        let heap = vec![0u8; 1 << 20];
        assert!(!pin_module_of(heap.as_ptr().cast()));
    }

    /// A system library every test process has loaded, and one of its exports.
    #[cfg(unix)]
    fn loaded_system_library() -> (PathBuf, &'static CStr) {
        let module = module_file_of(libc::strlen as *const c_void).expect("libc's file");
        (module, c"strlen")
    }

    /// Every Windows process has `kernel32.dll` mapped; named here with forward slashes and
    /// in another case, as a user might write it, to exercise [`loader_path`].
    #[cfg(windows)]
    fn loaded_system_library() -> (PathBuf, &'static CStr) {
        let root = std::env::var("SystemRoot").unwrap_or_else(|_| r"C:\windows".into());
        let module = PathBuf::from(format!("{}/SYSTEM32/Kernel32.DLL", root.replace('\\', "/")));
        (module, c"GetProcAddress")
    }

    #[cfg(any(unix, windows))]
    #[test]
    fn a_loaded_library_s_symbol_is_found_by_its_path() {
        let (library, symbol) = loaded_system_library();
        let found = with_loaded_symbol(&library, symbol, |p| !p.is_null()).unwrap();
        assert!(found, "{}", library.display());
        assert_eq!(
            with_loaded_symbol(&library, c"no_such_symbol_danna", |_| ()),
            Err(SymbolError::Missing("no_such_symbol_danna".into()))
        );
    }

    #[test]
    fn a_library_that_is_not_loaded_is_not_loaded_by_the_lookup() {
        let dir = crate::paths::module_dirs().remove(0);
        let absent = dir.join(if cfg!(windows) {
            "danna_absent.dll"
        } else {
            "libdanna_absent.so"
        });
        assert_eq!(
            with_loaded_symbol(&absent, c"OrtGetApiBase", |_| ()),
            Err(SymbolError::NotLoaded)
        );
    }

    #[test]
    fn a_windows_load_error_names_its_code_and_meaning() {
        assert_eq!(
            windows_load_error(126),
            "LoadLibraryExW failed: error 126 (the module or a DLL it imports was not found)"
        );
        assert!(windows_load_error(4242).starts_with("LoadLibraryExW failed: error 4242 ("));
    }

    /// The Windows case the function exists for, run under wine by the Windows stage: the
    /// checkout's `openvino_c.dll` (`cargo xtask setup --windows`) imports `openvino.dll`, which
    /// lies only in its own folder, never in this test executable's; a missing file is an
    /// error, not a crash.
    #[cfg(windows)]
    #[test]
    fn a_dll_s_imports_are_found_in_its_own_folder() {
        let missing = crate::paths::module_dirs()
            .remove(0)
            .join("danna_absent.dll");
        let err = load_with_its_folder(&missing).unwrap_err();
        assert!(err.starts_with("LoadLibraryExW failed: error "), "{err}");
        let Some(lib) = crate::paths::dev_openvino_lib().filter(|p| p.is_file()) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI provisions .deps/windows/openvino"
            );
            eprintln!("SKIPPED: no .deps/windows/openvino (run `cargo xtask setup --windows`)");
            return;
        };
        load_with_its_folder(&lib).unwrap();
        let full = std::path::absolute(&lib).unwrap();
        let found = with_loaded_symbol(&full, c"ov_core_create", |p| !p.is_null());
        assert_eq!(found, Ok(true), "{}", full.display());
    }

    #[cfg(unix)]
    #[test]
    fn unix_needs_no_preload() {
        assert_eq!(load_with_its_folder(Path::new("/nonexistent.so")), Ok(()));
    }

    #[test]
    fn windows_paths_get_backslashes_and_lose_the_verbatim_prefix() {
        assert_eq!(
            windows_loader_path(r"\\?\C:\Program Files\Common Files\CLAP\onnxruntime.dll"),
            r"C:\Program Files\Common Files\CLAP\onnxruntime.dll"
        );
        assert_eq!(
            windows_loader_path("C:/plugins/onnxruntime.dll"),
            r"C:\plugins\onnxruntime.dll"
        );
        // A verbatim UNC path has no shorter form that means the same; it is kept.
        assert_eq!(
            windows_loader_path(r"\\?\UNC\server\share\x.dll"),
            r"\\?\UNC\server\share\x.dll"
        );
    }
}
