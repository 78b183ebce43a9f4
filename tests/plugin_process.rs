//! The plugin driven through nice-plug's `process()` directly: latency alignment at many block
//! sizes and host rates, mono and stereo, aux outputs, and no allocation on the audio thread.

// Index loops over time read more clearly than iterator chains when comparing signals.
#![allow(clippy::needless_range_loop)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::driver::{Driver, Output};
use common::engine::{fixed_blocks, max_err, noise, random_blocks, tones};
use danna_sep_core::engine::BackendState;
use danna_sep_core::ModelChoice;
use nice_plug::prelude::*;

/// Waits until the worker has created its backend; on CI it must be ready (ONNX Runtime and
/// the quarter model set are provisioned there).
fn settle(d: &Driver) -> BackendState {
    let s = d.settle();
    if std::env::var_os("CI").is_some() {
        assert_eq!(
            s,
            BackendState::Ready,
            "CI provisions ONNX Runtime: {}",
            d.plugin.status_line()
        );
    }
    s
}

fn run(d: &mut Driver, input: &[Vec<f32>], blocks: &[usize]) -> Output {
    d.run(input, blocks)
}

#[test]
fn offline_render_is_aligned_to_the_reported_latency_at_every_block_size_rate_and_width() {
    let cases: &[(f32, u32, &[usize])] = &[
        (44_100.0, 2, &[1, 7, 64, 480, 512, 1000, 4096]),
        (48_000.0, 2, &[64, 1000]),
        (96_000.0, 1, &[512, 4096]),
    ];
    for &(rate, channels, sizes) in cases {
        let mut seqs: Vec<(String, Vec<usize>)> = Vec::new();
        for &s in sizes {
            seqs.push((format!("{s}"), vec![s]));
        }
        seqs.push(("random".into(), vec![]));
        for (name, pattern) in seqs {
            let max_block = pattern.first().copied().unwrap_or(4096) as u32;
            let mut d = Driver::new(channels, rate, max_block, ProcessMode::Offline);
            let state = settle(&d);
            let latency = d.latency as usize;
            assert!(latency > 0);
            // Latency plus a few seconds: several Balanced-tier hops and crossfades.
            let total = latency + (3.5 * rate) as usize;
            let input: Vec<Vec<f32>> = (0..channels as u64)
                .map(|c| {
                    if rate == 44_100.0 {
                        noise(total, 60 + c)
                    } else {
                        tones(total, rate as u32, 60 + c)
                    }
                })
                .collect();
            let blocks = if pattern.is_empty() {
                random_blocks(total, 4096, 61)
            } else {
                fixed_blocks(total, pattern[0])
            };
            let out = run(&mut d, &input, &blocks);
            let (tol, from) = if rate == 44_100.0 {
                (1e-5, 0)
            } else {
                (5e-3, latency + rate as usize / 10)
            };
            let what = format!("{rate} Hz, {channels} ch, blocks {name}");
            for ch in 0..channels as usize {
                let e = max_err(&out.main[ch], &input[ch], latency, 1.0, from);
                assert!(e < tol, "main {what}: {e}");
                // One sample off would be far outside the tolerance.
                assert!(
                    max_err(&out.main[ch], &input[ch], latency - 1, 1.0, from) > 10.0 * tol,
                    "{what}"
                );
                for s in 0..4 {
                    let scale = if state == BackendState::Ready {
                        0.25
                    } else {
                        0.0
                    };
                    let e = max_err(&out.aux[s][ch], &input[ch], latency, scale, from);
                    assert!(e < tol, "aux {s} {what}: {e}");
                }
            }
        }
    }
}

