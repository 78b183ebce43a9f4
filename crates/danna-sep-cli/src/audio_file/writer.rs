//! `StemWriter`: the four stems of one input as WAV files, written as the engine delivers them.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::partial;
use super::stream_resampler::StreamResampler;
use danna_sep_core::stems::{STEM_COUNT, STEM_IDS};

use super::AudioFileError;

/// The largest WAV file: its RIFF and data sizes are 32-bit fields.
const WAV_MAX_BYTES: u64 = u32::MAX as u64;
/// hound's longest header (WAVE_FORMAT_EXTENSIBLE, used for 24-bit and float).
const WAV_HEADER_BYTES: u64 = 68;

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

impl BitDepth {
    /// Bytes per sample in the file.
    pub fn bytes(self) -> u64 {
        match self {
            BitDepth::I16 => 2,
            BitDepth::I24 => 3,
            BitDepth::F32 => 4,
        }
    }
}

/// The stem files `<dir>/<name>_<stem>.wav`, in stem order.
pub fn stem_paths(dir: &Path, name: &str) -> Vec<PathBuf> {
    STEM_IDS
        .iter()
        .map(|stem| dir.join(format!("{name}_{stem}.wav")))
        .collect()
}

/// Where [`StemWriter`] writes `path` until it is complete: `path` with `.part` appended.
pub fn part_path(path: &Path) -> PathBuf {
    let mut part = path.to_path_buf().into_os_string();
    part.push(".part");
    PathBuf::from(part)
}

/// The size of one stem file of `frames` frames with `channels` channels.
pub fn stem_file_bytes(frames: u64, channels: usize, depth: BitDepth) -> u64 {
    frames
        .saturating_mul(channels as u64 * depth.bytes())
        .saturating_add(WAV_HEADER_BYTES)
}

/// Fails when one stem of `frames` input frames at `in_rate`, written with `channels` channels
/// at `out_rate`, would not fit in a WAV file (4 GiB): writing it would overflow the header's
/// sizes and leave a corrupt file, so it is refused before anything is written.
pub fn check_stem_size(
    frames: usize,
    channels: usize,
    in_rate: u32,
    out_rate: u32,
    depth: BitDepth,
) -> Result<(), AudioFileError> {
    let out_frames = StreamResampler::output_frames(frames, in_rate, out_rate);
    let bytes = stem_file_bytes(out_frames, channels, depth);
    if bytes <= WAV_MAX_BYTES {
        return Ok(());
    }
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    Err(format!(
        "each stem would take {:.2} GiB, more than a WAV file can hold ({:.0} GiB); write \
         fewer bits per sample or split the input",
        gib(bytes),
        gib(WAV_MAX_BYTES + 1)
    )
    .into())
}

/// Writes `<dir>/<name>_{drums,bass,other,vocals}.wav`.
///
/// Takes stereo stems block by block; writes them as stereo, or as mono (the average of both
/// channels) for a mono input, optionally resampled to another rate. The files are written
/// under a `.part` suffix (listed in [`partial`], which Ctrl-C empties) and renamed by
/// [`Self::finish`], so a failed run leaves neither half-written stems nor damaged results of
/// an earlier run: dropping the writer unfinished, on an error or a panic, removes them.
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
    /// Set by a successful [`Self::finish`]; until then dropping removes the partial files.
    finished: bool,
}

impl StemWriter {
    /// Creates the four files for stems of `frames` frames at `in_rate`, written with
    /// `channels` (1 or 2) channels at `out_rate`; refuses stems too long for a WAV file
    /// ([`check_stem_size`]) before creating any.
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
        check_stem_size(frames, channels, in_rate, out_rate, depth)?;
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
        let paths = stem_paths(dir, name);
        let parts: Vec<PathBuf> = paths.iter().map(|p| part_path(p)).collect();
        let resampler = if in_rate == out_rate {
            None
        } else {
            Some(StreamResampler::new(
                in_rate,
                out_rate,
                STEM_COUNT * channels,
                frames,
            )?)
        };
        let mut writer = Self {
            paths,
            parts: Vec::with_capacity(STEM_COUNT),
            writers: Vec::with_capacity(STEM_COUNT),
            channels,
            depth,
            resampler,
            planar: vec![Vec::new(); STEM_COUNT * channels],
            written: 0,
            finished: false,
        };
        // On an error, dropping `writer` removes the files created so far.
        for p in parts {
            let file = partial::create(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let header = hound::WavWriter::new(BufWriter::new(file), spec)
                .map_err(|e| format!("{}: {e}", p.display()));
            writer.parts.push(p);
            writer.writers.push(header?);
        }
        Ok(writer)
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
    /// frames written per file. On failure the partial files are removed.
    pub fn finish(mut self) -> Result<usize, AudioFileError> {
        if let Some(r) = self.resampler.as_mut() {
            let (writers, channels, depth, written) = (
                &mut self.writers,
                self.channels,
                self.depth,
                &mut self.written,
            );
            r.finish(|out| interleave(writers, channels, depth, written, out))?;
        }
        let writers = std::mem::take(&mut self.writers);
        for (w, p) in writers.into_iter().zip(&self.parts) {
            w.finalize().map_err(|e| format!("{}: {e}", p.display()))?;
        }
        for (part, path) in self.parts.iter().zip(&self.paths) {
            partial::promote(part, path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        self.finished = true;
        Ok(self.written)
    }
}

impl Drop for StemWriter {
    fn drop(&mut self) {
        if !self.finished {
            // Dropping a hound writer completes its header; the file goes right after.
            self.writers.clear();
            partial::remove(&self.parts);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_up_to_the_wav_limit_pass_and_longer_ones_are_refused() {
        // 2^30 - 18 stereo 16-bit frames and the header: 2^32 - 4 bytes, the most that fit in
        // whole frames; one frame more is 2^32.
        let fits = (1usize << 30) - 18;
        assert_eq!(
            stem_file_bytes(fits as u64, 2, BitDepth::I16),
            WAV_MAX_BYTES - 3
        );
        check_stem_size(fits, 2, 44_100, 44_100, BitDepth::I16).unwrap();
        let err = check_stem_size(fits + 1, 2, 44_100, 44_100, BitDepth::I16).unwrap_err();
        assert!(err.0.contains("4 GiB"), "{err}");
        // The same input fits as 16-bit but not as float, mono but not stereo.
        let frames = 1_500_000_000;
        check_stem_size(frames, 1, 44_100, 44_100, BitDepth::I16).unwrap();
        assert!(check_stem_size(frames, 1, 44_100, 44_100, BitDepth::F32).is_err());
        assert!(check_stem_size(frames, 2, 44_100, 44_100, BitDepth::I16).is_err());
        // Resampling counts: 8 kHz up to 44.1 kHz is 5.5 times the frames.
        let frames = 200_000_000;
        check_stem_size(frames, 1, 8_000, 8_000, BitDepth::F32).unwrap();
        let err = check_stem_size(frames, 1, 8_000, 44_100, BitDepth::F32).unwrap_err();
        assert!(err.0.starts_with("each stem would take 4.11 GiB"), "{err}");
        assert!(check_stem_size(usize::MAX, 2, 8_000, 768_000, BitDepth::F32).is_err());
    }
}
