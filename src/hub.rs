//! `PluginHub`: what the plugin shares with its editor besides the parameters.
//!
//! Three kinds of data, with three access rules, so the GUI never blocks the audio thread:
//!
//! - the running engine's [`EngineShared`] and the [`ActivationFacts`] sit behind mutexes that
//!   only the main thread (`activate`/`deactivate`) writes and only the GUI reads; the audio
//!   thread never touches them. What the backend is comes from the engine's own
//!   [`BackendInfo`], published by the inference worker;
//! - the meters are [`AtomicF32`]s the audio thread raises once per `process()` call with a
//!   lock-free max (no allocation, no lock) and the GUI takes (swaps to zero) once per frame, so
//!   no block peak is lost between two frames. Ballistics happen in the GUI.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use atomic_float::AtomicF32;
use danna_sep_core::engine::{BackendInfo, EngineShared, LatencyTier};
use danna_sep_core::stems::STEM_COUNT;
use parking_lot::Mutex;

use crate::editor::view_model::EngineSnapshot;

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

/// What `activate` decided, once: the latency it reported and the host configuration and tier
/// it was built for. Model choice and precision are not among them: they change without a
/// re-activation, and what runs is in the engine's [`BackendInfo`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivationFacts {
    /// Latency reported to the host, in samples.
    pub latency_samples: u32,
    /// Host sample rate.
    pub sample_rate: f32,
    /// Host maximum block size.
    pub max_block: u32,
    /// The tier the engine was built with.
    pub tier: LatencyTier,
}

/// Shared between the plugin and its editor (see the module docs for who touches what).
#[derive(Default)]
pub struct PluginHub {
    engine: Mutex<Option<Arc<EngineShared>>>,
    /// The latest activation's facts; kept after deactivation so the tier selector can still
    /// show latencies at the host's rate.
    facts: Mutex<Option<ActivationFacts>>,
    /// Why the latest `activate()` returned false (`None` once one succeeds).
    refusal: Mutex<Option<String>>,
    /// Per-stem and main-output peaks.
    pub meters: Meters,
}

impl PluginHub {
    /// Records a freshly activated engine (main thread, `activate`).
    pub fn activate(&self, shared: Arc<EngineShared>, facts: ActivationFacts) {
        *self.facts.lock() = Some(facts);
        *self.engine.lock() = Some(shared);
        *self.refusal.lock() = None;
    }

    /// Records why `activate()` refused the host's configuration (main thread).
    pub fn refuse(&self, reason: String) {
        *self.engine.lock() = None;
        *self.refusal.lock() = Some(reason);
    }

    /// Why the latest activation was refused, if it was (GUI and tests).
    pub fn refusal(&self) -> Option<String> {
        self.refusal.lock().clone()
    }

    /// Forgets the engine (main thread, `deactivate`).
    pub fn deactivate(&self) {
        *self.engine.lock() = None;
    }

    /// The running engine's shared state (GUI only).
    pub fn engine(&self) -> Option<Arc<EngineShared>> {
        self.engine.lock().clone()
    }

    /// The latest activation's facts, or `None` before the first activation.
    pub fn facts(&self) -> Option<ActivationFacts> {
        *self.facts.lock()
    }

    /// The tier the running engine was built with (`None` while inactive).
    pub fn active_tier(&self) -> Option<LatencyTier> {
        self.engine.lock().as_ref()?;
        self.facts().map(|f| f.tier)
    }

    /// What the running engine's backend is (`None` while inactive or loading).
    pub fn backend_info(&self) -> Option<Arc<BackendInfo>> {
        self.engine()?.status.info()
    }

    /// A copy of the engine's status (GUI only; `None` while inactive).
    pub fn snapshot(&self) -> Option<EngineSnapshot> {
        let engine = self.engine()?;
        let facts = self.facts()?;
        let s = &engine.status;
        Some(EngineSnapshot {
            state: s.state(),
            message: s.message(),
            latency_samples: facts.latency_samples,
            sample_rate: facts.sample_rate,
            load: s.load.load(Ordering::Relaxed),
            peak_load: s.peak_load.load(Ordering::Relaxed),
            missed_hops: s.missed_hops.load(Ordering::Relaxed),
            requested: engine.requested().spec,
            info: s.info(),
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
        assert_eq!(hub.facts(), None);
        assert_eq!(peak(&[0.1, -0.9, 0.3]), 0.9);
        assert_eq!(peak(&[]), 0.0);
    }
}