// The checker counts in debug builds only (nice-assert-no-alloc's `warn_debug`; nice-plug's
// `assert_process_allocs` is debug-only too).
#[cfg(debug_assertions)]
#[test]
fn process_never_allocates_including_the_first_block_after_activate_and_reset() {
    // The checker is live in this build: an allocation inside it is counted.
    let before = nice_assert_no_alloc::violation_count();
    nice_assert_no_alloc::assert_no_alloc(|| std::hint::black_box(vec![1u8; 16]).len());
    assert!(
        nice_assert_no_alloc::violation_count() > before,
        "allocation checker is not active"
    );
    for mode in [ProcessMode::Realtime, ProcessMode::Offline] {
        for channels in [2u32, 1] {
            let mut d = Driver::new(channels, 48_000.0, 512, mode);
            let start = nice_assert_no_alloc::violation_count();
            let total = d.latency as usize + 96_000;
            let input: Vec<Vec<f32>> = (0..channels as u64).map(|c| noise(total, 70 + c)).collect();
            // Real-time mode does not wait for the worker: the first blocks run before the
            // backend exists, later ones with it, misses or not. All must be allocation free.
            let blocks = random_blocks(total, 512, 71);
            let half = blocks.len() / 2;
            run(&mut d, &input, &blocks[..1]);
            run(&mut d, &input, &blocks[1..half]);
            d.reset();
            run(&mut d, &input, &blocks[..half]);
            assert_eq!(
                nice_assert_no_alloc::violation_count(),
                start,
                "{mode:?}, {channels} ch: allocated in process()"
            );
        }
    }
}

#[test]
fn changing_the_latency_tier_asks_the_host_for_a_restart_and_keeps_the_latency() {
    let mut d = Driver::new(2, 44_100.0, 256, ProcessMode::Realtime);
    let latency = d.latency;
    let params = d.plugin.params();
    let tier = params
        .param_map()
        .into_iter()
        .find(|(id, _, _)| id == "tier")
        .expect("tier param")
        .1;
    // Set through the same pointer a host uses.
    unsafe { tier._internal_set_normalized_value(0.0) };
    let input = vec![vec![0.0f32; 256]; 2];
    run(&mut d, &input, &[256]);
    assert!(d.context().restart_requested.get(), "restart requested");
    assert_eq!(
        d.context().latency_changed.get(),
        None,
        "latency is constant while active"
    );
    assert_eq!(d.latency, latency);
}

/// Sets parameter `id` to `normalized` through the pointer a host uses.
fn set_param(d: &Driver, id: &str, normalized: f32) {
    let param = d
        .plugin
        .params()
        .param_map()
        .into_iter()
        .find(|(pid, _, _)| pid == id)
        .unwrap_or_else(|| panic!("no parameter {id}"))
        .1;
    // SAFETY: the pointer comes from the plugin's live parameter map, as a host's does.
    unsafe { param._internal_set_normalized_value(normalized) };
}

#[test]
fn the_precision_parameter_names_its_cost() {
    let d = Driver::new(2, 44_100.0, 256, ProcessMode::Realtime);
    let params = d.plugin.params();
    let precision = params
        .param_map()
        .into_iter()
        .find(|(id, _, _)| id == "precision")
        .expect("precision param")
        .1;
    // SAFETY: the pointer comes from the plugin's live parameter map, as a host's does.
    let (value, names) = unsafe {
        (
            precision.unmodulated_normalized_value(),
            [0.0, 0.5, 1.0].map(|v| precision.normalized_value_to_string(v, true)),
        )
    };
    assert_eq!(value, 0.0, "float32 is the default");
    assert_eq!(
        names,
        [
            "Float32 (exact)",
            "Int8 LSTM/MatMul (faster, lossy)",
            "BF16 (OpenVINO, faster, lossy)"
        ]
    );
}

