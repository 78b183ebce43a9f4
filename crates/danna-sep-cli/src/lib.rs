//! The `danna-sep` command line: offline separation of audio files through the same engine the
//! plugin runs, streaming from and to disk so memory stays bounded. [`audio_file`] decodes,
//! writes and resamples; [`preflight`] checks every input before any work; [`cli`] wires them
//! to the core's offline runs; [`panics`] and [`interrupt`] make a bug or Ctrl-C end in one
//! line with no partial file left.

pub mod audio_file;
pub mod cli;
pub mod interrupt;
pub mod panics;
pub mod preflight;
