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
//!
//! # Re-activation
//! [`InferenceWorker::stop`] hands the backend back as a [`ParkedBackend`]; passing it to the
//! next engine for the same spec skips the model load (it is only prepared for the new window
//! length), which is what a host's deactivate/activate cycle or a sample-rate change costs.

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
use super::window_resampler::WindowResampler;
use super::{BackendRequest, EngineShared, FIRST_SEGMENT};
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
}

/// A backend kept between two activations, with the spec it was built for.
pub struct ParkedBackend {
    spec: BackendSpec,
    backend: Box<dyn SeparationBackend>,
}

impl ParkedBackend {
    /// The spec the parked backend runs.
    pub fn spec(&self) -> BackendSpec {
        self.spec
    }
}

/// How long the worker sleeps when there is nothing to do.
const IDLE_POLL: Duration = Duration::from_millis(1);

/// Owns the worker thread; stopping (or dropping) it joins the thread.
pub struct InferenceWorker {
    shared: Arc<EngineShared>,
    handle: Option<JoinHandle<Option<ParkedBackend>>>,
}

/// What the worker thread starts with.
pub(crate) struct WorkerSetup {
    pub budget: LatencyBudget,
    pub factory: BackendFactory,
    pub parked: Option<ParkedBackend>,
    /// The spec to build first (a request that arrives meanwhile is a swap, not a new start).
    pub spec: BackendSpec,
    /// Real time: warm the backend up before Ready and load swaps on a loader thread.
    pub real_time: bool,
    pub free: Consumer<Box<Segment>>,
    pub done: Producer<Box<Segment>>,
}

impl InferenceWorker {
    /// Starts the worker thread.
    pub(crate) fn spawn(shared: Arc<EngineShared>, setup: WorkerSetup) -> Self {
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("danna-sep-inference".into())
            .spawn(move || worker_main(&thread_shared, setup))
            .expect("spawning the inference thread");
        Self {
            shared,
            handle: Some(handle),
        }
    }

    /// Stops and joins the thread (blocks until the current window is done) and hands back the
    /// backend it ran, for the next activation (`None` once stopped, or if none was running).
    pub fn stop(&mut self) -> Option<ParkedBackend> {
        self.shared.stop.store(true, Ordering::Release);
        self.handle.take().and_then(|h| h.join().ok().flatten())
    }
}

impl Drop for InferenceWorker {
    fn drop(&mut self) {
        if let Some(parked) = self.stop() {
            dispose(parked.backend);
        }
    }
}

/// Frees a backend on a short-lived thread of its own (closing ONNX Runtime sessions and
/// unmapping their memory takes a while). If no thread can be started, `spawn` drops the
/// closure, and the backend with it, right here.
fn dispose(backend: Box<dyn SeparationBackend>) {
    let _ = std::thread::Builder::new()
        .name("danna-sep-dispose".into())
        .spawn(move || drop(backend));
}

/// Prepares `backend` for windows of `frames` (and warms it up in real time).
fn prepared(
    mut backend: Box<dyn SeparationBackend>,
    frames: usize,
    warm_up: bool,
) -> Result<Box<dyn SeparationBackend>, SeparationError> {
    backend.prepare(frames)?;
    if warm_up {
        backend.warm_up(frames)?;
    }
    Ok(backend)
}

/// Builds and prepares the backend for `spec`.
fn build_backend(
    factory: &BackendFactory,
    spec: BackendSpec,
    frames: usize,
    warm_up: bool,
) -> Result<Box<dyn SeparationBackend>, SeparationError> {
    prepared(factory(spec)?, frames, warm_up)
}

/// What `backend`, built for `spec`, publishes.
fn info_of(spec: BackendSpec, backend: &dyn SeparationBackend) -> BackendInfo {
    BackendInfo {
        spec: Some(spec),
        ..backend.info()
    }
}