#[test]
fn a_model_change_during_an_offline_render_swaps_without_a_restart_and_stays_exact() {
    // 44.1 kHz, the model rate: no resampling, so the quarter set's render is exact.
    let rate = 44_100.0;
    let mut d = Driver::new(2, rate, 512, ProcessMode::Offline);
    if settle(&d) != BackendState::Ready {
        return;
    }
    let latency = d.latency as usize;
    let total = latency + 3 * rate as usize;
    let input = [noise(total, 91), noise(total, 92)];
    let blocks = fixed_blocks(total, 512);
    let half = blocks.len() / 2;
    let first = d.run(
        &[
            input[0][..half * 512].to_vec(),
            input[1][..half * 512].to_vec(),
        ],
        &blocks[..half],
    );
    // "Fast" (index 1 of 7, normalised 1/6) and int8: a staged swap, not a restart.
    set_param(&d, "model", 1.0 / 6.0);
    set_param(&d, "precision", 1.0);
    let second = d.run(
        &[
            input[0][half * 512..].to_vec(),
            input[1][half * 512..].to_vec(),
        ],
        &blocks[half..],
    );
    assert!(
        !d.context().restart_requested.get(),
        "no restart for a model change"
    );
    let shared = d.plugin.engine_shared().unwrap();
    assert_eq!(shared.status.swaps_done.load(Ordering::Acquire), 1);
    assert_eq!(shared.status.state(), BackendState::Ready);
    let info = shared.status.info().unwrap();
    assert_eq!(info.spec.map(|s| s.model), Some(ModelChoice::Fast));
    assert_eq!(info.error, None);
    // The quarter set's models give the same stems either way: the render stays the input
    // delayed by the latency, on the main output and (a quarter each) on every stem output.
    for ch in 0..2 {
        let main: Vec<f32> = first.main[ch]
            .iter()
            .chain(&second.main[ch])
            .copied()
            .collect();
        assert!(
            max_err(&main, &input[ch], latency, 1.0, 0) < 1e-5,
            "main {ch}"
        );
        for s in 0..4 {
            let stem: Vec<f32> = first.aux[s][ch]
                .iter()
                .chain(&second.aux[s][ch])
                .copied()
                .collect();
            assert!(
                max_err(&stem, &input[ch], latency, 0.25, 0) < 1e-5,
                "stem {s} ch {ch}"
            );
        }
    }
}

#[test]
fn a_runtime_change_is_a_staged_swap_and_the_status_line_names_what_runs() {
    let rate = 44_100.0;
    let mut d = Driver::new(2, rate, 512, ProcessMode::Offline);
    if settle(&d) != BackendState::Ready {
        return;
    }
    // Auto runs OpenVINO where it loads (CI provisions it) on a CPU with AVX-512, else ONNX
    // Runtime saying why.
    let config = danna_sep_core::config::Config::from_env();
    let openvino = danna_sep_core::openvino_runtime::ensure_loaded(&config.runtime).is_ok();
    let line = d.plugin.status_line();
    if !danna_sep_core::selection::auto_prefers_openvino() {
        assert!(
            line.contains(danna_sep_core::selection::AUTO_ORT_NOTE),
            "{line}"
        );
    } else if openvino {
        assert!(line.contains("OpenVINO 2026.4.1"), "{line}");
    } else {
        assert!(line.contains("OpenVINO unavailable ("), "{line}");
    }
    let latency = d.latency as usize;
    let total = latency + 2 * rate as usize;
    let input = [noise(total, 93), noise(total, 94)];
    let blocks = fixed_blocks(total, 512);
    let half = blocks.len() / 2;
    d.run(
        &[
            input[0][..half * 512].to_vec(),
            input[1][..half * 512].to_vec(),
        ],
        &blocks[..half],
    );
    // "ONNX Runtime" (index 1 of 3) and BF16 (index 2 of 3): one staged swap, no restart.
    set_param(&d, "runtime", 0.5);
    set_param(&d, "precision", 1.0);
    let second = d.run(
        &[
            input[0][half * 512..].to_vec(),
            input[1][half * 512..].to_vec(),
        ],
        &blocks[half..],
    );
    assert!(!d.context().restart_requested.get());
    let shared = d.plugin.engine_shared().unwrap();
    assert_eq!(shared.status.swaps_done.load(Ordering::Acquire), 1);
    let line = d.plugin.status_line();
    assert!(
        line.contains("ONNX Runtime 1.31.1") && line.contains("bf16 needs OpenVINO: float32 runs"),
        "{line}"
    );
    // The render stays exact across the swap: the quarter set on either runtime.
    for ch in 0..2 {
        let tail = &second.main[ch][second.main[ch].len() - 4096..];
        let from = total - 4096;
        let expected = &input[ch][from - latency..total - latency];
        let err = tail
            .iter()
            .zip(expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-5, "main {ch}: {err}");
    }
}

