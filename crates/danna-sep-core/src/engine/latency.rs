//! The latency the plugin reports, and the window geometry it follows from, at the host rate.

use super::tier::{LatencyTier, TierSpec, MODEL_RATE};

/// Wall-clock slack for the inference worker to notice that a window is complete (it polls the
/// input history; the audio thread never signals it, because a wake-up is a syscall).
pub const WAKEUP_ALLOWANCE_SECONDS: f64 = 0.010;

/// Window geometry in samples at the host rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowGeometry {
    /// Samples before the contributing part.
    pub left_context: usize,
    /// Samples between consecutive windows.
    pub hop: usize,
    /// Samples of complementary crossfade between consecutive windows.
    pub crossfade: usize,
    /// Samples after the contributing part.
    pub lookahead: usize,
}

impl WindowGeometry {
    /// Total window length.
    pub const fn window(&self) -> usize {
        self.left_context + self.hop + self.crossfade + self.lookahead
    }

    /// Length of the part of a window that reaches the output (`hop + crossfade`).
    pub const fn segment(&self) -> usize {
        self.hop + self.crossfade
    }

    /// Stream position of the first sample of window `k`; window `k` produces output samples
    /// `[k·hop, (k+1)·hop + crossfade)`.
    pub const fn window_start(&self, k: i64) -> i64 {
        k * self.hop as i64 - self.left_context as i64
    }

    /// Stream position one past the last sample window `k` needs.
    pub const fn window_end(&self, k: i64) -> i64 {
        self.window_start(k) + self.window() as i64
    }
}

/// Every term of the reported latency, at the host rate, so it can be shown and tested.
///
/// ```text
/// latency = hop + crossfade + lookahead      (the newest output sample's window must be complete)
///         + compute_allowance                 (time the worker gets for one window)
///         + max_block                         (a window may complete at the start of a host block
///                                              that is only handed over at its end)
///         + wakeup_allowance                  (worker polling slack)
/// ```
///
/// A brute-force simulation of real-time hosts (unit test below) shows that every window gets
/// its full compute allowance for any block sequence, with exactly two samples to spare.
///
/// Resampling to and from the model rate happens per window on the worker, with the resampler
/// delay trimmed and edge effects falling into the context, so it costs no latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyBudget {
    /// Host sample rate in Hz.
    pub sample_rate: u32,
    /// The window geometry at the host rate.
    pub geometry: WindowGeometry,
    /// Samples of wall time the worker has for one window.
    pub compute_allowance: usize,
    /// The host's maximum block size.
    pub max_block: usize,
    /// Samples of polling slack.
    pub wakeup_allowance: usize,
}

fn scale(samples: u32, rate: u32) -> usize {
    ((samples as u64 * rate as u64 + MODEL_RATE as u64 / 2) / MODEL_RATE as u64) as usize
}

impl LatencyBudget {
    /// The budget for `tier` at host `sample_rate` with blocks of at most `max_block` samples.
    pub fn new(tier: LatencyTier, sample_rate: u32, max_block: usize) -> Self {
        Self::from_spec(tier.spec(), sample_rate, max_block)
    }

    /// The budget for an explicit geometry (tests use small ones).
    pub fn from_spec(spec: TierSpec, sample_rate: u32, max_block: usize) -> Self {
        assert!(sample_rate > 0 && max_block > 0);
        let geometry = WindowGeometry {
            left_context: scale(spec.left_context, sample_rate),
            hop: scale(spec.hop, sample_rate).max(1),
            crossfade: scale(spec.crossfade, sample_rate).max(1),
            lookahead: scale(spec.lookahead, sample_rate),
        };
        Self {
            sample_rate,
            geometry,
            compute_allowance: scale(spec.compute_allowance, sample_rate),
            max_block,
            wakeup_allowance: (WAKEUP_ALLOWANCE_SECONDS * sample_rate as f64).ceil() as usize,
        }
    }

    /// The latency in samples reported to the host; output sample `n` is input sample
    /// `n - total()`.
    pub const fn total(&self) -> usize {
        let g = &self.geometry;
        g.hop
            + g.crossfade
            + g.lookahead
            + self.compute_allowance
            + self.max_block
            + self.wakeup_allowance
    }

