//! `PluginHub`: what the plugin shares with its editor besides the parameters.
//!
//! Three kinds of data, with three access rules, so the GUI never blocks the audio thread:
//!
//! - the running engine's [`EngineShared`] and the model-set summary sit behind mutexes that
//!   only the main thread (`activate`/`deactivate`) writes and only the GUI reads; the audio
//!   thread never touches them;
//! - the reported latency, sample rate, block size and active tier/model/precision are atomics
//!   written in `activate`;
//! - the meters are [`AtomicF32`]s the audio thread raises once per `process()` call with a
//!   lock-free max (no allocation, no lock) and the GUI takes (swaps to zero) once per frame, so
//!   no block peak is lost between two frames. Ballistics happen in the GUI.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

use atomic_float::AtomicF32;
use nice_plug::prelude::Enum;
use parking_lot::Mutex;

use super::view_model::{EngineSnapshot, ModelSetSummary};
use crate::engine::{EngineShared, LatencyTier, STEM_COUNT};
use crate::params::{ModelChoice, Precision};

/// Marks "no engine" in the `active_*` atomics.
const NONE: u8 = u8::MAX;

/// Block peaks published by the audio thread.
#[derive(Debug, Default)]
pub struct Meters {
    stems: [AtomicF32; STEM_COUNT],
    main: AtomicF32,
}

impl Meters {
    /// Raises the meters to at least these linear peaks (audio thread, once per block: a few
    /// compare-and-swap loops, no allocation, no lock).
    #[inline]
    pub fn publish(&self, stems: [f32; STEM_COUNT], main: f32) {
        for (m, p) in self.stems.iter().zip(stems) {
            m.fetch_max(p, Ordering::Relaxed);
        }
        self.main.fetch_max(main, Ordering::Relaxed);
    }

    /// The highest peaks since the last call, resetting them (GUI, once per frame).
    pub fn take(&self) -> ([f32; STEM_COUNT], f32) {
        let stems = std::array::from_fn(|s| self.stems[s].swap(0.0, Ordering::Relaxed));
        (stems, self.main.swap(0.0, Ordering::Relaxed))
    }
}

/// Shared between the plugin and its editor (see the module docs for who touches what).
pub struct PluginHub {
    engine: Mutex<Option<Arc<EngineShared>>>,
    model_set: Mutex<Option<ModelSetSummary>>,
    latency_samples: AtomicU32,
    sample_rate: AtomicF32,
    max_block: AtomicU32,
    active_tier: AtomicU8,
    active_model: AtomicU8,
    active_precision: AtomicU8,
    /// Per-stem and main-output peaks.
    pub meters: Meters,
}

impl Default for PluginHub {
    fn default() -> Self {
        Self {
            engine: Mutex::new(None),
            model_set: Mutex::new(None),
            latency_samples: AtomicU32::new(0),
            sample_rate: AtomicF32::new(0.0),
            max_block: AtomicU32::new(0),
            active_tier: AtomicU8::new(NONE),
            active_model: AtomicU8::new(NONE),
            active_precision: AtomicU8::new(NONE),
            meters: Meters::default(),
        }
    }
}

/// What `activate` tells the hub about the engine it started.
#[derive(Debug, Clone, Copy)]
pub struct ActiveInfo {
    /// Latency reported to the host, in samples.
    pub latency_samples: u32,
    /// Host sample rate.
    pub sample_rate: f32,
    /// Host maximum block size.
    pub max_block: u32,
    /// The tier the engine was built with.
    pub tier: LatencyTier,
    /// The model choice the engine was built with.
    pub model: ModelChoice,
    /// The precision the engine was built with.
    pub precision: Precision,
}

impl PluginHub {
    /// Records a freshly activated engine (main thread, `activate`).
    pub fn activate(&self, shared: Arc<EngineShared>, info: ActiveInfo) {
        self.latency_samples
            .store(info.latency_samples, Ordering::Relaxed);
        self.sample_rate.store(info.sample_rate, Ordering::Relaxed);
        self.max_block.store(info.max_block, Ordering::Relaxed);
        self.active_tier
            .store(info.tier.to_index() as u8, Ordering::Relaxed);
        self.active_model
            .store(info.model.to_index() as u8, Ordering::Relaxed);
        self.active_precision
            .store(info.precision.to_index() as u8, Ordering::Relaxed);
        *self.engine.lock() = Some(shared);
    }

