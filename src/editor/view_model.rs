//! The editor's pure view model: every number the GUI shows and every mapping it uses, with no
//! GUI types, so it can be unit-tested without a window.
//!
//! - dB formatting (`"-inf dB"`, `"0.0 dB"`, `"+3.0 dB"`) and the fader law (position ↔ dB);
//! - meter scaling and ballistics (the audio thread only publishes raw block peaks);
//! - which stems reach the main output, derived from [`MixerSettings::effective_gains`] so the
//!   GUI can never disagree with the mixer;
//! - the status texts: latency, sample rate, load, missed hops, model set, the inference runtime.

use std::sync::Arc;

use danna_sep_core::engine::{
    BackendInfo, BackendState, LatencyBudget, LatencyTier, ModelSetSummary, RuntimeInfo,
};
use danna_sep_core::modelset::WeightsKind;
use danna_sep_core::selection::BackendSpec;
use danna_sep_core::stems::{STEM_COUNT, VOCALS};

use crate::mixer::{MixerSettings, OutputSelect};

/// Gains at or below this are shown as `-inf dB` (−100 dB, as nice-plug's formatters do).
pub const SILENCE_GAIN: f32 = 1e-5;

/// Linear gain to dB; `-inf` for silence.
pub fn gain_to_db(gain: f32) -> f32 {
    if gain > SILENCE_GAIN {
        20.0 * gain.log10()
    } else {
        f32::NEG_INFINITY
    }
}

/// dB to linear gain; `-inf` (or anything at or below −100 dB) is 0.
pub fn db_to_gain(db: f32) -> f32 {
    if db > -100.0 {
        10f32.powf(db / 20.0)
    } else {
        0.0
    }
}

/// A gain as the user reads it: `"-inf dB"`, `"0.0 dB"`, `"+3.0 dB"`, `"-12.5 dB"`.
pub fn format_db(gain: f32) -> String {
    format_db_value(gain_to_db(gain))
}

/// A dB value with one decimal and an explicit sign; `-inf dB` below −100 dB. Values that round
/// to zero print as `0.0 dB` (never `-0.0` or `+0.0`).
pub fn format_db_value(db: f32) -> String {
    if db.is_nan() || db <= -100.0 {
        return "-inf dB".into();
    }
    let rounded = (db * 10.0).round() / 10.0;
    if rounded == 0.0 {
        "0.0 dB".into()
    } else {
        format!("{rounded:+.1} dB")
    }
}

/// The fader law: breakpoints (position, dB), linear in dB between them. Unity gain sits at
/// three quarters of the travel, like on a console, so the useful range around 0 dB gets most
/// of the fader; the bottom [`FADER_OFF_BELOW`] of the travel is "off" (−inf).
const FADER_POINTS: [(f32, f32); 5] = [
    (0.05, -60.0),
    (0.25, -30.0),
    (0.5, -12.0),
    (0.75, 0.0),
    (1.0, 12.0),
];

/// Fader positions below this are −inf dB.
pub const FADER_OFF_BELOW: f32 = FADER_POINTS[0].0;
/// The quietest dB value the fader can show other than −inf.
pub const FADER_MIN_DB: f32 = FADER_POINTS[0].1;
/// The loudest dB value on the fader (the stem gain parameters' maximum).
pub const FADER_MAX_DB: f32 = FADER_POINTS[FADER_POINTS.len() - 1].1;

/// Fader position (0 = bottom, 1 = top) to dB; `-inf` in the off zone at the bottom.
pub fn fader_to_db(pos: f32) -> f32 {
    let pos = if pos.is_nan() {
        0.0
    } else {
        pos.clamp(0.0, 1.0)
    };
    if pos < FADER_OFF_BELOW {
        return f32::NEG_INFINITY;
    }
    for w in FADER_POINTS.windows(2) {
        let ((p0, d0), (p1, d1)) = (w[0], w[1]);
        if pos <= p1 {
            return d0 + (pos - p0) / (p1 - p0) * (d1 - d0);
        }
    }
    FADER_MAX_DB
}

