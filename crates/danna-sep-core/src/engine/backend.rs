//! `SeparationBackend`: one window of stereo mixture in, four stereo stems out; and the
//! [`BackendFactory`] that builds one for a [`BackendSpec`] on a non-audio thread.

use std::sync::Arc;

use super::info::BackendInfo;
use crate::error::SeparationError;
use crate::selection::BackendSpec;
use crate::stems::STEM_COUNT;

/// Four stereo stems of one window, planar: stem-major, then channel.
#[derive(Debug, Clone, PartialEq)]
pub struct StemBuffers {
    frames: usize,
    data: Vec<f32>,
}

impl StemBuffers {
    /// Zeroed stems of `frames` frames.
    pub fn new(frames: usize) -> Self {
        Self {
            frames,
            data: vec![0.0; frames * STEM_COUNT * 2],
        }
    }

    /// Frames per channel.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// One channel (0 = left, 1 = right) of one stem.
    pub fn channel(&self, stem: usize, ch: usize) -> &[f32] {
        let o = (stem * 2 + ch) * self.frames;
        &self.data[o..o + self.frames]
    }

    /// One channel of one stem, mutable.
    pub fn channel_mut(&mut self, stem: usize, ch: usize) -> &mut [f32] {
        let o = (stem * 2 + ch) * self.frames;
        &mut self.data[o..o + self.frames]
    }

    /// All eight channels, mutable, in (stem, channel) order.
    pub fn channels_mut(&mut self) -> impl Iterator<Item = &mut [f32]> {
        self.data.chunks_exact_mut(self.frames.max(1))
    }
}

/// A source separation model (or ensemble) running at 44.1 kHz on whole windows.
///
/// Implementations live on the inference worker thread; they may allocate and block.
pub trait SeparationBackend: Send {
    /// Short human-readable description for the status line.
    fn describe(&self) -> String;

    /// What the editor and the status line show about this backend. The default has only
    /// [`Self::describe`]; the ensemble adds its model set, runtime and precisions.
    fn info(&self) -> BackendInfo {
        BackendInfo::described(self.describe())
    }

    /// Called once before the first window with the window length in frames; allocate here.
    fn prepare(&mut self, frames: usize) -> Result<(), SeparationError>;

    /// Separates `mix` (`[left, right]`, each `stems.frames()` long) into `stems`.
    fn separate(
        &mut self,
        mix: [&[f32]; 2],
        stems: &mut StemBuffers,
    ) -> Result<(), SeparationError>;

    /// Pays the first run's extra costs (memory arenas growing, kernels being picked) before
    /// the first real window, so that it is not late; `frames` is the prepared length. Called
    /// once after [`Self::prepare`] by a real-time engine. The default does nothing.
    fn warm_up(&mut self, frames: usize) -> Result<(), SeparationError> {
        let _ = frames;
        Ok(())
    }
}

/// Builds the backend for a spec. Called on the inference worker or on its loader thread
/// (never the audio thread): at start-up and for every staged model swap, so it may load
/// files, allocate and block.
pub type BackendFactory =
    Arc<dyn Fn(BackendSpec) -> Result<Box<dyn SeparationBackend>, SeparationError> + Send + Sync>;

/// A factory that ignores the spec and builds `make()` (tests, benchmarks).
pub fn factory_of<B, F>(make: F) -> BackendFactory
where
    B: SeparationBackend + 'static,
    F: Fn() -> B + Send + Sync + 'static,
{
    Arc::new(move |_| Ok(Box::new(make()) as Box<dyn SeparationBackend>))
}
