//! The streaming engine without a host: latency alignment to the sample, misses and recovery
//! with a slow backend, offline exactness, reset.

// Index loops over time read more clearly than iterator chains when comparing signals.
#![allow(clippy::needless_range_loop)]

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use danna_sep_core::engine::offline::separate_stream;
use danna_sep_core::engine::testing::{
    CallLog, GatedBackend, IdentityBackend, RecordingBackend, ScaledBackend, WindowSensitiveBackend,
};
use danna_sep_core::engine::{
    build, factory_of, BackendFactory, BackendState, EngineConfig, EngineShared, InferenceWorker,
    LatencyBudget, LatencyTier, SeparationBackend, StreamingEngine, FIRST_SEGMENT,
};
use danna_sep_core::{BackendSpec, SeparationError, STEM_COUNT};
use danna_sep_testkit::engine::*;

fn factory<B: SeparationBackend + 'static>(b: B) -> BackendFactory {
    factory_once(b)
}

struct Rig {
    engine: StreamingEngine,
    _worker: InferenceWorker,
    shared: Arc<EngineShared>,
}

fn rig(budget: LatencyBudget, offline: bool, f: BackendFactory) -> Rig {
    let (engine, worker, shared) = build(EngineConfig::new(budget).offline(offline), f);
    Rig {
        engine,
        _worker: worker,
        shared,
    }
}

/// Output of a run: main (per channel) and the four stems (left channel).
struct Run {
    main: [Vec<f32>; 2],
    stems: Vec<Vec<f32>>,
}

impl Rig {
    /// Waits (test-side, like a worker that keeps up in real time) until the worker delivered
    /// every segment the next `n` output frames need, and one more when its window is complete:
    /// the test runs faster than real time, and a worker that sees a window's deadline closer
    /// than its last compute time skips it, as it should in real time.
    fn pace(&self, n: usize) {
        let b = self.engine.budget();
        let g = b.geometry;
        let last_t = self.pos() + n as i64 - 1 - b.total() as i64;
        if last_t < 0 {
            return;
        }
        let mut need = last_t.div_euclid(g.hop as i64).max(FIRST_SEGMENT);
        if g.window_end(need + 1) <= self.pos() {
            need += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.shared.status.last_segment_done.load(Ordering::Acquire) < need {
            assert!(
                Instant::now() < deadline,
                "worker never delivered segment {need}"
            );
            std::thread::yield_now();
        }
    }

    fn pos(&self) -> i64 {
        self.shared.history.view().len
    }

    fn run(&mut self, left: &[f32], right: &[f32], blocks: &[usize], pace: bool) -> Run {
        let total = left.len();
        let mut out = Run {
            main: [vec![0.0; total], vec![0.0; total]],
            stems: vec![vec![0.0; total]; STEM_COUNT],
        };
        let mut pos = 0;
        for &n in blocks {
            if pace {
                self.pace(n);
            }
            let block = self
                .engine
                .process(&left[pos..pos + n], &right[pos..pos + n]);
            for (ch, main) in out.main.iter_mut().enumerate() {
                unity_mix(block, ch, &mut main[pos..pos + n]);
            }
            for (s, st) in out.stems.iter_mut().enumerate() {
                st[pos..pos + n].copy_from_slice(block.stem(s, 0));
            }
            pos += n;
        }
        out
    }
}

fn max_err_delayed(out: &[f32], input: &[f32], latency: usize, scale: f32) -> f32 {
    out.iter()
        .enumerate()
        .map(|(t, &y)| {
            let x = if t >= latency {
                scale * input[t - latency]
            } else {
                0.0
            };
            (y - x).abs()
        })
        .fold(0.0, f32::max)
}

const BLOCK_SIZES: [usize; 7] = [1, 7, 64, 480, 512, 1000, 4096];

#[test]
fn identity_is_the_input_delayed_by_exactly_the_latency_for_any_block_size() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 4096);
    let latency = budget.total();
    let total = latency + 6 * budget.geometry.hop + 333;
    let (l, r) = (noise(total, 1), noise(total, 2));
    let mut sequences: Vec<Vec<usize>> = BLOCK_SIZES
        .iter()
        .map(|&b| fixed_blocks(total, b))
        .collect();
    sequences.push(random_blocks(total, 4096, 7));
    for blocks in sequences {
        let mut rig = rig(budget, false, factory_of(|| IdentityBackend));
        let out = rig.run(&l, &r, &blocks, true);
        assert_eq!(rig.shared.status.missed_hops.load(Ordering::Relaxed), 0);
        let what = format!("blocks starting {:?}", &blocks[..3.min(blocks.len())]);
        assert!(
            max_err_delayed(&out.main[0], &l, latency, 1.0) < 1e-6,
            "left, {what}"
        );
        assert!(
            max_err_delayed(&out.main[1], &r, latency, 1.0) < 1e-6,
            "right, {what}"
        );
        for s in &out.stems {
            assert!(max_err_delayed(s, &l, latency, 0.25) < 1e-6, "stem, {what}");
        }
        // The check can fail: one sample off is far outside the tolerance.
        assert!(max_err_delayed(&out.main[0], &l, latency + 1, 1.0) > 0.1);
    }
}

