//! `StemWriter`: the four stems of one input as WAV files, written as the engine delivers them.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::stream_resampler::StreamResampler;
use danna_sep_core::stems::{STEM_COUNT, STEM_IDS};

use super::AudioFileError;

/// Sample format of the written stems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitDepth {
    /// 16-bit integer.
    I16,
    /// 24-bit integer.
    I24,
    /// 32-bit float.
    F32,
}

/// Writes `<dir>/<name>_{drums,bass,other,vocals}.wav`.
///
/// Takes stereo stems block by block; writes them as stereo, or as mono (the average of both
/// channels) for a mono input, optionally resampled to another rate. The files are written
/// under a `.part` suffix and renamed by [`Self::finish`], so a failed run leaves neither
/// half-written stems nor damaged results of an earlier run; [`Self::discard`] removes them.
pub struct StemWriter {
    /// The final names, in stem order.
    paths: Vec<PathBuf>,
    /// Where they are written until `finish`.
    parts: Vec<PathBuf>,
    writers: Vec<hound::WavWriter<BufWriter<File>>>,
    channels: usize,
    depth: BitDepth,
    resampler: Option<StreamResampler>,
    /// Planar scratch for one block, `channels` per stem (mono mixdown and resampler input).
    planar: Vec<Vec<f32>>,
    /// Frames written per file.
    written: usize,
}

impl StemWriter {
    /// Creates the four files for stems of `frames` frames at `in_rate`, written with
    /// `channels` (1 or 2) channels at `out_rate`.
    pub fn create(
        dir: &Path,
        name: &str,
        channels: usize,
        in_rate: u32,
        out_rate: u32,
        depth: BitDepth,
        frames: usize,
    ) -> Result<Self, AudioFileError> {
        assert!(channels == 1 || channels == 2);
        let (bits_per_sample, sample_format) = match depth {
            BitDepth::I16 => (16, hound::SampleFormat::Int),
            BitDepth::I24 => (24, hound::SampleFormat::Int),
            BitDepth::F32 => (32, hound::SampleFormat::Float),
        };
        let spec = hound::WavSpec {
            channels: channels as u16,
            sample_rate: out_rate,
            bits_per_sample,
            sample_format,
        };
        let paths: Vec<PathBuf> = STEM_IDS
            .iter()
            .map(|stem| dir.join(format!("{name}_{stem}.wav")))
            .collect();
        let parts: Vec<PathBuf> = paths
            .iter()
            .map(|p| {
                let mut part = p.clone().into_os_string();
                part.push(".part");
                PathBuf::from(part)
            })
            .collect();
        let mut writers = Vec::with_capacity(STEM_COUNT);
        for p in &parts {
            match hound::WavWriter::create(p, spec) {
                Ok(w) => writers.push(w),
                Err(e) => {
                    drop(writers);
                    remove(&parts);
                    return Err(format!("{}: {e}", p.display()).into());
                }
            }
        }
        let resampler = if in_rate == out_rate {
            None
        } else {
            match StreamResampler::new(in_rate, out_rate, STEM_COUNT * channels, frames) {
                Ok(r) => Some(r),
                Err(e) => {
                    drop(writers);
                    remove(&parts);
                    return Err(e);
                }
            }
        };
        Ok(Self {
            paths,
            parts,
            writers,
            channels,
            depth,
            resampler,
            planar: vec![Vec::new(); STEM_COUNT * channels],
            written: 0,
        })
    }

    /// Appends one block: eight equally long slices in (stem, channel) order.
    pub fn write(&mut self, stems: [&[f32]; STEM_COUNT * 2]) -> Result<(), AudioFileError> {
        for (i, dst) in self.planar.iter_mut().enumerate() {
            dst.clear();
            if self.channels == 2 {
                dst.extend_from_slice(stems[i]);
            } else {
                let (l, r) = (stems[2 * i], stems[2 * i + 1]);
                dst.extend(l.iter().zip(r).map(|(a, b)| 0.5 * (a + b)));
            }
        }
        let Self {
            resampler,
            planar,
            writers,
            channels,
            depth,
            written,
            ..
        } = self;
        let input: Vec<&[f32]> = planar.iter().map(Vec::as_slice).collect();
        match resampler {
            Some(r) => r.push(&input, |out| {
                interleave(writers, *channels, *depth, written, out)
            }),
            None => interleave(writers, *channels, *depth, written, &input),
        }
    }

    /// Flushes the resampler, completes the files and gives them their final names; returns the
    /// frames written per file. On failure the files are removed.
    pub fn finish(mut self) -> Result<usize, AudioFileError> {
        let flushed = match self.resampler.as_mut() {
            Some(r) => {
                let (writers, channels, depth, written) = (
                    &mut self.writers,
                    self.channels,
                    self.depth,
                    &mut self.written,
                );
                r.finish(|out| interleave(writers, channels, depth, written, out))
            }
            None => Ok(()),
        };
        if let Err(e) = flushed {
            self.discard();
            return Err(e);
        }
        let writers = std::mem::take(&mut self.writers);
        for (w, p) in writers.into_iter().zip(&self.parts) {
            if let Err(e) = w.finalize() {
                remove(&self.parts);
                return Err(format!("{}: {e}", p.display()).into());
            }
        }
        for (part, path) in self.parts.iter().zip(&self.paths) {
            if let Err(e) = std::fs::rename(part, path) {
                remove(&self.parts);
                return Err(format!("{}: {e}", path.display()).into());
            }
        }
        Ok(self.written)
    }

    /// Closes and deletes the partial files (after a failure).
    pub fn discard(mut self) {
        // Dropping a hound writer completes its header; the file goes right after.
        self.writers.clear();
        remove(&self.parts);
    }
}

/// Writes planar `frames` (`channels` per stem, stems in order) to the stem files.
fn interleave(
    writers: &mut [hound::WavWriter<BufWriter<File>>],
    channels: usize,
    depth: BitDepth,
    written: &mut usize,
    frames: &[&[f32]],
) -> Result<(), AudioFileError> {
    let n = frames[0].len();
    for (s, w) in writers.iter_mut().enumerate() {
        let stem = &frames[s * channels..(s + 1) * channels];
        for i in 0..n {
            for c in stem {
                write_sample(w, depth, c[i]).map_err(|e| format!("writing stems: {e}"))?;
            }
        }
    }
    *written += n;
    Ok(())
}

fn write_sample(
    w: &mut hound::WavWriter<BufWriter<File>>,
    depth: BitDepth,
    v: f32,
) -> Result<(), hound::Error> {
    // Integer formats clip at full scale; float keeps overs (the stems may exceed the input's
    // peak when they partly cancel in the mix).
    let int = |bits: u32| (v.clamp(-1.0, 1.0) * ((1i32 << (bits - 1)) - 1) as f32).round() as i32;
    match depth {
        BitDepth::I16 => w.write_sample(int(16)),
        BitDepth::I24 => w.write_sample(int(24)),
        BitDepth::F32 => w.write_sample(v),
    }
}

/// Best-effort removal of partial files: the error that made us remove them matters more.
fn remove(paths: &[PathBuf]) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}
