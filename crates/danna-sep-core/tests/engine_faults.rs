//! What the engine does when things go wrong: non-finite input, windows that fail, panic or
//! return NaN, a backend that panics while loading, three failures in a row, a stop in the
//! middle of a model load, and subnormal arithmetic on the inference threads. Every case must
//! end with finite, latency-aligned output and a render that finishes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use danna_sep_core::engine::testing::{Fault, FaultyBackend, IdentityBackend};
use danna_sep_core::engine::{
    build, factory_of, BackendFactory, BackendState, EngineConfig, EngineShared, InferenceWorker,
    LatencyBudget, SeparationBackend, StreamingEngine, MAX_CONSECUTIVE_FAILURES,
};
use danna_sep_core::{BackendSpec, ModelChoice, Precision, RuntimeChoice, STEM_COUNT};
use danna_sep_testkit::engine::{factory_once, fixed_blocks, max_err, noise, unity_mix, SMALL};

struct Rig {
    engine: StreamingEngine,
    worker: InferenceWorker,
    shared: Arc<EngineShared>,
}

/// Output of a run: the unity mix per channel, and the dry weight per frame.
struct Run {
    main: [Vec<f32>; 2],
    dry_weight: Vec<f32>,
    all_finite: bool,
}

fn rig(budget: LatencyBudget, offline: bool, factory: BackendFactory) -> Rig {
    rig_with(EngineConfig::new(budget).offline(offline), factory)
}

fn rig_with(config: EngineConfig, factory: BackendFactory) -> Rig {
    let (engine, worker, shared) = build(config, factory);
    Rig {
        engine,
        worker,
        shared,
    }
}

impl Rig {
    fn run(&mut self, left: &[f32], right: &[f32], block: usize) -> Run {
        let total = left.len();
        let mut out = Run {
            main: [vec![0.0; total], vec![0.0; total]],
            dry_weight: vec![0.0; total],
            all_finite: true,
        };
        let mut pos = 0;
        for n in fixed_blocks(total, block) {
            let b = self
                .engine
                .process(&left[pos..pos + n], &right[pos..pos + n]);
            for (ch, main) in out.main.iter_mut().enumerate() {
                unity_mix(b, ch, &mut main[pos..pos + n]);
            }
            out.dry_weight[pos..pos + n].copy_from_slice(b.dry_weight());
            let stems_finite = (0..STEM_COUNT)
                .all(|s| (0..2).all(|ch| b.stem(s, ch).iter().all(|v| v.is_finite())));
            let dry_finite = (0..2).all(|ch| b.dry(ch).iter().all(|v| v.is_finite()));
            out.all_finite &= stems_finite && dry_finite;
            pos += n;
        }
        out.all_finite &= out.main.iter().flatten().all(|v| v.is_finite());
        out
    }

    fn wait_for(&self, what: &str, done: impl Fn(&EngineShared) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(&self.shared) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::yield_now();
        }
    }
}

/// `out` against `input` delayed by `latency`, over the whole run.
fn max_err_delayed(out: &[f32], input: &[f32], latency: usize) -> f32 {
    max_err(out, input, latency, 1.0, 0)
}

#[test]
fn non_finite_input_enters_as_silence_is_counted_and_never_reaches_the_output() {
    for rate in [44_100u32, 48_000] {
        let budget = LatencyBudget::from_spec(SMALL, rate, 512);
        let latency = budget.total();
        let total = latency + 6 * budget.geometry.hop;
        let mut left = noise(total, 1);
        let mut right = noise(total, 2);
        left[3 * budget.geometry.hop + 17] = f32::NAN;
        right[4 * budget.geometry.hop] = f32::INFINITY;
        left[100] = f32::MIN_POSITIVE / 8.0; // subnormal: silenced, not counted
        let mut r = rig(budget, true, factory_of(|| IdentityBackend));
        let out = r.run(&left, &right, 512);
        assert!(out.all_finite, "{rate} Hz: a NaN reached the output");
        assert_eq!(r.shared.status.non_finite_input.load(Ordering::Relaxed), 2);
        assert_eq!(r.shared.status.state(), BackendState::Ready);
        assert!(
            r.shared
                .status
                .message()
                .contains("2 NaN/Inf input samples"),
            "{}",
            r.shared.status.message()
        );
        if rate == 44_100 {
            // No resampling: the output is the input with the bad samples silenced.
            for x in [&mut left, &mut right] {
                x.iter_mut()
                    .filter(|v| !v.is_normal())
                    .for_each(|v| *v = 0.0);
            }
            assert!(max_err_delayed(&out.main[0], &left, latency) < 1e-5);
            assert!(max_err_delayed(&out.main[1], &right, latency) < 1e-5);
        }
    }
}

