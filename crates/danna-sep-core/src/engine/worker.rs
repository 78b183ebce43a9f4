//! `InferenceWorker`: the background thread that cuts windows out of the input history, runs
//! the backend on them and hands the results to the audio thread.
//!
//! # Staged model swap
//! The audio thread asks for another [`BackendSpec`] with one atomic store
//! ([`EngineShared::request`]); the worker notices it between two windows. In real time a
//! loader thread builds, prepares and warms up the new backend while the old one keeps
//! separating; the worker installs it before its next window, so the two backends meet in the
//! usual crossfade between consecutive windows, and the old one is freed on a disposal thread
//! (never the audio thread, and not the worker, whose next window must not wait for it). When
//! the new backend cannot be built the old one keeps running and the reason is published.
//! Offline (host bounce), the worker builds the new backend itself, before the first window
//! that the request's block could not yet see, so a render is the same on every run.
//! When the first build fails there is no old backend: audio plays dry and the worker waits
//! for another request; an offline stream that makes one waits for its windows from that
//! block on ([`EngineShared::will_deliver`]) instead of playing dry until the worker notices.
//!
//! # Stopping never waits
//! [`InferenceWorker::stop`] sets the stop flag and returns at once with a [`BackendHandoff`]:
//! the host's main thread (deactivate, re-activate) never waits for a window or a model load.
//! The worker ends after the step it is in (a window, or one of factory / prepare / warm-up)
//! and puts its backend into the handoff. Passing the handoff to the next engine for the same
//! spec skips the model load: the new worker thread takes the backend out (waiting there, not
//! on the host's thread, for the old one to finish its step) and only prepares it for the new
//! window length. A handoff nobody takes lets the old thread free its backend itself.
//!
//! # Failures are contained
//! Everything the worker runs (factory, prepare, warm-up, every window) goes through
//! [`SeparationError::catching`]: a panic becomes an error. A window that fails, panics or
//! comes back with non-finite samples is counted and its hop plays dry; only
//! [`MAX_CONSECUTIVE_FAILURES`] failures in a row end separation (state Failed, audio dry). The
//! thread publishes Stopped or Failed whatever way it ends, so an offline render that waits for
//! results always ends. Inference threads flush subnormals to zero ([`flush_denormals_on_this_thread`]).

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer};

use super::backend::{BackendFactory, SeparationBackend, StemBuffers};
use super::info::BackendInfo;
use super::latency::LatencyBudget;
use super::status::BackendState;
use super::threads::ThreadGroup;
use super::window_resampler::WindowResampler;
use super::{BackendRequest, EngineShared, FIRST_SEGMENT};
use crate::dsp::finite::{count_non_finite, flush_denormals_on_this_thread};
use crate::error::{one_line, SeparationError};
use crate::selection::BackendSpec;
use crate::stems::STEM_COUNT;

/// One hop's result: stems for output samples `[index·hop, (index+1)·hop + crossfade)`.
pub struct Segment {
    /// Window index within the stream.
    pub index: i64,
    /// Stream epoch the window was cut from; results of an older epoch are discarded.
    pub epoch: u64,
    /// The stems of the segment, at the host rate.
    pub stems: StemBuffers,
    /// The window failed: there are no stems, the dry input stands in for this hop.
    pub failed: bool,
}

/// A backend kept between two activations, with the spec it was built for.
pub struct ParkedBackend {
    spec: BackendSpec,
    backend: Box<dyn SeparationBackend>,
    /// The model-rate window length it is prepared and warmed up for (0: not prepared).
    ready_for: usize,
}

impl ParkedBackend {
    /// The spec the parked backend runs.
    pub fn spec(&self) -> BackendSpec {
        self.spec
    }
}

/// How long the worker sleeps when there is nothing to do.
const IDLE_POLL: Duration = Duration::from_millis(1);

/// Failed windows in a row after which the worker gives up (state Failed, audio dry): one bad
/// window is a glitch, this many means the backend is broken.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 3;

/// Owns the worker thread. [`Self::stop`] does not wait for it; dropping a worker that was not
/// stopped stops it and waits (the CLI and tests, which need the thread gone).
pub struct InferenceWorker {
    shared: Arc<EngineShared>,
    handoff: Option<BackendHandoff>,
}

