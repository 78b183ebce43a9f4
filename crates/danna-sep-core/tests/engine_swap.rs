//! Staged model swaps and backend reuse: a new spec is built while the old backend keeps
//! separating, installed between two windows (offline: on the same window every run), a failed
//! swap keeps the old backend, a failed start recovers when another spec is asked for, and a
//! parked backend is reused by the next engine for the same spec.

// Index loops over time read more clearly than iterator chains when comparing signals.
#![allow(clippy::needless_range_loop)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use danna_sep_core::engine::testing::{CallLog, RecordingBackend, ScaledBackend};
use danna_sep_core::engine::{
    build, BackendFactory, BackendState, EngineConfig, EngineShared, InferenceWorker,
    LatencyBudget, LatencyTier, SeparationBackend, StreamingEngine,
};
use danna_sep_core::{
    BackendSpec, ModelChoice, ModelSetError, Precision, RuntimeChoice, SeparationError,
};
use danna_sep_testkit::engine::{fixed_blocks, noise, random_blocks, unity_mix, SMALL};

const FULL: BackendSpec = BackendSpec {
    model: ModelChoice::Full,
    precision: Precision::Float32,
    runtime: RuntimeChoice::OnnxRuntime,
};
const FAST: BackendSpec = BackendSpec {
    model: ModelChoice::Fast,
    precision: Precision::Float32,
    runtime: RuntimeChoice::OnnxRuntime,
};
const XUMX: BackendSpec = BackendSpec {
    model: ModelChoice::XUmx,
    precision: Precision::Float32,
    runtime: RuntimeChoice::OnnxRuntime,
};

/// Full: stems at half level; Fast: a quarter; X-UMX: cannot be built. Counts the builds.
fn scaled_factory(builds: Arc<AtomicUsize>) -> BackendFactory {
    Arc::new(move |spec: BackendSpec| {
        builds.fetch_add(1, Ordering::SeqCst);
        match spec.model {
            ModelChoice::Full => Ok(Box::new(ScaledBackend(0.5)) as Box<dyn SeparationBackend>),
            ModelChoice::Fast => Ok(Box::new(ScaledBackend(0.25)) as Box<dyn SeparationBackend>),
            _ => Err(SeparationError::ModelSet(ModelSetError::MissingModel {
                set: "test".into(),
                model: "xumx".into(),
            })),
        }
    })
}

struct Rig {
    engine: StreamingEngine,
    worker: InferenceWorker,
    shared: Arc<EngineShared>,
}

fn rig(config: EngineConfig, factory: BackendFactory) -> Rig {
    let (engine, worker, shared) = build(config, factory);
    Rig {
        engine,
        worker,
        shared,
    }
}

impl Rig {
    fn wait_for(&self, what: &str, done: impl Fn(&EngineShared) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(&self.shared) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::yield_now();
        }
    }

    /// Waits until the worker delivered every segment the next `n` frames need (as a worker
    /// that keeps up in real time would have).
    fn pace(&self, n: usize) {
        let b = self.engine.budget();
        let g = b.geometry;
        let pos = self.shared.history.view().len;
        let last_t = pos + n as i64 - 1 - b.total() as i64;
        if last_t < 0 {
            return;
        }
        let mut need = last_t.div_euclid(g.hop as i64).max(-1);
        if g.window_end(need + 1) <= pos {
            need += 1;
        }
        self.wait_for("a segment", |s| {
            s.status.last_segment_done.load(Ordering::Acquire) >= need
        });
    }

    /// Runs `x` (both channels) in `blocks`, requesting `spec` before block `at_block` when
    /// given; returns the unity mix of the left channel.
    fn run(
        &mut self,
        x: &[f32],
        blocks: &[usize],
        request: Option<(usize, BackendSpec)>,
        pace: bool,
    ) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        let mut pos = 0;
        for (i, &n) in blocks.iter().enumerate() {
            if let Some((at, spec)) = request {
                if i == at {
                    self.engine.request_backend(spec);
                }
            }
            if pace {
                self.pace(n);
            }
            let block = self.engine.process(&x[pos..pos + n], &x[pos..pos + n]);
            unity_mix(block, 0, &mut out[pos..pos + n]);
            pos += n;
        }
        out
    }
}

/// Blocks summing to `total` whose boundaries include `split`.
fn blocks_through(total: usize, split: usize, max: usize, seed: u64) -> (Vec<usize>, usize) {
    let mut blocks = random_blocks(split, max, seed);
    let at = blocks.len();
    blocks.extend(random_blocks(total - split, max, seed + 1));
    (blocks, at)
}

