//! Seeded host-schedule fuzzing (issue 13, item 13): random activations at random rates, widths
//! and maximum block sizes, offline or real time, each a random mix of blocks of 0 to the
//! maximum frames (signal, silence, NaN/Inf/subnormal bursts), parameter changes of every kind
//! and resets (see `danna_sep_testkit::fuzz`). Asserted throughout: no panic, every output
//! finite, the latency constant per activation, and in offline mode at 44.1 kHz every output
//! frame equal to the sanitised input delayed by the latency, scaled as the settled mixer
//! settings say.
//!
//! Two levels: the streaming engine and the plugin's mixer with the identity backend and a tiny
//! geometry (cheap, 10^5 schedules in CI), and the whole plugin with the quarter model set
//! through the in-process driver (every activation prepares real ONNX sessions, so fewer).
//! `DANNA_SEP_FUZZ_SCHEDULES` (per seed) and `DANNA_SEP_FUZZ_SEED` (one seed instead of the
//! fixed list) run longer or other schedules by hand; a failure names the seed and schedule.

// Index loops over channels read more clearly than iterator chains here.
#![allow(clippy::needless_range_loop)]

mod common;

use common::driver::Driver;
use common::fuzz::{fill_block, Op, Reference, Schedule, ScheduleSpace};
use common::Rng;
use danna_sep::mixer::{MixerSettings, OutputChannels, OutputSelect, StemMixer, RAMP_SECONDS};
use danna_sep_core::engine::testing::IdentityBackend;
use danna_sep_core::engine::{
    build, factory_of, BackendHandoff, BackendState, EngineConfig, LatencyBudget, TierSpec,
};
use danna_sep_core::{BackendSpec, ModelChoice, Precision, STEM_COUNT};
use nice_plug::prelude::*;
use std::sync::atomic::Ordering;

/// A geometry much smaller than the real tiers' (same structure), so a schedule of a few
/// thousand frames spans several hops and crossfades.
const TINY: TierSpec = TierSpec {
    left_context: 64,
    hop: 512,
    crossfade: 32,
    lookahead: 64,
    compute_allowance: 256,
};

/// Output allowed off the reference (f32 rounding of gains up to +12 dB on four stems).
const TOLERANCE: f32 = 1e-4;

/// The seeds CI runs, and how many schedules each (overridable, see the module docs).
fn seeds(default_seeds: &[u64], default_count: usize) -> (Vec<u64>, usize) {
    let count = std::env::var("DANNA_SEP_FUZZ_SCHEDULES")
        .ok()
        .map_or(default_count, |v| {
            v.parse().expect("DANNA_SEP_FUZZ_SCHEDULES")
        });
    let seeds = std::env::var("DANNA_SEP_FUZZ_SEED")
        .ok()
        .map_or(default_seeds.to_vec(), |v| {
            vec![v.parse().expect("DANNA_SEP_FUZZ_SEED")]
        });
    (seeds, count)
}

/// What the main output and each aux output must be at stream frame `pos` for settled
/// `settings`, given unity-level stems that are each a quarter of the input.
fn expected(settings: &MixerSettings, reference: &Reference, ch: usize, pos: usize) -> (f32, f32) {
    let x = reference.expected(ch, pos);
    if settings.bypass {
        (x, 0.0)
    } else {
        let g: f32 = settings.effective_gains().iter().sum();
        (0.25 * g * x, 0.25 * x)
    }
}

/// Checks one block's outputs; `what` names the seed and schedule on failure.
fn check_block(
    what: &dyn Fn() -> String,
    main: &[Vec<f32>],
    aux: &[Vec<Vec<f32>>],
    frames: usize,
    exact: Option<(&MixerSettings, &Reference, usize)>,
) {
    for (ch, out) in main.iter().enumerate() {
        if let Some(i) = out[..frames].iter().position(|v| !v.is_finite()) {
            panic!("{}: main ch {ch} frame {i} is {}", what(), out[i]);
        }
        for (s, stem) in aux.iter().enumerate() {
            if let Some(i) = stem[ch][..frames].iter().position(|v| !v.is_finite()) {
                panic!("{}: aux {s} ch {ch} frame {i} is {}", what(), stem[ch][i]);
            }
        }
        let Some((settings, reference, start)) = exact else {
            continue;
        };
        for i in 0..frames {
            let (m, a) = expected(settings, reference, ch, start + i);
            assert!(
                (out[i] - m).abs() <= TOLERANCE,
                "{}: main ch {ch} at stream frame {} (block frame {i} of {frames}): {} != {m} \
                 (aux 0: {}, {settings:?})",
                what(),
                start + i,
                out[i],
                aux[0][ch][i]
            );
            // A settled bypass selects: silence exactly, whatever the stems hold.
            let tolerance = if settings.bypass { 0.0 } else { TOLERANCE };
            for s in 0..STEM_COUNT {
                assert!(
                    (aux[s][ch][i] - a).abs() <= tolerance,
                    "{}: aux {s} ch {ch} at stream frame {}: {} != {a}",
                    what(),
                    start + i,
                    aux[s][ch][i]
                );
            }
        }
    }
}

