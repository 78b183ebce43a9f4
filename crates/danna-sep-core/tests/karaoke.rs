//! The Karaoke choice and stems that null, on the real ensemble (the shipped demo set) and the
//! provisioned Spleeter 2-stem model: the vocals stem holds the voice and the accompaniment
//! does not; the four stems sum to the input (≥ 100 dB) in real time (the streaming engine
//! paced like a host that keeps up) and offline; without the Spleeter model Karaoke runs the
//! full ensemble and says why.
//!
//! Needs ONNX Runtime, the Spleeter set (`cargo xtask setup`) and espeak-ng: each test is
//! SKIPPED without them, and fails instead when `CI` is set.

// Index loops over time read more clearly than iterator chains when comparing signals.
#![allow(clippy::needless_range_loop)]

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use danna_sep_core::config::Config;
use danna_sep_core::engine::offline::separate_stream_with;
use danna_sep_core::engine::{build, BackendState, EngineConfig, LatencyBudget, LatencyTier};
use danna_sep_core::separation::ensemble_factory;
use danna_sep_core::{BackendSpec, ModelChoice, NullStems, Precision, RuntimeChoice, STEM_COUNT};
use danna_sep_testkit::karaoke::{plucked_chord, speech_or_skip, spleeter_set_or_skip};
use danna_sep_testkit::runtime::runtime_or_skip;
use danna_sep_testkit::venv::snr_db;

const KARAOKE: BackendSpec = BackendSpec {
    model: ModelChoice::Karaoke,
    precision: Precision::Float32,
    runtime: RuntimeChoice::OnnxRuntime,
};

fn demo_set() -> PathBuf {
    danna_sep_testkit::repo_root().join("models/demo")
}

/// The process configuration with the demo set and `spleeter` as the vocal set.
fn config(spleeter: PathBuf) -> Config {
    Config {
        models_dir: Some(demo_set()),
        spleeter_dir: Some(spleeter),
        ..Config::from_env()
    }
}

/// The mix (both channels), the speech, the chord and the Spleeter set's folder.
type Material = (Vec<f32>, Vec<f32>, Vec<f32>, PathBuf);

/// Speech + chord (both channels), the speech and the chord; `None` when skipped.
fn material(test: &str) -> Option<Material> {
    runtime_or_skip(test)?;
    let spleeter = spleeter_set_or_skip(test)?;
    let speech = speech_or_skip(test)?;
    let chord = plucked_chord(speech.len(), 44_100, 7);
    let mix: Vec<f32> = speech.iter().zip(&chord).map(|(s, c)| s + c).collect();
    Some((mix, speech, chord, spleeter))
}

/// Stems planar `[stem][channel][frame]` offline through the streaming engine at `tier`.
fn offline(
    cfg: &Config,
    spec: BackendSpec,
    null: NullStems,
    mix: &[f32],
    tier: LatencyTier,
) -> (Vec<Vec<f32>>, String) {
    let frames = mix.len();
    let mut out = vec![vec![0.0f32; frames]; STEM_COUNT * 2];
    let report = separate_stream_with::<std::convert::Infallible>(
        LatencyBudget::new(tier, 44_100, 4096),
        ensemble_factory(cfg, None),
        spec,
        null,
        frames,
        |start, l, r| {
            l.copy_from_slice(&mix[start..start + l.len()]);
            r.copy_from_slice(&mix[start..start + r.len()]);
            Ok(())
        },
        |start, stems| {
            for (c, s) in stems.iter().enumerate() {
                out[c][start..start + s.len()].copy_from_slice(s);
            }
            Ok(())
        },
    )
    .expect("offline separation");
    (out, report.backend)
}

/// Σ of the four stems of channel `ch`.
fn stem_sum(stems: &[Vec<f32>], ch: usize) -> Vec<f32> {
    (0..stems[0].len())
        .map(|t| (0..STEM_COUNT).map(|s| stems[2 * s + ch][t]).sum())
        .collect()
}

