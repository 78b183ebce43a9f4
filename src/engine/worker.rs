//! `InferenceWorker`: the background thread that cuts windows out of the input history, runs
//! the backend on them and hands the results to the audio thread.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer};

use super::backend::{BackendError, SeparationBackend, StemBuffers, STEM_COUNT};
use super::latency::LatencyBudget;
use super::resample::WindowResampler;
use super::status::BackendState;
use super::{EngineShared, FIRST_SEGMENT};

/// Creates the backend on the worker thread, so model loading never blocks the host.
pub type BackendFactory =
    Box<dyn FnOnce() -> Result<Box<dyn SeparationBackend>, BackendError> + Send>;

/// One hop's result: stems for output samples `[index·hop, (index+1)·hop + crossfade)`.
pub struct Segment {
    /// Window index within the stream.
    pub index: i64,
    /// Stream epoch the window was cut from; results of an older epoch are discarded.
    pub epoch: u64,
    /// The stems of the segment, at the host rate.
    pub stems: StemBuffers,
}

/// How long the worker sleeps when there is nothing to do.
const IDLE_POLL: Duration = Duration::from_millis(1);

/// Owns the worker thread; stopping (or dropping) it joins the thread.
pub struct InferenceWorker {
    shared: Arc<EngineShared>,
    handle: Option<JoinHandle<()>>,
}

impl InferenceWorker {
    /// Starts the worker thread; `warm_up` runs the backend's warm-up before it reports Ready
    /// (real-time engines; an offline run has no deadline to protect).
    pub(crate) fn spawn(
        shared: Arc<EngineShared>,
        budget: LatencyBudget,
        factory: BackendFactory,
        warm_up: bool,
        free: Consumer<Box<Segment>>,
        done: Producer<Box<Segment>>,
    ) -> Self {
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("danna-sep-inference".into())
            .spawn(move || {
                let status = &thread_shared.status;
                let backend = factory().and_then(|mut b| {
                    let frames =
                        WindowResampler::new(budget.sample_rate, budget.geometry.window())?
                            .model_frames();
                    b.prepare(frames)?;
                    if warm_up {
                        b.warm_up(frames)?;
                    }
                    Ok(b)
                });
                match backend {
                    Ok(backend) => {
                        status.set(BackendState::Ready, backend.describe());
                        let result = WorkerLoop::new(&thread_shared, budget, backend, free, done)
                            .and_then(|mut w| w.run());
                        match result {
                            Ok(()) => status.set(BackendState::Stopped, "stopped"),
                            Err(e) => {
                                status.set(BackendState::Failed, format!("separation failed: {e}"))
                            }
                        }
                    }
                    Err(e) => status.set(BackendState::Failed, e.0),
                }
            })
            .expect("spawning the inference thread");
        Self {
            shared,
            handle: Some(handle),
        }
    }

    /// Stops and joins the thread (blocks until the current window is done).
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for InferenceWorker {
    fn drop(&mut self) {
        self.stop();
    }
}

struct WorkerLoop<'a> {
    shared: &'a EngineShared,
    budget: LatencyBudget,
    backend: Box<dyn SeparationBackend>,
    resampler: WindowResampler,
    free: Consumer<Box<Segment>>,
    done: Producer<Box<Segment>>,
    spare: Option<Box<Segment>>,
    host: [Vec<f32>; 2],
    model: [Vec<f32>; 2],
    stems: StemBuffers,
}

impl<'a> WorkerLoop<'a> {
    fn new(
        shared: &'a EngineShared,
        budget: LatencyBudget,
        backend: Box<dyn SeparationBackend>,
        free: Consumer<Box<Segment>>,
        done: Producer<Box<Segment>>,
    ) -> Result<Self, BackendError> {
        let w = budget.geometry.window();
        let resampler = WindowResampler::new(budget.sample_rate, w)?;
        let m = resampler.model_frames();
        Ok(Self {
            shared,
            budget,
            backend,
            resampler,
            free,
            done,
            spare: None,
            host: [vec![0.0; w], vec![0.0; w]],
            model: [vec![0.0; m], vec![0.0; m]],
            stems: StemBuffers::new(m),
        })
    }

    fn run(&mut self) -> Result<(), BackendError> {
        let g = self.budget.geometry;
        let mut epoch = u64::MAX;
        let mut next = FIRST_SEGMENT;
        while !self.shared.stop.load(Ordering::Acquire) {
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
