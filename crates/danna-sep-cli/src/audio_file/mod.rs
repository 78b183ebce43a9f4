//! Audio files for the CLI: decoding any supported input as a stream of stereo frames
//! ([`AudioSource`]), writing the four stems as WAV files ([`StemWriter`]) and streaming sample
//! rate conversion for the written stems ([`StreamResampler`]); `partial` lists the `*.part`
//! files on disk so that nothing can leave one behind.
//!
//! Everything here works block by block, so memory stays bounded whatever the file length: the
//! engine pulls input frames as it needs them and pushes stem frames as they are ready.

pub(crate) mod partial;
mod source;
mod stream_resampler;
mod writer;

pub use source::{AudioInfo, AudioSource};
pub use stream_resampler::StreamResampler;
pub use writer::{check_stem_size, part_path, stem_paths, BitDepth, StemWriter};

/// Why an audio file could not be read or written: one line that names what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AudioFileError(pub String);

impl From<String> for AudioFileError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for AudioFileError {
    fn from(message: &str) -> Self {
        Self(message.to_string())
    }
}
