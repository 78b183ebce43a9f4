//! SHA-256 of model files, cached in-process so that loading the same model set again (a
//! re-activation, a second plugin instance, a model swap) costs one `stat` per file, not a
//! hash of tens of megabytes.
//!
//! The cache is keyed by the canonical path and trusts an entry while the file's size and
//! modification time (on Unix also its device, inode and change time, which `touch` cannot
//! set back) are unchanged. File systems stamp times at a coarse granularity, so a file
//! written again within the same tick as it was hashed would look unchanged; an entry is
//! therefore only kept when the file was last modified and changed [`RACY_WINDOW`] or more
//! before it was hashed (the "racily clean" rule of git's index), and a younger file is
//! hashed every time.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

/// A file modified less than this before it was hashed is not cached.
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

/// What identifies one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: SystemTime,
    #[cfg(unix)]
    inode: (u64, u64),
    #[cfg(unix)]
    changed: (i64, i64),
}

impl Stamp {
    /// The later of the modification and the change time.
    fn newest(&self) -> SystemTime {
        #[cfg(unix)]
        {
            let changed = u64::try_from(self.changed.0).ok().and_then(|s| {
                let nanos = u32::try_from(self.changed.1).ok()?;
                SystemTime::UNIX_EPOCH.checked_add(Duration::new(s, nanos))
            });
            // A change time before 1970 cannot be trusted to order anything.
            changed.map_or(SystemTime::now(), |c| c.max(self.modified))
        }
        #[cfg(not(unix))]
        self.modified
    }

    fn of(meta: &fs::Metadata) -> io::Result<Self> {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Ok(Self {
            len: meta.len(),
            modified: meta.modified()?,
            #[cfg(unix)]
            inode: (meta.dev(), meta.ino()),
            #[cfg(unix)]
            changed: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

/// Whether [`DigestCache::sha256`] read the file or reused an earlier digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The file was read and hashed.
    Hashed,
    /// The file is unchanged since it was hashed; the digest was reused.
    Cached,
}

/// SHA-256 digests by canonical path (see the module docs).
#[derive(Debug, Default)]
pub struct DigestCache {
    entries: Mutex<BTreeMap<PathBuf, (Stamp, String)>>,
}

/// The process-wide cache [`crate::modelset::ModelSet::load`] uses.
pub static CACHE: DigestCache = DigestCache::new();

impl DigestCache {
    /// An empty cache.
    pub const fn new() -> Self {
        Self {
            entries: Mutex::new(BTreeMap::new()),
        }
    }

    /// The SHA-256 of `path` as 64 lowercase hex digits, and whether it was computed now.
    /// Never on the audio thread: it reads the file (or at least `stat`s it) and allocates.
    pub fn sha256(&self, path: &Path) -> io::Result<(String, Source)> {
        self.sha256_at(path, SystemTime::now())
    }

    /// [`Self::sha256`], with `hashed_at` the time the file is read if it is (tests move it
    /// forward instead of waiting for [`RACY_WINDOW`] to pass).
    fn sha256_at(&self, path: &Path, hashed_at: SystemTime) -> io::Result<(String, Source)> {
        let path = fs::canonicalize(path)?;
        let before = Stamp::of(&fs::metadata(&path)?)?;
        if let Some((stamp, digest)) = self.entries.lock().get(&path) {
            if *stamp == before {
                return Ok((digest.clone(), Source::Cached));
            }
        }
        // Not under the lock: hashing takes a while and other sets may load meanwhile.
        let digest = hash_file(&path)?;
        let after = Stamp::of(&fs::metadata(&path)?)?;
        let settled = before
            .newest()
            .checked_add(RACY_WINDOW)
            .is_some_and(|t| t <= hashed_at);
        let mut entries = self.entries.lock();
        if after == before && settled {
            entries.insert(path, (after, digest.clone()));
        } else {
            entries.remove(&path);
        }
        Ok((digest, Source::Hashed))
    }
}

fn hash_file(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file in a fresh temporary folder, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(contents: &[u8]) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "danna-digest-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&dir).unwrap();
            let file = TempFile(dir.join("model.onnx"));
            file.write(contents, 3600);
            file
        }

        /// Writes `contents` and dates the file `age_s` seconds back.
        fn write(&self, contents: &[u8], age_s: u64) {
            fs::write(&self.0, contents).unwrap();
            let when = SystemTime::now() - Duration::from_secs(age_s);
            let f = fs::File::options().write(true).open(&self.0).unwrap();
            f.set_modified(when).unwrap();
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(self.0.parent().unwrap());
        }
    }

    // `printf abc | sha256sum`
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn hashes_like_sha256sum() {
        let f = TempFile::new(b"abc");
        assert_eq!(DigestCache::new().sha256(&f.0).unwrap().0, ABC);
    }

    /// An hour from now: long after any file of the test was written.
    fn later() -> SystemTime {
        SystemTime::now() + Duration::from_secs(3600)
    }

    #[test]
    fn an_unchanged_file_is_hashed_once() {
        let f = TempFile::new(b"abc");
        let cache = DigestCache::new();
        let first = cache.sha256_at(&f.0, later()).unwrap();
        assert_eq!(first, (ABC.into(), Source::Hashed));
        let again = cache.sha256_at(&f.0, later()).unwrap();
        assert_eq!(again, (ABC.into(), Source::Cached));
    }

    #[test]
    fn a_file_rewritten_with_the_same_size_is_hashed_again() {
        let f = TempFile::new(b"abc");
        let cache = DigestCache::new();
        cache.sha256_at(&f.0, later()).unwrap();
        f.write(b"abd", 1800);
        let (digest, source) = cache.sha256_at(&f.0, later()).unwrap();
        assert_eq!(source, Source::Hashed);
        assert_ne!(digest, ABC);
    }

    #[test]
    fn a_file_changed_just_before_hashing_is_not_cached() {
        // Written (and so changed) a moment ago, however old its modification time says it is.
        let f = TempFile::new(b"abc");
        let cache = DigestCache::new();
        assert_eq!(cache.sha256(&f.0).unwrap().1, Source::Hashed);
        assert_eq!(cache.sha256(&f.0).unwrap().1, Source::Hashed);
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let f = TempFile::new(b"abc");
        fs::remove_file(&f.0).unwrap();
        assert!(DigestCache::new().sha256(&f.0).is_err());
    }
}
