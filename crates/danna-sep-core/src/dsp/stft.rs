//! STFT and iSTFT with the semantics of `torch.stft` / `torch.istft` as the Danna-Sep models
//! use them (`models/README.md`, "Reference pipeline"):
//!
//! - `n_fft` 4096, hop 1024, periodic Hann window `w[n] = 0.5 − 0.5·cos(2πn/4096)`;
//! - `center=True`: reflect padding of 2048 samples at both ends, the edge sample not repeated
//!   (so the input must be longer than 2048 samples, [`MIN_LEN`]);
//! - one-sided, 2049 bins, no normalisation, `T = 1 + floor(L/1024)` frames ([`frame_count`]);
//! - inverse: c2r per frame with the imaginary parts of bins 0 and 2048 ignored (as PyTorch's
//!   c2r does), times the window, overlap-add at hop 1024, division by the overlap-added `w²`
//!   envelope, `n_fft/2` trimmed at each end: `1024·(T−1)` samples ([`istft_len`]).
//!
//! Everything is computed in `f32` / `Complex32` (complex64), as the training code does. The
//! original tool runs its iSTFT in float64 (complex128 input, float64 window) and casts the
//! result to float32; the difference is rounding only. Measured on a 3 s stereo fixture
//! (`tests/dsp_reference.rs`, `cargo test --test dsp_reference -- --nocapture`):
//!
//! - forward vs `torch.stft` (float32): max |Δ| 9.2e-5, i.e. 2.0e-7 of the peak magnitude
//!   (FFT rounding order);
//! - [`StftPlan::istft`] (f32) of norbert's Wiener output vs the tool's float64 `torch.istft`:
//!   max |Δ| 8.9e-8, i.e. 2.4e-7 of the waveform peak (the same against float32 `torch.istft`);
//! - `istft(stft(x))` vs `x`, and vs torch's float32 round trip: max |Δ| 3.0e-7.
//!
//! Nothing allocates after [`StftPlan::new`]: the FFT scratch, the padded signal and the
//! overlap-add buffers are sized there for the largest input length the plan accepts.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// FFT size (= window length).
pub const N_FFT: usize = 4096;
/// Hop between frames.
pub const HOP: usize = 1024;
/// One-sided bins per frame.
pub const BINS: usize = N_FFT / 2 + 1;
/// Reflect padding at each end (`center=True`).
pub const PAD: usize = N_FFT / 2;
/// Shortest input the forward transform accepts (reflect padding needs `L > PAD`).
pub const MIN_LEN: usize = PAD + 1;

/// Frames of the STFT of `len` samples: `1 + floor(len / 1024)`.
pub fn frame_count(len: usize) -> usize {
    1 + len / HOP
}

/// Samples the iSTFT of `frames` frames produces: `1024·(frames − 1)` (0 for 0 frames).
pub fn istft_len(frames: usize) -> usize {
    HOP * frames.saturating_sub(1)
}

/// The periodic Hann window of length [`N_FFT`] (computed in f64, rounded to f32).
pub fn hann_periodic() -> Vec<f32> {
    (0..N_FFT)
        .map(|n| {
            let phase = 2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64;
            (0.5 - 0.5 * phase.cos()) as f32
        })
        .collect()
}

/// A time-frequency buffer laid out `[channel][frame][bin]` with [`BINS`] bins per frame,
/// bins contiguous. Sized for `max_frames` at construction; [`set_frames`](Self::set_frames)
/// changes the current frame count without allocating (the layout is always dense for the
/// current count, so the contents are unspecified after a change).
#[derive(Debug, Clone, PartialEq)]
pub struct SpecBuf<T> {
    channels: usize,
    frames: usize,
    max_frames: usize,
    data: Vec<T>,
}

/// A complex (complex64) spectrogram.
pub type ComplexSpec = SpecBuf<Complex32>;
/// A magnitude (or mask, or any real) spectrogram.
pub type MagSpec = SpecBuf<f32>;

impl<T: Copy + Default> SpecBuf<T> {
    /// A zeroed buffer of `channels` channels, with room for (and set to) `max_frames` frames.
    pub fn new(channels: usize, max_frames: usize) -> Self {
        Self {
            channels,
            frames: max_frames,
            max_frames,
            data: vec![T::default(); channels * max_frames * BINS],
        }
    }

    /// Channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Current frames per channel.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Largest frame count this buffer holds.
    pub fn max_frames(&self) -> usize {
        self.max_frames
    }

    /// Sets the current frame count (no allocation).
    ///
    /// # Panics
    /// If `frames > max_frames()`.
    pub fn set_frames(&mut self, frames: usize) {
        assert!(
            frames <= self.max_frames,
            "{frames} frames exceed the buffer's capacity of {}",
            self.max_frames
        );
        self.frames = frames;
    }

