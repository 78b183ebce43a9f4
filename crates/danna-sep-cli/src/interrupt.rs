//! Ctrl-C (SIGINT, also SIGTERM and SIGHUP): the run stops at once, its partial files are
//! removed and the process exits with status 130.
//!
//! `ctrlc`'s signal handler only writes to a pipe; the cleanup runs on its ordinary thread,
//! which holds the partial-file list while it deletes the files, so none can appear or be
//! renamed between the cleanup and the exit.

use crate::audio_file::partial;

/// Exit status after an interruption (128 + SIGINT, the shell's convention).
pub const INTERRUPTED: i32 = 130;

/// Installs the handler, once, before any file is written.
pub fn install() -> Result<(), ctrlc::Error> {
    ctrlc::set_handler(|| {
        let _held = partial::remove_all();
        eprintln!("error: interrupted");
        // `_exit`, not `exit`: no atexit handlers or static destructors (ONNX Runtime's) run
        // while the engine's threads may still be inside a model.
        // SAFETY: `_exit` ends the process; it touches no Rust state.
        unsafe { libc::_exit(INTERRUPTED) }
    })
}
