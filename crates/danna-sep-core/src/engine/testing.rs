//! Backends for tests and benchmarks of the engine: transparent, deliberately slow, or shaped so
//! that any misplaced window shows in the output. Not used by the plugin or the CLI.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use super::backend::{SeparationBackend, StemBuffers};
use crate::dsp::finite::denormals_flush_on_this_thread;
use crate::error::SeparationError;
use crate::stems::STEM_COUNT;

/// Splits the mixture into four equal quarters: the engine is then transparent (the stems sum
/// to the input), which the alignment tests rely on.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdentityBackend;

impl SeparationBackend for IdentityBackend {
    fn describe(&self) -> String {
        "identity (no model set: each stem is a quarter of the mix)".into()
    }

    fn prepare(&mut self, _frames: usize) -> Result<(), SeparationError> {
        Ok(())
    }

    fn separate(
        &mut self,
        mix: [&[f32]; 2],
        stems: &mut StemBuffers,
    ) -> Result<(), SeparationError> {
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

/// Wraps a backend and makes every window wait for one permit from the test that holds the
/// sender, so tests decide deterministically which windows are late, without timing.
pub struct GatedBackend<B> {
    inner: B,
    gate: mpsc::Receiver<()>,
}

impl<B: SeparationBackend> GatedBackend<B> {
    /// A gated backend and the sender that releases one window per `send(())`.
    pub fn new(inner: B) -> (Self, mpsc::Sender<()>) {
        let (tx, rx) = mpsc::channel();
        (Self { inner, gate: rx }, tx)
    }
}

impl<B: SeparationBackend> SeparationBackend for GatedBackend<B> {
    fn describe(&self) -> String {
        format!("gated {}", self.inner.describe())
    }

    fn prepare(&mut self, frames: usize) -> Result<(), SeparationError> {
        self.inner.prepare(frames)
    }

    fn separate(
        &mut self,
        mix: [&[f32]; 2],
        stems: &mut StemBuffers,
    ) -> Result<(), SeparationError> {
        self.gate
            .recv()
            .map_err(|_| SeparationError::Thread("gate closed".into()))?;
        self.inner.separate(mix, stems)
    }
}

/// Stems at `gain` times the identity level: with a gain other than 1 the main output differs
/// from the input, so dry fallback (full level) and a backend swap are both visible.
#[derive(Debug, Clone, Copy)]
pub struct ScaledBackend(pub f32);

impl SeparationBackend for ScaledBackend {
    fn describe(&self) -> String {
        format!("identity × {} test backend", self.0)
    }
    fn prepare(&mut self, _frames: usize) -> Result<(), SeparationError> {
        Ok(())
    }
    fn separate(
        &mut self,
        mix: [&[f32]; 2],
        stems: &mut StemBuffers,
    ) -> Result<(), SeparationError> {
        IdentityBackend.separate(mix, stems)?;
        for channel in stems.channels_mut() {
            for v in channel {
                *v *= self.0;
            }
        }
        Ok(())
    }
}

/// Stems that depend on the whole window (each window adds its own mean and a ramp across the
/// window), so any difference in window placement changes the output.
pub struct WindowSensitiveBackend;

impl SeparationBackend for WindowSensitiveBackend {
    fn describe(&self) -> String {
        "window-sensitive test backend".into()
    }
    fn prepare(&mut self, _frames: usize) -> Result<(), SeparationError> {
        Ok(())
    }
    fn separate(
        &mut self,
        mix: [&[f32]; 2],
        stems: &mut StemBuffers,
    ) -> Result<(), SeparationError> {
        let n = stems.frames();
        for (ch, x) in mix.iter().enumerate() {
            let mean = x.iter().sum::<f32>() / n as f32;
            for s in 0..STEM_COUNT {
                let out = stems.channel_mut(s, ch);
                for (i, (o, &xi)) in out.iter_mut().zip(x.iter()).enumerate() {
                    *o = (s as f32 + 1.0) * 0.1 * xi + mean + 1e-3 * (i as f32 / n as f32);
                }
            }
        }
        Ok(())
    }
}

/// The window lengths a [`RecordingBackend`] was prepared and warmed up for, in call order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallLog {
    /// Each `prepare(frames)`.
    pub prepared: Vec<usize>,
    /// Each `warm_up(frames)`.
    pub warmed_up: Vec<usize>,
}

/// The identity backend that records its `prepare` and `warm_up` calls into a shared log.
#[derive(Debug, Clone, Default)]
pub struct RecordingBackend(pub Arc<Mutex<CallLog>>);

impl SeparationBackend for RecordingBackend {
    fn describe(&self) -> String {
        "recording identity backend".into()
    }
    fn prepare(&mut self, frames: usize) -> Result<(), SeparationError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .prepared
            .push(frames);
        Ok(())
    }
    fn separate(
        &mut self,
        mix: [&[f32]; 2],
        stems: &mut StemBuffers,
    ) -> Result<(), SeparationError> {
        IdentityBackend.separate(mix, stems)
    }
    fn warm_up(&mut self, frames: usize) -> Result<(), SeparationError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .warmed_up
            .push(frames);
        Ok(())
    }
}

