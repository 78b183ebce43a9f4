//! `StemMixer`: turns the engine's stems into the plugin's main and aux outputs: per-stem gain,
//! mute, solo, karaoke level, output selection and bypass, all ramped so nothing clicks.

use nice_plug::prelude::Enum;

use danna_sep_core::engine::EngineBlock;
use danna_sep_core::stems::{STEM_COUNT, VOCALS};

/// What the main output plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum OutputSelect {
    /// All stems with their gains, mutes and solos.
    #[id = "mix"]
    #[name = "Mix"]
    Mix,
    /// Only the drums stem.
    #[id = "drums"]
    #[name = "Drums"]
    Drums,
    /// Only the bass stem.
    #[id = "bass"]
    #[name = "Bass"]
    Bass,
    /// Only the other stem.
    #[id = "other"]
    #[name = "Other"]
    Other,
    /// Only the vocals stem.
    #[id = "vocals"]
    #[name = "Vocals"]
    Vocals,
}

/// The user's mixing choices, as plain values (read from the parameters once per block).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MixerSettings {
    /// What the main output plays.
    pub output: OutputSelect,
    /// Linear gain per stem.
    pub gains: [f32; STEM_COUNT],
    /// Muted stems.
    pub mutes: [bool; STEM_COUNT],
    /// Soloed stems; if any is soloed, only soloed stems play.
    pub solos: [bool; STEM_COUNT],
    /// Karaoke switch: scales the vocals by `karaoke_level`.
    pub karaoke: bool,
    /// Linear vocal level while karaoke is on (0 removes the vocals).
    pub karaoke_level: f32,
    /// Main output plays the dry input (delayed by the same latency).
    pub bypass: bool,
}

impl Default for MixerSettings {
    fn default() -> Self {
        Self {
            output: OutputSelect::Mix,
            gains: [1.0; STEM_COUNT],
            mutes: [false; STEM_COUNT],
            solos: [false; STEM_COUNT],
            karaoke: false,
            karaoke_level: 0.0,
            bypass: false,
        }
    }
}

impl MixerSettings {
    /// The gain each stem gets in the main output.
    pub fn effective_gains(&self) -> [f32; STEM_COUNT] {
        let any_solo = self.solos.iter().any(|&s| s);
        std::array::from_fn(|s| {
            let audible = match self.output {
                OutputSelect::Mix => !self.mutes[s] && (!any_solo || self.solos[s]),
                one => one as usize == s + 1 && !self.mutes[s],
            };
            let karaoke = if s == VOCALS && self.karaoke {
                self.karaoke_level
            } else {
                1.0
            };
            if audible {
                self.gains[s] * karaoke
            } else {
                0.0
            }
        })
    }
}

/// A linear ramp towards a target over a fixed number of samples.
#[derive(Debug, Clone, Copy)]
struct Ramp {
    value: f32,
    target: f32,
    step: f32,
    len: u32,
}

impl Ramp {
    fn new(value: f32, len: u32) -> Self {
        Self {
            value,
            target: value,
            step: 0.0,
            len: len.max(1),
        }
    }

    fn set_target(&mut self, target: f32) {
        if target != self.target {
            self.target = target;
            self.step = (target - self.value) / self.len as f32;
        }
    }

    #[inline]
    fn next(&mut self) -> f32 {
        if self.value != self.target {
            let v = self.value + self.step;
            let overshot =
                (self.step > 0.0 && v >= self.target) || (self.step < 0.0 && v <= self.target);
            self.value = if overshot { self.target } else { v };
        }
        self.value
    }
}

/// Ramped mixer from engine blocks to plugin outputs.
#[derive(Debug, Clone)]
pub struct StemMixer {
    gains: [Ramp; STEM_COUNT],
    wet: Ramp,
}

/// Ramp time for gain and bypass changes.
pub const RAMP_SECONDS: f32 = 0.02;

impl StemMixer {
    /// A mixer at `sample_rate`, starting at `settings` without ramping.
    pub fn new(sample_rate: f32, settings: &MixerSettings) -> Self {
        let len = (RAMP_SECONDS * sample_rate) as u32;
        let g = settings.effective_gains();
        Self {
            gains: std::array::from_fn(|s| Ramp::new(g[s], len)),
            wet: Ramp::new(if settings.bypass { 0.0 } else { 1.0 }, len),
        }
    }