    /// Forgets the engine (main thread, `deactivate`). Keeps the sample rate and block size so
    /// the tier selector can still show latencies.
    pub fn deactivate(&self) {
        *self.engine.lock() = None;
        self.active_tier.store(NONE, Ordering::Relaxed);
        self.active_model.store(NONE, Ordering::Relaxed);
        self.active_precision.store(NONE, Ordering::Relaxed);
        self.latency_samples.store(0, Ordering::Relaxed);
    }

    /// Sets the model set the engine runs (main or worker thread, never the audio thread).
    pub fn set_model_set(&self, summary: Option<ModelSetSummary>) {
        *self.model_set.lock() = summary;
    }

    /// The model set the engine runs, if any.
    pub fn model_set(&self) -> Option<ModelSetSummary> {
        self.model_set.lock().clone()
    }

    /// The running engine's shared state (GUI only).
    pub fn engine(&self) -> Option<Arc<EngineShared>> {
        self.engine.lock().clone()
    }

    /// The host's sample rate, or `None` before the first activation.
    pub fn sample_rate(&self) -> Option<f32> {
        Some(self.sample_rate.load(Ordering::Relaxed)).filter(|&r| r > 0.0)
    }

    /// The host's maximum block size, or `None` before the first activation.
    pub fn max_block(&self) -> Option<u32> {
        Some(self.max_block.load(Ordering::Relaxed)).filter(|&b| b > 0)
    }

    /// The tier the running engine was built with.
    pub fn active_tier(&self) -> Option<LatencyTier> {
        match self.active_tier.load(Ordering::Relaxed) {
            NONE => None,
            i => Some(LatencyTier::from_index(i as usize)),
        }
    }

    /// The model choice the running engine was built with.
    pub fn active_model(&self) -> Option<ModelChoice> {
        match self.active_model.load(Ordering::Relaxed) {
            NONE => None,
            i => Some(ModelChoice::from_index(i as usize)),
        }
    }

    /// The precision the running engine was built with.
    pub fn active_precision(&self) -> Option<Precision> {
        match self.active_precision.load(Ordering::Relaxed) {
            NONE => None,
            i => Some(Precision::from_index(i as usize)),
        }
    }

    /// A copy of the engine's status (GUI only; `None` while inactive).
    pub fn snapshot(&self) -> Option<EngineSnapshot> {
        let engine = self.engine()?;
        let s = &engine.status;
        Some(EngineSnapshot {
            state: s.state(),
            message: s.message(),
            latency_samples: self.latency_samples.load(Ordering::Relaxed),
            sample_rate: self.sample_rate.load(Ordering::Relaxed),
            load: s.load.load(Ordering::Relaxed),
            peak_load: s.peak_load.load(Ordering::Relaxed),
            missed_hops: s.missed_hops.load(Ordering::Relaxed),
        })
    }
}

/// Peak of the absolute values of `samples` (0 for an empty slice).
#[inline]
pub fn peak(samples: &[f32]) -> f32 {
    samples.iter().fold(0.0f32, |m, &x| m.max(x.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meters_keep_the_highest_peak_until_taken() {
        let m = Meters::default();
        m.publish([0.5, 0.0, 0.1, 0.0], 0.25);
        m.publish([0.2, 0.3, 0.0, 0.0], 0.75);
        assert_eq!(m.take(), ([0.5, 0.3, 0.1, 0.0], 0.75));
        assert_eq!(m.take(), ([0.0; 4], 0.0), "taking resets");
    }

    #[test]
    fn hub_reports_inactive_until_activated() {
        let hub = PluginHub::default();
        assert!(hub.snapshot().is_none());
        assert_eq!(hub.active_tier(), None);
        assert_eq!(hub.sample_rate(), None);
        assert_eq!(peak(&[0.1, -0.9, 0.3]), 0.9);
        assert_eq!(peak(&[]), 0.0);
    }
}