/// dB to fader position, the inverse of [`fader_to_db`]; below [`FADER_MIN_DB`] (including
/// `-inf`) the fader sits at the bottom, above [`FADER_MAX_DB`] at the top.
pub fn db_to_fader(db: f32) -> f32 {
    if db.is_nan() || db < FADER_MIN_DB {
        return 0.0;
    }
    for w in FADER_POINTS.windows(2) {
        let ((p0, d0), (p1, d1)) = (w[0], w[1]);
        if db <= d1 {
            return p0 + (db - d0) / (d1 - d0) * (p1 - p0);
        }
    }
    1.0
}

/// Fader position to linear gain (0 in the off zone).
pub fn fader_to_gain(pos: f32) -> f32 {
    db_to_gain(fader_to_db(pos))
}

/// Linear gain to fader position.
pub fn gain_to_fader(gain: f32) -> f32 {
    db_to_fader(gain_to_db(gain))
}

/// Lowest level a meter shows; the bar is empty below it.
pub const METER_FLOOR_DB: f32 = -60.0;
/// Highest level a meter shows (above full scale, so overs are visible).
pub const METER_CEIL_DB: f32 = 6.0;

/// Fraction of a meter's length lit for `db` (linear in dB between floor and ceiling).
pub fn meter_fraction(db: f32) -> f32 {
    if db.is_nan() || db <= METER_FLOOR_DB {
        return 0.0;
    }
    ((db - METER_FLOOR_DB) / (METER_CEIL_DB - METER_FLOOR_DB)).min(1.0)
}

/// Peak meter ballistics, run by the GUI on the raw block peaks the audio thread publishes:
/// instant attack, a steady fall, and a peak-hold marker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeterBallistics {
    /// The bar's level in dB.
    pub level_db: f32,
    /// The held peak in dB.
    pub hold_db: f32,
    hold_age: f32,
}

impl Default for MeterBallistics {
    fn default() -> Self {
        Self {
            level_db: f32::NEG_INFINITY,
            hold_db: f32::NEG_INFINITY,
            hold_age: 0.0,
        }
    }
}

impl MeterBallistics {
    /// How fast the bar falls, in dB per second (a PPM-like 20 dB in 1.7 s would feel sluggish
    /// next to a DAW's meters; 24 dB/s matches common DAW peak meters).
    pub const FALL_DB_PER_S: f32 = 24.0;
    /// How long the peak marker stays before it falls.
    pub const HOLD_S: f32 = 1.5;

    /// Advances by `dt` seconds with the highest linear peak seen since the last call.
    pub fn update(&mut self, peak: f32, dt: f32) {
        let dt = dt.clamp(0.0, 1.0);
        let new = gain_to_db(peak.abs());
        let fallen = self.level_db - Self::FALL_DB_PER_S * dt;
        self.level_db = if new >= fallen { new } else { fallen };
        if self.level_db < METER_FLOOR_DB - 1.0 {
            self.level_db = f32::NEG_INFINITY;
        }
        self.hold_age += dt;
        if new >= self.hold_db || self.hold_age > Self::HOLD_S {
            self.hold_db = new.max(self.level_db);
            self.hold_age = 0.0;
        }
    }

    /// True when the held peak is above full scale.
    pub fn clipped(&self) -> bool {
        self.hold_db > 0.0
    }
}

/// Whether a stem reaches the main output, and if not, why (shown under the stem's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StemAudibility {
    /// The stem is in the main output.
    Audible,
    /// Its mute switch is on.
    Muted,
    /// Another stem is soloed and this one is not.
    NotSoloed,
    /// The output selector plays a different single stem.
    NotSelected,
    /// Karaoke is on with the vocal level at −inf.
    Karaoke,
    /// Its fader is at −inf.
    FaderOff,
}

impl StemAudibility {
    /// The short label under the stem's name.
    pub fn label(self) -> &'static str {
        match self {
            StemAudibility::Audible => "in mix",
            StemAudibility::Muted => "muted",
            StemAudibility::NotSoloed => "not soloed",
            StemAudibility::NotSelected => "not selected",
            StemAudibility::Karaoke => "karaoke",
            StemAudibility::FaderOff => "fader off",
        }
    }

    /// True for [`StemAudibility::Audible`].
    pub fn is_audible(self) -> bool {
        self == StemAudibility::Audible
    }
}