/// Windows 3, 5 and 7 (counting from the stream's first) fail in three different ways.
#[test]
fn a_window_that_fails_panics_or_returns_nan_plays_dry_and_separation_goes_on() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 512);
    let (hop, fade) = (budget.geometry.hop, budget.geometry.crossfade);
    let latency = budget.total();
    let total = latency + 10 * hop;
    let x = noise(total, 3);
    let backend = FaultyBackend::new(|n| match n {
        3 => Fault::NonFinite,
        5 => Fault::Error,
        7 => Fault::Panic,
        _ => Fault::None,
    });
    let windows = backend.windows.clone();
    let mut r = rig(budget, true, factory_of(move || backend.clone()));
    let out = r.run(&x, &x, 512);
    assert!(out.all_finite);
    let status = &r.shared.status;
    assert_eq!(status.failed_windows.load(Ordering::Relaxed), 3);
    assert_eq!(status.state(), BackendState::Ready, "{}", status.message());
    assert!(windows.load(Ordering::SeqCst) > 8, "separation went on");
    assert!(status.message().contains("3 windows failed and played dry"));
    assert!(
        status.message().contains("panicked"),
        "{}",
        status.message()
    );
    // The identity stems and the dry stand-in are the same signal, so the mix stays exact...
    assert!(max_err_delayed(&out.main[0], &x, latency) < 1e-5);
    // ...and the dry input really stood in for the three failed hops.
    let dry_frames = out.dry_weight[latency..]
        .iter()
        .filter(|&&w| w == 1.0)
        .count();
    assert!(dry_frames >= 3 * (hop - fade), "{dry_frames} dry frames");
    assert_eq!(status.missed_hops.load(Ordering::Relaxed), 0);
}

#[test]
fn failures_in_a_row_end_separation_and_an_offline_render_still_finishes() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 512);
    let latency = budget.total();
    let total = latency + 8 * budget.geometry.hop;
    let x = noise(total, 4);
    let backend = FaultyBackend::new(|n| if n >= 2 { Fault::Error } else { Fault::None });
    let mut r = rig(budget, true, factory_of(move || backend.clone()));
    let out = r.run(&x, &x, 512);
    assert!(out.all_finite);
    let status = &r.shared.status;
    assert_eq!(status.state(), BackendState::Failed);
    assert_eq!(
        status.failed_windows.load(Ordering::Relaxed),
        u64::from(MAX_CONSECUTIVE_FAILURES)
    );
    assert!(
        status.message().contains("failed windows in a row"),
        "{}",
        status.message()
    );
    assert!(max_err_delayed(&out.main[0], &x, latency) < 1e-5, "dry");
}

#[test]
fn a_panic_while_loading_preparing_or_warming_up_reports_failed_and_renders_dry() {
    let panicking_factory: BackendFactory = Arc::new(|_| panic!("planned panic in the factory"));
    let prepare = FaultyBackend {
        prepare: Fault::Panic,
        ..FaultyBackend::new(|_| Fault::None)
    };
    let warm_up = FaultyBackend {
        warm_up: Fault::Panic,
        ..FaultyBackend::new(|_| Fault::None)
    };
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 512);
    let latency = budget.total();
    let x = noise(latency + 3 * budget.geometry.hop, 5);
    // (factory, offline, what the status says). Only a real-time engine warms up.
    let cases: [(BackendFactory, bool, &str); 3] = [
        (panicking_factory, true, "loading the models panicked"),
        (factory_once(prepare), true, "preparing the models panicked"),
        (factory_once(warm_up), false, "warming up panicked"),
    ];
    for (factory, offline, says) in cases {
        let mut r = rig(budget, offline, factory);
        r.wait_for(says, |s| s.status.state() == BackendState::Failed);
        let out = r.run(&x, &x, 512);
        assert!(out.all_finite);
        assert!(
            r.shared.status.message().contains(says),
            "{}",
            r.shared.status.message()
        );
        assert!(
            max_err_delayed(&out.main[0], &x, latency) < 1e-6,
            "{says}: dry"
        );
    }
}

