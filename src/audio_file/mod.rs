//! Audio files for the CLI: decoding any supported input as a stream of stereo frames
//! ([`AudioSource`]), writing the four stems as WAV files ([`StemWriter`]) and streaming sample
//! rate conversion for the written stems ([`StreamResampler`]).
//!
//! Everything here works block by block, so memory stays bounded whatever the file length: the
//! engine pulls input frames as it needs them and pushes stem frames as they are ready.

mod resample;
mod source;
mod writer;

pub use resample::StreamResampler;
pub use source::{AudioInfo, AudioSource};
pub use writer::{BitDepth, StemWriter};
