//! Helpers for driving the streaming engine: mono signals, block sequences and a small
//! geometry. The test backends live in `danna_sep_core::engine::testing`.

use std::sync::{Arc, Mutex};

use danna_sep_core::engine::{BackendFactory, EngineBlock, SeparationBackend, TierSpec};
use danna_sep_core::{SeparationError, STEM_COUNT};

use crate::signals::Rng;

/// A small geometry so tests run fast; same structure as the real tiers.
pub const SMALL: TierSpec = TierSpec {
    left_context: 2048,
    hop: 4096,
    crossfade: 512,
    lookahead: 2048,
    compute_allowance: 4096,
};

/// Deterministic white noise in [-0.5, 0.5].
pub fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.range(-0.5, 0.5) as f32).collect()
}

/// A sum of sines well below every Nyquist in use (survives resampling round trips).
pub fn tones(n: usize, rate: u32, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let parts: Vec<(f32, f32, f32)> = (0..6)
        .map(|_| {
            (
                rng.range(50.0, 9000.0) as f32,
                rng.range(0.02, 0.15) as f32,
                rng.range(0.0, std::f64::consts::TAU) as f32,
            )
        })
        .collect();
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            parts
                .iter()
                .map(|&(f, a, p)| a * (2.0 * std::f32::consts::PI * f * t + p).sin())
                .sum()
        })
        .collect()
}

/// Random block sizes in `1..=max` summing to `total`.
pub fn random_blocks(total: usize, max: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut v = Vec::new();
    let mut left = total;
    while left > 0 {
        let n = 1 + rng.below(max.min(left));
        v.push(n);
        left -= n;
    }
    v
}

/// Fixed-size blocks summing to `total`.
pub fn fixed_blocks(total: usize, size: usize) -> Vec<usize> {
    let mut v = vec![size; total / size];
    if !total.is_multiple_of(size) {
        v.push(total % size);
    }
    v
}

/// A factory that hands out `backend` the first time and fails after (for backends that
/// cannot be cloned: gated or probing ones); use `factory_of` for those that can.
pub fn factory_once<B: SeparationBackend + 'static>(backend: B) -> BackendFactory {
    let slot = Mutex::new(Some(backend));
    Arc::new(move |_| {
        slot.lock()
            .unwrap()
            .take()
            .map(|b| Box::new(b) as Box<dyn SeparationBackend>)
            .ok_or_else(|| {
                SeparationError::Thread("this test backend was built once already".into())
            })
    })
}

/// What a unity-gain mix plays for `block`'s channel `ch`: the stems summed, plus the dry
/// input where stems were missing, in the plugin mixer's order of operations.
pub fn unity_mix(block: &EngineBlock, ch: usize, out: &mut [f32]) {
    let (w, dry) = (block.dry_weight(), block.dry(ch));
    for (i, o) in out.iter_mut().enumerate().take(block.frames()) {
        let stems: f32 = (0..STEM_COUNT).map(|s| block.stem(s, ch)[i]).sum();
        *o = stems + w[i] * dry[i];
    }
}

/// The largest difference between `out[from..]` and `scale` times `input` delayed by `latency`
/// frames (silence before it): 0 for an output aligned to the reported latency.
pub fn max_err(out: &[f32], input: &[f32], latency: usize, scale: f32, from: usize) -> f32 {
    (from..out.len())
        .map(|t| {
            let x = if t >= latency {
                scale * input[t - latency]
            } else {
                0.0
            };
            (out[t] - x).abs()
        })
        .fold(0.0, f32::max)
}