    /// All current data, `[channel][frame][bin]`.
    pub fn as_slice(&self) -> &[T] {
        &self.data[..self.channels * self.frames * BINS]
    }

    /// All current data, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        let n = self.channels * self.frames * BINS;
        &mut self.data[..n]
    }

    /// One channel, `[frame][bin]`.
    pub fn channel(&self, ch: usize) -> &[T] {
        assert!(ch < self.channels);
        let n = self.frames * BINS;
        &self.data[ch * n..(ch + 1) * n]
    }

    /// One channel, mutable.
    pub fn channel_mut(&mut self, ch: usize) -> &mut [T] {
        assert!(ch < self.channels);
        let n = self.frames * BINS;
        &mut self.data[ch * n..(ch + 1) * n]
    }

    /// The [`BINS`] bins of one frame of one channel.
    pub fn frame(&self, ch: usize, t: usize) -> &[T] {
        assert!(t < self.frames);
        &self.channel(ch)[t * BINS..(t + 1) * BINS]
    }

    /// One frame, mutable.
    pub fn frame_mut(&mut self, ch: usize, t: usize) -> &mut [T] {
        assert!(t < self.frames);
        &mut self.channel_mut(ch)[t * BINS..(t + 1) * BINS]
    }
}

/// `out = |spec|` element-wise (`hypot`, as `torch.abs` of complex64). Sets `out`'s frame count.
///
/// # Panics
/// If the channel counts differ or `out` cannot hold `spec`'s frames.
pub fn magnitude(spec: &ComplexSpec, out: &mut MagSpec) {
    assert_eq!(spec.channels(), out.channels(), "channel count mismatch");
    out.set_frames(spec.frames());
    for (o, z) in out.as_mut_slice().iter_mut().zip(spec.as_slice()) {
        *o = z.norm();
    }
}

/// Forward and inverse STFT with pre-allocated scratch for inputs up to `max_len` samples
/// (see the module docs for the conventions).
pub struct StftPlan {
    max_len: usize,
    max_frames: usize,
    window: Vec<f32>,
    /// `window / N_FFT`: the c2r transform is unnormalised (torch's irfft divides by `n`);
    /// dividing by a power of two is exact, so this equals torch's order of operations.
    synth_window: Vec<f32>,
    r2c: Arc<dyn RealToComplex<f32>>,
    c2r: Arc<dyn ComplexToReal<f32>>,
    padded: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex32>,
    scratch: Vec<Complex32>,
    ola: Vec<f32>,
    envelope: Vec<f32>,
    /// Frame count `envelope` currently holds (it depends on `T` only through the right edge).
    envelope_frames: usize,
}

impl std::fmt::Debug for StftPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StftPlan")
            .field("max_len", &self.max_len)
            .field("max_frames", &self.max_frames)
            .finish_non_exhaustive()
    }
}

