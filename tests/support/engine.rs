//! Test helpers shared by the engine tests: signals, block sequences, small geometries and
//! backends whose output exposes misaligned windows.
#![allow(dead_code)]

use danna_sep::engine::{
    BackendError, IdentityBackend, SeparationBackend, StemBuffers, TierSpec, STEM_COUNT,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-0.5..0.5)).collect()
}

/// A sum of sines well below every Nyquist in use (survives resampling round trips).
pub fn tones(n: usize, rate: u32, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let parts: Vec<(f32, f32, f32)> = (0..6)
        .map(|_| {
            (
                rng.random_range(50.0..9000.0),
                rng.random_range(0.02..0.15),
                rng.random_range(0.0..std::f32::consts::TAU),
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
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = Vec::new();
    let mut left = total;
    while left > 0 {
        let n = rng.random_range(1..=max.min(left));
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

/// Stems that depend on the whole window (each window adds its own mean and a ramp across the
/// window), so any difference in window placement changes the output.
pub struct WindowSensitiveBackend;

impl SeparationBackend for WindowSensitiveBackend {
    fn describe(&self) -> String {
        "window-sensitive test backend".into()
    }
    fn prepare(&mut self, _frames: usize) -> Result<(), BackendError> {
        Ok(())
    }
    fn separate(&mut self, mix: [&[f32]; 2], stems: &mut StemBuffers) -> Result<(), BackendError> {
        let n = stems.frames();
        for (ch, x) in mix.iter().enumerate() {
            let mean = x.iter().sum::<f32>() / n as f32;
            for s in 0..STEM_COUNT {
                let out = stems.channel_mut(s, ch);
                for i in 0..n {
                    out[i] = (s as f32 + 1.0) * 0.1 * x[i] + mean + 1e-3 * (i as f32 / n as f32);
                }
            }
        }
        Ok(())
    }
}

/// Stems at half the identity level: the main output is half the input, so dry fallback
/// (full level) is distinguishable from separated output.
pub struct HalfBackend;

impl SeparationBackend for HalfBackend {
    fn describe(&self) -> String {
        "half-level test backend".into()
    }
    fn prepare(&mut self, _frames: usize) -> Result<(), BackendError> {
        Ok(())
    }
    fn separate(&mut self, mix: [&[f32]; 2], stems: &mut StemBuffers) -> Result<(), BackendError> {
        IdentityBackend.separate(mix, stems)?;
        for channel in stems.channels_mut() {
            for v in channel {
                *v *= 0.5;
            }
        }
        Ok(())
    }
}
