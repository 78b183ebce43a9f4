//! `MaskRunner`: a spectrogram-mask model (X-UMX, U-Net) from mixture STFT to four stereo
//! waveforms, as the original tool's `tf_sep` does it (`models/README.md`, "Reference pipeline"):
//! `|X|` → mask (in independent chunks of `chunk_frames` when the manifest sets it) →
//! `V = mask·|X|` → Wiener filter (1 EM iteration) → iSTFT.
//!
//! The Wiener statistics (`R_j` per bin and `max_abs`) pool over the frames this runner is
//! given: the whole track in a whole-clip run, one analysis window when streaming.

use crate::dsp::{istft_len, ComplexSpec, MagSpec, StftPlan, WienerFilter, BINS, SOURCES};
use crate::engine::StemBuffers;
use crate::error::SeparationError;
use crate::modelset::ModelSpec;

use super::model::InferenceModel;

/// One spectrogram-mask model with its pre-allocated buffers.
pub struct MaskRunner {
    model: Box<dyn InferenceModel>,
    name: String,
    chunk_frames: Option<usize>,
    min_frames: usize,
    /// Model input `(1, 2, BINS, n)`, frames innermost.
    input: Vec<f32>,
    v: MagSpec,
    y: ComplexSpec,
    wiener: WienerFilter,
    wave: Vec<f32>,
}

impl MaskRunner {
    /// Wraps an opened model; [`prepare`](Self::prepare) sizes the buffers.
    pub fn new(
        name: &str,
        spec: &ModelSpec,
        model: Box<dyn InferenceModel>,
    ) -> Result<Self, SeparationError> {
        if spec.n_fft as usize != crate::dsp::N_FFT || spec.hop as usize != crate::dsp::HOP {
            return Err(SeparationError::model(
                name,
                "checking the STFT",
                format!(
                    "n_fft {} / hop {} are not supported (only {} / {})",
                    spec.n_fft,
                    spec.hop,
                    crate::dsp::N_FFT,
                    crate::dsp::HOP
                ),
            ));
        }
        Ok(Self {
            model,
            name: name.to_string(),
            chunk_frames: spec.chunk_frames.map(|c| c as usize),
            min_frames: spec.min_frames as usize,
            input: Vec::new(),
            v: MagSpec::new(2 * SOURCES, 0),
            y: ComplexSpec::new(2 * SOURCES, 0),
            wiener: WienerFilter::new(),
            wave: Vec::new(),
        })
    }

    /// The model's frame count for a chunk of `n` real frames (short chunks are zero-padded to
    /// the model's minimum, e.g. the U-Net's 64 frames for its six poolings).
    fn model_frames(&self, n: usize) -> usize {
        n.max(self.min_frames)
    }

    /// Allocates for spectrograms of `frames` frames and binds the model's first-chunk shape.
    pub fn prepare(&mut self, frames: usize) -> Result<(), SeparationError> {
        let chunk = self.chunk_frames.unwrap_or(frames).min(frames);
        let n = self.model_frames(chunk);
        self.input = vec![0.0; 2 * BINS * n];
        self.v = MagSpec::new(2 * SOURCES, frames);
        self.y = ComplexSpec::new(2 * SOURCES, frames);
        self.wave = vec![0.0; istft_len(frames)];
        self.model.bind(&[1, 2, BINS, n], &[1, SOURCES, 2, BINS, n])
    }

    /// Source estimates from the mixture STFT `x` and its magnitude `mag`, cropped to
    /// `out.frames()` samples.
    pub fn estimate(
        &mut self,
        x: &ComplexSpec,
        mag: &MagSpec,
        plan: &mut StftPlan,
        out: &mut StemBuffers,
    ) -> Result<(), SeparationError> {
        let frames = x.frames();
        self.v.set_frames(frames);
        let chunk = self.chunk_frames.unwrap_or(frames).max(1);
        let mut start = 0;
        while start < frames {
            let n = chunk.min(frames - start);
            self.run_chunk(mag, start, n)?;
            start += n;
        }
        self.wiener.apply(&self.v, x, &mut self.y);
        let len = istft_len(frames);
        if len < out.frames() {
            return Err(SeparationError::model(
                &self.name,
                "checking lengths",
                format!(
                    "{frames} frames give {len} samples, {} needed",
                    out.frames()
                ),
            ));
        }
        let keep = out.frames();
        for c in 0..2 * SOURCES {
            let wave = &mut self.wave[..len];
            plan.istft(&self.y, c, wave);
            out.channel_mut(c / 2, c % 2).copy_from_slice(&wave[..keep]);
        }
        Ok(())
    }

    /// Runs the model on frames `[start, start + n)` and writes `mask·|X|` into `v`.
    fn run_chunk(&mut self, mag: &MagSpec, start: usize, n: usize) -> Result<(), SeparationError> {
        let m = self.model_frames(n);
        let input = &mut self.input[..2 * BINS * m];
        lay_out_frames(input, mag, start, n, BINS, m);
        let name = &self.name;
        let v = &mut self.v;
        self.model.run(input, &[1, 2, BINS, m], |shape, mask| {
            check_output_shape(name, shape, [1, SOURCES as i64, 2, BINS as i64, m as i64])?;
            for c in 0..2 * SOURCES {
                let plane = &mask[c * BINS * m..(c + 1) * BINS * m];
                for t in 0..n {
                    let a = mag.frame(c % 2, start + t);
                    for (b, (o, &x)) in v.frame_mut(c, start + t).iter_mut().zip(a).enumerate() {
                        // The tool multiplies in float32, like here.
                        *o = plane[b * m + t] * x;
                    }
                }
            }
            Ok(())
        })?
    }
}

/// Writes frames `[start, start + n)` of `mag`'s first `bins` bins into `input` as the mask
/// models take them (channel × bin × frame, `m` frames per row, zero-padded past `n`).
pub(super) fn lay_out_frames(
    input: &mut [f32],
    mag: &MagSpec,
    start: usize,
    n: usize,
    bins: usize,
    m: usize,
) {
    input.fill(0.0);
    for ch in 0..2 {
        let plane = &mut input[ch * bins * m..(ch + 1) * bins * m];
        for t in 0..n {
            for (b, &a) in mag.frame(ch, start + t)[..bins].iter().enumerate() {
                plane[b * m + t] = a;
            }
        }
    }
}

/// The error for a model output whose shape is not `expected`.
pub(super) fn check_output_shape<const N: usize>(
    name: &str,
    shape: &[i64],
    expected: [i64; N],
) -> Result<(), SeparationError> {
    if shape == expected {
        Ok(())
    } else {
        Err(SeparationError::model(
            name,
            "checking the output",
            format!("shape {shape:?}, expected {expected:?}"),
        ))
    }
}