impl StftPlan {
    /// A plan for signals of up to `max_len` samples (and spectrograms of up to
    /// `frame_count(max_len)` frames). Allocates everything the transforms need.
    pub fn new(max_len: usize) -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let r2c = planner.plan_fft_forward(N_FFT);
        let c2r = planner.plan_fft_inverse(N_FFT);
        let scratch_len = r2c.get_scratch_len().max(c2r.get_scratch_len());
        let max_frames = frame_count(max_len);
        let padded_len = HOP * (max_frames - 1) + N_FFT;
        let window = hann_periodic();
        let synth_window = window.iter().map(|w| w / N_FFT as f32).collect();
        Self {
            max_len,
            max_frames,
            window,
            synth_window,
            r2c,
            c2r,
            padded: vec![0.0; max_len + 2 * PAD],
            frame: vec![0.0; N_FFT],
            spectrum: vec![Complex32::default(); BINS],
            scratch: vec![Complex32::default(); scratch_len],
            ola: vec![0.0; padded_len],
            envelope: vec![0.0; padded_len],
            envelope_frames: 0,
        }
    }

    /// Longest input the plan accepts.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Most frames the plan produces or accepts.
    pub fn max_frames(&self) -> usize {
        self.max_frames
    }

    /// STFT of each channel of `input` (all the same length `L`) into `out`, whose frame count
    /// is set to `frame_count(L)`. No allocation.
    ///
    /// # Panics
    /// If `out.channels() != input.len()`, the channels differ in length, `L < MIN_LEN`,
    /// `L > max_len()`, or `out` cannot hold the frames.
    pub fn stft(&mut self, input: &[&[f32]], out: &mut ComplexSpec) {
        assert_eq!(out.channels(), input.len(), "channel count mismatch");
        let len = input.first().map_or(0, |c| c.len());
        assert!(
            input.iter().all(|c| c.len() == len),
            "channels differ in length"
        );
        assert!(
            len >= MIN_LEN,
            "reflect padding needs more than {PAD} samples, got {len}"
        );
        assert!(
            len <= self.max_len,
            "{len} samples exceed the plan's {}",
            self.max_len
        );
        let frames = frame_count(len);
        out.set_frames(frames);
        for (ch, x) in input.iter().enumerate() {
            // Reflect padding without repeating the edge sample.
            let padded = &mut self.padded[..len + 2 * PAD];
            padded[PAD..PAD + len].copy_from_slice(x);
            for j in 0..PAD {
                padded[j] = x[PAD - j];
                padded[PAD + len + j] = x[len - 2 - j];
            }
            for t in 0..frames {
                let seg = &self.padded[t * HOP..t * HOP + N_FFT];
                for ((f, s), w) in self.frame.iter_mut().zip(seg).zip(&self.window) {
                    *f = s * w;
                }
                self.r2c
                    .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
                    .expect("buffer sizes are fixed at construction");
                out.frame_mut(ch, t).copy_from_slice(&self.spectrum);
            }
        }
    }

    /// iSTFT of channel `ch` of `spec` into `out`, which must be `istft_len(spec.frames())`
    /// samples long. The imaginary parts of bins 0 and 2048 are ignored. No allocation.
    ///
    /// # Panics
    /// If `spec` has no frames or more than `max_frames()`, or `out` has the wrong length.
    pub fn istft(&mut self, spec: &ComplexSpec, ch: usize, out: &mut [f32]) {
        let frames = spec.frames();
        assert!(frames >= 1, "the iSTFT needs at least one frame");
        assert!(
            frames <= self.max_frames,
            "{frames} frames exceed the plan's {}",
            self.max_frames
        );
        assert_eq!(out.len(), istft_len(frames), "output length");
        let padded_len = HOP * (frames - 1) + N_FFT;
        self.update_envelope(frames);
        let ola = &mut self.ola[..padded_len];
        ola.fill(0.0);
        for t in 0..frames {
            self.spectrum.copy_from_slice(spec.frame(ch, t));
            // torch's c2r ignores these; realfft rejects non-zero values.
            self.spectrum[0].im = 0.0;
            self.spectrum[BINS - 1].im = 0.0;
            self.c2r
                .process_with_scratch(&mut self.spectrum, &mut self.frame, &mut self.scratch)
                .expect("buffer sizes are fixed and DC/Nyquist are real");
            let dst = &mut ola[t * HOP..t * HOP + N_FFT];
            for ((o, f), w) in dst.iter_mut().zip(&self.frame).zip(&self.synth_window) {
                *o += f * w;
            }
        }
        let src = &ola[PAD..PAD + out.len()];
        let env = &self.envelope[PAD..PAD + out.len()];
        for ((o, s), e) in out.iter_mut().zip(src).zip(env) {
            *o = s / e;
        }
    }

    /// Overlap-added `w²` of `frames` frames (recomputed only when the count changes).
    fn update_envelope(&mut self, frames: usize) {
        if self.envelope_frames == frames {
            return;
        }
        let padded_len = HOP * (frames - 1) + N_FFT;
        let env = &mut self.envelope[..padded_len];
        env.fill(0.0);
        for t in 0..frames {
            for (e, w) in env[t * HOP..t * HOP + N_FFT].iter_mut().zip(&self.window) {
                *e += w * w;
            }
        }
        self.envelope_frames = frames;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise in [-1, 1), from the test kit's one RNG.
    fn noise(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = danna_sep_testkit::Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        (0..len).map(|_| rng.range(-1.0, 1.0) as f32).collect()
    }

    #[test]
    fn frame_count_and_istft_length_follow_torch() {
        assert_eq!(frame_count(2049), 3);
        assert_eq!(frame_count(4096), 5);
        assert_eq!(frame_count(4095), 4);
        assert_eq!(istft_len(5), 4096);
        assert_eq!(istft_len(0), 0);
        for len in [2049, 3000, 4096, 4097, 10_000] {
            let x = noise(len, 1);
            let mut plan = StftPlan::new(len);
            let mut spec = ComplexSpec::new(1, plan.max_frames());
            plan.stft(&[&x], &mut spec);
            assert_eq!(spec.frames(), 1 + len / 1024);
        }
    }

    #[test]
    fn window_is_periodic_hann() {
        let w = hann_periodic();
        assert_eq!(w[0], 0.0);
        assert_eq!(w[N_FFT / 2], 1.0);
        assert!((w[N_FFT / 4] - 0.5).abs() < 1e-7);
        assert!((w[1] - w[N_FFT - 1]).abs() < 1e-9);
    }

    #[test]
    fn sinusoid_peaks_at_its_bin_with_the_expected_magnitude() {
        let len = 20_000;
        let (k0, amp) = (100usize, 0.5f32);
        let x: Vec<f32> = (0..len)
            .map(|n| {
                let ph = 2.0 * std::f64::consts::PI * (k0 * n) as f64 / N_FFT as f64;
                amp * ph.cos() as f32
            })
            .collect();
        let mut plan = StftPlan::new(len);
        let mut spec = ComplexSpec::new(1, plan.max_frames());
        let mut mag = MagSpec::new(1, plan.max_frames());
        plan.stft(&[&x], &mut spec);
        magnitude(&spec, &mut mag);
        // Interior frames (the padded ends are reflections, not the same sinusoid).
        for t in 2..spec.frames() - 2 {
            let f = mag.frame(0, t);
            let peak = (0..BINS).max_by(|&a, &b| f[a].total_cmp(&f[b])).unwrap();
            assert_eq!(peak, k0, "frame {t}");
            // Σw = N/2, a cosine of amplitude A puts A/2 of it in bin k0.
            let expected = amp * N_FFT as f32 / 4.0;
            assert!((f[k0] - expected).abs() < 1e-3 * expected, "{}", f[k0]);
            // Hann leaks into the two neighbours only (each half as large).
            assert!((f[k0 + 1] - expected / 2.0).abs() < 1e-3 * expected);
            assert!(f[k0 + 3] < 1e-4 * expected);
        }
    }

    #[test]
    fn istft_of_stft_reconstructs_the_signal() {
        for len in [2049, 2050, 4096, 4097, 44_100, 44_101, 100_003] {
            let x = noise(len, len as u64);
            let y = noise(len, len as u64 + 7);
            let mut plan = StftPlan::new(len + 5000);
            let mut spec = ComplexSpec::new(2, plan.max_frames());
            plan.stft(&[&x, &y], &mut spec);
            let n = istft_len(spec.frames());
            assert!(n <= len && len - n < HOP);
            let mut out = vec![0.0; n];
            for (ch, src) in [&x, &y].into_iter().enumerate() {
                plan.istft(&spec, ch, &mut out);
                let err = out
                    .iter()
                    .zip(src.iter())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(err < 1e-5, "len {len} ch {ch}: max error {err}");
            }
        }
    }

    #[test]
    fn istft_ignores_the_imaginary_parts_of_dc_and_nyquist() {
        let len = 12_345;
        let x = noise(len, 3);
        let mut plan = StftPlan::new(len);
        let mut spec = ComplexSpec::new(1, plan.max_frames());
        plan.stft(&[&x], &mut spec);
        let n = istft_len(spec.frames());
        let mut reference = vec![0.0; n];
        plan.istft(&spec, 0, &mut reference);
        let junk = noise(2 * spec.frames(), 4);
        for t in 0..spec.frames() {
            let f = spec.frame_mut(0, t);
            f[0].im = 10.0 * junk[2 * t];
            f[BINS - 1].im = 10.0 * junk[2 * t + 1];
        }
        let mut out = vec![0.0; n];
        plan.istft(&spec, 0, &mut out);
        assert_eq!(out, reference);
    }

    // The checker counts in debug builds only (nice-assert-no-alloc's `warn_debug`).
    #[cfg(debug_assertions)]
    #[test]
    fn transforms_do_not_allocate_after_construction() {
        let len = 30_000;
        let x = noise(len, 5);
        let mut plan = StftPlan::new(len);
        let mut spec = ComplexSpec::new(2, plan.max_frames());
        let mut mag = MagSpec::new(2, plan.max_frames());
        let mut out = vec![0.0; istft_len(plan.max_frames())];
        let before = nice_assert_no_alloc::violation_count();
        nice_assert_no_alloc::assert_no_alloc(|| std::hint::black_box(vec![1u8; 16]).len());
        assert!(
            nice_assert_no_alloc::violation_count() > before,
            "allocation checker is not active"
        );
        let before = nice_assert_no_alloc::violation_count();
        nice_assert_no_alloc::assert_no_alloc(|| {
            for l in [len, len - 1500] {
                plan.stft(&[&x[..l], &x[..l]], &mut spec);
                magnitude(&spec, &mut mag);
                let n = istft_len(spec.frames());
                plan.istft(&spec, 1, &mut out[..n]);
            }
        });
        assert_eq!(nice_assert_no_alloc::violation_count(), before);
    }
}
