//! `SeparationBackend`: one window of stereo mixture in, four stereo stems out.

use std::sync::mpsc;
use std::time::Duration;

/// Number of stems every backend produces, in this order.
pub const STEM_COUNT: usize = 4;
/// Stem names in output order (the Danna-Sep order).
pub const STEM_NAMES: [&str; STEM_COUNT] = ["drums", "bass", "other", "vocals"];

/// Why a backend could not be created or could not separate a window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

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

    /// Called once before the first window with the window length in frames; allocate here.
    fn prepare(&mut self, frames: usize) -> Result<(), BackendError>;

    /// Separates `mix` (`[left, right]`, each `stems.frames()` long) into `stems`.
    fn separate(&mut self, mix: [&[f32]; 2], stems: &mut StemBuffers) -> Result<(), BackendError>;

    /// Pays the first run's extra costs (memory arenas growing, kernels being picked) before
    /// the first real window, so that it is not late; `frames` is the prepared length. Called
    /// once after [`Self::prepare`] by a real-time engine. The default does nothing.
    fn warm_up(&mut self, frames: usize) -> Result<(), BackendError> {
        let _ = frames;
        Ok(())
    }
}

/// Splits the mixture into four equal quarters: the engine is then transparent (the stems sum
/// to the input), which the alignment tests rely on.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdentityBackend;

impl SeparationBackend for IdentityBackend {
    fn describe(&self) -> String {
        "identity (no model set: each stem is a quarter of the mix)".into()
    }

    fn prepare(&mut self, _frames: usize) -> Result<(), BackendError> {
        Ok(())
    }

    fn separate(&mut self, mix: [&[f32]; 2], stems: &mut StemBuffers) -> Result<(), BackendError> {
        for stem in 0..STEM_COUNT {
            for (ch, input) in mix.iter().enumerate() {
                for (o, &x) in stems.channel_mut(stem, ch).iter_mut().zip(input.iter()) {
                    *o = 0.25 * x;
                }
            }
        }
        Ok(())
    }
}

/// How a [`SlowBackend`] delays each window.
pub enum Delay {
    /// A fixed sleep per window (for demos and benchmarks of overload behaviour).
    Fixed(Duration),
    /// Each window waits for one permit from the test that holds the sender, so tests decide
    /// deterministically which windows are late without relying on timing.
    Gate(mpsc::Receiver<()>),
}

/// Wraps a backend and makes it deliberately slow.
pub struct SlowBackend<B> {
    inner: B,
    delay: Delay,
}

impl<B: SeparationBackend> SlowBackend<B> {
    /// A backend that delays every window of `inner` by `delay`.
    pub fn new(inner: B, delay: Delay) -> Self {
        Self { inner, delay }
    }

    /// A gated backend and the sender that releases one window per `send(())`.
    pub fn gated(inner: B) -> (Self, mpsc::Sender<()>) {
        let (tx, rx) = mpsc::channel();
        (Self::new(inner, Delay::Gate(rx)), tx)
    }
}

impl<B: SeparationBackend> SeparationBackend for SlowBackend<B> {
    fn describe(&self) -> String {
        format!("slow {}", self.inner.describe())
    }

    fn prepare(&mut self, frames: usize) -> Result<(), BackendError> {
        self.inner.prepare(frames)
    }

    fn separate(&mut self, mix: [&[f32]; 2], stems: &mut StemBuffers) -> Result<(), BackendError> {
        match &self.delay {
            Delay::Fixed(d) => std::thread::sleep(*d),
            Delay::Gate(rx) => {
                rx.recv().map_err(|_| BackendError("gate closed".into()))?;
            }
        }
        self.inner.separate(mix, stems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_stems_sum_to_the_mix() {
        let l: Vec<f32> = (0..32).map(|i| (i as f32 * 0.3).sin()).collect();
        let r: Vec<f32> = (0..32).map(|i| (i as f32 * 0.7).cos()).collect();
        let mut stems = StemBuffers::new(32);
        IdentityBackend.separate([&l, &r], &mut stems).unwrap();
        for i in 0..32 {
            let sum_l: f32 = (0..STEM_COUNT).map(|s| stems.channel(s, 0)[i]).sum();
            let sum_r: f32 = (0..STEM_COUNT).map(|s| stems.channel(s, 1)[i]).sum();
            assert!((sum_l - l[i]).abs() < 1e-6 && (sum_r - r[i]).abs() < 1e-6);
        }
    }

    #[test]
    fn gated_backend_waits_for_a_permit_and_fails_when_the_gate_closes() {
        let (mut b, tx) = SlowBackend::gated(IdentityBackend);
        let mut stems = StemBuffers::new(4);
        tx.send(()).unwrap();
        assert!(b.separate([&[1.0; 4], &[1.0; 4]], &mut stems).is_ok());
        drop(tx);
        assert!(b.separate([&[1.0; 4], &[1.0; 4]], &mut stems).is_err());
    }
}