#[test]
fn impulses_come_out_exactly_latency_samples_later() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 512);
    let latency = budget.total();
    let total = latency + 5 * budget.geometry.hop;
    let mut x = vec![0.0f32; total];
    // Impulses inside crossfades, at hop boundaries and in plain regions.
    let hop = budget.geometry.hop;
    let places = [
        0,
        1,
        100,
        hop - 1,
        hop,
        hop + 3,
        2 * hop + 511,
        3 * hop + 2000,
    ];
    for &p in &places {
        x[p] = 1.0;
    }
    let mut rig = rig(budget, false, factory_of(|| IdentityBackend));
    let out = rig.run(&x, &x, &random_blocks(total, 512, 3), true);
    for (t, &y) in out.main[0].iter().enumerate() {
        let expect = if t >= latency && places.contains(&(t - latency)) {
            1.0
        } else {
            0.0
        };
        assert!((y - expect).abs() < 1e-6, "t = {t}: {y}");
    }
}

/// Position of the correlation peak between `out` and `input` among lags around `expected`.
fn best_lag(out: &[f32], input: &[f32], expected: usize, from: usize) -> usize {
    (expected - 8..=expected + 8)
        .max_by(|&a, &b| {
            let c = |lag: usize| -> f64 {
                (from..out.len())
                    .map(|t| out[t] as f64 * input[t - lag] as f64)
                    .sum()
            };
            c(a).partial_cmp(&c(b)).unwrap()
        })
        .unwrap()
}

#[test]
fn resampled_host_rates_stay_aligned_to_the_sample() {
    for rate in [22_050u32, 32_000, 48_000, 96_000, 192_000] {
        let budget = LatencyBudget::from_spec(SMALL, rate, 1024);
        let latency = budget.total();
        let total = latency + 6 * budget.geometry.hop;
        let (l, r) = (tones(total, rate, 4), tones(total, rate, 5));
        for (mono, blocks) in [
            (false, random_blocks(total, 1024, 9)),
            (true, fixed_blocks(total, 480)),
        ] {
            let right = if mono { &l } else { &r };
            let mut rig = rig(budget, false, factory_of(|| IdentityBackend));
            let out = rig.run(&l, right, &blocks, true);
            let from = latency + budget.geometry.hop;
            assert_eq!(
                best_lag(&out.main[0], &l, latency, from),
                latency,
                "{rate} Hz"
            );
            let err: f64 = (from..total)
                .map(|t| (out.main[1][t] - right[t - latency]) as f64)
                .map(|e| e * e)
                .sum();
            let sig: f64 = (from..total)
                .map(|t| right[t - latency] as f64)
                .map(|e| e * e)
                .sum();
            let db = 10.0 * (err / sig).log10();
            assert!(db < -40.0, "{rate} Hz mono={mono}: error {db:.1} dB");
        }
    }
}