/// The backend of a stopped worker, available once the worker has finished the step it was in.
/// Dropped untaken, the worker thread frees the backend itself.
pub struct BackendHandoff {
    ready: Option<ParkedBackend>,
    pending: Option<(JoinHandle<()>, mpsc::Receiver<Option<ParkedBackend>>)>,
    threads: ThreadGroup,
}

impl From<ParkedBackend> for BackendHandoff {
    fn from(parked: ParkedBackend) -> Self {
        Self {
            ready: Some(parked),
            pending: None,
            threads: ThreadGroup::new(),
        }
    }
}

impl BackendHandoff {
    /// Whether the worker has finished (taking the backend then does not block).
    pub fn is_finished(&self) -> bool {
        self.pending.as_ref().is_none_or(|(h, _)| h.is_finished())
    }

    /// Waits for the worker thread to end and takes its backend (`None` if it had none, or
    /// failed). Blocks for the rest of the worker's current step: not for a host's main thread
    /// except where the plugin's code must be gone (instance destruction).
    pub fn wait(mut self) -> Option<ParkedBackend> {
        if let Some((handle, rx)) = self.pending.take() {
            let _ = handle.join();
            self.ready = rx.try_recv().ok().flatten();
        }
        self.ready.take()
    }

    /// Lets the backend go without waiting: a reaper thread waits for the worker and frees
    /// the backend (if no thread can be started, the worker frees it itself when it ends).
    pub fn discard(self) {
        let threads = self.threads.clone();
        let _ = threads.spawn("danna-sep-reaper", move || drop(self.wait()));
    }

