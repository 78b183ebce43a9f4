//! `activate()` with hostile host configurations, driven in process: rates outside 8 kHz to
//! 768 kHz and NaN are refused (false, with the reason for the editor, and the instance still
//! activates at a sane rate afterwards), the extremes of the range work, and an absurd maximum
//! block is clamped to `MAX_BLOCK` (the engine is built for it, the latency says so, and larger
//! host blocks are processed in chunks, exactly, offline).
//!
//! Its own test binary: before the bounds, the NaN rate panicked inside `activate()` and
//! `u32::MAX` frames tried to allocate hundreds of gigabytes, which aborts the process.

// Index loops over time read more clearly than iterator chains when comparing signals.
#![allow(clippy::needless_range_loop)]

mod common;

use common::driver::{activate, buffer_config, Driver};
use common::engine::{fixed_blocks, max_err, noise};
use danna_sep::host_config::{MAX_BLOCK, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};
use danna_sep::DannaSep;
use danna_sep_core::engine::{BackendState, LatencyBudget, LatencyTier};
use nice_plug::prelude::*;

/// Sines from 100 Hz to 3 kHz: inside the 4 kHz Nyquist of the lowest rate, clear of the
/// resamplers' transition bands.
fn low_tones(n: usize, rate: f32, seed: u64) -> Vec<f32> {
    let f: Vec<f32> = (0..5)
        .map(|k| 100.0 + 700.0 * k as f32 + 37.0 * seed as f32 % 90.0)
        .collect();
    (0..n)
        .map(|i| {
            let t = i as f32 / rate;
            f.iter()
                .map(|&f| 0.1 * (2.0 * std::f32::consts::PI * f * t).sin())
                .sum()
        })
        .collect()
}

#[test]
fn rates_that_are_not_rates_are_refused_and_the_instance_stays_usable() {
    let mut plugin = DannaSep::default();
    for rate in [f32::NAN, 0.0, -44_100.0, f32::INFINITY] {
        let config = buffer_config(rate, 512, ProcessMode::Realtime);
        let (ok, _) = activate(&mut plugin, 2, &config);
        assert!(!ok, "{rate} Hz was accepted");
        assert!(
            plugin.engine_shared().is_none(),
            "{rate} Hz built an engine"
        );
        let why = plugin.hub().refusal().expect("the refusal is recorded");
        assert!(why.contains("sample rate"), "{rate} Hz: {why}");
    }
    let (ok, latency) = activate(
        &mut plugin,
        2,
        &buffer_config(48_000.0, 512, ProcessMode::Realtime),
    );
    assert!(ok, "a refused activation broke the instance");
    assert_eq!(
        latency as usize,
        LatencyBudget::new(LatencyTier::Balanced, 48_000, 512).total()
    );
    assert_eq!(plugin.hub().refusal(), None, "a good activation clears it");
    plugin.deactivate();
    // Rates outside 8..768 kHz run the engine at the nearest end of that range.
    for (rate, engine_rate) in [(1_234.567_8, 8_000), (7_999.0, 8_000), (1.0e9, 768_000)] {
        let (ok, latency) = activate(
            &mut plugin,
            2,
            &buffer_config(rate, 512, ProcessMode::Realtime),
        );
        assert!(ok, "{rate} Hz was refused");
        assert_eq!(
            latency as usize,
            LatencyBudget::new(LatencyTier::Balanced, engine_rate, 512).total(),
            "{rate} Hz"
        );
        plugin.deactivate();
    }
}

#[test]
fn the_lowest_and_highest_rates_activate_and_separate() {
    for rate in [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE] {
        let d = Driver::new(2, rate, 512, ProcessMode::Offline);
        assert_eq!(
            d.latency as usize,
            LatencyBudget::new(LatencyTier::Balanced, rate as u32, 512).total(),
            "{rate} Hz"
        );
        if std::env::var_os("CI").is_some() {
            assert_eq!(
                d.settle(),
                BackendState::Ready,
                "{rate} Hz: {}",
                d.plugin.status_line()
            );
        }
    }
    // At 8 kHz a render is cheap: the stems come out aligned through the resampler.
    let rate = MIN_SAMPLE_RATE;
    let mut d = Driver::new(2, rate, 512, ProcessMode::Offline);
    let state = d.settle();
    let latency = d.latency as usize;
    let total = latency + 3 * rate as usize;
    let input: Vec<Vec<f32>> = (0..2).map(|c| low_tones(total, rate, 80 + c)).collect();
    let out = d.run(&input, &fixed_blocks(total, 512));
    let from = latency + rate as usize / 10;
    let scale = if state == BackendState::Ready {
        0.25
    } else {
        0.0
    };
    for ch in 0..2 {
        let e = max_err(&out.main[ch], &input[ch], latency, 1.0, from);
        assert!(e < 5e-3, "main channel {ch}: {e}");
        for s in 0..4 {
            let e = max_err(&out.aux[s][ch], &input[ch], latency, scale, from);
            assert!(e < 5e-3, "stem {s} channel {ch}: {e}");
        }
    }
}

#[test]
fn an_absurd_max_block_is_clamped_and_larger_blocks_are_processed_in_chunks() {
    let rate = 44_100.0;
    let mut d = Driver::new(2, rate, u32::MAX, ProcessMode::Offline);
    let latency = d.latency as usize;
    assert_eq!(
        latency,
        LatencyBudget::new(LatencyTier::Balanced, 44_100, MAX_BLOCK as usize).total(),
        "the engine is built for MAX_BLOCK frames"
    );
    let state = d.settle();
    let total = latency + 3 * rate as usize;
    let input: Vec<Vec<f32>> = (0..2).map(|c| noise(total, 90 + c)).collect();
    // Blocks of 2.3 × MAX_BLOCK: each is cut into three chunks.
    let out = d.run(&input, &fixed_blocks(total, 150_000));
    let scale = if state == BackendState::Ready {
        0.25
    } else {
        0.0
    };
    for ch in 0..2 {
        let e = max_err(&out.main[ch], &input[ch], latency, 1.0, 0);
        assert!(e < 1e-5, "main channel {ch}: {e}");
        for s in 0..4 {
            let e = max_err(&out.aux[s][ch], &input[ch], latency, scale, 0);
            assert!(e < 1e-5, "stem {s} channel {ch}: {e}");
        }
    }
}
