//! `EngineStatus`: what the engine tells the GUI and the host. The audio thread touches only the
//! atomics; the [`BackendInfo`] is written by the worker and read by the GUI and tests.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use atomic_float::AtomicF32;
use parking_lot::Mutex;

use super::info::BackendInfo;

/// Lifecycle of the backend on the inference worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BackendState {
    /// The worker is creating the backend (loading models).
    Loading = 0,
    /// Windows are being separated.
    Ready = 1,
    /// The backend could not be created or failed; audio passes through dry.
    Failed = 2,
    /// The worker has stopped.
    Stopped = 3,
}

impl BackendState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Loading,
            1 => Self::Ready,
            2 => Self::Failed,
            _ => Self::Stopped,
        }
    }
}

/// Counters and state shared by the audio thread, the worker and the GUI.
#[derive(Debug)]
pub struct EngineStatus {
    state: AtomicU8,
    /// Hops whose result was not ready in time (real-time mode) and were replaced by dry audio.
    pub missed_hops: AtomicU64,
    /// Hops the worker finished.
    pub hops_done: AtomicU64,
    /// Index of the newest segment the worker delivered in the current stream.
    pub last_segment_done: AtomicI64,
    /// Compute time of the last hop as a fraction of the hop's duration (1.0 = just keeping up).
    pub load: AtomicF32,
    /// Highest `load` seen since activation.
    pub peak_load: AtomicF32,
    /// Model swaps completed since activation.
    pub swaps_done: AtomicU64,
    /// Input samples that were NaN or infinite and entered the history as silence.
    pub non_finite_input: AtomicU64,
    /// Windows whose separation failed (an error, a panic, non-finite stems); their hops
    /// played the dry input.
    pub failed_windows: AtomicU64,
    /// Level of the last window's residual `mixture − Σ stems` relative to the input in dB,
    /// while stems that null are on (it was assigned to the stems); NaN while they are off.
    pub residual_db: AtomicF32,
    info: Mutex<Option<Arc<BackendInfo>>>,
    /// Why the last failed window failed (one line).
    window_error: Mutex<Option<String>>,
}

impl Default for EngineStatus {
    fn default() -> Self {
        Self {
            state: AtomicU8::new(BackendState::Loading as u8),
            missed_hops: AtomicU64::new(0),
            hops_done: AtomicU64::new(0),
            last_segment_done: AtomicI64::new(i64::MIN),
            load: AtomicF32::new(0.0),
            peak_load: AtomicF32::new(0.0),
            swaps_done: AtomicU64::new(0),
            non_finite_input: AtomicU64::new(0),
            failed_windows: AtomicU64::new(0),
            residual_db: AtomicF32::new(f32::NAN),
            info: Mutex::new(None),
            window_error: Mutex::new(None),
        }
    }
}

impl EngineStatus {
    /// Current backend state.
    pub fn state(&self) -> BackendState {
        BackendState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Publishes the state and what the backend is (worker thread, never the audio thread).
    pub fn publish(&self, state: BackendState, info: BackendInfo) {
        *self.info.lock() = Some(Arc::new(info));
        self.state.store(state as u8, Ordering::Release);
    }

    /// Changes only the state (worker thread), keeping the published info.
    pub fn set_state(&self, state: BackendState) {
        self.state.store(state as u8, Ordering::Release);
    }

    /// The latest published backend info (`None` while loading; never the audio thread).
    pub fn info(&self) -> Option<Arc<BackendInfo>> {
        self.info.lock().clone()
    }

    /// The human-readable status line (never called on the audio thread): the backend's, then
    /// what went wrong along the way ([`Self::health`]).
    pub fn message(&self) -> String {
        let line = match (self.state(), self.info()) {
            (BackendState::Stopped, _) => "stopped".into(),
            (BackendState::Loading, _) | (_, None) => "loading".into(),
            (_, Some(info)) => info.status_line(),
        };
        let line = match self.residual() {
            Some(residual) => format!("{line}; {residual}"),
            None => line,
        };
        match self.health() {
            Some(health) => format!("{line}; {health}"),
            None => line,
        }
    }

    /// `stems null (residual −23.1 dB assigned)` while stems that null are on.
    pub fn residual(&self) -> Option<String> {
        let db = self.residual_db.load(Ordering::Relaxed);
        if db.is_nan() {
            return None;
        }
        Some(if db == f32::NEG_INFINITY {
            "stems null (no residual)".to_string()
        } else {
            format!("stems null (residual {db:.1} dB assigned)")
        })
    }

    /// Bad input and failed windows since activation, or `None` when there were none.
    pub fn health(&self) -> Option<String> {
        let mut parts = Vec::new();
        let bad = self.non_finite_input.load(Ordering::Relaxed);
        if bad > 0 {
            parts.push(format!("{bad} NaN/Inf input samples replaced by silence"));
        }
        let failed = self.failed_windows.load(Ordering::Relaxed);
        if failed > 0 {
            let s = if failed == 1 { "" } else { "s" };
            let why = self.window_error.lock().clone().unwrap_or_default();
            parts.push(format!(
                "{failed} window{s} failed and played dry (last: {why})"
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Counts a failed window and keeps its reason (worker thread).
    pub fn window_failed(&self, reason: String) {
        *self.window_error.lock() = Some(reason);
        self.failed_windows.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one finished hop's load.
    pub fn record_load(&self, load: f32) {
        self.load.store(load, Ordering::Relaxed);
        if load > self.peak_load.load(Ordering::Relaxed) {
            self.peak_load.store(load, Ordering::Relaxed);
        }
    }
}