#[test]
fn an_offline_render_never_waits_on_a_worker_that_panicked() {
    // The worker panics while loading; the offline engine's first blocks must not hang on it.
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 512);
    let x = noise(budget.total() + 2 * budget.geometry.hop, 6);
    let mut r = rig(
        budget,
        true,
        Arc::new(|_| panic!("planned panic in the factory")),
    );
    let out = r.run(&x, &x, 512);
    assert!(out.all_finite);
    assert_ne!(r.shared.status.state(), BackendState::Ready);
}

/// A factory that signals when it starts and then blocks until the test releases it (or 30 s
/// pass, so a broken test cannot hang CI), counting its builds.
fn blocking_factory(
    builds: Arc<AtomicUsize>,
) -> (BackendFactory, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    let entered_tx = std::sync::Mutex::new(entered_tx);
    let factory: BackendFactory = Arc::new(move |_| {
        builds.fetch_add(1, Ordering::SeqCst);
        let _ = entered_tx.lock().unwrap().send(());
        let _ = release_rx
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30));
        Ok(Box::new(IdentityBackend) as Box<dyn SeparationBackend>)
    });
    (factory, entered_rx, release_tx)
}

#[test]
fn stop_returns_in_the_middle_of_a_model_load_and_the_next_engine_reuses_what_it_loaded() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 512);
    let builds = Arc::new(AtomicUsize::new(0));
    let (factory, entered, release) = blocking_factory(builds.clone());
    let mut first = rig(budget, false, factory.clone());
    entered
        .recv_timeout(Duration::from_secs(30))
        .expect("the factory started");

    let started = Instant::now();
    let handoff = first.worker.stop();
    let took = started.elapsed();
    // The factory is still blocked, so the worker cannot have finished: stop did not wait.
    assert!(!handoff.is_finished(), "stop waited for the load");
    eprintln!("stop() returned after {took:?} in the middle of a model load");

    // Re-activation before the old load ends: the new engine's worker (not this thread)
    // waits for it and reuses the backend instead of loading again.
    let rebuilds = Arc::new(AtomicUsize::new(0));
    let counting: BackendFactory = {
        let rebuilds = rebuilds.clone();
        Arc::new(move |_| {
            rebuilds.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(IdentityBackend) as Box<dyn SeparationBackend>)
        })
    };
    let second = rig_with(EngineConfig::new(budget).reusing(Some(handoff)), counting);
    release.send(()).unwrap();
    second.wait_for("ready", |s| s.status.state() == BackendState::Ready);
    assert_eq!(builds.load(Ordering::SeqCst), 1);
    assert_eq!(
        rebuilds.load(Ordering::SeqCst),
        0,
        "the model loaded by the stopped worker was reused"
    );
}

#[test]
fn inference_threads_flush_subnormals_to_zero() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 512);
    // Real time: the worker warms the first backend up; the loader thread builds, prepares
    // and warms up the one a staged swap asks for.
    let backend = FaultyBackend::new(|_| Fault::None);
    let saw = backend.saw_denormals.clone();
    let mut r = rig(budget, false, factory_of(move || backend.clone()));
    r.wait_for("ready", |s| s.status.state() == BackendState::Ready);
    r.engine.request_backend(BackendSpec {
        model: ModelChoice::Fast,
        precision: Precision::Float32,
        runtime: RuntimeChoice::OnnxRuntime,
    });
    r.wait_for("the swap", |s| {
        s.status.swaps_done.load(Ordering::Acquire) == 1
    });
    // Offline: the worker separates every window.
    let backend = FaultyBackend::new(|_| Fault::None);
    let (saw_offline, windows) = (backend.saw_denormals.clone(), backend.windows.clone());
    let mut offline = rig(budget, true, factory_of(move || backend.clone()));
    let x = noise(budget.total() + 2 * budget.geometry.hop, 7);
    offline.run(&x, &x, 512);
    assert!(windows.load(Ordering::SeqCst) >= 3);
    assert!(
        !saw.load(Ordering::SeqCst) && !saw_offline.load(Ordering::SeqCst),
        "subnormal arithmetic did not flush on an inference thread"
    );
}
