//! The streaming separation engine: pure Rust, testable without a host.
//!
//! The audio thread ([`StreamingEngine`]) writes host audio into a lock-free [`MixHistory`];
//! the [`InferenceWorker`] cuts overlapping windows out of it, resamples them to 44.1 kHz, runs
//! a [`SeparationBackend`] and sends each window's middle part back through a pre-allocated
//! SPSC ring. The audio thread joins consecutive parts with complementary crossfades, delayed by
//! exactly [`LatencyBudget::total`] samples.
//!
//! # Threads and what crosses between them
//! - audio thread → worker: input frames (the seqlock-checked [`MixHistory`]), the earliest
//!   window still wanted and the requested [`BackendSpec`] (atomics);
//! - worker → audio thread: finished [`Segment`]s through an SPSC ring, empty ones back through
//!   another; both rings hold the whole pre-allocated pool, so neither side ever allocates;
//! - worker → GUI: the [`EngineStatus`] (atomics and one immutable [`BackendInfo`]).

pub mod backend;
pub mod history;
pub mod info;
pub mod latency;
pub mod null;
pub mod offline;
pub mod status;
pub mod stream;
pub mod testing;
pub mod threads;
pub mod tier;
pub mod window_resampler;
pub mod worker;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

pub use backend::{factory_of, BackendFactory, SeparationBackend, StemBuffers};
pub use history::MixHistory;
pub use info::{BackendInfo, ModelSetSummary, RuntimeInfo};
pub use latency::{LatencyBudget, WindowGeometry};
pub use offline::{OfflineError, OfflineReport};
pub use status::{BackendState, EngineStatus};
pub use stream::{EngineBlock, StreamingEngine};
pub use threads::ThreadGroup;
pub use tier::{LatencyTier, TierSpec, MODEL_RATE};
pub use worker::{
    BackendHandoff, InferenceWorker, ParkedBackend, Segment, MAX_CONSECUTIVE_FAILURES,
};

use crate::selection::{BackendSpec, NullStems};

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
    /// The requested backend spec and the stream position it was requested at, packed into
    /// one atomic so the audio thread requests with one store (see [`Self::request`]).
    request: AtomicU64,
    /// The code of the spec whose first build failed while the worker waits for another
    /// request, or [`NO_FAILED_BUILD`]: see [`Self::will_deliver`].
    failed_build: AtomicU32,
    /// Where the engine's threads are counted.
    pub threads: ThreadGroup,
    /// Offline render (host bounce): the audio thread waits for every window and the worker
    /// builds swaps itself, before the window they apply to. Set from [`EngineConfig::offline`]
    /// and changed only by [`StreamingEngine::set_offline`].
    pub offline: AtomicBool,
    /// [`NullStems::code`] of the stems-that-null setting; read by the worker per window.
    null_stems: AtomicU8,
}

/// A requested backend spec and the input position (frames into the stream) it was requested
/// at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendRequest {
    /// What should run.
    pub spec: BackendSpec,
    /// Input frames written to the stream when it was requested.
    pub at: i64,
}

/// [`EngineShared::failed_build`] when no build is waiting for another request.
const NO_FAILED_BUILD: u32 = u32::MAX;

/// Bits of the packed request that hold the spec code.
const SPEC_BITS: u32 = 8;

impl EngineShared {
    /// Asks the worker for `spec` from input position `at` on: one atomic store, safe on the
    /// audio thread.
    pub fn request(&self, spec: BackendSpec, at: i64) {
        let packed = ((at.max(0) as u64) << SPEC_BITS) | u64::from(spec.code());
        self.request.store(packed, Ordering::Release);
    }

    /// Sets whether the stems are made to sum to the input (from the next window on): one
    /// atomic store, safe on the audio thread.
    pub fn set_null_stems(&self, null: NullStems) {
        self.null_stems.store(null.code(), Ordering::Relaxed);
    }

    /// The stems-that-null setting.
    pub fn null_stems(&self) -> NullStems {
        NullStems::from_code(self.null_stems.load(Ordering::Relaxed))
    }