#[test]
fn karaoke_vocals_hold_the_voice_and_the_accompaniment_does_not() {
    let Some((mix, speech, chord, spleeter)) = material("karaoke vocals") else {
        return;
    };
    let (stems, line) = offline(
        &config(spleeter),
        KARAOKE,
        NullStems::Auto,
        &mix,
        LatencyTier::Balanced,
    );
    assert!(line.contains("Karaoke: vocals: spleeter-2stems"), "{line}");
    assert!(line.contains("licence MIT"), "{line}");
    let vocals = &stems[6];
    let acc: Vec<f32> = (0..mix.len())
        .map(|t| stems[0][t] + stems[2][t] + stems[4][t])
        .collect();
    let sdr_v = snr_db(&speech, vocals);
    let sdr_a = snr_db(&chord, &acc);
    // How much of the accompaniment is speech: its SDR against the chord vs the mixture's.
    let mix_sdr = snr_db(&chord, &mix);
    let vocal_leak = snr_db(&speech, &mix);
    eprintln!(
        "karaoke on speech + chord: vocals SDR {sdr_v:.1} dB (mixture {vocal_leak:.1} dB), \
         accompaniment SDR {sdr_a:.1} dB (mixture {mix_sdr:.1} dB)"
    );
    assert!(
        sdr_v > vocal_leak + 6.0,
        "vocals {sdr_v} vs mixture {vocal_leak}"
    );
    assert!(
        sdr_a > mix_sdr + 6.0,
        "accompaniment {sdr_a} vs mixture {mix_sdr}"
    );
    let null = snr_db(&mix, &stem_sum(&stems, 0));
    eprintln!("karaoke offline (Balanced windows): Σ stems vs input {null:.1} dB");
    assert!(null >= 100.0, "{null}");
}

#[test]
fn stems_null_offline_for_the_full_ensemble_when_asked_and_not_by_default() {
    let Some((mix, _, _, spleeter)) = material("null offline") else {
        return;
    };
    let mix = &mix[..mix.len().min(6 * 44_100)];
    let cfg = config(spleeter);
    let full = BackendSpec {
        model: ModelChoice::Full,
        ..KARAOKE
    };
    let (on, line) = offline(&cfg, full, NullStems::On, mix, LatencyTier::Live);
    let (auto, _) = offline(&cfg, full, NullStems::Auto, mix, LatencyTier::Live);
    let snr_on = snr_db(mix, &stem_sum(&on, 1));
    let snr_auto = snr_db(mix, &stem_sum(&auto, 1));
    eprintln!("full ensemble, Live windows: Σ stems vs input {snr_on:.1} dB nulled, {snr_auto:.1} dB as estimated");
    assert!(snr_on >= 100.0, "{snr_on}");
    assert!(
        snr_auto < 60.0,
        "auto is off for the full ensemble: {snr_auto}"
    );
    assert!(line.contains("stems null (residual"), "{line}");
}

