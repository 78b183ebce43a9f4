//! Latency tiers: the window geometry a user picks, trading latency for context (quality).

/// Sample rate the models run at; every tier is defined in samples at this rate.
pub const MODEL_RATE: u32 = 44_100;

/// A named window geometry. Values are in samples at [`MODEL_RATE`] and are scaled to the host
/// rate by [`crate::engine::LatencyBudget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LatencyTier {
    /// Shortest context that still gives the U-Net its 64 STFT frames (≈ 1.5 s window).
    Live,
    /// Default: ≈ 2.9 s windows, ≤ 3 s latency.
    Balanced,
    /// ≈ 7 s windows for the best quality in real time.
    Studio,
}

/// The window geometry of one tier, in samples at [`MODEL_RATE`].
///
/// A window is `left_context + hop + crossfade + lookahead` samples long; only its
/// `hop + crossfade` middle part is used, the context on both sides only informs the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierSpec {
    /// Past samples each window sees before the part it contributes.
    pub left_context: u32,
    /// Distance between consecutive windows; one inference job per hop.
    pub hop: u32,
    /// Length of the complementary crossfade between consecutive windows' outputs.
    pub crossfade: u32,
    /// Future samples each window sees after the part it contributes.
    pub lookahead: u32,
    /// Time the inference worker is given to finish one window, counted from the moment the
    /// window's last sample arrived.
    pub compute_allowance: u32,
}

impl LatencyTier {
    /// All tiers, shortest latency first.
    pub const ALL: [LatencyTier; 3] = [
        LatencyTier::Live,
        LatencyTier::Balanced,
        LatencyTier::Studio,
    ];

    /// Display name: `Live`, `Balanced`, `Studio`.
    pub fn label(self) -> &'static str {
        match self {
            LatencyTier::Live => "Live",
            LatencyTier::Balanced => "Balanced",
            LatencyTier::Studio => "Studio",
        }
    }

    /// The geometry of this tier.
    ///
    /// Every window is computed in full, so a tier's engine cost is the models' cost per audio
    /// second times `window / hop` (its overlap factor): Live 4.0, Balanced 2.42, Studio 1.85.
    /// Balanced and Studio spend their latency on a long hop, because latency is paid once and
    /// context in every window; Balanced then buys 1.3 s of left context with compute (it costs
    /// no latency), because with 0.19 s its vocals lost 0.47 dB SDR against the whole track on
    /// the synthetic test split and with 1.3 s they lose 0.20 dB (README, Latency tiers).
    pub const fn spec(self) -> TierSpec {
        match self {
            // Window 65536 samples = 65 STFT frames (hop 1024), the U-Net's minimum of 64.
            LatencyTier::Live => TierSpec {
                left_context: 24_576,
                hop: 16_384,
                crossfade: 2_048,
                lookahead: 22_528,
                compute_allowance: 16_384,
            },
            // Window 129024 samples (2.93 s, 128 frames); 2.83 s + one block + 10 ms latency.
            LatencyTier::Balanced => TierSpec {
                left_context: 57_344,
                hop: 53_248,
                crossfade: 2_048,
                lookahead: 16_384,
                compute_allowance: 53_248,
            },
            // Window 303104 samples (6.9 s); 9.3 s + one block + 10 ms latency.
            LatencyTier::Studio => TierSpec {
                left_context: 57_344,
                hop: 163_840,
                crossfade: 8_192,
                lookahead: 73_728,
                compute_allowance: 163_840,
            },
        }
    }
}

impl TierSpec {
    /// The command line's offline geometry (not a plugin tier: latency does not matter there,
    /// so long windows with little overlap, factor 1.35). Window 532480 samples (12.1 s).
    pub const OFFLINE: TierSpec = TierSpec {
        left_context: 65_536,
        hop: 393_216,
        crossfade: 8_192,
        lookahead: 65_536,
        compute_allowance: 393_216,
    };

    /// Window length in samples at [`MODEL_RATE`].
    pub const fn window(&self) -> u32 {
        self.left_context + self.hop + self.crossfade + self.lookahead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_window_gives_the_unet_its_minimum_frames() {
        for tier in LatencyTier::ALL {
            // torch.stft(center=True) gives 1 + floor(len / 1024) frames.
            let frames = 1 + tier.spec().window() / 1024;
            assert!(frames >= 64, "{tier:?} has only {frames} frames");
        }
        assert!(1 + TierSpec::OFFLINE.window() / 1024 >= 64);
    }

    #[test]
    fn balanced_and_studio_overlap_less_than_live() {
        // The overlap factor is the engine's cost multiplier: the default must stay well below
        // Live's, which buys its short latency with overlap.
        let factor = |t: LatencyTier| t.spec().window() as f64 / t.spec().hop as f64;
        for tier in [LatencyTier::Balanced, LatencyTier::Studio] {
            assert!(
                factor(tier) <= 2.5,
                "{tier:?}: window/hop = {}",
                factor(tier)
            );
            assert!(factor(tier) < factor(LatencyTier::Live), "{tier:?}");
        }
    }

    #[test]
    fn balanced_sees_at_least_1_3_s_of_left_context() {
        // The measured quality bound (≤ 0.2 dB per stem against the whole track) needs it.
        let s = LatencyTier::Balanced.spec();
        assert!(s.left_context as f64 / MODEL_RATE as f64 >= 1.3, "{s:?}");
    }

    #[test]
    fn crossfade_fits_inside_the_hop_and_compute_keeps_up() {
        let specs = LatencyTier::ALL.map(|t| (format!("{t:?}"), t.spec()));
        for (tier, s) in specs
            .iter()
            .chain([&("Offline".to_string(), TierSpec::OFFLINE)])
        {
            let tier = tier.as_str();
            assert!(s.crossfade > 0 && s.crossfade < s.hop, "{tier}");
            // The worker has at most one hop of wall time per hop of audio on average.
            assert!(s.compute_allowance <= s.hop, "{tier}");
        }
    }
}
