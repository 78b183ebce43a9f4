//! `EngineStatus`: what the engine tells the GUI and the host, through atomics only.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};

use atomic_float::AtomicF32;
use parking_lot::Mutex;

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
///
/// The audio thread only touches the atomics; `message` is written by the worker and the main
/// thread and read by the GUI.
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
    message: Mutex<String>,
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
            message: Mutex::new("starting".into()),
        }
    }
}

impl EngineStatus {
    /// Current backend state.
    pub fn state(&self) -> BackendState {
        BackendState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Sets the state and the human-readable message (never called on the audio thread).
    pub fn set(&self, state: BackendState, message: impl Into<String>) {
        *self.message.lock() = message.into();
        self.state.store(state as u8, Ordering::Release);
    }

    /// The human-readable status line (never called on the audio thread).
    pub fn message(&self) -> String {
        self.message.lock().clone()
    }

    /// Records one finished hop's load.
    pub fn record_load(&self, load: f32) {
        self.load.store(load, Ordering::Relaxed);
        if load > self.peak_load.load(Ordering::Relaxed) {
            self.peak_load.store(load, Ordering::Relaxed);
        }
    }
}