/// Frames after a settings change until the mixer's ramps have surely arrived.
fn ramp_frames(rate: u32) -> usize {
    (RAMP_SECONDS * rate as f32) as usize + 2
}

/// The engine level's parameters: every mixer setting and the backend spec.
const ENGINE_PARAMS: usize = 4 * 3 + 5;

fn apply_engine_param(settings: &mut MixerSettings, spec: &mut BackendSpec, index: usize, v: f32) {
    let on = v >= 0.5;
    let pick = |n: usize| ((v * n as f32) as usize).min(n - 1);
    match index {
        0..=3 => settings.gains[index] = v * 3.98,
        4..=7 => settings.mutes[index - 4] = on,
        8..=11 => settings.solos[index - 8] = on,
        12 => {
            settings.output = [
                OutputSelect::Mix,
                OutputSelect::Drums,
                OutputSelect::Bass,
                OutputSelect::Other,
                OutputSelect::Vocals,
            ][pick(5)]
        }
        13 => settings.karaoke = on,
        14 => settings.karaoke_level = v,
        15 => settings.bypass = on,
        _ => {
            // The model and precision: a staged swap on the worker.
            spec.model = [
                ModelChoice::Full,
                ModelChoice::Fast,
                ModelChoice::XUmx,
                ModelChoice::UNet,
                ModelChoice::Demucs,
            ][pick(5)];
            spec.precision = if on {
                Precision::Int8
            } else {
                Precision::Float32
            };
        }
    }
}

/// The streaming engine and the plugin's mixer, as `process()` wires them, with the identity
/// backend: 10^5 schedules (4 seeds x 25,000), every activation a new engine.
#[test]
fn engine_and_mixer_survive_random_host_schedules_with_the_identity_backend() {
    let (seeds, count) = seeds(&[1, 2, 3, 4], 25_000);
    let space = ScheduleSpace {
        rates: &[44_100, 44_100, 48_000, 22_050, 96_000],
        max_blocks: &[1, 7, 64, 256, 512, 1024],
        params: ENGINE_PARAMS,
        ops: 1..=16,
    };
    let max = *space.max_blocks.iter().max().unwrap();
    let mut input = vec![vec![0.0f32; max]; 2];
    let mut main = vec![vec![0.0f32; max]; 2];
    let mut aux = vec![vec![vec![0.0f32; max]; 2]; STEM_COUNT];
    let (mut frames_total, mut aligned_total) = (0usize, 0usize);
    for &seed in &seeds {
        let mut rng = Rng::new(seed);
        let mut settings = MixerSettings::default();
        let mut spec = BackendSpec::default();
        let mut parked: Option<BackendHandoff> = None;
        for index in 0..count {
            let schedule = Schedule::random(&mut rng, &space);
            let what = || format!("seed {seed}, schedule {index}: {schedule:?}");
            let budget = LatencyBudget::from_spec(TINY, schedule.rate, schedule.max_block);
            let config = EngineConfig::new(budget)
                .offline(schedule.offline)
                .spec(spec)
                .reusing(parked.take());
            let (mut engine, mut worker, shared) = build(config, factory_of(|| IdentityBackend));
            let latency = engine.latency();
            assert_eq!(latency, budget.total(), "{}", what());
            let mut mixer = StemMixer::new(schedule.rate as f32, &settings);
            let mut reference = Reference::new(schedule.channels, latency);
            let ramp = ramp_frames(schedule.rate);
            let mut settled = usize::MAX;
            let exact_rate = schedule.offline && schedule.rate == 44_100;
            for op in &schedule.ops {
                match *op {
                    Op::Reset => {
                        engine.reset();
                        reference.reset();
                    }
                    Op::Param { index, normalized } => {
                        let before = settings;
                        apply_engine_param(&mut settings, &mut spec, index, normalized);
                        engine.request_backend(spec);
                        if settings != before {
                            settled = 0;
                        }
                    }
                    Op::Block {
                        frames,
                        content,
                        seed,
                    } => {
                        fill_block(&mut input[..schedule.channels], frames, content, seed);
                        let start = reference.position();
                        reference.push(&input, frames);
                        let right = if schedule.channels == 2 { 1 } else { 0 };
                        let block = engine.process(&input[0][..frames], &input[right][..frames]);
                        assert_eq!(block.frames(), frames);
                        {
                            let (l, r) = main.split_at_mut(1);
                            let out = OutputChannels {
                                left: &mut l[0][..frames],
                                right: (schedule.channels == 2).then(|| &mut r[0][..frames]),
                            };
                            let mut stems = aux.iter_mut();
                            let outs = std::array::from_fn(|_| {
                                let [l, r] = &mut stems.next().unwrap()[..] else {
                                    unreachable!()
                                };
                                Some(OutputChannels {
                                    left: &mut l[..frames],
                                    right: (schedule.channels == 2).then(|| &mut r[..frames]),
                                })
                            });
                            mixer.mix(block, &settings, out, outs);
                        }
                        let exact = (exact_rate && settled >= ramp)
                            .then_some((&settings, &reference, start));
                        let width = schedule.channels;
                        check_block(&what, &main[..width], &aux, frames, exact);
                        if exact.is_some() {
                            aligned_total += frames;
                        }
                        settled = settled.saturating_add(frames);
                        frames_total += frames;
                    }
                }
            }
            if schedule.offline {
                let status = &shared.status;
                assert_eq!(status.missed_hops.load(Ordering::Relaxed), 0, "{}", what());
                assert_eq!(
                    status.failed_windows.load(Ordering::Relaxed),
                    0,
                    "{}",
                    what()
                );
                assert_ne!(status.state(), BackendState::Failed, "{}", what());
            }
            // A host's deactivate: the next activation takes the backend over, or every few
            // activations drops it (a new plugin instance).
            let handoff = worker.stop();
            if rng.below(4) == 0 {
                handoff.discard();
            } else {
                parked = Some(handoff);
            }
        }
    }
    eprintln!(
        "{} schedules ({} seeds x {count}), {frames_total} frames, {aligned_total} checked \
         against the reference",
        seeds.len() * count,
        seeds.len()
    );
    assert!(aligned_total > 0);
}