    /// Mixes `block` into `main` and, where present, the four aux outputs (stems unscaled).
    /// Mono outputs get the average of the two channels.
    pub fn mix(
        &mut self,
        block: &EngineBlock,
        settings: &MixerSettings,
        main: OutputChannels<'_>,
        aux: [Option<OutputChannels<'_>>; STEM_COUNT],
    ) {
        let targets = settings.effective_gains();
        for (r, t) in self.gains.iter_mut().zip(targets) {
            r.set_target(t);
        }
        self.wet.set_target(if settings.bypass { 0.0 } else { 1.0 });
        let n = block.frames();
        let w = block.dry_weight();
        let dry = [block.dry(0), block.dry(1)];
        let OutputChannels { left, mut right } = main;
        for i in 0..n {
            let g: [f32; STEM_COUNT] = std::array::from_fn(|s| self.gains[s].next());
            let wet = self.wet.next();
            let y: [f32; 2] = std::array::from_fn(|ch| {
                let stems: f32 = (0..STEM_COUNT).map(|s| g[s] * block.stem(s, ch)[i]).sum();
                wet * (stems + w[i] * dry[ch][i]) + (1.0 - wet) * dry[ch][i]
            });
            match right.as_deref_mut() {
                Some(r) => {
                    left[i] = y[0];
                    r[i] = y[1];
                }
                None => left[i] = 0.5 * (y[0] + y[1]),
            }
        }
        for (s, out) in aux.into_iter().enumerate() {
            let Some(OutputChannels { left, right }) = out else {
                continue;
            };
            let (sl, sr) = (block.stem(s, 0), block.stem(s, 1));
            match right {
                Some(r) => {
                    left[..n].copy_from_slice(sl);
                    r[..n].copy_from_slice(sr);
                }
                None => {
                    for (o, (a, b)) in left[..n].iter_mut().zip(sl.iter().zip(sr)) {
                        *o = 0.5 * (a + b);
                    }
                }
            }
        }
    }
}

/// One output bus: a left (or mono) channel and an optional right channel.
pub struct OutputChannels<'a> {
    /// Left channel, or the only channel of a mono bus.
    pub left: &'a mut [f32],
    /// Right channel of a stereo bus.
    pub right: Option<&'a mut [f32]>,
}

impl<'a> OutputChannels<'a> {
    /// Frames `range` of a bus given as channel slices (1 or 2 channels; `None` if empty).
    pub fn from_channels(
        channels: &'a mut [&mut [f32]],
        range: std::ops::Range<usize>,
    ) -> Option<Self> {
        let (first, rest) = channels.split_first_mut()?;
        Some(Self {
            left: &mut first[range.clone()],
            right: rest.first_mut().map(|r| &mut r[range]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mute_solo_output_and_karaoke_decide_the_gains() {
        let mut s = MixerSettings {
            gains: [0.5, 1.0, 2.0, 1.0],
            ..Default::default()
        };
        assert_eq!(s.effective_gains(), [0.5, 1.0, 2.0, 1.0]);
        s.mutes[1] = true;
        assert_eq!(s.effective_gains(), [0.5, 0.0, 2.0, 1.0]);
        s.solos[2] = true;
        assert_eq!(s.effective_gains(), [0.0, 0.0, 2.0, 0.0]);
        s.solos[1] = true; // a muted stem stays muted even when soloed
        assert_eq!(s.effective_gains(), [0.0, 0.0, 2.0, 0.0]);
        s.solos = [false; 4];
        s.karaoke = true;
        s.karaoke_level = 0.25;
        assert_eq!(s.effective_gains(), [0.5, 0.0, 2.0, 0.25]);
        s.output = OutputSelect::Vocals;
        assert_eq!(s.effective_gains(), [0.0, 0.0, 0.0, 0.25]);
        s.output = OutputSelect::Bass;
        assert_eq!(s.effective_gains(), [0.0; 4], "bass is muted");
    }

    #[test]
    fn ramps_reach_the_target_without_overshoot() {
        let mut r = Ramp::new(0.0, 10);
        r.set_target(1.0);
        let v: Vec<f32> = (0..12).map(|_| r.next()).collect();
        assert!(v.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*v.last().unwrap(), 1.0);
        assert!((v[0] - 0.1).abs() < 1e-6);
    }
}