#[test]
fn real_tiers_align_at_44k_and_48k() {
    for (tier, rate) in [
        (LatencyTier::Live, 44_100u32),
        (LatencyTier::Balanced, 48_000),
    ] {
        let budget = LatencyBudget::new(tier, rate, 512);
        let latency = budget.total();
        let total = latency + 3 * budget.geometry.hop;
        let x = tones(total, rate, 11);
        let mut rig = rig(budget, false, factory_of(|| IdentityBackend));
        let out = rig.run(&x, &x, &fixed_blocks(total, 512), true);
        let from = latency + budget.geometry.crossfade;
        let err = (from..total)
            .map(|t| (out.main[0][t] - x[t - latency]).abs())
            .fold(0.0, f32::max);
        let tol = if rate == 44_100 { 1e-6 } else { 2e-2 };
        assert!(err < tol, "{tier:?} at {rate}: {err}");
        if rate != 44_100 {
            assert_eq!(best_lag(&out.main[0], &x, latency, from), latency);
        }
    }
}

#[test]
fn offline_render_equals_the_whole_buffer_run() {
    for rate in [44_100u32, 48_000] {
        let budget = LatencyBudget::from_spec(SMALL, rate, 1000);
        let latency = budget.total();
        let frames = 5 * budget.geometry.hop + 123;
        let total = frames + latency;
        let mut l = noise(total, 21);
        let mut r = noise(total, 22);
        l[frames..].fill(0.0);
        r[frames..].fill(0.0);
        // Block-by-block, as a host bounce would run it.
        let mut rig = rig(budget, true, factory(WindowSensitiveBackend));
        let out = rig.run(&l, &r, &random_blocks(total, 1000, 5), false);
        // Whole buffer through the offline separator.
        let mut whole = vec![vec![0.0f32; frames]; STEM_COUNT * 2];
        let report = separate_stream(
            budget,
            factory(WindowSensitiveBackend),
            BackendSpec::default(),
            frames,
            |s, a, b| {
                a.copy_from_slice(&l[s..s + a.len()]);
                b.copy_from_slice(&r[s..s + b.len()]);
                Ok::<(), Infallible>(())
            },
            |s, stems| {
                for (dst, src) in whole.iter_mut().zip(stems) {
                    dst[s..s + src.len()].copy_from_slice(src);
                }
                Ok(())
            },
        )
        .unwrap();
        // Windows −1 ..= the last one that starts inside the input: the flush runs no models.
        let hop = budget.geometry.hop;
        assert_eq!(
            report.windows,
            (frames.div_ceil(hop) + 1) as u64,
            "{rate} Hz"
        );
        for s in 0..STEM_COUNT {
            let diff = (0..frames)
                .map(|t| (out.stems[s][t + latency] - whole[2 * s][t]).abs())
                .fold(0.0, f32::max);
            assert_eq!(diff, 0.0, "stem {s} at {rate} Hz differs by {diff}");
        }
    }
}

#[test]
fn a_slow_backend_never_blocks_misses_are_counted_and_alignment_recovers() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 256);
    let latency = budget.total();
    let hop = budget.geometry.hop;
    let total = latency + 16 * hop;
    let x = noise(total, 31);
    let (slow, gate) = GatedBackend::new(ScaledBackend(0.5));
    let mut rig = rig(budget, false, factory(slow));
    // Phase A: the first four windows are released in time.
    for _ in 0..4 {
        gate.send(()).unwrap();
    }
    let blocks = fixed_blocks(total, 256);
    let a_end = (latency + 2 * hop) / 256;
    let b_end = a_end + 5 * hop / 256;
    let mut outs = Vec::new();
    outs.push(rig.run(&x[..a_end * 256], &x[..a_end * 256], &blocks[..a_end], true));
    assert_eq!(rig.shared.status.missed_hops.load(Ordering::Relaxed), 0);
    // Phase B: the backend is stuck; the audio thread must go on and fall back to dry audio.
    let b = rig.run(
        &x[a_end * 256..b_end * 256],
        &x[a_end * 256..b_end * 256],
        &blocks[a_end..b_end],
        false,
    );
    outs.push(b);
    let missed = rig.shared.status.missed_hops.load(Ordering::Relaxed);
    assert!(missed >= 4, "missed {missed}");
    // Phase C: the backend is released and keeps up again.
    for _ in 0..1000 {
        gate.send(()).unwrap();
    }
    outs.push(rig.run(&x[b_end * 256..], &x[b_end * 256..], &blocks[b_end..], true));
    let main: Vec<f32> = outs
        .iter()
        .flat_map(|o| o.main[0].iter().copied())
        .collect();
    let w = |t: usize| if t >= latency { x[t - latency] } else { 0.0 };
    // Phase A output is separated (half level).
    for t in latency..a_end * 256 {
        assert!((main[t] - 0.5 * w(t)).abs() < 1e-6, "A at {t}");
    }
    // Every sample is a crossfade between separated and dry: never anything else.
    for t in 0..total {
        let (lo, hi) = (0.5 * w(t), w(t));
        let (lo, hi) = (lo.min(hi) - 1e-6, lo.max(hi) + 1e-6);
        assert!(
            main[t] >= lo && main[t] <= hi,
            "glitch at {t}: {} not in [{lo}, {hi}]",
            main[t]
        );
    }
    // Somewhere in phase B the output is fully dry.
    assert!(
        (b_end * 256 - hop..b_end * 256).all(|t| (main[t] - w(t)).abs() < 1e-6),
        "dry fallback"
    );
    // Recovery: the last hops are separated again, to the sample.
    for t in total - 3 * hop..total {
        assert!((main[t] - 0.5 * w(t)).abs() < 1e-6, "not recovered at {t}");
    }
    assert_eq!(
        rig.shared.status.missed_hops.load(Ordering::Relaxed),
        missed,
        "no misses after recovery"
    );
}

