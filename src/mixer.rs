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
        self.mix_input(&MixInput::of(block), settings, main, aux);
    }

    /// [`Self::mix`] on plain slices.
    ///
    /// A gain of exactly 0 (mute, solo elsewhere, karaoke at 0) and bypass *select* rather
    /// than multiply, so a stem that is silenced never contributes, whatever its samples hold
    /// (`0 · NaN` is NaN). Bypass plays the dry input on the main output and silences the aux
    /// outputs (ramped like every other change): a bypassed plugin sends nothing anywhere else.
    pub fn mix_input(
        &mut self,
        input: &MixInput<'_>,
        settings: &MixerSettings,
        main: OutputChannels<'_>,
        mut aux: [Option<OutputChannels<'_>>; STEM_COUNT],
    ) {
        let targets = settings.effective_gains();
        for (r, t) in self.gains.iter_mut().zip(targets) {
            r.set_target(t);
        }
        self.wet.set_target(if settings.bypass { 0.0 } else { 1.0 });
        let n = input.dry_weight.len();
        let (w, dry) = (input.dry_weight, input.dry);
        let OutputChannels { left, mut right } = main;
        let mut wet_gains = [0.0f32; MAX_RAMP_BLOCK];
        let mut start = 0;
        while start < n {
            let end = (start + MAX_RAMP_BLOCK).min(n);
            for i in start..end {
                let g: [f32; STEM_COUNT] = std::array::from_fn(|s| self.gains[s].next());
                let wet = self.wet.next();
                wet_gains[i - start] = wet;
                let y: [f32; 2] = std::array::from_fn(|ch| {
                    let mut stems = 0.0;
                    for (s, &gain) in g.iter().enumerate() {
                        if gain != 0.0 {
                            stems += gain * input.stems[s][ch][i];
                        }
                    }
                    if w[i] != 0.0 {
                        stems += w[i] * dry[ch][i];
                    }
                    select_mix(wet, stems, dry[ch][i])
                });
                match right.as_deref_mut() {
                    Some(r) => {
                        left[i] = y[0];
                        r[i] = y[1];
                    }
                    None => left[i] = 0.5 * (y[0] + y[1]),
                }
            }
            for (s, out) in aux.iter_mut().enumerate() {
                let Some(OutputChannels { left, right }) = out.as_mut() else {
                    continue;
                };
                let [sl, sr] = input.stems[s];
                for i in start..end {
                    let wet = wet_gains[i - start];
                    let (a, b) = (select_mix(wet, sl[i], 0.0), select_mix(wet, sr[i], 0.0));
                    match right.as_deref_mut() {
                        Some(r) => {
                            left[i] = a;
                            r[i] = b;
                        }
                        None => left[i] = 0.5 * (a + b),
                    }
                }
            }
            start = end;
        }
    }
}

/// Frames whose bypass ramp values [`StemMixer::mix_input`] keeps on the stack at a time.
const MAX_RAMP_BLOCK: usize = 256;

/// `wet · a + (1 − wet) · b`, selecting `a` or `b` outright at the ends of the ramp so the
/// unselected one never contributes (not even a NaN).
#[inline]
fn select_mix(wet: f32, a: f32, b: f32) -> f32 {
    if wet >= 1.0 {
        a
    } else if wet <= 0.0 {
        b
    } else {
        wet * a + (1.0 - wet) * b
    }
}

/// What the mixer reads: the four stereo stems, the latency-aligned dry input and the per-frame
/// weight of the dry stand-in for missing stems (see [`EngineBlock`]).
pub struct MixInput<'a> {
    /// `[stem][channel]`.
    pub stems: [[&'a [f32]; 2]; STEM_COUNT],
    /// The dry input, per channel.
    pub dry: [&'a [f32]; 2],
    /// Per frame; its length is the block's.
    pub dry_weight: &'a [f32],
}

impl<'a> MixInput<'a> {
    /// The slices of an engine block.
    pub fn of(block: &'a EngineBlock) -> Self {
        Self {
            stems: std::array::from_fn(|s| [block.stem(s, 0), block.stem(s, 1)]),
            dry: [block.dry(0), block.dry(1)],
            dry_weight: block.dry_weight(),
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

    /// Stems holding NaN: every setting that silences them must keep them out of the output.
    #[test]
    fn silenced_stems_and_bypass_select_instead_of_multiplying() {
        let n = 64;
        let nan = vec![f32::NAN; n];
        let one = vec![1.0f32; n];
        let dry = vec![0.5f32; n];
        let zero = vec![0.0f32; n];
        let input = MixInput {
            stems: [[&one, &one], [&nan, &nan], [&one, &one], [&one, &one]],
            dry: [&dry, &dry],
            dry_weight: &zero,
        };
        let render = |settings: MixerSettings| {
            let mut mixer = StemMixer::new(48_000.0, &settings);
            let (mut l, mut r) = (vec![0.0f32; n], vec![0.0f32; n]);
            let mut aux: Vec<Vec<f32>> = vec![vec![7.0; n]; 2 * STEM_COUNT];
            {
                let mut it = aux.iter_mut();
                let outs = std::array::from_fn(|_| {
                    let (a, b) = (it.next().unwrap(), it.next().unwrap());
                    Some(OutputChannels {
                        left: a.as_mut_slice(),
                        right: Some(b.as_mut_slice()),
                    })
                });
                let main = OutputChannels {
                    left: &mut l,
                    right: Some(&mut r),
                };
                mixer.mix_input(&input, &settings, main, outs);
            }
            (l, aux)
        };
        let mut muted = MixerSettings::default();
        muted.mutes[1] = true;
        assert!(
            render(muted).0.iter().all(|&v| v == 3.0),
            "muted: the other three"
        );
        let mut zero_gain = MixerSettings::default();
        zero_gain.gains[1] = 0.0;
        assert!(render(zero_gain).0.iter().all(|&v| v == 3.0), "gain 0");
        let bypass = MixerSettings {
            bypass: true,
            ..Default::default()
        };
        let (main, aux) = render(bypass);
        assert!(main.iter().all(|&v| v == 0.5), "bypass: the dry input");
        assert!(
            aux.iter().flatten().all(|&v| v == 0.0),
            "bypass silences the aux outputs"
        );
        let (_, aux) = render(MixerSettings::default());
        assert_eq!(aux[0], one, "aux outputs carry the stems unscaled");
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
