//! `StreamResampler`: sample rate conversion of a stream of known length, block by block, with
//! the resampler's delay removed and an exact output length.

use super::AudioFileError;
use audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, Resampler};

/// Smallest input chunk; the chunk is an even multiple of the reduced input block.
const MIN_CHUNK: usize = 1024;

/// Converts `channels` planar channels from one rate to another as they arrive.
///
/// The output is time-aligned with the input (output frame `m` is at time `m / to`, as input
/// frame `n` is at `n / from`) and has exactly `ceil(frames * to / from)` frames for `frames`
/// input frames, like resampling the whole clip at once would give.
pub struct StreamResampler {
    inner: Fft<f32>,
    /// Input collected for the next chunk (`fill` frames valid, the rest zeros).
    chunk: Vec<Vec<f32>>,
    fill: usize,
    out: Vec<Vec<f32>>,
    /// Leading output frames still to drop (the resampler's delay).
    skip: usize,
    /// Output frames still to hand out.
    remaining: usize,
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz for a stream of `frames` frames.
    pub fn new(from: u32, to: u32, channels: usize, frames: usize) -> Result<Self, AudioFileError> {
        let inner = danna_sep_core::dsp::even_fft_resampler(from, to, channels, MIN_CHUNK)
            .map_err(|e| format!("resampler {from} -> {to} Hz: {e}"))?;
        let chunk_len = inner.input_frames_max();
        let out_len = inner.output_frames_max();
        let remaining = Self::output_frames(frames, from, to);
        Ok(Self {
            skip: inner.output_delay(),
            inner,
            chunk: vec![vec![0.0; chunk_len]; channels],
            fill: 0,
            out: vec![vec![0.0; out_len]; channels],
            remaining: usize::try_from(remaining).map_err(|_| "stream too long")?,
        })
    }

    /// The output length for `frames` input frames: `ceil(frames * to / from)`.
    pub fn output_frames(frames: usize, from: u32, to: u32) -> u64 {
        (frames as u64)
            .saturating_mul(u64::from(to))
            .div_ceil(u64::from(from))
    }

    /// Output frames not handed out yet.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Takes input frames (one slice per channel, equal lengths) and calls `emit` with every
    /// output frame that is ready (one slice per channel).
    pub fn push<E: From<AudioFileError>>(
        &mut self,
        input: &[&[f32]],
        mut emit: impl FnMut(&[&[f32]]) -> Result<(), E>,
    ) -> Result<(), E> {
        debug_assert_eq!(input.len(), self.chunk.len());
        let len = input.first().map_or(0, |c| c.len());
        let mut pos = 0;
        while pos < len {
            let n = (self.inner.input_frames_next() - self.fill).min(len - pos);
            for (dst, src) in self.chunk.iter_mut().zip(input) {
                dst[self.fill..self.fill + n].copy_from_slice(&src[pos..pos + n]);
            }
            self.fill += n;
            pos += n;
            if self.fill == self.inner.input_frames_next() {
                self.process(&mut emit)?;
            }
        }
        Ok(())
    }

    /// Ends the stream: flushes the resampler with silence until the last output frame is
    /// handed to `emit`.
    pub fn finish<E: From<AudioFileError>>(
        &mut self,
        mut emit: impl FnMut(&[&[f32]]) -> Result<(), E>,
    ) -> Result<(), E> {
        while self.remaining > 0 {
            self.process(&mut emit)?;
        }
        Ok(())
    }