#[test]
fn reset_starts_a_new_aligned_stream() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 512);
    let latency = budget.total();
    let total = latency + 3 * budget.geometry.hop;
    let (x, y) = (noise(total, 41), noise(total, 42));
    let mut rig = rig(budget, false, factory_of(|| IdentityBackend));
    let _ = rig.run(
        &x[..total / 2],
        &x[..total / 2],
        &fixed_blocks(total / 2, 512),
        true,
    );
    rig.engine.reset();
    let out = rig.run(&y, &y, &fixed_blocks(total, 512), true);
    assert!(max_err_delayed(&out.main[0], &y, latency, 1.0) < 1e-6);
}

#[test]
fn a_backend_that_fails_to_load_passes_audio_through_with_the_reason() {
    let budget = LatencyBudget::from_spec(SMALL, 44_100, 512);
    let latency = budget.total();
    let total = latency + 2 * budget.geometry.hop;
    let x = noise(total, 51);
    let failing: BackendFactory = Arc::new(|_| {
        Err(SeparationError::model(
            "unet",
            "opening",
            "model file missing: x.onnx",
        ))
    });
    let mut rig = rig(budget, false, failing);
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.shared.status.state() != BackendState::Failed {
        assert!(Instant::now() < deadline);
        std::thread::yield_now();
    }
    let out = rig.run(&x, &x, &fixed_blocks(total, 512), false);
    assert!(max_err_delayed(&out.main[0], &x, latency, 1.0) < 1e-6);
    assert!(
        out.stems.iter().all(|s| s.iter().all(|&v| v == 0.0)),
        "no stems without a model"
    );
    assert_eq!(
        rig.shared.status.missed_hops.load(Ordering::Relaxed),
        0,
        "a failed backend is not a miss"
    );
    assert!(rig.shared.status.message().contains("x.onnx"));
}

#[test]
fn a_real_time_engine_warms_the_backend_up_before_ready_and_an_offline_one_does_not() {
    let budget = LatencyBudget::new(LatencyTier::Live, 44_100, 512);
    for offline in [false, true] {
        let log = Arc::new(std::sync::Mutex::new(CallLog::default()));
        let r = rig(budget, offline, factory(RecordingBackend(log.clone())));
        let deadline = Instant::now() + Duration::from_secs(20);
        while r.shared.status.state() != BackendState::Ready {
            assert!(Instant::now() < deadline, "backend never ready");
            std::thread::yield_now();
        }
        // Ready is set after the warm-up, so the count is final here.
        let expected = if offline {
            vec![]
        } else {
            vec![budget.geometry.window()]
        };
        assert_eq!(
            log.lock().unwrap().warmed_up,
            expected,
            "offline: {offline}"
        );
    }
}