/// Where an offline render `out` of `x` (delayed by `latency`) leaves `before` times the input
/// (`heard` tolerance) and where it settles on `after` times it (`settled` tolerance), asserted
/// to be no earlier than the request at `split` and no longer apart than one crossfade.
fn swap_points(
    out: &[f32],
    x: &[f32],
    latency: usize,
    split: usize,
    crossfade: usize,
    (before, heard): (f32, f32),
    (after, settled): (f32, f32),
) -> (usize, usize) {
    let total = out.len();
    let w = |t: usize| x[t - latency];
    let swapped = (latency..total)
        .find(|&t| (out[t] - before * w(t)).abs() > heard)
        .expect("the new backend was never heard");
    assert!(
        swapped >= split,
        "swapped at {swapped}, before the request at {split}"
    );
    let done = (swapped..total)
        .find(|&t| (t..total).all(|u| (out[u] - after * w(u)).abs() < settled))
        .expect("the new backend never took over");
    assert!(
        done - swapped <= crossfade,
        "the swap took {} frames, more than one crossfade",
        done - swapped
    );
    (swapped, done)
}

#[test]
fn an_offline_swap_lands_on_the_same_window_every_run() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 1000);
    let latency = budget.total();
    let hop = budget.geometry.hop;
    let total = latency + 8 * hop;
    let split = latency + 3 * hop + 77;
    let x = noise(total, 61);
    let mut renders = Vec::new();
    for seed in [1, 2, 3] {
        let builds = Arc::new(AtomicUsize::new(0));
        let config = EngineConfig::new(budget).offline(true).spec(FULL);
        let mut r = rig(config, scaled_factory(builds.clone()));
        let (blocks, at) = blocks_through(total, split, 1000, seed);
        renders.push(r.run(&x, &blocks, Some((at, FAST)), false));
        assert_eq!(r.shared.status.swaps_done.load(Ordering::Acquire), 1);
        assert_eq!(builds.load(Ordering::SeqCst), 2);
        assert_eq!(
            r.shared.status.info().unwrap().spec,
            Some(FAST),
            "the info names the spec now running"
        );
    }
    assert!(
        renders.windows(2).all(|w| w[0] == w[1]),
        "the render depends on the block sizes"
    );
    let out = &renders[0];
    let w = |t: usize| x[t - latency];
    // Separated by the old backend up to the request, by the new one from the window after it
    // has fully arrived, a crossfade of the two in between: never anything else.
    // (Tolerances: the stems of a scaled backend sum to the scaled input only to rounding.)
    let crossfade = budget.geometry.crossfade;
    swap_points(
        out,
        &x,
        latency,
        split,
        crossfade,
        (0.5, 1e-5),
        (0.25, 1e-7),
    );
    for t in latency..total {
        let (lo, hi) = (0.25 * w(t).min(2.0 * w(t)), 0.25 * w(t).max(2.0 * w(t)));
        assert!(out[t] >= lo - 1e-7 && out[t] <= hi + 1e-7, "glitch at {t}");
    }
}

#[test]
fn a_real_time_swap_loads_aside_and_the_stream_goes_on_without_a_miss() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 256);
    let latency = budget.total();
    let hop = budget.geometry.hop;
    let builds = Arc::new(AtomicUsize::new(0));
    let mut r = rig(EngineConfig::new(budget).spec(FULL), scaled_factory(builds));
    r.wait_for("ready", |s| s.status.state() == BackendState::Ready);
    let x = noise(latency + 40 * hop, 62);
    let blocks = fixed_blocks(x.len(), 256);
    let before = (latency + 2 * hop) / 256 * 256;
    let first = r.run(&x[..before], &blocks[..before / 256], Some((0, FULL)), true);
    if let Some(t) = (latency..before).find(|&t| (first[t] - 0.5 * x[t - latency]).abs() >= 1e-6) {
        panic!(
            "at {t} (latency {latency}): {} vs {}",
            first[t],
            0.5 * x[t - latency]
        );
    }
    // Ask for Fast and keep streaming: it is installed between two windows.
    r.engine.request_backend(FAST);
    let mut pos = before;
    let mut out = first;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut after_swap = None;
    while pos + hop <= x.len() {
        let chunk = r.run(&x[pos..pos + hop], &fixed_blocks(hop, 256), None, true);
        out.extend(chunk);
        pos += hop;
        if after_swap.is_none() && r.shared.status.swaps_done.load(Ordering::Acquire) == 1 {
            after_swap = Some(pos);
        }
        if after_swap.is_some_and(|p| pos >= p + latency + 2 * hop) {
            break;
        }
        assert!(Instant::now() < deadline, "the swap never happened");
    }
    assert!(after_swap.is_some(), "the swap never happened");
    assert_eq!(r.shared.status.missed_hops.load(Ordering::Relaxed), 0);
    // The last hop comes from the new backend, exactly.
    for t in pos - hop..pos {
        assert!((out[t] - 0.25 * x[t - latency]).abs() < 1e-7, "at {t}");
    }
}