    /// Resamples the collected chunk (zero-padded) and emits its output after the delay.
    fn process<E: From<AudioFileError>>(
        &mut self,
        emit: &mut impl FnMut(&[&[f32]]) -> Result<(), E>,
    ) -> Result<(), E> {
        let need = self.inner.input_frames_next();
        for c in &mut self.chunk {
            c[self.fill..need].fill(0.0);
        }
        self.fill = 0;
        let channels = self.chunk.len();
        let input = SequentialSliceOfVecs::new(&self.chunk, channels, need)
            .map_err(|e| AudioFileError(format!("resampler input: {e}")))?;
        let out_len = self.out[0].len();
        let mut output = SequentialSliceOfVecs::new_mut(&mut self.out, channels, out_len)
            .map_err(|e| AudioFileError(format!("resampler output: {e}")))?;
        let (_, produced) = self
            .inner
            .process_into_buffer(&input, &mut output, None)
            .map_err(|e| AudioFileError(format!("resampling failed: {e}")))?;
        let skip = self.skip.min(produced);
        self.skip -= skip;
        let n = (produced - skip).min(self.remaining);
        if n > 0 {
            let frames: Vec<&[f32]> = self.out.iter().map(|c| &c[skip..skip + n]).collect();
            emit(&frames)?;
            self.remaining -= n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(n: usize, rate: u32, freq: f64, offset: f64) -> Vec<f32> {
        (0..n)
            .map(|i| {
                (0.5 * (std::f64::consts::TAU * freq * (i as f64 / f64::from(rate) + offset)).sin())
                    as f32
            })
            .collect()
    }

    /// Runs `input` through a stream resampler in blocks of `block` frames.
    fn run(from: u32, to: u32, input: &[Vec<f32>], block: usize) -> Vec<Vec<f32>> {
        let frames = input[0].len();
        let mut r = StreamResampler::new(from, to, input.len(), frames).unwrap();
        let mut out = vec![Vec::new(); input.len()];
        let mut collect = |f: &[&[f32]]| -> Result<(), AudioFileError> {
            for (o, f) in out.iter_mut().zip(f) {
                o.extend_from_slice(f);
            }
            Ok(())
        };
        let mut pos = 0;
        while pos < frames {
            let n = block.min(frames - pos);
            let slices: Vec<&[f32]> = input.iter().map(|c| &c[pos..pos + n]).collect();
            r.push(&slices, &mut collect).unwrap();
            pos += n;
        }
        r.finish(&mut collect).unwrap();
        assert_eq!(r.remaining(), 0);
        out
    }

    #[test]
    fn output_length_is_exact_for_any_length_and_block_size() {
        for (from, to) in [
            (48_000u32, 44_100u32),
            (22_050, 44_100),
            (96_000, 44_100),
            (8_000, 44_100),
        ] {
            for frames in [0usize, 1, 7, 999, 4_097, 20_011] {
                for block in [1usize, 333, 4_096] {
                    if block == 1 && frames > 5_000 {
                        continue;
                    }
                    let input = vec![vec![0.25f32; frames]; 2];
                    let out = run(from, to, &input, block);
                    let want = (frames as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
                    assert_eq!(
                        out[0].len(),
                        want,
                        "{from} -> {to}, {frames} frames, block {block}"
                    );
                    assert_eq!(out[1].len(), want);
                }
            }
        }
    }

    #[test]
    fn a_sine_keeps_its_frequency_and_alignment() {
        for from in [48_000u32, 32_000, 96_000, 44_056] {
            let frames = from as usize;
            for freq in [100.0, 1_000.0, 9_000.0] {
                let input = vec![
                    sine(frames, from, freq, 0.0),
                    sine(frames, from, freq, 0.25e-3),
                ];
                let out = run(from, 44_100, &input, 4_096);
                let want = [
                    sine(out[0].len(), 44_100, freq, 0.0),
                    sine(out[0].len(), 44_100, freq, 0.25e-3),
                ];
                // Away from the ends, where the stream starts and stops abruptly.
                let edge = 2_000;
                for ch in 0..2 {
                    let err = (edge..out[ch].len() - edge)
                        .map(|i| (out[ch][i] - want[ch][i]).abs())
                        .fold(0.0f32, f32::max);
                    assert!(
                        err < 1e-3,
                        "{from} Hz, {freq} Hz, channel {ch}: error {err}"
                    );
                }
            }
        }
    }

    #[test]
    fn block_size_does_not_change_the_output() {
        let input = vec![sine(30_000, 48_000, 440.0, 0.0)];
        let a = run(48_000, 44_100, &input, 4_096);
        let b = run(48_000, 44_100, &input, 77);
        assert_eq!(a, b);
    }
}