    /// The latency in seconds.
    pub fn seconds(&self) -> f64 {
        self.total() as f64 / self.sample_rate as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_tier_stays_within_three_seconds_at_common_rates() {
        for rate in [44_100, 48_000, 96_000] {
            let b = LatencyBudget::new(LatencyTier::Balanced, rate, 4096);
            assert!(b.seconds() <= 3.0, "{rate}: {}", b.seconds());
        }
    }

    #[test]
    fn latency_is_the_documented_sum() {
        let b = LatencyBudget::new(LatencyTier::Live, 44_100, 512);
        let s = LatencyTier::Live.spec();
        let expected =
            (s.hop + s.crossfade + s.lookahead + s.compute_allowance) as usize + 512 + 441;
        assert_eq!(b.total(), expected);
    }

    #[test]
    fn geometry_scales_with_the_host_rate() {
        let a = LatencyBudget::new(LatencyTier::Studio, 44_100, 64);
        let b = LatencyBudget::new(LatencyTier::Studio, 88_200, 64);
        assert_eq!(b.geometry.hop, 2 * a.geometry.hop);
        assert_eq!(b.geometry.window(), 2 * a.geometry.window());
    }

    #[test]
    fn window_k_covers_its_segment_with_context() {
        let g = LatencyBudget::new(LatencyTier::Live, 48_000, 64).geometry;
        for k in [-1i64, 0, 5] {
            let seg_start = k * g.hop as i64;
            assert_eq!(g.window_start(k) + g.left_context as i64, seg_start);
            assert_eq!(
                g.window_end(k) - g.lookahead as i64,
                seg_start + g.segment() as i64
            );
        }
    }

    /// Brute-force model of a real-time host: block `[s, e)` is handed to the plugin at wall
    /// time `e` (in samples). A window is complete when the block holding its last sample is
    /// handed over; its result is needed when the block that outputs its first sample is. The
    /// smallest gap between the two, minus the compute and wake-up allowances, for `latency`.
    fn worst_slack(b: &LatencyBudget, latency: i64, blocks: &[usize]) -> i64 {
        let g = b.geometry;
        let mut ends = Vec::with_capacity(blocks.len());
        let mut e = 0i64;
        for &n in blocks {
            e += n as i64;
            ends.push(e);
        }
        // Wall time at which input sample `i` has been handed over.
        let handed = |i: i64| ends[ends.partition_point(|&end| end <= i)];
        let total = e;
        let mut worst = i64::MAX;
        let mut k = -1i64;
        loop {
            let first_out = k.max(0) * g.hop as i64;
            // Output position t is produced when input t + latency arrives.
            let need_at = first_out + latency;
            if need_at >= total {
                break;
            }
            let ready_from = handed(g.window_end(k) - 1);
            let slack =
                handed(need_at) - ready_from - (b.compute_allowance + b.wakeup_allowance) as i64;
            worst = worst.min(slack);
            k += 1;
        }
        worst
    }

    #[test]
    fn the_formula_leaves_the_full_compute_allowance_for_any_block_sequence() {
        let spec = TierSpec {
            left_context: 300,
            hop: 1000,
            crossfade: 100,
            lookahead: 400,
            compute_allowance: 900,
        };
        for max_block in [1usize, 7, 64, 256, 1000] {
            let b = LatencyBudget::from_spec(spec, 44_100, max_block);
            let total = b.total() + 12 * b.geometry.hop;
            let mut rng = danna_sep_testkit::Rng::new(0x9e3779b97f4a7c15u64 ^ max_block as u64);
            let mut sequences: Vec<Vec<usize>> = Vec::new();
            // Full blocks at every phase: the adversarial case for block-end hand-over.
            for first in 1..=max_block.min(64) {
                let mut v = vec![first];
                while v.iter().sum::<usize>() < total {
                    v.push(max_block);
                }
                sequences.push(v);
            }
            for _ in 0..50 {
                let mut v = Vec::new();
                while v.iter().sum::<usize>() < total {
                    v.push(1 + rng.below(max_block));
                }
                sequences.push(v);
            }
            // The adversarial case: a full block starting at the last sample of window 3, and a
            // block ending right after the first output sample that needs it.
            let k = 3i64;
            let l = b.total() as i64;
            let (we, need) = (b.geometry.window_end(k), k * b.geometry.hop as i64 + l);
            let mut adversarial = vec![1usize; (we - 1) as usize];
            adversarial.push(max_block);
            adversarial.extend(std::iter::repeat_n(
                1,
                (need + 1 - (we - 1 + max_block as i64)) as usize,
            ));
            adversarial.extend(std::iter::repeat_n(1, total));
            sequences.push(adversarial);
            let worst = sequences
                .iter()
                .map(|v| worst_slack(&b, l, v))
                .min()
                .unwrap();
            // Never short, and conservative by exactly two samples: a window completes at
            // least one sample into its block, and the output needs at least one sample of
            // its block, but the formula counts a whole block.
            assert_eq!(worst, 2, "max block {max_block}");
        }
    }
}
