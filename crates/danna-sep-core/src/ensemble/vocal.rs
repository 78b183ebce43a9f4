//! `VocalRunner`: a two-stem ratio-mask model (Spleeter 2stems, see
//! [`crate::modelset::VocalSet`]) from the mixture STFT to the stereo vocals waveform.
//!
//! `|X|` of bins `0..max_bins` (1024) → the model's ratio masks for vocals and accompaniment,
//! in chunks of at most [`CHUNK_FRAMES`] frames (Spleeter's segment length), each zero-padded to
//! the model's `frame_multiple` (64, its six stride-2 levels) → masks above `max_bins`
//! extended with Spleeter's `average` rule (each frame's and channel's mean mask over the
//! modelled bins; the two masks still sum to 1 there, so nothing is lost: upstream's default
//! `zeros` would drop everything above ≈ 11 kHz from both stems) → `V_j = mask_j·|X|` → the
//! project's Wiener filter for two sources (1 EM iteration, as for the other mask models) →
//! iSTFT of the vocals.

use crate::dsp::{istft_len, ComplexSpec, MagSpec, StftPlan, WienerFilter, BINS};
use crate::error::SeparationError;
use crate::modelset::{ModelSpec, VOCAL_STEMS};

use super::mask::{check_output_shape, lay_out_frames};
use super::model::InferenceModel;

/// Longest chunk the model is run on (Spleeter's `T`).
pub const CHUNK_FRAMES: usize = 512;
/// Sources of the model (vocals, accompaniment).
const SOURCES: usize = VOCAL_STEMS.len();

/// The vocal model with its pre-allocated buffers.
pub struct VocalRunner {
    model: Box<dyn InferenceModel>,
    name: String,
    bins: usize,
    multiple: usize,
    /// Model input `(1, 2, bins, m)`, frames innermost.
    input: Vec<f32>,
    v: MagSpec,
    y: ComplexSpec,
    wiener: WienerFilter,
    wave: Vec<f32>,
}

impl VocalRunner {
    /// Wraps an opened model; [`prepare`](Self::prepare) sizes the buffers.
    pub fn new(
        name: &str,
        spec: &ModelSpec,
        model: Box<dyn InferenceModel>,
    ) -> Result<Self, SeparationError> {
        let bins = spec.max_bins as usize;
        if spec.n_fft as usize != crate::dsp::N_FFT
            || spec.hop as usize != crate::dsp::HOP
            || bins == 0
            || bins > BINS
        {
            return Err(SeparationError::model(
                name,
                "checking the STFT",
                format!(
                    "n_fft {} / hop {} / max_bins {} are not supported (only {} / {}, 1..={BINS} bins)",
                    spec.n_fft,
                    spec.hop,
                    spec.max_bins,
                    crate::dsp::N_FFT,
                    crate::dsp::HOP
                ),
            ));
        }
        Ok(Self {
            model,
            name: name.to_string(),
            bins,
            multiple: (spec.frame_multiple.max(spec.min_frames) as usize).max(1),
            input: Vec::new(),
            v: MagSpec::new(2 * SOURCES, 0),
            y: ComplexSpec::new(2 * SOURCES, 0),
            wiener: WienerFilter::with_sources(SOURCES),
            wave: Vec::new(),
        })
    }

    /// Frames the model runs for a chunk of `n` real frames: `n` rounded up to the multiple.
    fn model_frames(&self, n: usize) -> usize {
        n.div_ceil(self.multiple).max(1) * self.multiple
    }

    /// Allocates for spectrograms of `frames` frames and binds the first chunk's shape.
    pub fn prepare(&mut self, frames: usize) -> Result<(), SeparationError> {
        let m = self.model_frames(frames.clamp(1, CHUNK_FRAMES));
        self.input = vec![0.0; 2 * self.bins * m];
        self.v = MagSpec::new(2 * SOURCES, frames);
        self.y = ComplexSpec::new(2 * SOURCES, frames);
        self.wave = vec![0.0; istft_len(frames)];
        self.model
            .bind(&[1, 2, self.bins, m], &[1, SOURCES, 2, self.bins, m])
    }

    /// The vocals from the mixture STFT `x` and its magnitude `mag`, cropped to the length of
    /// `out` (both channels the same length).
    pub fn estimate(
        &mut self,
        x: &ComplexSpec,
        mag: &MagSpec,
        plan: &mut StftPlan,
        out: [&mut [f32]; 2],
    ) -> Result<(), SeparationError> {
        let frames = x.frames();
        self.v.set_frames(frames);
        let mut start = 0;
        while start < frames {
            let n = CHUNK_FRAMES.min(frames - start);
            self.run_chunk(mag, start, n)?;
            start += n;
        }
        self.wiener.apply(&self.v, x, &mut self.y);
        let len = istft_len(frames);
        let keep = out[0].len();
        if len < keep {
            return Err(SeparationError::model(
                &self.name,
                "checking lengths",
                format!("{frames} frames give {len} samples, {keep} needed"),
            ));
        }
        for (ch, o) in out.into_iter().enumerate() {
            let wave = &mut self.wave[..len];
            // Source 0 is the vocals.
            plan.istft(&self.y, ch, wave);
            o.copy_from_slice(&wave[..keep]);
        }
        Ok(())
    }

    /// Runs the model on frames `[start, start + n)` and writes `mask·|X|` into `v`.
    fn run_chunk(&mut self, mag: &MagSpec, start: usize, n: usize) -> Result<(), SeparationError> {
        let (bins, m) = (self.bins, self.model_frames(n));
        let input = &mut self.input[..2 * bins * m];
        lay_out_frames(input, mag, start, n, bins, m);
        let name = &self.name;
        let v = &mut self.v;
        self.model.run(input, &[1, 2, bins, m], |shape, masks| {
            check_output_shape(name, shape, [1, SOURCES as i64, 2, bins as i64, m as i64])?;
            for c in 0..2 * SOURCES {
                let plane = &masks[c * bins * m..(c + 1) * bins * m];
                for t in 0..n {
                    let a = mag.frame(c % 2, start + t);
                    let o = v.frame_mut(c, start + t);
                    let mut sum = 0.0f32;
                    for b in 0..bins {
                        let mask = plane[b * m + t];
                        sum += mask;
                        o[b] = mask * a[b];
                    }
                    // Spleeter's "average" extension above the modelled bins.
                    let mean = sum / bins as f32;
                    for b in bins..BINS {
                        o[b] = mean * a[b];
                    }
                }
            }
            Ok(())
        })?
    }
}