/// The Karaoke button with the default Full ensemble runs the Karaoke choice (Spleeter's real
/// vocals) through a staged swap, and back when it is turned off; "Karaoke vocals: Model set"
/// keeps the ensemble's vocals.
#[test]
fn the_karaoke_button_swaps_in_the_spleeter_vocals_and_back() {
    let rate = 44_100.0;
    let mut d = Driver::new(2, rate, 512, ProcessMode::Offline);
    if settle(&d) != BackendState::Ready {
        return;
    }
    let spleeter = danna_sep_testkit::repo_root().join("models/spleeter-2stems");
    let shared = d.plugin.engine_shared().unwrap();
    // Long enough that windows begin after each change (the swap lands on the first one).
    let frames = d.latency as usize + rate as usize;
    let input = [noise(frames, 97), noise(frames, 98)];
    let blocks = fixed_blocks(frames, 512);
    d.run(&input, &blocks);
    set_param(&d, "kar", 1.0);
    assert_eq!(
        d.plugin.parameters().backend_spec().model,
        ModelChoice::Karaoke
    );
    d.run(&input, &blocks);
    assert_eq!(shared.status.swaps_done.load(Ordering::Acquire), 1);
    assert!(!d.context().restart_requested.get());
    let line = d.plugin.status_line();
    if spleeter.join("manifest.toml").is_file() {
        assert!(
            line.contains("Karaoke: vocals: spleeter-2stems") && line.contains("licence MIT"),
            "{line}"
        );
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI provisions {}",
            spleeter.display()
        );
        assert!(line.contains("without Spleeter"), "{line}");
    }
    // Its own vocals: the model set's (Full), another swap.
    set_param(&d, "karvoc", 1.0);
    assert_eq!(
        d.plugin.parameters().backend_spec().model,
        ModelChoice::Full
    );
    d.run(&input, &blocks);
    assert_eq!(shared.status.swaps_done.load(Ordering::Acquire), 2);
    assert!(!d.plugin.status_line().contains("Karaoke:"));
}

/// Ardour's export says "offline" only in its blocks: the VST3 wrapper then asks the plugin to
/// switch itself on the processing thread (`Vst3Plugin::switch_process_mode`) instead of
/// re-activating it there. The same engine goes on, nothing is allocated, the render from the
/// switch on is exact, and back in real time the engine no longer waits.
#[cfg(debug_assertions)]
#[test]
fn a_switch_to_offline_and_back_on_the_processing_thread_keeps_the_engine_and_allocates_nothing() {
    let rate = 44_100.0;
    let mut d = Driver::new(2, rate, 512, ProcessMode::Realtime);
    if settle(&d) != BackendState::Ready {
        return;
    }
    let shared = d.plugin.engine_shared().unwrap();
    let latency = d.latency as usize;
    let before = [noise(4096, 95), noise(4096, 96)];
    d.run(&before, &fixed_blocks(4096, 512));
    let total = latency + 2 * rate as usize;
    let input = [noise(total, 93), noise(total, 94)];
    let start = nice_assert_no_alloc::violation_count();
    let plugin = &mut d.plugin;
    let switched = nice_assert_no_alloc::assert_no_alloc(|| {
        Vst3Plugin::switch_process_mode(plugin, ProcessMode::Offline)
    });
    assert!(switched, "the plugin switches itself");
    assert!(shared.offline.load(Ordering::Acquire));
    let out = d.run(&input, &fixed_blocks(total, 512));
    let plugin = &mut d.plugin;
    let back = nice_assert_no_alloc::assert_no_alloc(|| {
        Vst3Plugin::switch_process_mode(plugin, ProcessMode::Realtime)
    });
    assert!(back);
    assert!(!shared.offline.load(Ordering::Acquire));
    assert_eq!(nice_assert_no_alloc::violation_count(), start, "allocated");
    assert!(
        std::sync::Arc::ptr_eq(&shared, &d.plugin.engine_shared().unwrap()),
        "the engine was replaced: a re-activation"
    );
    assert!(!d.context().restart_requested.get());
    // A new stream from the switch on, waited for: the input delayed by the latency, a
    // quarter of it on every stem output.
    assert_eq!(shared.status.missed_hops.load(Ordering::Relaxed), 0);
    for ch in 0..2 {
        assert!(
            max_err(&out.main[ch], &input[ch], latency, 1.0, 0) < 1e-5,
            "main {ch}"
        );
        for s in 0..4 {
            let e = max_err(&out.aux[s][ch], &input[ch], latency, 0.25, 0);
            assert!(e < 1e-5, "stem {s} ch {ch}: {e}");
        }
    }
}