/// Which stems reach the main output. Audible means a non-zero gain in
/// [`MixerSettings::effective_gains`], the mixer's own rule; the reason for a silent stem is
/// only a label, checked in the mixer's order of precedence.
pub fn stem_audibility(settings: &MixerSettings) -> [StemAudibility; STEM_COUNT] {
    let gains = settings.effective_gains();
    let any_solo = settings.solos.iter().any(|&s| s);
    std::array::from_fn(|s| {
        if gains[s] > 0.0 {
            StemAudibility::Audible
        } else if settings.mutes[s] {
            StemAudibility::Muted
        } else if settings.output != OutputSelect::Mix && settings.output as usize != s + 1 {
            StemAudibility::NotSelected
        } else if settings.output == OutputSelect::Mix && any_solo && !settings.solos[s] {
            StemAudibility::NotSoloed
        } else if s == VOCALS && settings.karaoke && settings.karaoke_level <= 0.0 {
            StemAudibility::Karaoke
        } else {
            StemAudibility::FaderOff
        }
    })
}

/// The level a stem contributes to the main output: its separated peak times its effective
/// gain (what the mixer applies once its 20 ms ramp has settled).
pub fn post_fader_peaks(
    settings: &MixerSettings,
    stem_peaks: [f32; STEM_COUNT],
) -> [f32; STEM_COUNT] {
    let g = settings.effective_gains();
    std::array::from_fn(|s| stem_peaks[s] * g[s])
}

/// `n` with a space every three digits: `125 823`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A sample rate in kHz without trailing zeros: `48 kHz`, `44.1 kHz`, `88.2 kHz`.
pub fn format_sample_rate(rate: f32) -> String {
    let khz = (rate as f64 / 100.0).round() / 10.0;
    if khz.fract() == 0.0 {
        format!("{khz:.0} kHz")
    } else {
        format!("{khz:.1} kHz")
    }
}

/// Seconds with two decimals: `2.62 s`.
pub fn format_seconds(seconds: f64) -> String {
    format!("{seconds:.2} s")
}

/// The reported latency: `2.62 s latency (125 823 samples @ 48 kHz)`.
pub fn format_latency(samples: u32, sample_rate: f32) -> String {
    let seconds = if sample_rate > 0.0 {
        samples as f64 / sample_rate as f64
    } else {
        0.0
    };
    format!(
        "{} latency ({} samples @ {})",
        format_seconds(seconds),
        group_thousands(samples as u64),
        format_sample_rate(sample_rate)
    )
}

/// The latency `tier` would report at `sample_rate` with blocks of `max_block`, in seconds.
pub fn tier_latency_seconds(tier: LatencyTier, sample_rate: f32, max_block: u32) -> f64 {
    let rate = (sample_rate.round() as u32).max(1);
    LatencyBudget::new(tier, rate, max_block.max(1) as usize).seconds()
}

/// A latency-tier choice as the selector shows it: `Balanced · 2.62 s`.
pub fn tier_label(name: &str, tier: LatencyTier, sample_rate: f32, max_block: u32) -> String {
    format!(
        "{name} · {}",
        format_seconds(tier_latency_seconds(tier, sample_rate, max_block))
    )
}

/// How worried to be about a value shown in the status bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Nothing to report (or nothing running).
    Neutral,
    /// Working as intended.
    Good,
    /// Close to a limit.
    Warning,
    /// Audio quality is affected (dry fallback, missed hops, over budget).
    Bad,
}

/// Inference load (compute time per hop over the hop's duration) as a percentage: `34 %`.
pub fn format_load(load: f32) -> String {
    format!("{:.0} %", (load.max(0.0) * 100.0).round())
}

/// Load above 100 % cannot keep up; above 70 % leaves little headroom.
pub fn load_severity(load: f32) -> Severity {
    if load >= 1.0 {
        Severity::Bad
    } else if load >= 0.7 {
        Severity::Warning
    } else {
        Severity::Good
    }
}

/// `0 missed hops`, `1 missed hop`, `12 missed hops`.
pub fn format_missed_hops(n: u64) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} missed hop{s}", group_thousands(n))
}

/// `danna-sep (official)`, or `none` when no model set is loaded.
pub fn format_model_set(set: Option<&ModelSetSummary>) -> String {
    match set {
        Some(s) => format!("{} ({})", s.name, s.weights.label()),
        None => "none".into(),
    }
}

