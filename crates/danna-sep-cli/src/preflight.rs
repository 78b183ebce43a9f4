//! What `separate` checks before any work, so that a bad input among many fails the run before
//! the first file is separated and nothing is ever overwritten or half written:
//! - every input can be decoded (probed), holds audio at a sample rate the engine supports, and
//!   its stems fit in WAV files;
//! - no two inputs write the same stem files, and no stem file (or its `.part`) is one of the
//!   inputs, compared as files (device and inode on Unix, so symbolic and hard links count;
//!   elsewhere the canonical path, so symbolic links count: std has no stable file index on
//!   Windows).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::audio_file::{
    check_stem_size, part_path, stem_paths, AudioFileError, AudioInfo, AudioSource, BitDepth,
};

/// Lowest input sample rate (telephone audio); below it the engine's windows are too short.
pub const MIN_RATE: u32 = 8_000;
/// Highest input sample rate: 768 kHz, the highest rate audio interfaces offer; above it a
/// window's buffers grow past what the engine is sized for.
pub const MAX_RATE: u32 = 768_000;

/// Refuses a sample rate outside [`MIN_RATE`]..=[`MAX_RATE`].
pub fn check_rate(rate: u32) -> Result<(), String> {
    if (MIN_RATE..=MAX_RATE).contains(&rate) {
        Ok(())
    } else {
        Err(format!(
            "sample rate {rate} Hz is outside the supported {MIN_RATE} to {MAX_RATE} Hz"
        ))
    }
}

/// The `<name>` of `<name>_<stem>.wav`.
pub fn stem_name(input: &Path) -> String {
    input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into())
}

/// Fails when two inputs would write the same stem files or a stem file written into `out`
/// (final or partial) is one of the inputs. Reads only file metadata.
pub fn check_outputs(inputs: &[PathBuf], out: &Path) -> Result<(), String> {
    let mut names: HashMap<String, &Path> = HashMap::new();
    for input in inputs {
        if let Some(other) = names.insert(stem_name(input), input) {
            return Err(format!(
                "{} and {} would write the same stem files",
                other.display(),
                input.display()
            ));
        }
    }
    // The identity of every input that exists; a missing one fails later, when probed.
    let ids: Vec<(FileId, &PathBuf)> = inputs
        .iter()
        .filter_map(|p| file_id(p).map(|id| (id, p)))
        .collect();
    for input in inputs {
        for path in stem_paths(out, &stem_name(input)) {
            for written in [part_path(&path), path] {
                // Follows links: writing through a link to an input would overwrite it.
                let Some(written_id) = file_id(&written) else {
                    continue;
                };
                if let Some((_, victim)) = ids.iter().find(|(id, _)| *id == written_id) {
                    return Err(format!(
                        "{}: the stems of {} would overwrite this input (as {}); choose another \
                         output folder with -o",
                        victim.display(),
                        input.display(),
                        written.display()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// What identifies a file, links followed: (device, inode) on Unix.
#[cfg(unix)]
type FileId = (u64, u64);

/// What identifies a file, links followed: its canonical path where std offers no file index.
#[cfg(not(unix))]
type FileId = PathBuf;

/// The [`FileId`] of `path`, `None` if it does not exist.
#[cfg(unix)]
fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The [`FileId`] of `path`, `None` if it does not exist.
#[cfg(not(unix))]
fn file_id(path: &Path) -> Option<FileId> {
    std::fs::canonicalize(path).ok()
}

/// Probes `input` and checks that it can be separated and written: audio present, a supported
/// rate, stems within the WAV size limit at `out_rate` (`None`: the input's) in `depth`.
pub fn check_input(
    input: &Path,
    out_rate: Option<u32>,
    depth: BitDepth,
) -> Result<(), AudioFileError> {
    check_info(&AudioSource::open(input)?.info(), out_rate, depth)
}

/// [`check_input`] on an input already opened.
pub fn check_info(
    info: &AudioInfo,
    out_rate: Option<u32>,
    depth: BitDepth,
) -> Result<(), AudioFileError> {
    if info.frames == 0 {
        return Err("contains no audio".into());
    }
    check_rate(info.sample_rate)?;
    check_stem_size(
        info.frames,
        info.channels.min(2),
        info.sample_rate,
        out_rate.unwrap_or(info.sample_rate),
        depth,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_outside_8_to_768_khz_are_refused() {
        for ok in [8_000, 44_100, 768_000] {
            check_rate(ok).unwrap();
        }
        for bad in [0, 1, 7_999, 768_001, 4_000_000_000] {
            let err = check_rate(bad).unwrap_err();
            assert!(err.contains(&format!("{bad} Hz")), "{err}");
        }
    }
}