/// What a [`FaultyBackend`] does with one window, or at one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Behave (identity).
    None,
    /// Return an error.
    Error,
    /// Panic.
    Panic,
    /// Return NaN and infinite stems.
    NonFinite,
}

/// Which fault a [`FaultyBackend`] shows for its `n`-th window (0-based, warm-up included).
pub type FaultPlan = Arc<dyn Fn(usize) -> Fault + Send + Sync>;

/// The identity backend that fails as planned: per window (see [`FaultPlan`]) and, once, in
/// `prepare` or `warm_up`. Records how many windows it was asked for and whether its threads
/// flush subnormals to zero.
#[derive(Clone)]
pub struct FaultyBackend {
    /// Per window.
    pub plan: FaultPlan,
    /// In `prepare`.
    pub prepare: Fault,
    /// In `warm_up`.
    pub warm_up: Fault,
    /// Windows asked for so far.
    pub windows: Arc<AtomicUsize>,
    /// Set when a call ran on a thread whose subnormal arithmetic did not flush to zero.
    pub saw_denormals: Arc<AtomicBool>,
}

impl FaultyBackend {
    /// Fails each window as `plan` says; `prepare` and `warm_up` behave.
    pub fn new(plan: impl Fn(usize) -> Fault + Send + Sync + 'static) -> Self {
        Self {
            plan: Arc::new(plan),
            prepare: Fault::None,
            warm_up: Fault::None,
            windows: Arc::new(AtomicUsize::new(0)),
            saw_denormals: Arc::new(AtomicBool::new(false)),
        }
    }

    fn probe(&self) {
        if !denormals_flush_on_this_thread() {
            self.saw_denormals.store(true, Ordering::SeqCst);
        }
    }
}

fn act(fault: Fault, stage: &str) -> Result<(), SeparationError> {
    match fault {
        Fault::Error => Err(SeparationError::model("faulty", stage, "planned failure")),
        Fault::Panic => panic!("planned panic in {stage}"),
        Fault::None | Fault::NonFinite => Ok(()),
    }
}

impl SeparationBackend for FaultyBackend {
    fn describe(&self) -> String {
        "faulty identity test backend".into()
    }

    fn prepare(&mut self, _frames: usize) -> Result<(), SeparationError> {
        self.probe();
        act(self.prepare, "prepare")
    }

    fn warm_up(&mut self, _frames: usize) -> Result<(), SeparationError> {
        self.probe();
        act(self.warm_up, "warm-up")
    }

    fn separate(
        &mut self,
        mix: [&[f32]; 2],
        stems: &mut StemBuffers,
    ) -> Result<(), SeparationError> {
        self.probe();
        let n = self.windows.fetch_add(1, Ordering::SeqCst);
        let fault = (self.plan)(n);
        act(fault, "separate")?;
        IdentityBackend.separate(mix, stems)?;
        if fault == Fault::NonFinite {
            stems.channel_mut(0, 0)[0] = f32::NAN;
            stems.channel_mut(1, 1)[1] = f32::INFINITY;
        }
        Ok(())
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
        let (mut b, tx) = GatedBackend::new(IdentityBackend);
        let mut stems = StemBuffers::new(4);
        tx.send(()).unwrap();
        assert!(b.separate([&[1.0; 4], &[1.0; 4]], &mut stems).is_ok());
        drop(tx);
        assert!(b.separate([&[1.0; 4], &[1.0; 4]], &mut stems).is_err());
    }
}
