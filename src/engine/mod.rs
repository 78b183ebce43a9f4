//! The streaming separation engine: pure Rust, testable without a host.
//!
//! The audio thread ([`StreamingEngine`]) writes host audio into a lock-free [`MixHistory`];
//! the [`InferenceWorker`] cuts overlapping windows out of it, resamples them to 44.1 kHz, runs
//! a [`SeparationBackend`] and sends each window's middle part back through a pre-allocated
//! SPSC ring. The audio thread joins consecutive parts with complementary crossfades, delayed by
//! exactly [`LatencyBudget::total`] samples.

pub mod backend;
pub mod history;
pub mod latency;
pub mod mixer;
pub mod offline;
pub mod resample;
pub mod status;
pub mod stream;
pub mod tier;
pub mod worker;

use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::Arc;

pub use backend::{
    BackendError, IdentityBackend, SeparationBackend, SlowBackend, StemBuffers, STEM_COUNT,
    STEM_NAMES,
};
pub use history::MixHistory;
pub use latency::{LatencyBudget, WindowGeometry};
pub use mixer::{MixerSettings, OutputChannels, OutputSelect, StemMixer};
pub use status::{BackendState, EngineStatus};
pub use stream::{EngineBlock, StreamingEngine};
pub use tier::{LatencyTier, TierSpec, MODEL_RATE};
pub use worker::{BackendFactory, InferenceWorker, Segment};

/// Index of the first window of a stream: window −1 supplies the fade-out that the first
/// output samples crossfade with.
pub const FIRST_SEGMENT: i64 = -1;

/// State shared by the audio thread and the worker.
pub struct EngineShared {
    /// The input at the host rate.
    pub history: MixHistory,
    /// Counters and status line.
    pub status: EngineStatus,
    /// The earliest window the audio thread can still use; the worker skips earlier ones.
    pub wanted: AtomicI64,
    /// Asks the worker to exit.
    pub stop: AtomicBool,
    /// Where the real input ends, when that is known in advance (offline runs of a whole file;
    /// `i64::MAX` otherwise): windows whose output lies entirely beyond it are only ever
    /// trimmed off, so the worker hands back silence for them instead of running the models.
    pub input_end: AtomicI64,
}

/// How to build an engine.
pub struct EngineConfig {
    /// Latency and window geometry.
    pub budget: LatencyBudget,
    /// Wait for every window (offline render) instead of falling back to dry audio.
    pub offline: bool,
}

/// Builds both halves of an engine and starts the worker; call from `activate()`, never from
/// the audio thread. The backend is created by `factory` on the worker thread.
pub fn build(
    config: EngineConfig,
    factory: BackendFactory,
) -> (StreamingEngine, InferenceWorker, Arc<EngineShared>) {
    let budget = config.budget;
    let g = budget.geometry;
    // Room for the longest look-back (the dry path at `latency`, the oldest window start) plus
    // a second of slack for a worker that falls behind.
    let history_frames =
        budget.total() + g.window() + budget.max_block + budget.sample_rate as usize;
    let shared = Arc::new(EngineShared {
        history: MixHistory::new(history_frames),
        status: EngineStatus::default(),
        wanted: AtomicI64::new(FIRST_SEGMENT),
        stop: AtomicBool::new(false),
        input_end: AtomicI64::new(i64::MAX),
    });
    // Segments in flight: those the latency spans, the three the audio thread may hold, and
    // one being written by the worker.
    let pool = budget.total() / g.hop + 6;
    let (mut free_tx, free_rx) = rtrb::RingBuffer::new(pool);
    let (done_tx, done_rx) = rtrb::RingBuffer::new(pool);
    for _ in 0..pool {
        let seg = Box::new(Segment {
            index: i64::MIN,
            epoch: u64::MAX,
            stems: StemBuffers::new(g.segment()),
        });
        if free_tx.push(seg).is_err() {
            unreachable!("the free ring has room for the whole pool");
        }
    }
    let worker = InferenceWorker::spawn(
        shared.clone(),
        budget,
        factory,
        !config.offline,
        free_rx,
        done_tx,
    );
    let engine = StreamingEngine::new(shared.clone(), budget, free_tx, done_rx, config.offline);
    (engine, worker, shared)
}