#[test]
fn a_failed_swap_keeps_the_previous_backend_and_says_why() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 512);
    let latency = budget.total();
    let hop = budget.geometry.hop;
    let mut r = rig(
        EngineConfig::new(budget).offline(true).spec(FULL),
        scaled_factory(Arc::new(AtomicUsize::new(0))),
    );
    let x = noise(latency + 6 * hop, 63);
    let out = r.run(&x, &fixed_blocks(x.len(), 512), Some((2, XUMX)), false);
    assert_eq!(r.shared.status.state(), BackendState::Ready);
    assert_eq!(r.shared.status.swaps_done.load(Ordering::Acquire), 0);
    let message = r.shared.status.message();
    assert!(
        message.contains("switching to X-UMX only, float32 failed")
            && message.contains("no 'xumx' model"),
        "{message}"
    );
    assert!((latency..x.len()).all(|t| (out[t] - 0.5 * x[t - latency]).abs() < 1e-6));
}

#[test]
fn a_failed_start_recovers_when_another_spec_is_asked_for() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 512);
    let builds = Arc::new(AtomicUsize::new(0));
    let mut r = rig(
        EngineConfig::new(budget).spec(XUMX),
        scaled_factory(builds.clone()),
    );
    r.wait_for("the failure", |s| s.status.state() == BackendState::Failed);
    assert!(r.shared.status.message().contains("no 'xumx' model"));
    // Meanwhile the stream passes the input through.
    let x = noise(2048, 64);
    r.run(&x, &fixed_blocks(2048, 512), None, false);
    r.engine.request_backend(FAST);
    r.wait_for("ready", |s| s.status.state() == BackendState::Ready);
    assert_eq!(builds.load(Ordering::SeqCst), 2);
    assert_eq!(r.shared.status.info().unwrap().error, None);
}

/// Offline after a failed start there is no old backend to keep: the request's block decides
/// where separation resumes, never how soon the worker notices (found by the host fuzzer: a
/// bounce whose first model failed went on dry for as long as the worker took to look).
#[test]
fn an_offline_render_resumes_at_the_request_after_a_failed_start_on_every_run() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 1000);
    let latency = budget.total();
    let hop = budget.geometry.hop;
    let total = latency + 8 * hop;
    let split = latency + 3 * hop + 77;
    let x = noise(total, 65);
    let mut renders = Vec::new();
    // A worker slow to notice and to load must not change where the new backend is heard.
    for (seed, delay_ms) in [(1, 0), (2, 40), (3, 120)] {
        let builds = Arc::new(AtomicUsize::new(0));
        let inner = scaled_factory(builds.clone());
        let slow: BackendFactory = Arc::new(move |spec: BackendSpec| {
            std::thread::sleep(Duration::from_millis(delay_ms));
            inner(spec)
        });
        let mut r = rig(EngineConfig::new(budget).offline(true).spec(XUMX), slow);
        let (blocks, at) = blocks_through(total, split, 1000, seed);
        renders.push(r.run(&x, &blocks, Some((at, FAST)), false));
        assert_eq!(r.shared.status.state(), BackendState::Ready);
        assert_eq!(builds.load(Ordering::SeqCst), 2);
    }
    assert!(
        renders.windows(2).all(|w| w[0] == w[1]),
        "the render depends on the block sizes or the worker's timing"
    );
    let out = &renders[0];
    // Dry (the failed start) up to the request, the new backend from the window after it, a
    // crossfade of the two in between.
    let crossfade = budget.geometry.crossfade;
    let (_, settled) = swap_points(
        out,
        &x,
        latency,
        split,
        crossfade,
        (1.0, 1e-6),
        (0.25, 1e-6),
    );
    assert!(
        settled <= split + hop + crossfade + 1000,
        "resumed at {settled}, long after the request at {split}"
    );
}

