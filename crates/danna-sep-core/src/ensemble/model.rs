//! `InferenceModel`: the seam between the runners and an inference runtime. ONNX Runtime
//! ([`super::OrtModel`]) and OpenVINO ([`super::OvModel`]) implement it; a backend picks one
//! per activation ([`crate::selection::RuntimePlan`]).
//!
//! Threading: a model runs on the inference worker (or the waveform thread), never on the
//! audio thread; `run` may allocate when the shape is not the bound one.

use crate::error::SeparationError;
use crate::selection::Precision;

/// One ONNX model of a model set with one float input and one float output, opened in a
/// runtime.
pub trait InferenceModel: Send {
    /// The precision it actually runs at (float32 where a lossy variant was asked for but the
    /// model has none or does not take it).
    fn precision(&self) -> Precision;

    /// Prepares for runs of exactly `input_shape` (pre-allocated tensors, static shapes);
    /// runs with that shape then reuse them.
    fn bind(
        &mut self,
        input_shape: &[usize],
        output_shape: &[usize],
    ) -> Result<(), SeparationError>;

    /// Runs the model on `input` of shape `shape` and hands the output's shape and data to
    /// `read` (any shape works; the bound one without allocating tensors).
    fn run_with(
        &mut self,
        input: &[f32],
        shape: &[usize],
        read: &mut dyn FnMut(&[i64], &[f32]),
    ) -> Result<(), SeparationError>;
}

impl dyn InferenceModel {
    /// [`InferenceModel::run_with`] for a reader that returns a value.
    pub fn run<R>(
        &mut self,
        input: &[f32],
        shape: &[usize],
        read: impl FnOnce(&[i64], &[f32]) -> R,
    ) -> Result<R, SeparationError> {
        let mut read = Some(read);
        let mut out = None;
        self.run_with(input, shape, &mut |s, d| {
            if let Some(read) = read.take() {
                out = Some(read(s, d));
            }
        })?;
        out.ok_or_else(|| SeparationError::model("model", "inference", "no output was read"))
    }
}
