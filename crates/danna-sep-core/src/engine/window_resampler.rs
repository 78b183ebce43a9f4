//! `WindowResampler`: host-rate windows to the model rate and stems back, on the worker.
//!
//! Each window is resampled as a whole clip with rubato's synchronous FFT resampler, whose
//! startup delay `process_all_into_buffer` trims, so the result is time-aligned with the input
//! and the resampling adds no latency. Edge effects at the window ends land in the context
//! parts that are discarded.

use audioadapter_buffers::direct::{SequentialSliceOfSlices, SequentialSliceOfVecs};
use rubato::{Fft, Resampler};

use crate::dsp::even_fft_resampler;

use super::backend::StemBuffers;
use super::tier::MODEL_RATE;
use crate::error::SeparationError;
use crate::stems::STEM_COUNT;

/// Smallest input chunk; the FFT is about this long.
const MIN_CHUNK: usize = 512;

fn aligned_fft(from: u32, to: u32, channels: usize) -> Result<Fft<f32>, SeparationError> {
    even_fft_resampler(from, to, channels, MIN_CHUNK).map_err(|e| SeparationError::Resampler {
        from,
        to,
        detail: e.to_string(),
    })
}

struct Direction {
    from: u32,
    to: u32,
    resampler: Fft<f32>,
    out: Vec<Vec<f32>>,
}

impl Direction {
    fn new(
        from: u32,
        to: u32,
        channels: usize,
        input_frames: usize,
    ) -> Result<Self, SeparationError> {
        let mut resampler = aligned_fft(from, to, channels)?;
        let needed = resampler.process_all_needed_output_len(input_frames);
        Ok(Self {
            from,
            to,
            resampler,
            out: vec![vec![0.0; needed]; channels],
        })
    }

    /// Resamples `input` (one slice per channel); the result is the first frames of `self.out`.
    fn run(&mut self, input: &[&[f32]]) -> Result<usize, SeparationError> {
        let (from, to) = (self.from, self.to);
        let failed = |stage: &str, e: String| SeparationError::Resampler {
            from,
            to,
            detail: format!("{stage}: {e}"),
        };
        let frames = input[0].len();
        let channels = input.len();
        let needed = self.out[0].len();
        let adapter_in = SequentialSliceOfSlices::new(input, channels, frames)
            .map_err(|e| failed("input", e.to_string()))?;
        let mut adapter_out = SequentialSliceOfVecs::new_mut(&mut self.out, channels, needed)
            .map_err(|e| failed("output", e.to_string()))?;
        self.resampler.reset();
        let (_, produced) = self
            .resampler
            .process_all_into_buffer(&adapter_in, &mut adapter_out, frames, None)
            .map_err(|e| failed("resampling", e.to_string()))?;
        Ok(produced)
    }
}

/// Converts windows of a fixed length between the host rate and [`MODEL_RATE`].
pub struct WindowResampler {
    host_frames: usize,
    model_frames: usize,
    /// `None` when the host runs at the model rate.
    paths: Option<(Direction, Direction)>,
}

impl WindowResampler {
    /// A resampler for windows of `host_frames` frames at `host_rate`.
    pub fn new(host_rate: u32, host_frames: usize) -> Result<Self, SeparationError> {
        if host_rate == MODEL_RATE {
            return Ok(Self {
                host_frames,
                model_frames: host_frames,
                paths: None,
            });
        }
        let model_frames =
            (host_frames as u64 * MODEL_RATE as u64).div_ceil(host_rate as u64) as usize;
        let down = Direction::new(host_rate, MODEL_RATE, 2, host_frames)?;
        let up = Direction::new(MODEL_RATE, host_rate, STEM_COUNT * 2, model_frames)?;
        Ok(Self {
            host_frames,
            model_frames,
            paths: Some((down, up)),
        })
    }

    /// Window length at the model rate.
    pub fn model_frames(&self) -> usize {
        self.model_frames
    }

