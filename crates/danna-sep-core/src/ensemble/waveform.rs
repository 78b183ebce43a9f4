//! `WaveformRunner`: a waveform model (DemucsSplit) with the original tool's length
//! bookkeeping (`models/README.md`, "Reference pipeline"; `shifts=1`): the model sees
//! `[22050 zeros | audio | 1024 zeros]` in one call, output samples from 22050 on are the
//! estimate (the last up to 2047 samples can stay 0, since the model returns fewer samples
//! than it gets), clamped to ±0.99.
//!
//! Demucs standardises its input with the mean and standard deviation of everything it is
//! given (inside the ONNX graph), so those statistics cover the whole track in a whole-clip
//! run and one analysis window when streaming.

use crate::engine::StemBuffers;
use crate::error::SeparationError;
use crate::modelset::ModelSpec;
use crate::stems::STEM_COUNT;

use super::model::InferenceModel;
use super::RIGHT_PAD;

/// Zeros in front of the audio (the tool's `max_shift`).
pub const SHIFT_PAD: usize = 22_050;
/// The clamp the tool applies to the Demucs estimate (and only to it).
pub const CLAMP: f32 = 0.99;

/// One waveform model with its pre-allocated input.
pub struct WaveformRunner {
    model: Box<dyn InferenceModel>,
    name: String,
    spec: ModelSpec,
    /// Model input `(1, 2, n)`.
    input: Vec<f32>,
}

impl WaveformRunner {
    /// Wraps an opened model; [`prepare`](Self::prepare) sizes the buffers.
    pub fn new(name: &str, spec: &ModelSpec, model: Box<dyn InferenceModel>) -> Self {
        Self {
            model,
            name: name.to_string(),
            spec: spec.clone(),
            input: Vec::new(),
        }
    }

    fn model_len(frames: usize) -> usize {
        SHIFT_PAD + frames + RIGHT_PAD
    }

    fn output_len(&self, input_len: usize) -> Result<usize, SeparationError> {
        self.spec
            .output_length
            .output_len(input_len)
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                SeparationError::model(
                    &self.name,
                    "checking lengths",
                    format!("an input of {input_len} samples is too short"),
                )
            })
    }

    /// Allocates for windows of `frames` samples and binds the model's shapes.
    pub fn prepare(&mut self, frames: usize) -> Result<(), SeparationError> {
        let n = Self::model_len(frames);
        let out = self.output_len(n)?;
        self.input = vec![0.0; 2 * n];
        self.model.bind(&[1, 2, n], &[1, STEM_COUNT, 2, out])
    }

    /// Estimates the stems of `mix` (`out.frames()` samples per channel) into `out`.
    pub fn estimate(
        &mut self,
        mix: [&[f32]; 2],
        out: &mut StemBuffers,
    ) -> Result<(), SeparationError> {
        let frames = out.frames();
        let n = Self::model_len(frames);
        let expected_len = self.output_len(n)?;
        let input = &mut self.input[..2 * n];
        input.fill(0.0);
        for (ch, x) in mix.iter().enumerate() {
            input[ch * n + SHIFT_PAD..ch * n + SHIFT_PAD + frames].copy_from_slice(x);
        }
        let name = &self.name;
        self.model.run(input, &[1, 2, n], |shape, y| {
            let expected = [1, STEM_COUNT as i64, 2, expected_len as i64];
            if shape != expected {
                return Err(SeparationError::model(
                    name,
                    "checking the output",
                    format!("shape {shape:?}, expected {expected:?}"),
                ));
            }
            // Samples [SHIFT_PAD, SHIFT_PAD + avail) exist; the rest of the window stays 0.
            let avail = expected_len.saturating_sub(SHIFT_PAD).min(frames);
            for c in 0..2 * STEM_COUNT {
                let src = &y[c * expected_len + SHIFT_PAD..c * expected_len + SHIFT_PAD + avail];
                let dst = out.channel_mut(c / 2, c % 2);
                for (o, &v) in dst.iter_mut().zip(src) {
                    *o = v.clamp(-CLAMP, CLAMP);
                }
                dst[avail..].fill(0.0);
            }
            Ok(())
        })?
    }
}