    /// The latest request.
    pub fn requested(&self) -> BackendRequest {
        let packed = self.request.load(Ordering::Acquire);
        let code = (packed & ((1 << SPEC_BITS) - 1)) as u32;
        BackendRequest {
            spec: BackendSpec::from_code(code).unwrap_or_default(),
            at: (packed >> SPEC_BITS) as i64,
        }
    }

    /// Whether the worker will still deliver windows while the stream asks for `requested`:
    /// loading or running, or waiting after a failed first build for a request other than the
    /// one that failed. An offline stream waits exactly then, so after a failed load a model
    /// change takes effect at the block that asked for it, not whenever the worker notices.
    ///
    /// Lock free. The worker stores the failed spec before it publishes Failed, and clears it
    /// only after it has published Ready (or before it ends), so a stale Failed read here is
    /// caught by the second look at the state.
    pub fn will_deliver(&self, requested: BackendSpec) -> bool {
        let alive = |state| matches!(state, BackendState::Loading | BackendState::Ready);
        match self.status.state() {
            BackendState::Failed => match self.failed_build.load(Ordering::Acquire) {
                NO_FAILED_BUILD => alive(self.status.state()),
                failed => failed != requested.code(),
            },
            state => alive(state),
        }
    }

    /// Worker: the first build of `spec` failed and the worker waits for another request (call
    /// before publishing Failed).
    fn build_failed(&self, spec: BackendSpec) {
        self.failed_build.store(spec.code(), Ordering::Release);
    }

    /// Worker: no failed build is waiting any more (call after publishing Ready, or when the
    /// worker ends).
    fn build_recovered(&self) {
        self.failed_build.store(NO_FAILED_BUILD, Ordering::Release);
    }
}

/// How to build an engine.
pub struct EngineConfig {
    /// Latency and window geometry.
    pub budget: LatencyBudget,
    /// Wait for every window (offline render) instead of falling back to dry audio.
    pub offline: bool,
    /// The backend to start with.
    pub spec: BackendSpec,
    /// The previous activation's backend: used instead of a new one when its spec is `spec`,
    /// freed (off the host's thread) otherwise.
    pub reuse: Option<BackendHandoff>,
    /// The group the engine's threads are counted in (a new one unless given).
    pub threads: ThreadGroup,
}

impl EngineConfig {
    /// A real-time engine with the default spec and nothing to reuse.
    pub fn new(budget: LatencyBudget) -> Self {
        Self {
            budget,
            offline: false,
            spec: BackendSpec::default(),
            reuse: None,
            threads: ThreadGroup::new(),
        }
    }

    /// Offline (wait for every window) or real time.
    pub fn offline(self, offline: bool) -> Self {
        Self { offline, ..self }
    }

    /// Starts with `spec`.
    pub fn spec(self, spec: BackendSpec) -> Self {
        Self { spec, ..self }
    }

    /// Counts the engine's threads in `threads` (a plugin instance waits for its group when
    /// it is destroyed).
    pub fn threads(self, threads: ThreadGroup) -> Self {
        Self { threads, ..self }
    }

    /// Reuses the backend `parked` hands over if it runs the same spec.
    pub fn reusing(self, parked: Option<BackendHandoff>) -> Self {
        Self {
            reuse: parked,
            ..self
        }
    }
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
        request: AtomicU64::new(0),
        failed_build: AtomicU32::new(NO_FAILED_BUILD),
        threads: config.threads.clone(),
        offline: AtomicBool::new(config.offline),
        null_stems: AtomicU8::new(NullStems::default().code()),
    });
    shared.request(config.spec, 0);
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
            failed: false,
        });
        if free_tx.push(seg).is_err() {
            unreachable!("the free ring has room for the whole pool");
        }
    }
    let worker = InferenceWorker::spawn(
        shared.clone(),
        worker::WorkerSetup {
            budget,
            factory,
            reuse: config.reuse,
            spec: config.spec,
            free: free_rx,
            done: done_tx,
        },
    );
    let engine = StreamingEngine::new(
        shared.clone(),
        budget,
        free_tx,
        done_rx,
        config.offline,
        config.spec,
    );
    (engine, worker, shared)
}