    /// Resamples a host window to the model rate into `out_left`/`out_right`
    /// (each [`Self::model_frames`] long).
    pub fn to_model(
        &mut self,
        host: [&[f32]; 2],
        out_left: &mut [f32],
        out_right: &mut [f32],
    ) -> Result<(), SeparationError> {
        let Some((down, _)) = self.paths.as_mut() else {
            out_left.copy_from_slice(host[0]);
            out_right.copy_from_slice(host[1]);
            return Ok(());
        };
        let produced = down.run(&host)?;
        let n = self.model_frames.min(produced);
        out_left[..n].copy_from_slice(&down.out[0][..n]);
        out_right[..n].copy_from_slice(&down.out[1][..n]);
        out_left[n..].fill(0.0);
        out_right[n..].fill(0.0);
        Ok(())
    }

    /// Resamples model-rate stems back and copies host frames `[offset, offset + len)` of each
    /// channel into `dest` (one slice per stem channel, in [`StemBuffers`] order).
    pub fn to_host(
        &mut self,
        stems: &mut StemBuffers,
        offset: usize,
        dest: &mut [&mut [f32]],
    ) -> Result<(), SeparationError> {
        let len = dest[0].len();
        debug_assert!(offset + len <= self.host_frames);
        let Some((_, up)) = self.paths.as_mut() else {
            for (d, s) in dest.iter_mut().zip(stems.channels_mut()) {
                d.copy_from_slice(&s[offset..offset + len]);
            }
            return Ok(());
        };
        let inputs: Vec<&[f32]> = (0..STEM_COUNT * 2)
            .map(|i| stems.channel(i / 2, i % 2))
            .collect();
        let produced = up.run(&inputs)?;
        for (d, src) in dest.iter_mut().zip(&up.out) {
            let avail = produced.saturating_sub(offset).min(len);
            d[..avail].copy_from_slice(&src[offset..offset + avail]);
            d[avail..].fill(0.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize, rate: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                0.5 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
                    + 0.3 * (2.0 * std::f32::consts::PI * 5000.0 * t).sin()
            })
            .collect()
    }

    #[test]
    fn fft_lengths_are_even_so_the_trimmed_delay_is_exact() {
        for rate in [22_050u32, 32_000, 48_000, 88_200, 96_000, 176_400, 192_000] {
            for (a, b) in [(rate, MODEL_RATE), (MODEL_RATE, rate)] {
                let r = aligned_fft(a, b, 1).unwrap();
                assert!(
                    r.fft_size_in().is_multiple_of(2) && r.fft_size_out().is_multiple_of(2),
                    "{a} -> {b}"
                );
            }
        }
    }

    #[test]
    fn round_trip_is_time_aligned_away_from_the_edges() {
        for rate in [22_050u32, 48_000, 96_000] {
            let n = rate as usize / 2;
            let x = tone(n, rate);
            let mut r = WindowResampler::new(rate, n).unwrap();
            let m = r.model_frames();
            let (mut l, mut rr) = (vec![0.0; m], vec![0.0; m]);
            r.to_model([&x, &x], &mut l, &mut rr).unwrap();
            // At the model rate the same tone must appear at the same time.
            let expect = tone(m, MODEL_RATE);
            let mid = m / 2;
            for i in mid..mid + 100 {
                assert!(
                    (l[i] - expect[i]).abs() < 2e-3,
                    "{rate}: {} vs {}",
                    l[i],
                    expect[i]
                );
            }
            let mut stems = StemBuffers::new(m);
            for s in 0..STEM_COUNT {
                stems.channel_mut(s, 0).copy_from_slice(&l);
                stems.channel_mut(s, 1).copy_from_slice(&rr);
            }
            let mut back = vec![vec![0.0f32; n / 2]; 8];
            let mut dest: Vec<&mut [f32]> = back.iter_mut().map(|v| v.as_mut_slice()).collect();
            r.to_host(&mut stems, n / 4, &mut dest).unwrap();
            for (i, &y) in back[7].iter().enumerate() {
                assert!((y - x[n / 4 + i]).abs() < 2e-3, "{rate} at {i}");
            }
        }
    }
}