fn worker_main(shared: &EngineShared, setup: WorkerSetup) -> Option<ParkedBackend> {
    let status = &shared.status;
    let WorkerSetup {
        budget,
        factory,
        mut parked,
        spec: first,
        real_time,
        free,
        done,
    } = setup;
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
    let backend = loop {
        let built = match parked.take() {
            Some(p) if p.spec == spec => prepared(p.backend, frames, real_time),
            other => {
                if let Some(p) = other {
                    dispose(p.backend);
                }
                build_backend(&factory, spec, frames, real_time)
            }
        };
        match built {
            Ok(backend) => break backend,
            Err(e) => {
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
    status.publish(BackendState::Ready, info_of(spec, backend.as_ref()));
    let mut w = WorkerLoop {
        shared,
        budget,
        factory,
        real_time,
        spec,
        backend,
        failed: None,
        loading: None,
        stems: StemBuffers::new(frames),
        model: [vec![0.0; frames], vec![0.0; frames]],
        host: std::array::from_fn(|_| vec![0.0; budget.geometry.window()]),
        resampler,
        free,
        done,
        spare: None,
    };
    match w.run() {
        Ok(()) => {
            status.set_state(BackendState::Stopped);
            Some(ParkedBackend {
                spec: w.spec,
                backend: w.backend,
            })
        }
        Err(e) => {
            let mut info = info_of(w.spec, w.backend.as_ref());
            info.error = Some(format!("separation failed: {}", one_line(&e)));
            status.publish(BackendState::Failed, info);
            None
        }
    }
}

/// A backend being built on the loader thread.
struct Loading {
    spec: BackendSpec,
    result: mpsc::Receiver<Result<Box<dyn SeparationBackend>, SeparationError>>,
}

struct WorkerLoop<'a> {
    shared: &'a EngineShared,
    budget: LatencyBudget,
    factory: BackendFactory,
    real_time: bool,
    spec: BackendSpec,
    backend: Box<dyn SeparationBackend>,
    /// The spec whose build failed last; not retried until another is requested.
    failed: Option<BackendSpec>,
    loading: Option<Loading>,
    resampler: WindowResampler,
    free: Consumer<Box<Segment>>,
    done: Producer<Box<Segment>>,
    spare: Option<Box<Segment>>,
    host: [Vec<f32>; 2],
    model: [Vec<f32>; 2],
    stems: StemBuffers,
}

impl WorkerLoop<'_> {
    fn run(&mut self) -> Result<(), SeparationError> {
        let g = self.budget.geometry;
        let mut epoch = u64::MAX;
        let mut next = FIRST_SEGMENT;
        while !self.shared.stop.load(Ordering::Acquire) {
            if self.real_time {
                self.poll_swap();
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
            if !self.real_time {
                self.swap_before(g.window_end(k));
            }
            let Some(mut seg) = self.spare.take().or_else(|| self.free.pop().ok()) else {
                std::thread::sleep(IDLE_POLL);
                continue;
            };
            seg.index = k;
            seg.epoch = epoch;
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
            let [ml, mr] = &mut self.model;
            self.resampler.to_model([hl, hr], ml, mr)?;
            self.backend.separate([ml, mr], &mut self.stems)?;
            let mut dest: [&mut [f32]; STEM_COUNT * 2] = {
                let mut it = seg.stems.channels_mut();
                std::array::from_fn(|_| it.next().expect("eight channels"))
            };
            self.resampler
                .to_host(&mut self.stems, g.left_context, &mut dest)?;
            let elapsed = started.elapsed().as_secs_f64();
            let hop_seconds = g.hop as f64 / self.budget.sample_rate as f64;
            self.shared
                .status
                .record_load((elapsed / hop_seconds) as f32);
            self.shared.status.hops_done.fetch_add(1, Ordering::Relaxed);
            self.deliver(seg, k);
            next = k + 1;
        }
        Ok(())
    }

    /// Real time: starts loading a newly requested spec on the loader thread, or installs the
    /// backend it finished.
    fn poll_swap(&mut self) {
        if let Some(loading) = &self.loading {
            let outcome = match loading.result.try_recv() {
                Ok(result) => result,
                Err(mpsc::TryRecvError::Empty) => return,
                Err(mpsc::TryRecvError::Disconnected) => Err(SeparationError::Thread(
                    "the model loader thread died".into(),
                )),
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
        let frames = self.resampler.model_frames();
        let started = std::thread::Builder::new()
            .name("danna-sep-loader".into())
            .spawn(move || {
                let _ = tx.send(build_backend(&factory, wanted, frames, true));
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
                Err(SeparationError::Thread(format!(
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
        let outcome = build_backend(&self.factory, spec, frames, false);
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

    fn finish_swap(
        &mut self,
        spec: BackendSpec,
        outcome: Result<Box<dyn SeparationBackend>, SeparationError>,
    ) {
        let status = &self.shared.status;
        match outcome {
            Ok(new) => {
                let old = std::mem::replace(&mut self.backend, new);
                self.spec = spec;
                self.failed = None;
                status.publish(BackendState::Ready, info_of(spec, self.backend.as_ref()));
                status.swaps_done.fetch_add(1, Ordering::Release);
                dispose(old);
            }
            Err(e) => {
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