/// Whether the quarter set (ensembles only, plus the Spleeter vocals where provisioned) loads
/// `model`: the vocal-model choices fall back to its full ensemble without Spleeter.
fn quarter_loads(model: ModelChoice) -> bool {
    matches!(model, ModelChoice::Full | ModelChoice::Fast) || model.uses_vocal_model()
}

/// The whole plugin with the quarter model set through the in-process driver: every parameter
/// the host sees, set through the pointers a host uses; the tier changes take effect at the
/// next activation (the plugin asks for a restart), model and precision changes are staged
/// swaps (to models the quarter set lacks too: those fail and the running ones go on).
#[test]
fn the_plugin_survives_random_host_schedules_with_the_quarter_set() {
    let (seeds, count) = seeds(&[11, 12], 1_000);
    let probe = danna_sep::DannaSep::default();
    let params = probe.params().param_map();
    drop(probe);
    let space = ScheduleSpace {
        rates: &[44_100, 44_100, 48_000, 32_000],
        max_blocks: &[1, 64, 480, 4096, 16_384],
        params: params.len(),
        ops: 1..=48,
    };
    let max = *space.max_blocks.iter().max().unwrap();
    let mut input = vec![vec![0.0f32; max]; 2];
    let mut aux = vec![vec![vec![0.0f32; max]; 2]; STEM_COUNT];
    let (mut frames_total, mut aligned_total, mut ready_total) = (0usize, 0usize, 0usize);
    for &seed in &seeds {
        let mut rng = Rng::new(seed);
        let mut plugin = Some(danna_sep::DannaSep::default());
        for index in 0..count {
            let schedule = Schedule::random(&mut rng, &space);
            let what = || format!("seed {seed}, schedule {index}: {schedule:?}");
            let mode = if schedule.offline {
                ProcessMode::Offline
            } else {
                ProcessMode::Realtime
            };
            let mut d = Driver::with_plugin(
                plugin.take().unwrap(),
                schedule.channels as u32,
                schedule.rate as f32,
                schedule.max_block as u32,
                mode,
            );
            let latency = d.latency as usize;
            // An activation that asks for a model the quarter set lacks (left there by an
            // earlier schedule) fails to load it and plays the input dry on the main output,
            // still aligned, and silence on the aux outputs: what a bypass plays.
            let ready = d.settle() == BackendState::Ready;
            let model = d.plugin.parameters().backend_spec().model;
            assert!(
                ready || !quarter_loads(model),
                "{}: {}",
                what(),
                d.plugin.status_line()
            );
            let dry = MixerSettings {
                bypass: true,
                ..MixerSettings::default()
            };
            let params = d.plugin.params().param_map();
            let mut reference = Reference::new(schedule.channels, latency);
            let ramp = ramp_frames(schedule.rate);
            let mut settled = usize::MAX;
            // Without models the output is the dry input only until another model is asked
            // for: the worker loads that one and separation resumes at a window boundary
            // (where exactly is pinned by the engine_swap tests), so the check ends there.
            let mut dry_known = !ready;
            // Karaoke and Full + Spleeter take vocals from the Spleeter model, so the quarter
            // set's reference does not hold from the moment one runs or is asked for until the
            // next activation (where a later swap lands is again pinned by the engine_swap
            // tests).
            let mut quarter_known = !model.uses_vocal_model();
            let exact_rate = schedule.offline && schedule.rate == 44_100;
            for op in &schedule.ops {
                match *op {
                    Op::Reset => {
                        d.reset();
                        reference.reset();
                    }
                    Op::Param { index, normalized } => {
                        let before = d.plugin.parameters().mixer_settings();
                        // SAFETY: the pointer comes from the plugin's live parameter map, as a
                        // host's does.
                        unsafe { params[index].1._internal_set_normalized_value(normalized) };
                        if d.plugin.parameters().mixer_settings() != before {
                            settled = 0;
                        }
                        let now = d.plugin.parameters().backend_spec().model;
                        if quarter_loads(now) {
                            dry_known = false;
                        }
                        if now.uses_vocal_model() {
                            quarter_known = false;
                        }
                    }
                    Op::Block {
                        frames,
                        content,
                        seed,
                    } => {
                        fill_block(&mut input[..schedule.channels], frames, content, seed);
                        let start = reference.position();
                        reference.push(&input, frames);
                        let status = {
                            let mut io: Vec<&mut [f32]> = input[..schedule.channels]
                                .iter_mut()
                                .map(|c| &mut c[..frames])
                                .collect();
                            d.process(&mut io, &mut aux)
                        };
                        assert_eq!(status, ProcessStatus::Tail(d.latency), "{}", what());
                        let settings = d.plugin.parameters().mixer_settings();
                        let exact = match ready {
                            true => (exact_rate && quarter_known && settled >= ramp)
                                .then_some(&settings),
                            false => (exact_rate && dry_known).then_some(&dry),
                        }
                        .map(|s| (s, &reference, start));
                        // On failure, what the engine went through too.
                        let detail = || {
                            let status = &d.plugin.engine_shared().unwrap().status;
                            format!(
                                "{}; {}; missed hops {}, failed windows {}, swaps {}",
                                what(),
                                d.plugin.status_line(),
                                status.missed_hops.load(Ordering::Relaxed),
                                status.failed_windows.load(Ordering::Relaxed),
                                status.swaps_done.load(Ordering::Relaxed),
                            )
                        };
                        check_block(&detail, &input[..schedule.channels], &aux, frames, exact);
                        if exact.is_some() {
                            aligned_total += frames;
                        }
                        settled = settled.saturating_add(frames);
                        frames_total += frames;
                    }
                }
            }
            assert_eq!(d.context().latency_changed.get(), None, "{}", what());
            if schedule.offline {
                let status = &d.plugin.engine_shared().unwrap().status;
                assert_eq!(status.missed_hops.load(Ordering::Relaxed), 0, "{}", what());
                assert_eq!(
                    status.failed_windows.load(Ordering::Relaxed),
                    0,
                    "{}",
                    what()
                );
            }
            ready_total += usize::from(ready);
            // A host's deactivate; every few activations a new instance instead (defaults, a
            // fresh model load).
            let old = d.deactivate();
            plugin = Some(if rng.below(4) == 0 {
                drop(old);
                danna_sep::DannaSep::default()
            } else {
                old
            });
        }
    }
    eprintln!(
        "{} plugin schedules ({} seeds x {count}, {ready_total} with the models loaded), \
         {frames_total} frames, {aligned_total} checked against the reference",
        seeds.len() * count,
        seeds.len()
    );
    assert!(aligned_total > 0);
}
