//! The `danna-sep` command line: offline separation of audio files through the same engine the
//! plugin runs, streaming from and to disk so memory stays bounded. [`audio_file`] decodes,
//! writes and resamples; [`cli`] wires them to the core's offline runs.

pub mod audio_file;
pub mod cli;