#[test]
fn a_model_change_in_real_time_loads_in_the_background_without_a_restart_or_allocation() {
    let mut d = Driver::new(2, 44_100.0, 256, ProcessMode::Realtime);
    if settle(&d) != BackendState::Ready {
        return;
    }
    let shared = d.plugin.engine_shared().unwrap();
    let input = vec![vec![0.1f32; 256]; 2];
    let start = nice_assert_no_alloc::violation_count();
    // "Fast" (index 1 of 7): loads on the worker's loader thread while process() goes on.
    set_param(&d, "model", 1.0 / 6.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while shared.status.swaps_done.load(Ordering::Acquire) == 0 {
        assert!(
            Instant::now() < deadline,
            "the swap never happened: {}",
            d.plugin.status_line()
        );
        d.run(&input, &[256]);
        std::thread::yield_now();
    }
    assert_eq!(
        shared.status.info().unwrap().spec.map(|s| s.model),
        Some(ModelChoice::Fast)
    );
    // "X-UMX only": the quarter set has no such model, so the swap fails and Fast keeps
    // running, saying why.
    set_param(&d, "model", 0.4);
    let deadline = Instant::now() + Duration::from_secs(60);
    while shared.status.info().unwrap().error.is_none() {
        assert!(
            Instant::now() < deadline,
            "the failed swap was never reported"
        );
        d.run(&input, &[256]);
        std::thread::yield_now();
    }
    assert_eq!(shared.status.state(), BackendState::Ready);
    let message = d.plugin.status_line();
    assert!(
        message.contains("switching to X-UMX only") && message.contains("xumx"),
        "{message}"
    );
    assert_eq!(
        shared.status.info().unwrap().spec.map(|s| s.model),
        Some(ModelChoice::Fast)
    );
    assert!(
        !d.context().restart_requested.get(),
        "no restart for a model change"
    );
    assert_eq!(
        nice_assert_no_alloc::violation_count(),
        start,
        "process() allocated during a model swap"
    );
}

#[test]
fn non_finite_input_never_reaches_any_output_bypassed_or_not_and_the_status_says_so() {
    for bypass in [false, true] {
        let mut d = Driver::new(2, 48_000.0, 512, ProcessMode::Offline);
        settle(&d);
        if bypass {
            set_param(&d, "bypass", 1.0);
        }
        let n = d.latency as usize + 24_000;
        let mut input = vec![noise(n, 91), noise(n, 92)];
        input[0][1_000] = f32::NAN;
        input[1][9_000] = f32::INFINITY;
        input[0][15_000] = f32::NEG_INFINITY;
        let out = run(&mut d, &input, &random_blocks(n, 512, 93));
        let finite = |c: &Vec<f32>| c.iter().all(|v| v.is_finite());
        assert!(out.main.iter().all(finite), "bypass {bypass}: main output");
        assert!(
            out.aux.iter().flatten().all(finite),
            "bypass {bypass}: aux outputs"
        );
        if bypass {
            assert!(
                out.aux.iter().flatten().flatten().all(|&v| v == 0.0),
                "bypass silences the aux outputs"
            );
        }
        let line = d.plugin.status_line();
        assert!(line.contains("3 NaN/Inf input samples"), "{line}");
    }
}

#[test]
fn deactivate_never_waits_and_destroying_the_instance_waits_for_every_thread() {
    for _ in 0..3 {
        // Deactivated at once, in the middle of the model load: returns without waiting
        // for it (the worker is still running then), and the next activation does not wait
        // either.
        let mut d = Driver::new(2, 48_000.0, 512, ProcessMode::Realtime);
        let group = d.plugin.thread_group().clone();
        d.plugin.deactivate();
        let mut d2 = Driver::new(2, 44_100.0, 512, ProcessMode::Realtime);
        let group2 = d2.plugin.thread_group().clone();
        settle(&d2);
        d2.plugin.deactivate();
        // Destroying an instance returns only once none of its threads runs: the host may
        // unload the library right after.
        drop(d);
        assert_eq!(group.running(), 0, "a thread outlived its instance");
        drop(d2);
        assert_eq!(group2.running(), 0, "a thread outlived its instance");
    }
}
