//! `ResidualSplit`: the Karaoke accompaniment (`mixture − vocals`) split into drums, bass and
//! other by the four-stem ensemble's estimates, renormalised so the three sum to it.
//!
//! In the STFT domain: `A` = STFT of the accompaniment, `E_s` = STFT of the ensemble's stem
//! `s` (drums, bass, other); stem `s` = iSTFT(`w_s·A`) with `w_s = |E_s|² / Σ_k |E_k|²` per
//! channel, frame and bin (`1/3` each where all three are zero). The weights sum to 1, so the
//! three stems sum to iSTFT(`A`), which is the accompaniment up to the STFT round trip's float
//! rounding. Nothing allocates after [`ResidualSplit::prepare`].

use crate::dsp::{istft_len, ComplexSpec, StftPlan};
use crate::engine::StemBuffers;

/// The stems the accompaniment is split into (drums, bass, other: stems `0..3`).
pub const SPLIT_STEMS: usize = 3;

/// Buffers for one window length.
pub struct ResidualSplit {
    /// The accompaniment (2) and the three estimates (6), zero-padded to the STFT length.
    padded: Vec<Vec<f32>>,
    /// Their STFTs, same channel order.
    spec: ComplexSpec,
    /// The three split stems' STFTs, channel `2·s + ch`.
    out: ComplexSpec,
    wave: Vec<f32>,
}

impl Default for ResidualSplit {
    fn default() -> Self {
        Self {
            padded: Vec::new(),
            spec: ComplexSpec::new(2 + 2 * SPLIT_STEMS, 0),
            out: ComplexSpec::new(2 * SPLIT_STEMS, 0),
            wave: Vec::new(),
        }
    }
}

impl ResidualSplit {
    /// Allocates for signals padded to `padded` samples (`frames` STFT frames).
    pub fn prepare(&mut self, padded: usize, frames: usize) {
        self.padded = vec![vec![0.0; padded]; 2 + 2 * SPLIT_STEMS];
        self.spec = ComplexSpec::new(2 + 2 * SPLIT_STEMS, frames);
        self.out = ComplexSpec::new(2 * SPLIT_STEMS, frames);
        self.wave = vec![0.0; istft_len(frames)];
    }

    /// Replaces stems `0..3` of `stems` (the ensemble's estimates on entry) by the split of
    /// `acc`; `plan` must take the padded length.
    pub fn split(&mut self, acc: [&[f32]; 2], stems: &mut StemBuffers, plan: &mut StftPlan) {
        let n = stems.frames();
        for (ch, a) in acc.iter().enumerate() {
            self.padded[ch][..n].copy_from_slice(&a[..n]);
        }
        for s in 0..SPLIT_STEMS {
            for ch in 0..2 {
                self.padded[2 + 2 * s + ch][..n].copy_from_slice(stems.channel(s, ch));
            }
        }
        for p in &mut self.padded {
            p[n..].fill(0.0);
        }
        {
            let inputs: [&[f32]; 2 + 2 * SPLIT_STEMS] =
                std::array::from_fn(|i| &self.padded[i][..]);
            plan.stft(&inputs, &mut self.spec);
        }
        let frames = self.spec.frames();
        self.out.set_frames(frames);
        for ch in 0..2 {
            for t in 0..frames {
                let a = self.spec.frame(ch, t);
                let e: [_; SPLIT_STEMS] =
                    std::array::from_fn(|s| self.spec.frame(2 + 2 * s + ch, t));
                for b in 0..a.len() {
                    let p: [f32; SPLIT_STEMS] = std::array::from_fn(|s| e[s][b].norm_sqr());
                    let total: f32 = p.iter().sum();
                    for (s, &ps) in p.iter().enumerate() {
                        let w = if total > 0.0 {
                            ps / total
                        } else {
                            1.0 / SPLIT_STEMS as f32
                        };
                        self.out.frame_mut(2 * s + ch, t)[b] = a[b] * w;
                    }
                }
            }
        }
        let len = istft_len(frames);
        for s in 0..SPLIT_STEMS {
            for ch in 0..2 {
                let wave = &mut self.wave[..len];
                plan.istft(&self.out, 2 * s + ch, wave);
                stems.channel_mut(s, ch).copy_from_slice(&wave[..n]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::frame_count;

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn the_three_stems_sum_to_the_accompaniment_and_follow_the_estimates() {
        let n = 20_000;
        let padded = n + 1024;
        let tone = |f: f32, t: usize| (2.0 * std::f32::consts::PI * f * t as f32 / 44_100.0).sin();
        // Accompaniment: a 100 Hz "bass" and a 3 kHz "other"; the estimates are rough.
        let acc: Vec<Vec<f32>> = (0..2)
            .map(|_| {
                (0..n)
                    .map(|t| 0.5 * tone(100.0, t) + 0.2 * tone(3000.0, t))
                    .collect()
            })
            .collect();
        let mut stems = StemBuffers::new(n);
        for ch in 0..2 {
            for t in 0..n {
                stems.channel_mut(1, ch)[t] = 0.3 * tone(100.0, t);
                stems.channel_mut(2, ch)[t] = 0.3 * tone(3000.0, t) + 0.01 * tone(100.0, t);
            }
        }
        let mut split = ResidualSplit::default();
        split.prepare(padded, frame_count(padded));
        let mut plan = StftPlan::new(padded);
        split.split([&acc[0], &acc[1]], &mut stems, &mut plan);
        let (mut err, mut pow) = (0.0f64, 0.0f64);
        for ch in 0..2 {
            for t in 0..n {
                let sum: f32 = (0..SPLIT_STEMS).map(|s| stems.channel(s, ch)[t]).sum();
                err += f64::from(sum - acc[ch][t]).powi(2);
                pow += f64::from(acc[ch][t]).powi(2);
            }
        }
        let snr = 10.0 * (pow / err).log10();
        eprintln!("residual split: Σ stems vs accompaniment {snr:.1} dB");
        assert!(snr > 100.0, "{snr}");
        // The bass stem holds the 100 Hz tone, not the 3 kHz one (correlation with each).
        let corr = |s: usize, f: f32| -> f64 {
            (4096..n - 4096)
                .map(|t| f64::from(stems.channel(s, 0)[t] * tone(f, t)))
                .sum::<f64>()
        };
        assert!(corr(1, 100.0) > 10.0 * corr(1, 3000.0).abs());
        assert!(corr(2, 3000.0) > 10.0 * corr(2, 100.0).abs());
    }
}
