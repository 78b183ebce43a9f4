//! The host configurations `activate()` accepts.
//!
//! The engine allocates per sample rate and per maximum block (its input history, the window
//! buffers and the segments in flight all scale with both), so a hostile or broken
//! configuration must never reach it:
//!
//! - a sample rate that is not a number, infinite, zero or negative is refused (`activate()`
//!   returns false and says why);
//! - a finite rate outside [`MIN_SAMPLE_RATE`] ..= [`MAX_SAMPLE_RATE`] is clamped to that range:
//!   the engine runs as if the audio came at the clamped rate (its latency, in samples, is the
//!   clamped rate's, and the output stays aligned to it; separation at such rates means little
//!   anyway). Refusing would fail hosts that probe odd rates (the CLAP validator activates at
//!   1234.5678 Hz and counts a refusal as a failure);
//! - a maximum block above [`MAX_BLOCK`] is clamped to it: the engine is built for
//!   [`MAX_BLOCK`] and `process()` cuts a larger host block into chunks. Offline renders stay
//!   exact; in real time the reported latency only covers blocks of up to [`MAX_BLOCK`], so a
//!   host that really sends larger ones gets dry audio for the windows that arrive late
//!   (counted as missed hops). A maximum of 0 is taken as 1.

use nice_plug::prelude::BufferConfig;

/// The lowest host sample rate accepted, in Hz.
pub const MIN_SAMPLE_RATE: f32 = 8_000.0;

/// The highest host sample rate accepted, in Hz.
pub const MAX_SAMPLE_RATE: f32 = 768_000.0;

/// The largest block the engine is built for, in frames (1.4 s at 48 kHz).
pub const MAX_BLOCK: u32 = 65_536;

/// Why `activate()` refused a host configuration.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum HostConfigError {
    /// The rate is NaN, infinite, zero or negative.
    #[error("sample rate {0} Hz is not a sample rate")]
    SampleRate(f32),
}

/// What the engine is built for, derived from the host's [`BufferConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineBounds {
    /// The host rate clamped to the accepted range, rounded to whole Hz.
    pub sample_rate: u32,
    /// The host's maximum block, clamped to `1 ..= MAX_BLOCK`.
    pub max_block: usize,
}

impl EngineBounds {
    /// Checks `config` against the limits in the module docs.
    pub fn of(config: &BufferConfig) -> Result<Self, HostConfigError> {
        let rate = config.sample_rate;
        // `>` is false for NaN, so this also refuses it.
        if !(rate.is_finite() && rate > 0.0) {
            return Err(HostConfigError::SampleRate(rate));
        }
        Ok(Self {
            sample_rate: rate.clamp(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE).round() as u32,
            max_block: config.max_buffer_size.clamp(1, MAX_BLOCK) as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nice_plug::prelude::ProcessMode;

    fn config(sample_rate: f32, max_buffer_size: u32) -> BufferConfig {
        BufferConfig {
            sample_rate,
            min_buffer_size: None,
            max_buffer_size,
            process_mode: ProcessMode::Realtime,
        }
    }

    #[test]
    fn rates_that_are_not_rates_are_refused_and_others_clamped() {
        for (rate, clamped) in [(1_234.567_8, 8_000), (7_999.0, 8_000), (1.0e9, 768_000)] {
            assert_eq!(
                EngineBounds::of(&config(rate, 512)).unwrap().sample_rate,
                clamped
            );
        }
        for rate in [0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -48_000.0] {
            assert!(
                matches!(
                    EngineBounds::of(&config(rate, 512)),
                    Err(HostConfigError::SampleRate(_))
                ),
                "{rate}"
            );
        }
    }

    #[test]
    fn blocks_are_clamped_and_the_rate_rounded() {
        let b = EngineBounds::of(&config(44_100.4, u32::MAX)).unwrap();
        assert_eq!((b.sample_rate, b.max_block), (44_100, MAX_BLOCK as usize));
        let b = EngineBounds::of(&config(MIN_SAMPLE_RATE, 0)).unwrap();
        assert_eq!((b.sample_rate, b.max_block), (8_000, 1));
        let b = EngineBounds::of(&config(MAX_SAMPLE_RATE, 4096)).unwrap();
        assert_eq!((b.sample_rate, b.max_block), (768_000, 4096));
    }
}