    /// [`Self::wait`], but gives up (and leaves the old thread to free its backend) when
    /// `stop` is set meanwhile.
    fn wait_unless(mut self, stop: &std::sync::atomic::AtomicBool) -> Option<ParkedBackend> {
        let Some((handle, rx)) = self.pending.take() else {
            return self.ready.take();
        };
        loop {
            match rx.recv_timeout(IDLE_POLL * 5) {
                Ok(parked) => {
                    // Sent as the thread's last act: the join is immediate.
                    let _ = handle.join();
                    return parked;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) if stop.load(Ordering::Acquire) => {
                    return None
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

impl InferenceWorker {
    /// Starts the worker thread; if no thread can be started, the engine reports Failed and
    /// passes audio through dry.
    pub(crate) fn spawn(shared: Arc<EngineShared>, setup: WorkerSetup) -> Self {
        let thread_shared = shared.clone();
        let (tx, rx) = mpsc::channel();
        let started = shared.threads.spawn("danna-sep-inference", move || {
            flush_denormals_on_this_thread();
            let spec = setup.spec;
            let ended = SeparationError::catching("the inference worker", || {
                Ok(worker_main(&thread_shared, setup))
            });
            let status = &thread_shared.status;
            let parked = match ended {
                Ok(parked) => parked,
                Err(e) => {
                    status.publish(
                        BackendState::Failed,
                        BackendInfo::failed(spec, one_line(&e)),
                    );
                    None
                }
            };
            // Whatever happened, nobody waits for a result from this thread any more.
            if matches!(status.state(), BackendState::Loading | BackendState::Ready) {
                status.set_state(BackendState::Stopped);
            }
            thread_shared.build_recovered();
            let _ = tx.send(parked);
        });
        let handoff = match started {
            Ok(handle) => Some(BackendHandoff {
                ready: None,
                pending: Some((handle, rx)),
                threads: shared.threads.clone(),
            }),
            Err(e) => {
                let e = SeparationError::Thread(format!("starting the inference thread: {e}"));
                shared.status.publish(
                    BackendState::Failed,
                    BackendInfo::failed(BackendSpec::default(), one_line(&e)),
                );
                None
            }
        };
        Self { shared, handoff }
    }

    /// Asks the thread to stop and returns at once (see the module docs): the backend comes
    /// back through the handoff when the thread has finished its current step.
    pub fn stop(&mut self) -> BackendHandoff {
        self.shared.stop.store(true, Ordering::Release);
        self.handoff.take().unwrap_or(BackendHandoff {
            ready: None,
            pending: None,
            threads: self.shared.threads.clone(),
        })
    }
}

impl Drop for InferenceWorker {
    fn drop(&mut self) {
        if let Some(parked) = self.stop().wait() {
            dispose(&self.shared.threads, parked.backend);
        }
    }
}

/// Frees a backend on a short-lived thread of its own (closing ONNX Runtime sessions and
/// unmapping their memory takes a while). If no thread can be started, `spawn` drops the
/// closure, and the backend with it, right here.
fn dispose(threads: &ThreadGroup, backend: Box<dyn SeparationBackend>) {
    let _ = threads.spawn("danna-sep-dispose", move || drop(backend));
}

/// What the worker thread starts with.
pub(crate) struct WorkerSetup {
    pub budget: LatencyBudget,
    pub factory: BackendFactory,
    /// The previous activation's backend, when it may be reused.
    pub reuse: Option<BackendHandoff>,
    /// The spec to build first (a request that arrives meanwhile is a swap, not a new start).
    pub spec: BackendSpec,
    pub free: Consumer<Box<Segment>>,
    pub done: Producer<Box<Segment>>,
}

/// Why building a backend did not give one to run.
enum BuildOutcome {
    /// Built and prepared (and warmed up, in real time).
    Ready(Box<dyn SeparationBackend>),
    /// The engine was stopped between two steps; the backend, if the factory made one, is
    /// worth parking (it is prepared again when reused).
    Stopped(Option<Box<dyn SeparationBackend>>),
    Failed(SeparationError),
}

/// Builds (unless a parked backend is given), prepares and, for `warm_up`, warms up the
/// backend for `spec`, one guarded step at a time, checking `stop` between the steps. A parked
/// backend already prepared and warmed up for `frames` (a re-activation at the same rate) is
/// used as it is.
fn build_backend(
    factory: &BackendFactory,
    spec: BackendSpec,
    parked: Option<ParkedBackend>,
    frames: usize,
    warm_up: bool,
    stop: &std::sync::atomic::AtomicBool,
) -> BuildOutcome {
    let stopped = || stop.load(Ordering::Acquire);
    let mut backend = match parked {
        Some(p) if p.ready_for == frames => return BuildOutcome::Ready(p.backend),
        Some(p) => p.backend,
        None => match SeparationError::catching("loading the models", || factory(spec)) {
            Ok(b) => b,
            Err(e) => return BuildOutcome::Failed(e),
        },
    };
    if stopped() {
        return BuildOutcome::Stopped(Some(backend));
    }
    if let Err(e) = SeparationError::catching("preparing the models", || backend.prepare(frames)) {
        return BuildOutcome::Failed(e);
    }
    if warm_up {
        if stopped() {
            return BuildOutcome::Stopped(Some(backend));
        }
        if let Err(e) = SeparationError::catching("warming up", || backend.warm_up(frames)) {
            return BuildOutcome::Failed(e);
        }
    }
    BuildOutcome::Ready(backend)
}

/// What `backend`, built for `spec`, publishes.
fn info_of(spec: BackendSpec, backend: &dyn SeparationBackend) -> BackendInfo {
    BackendInfo {
        spec: Some(spec),
        ..backend.info()
    }
}

fn worker_main(shared: &Arc<EngineShared>, setup: WorkerSetup) -> Option<ParkedBackend> {
    let status = &shared.status;
    let WorkerSetup {
        budget,
        factory,
        reuse,
        spec: first,
        free,
        done,
    } = setup;
    // Waits here (not on the host's thread) for the previous worker to finish its step.
    let mut parked = reuse.and_then(|h| h.wait_unless(&shared.stop));
    let fail = |spec, e: &SeparationError| {
        status.publish(BackendState::Failed, BackendInfo::failed(spec, one_line(e)))
    };
    let resampler = match WindowResampler::new(budget.sample_rate, budget.geometry.window()) {
        Ok(r) => r,
        Err(e) => {
            fail(first, &e);
            return parked;
        }
    };
    let frames = resampler.model_frames();
    let mut spec = first;
    // A parked backend for another spec is freed only after the new one is built, so the
    // sessions the two share stay open instead of being closed and loaded again.
    let mut superseded = None;
    let backend = loop {
        let reused = match parked.take() {
            Some(p) if p.spec == spec => Some(p),
            Some(p) => {
                superseded = Some(p.backend);
                None
            }
            None => None,
        };
        let real_time = !shared.offline.load(Ordering::Acquire);
        match build_backend(&factory, spec, reused, frames, real_time, &shared.stop) {
            BuildOutcome::Ready(backend) => break backend,
            BuildOutcome::Stopped(backend) => {
                return backend.map(|backend| ParkedBackend {
                    spec,
                    backend,
                    ready_for: 0,
                })
            }
            BuildOutcome::Failed(e) => {
                shared.build_failed(spec);
                fail(spec, &e);
                // Audio passes through dry meanwhile. Another model choice may load, so wait
                // for one (or for the end) instead of giving up.
                while shared.requested().spec == spec {
                    if shared.stop.load(Ordering::Acquire) {
                        return None;
                    }
                    std::thread::sleep(IDLE_POLL * 10);
                }
                status.set_state(BackendState::Loading);
                spec = shared.requested().spec;
            }
        }
    };
    if let Some(old) = superseded {
        dispose(&shared.threads, old);
    }
    // Prepared (and in real time warmed up) for this window length.
    let ready_for = if shared.offline.load(Ordering::Acquire) {
        0
    } else {
        frames
    };
    if shared.stop.load(Ordering::Acquire) {
        return Some(ParkedBackend {
            spec,
            backend,
            ready_for,
        });
    }
    status.publish(BackendState::Ready, info_of(spec, backend.as_ref()));
    shared.build_recovered();
    let mut w = WorkerLoop {
        shared: shared.clone(),
        budget,
        factory,
        spec,
        backend,
        failed: None,
        loading: None,
        consecutive_failures: 0,
        stems: StemBuffers::new(frames),
        model: [vec![0.0; frames], vec![0.0; frames]],
        host: std::array::from_fn(|_| vec![0.0; budget.geometry.window()]),
        resampler,
        free,
        done,
        spare: None,
    };
    let ended = w.run();
    if let Some(loading) = w.loading.take() {
        // The loader stops between its steps too; its backend is not needed any more.
        if let Ok(BuildOutcome::Ready(b) | BuildOutcome::Stopped(Some(b))) = loading.result.recv() {
            dispose(&shared.threads, b);
        }
    }
    match ended {
        Ok(()) => {
            status.set_state(BackendState::Stopped);
            Some(ParkedBackend {
                spec: w.spec,
                backend: w.backend,
                // A swapped-in backend was prepared and warmed up for this length too.
                ready_for,
            })
        }
        Err(e) => {
            let mut info = info_of(w.spec, w.backend.as_ref());
            info.error = Some(format!(
                "separation stopped after {MAX_CONSECUTIVE_FAILURES} failed windows in a row, \
                 audio passes through dry: {}",
                one_line(&e)
            ));
            status.publish(BackendState::Failed, info);
            None
        }
    }
}

/// A backend being built on the loader thread.
struct Loading {
    spec: BackendSpec,
    result: mpsc::Receiver<BuildOutcome>,
}

struct WorkerLoop {
    shared: Arc<EngineShared>,
    budget: LatencyBudget,
    factory: BackendFactory,
    spec: BackendSpec,
    backend: Box<dyn SeparationBackend>,
    /// The spec whose build failed last; not retried until another is requested.
    failed: Option<BackendSpec>,
    loading: Option<Loading>,
    /// Windows in a row that failed.
    consecutive_failures: u32,
    resampler: WindowResampler,
    free: Consumer<Box<Segment>>,
    done: Producer<Box<Segment>>,
    spare: Option<Box<Segment>>,
    host: [Vec<f32>; 2],
    model: [Vec<f32>; 2],
    stems: StemBuffers,
}

/// What a loader thread that ended without an answer amounts to.
fn loader_died() -> BuildOutcome {
    BuildOutcome::Failed(SeparationError::Thread(
        "the model loader thread died".into(),
    ))
}

impl WorkerLoop {
    /// Real time (the mode can change while the worker runs, see
    /// [`super::StreamingEngine::set_offline`]): swaps load aside and backends are warmed up.
    fn real_time(&self) -> bool {
        !self.shared.offline.load(Ordering::Acquire)
    }

    /// Separates windows until stopped; an error means too many failed windows in a row.
    fn run(&mut self) -> Result<(), SeparationError> {
        let g = self.budget.geometry;
        let mut epoch = u64::MAX;
        let mut next = FIRST_SEGMENT;
        while !self.shared.stop.load(Ordering::Acquire) {
            if self.real_time() {
                self.poll_swap();
            } else if let Some(loading) = self.loading.take() {
                // Loading aside when the host switched to offline: offline may wait for it.
                let outcome = loading.result.recv().unwrap_or_else(|_| loader_died());
                self.finish_swap(loading.spec, outcome);
            }
            let view = self.shared.history.view();
            if view.epoch != epoch {
                epoch = view.epoch;
                next = FIRST_SEGMENT;
            }
            // Windows the audio thread has moved past are useless: skipping them is how the
            // worker re-aligns after falling behind (the next wanted window has a whole hop of
            // time left when it becomes wanted).
            let k = next.max(self.shared.wanted.load(Ordering::Acquire));
            if g.window_end(k) > view.len {
                std::thread::sleep(IDLE_POLL);
                continue;
            }
            if !self.real_time() {
                self.swap_before(g.window_end(k));
            }
            let Some(mut seg) = self.spare.take().or_else(|| self.free.pop().ok()) else {
                std::thread::sleep(IDLE_POLL);
                continue;
            };
            seg.index = k;
            seg.epoch = epoch;
            seg.failed = false;
            if k * g.hop as i64 >= self.shared.input_end.load(Ordering::Acquire) {
                // Output that starts past the end of the input is trimmed off anyway.
                seg.stems.channels_mut().for_each(|c| c.fill(0.0));
                self.deliver(seg, k);
                next = k + 1;
                continue;
            }
            let started = Instant::now();
            let [hl, hr] = &mut self.host;
            if !self.shared.history.read(epoch, g.window_start(k), hl, hr) {
                // Reset or overwritten meanwhile: re-read the stream state.
                self.spare = Some(seg);
                next = k + 1;
                continue;
            }
            let outcome =
                SeparationError::catching("separating a window", || self.separate(&mut seg));
            next = k + 1;
            match outcome {
                Ok(()) => {
                    self.consecutive_failures = 0;
                    let elapsed = started.elapsed().as_secs_f64();
                    let hop_seconds = g.hop as f64 / self.budget.sample_rate as f64;
                    let status = &self.shared.status;
                    status.record_load((elapsed / hop_seconds) as f32);
                    status.hops_done.fetch_add(1, Ordering::Relaxed);
                    self.deliver(seg, k);
                }
                Err(e) => {
                    seg.failed = true;
                    self.deliver(seg, k);
                    self.consecutive_failures += 1;
                    self.shared.status.window_failed(one_line(&e));
                    if self.consecutive_failures >= MAX_CONSECUTIVE_FAILURES {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// The window in `self.host` through the resampler and the backend into `seg`. Stems that
    /// are not finite are refused before they reach the resampler (whose FFT would panic on
    /// them) or the audio thread.
    fn separate(&mut self, seg: &mut Segment) -> Result<(), SeparationError> {
        let g = self.budget.geometry;
        let [hl, hr] = &self.host;
        let [ml, mr] = &mut self.model;
        self.resampler.to_model([hl, hr], ml, mr)?;
        self.backend.separate([ml, mr], &mut self.stems)?;
        let count: usize = self.stems.channels_mut().map(|c| count_non_finite(c)).sum();
        if count > 0 {
            return Err(SeparationError::NonFinite { count });
        }
        {
            let mut channels = seg.stems.channels_mut();
            let mut dest: [&mut [f32]; STEM_COUNT * 2] =
                std::array::from_fn(|_| channels.next().unwrap_or_default());
            self.resampler
                .to_host(&mut self.stems, g.left_context, &mut dest)?;
        }
        let null = self.shared.null_stems().applies_to(self.spec.model);
        let range = g.left_context..g.left_context + seg.stems.frames();
        let [hl, hr] = &self.host;
        let level =
            super::null::null_residual(&mut seg.stems, [&hl[range.clone()], &hr[range]], null);
        let shown = if null { level } else { f32::NAN };
        self.shared
            .status
            .residual_db
            .store(shown, Ordering::Relaxed);
        Ok(())
    }

    /// Real time: starts loading a newly requested spec on the loader thread, or installs the
    /// backend it finished.
    fn poll_swap(&mut self) {
        if let Some(loading) = &self.loading {
            let outcome = match loading.result.try_recv() {
                Ok(outcome) => outcome,
                Err(mpsc::TryRecvError::Empty) => return,
                Err(mpsc::TryRecvError::Disconnected) => loader_died(),
            };
            let spec = loading.spec;
            self.loading = None;
            self.finish_swap(spec, outcome);
            return;
        }
        let wanted = self.shared.requested().spec;
        if wanted == self.spec {
            self.forget_failed_swap();
            return;
        }
        if Some(wanted) == self.failed {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let factory = self.factory.clone();
        let shared = self.shared.clone();
        let frames = self.resampler.model_frames();
        let threads = self.shared.threads.clone();
        let started = threads.spawn("danna-sep-loader", move || {
            flush_denormals_on_this_thread();
            let built = build_backend(&factory, wanted, None, frames, true, &shared.stop);
            let _ = tx.send(built);
        });
        match started {
            Ok(_) => {
                self.loading = Some(Loading {
                    spec: wanted,
                    result: rx,
                })
            }
            Err(e) => self.finish_swap(
                wanted,
                BuildOutcome::Failed(SeparationError::Thread(format!(
                    "starting the model loader thread: {e}"
                ))),
            ),
        }
    }

    /// Offline: builds the requested spec here, before the first window that ends after the
    /// block in which it was requested, so the swap lands on the same window on every run.
    fn swap_before(&mut self, window_end: i64) {
        let BackendRequest { spec, at } = self.shared.requested();
        if at >= window_end {
            return;
        }
        if spec == self.spec {
            self.forget_failed_swap();
            return;
        }
        if Some(spec) == self.failed {
            return;
        }
        let frames = self.resampler.model_frames();
        let outcome = build_backend(&self.factory, spec, None, frames, false, &self.shared.stop);
        self.finish_swap(spec, outcome);
    }

    /// The running spec is asked for again: a swap that failed earlier no longer matters, so
    /// its message goes.
    fn forget_failed_swap(&mut self) {
        if self.failed.take().is_some() {
            let info = info_of(self.spec, self.backend.as_ref());
            self.shared.status.publish(BackendState::Ready, info);
        }
    }

    fn finish_swap(&mut self, spec: BackendSpec, outcome: BuildOutcome) {
        let status = &self.shared.status;
        match outcome {
            BuildOutcome::Ready(new) => {
                let old = std::mem::replace(&mut self.backend, new);
                self.spec = spec;
                self.failed = None;
                status.publish(BackendState::Ready, info_of(spec, self.backend.as_ref()));
                status.swaps_done.fetch_add(1, Ordering::Release);
                dispose(&self.shared.threads, old);
            }
            // Stopping: the worker's loop ends before the next window.
            BuildOutcome::Stopped(backend) => {
                if let Some(b) = backend {
                    dispose(&self.shared.threads, b);
                }
            }
            BuildOutcome::Failed(e) => {
                self.failed = Some(spec);
                let mut info = info_of(self.spec, self.backend.as_ref());
                info.error = Some(format!(
                    "switching to {spec} failed, still running the previous models: {}",
                    one_line(&e)
                ));
                status.publish(BackendState::Ready, info);
            }
        }
    }

    /// Hands segment `k` to the audio thread.
    fn deliver(&mut self, seg: Box<Segment>, k: i64) {
        if let Err(rtrb::PushError::Full(seg)) = self.done.push(seg) {
            // Cannot happen (the ring holds every segment), but never lose a buffer.
            self.spare = Some(seg);
        }
        self.shared
            .status
            .last_segment_done
            .store(k, Ordering::Release);
    }
}