/// The inference runtime that runs the models (or whether ONNX Runtime could be loaded), as far
/// as the editor knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeStatus {
    /// Not known yet: the engine has not tried to load it (plugin inactive or still starting).
    Unknown,
    /// Loaded: its name, version and file.
    Found {
        /// `ONNX Runtime` or `OpenVINO`.
        name: String,
        /// Version the library reports.
        version: String,
        /// The file that was loaded.
        path: String,
    },
    /// Not loaded; the loader's one-line explanation.
    Missing {
        /// Every path tried and why it failed.
        reason: String,
    },
}

impl RuntimeStatus {
    /// What the editor says about the runtime the worker loaded (or did not).
    pub fn of(runtime: &RuntimeInfo) -> Self {
        match runtime {
            RuntimeInfo::NotLoaded => RuntimeStatus::Unknown,
            RuntimeInfo::Loaded {
                name,
                version,
                path,
            } => RuntimeStatus::Found {
                name: name.clone(),
                version: version.clone(),
                path: path.display().to_string(),
            },
            RuntimeInfo::Failed(reason) => RuntimeStatus::Missing {
                reason: reason.clone(),
            },
        }
    }

    /// Short text for the status bar: `OpenVINO 2026.4.1`, `not found`, `not checked yet`.
    pub fn short(&self) -> String {
        match self {
            RuntimeStatus::Unknown => "not checked yet".into(),
            RuntimeStatus::Found { name, version, .. } => format!("{name} {version}"),
            RuntimeStatus::Missing { .. } => "not found".into(),
        }
    }

    /// Full text for a tooltip.
    pub fn detail(&self) -> String {
        match self {
            RuntimeStatus::Unknown => {
                "The runtime is loaded by the engine when the plugin is activated".into()
            }
            RuntimeStatus::Found {
                name,
                version,
                path,
            } => format!("{name} {version} from {path}"),
            RuntimeStatus::Missing { reason } => reason.clone(),
        }
    }

    /// Found is good, missing is bad.
    pub fn severity(&self) -> Severity {
        match self {
            RuntimeStatus::Unknown => Severity::Neutral,
            RuntimeStatus::Found { .. } => Severity::Good,
            RuntimeStatus::Missing { .. } => Severity::Bad,
        }
    }
}

/// What the engine reports, copied out of its atomics once per frame.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSnapshot {
    /// Backend lifecycle.
    pub state: BackendState,
    /// The backend's status line.
    pub message: String,
    /// The latency reported to the host, in samples.
    pub latency_samples: u32,
    /// Host sample rate.
    pub sample_rate: f32,
    /// Load of the last hop (1.0 = exactly real time).
    pub load: f32,
    /// Highest load since activation.
    pub peak_load: f32,
    /// Hops replaced by dry audio since activation.
    pub missed_hops: u64,
    /// The models and precision the parameters ask for.
    pub requested: BackendSpec,
    /// What the backend is (`None` while loading).
    pub info: Option<Arc<BackendInfo>>,
}

impl EngineSnapshot {
    /// True while the requested models differ from those running (a staged swap is loading).
    pub fn swap_pending(&self) -> bool {
        self.state == BackendState::Ready
            && self.info.as_ref().is_some_and(|i| {
                i.error.is_none() && i.spec.is_some_and(|running| running != self.requested)
            })
    }
}

/// Every text of the status bar, with how worried to be about it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusView {
    /// `Ready`, `Loading models`, `Dry fallback`, `Stopped`, or `inactive`.
    pub state: String,
    /// Severity of `state`.
    pub state_severity: Severity,
    /// The backend's own explanation (empty when inactive).
    pub message: String,
    /// Model set name and provenance.
    pub model_set: String,
    /// Severity of `model_set`.
    pub model_set_severity: Severity,
    /// The runtime, short (`OpenVINO 2026.4.1`).
    pub runtime: String,
    /// The runtime, long (tooltip).
    pub runtime_detail: String,
    /// Severity of `runtime`.
    pub runtime_severity: Severity,
    /// Reported latency.
    pub latency: String,
    /// Inference load now and peak.
    pub load: String,
    /// Severity of `load` (by the peak).
    pub load_severity: Severity,
    /// Missed-hop counter.
    pub missed: String,
    /// Severity of `missed`.
    pub missed_severity: Severity,
    /// Host sample rate.
    pub sample_rate: String,
    /// Latency and rate at a glance for the header (`2.62 s · 48 kHz`); `None` while inactive.
    pub summary: Option<String>,
}

/// Placeholder for values that do not exist while the plugin is inactive.
pub const NOT_AVAILABLE: &str = "—";

