//! The partial (`*.part`) files the CLI has on disk, in one process-wide list, so that whatever
//! ends a run (an error, a panic unwinding through [`super::StemWriter`], Ctrl-C on the
//! interrupt thread) can remove them.
//!
//! Every change to the list happens together with the file operation it records, under one
//! lock: a file is never on disk and off the list, so [`remove_all`] misses none.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn live() -> MutexGuard<'static, Vec<PathBuf>> {
    // The list stays valid whatever panicked while it was held: each change is one push/retain.
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Creates (or truncates) `path` and lists it as partial.
pub fn create(path: &Path) -> io::Result<File> {
    let mut live = live();
    let file = File::create(path)?;
    live.push(path.to_path_buf());
    Ok(file)
}

/// Renames the partial file `part` to its final name `path`, which takes it off the list.
pub fn promote(part: &Path, path: &Path) -> io::Result<()> {
    let mut live = live();
    std::fs::rename(part, path)?;
    live.retain(|p| p != part);
    Ok(())
}

/// Deletes partial files and takes them off the list. Best effort: the error that made us
/// delete them matters more than a failed removal.
pub fn remove(parts: &[PathBuf]) {
    let mut live = live();
    for part in parts {
        let _ = std::fs::remove_file(part);
    }
    live.retain(|p| !parts.contains(p));
}

/// Deletes every listed file and returns the held lock, so that no partial file can appear
/// or be renamed before the caller ends the process.
pub fn remove_all() -> MutexGuard<'static, Vec<PathBuf>> {
    let mut live = live();
    for part in live.drain(..) {
        let _ = std::fs::remove_file(part);
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, since the list is process-wide.
    #[test]
    fn created_files_are_removed_by_remove_all_unless_promoted_or_removed() {
        let dir = danna_sep_testkit::TempDir::new("cli-partial");
        let scratch = |name: &str| dir.join(name);
        let (kept, done) = (scratch("kept.part"), scratch("kept.wav"));
        let (dropped, left) = (scratch("dropped.part"), scratch("left.part"));
        create(&kept).unwrap();
        create(&dropped).unwrap();
        create(&left).unwrap();
        promote(&kept, &done).unwrap();
        remove(std::slice::from_ref(&dropped));
        assert!(!dropped.exists());
        let held = remove_all();
        assert!(held.is_empty());
        drop(held);
        assert!(!left.exists(), "a listed partial file survived remove_all");
        assert!(done.exists(), "a promoted file was removed");
    }
}