#[test]
fn karaoke_stems_null_in_real_time_at_a_host_rate_of_48k() {
    let Some((mix44, _, _, spleeter)) = material("null real time") else {
        return;
    };
    // The same material treated as 48 kHz: the engine resamples every window.
    let rate = 48_000;
    let mix = &mix44[..mix44.len().min(5 * 44_100)];
    let budget = LatencyBudget::new(LatencyTier::Balanced, rate, 512);
    let latency = budget.total();
    let cfg = config(spleeter);
    let (mut engine, mut worker, shared) = build(
        EngineConfig::new(budget).spec(KARAOKE),
        ensemble_factory(&cfg, None),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while shared.status.state() == BackendState::Loading {
        assert!(Instant::now() < deadline, "the backend never loaded");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        shared.status.state(),
        BackendState::Ready,
        "{}",
        shared.status.message()
    );
    let total = mix.len() + latency;
    let input: Vec<f32> = (0..total)
        .map(|t| mix.get(t).copied().unwrap_or(0.0))
        .collect();
    let g = budget.geometry;
    let mut sums = vec![0.0f32; total];
    let mut pos = 0;
    while pos < total {
        let n = 512.min(total - pos);
        // Pace like a host whose worker keeps up: the segments this block plays are done.
        let written = shared.history.view().len;
        let last_t = written + n as i64 - 1 - latency as i64;
        if last_t >= 0 {
            let mut need = last_t.div_euclid(g.hop as i64).max(-1);
            if g.window_end(need + 1) <= written {
                need += 1;
            }
            while shared.status.last_segment_done.load(Ordering::Acquire) < need {
                assert!(Instant::now() < deadline, "the worker stalled");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let block = engine.process(&input[pos..pos + n], &input[pos..pos + n]);
        for i in 0..n {
            sums[pos + i] = (0..STEM_COUNT).map(|s| block.stem(s, 0)[i]).sum();
        }
        pos += n;
    }
    let missed = shared.status.missed_hops.load(Ordering::Relaxed);
    let line = shared.status.message();
    drop(worker.stop().wait());
    assert_eq!(missed, 0, "{line}");
    let delayed = &sums[latency..latency + mix.len()];
    let snr = snr_db(mix, delayed);
    eprintln!("karaoke real time at 48 kHz (Balanced): Σ stems vs input {snr:.1} dB; {line}");
    assert!(snr >= 100.0, "{snr}");
    // The last window lies past the input (silence): nothing left to assign there.
    assert!(line.contains("stems null ("), "{line}");
}

/// Full + Spleeter is the per-stem blend `(1 − w)·full + w·karaoke` of the two choices'
/// outputs (nulling off, so each is the backend's own), with the set's `[blend.vocal]` weights,
/// and the status line shows them.
#[test]
fn full_plus_spleeter_is_the_tuned_blend_of_the_full_ensemble_and_karaoke() {
    let Some((mix, _, _, spleeter)) = material("full + spleeter") else {
        return;
    };
    let mix = &mix[..mix.len().min(5 * 44_100)];
    let cfg = config(spleeter);
    let set = danna_sep_core::modelset::ModelSet::load(&demo_set()).expect("demo set");
    let weights = set
        .blend
        .vocal
        .as_ref()
        .map_or([0.5; STEM_COUNT], |v| v.stem_weights());
    let run = |model| {
        let spec = BackendSpec { model, ..KARAOKE };
        offline(&cfg, spec, NullStems::Off, mix, LatencyTier::Live)
    };
    let (full, _) = run(ModelChoice::Full);
    let (karaoke, _) = run(ModelChoice::Karaoke);
    let (blend, line) = run(ModelChoice::FullSpleeter);
    assert!(
        line.contains("blended with the ensemble, Karaoke share d/b/o/v"),
        "{line}"
    );
    for s in 0..STEM_COUNT {
        let w = weights[s];
        for ch in 0..2 {
            let c = 2 * s + ch;
            let err = (0..mix.len())
                .map(|t| (blend[c][t] - ((1.0 - w) * full[c][t] + w * karaoke[c][t])).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 1e-5, "stem {s} channel {ch}: {err}");
        }
    }
    // The blend is not one of its two inputs where a weight is strictly between 0 and 1.
    if let Some(s) = weights.iter().position(|&w| w > 0.0 && w < 1.0) {
        let diff = (0..mix.len())
            .map(|t| (blend[2 * s][t] - full[2 * s][t]).abs())
            .fold(0.0f32, f32::max);
        assert!(diff > 1e-4, "stem {s}: {diff}");
    }
}

#[test]
fn karaoke_without_the_spleeter_model_runs_the_full_ensemble_and_says_why() {
    if runtime_or_skip("karaoke fallback").is_none() {
        return;
    }
    let missing = PathBuf::from("/nonexistent/spleeter-2stems");
    let backend = ensemble_factory(&config(missing), None)(KARAOKE).expect("full ensemble");
    let line = backend.describe();
    assert!(line.contains("full ensemble: unet+demucs+xumx"), "{line}");
    assert!(
        line.contains("Karaoke without Spleeter (no model set at /nonexistent/spleeter-2stems"),
        "{line}"
    );
}