/// The status bar for `engine` (`None` while the plugin is inactive).
pub fn status_view(
    engine: Option<&EngineSnapshot>,
    runtime: &RuntimeStatus,
    model_set: Option<&ModelSetSummary>,
) -> StatusView {
    let model_set_text = format_model_set(model_set);
    let model_set_severity = match model_set.map(|m| m.weights) {
        Some(WeightsKind::Official) => Severity::Good,
        Some(WeightsKind::Demo) => Severity::Warning,
        None => Severity::Neutral,
    };
    let Some(e) = engine else {
        return StatusView {
            state: "inactive".into(),
            state_severity: Severity::Neutral,
            message: "The host has not activated the plugin yet.".into(),
            model_set: model_set_text,
            model_set_severity,
            runtime: runtime.short(),
            runtime_detail: runtime.detail(),
            runtime_severity: runtime.severity(),
            latency: NOT_AVAILABLE.into(),
            load: NOT_AVAILABLE.into(),
            load_severity: Severity::Neutral,
            missed: NOT_AVAILABLE.into(),
            missed_severity: Severity::Neutral,
            sample_rate: NOT_AVAILABLE.into(),
            summary: None,
        };
    };
    let (state, state_severity) = match e.state {
        BackendState::Loading => ("Loading models", Severity::Warning),
        BackendState::Ready => ("Ready", Severity::Good),
        BackendState::Failed => ("Dry fallback", Severity::Bad),
        BackendState::Stopped => ("Stopped", Severity::Bad),
    };
    let running = e.state == BackendState::Ready;
    StatusView {
        state: state.into(),
        state_severity,
        message: e.message.clone(),
        model_set: model_set_text,
        model_set_severity,
        runtime: runtime.short(),
        runtime_detail: runtime.detail(),
        runtime_severity: runtime.severity(),
        latency: format_latency(e.latency_samples, e.sample_rate),
        load: if running {
            format!(
                "{} (peak {})",
                format_load(e.load),
                format_load(e.peak_load)
            )
        } else {
            NOT_AVAILABLE.into()
        },
        load_severity: if running {
            load_severity(e.peak_load)
        } else {
            Severity::Neutral
        },
        missed: format_missed_hops(e.missed_hops),
        missed_severity: if e.missed_hops > 0 {
            Severity::Bad
        } else {
            Severity::Good
        },
        sample_rate: format_sample_rate(e.sample_rate),
        summary: Some(format!(
            "{} · {}",
            format_seconds(e.latency_samples as f64 / e.sample_rate.max(1.0) as f64),
            format_sample_rate(e.sample_rate)
        )),
    }
}

impl StatusView {
    /// Puts `note` (a refused activation, a state that loaded with changes) in front of the
    /// status message, where the user reads it first.
    pub fn noted(mut self, note: Option<String>) -> Self {
        if let Some(note) = note {
            self.message = if self.message.is_empty() {
                note
            } else {
                format!("{note} · {}", self.message)
            };
        }
        self
    }
}

/// Size of the editor window in logical pixels, persisted with the plugin state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EditorSize {
    /// Width in logical pixels.
    pub width: u32,
    /// Height in logical pixels.
    pub height: u32,
}

impl EditorSize {
    /// The size a new instance opens with.
    pub const DEFAULT: EditorSize = EditorSize {
        width: 720,
        height: 460,
    };
    /// The smallest size at which every control still fits.
    pub const MIN: EditorSize = EditorSize {
        width: 600,
        height: 440,
    };
    /// The largest size (guards against a corrupt state opening a giant window).
    pub const MAX: EditorSize = EditorSize {
        width: 2400,
        height: 1600,
    };

    /// This size clamped to [`Self::MIN`]..=[`Self::MAX`].
    pub fn clamped(self) -> Self {
        Self {
            width: self.width.clamp(Self::MIN.width, Self::MAX.width),
            height: self.height.clamp(Self::MIN.height, Self::MAX.height),
        }
    }
}