#[test]
fn a_parked_backend_is_reused_for_the_same_spec_and_replaced_for_another() {
    let builds = Arc::new(AtomicUsize::new(0));
    let log = Arc::new(Mutex::new(CallLog::default()));
    let factory: BackendFactory = {
        let (builds, log) = (builds.clone(), log.clone());
        Arc::new(move |_| {
            builds.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(RecordingBackend(log.clone())) as Box<dyn SeparationBackend>)
        })
    };
    let at_44k = LatencyBudget::from_spec(SMALL, 44_100, 512);
    // Another geometry: windows of another length at the model rate.
    let at_48k = LatencyBudget::new(LatencyTier::Live, 48_000, 1024);
    let mut first = rig(EngineConfig::new(at_44k).spec(FULL), factory.clone());
    first.wait_for("ready", |s| s.status.state() == BackendState::Ready);
    let parked = first.worker.stop().wait().expect("the backend comes back");
    assert_eq!(parked.spec(), FULL);

    // Same spec, another rate: reused, prepared for the new window length.
    let mut second = rig(
        EngineConfig::new(at_48k)
            .spec(FULL)
            .reusing(Some(parked.into())),
        factory.clone(),
    );
    second.wait_for("ready", |s| s.status.state() == BackendState::Ready);
    assert_eq!(builds.load(Ordering::SeqCst), 1, "no second model load");
    let lengths = log.lock().unwrap().prepared.clone();
    assert_eq!(lengths.len(), 2);
    assert_ne!(lengths[0], lengths[1], "prepared again for 48 kHz windows");

    // Another spec: the parked backend is dropped and a new one built. The handoff goes to
    // the next engine before the old worker has necessarily finished.
    let parked = second.worker.stop();
    let third = rig(
        EngineConfig::new(at_48k).spec(FAST).reusing(Some(parked)),
        factory,
    );
    third.wait_for("ready", |s| s.status.state() == BackendState::Ready);
    assert_eq!(builds.load(Ordering::SeqCst), 2);
}

#[test]
fn asking_for_the_running_spec_again_clears_a_failed_swap() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 512);
    let hop = budget.geometry.hop;
    let mut r = rig(
        EngineConfig::new(budget).offline(true).spec(FULL),
        scaled_factory(Arc::new(AtomicUsize::new(0))),
    );
    let x = noise(budget.total() + 6 * hop, 65);
    let half = x.len() / 2 / 512;
    let blocks = fixed_blocks(x.len(), 512);
    let _ = r.run(&x[..half * 512], &blocks[..half], Some((1, XUMX)), false);
    assert!(
        r.shared.status.info().unwrap().error.is_some(),
        "the swap failed"
    );
    let _ = r.run(&x[half * 512..], &blocks[half..], Some((0, FULL)), false);
    let info = r.shared.status.info().unwrap();
    assert_eq!(info.error, None, "{}", r.shared.status.message());
    assert_eq!(info.spec, Some(FULL));
    assert_eq!(r.shared.status.swaps_done.load(Ordering::Acquire), 0);
}

#[test]
fn a_reactivation_at_the_same_rate_neither_prepares_nor_warms_up_again() {
    let log = Arc::new(Mutex::new(CallLog::default()));
    let builds = Arc::new(AtomicUsize::new(0));
    let factory: BackendFactory = {
        let (builds, log) = (builds.clone(), log.clone());
        Arc::new(move |_| {
            builds.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(RecordingBackend(log.clone())) as Box<dyn SeparationBackend>)
        })
    };
    let budget = LatencyBudget::new(LatencyTier::Live, 44_100, 512);
    let mut first = rig(EngineConfig::new(budget).spec(FULL), factory.clone());
    first.wait_for("ready", |s| s.status.state() == BackendState::Ready);
    let handoff = first.worker.stop();
    let second = rig(
        EngineConfig::new(budget).spec(FULL).reusing(Some(handoff)),
        factory,
    );
    second.wait_for("ready", |s| s.status.state() == BackendState::Ready);
    let log = log.lock().unwrap().clone();
    assert_eq!(builds.load(Ordering::SeqCst), 1);
    assert_eq!(log.prepared.len(), 1, "prepared again: {log:?}");
    assert_eq!(log.warmed_up.len(), 1, "warmed up again: {log:?}");
}
