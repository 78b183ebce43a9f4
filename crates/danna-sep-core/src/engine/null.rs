//! Stems that null: the residual `mixture − Σ stems` of a segment assigned to the stems, so
//! that the four stems sum to the input exactly (up to float rounding), see
//! [`crate::selection::NullStems`].
//!
//! Each sample's residual is shared out in proportion to the stems' magnitudes at that sample
//! (`s_k += r·|s_k| / Σ_j |s_j|`; equal shares where all are zero), so a stem that is silent
//! somewhere stays silent there unless every stem is. It runs on the worker, after the
//! window is back at the host rate, on buffers that exist already: no allocation.

use super::backend::StemBuffers;
use crate::stems::STEM_COUNT;

/// The residual's level relative to the input, in dB (`10·log10(Σr² / Σx²)` over both
/// channels; −∞ when the stems already sum to the input, 0 dB for a silent input with
/// non-silent stems), and the residual assigned to `stems` when `assign` is set. `input` is
/// the mixture for the segment's samples, per channel.
pub fn null_residual(stems: &mut StemBuffers, input: [&[f32]; 2], assign: bool) -> f32 {
    let (mut res2, mut in2) = (0.0f64, 0.0f64);
    for (ch, x) in input.iter().enumerate() {
        for (t, &xt) in x.iter().enumerate().take(stems.frames()) {
            let mut sum = 0.0f32;
            let mut mag = 0.0f32;
            for s in 0..STEM_COUNT {
                let v = stems.channel(s, ch)[t];
                sum += v;
                mag += v.abs();
            }
            let r = xt - sum;
            res2 += f64::from(r) * f64::from(r);
            in2 += f64::from(xt) * f64::from(xt);
            if !assign || r == 0.0 {
                continue;
            }
            for s in 0..STEM_COUNT {
                let v = &mut stems.channel_mut(s, ch)[t];
                let share = if mag > 0.0 {
                    v.abs() / mag
                } else {
                    1.0 / STEM_COUNT as f32
                };
                *v += r * share;
            }
        }
    }
    match (res2 > 0.0, in2 > 0.0) {
        (false, _) => f32::NEG_INFINITY,
        (true, false) => 0.0,
        (true, true) => (10.0 * (res2 / in2).log10()) as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(stems: &mut StemBuffers, f: impl Fn(usize, usize, usize) -> f32) {
        for s in 0..STEM_COUNT {
            for ch in 0..2 {
                for (t, v) in stems.channel_mut(s, ch).iter_mut().enumerate() {
                    *v = f(s, ch, t);
                }
            }
        }
    }

    #[test]
    fn assigned_stems_sum_to_the_input_and_silent_stems_stay_silent() {
        let n = 4096;
        let x: Vec<Vec<f32>> = (0..2)
            .map(|ch| {
                (0..n)
                    .map(|t| (0.01 * t as f32 + ch as f32).sin() * 0.7)
                    .collect()
            })
            .collect();
        let mut stems = StemBuffers::new(n);
        // A crude "separation": stems 0..2 share 90 % of the input, stem 3 is silent.
        fill(&mut stems, |s, ch, t| {
            if s == 3 {
                0.0
            } else {
                0.3 * x[ch][t] + 0.001 * (t as f32).cos()
            }
        });
        let before = null_residual(&mut stems, [&x[0], &x[1]], true);
        assert!(before > -25.0 && before < -10.0, "{before}");
        let after = null_residual(&mut stems, [&x[0], &x[1]], false);
        assert!(after < -120.0, "after {after} dB");
        assert!(stems.channel(3, 0).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn off_measures_without_changing_and_silence_is_split_equally() {
        let n = 64;
        let x = vec![0.5f32; n];
        let mut stems = StemBuffers::new(n);
        let level = null_residual(&mut stems, [&x, &x], false);
        assert!((level - 0.0).abs() < 1e-6, "{level}");
        assert!(stems.channel(0, 0).iter().all(|&v| v == 0.0));
        null_residual(&mut stems, [&x, &x], true);
        for s in 0..STEM_COUNT {
            assert!(stems.channel(s, 1).iter().all(|&v| v == 0.125));
        }
        assert_eq!(
            null_residual(&mut stems, [&x, &x], false),
            f32::NEG_INFINITY
        );
    }

    #[cfg(debug_assertions)]
    #[test]
    fn nulling_does_not_allocate() {
        let x = vec![0.25f32; 512];
        let mut stems = StemBuffers::new(512);
        let before = nice_assert_no_alloc::violation_count();
        nice_assert_no_alloc::assert_no_alloc(|| {
            null_residual(&mut stems, [&x, &x], true);
        });
        assert_eq!(nice_assert_no_alloc::violation_count(), before);
    }
}