impl Default for EditorSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_formatting_has_a_sign_one_decimal_and_minus_infinity() {
        assert_eq!(format_db(0.0), "-inf dB");
        assert_eq!(format_db(1e-6), "-inf dB");
        assert_eq!(format_db(1.0), "0.0 dB");
        assert_eq!(format_db(0.99999), "0.0 dB", "no -0.0");
        assert_eq!(format_db(db_to_gain(3.0)), "+3.0 dB");
        assert_eq!(format_db(db_to_gain(-12.5)), "-12.5 dB");
        assert_eq!(format_db(db_to_gain(12.0)), "+12.0 dB");
        assert_eq!(format_db_value(f32::NEG_INFINITY), "-inf dB");
        assert_eq!(format_db_value(f32::NAN), "-inf dB");
        assert_eq!(format_db_value(-0.04), "0.0 dB");
        assert_eq!(format_db_value(-0.06), "-0.1 dB");
    }

    #[test]
    fn fader_law_hits_its_landmarks() {
        assert_eq!(fader_to_db(0.0), f32::NEG_INFINITY);
        assert_eq!(fader_to_db(0.049), f32::NEG_INFINITY);
        assert_eq!(fader_to_db(0.05), -60.0);
        assert_eq!(fader_to_db(0.75), 0.0, "unity at three quarters");
        assert_eq!(fader_to_db(1.0), 12.0);
        assert_eq!(fader_to_db(2.0), 12.0);
        assert_eq!(fader_to_db(f32::NAN), f32::NEG_INFINITY);
        assert_eq!(db_to_fader(f32::NEG_INFINITY), 0.0);
        assert_eq!(db_to_fader(-80.0), 0.0);
        assert_eq!(db_to_fader(0.0), 0.75);
        assert_eq!(db_to_fader(24.0), 1.0);
        assert_eq!(fader_to_gain(0.0), 0.0);
        assert!((fader_to_gain(0.75) - 1.0).abs() < 1e-6);
        assert!((gain_to_fader(1.0) - 0.75).abs() < 1e-6);
    }

    #[test]
    fn fader_round_trips_and_is_monotonic() {
        let mut db = FADER_MIN_DB;
        while db <= FADER_MAX_DB {
            let back = fader_to_db(db_to_fader(db));
            assert!((back - db).abs() < 1e-3, "{db} dB -> {back} dB");
            db += 0.25;
        }
        let mut last = f32::NEG_INFINITY;
        for i in 0..=1000 {
            let pos = i as f32 / 1000.0;
            let d = fader_to_db(pos);
            assert!(d >= last, "not monotonic at {pos}");
            last = d;
            if pos >= FADER_OFF_BELOW {
                assert!((db_to_fader(d) - pos).abs() < 1e-4, "{pos}");
            }
        }
        // Through the linear gain the parameter stores.
        for g in [0.001f32, 0.1, 0.5, 1.0, 2.0, 3.98] {
            let back = fader_to_gain(gain_to_fader(g));
            assert!((back / g - 1.0).abs() < 1e-3, "{g} -> {back}");
        }
    }

    #[test]
    fn meter_scale_and_ballistics() {
        assert_eq!(meter_fraction(f32::NEG_INFINITY), 0.0);
        assert_eq!(meter_fraction(METER_FLOOR_DB), 0.0);
        assert_eq!(meter_fraction(METER_CEIL_DB), 1.0);
        assert!((meter_fraction(-27.0) - 0.5).abs() < 1e-6);
        let mut m = MeterBallistics::default();
        m.update(1.0, 0.03);
        assert_eq!(m.level_db, 0.0, "instant attack");
        m.update(0.0, 0.5);
        assert!(
            (m.level_db + 12.0).abs() < 1e-4,
            "falls 24 dB/s: {}",
            m.level_db
        );
        assert_eq!(m.hold_db, 0.0, "the peak is held");
        m.update(0.0, 0.6);
        assert_eq!(m.hold_db, 0.0, "still held after 1.1 s");
        m.update(0.0, 0.6);
        assert!(m.hold_db < 0.0, "the hold expires after 1.5 s");
        for _ in 0..10 {
            m.update(0.0, 0.5);
        }
        assert_eq!(m.level_db, f32::NEG_INFINITY, "silence empties the meter");
        m.update(2.0, 0.01);
        assert!(m.clipped());
    }

    fn settings() -> MixerSettings {
        MixerSettings::default()
    }

    #[test]
    fn audibility_follows_mute_solo_output_and_karaoke() {
        use StemAudibility::*;
        let mut s = settings();
        assert_eq!(stem_audibility(&s), [Audible; 4]);
        s.mutes[0] = true;
        assert_eq!(stem_audibility(&s), [Muted, Audible, Audible, Audible]);
        s.solos[2] = true;
        assert_eq!(stem_audibility(&s), [Muted, NotSoloed, Audible, NotSoloed]);
        s.solos[0] = true; // soloing a muted stem does not unmute it
        assert_eq!(stem_audibility(&s), [Muted, NotSoloed, Audible, NotSoloed]);
        s.solos = [false; 4];
        s.mutes = [false; 4];
        s.karaoke = true;
        assert_eq!(stem_audibility(&s), [Audible, Audible, Audible, Karaoke]);
        s.karaoke_level = 0.1;
        assert_eq!(
            stem_audibility(&s),
            [Audible; 4],
            "karaoke with some vocals left"
        );
        s.output = OutputSelect::Bass;
        assert_eq!(
            stem_audibility(&s),
            [NotSelected, Audible, NotSelected, NotSelected]
        );
        s.mutes[1] = true;
        assert_eq!(
            stem_audibility(&s),
            [NotSelected, Muted, NotSelected, NotSelected]
        );
        s = settings();
        s.gains[3] = 0.0;
        assert_eq!(stem_audibility(&s), [Audible, Audible, Audible, FaderOff]);
        // Single-stem output ignores solos, as the mixer does.
        s = settings();
        s.solos[0] = true;
        s.output = OutputSelect::Other;
        assert_eq!(
            stem_audibility(&s),
            [NotSelected, NotSelected, Audible, NotSelected]
        );
    }

    #[test]
    fn audibility_agrees_with_the_mixer_for_every_switch_combination() {
        for bits in 0u32..(1 << 10) {
            for output in [OutputSelect::Mix, OutputSelect::Drums, OutputSelect::Vocals] {
                let s = MixerSettings {
                    output,
                    mutes: std::array::from_fn(|i| bits & (1 << i) != 0),
                    solos: std::array::from_fn(|i| bits & (1 << (i + 4)) != 0),
                    karaoke: bits & (1 << 8) != 0,
                    karaoke_level: if bits & (1 << 9) != 0 { 0.5 } else { 0.0 },
                    ..settings()
                };
                let g = s.effective_gains();
                let a = stem_audibility(&s);
                for (i, (a, g)) in a.iter().zip(g).enumerate() {
                    assert_eq!(a.is_audible(), g > 0.0, "{s:?} stem {i}");
                }
            }
        }
    }

    #[test]
    fn post_fader_peaks_use_the_effective_gains() {
        let mut s = settings();
        s.gains = [0.5, 1.0, 2.0, 1.0];
        s.mutes[1] = true;
        assert_eq!(
            post_fader_peaks(&s, [1.0, 1.0, 0.25, 0.5]),
            [0.5, 0.0, 0.5, 0.5]
        );
    }

    #[test]
    fn status_texts() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1 000");
        assert_eq!(group_thousands(125_823), "125 823");
        assert_eq!(group_thousands(1_234_567), "1 234 567");
        assert_eq!(format_sample_rate(48_000.0), "48 kHz");
        assert_eq!(format_sample_rate(44_100.0), "44.1 kHz");
        assert_eq!(format_sample_rate(88_200.0), "88.2 kHz");
        assert_eq!(format_sample_rate(96_000.0), "96 kHz");
        assert_eq!(
            format_latency(125_823, 48_000.0),
            "2.62 s latency (125 823 samples @ 48 kHz)"
        );
        assert_eq!(format_load(0.3449), "34 %");
        assert_eq!(format_load(1.25), "125 %");
        assert_eq!(load_severity(0.5), Severity::Good);
        assert_eq!(load_severity(0.8), Severity::Warning);
        assert_eq!(load_severity(1.2), Severity::Bad);
        assert_eq!(format_missed_hops(0), "0 missed hops");
        assert_eq!(format_missed_hops(1), "1 missed hop");
        assert_eq!(format_missed_hops(1500), "1 500 missed hops");
    }

    #[test]
    fn tier_labels_show_the_latency_the_engine_would_report() {
        let b = LatencyBudget::new(LatencyTier::Balanced, 48_000, 512);
        let label = tier_label("Balanced", LatencyTier::Balanced, 48_000.0, 512);
        assert_eq!(label, format!("Balanced · {:.2} s", b.seconds()));
        let live = tier_latency_seconds(LatencyTier::Live, 48_000.0, 512);
        let studio = tier_latency_seconds(LatencyTier::Studio, 48_000.0, 512);
        assert!(live < b.seconds() && b.seconds() < studio);
    }

    #[test]
    fn model_set_names_its_weights() {
        let set = ModelSetSummary {
            name: "danna-sep".into(),
            dir: "/m".into(),
            weights: WeightsKind::Official,
        };
        assert_eq!(format_model_set(Some(&set)), "danna-sep (official)");
        assert_eq!(format_model_set(None), "none");
    }

    #[test]
    fn a_swap_is_pending_while_other_models_run_and_none_failed() {
        let running = BackendSpec::default();
        let mut info = BackendInfo::described("x");
        info.spec = Some(running);
        let fast = BackendSpec {
            model: danna_sep_core::ModelChoice::Fast,
            ..running
        };
        let mut snap = EngineSnapshot {
            state: BackendState::Ready,
            message: String::new(),
            latency_samples: 0,
            sample_rate: 48_000.0,
            load: 0.0,
            peak_load: 0.0,
            missed_hops: 0,
            requested: running,
            info: Some(Arc::new(info.clone())),
        };
        assert!(!snap.swap_pending());
        snap.requested = fast;
        assert!(snap.swap_pending());
        info.error = Some("switching failed".into());
        snap.info = Some(Arc::new(info));
        assert!(!snap.swap_pending(), "a failed swap is not pending");
    }

    #[test]
    fn status_view_inactive_and_running() {
        let runtime = RuntimeStatus::Missing {
            reason: "could not load ONNX Runtime".into(),
        };
        let v = status_view(None, &runtime, None);
        assert_eq!(
            v.clone().noted(Some("refused".into())).message,
            format!("refused · {}", v.message)
        );
        assert_eq!(v.clone().noted(None), v);
        assert_eq!(v.state, "inactive");
        assert_eq!(v.latency, NOT_AVAILABLE);
        assert_eq!(v.sample_rate, NOT_AVAILABLE);
        assert_eq!(v.runtime, "not found");
        assert_eq!(v.runtime_severity, Severity::Bad);
        assert_eq!(v.model_set, "none");
        assert_eq!(v.summary, None);

        let snap = EngineSnapshot {
            state: BackendState::Ready,
            message: "running".into(),
            latency_samples: 125_823,
            sample_rate: 48_000.0,
            load: 0.25,
            peak_load: 0.75,
            missed_hops: 0,
            requested: BackendSpec::default(),
            info: None,
        };
        let runtime = RuntimeStatus::Found {
            name: "OpenVINO".into(),
            version: "2026.4.1".into(),
            path: "/x/libonnxruntime.so".into(),
        };
        let v = status_view(Some(&snap), &runtime, None);
        assert_eq!(v.state, "Ready");
        assert_eq!(v.latency, "2.62 s latency (125 823 samples @ 48 kHz)");
        assert_eq!(v.load, "25 % (peak 75 %)");
        assert_eq!(v.load_severity, Severity::Warning);
        assert_eq!(v.missed, "0 missed hops");
        assert_eq!(v.missed_severity, Severity::Good);
        assert_eq!(v.sample_rate, "48 kHz");
        assert_eq!(v.runtime, "OpenVINO 2026.4.1");
        assert_eq!(v.summary.as_deref(), Some("2.62 s · 48 kHz"));

        let failed = EngineSnapshot {
            state: BackendState::Failed,
            missed_hops: 3,
            ..snap.clone()
        };
        let v = status_view(Some(&failed), &RuntimeStatus::Unknown, None);
        assert_eq!(v.state, "Dry fallback");
        assert_eq!(v.state_severity, Severity::Bad);
        assert_eq!(v.load, NOT_AVAILABLE, "no inference, no load");
        assert_eq!(v.missed_severity, Severity::Bad);
    }

    #[test]
    fn editor_size_is_clamped() {
        let tiny = EditorSize {
            width: 10,
            height: 10,
        };
        assert_eq!(tiny.clamped(), EditorSize::MIN);
        assert_eq!(EditorSize::DEFAULT.clamped(), EditorSize::DEFAULT);
        let huge = EditorSize {
            width: 99_999,
            height: 99_999,
        };
        assert_eq!(huge.clamped(), EditorSize::MAX);
    }
}
