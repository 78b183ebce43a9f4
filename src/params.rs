//! The plugin's parameters. Ids are short and stable: they are stored in projects and presets.

use std::sync::Arc;

use crossbeam_utils::atomic::AtomicCell;
use nice_plug::prelude::*;

use danna_sep_core::engine::LatencyTier;
use danna_sep_core::selection::{BackendSpec, ModelChoice, NullStems, Precision, RuntimeChoice};
use danna_sep_core::stems::STEM_COUNT;

use crate::editor::view_model::EditorSize;
use crate::mixer::{MixerSettings, OutputSelect};
use crate::state::StateRecord;

/// The `model` parameter: [`ModelChoice`] as a host parameter (ids are stored in projects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ModelParam {
    /// U-Net + Demucs + X-UMX, blended per stem.
    #[id = "full"]
    #[name = "Full ensemble"]
    Full,
    /// U-Net + Demucs.
    #[id = "fast"]
    #[name = "Fast"]
    Fast,
    /// X-UMX alone.
    #[id = "xumx"]
    #[name = "X-UMX only"]
    XUmx,
    /// U-Net alone.
    #[id = "unet"]
    #[name = "U-Net only"]
    UNet,
    /// Demucs alone.
    #[id = "demucs"]
    #[name = "Demucs only"]
    Demucs,
    /// Vocals from the Spleeter 2-stem model, the rest split by the full ensemble (appended
    /// last: the earlier values keep their ids; their normalised values shift, see README).
    #[id = "karaoke"]
    #[name = "Karaoke (Spleeter vocals)"]
    Karaoke,
    /// The full ensemble and the Karaoke path blended per stem with the set's tuned weights
    /// (appended after Karaoke).
    #[id = "full-spleeter"]
    #[name = "Full + Spleeter (tuned blend)"]
    FullSpleeter,
}

impl From<ModelParam> for ModelChoice {
    fn from(p: ModelParam) -> Self {
        match p {
            ModelParam::Full => ModelChoice::Full,
            ModelParam::Fast => ModelChoice::Fast,
            ModelParam::XUmx => ModelChoice::XUmx,
            ModelParam::UNet => ModelChoice::UNet,
            ModelParam::Demucs => ModelChoice::Demucs,
            ModelParam::Karaoke => ModelChoice::Karaoke,
            ModelParam::FullSpleeter => ModelChoice::FullSpleeter,
        }
    }
}

/// The `karvoc` parameter: where the Karaoke button's vocals come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum KaraokeVocalsParam {
    /// With the model set on Full ensemble or Full + Spleeter, the button runs the Karaoke
    /// choice: real pretrained vocals from the Spleeter model (the full ensemble, saying why,
    /// when none is provisioned). Other model sets keep their own vocals.
    #[id = "spleeter"]
    #[name = "Spleeter (real vocals)"]
    Spleeter,
    /// The vocals of the chosen model set, whatever it is.
    #[id = "model"]
    #[name = "Model set"]
    ModelSet,
}

/// The `null` parameter: [`NullStems`] as a host parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum NullParam {
    /// On for the Karaoke model choice only.
    #[id = "auto"]
    #[name = "Auto (on for Karaoke)"]
    Auto,
    /// The four stems always sum to the input.
    #[id = "on"]
    #[name = "On"]
    On,
    /// The models' estimates as they are.
    #[id = "off"]
    #[name = "Off"]
    Off,
}

impl From<NullParam> for NullStems {
    fn from(p: NullParam) -> Self {
        match p {
            NullParam::Auto => NullStems::Auto,
            NullParam::On => NullStems::On,
            NullParam::Off => NullStems::Off,
        }
    }
}

/// The `precision` parameter: [`Precision`] as a host parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum PrecisionParam {
    /// The float32 files: the exact result.
    #[id = "f32"]
    #[name = "Float32 (exact)"]
    Float32,
    /// The int8 variants of the models that have one: faster and smaller, lossy.
    #[id = "int8"]
    #[name = "Int8 LSTM/MatMul (faster, lossy)"]
    Int8,
    /// bfloat16 arithmetic for the spectrogram models (OpenVINO on CPUs with AVX512_BF16 or
    /// AMX; elsewhere float32 runs and the status says why). Appended: older ids keep theirs.
    #[id = "bf16"]
    #[name = "BF16 (OpenVINO, faster, lossy)"]
    Bf16,
}

impl From<PrecisionParam> for Precision {
    fn from(p: PrecisionParam) -> Self {
        match p {
            PrecisionParam::Float32 => Precision::Float32,
            PrecisionParam::Int8 => Precision::Int8,
            PrecisionParam::Bf16 => Precision::Bf16,
        }
    }
}

/// The `runtime` parameter: [`RuntimeChoice`] as a host parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum RuntimeParam {
    /// The faster runtime on this CPU: OpenVINO where the CPU has AVX-512 and it loads, else
    /// ONNX Runtime.
    #[id = "auto"]
    #[name = "Auto"]
    Auto,
    /// ONNX Runtime.
    #[id = "ort"]
    #[name = "ONNX Runtime"]
    OnnxRuntime,
    /// OpenVINO (ONNX Runtime runs, saying why, where it cannot be loaded).
    #[id = "openvino"]
    #[name = "OpenVINO"]
    OpenVino,
}

impl From<RuntimeParam> for RuntimeChoice {
    fn from(p: RuntimeParam) -> Self {
        match p {
            RuntimeParam::Auto => RuntimeChoice::Auto,
            RuntimeParam::OnnxRuntime => RuntimeChoice::OnnxRuntime,
            RuntimeParam::OpenVino => RuntimeChoice::OpenVino,
        }
    }
}

/// The `tier` parameter: [`LatencyTier`] as a host parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum TierParam {
    /// Shortest latency.
    #[id = "live"]
    #[name = "Live"]
    Live,
    /// The default.
    #[id = "balanced"]
    #[name = "Balanced"]
    Balanced,
    /// Longest context, best quality.
    #[id = "studio"]
    #[name = "Studio"]
    Studio,
}

impl From<TierParam> for LatencyTier {
    fn from(p: TierParam) -> Self {
        match p {
            TierParam::Live => LatencyTier::Live,
            TierParam::Balanced => LatencyTier::Balanced,
            TierParam::Studio => LatencyTier::Studio,
        }
    }
}

impl From<LatencyTier> for TierParam {
    fn from(t: LatencyTier) -> Self {
        match t {
            LatencyTier::Live => TierParam::Live,
            LatencyTier::Balanced => TierParam::Balanced,
            LatencyTier::Studio => TierParam::Studio,
        }
    }
}

/// Gain and switches of one stem.
#[derive(Params)]
pub struct StemParams {
    /// Linear gain, shown in dB, −inf … +12 dB.
    #[id = "gain"]
    pub gain: FloatParam,
    /// Silences the stem in the main output.
    #[id = "mute"]
    pub mute: BoolParam,
    /// When any stem is soloed, only soloed stems play.
    #[id = "solo"]
    pub solo: BoolParam,
}

impl StemParams {
    fn new(name: &str) -> Self {
        Self {
            gain: FloatParam::new(
                format!("{name} gain"),
                1.0,
                FloatRange::Skewed {
                    min: 0.0,
                    max: util::db_to_gain(12.0),
                    factor: FloatRange::gain_skew_factor(-60.0, 12.0),
                },
            )
            .with_unit(" dB")
            .with_value_to_string(formatters::v2s_f32_gain_to_db(1))
            .with_string_to_value(formatters::s2v_f32_gain_to_db()),
            mute: BoolParam::new(format!("{name} mute"), false),
            solo: BoolParam::new(format!("{name} solo"), false),
        }
    }
}

/// The model choice that runs for the `model` parameter's `chosen` with the Karaoke button
/// `on`: Karaoke when the button takes its vocals from Spleeter and `chosen` is one of the
/// full ensembles (a lighter choice was made for its cost, so it stays).
pub fn karaoke_model(chosen: ModelChoice, on: bool, vocals: KaraokeVocalsParam) -> ModelChoice {
    let full = matches!(chosen, ModelChoice::Full | ModelChoice::FullSpleeter);
    if on && full && vocals == KaraokeVocalsParam::Spleeter {
        ModelChoice::Karaoke
    } else {
        chosen
    }
}

/// All parameters of Danna-Sep RT.
#[derive(Params)]
pub struct DannaSepParams {
    /// What the main output plays.
    #[id = "out"]
    pub output: EnumParam<OutputSelect>,
    /// Drums stem.
    #[nested(id_prefix = "dr", group = "Drums")]
    pub drums: StemParams,
    /// Bass stem.
    #[nested(id_prefix = "ba", group = "Bass")]
    pub bass: StemParams,
    /// Other stem.
    #[nested(id_prefix = "ot", group = "Other")]
    pub other: StemParams,
    /// Vocals stem.
    #[nested(id_prefix = "vo", group = "Vocals")]
    pub vocals: StemParams,
    /// Karaoke shortcut: vocals go to `karaoke_level`.
    #[id = "kar"]
    pub karaoke: BoolParam,
    /// Vocal level while karaoke is on (−inf dB removes them).
    #[id = "karlvl"]
    pub karaoke_level: FloatParam,
    /// Which models run.
    #[id = "model"]
    pub model: EnumParam<ModelParam>,
    /// Float32, int8 weights or bf16 arithmetic. A change of `model`, `precision` or `runtime`
    /// is a staged swap: the new models load in the background while the old ones keep
    /// separating.
    #[id = "precision"]
    pub precision: EnumParam<PrecisionParam>,
    /// Latency tier; a change takes effect when the host re-activates the plugin (requested
    /// automatically), because the reported latency must stay constant while active.
    #[id = "tier"]
    pub tier: EnumParam<TierParam>,
    /// Plays the dry input, still delayed by the reported latency.
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// Stems that null: the residual `mixture − Σ stems` is added to the stems so they sum to
    /// the input exactly (appended after every older parameter).
    #[id = "null"]
    pub null_stems: EnumParam<NullParam>,
    /// Which inference runtime runs the models; a change is a staged swap, like `model`
    /// (appended after every older parameter).
    #[id = "runtime"]
    pub runtime: EnumParam<RuntimeParam>,
    /// Where the Karaoke button's vocals come from; a change while it is on is a staged swap
    /// (appended after every older parameter).
    #[id = "karvoc"]
    pub karaoke_vocals: EnumParam<KaraokeVocalsParam>,
    /// Editor window size in logical pixels; not a parameter, but saved with the plugin state
    /// so the window reopens at the size the user left it.
    #[persist = "editor-state"]
    pub editor_state: Arc<AtomicCell<EditorSize>>,
    /// The saved state's layout version; on load, what loading changed (see [`crate::state`]).
    #[persist = "state"]
    pub state: StateRecord,
}

impl Default for DannaSepParams {
    fn default() -> Self {
        Self {
            output: EnumParam::new("Output", OutputSelect::Mix),
            drums: StemParams::new("Drums"),
            bass: StemParams::new("Bass"),
            other: StemParams::new("Other"),
            vocals: StemParams::new("Vocals"),
            karaoke: BoolParam::new("Karaoke", false),
            karaoke_level: FloatParam::new(
                "Karaoke vocal level",
                0.0,
                FloatRange::Skewed {
                    min: 0.0,
                    max: 1.0,
                    factor: FloatRange::gain_skew_factor(-60.0, 0.0),
                },
            )
            .with_unit(" dB")
            .with_value_to_string(formatters::v2s_f32_gain_to_db(1))
            .with_string_to_value(formatters::s2v_f32_gain_to_db()),
            model: EnumParam::new("Model set", ModelParam::Full),
            precision: EnumParam::new("Precision", PrecisionParam::Float32),
            tier: EnumParam::new("Latency tier", TierParam::Balanced),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            null_stems: EnumParam::new("Stems that null", NullParam::Auto),
            runtime: EnumParam::new("Runtime", RuntimeParam::Auto),
            karaoke_vocals: EnumParam::new("Karaoke vocals", KaraokeVocalsParam::Spleeter),
            editor_state: Arc::new(AtomicCell::new(EditorSize::DEFAULT)),
            state: StateRecord::default(),
        }
    }
}

impl DannaSepParams {
    /// The stems' parameter groups in engine order.
    pub fn stems(&self) -> [&StemParams; STEM_COUNT] {
        [&self.drums, &self.bass, &self.other, &self.vocals]
    }

    /// The backend spec the parameters ask for (no allocation; called once per block). The
    /// Karaoke button turns the Full choices into Karaoke (see [`KaraokeVocalsParam`]).
    pub fn backend_spec(&self) -> BackendSpec {
        BackendSpec {
            model: karaoke_model(
                self.model.value().into(),
                self.karaoke.value(),
                self.karaoke_vocals.value(),
            ),
            precision: self.precision.value().into(),
            runtime: self.runtime.value().into(),
        }
    }

    /// The stems-that-null setting (no allocation; called once per block).
    pub fn null_stems(&self) -> NullStems {
        self.null_stems.value().into()
    }

    /// The latency tier the parameters ask for.
    pub fn latency_tier(&self) -> LatencyTier {
        self.tier.value().into()
    }

    /// The current values as mixer settings (no allocation; called once per block).
    pub fn mixer_settings(&self) -> MixerSettings {
        let stems = self.stems();
        MixerSettings {
            output: self.output.value(),
            gains: stems.map(|s| s.gain.value()),
            mutes: stems.map(|s| s.mute.value()),
            solos: stems.map(|s| s.solo.value()),
            karaoke: self.karaoke.value(),
            karaoke_level: self.karaoke_level.value(),
            bypass: self.bypass.value(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_karaoke_button_runs_spleeter_vocals_for_the_full_ensembles_only() {
        use KaraokeVocalsParam::{ModelSet, Spleeter};
        for chosen in ModelChoice::ALL {
            assert_eq!(karaoke_model(chosen, false, Spleeter), chosen, "button off");
            assert_eq!(karaoke_model(chosen, true, ModelSet), chosen, "own vocals");
            let full = matches!(chosen, ModelChoice::Full | ModelChoice::FullSpleeter);
            let want = if full { ModelChoice::Karaoke } else { chosen };
            assert_eq!(karaoke_model(chosen, true, Spleeter), want, "{chosen:?}");
        }
        // The default parameters: Full ensemble, button off, Spleeter vocals.
        let mut p = DannaSepParams::default();
        assert_eq!(p.backend_spec().model, ModelChoice::Full);
        p.karaoke = BoolParam::new("Karaoke", true);
        assert_eq!(p.backend_spec().model, ModelChoice::Karaoke);
    }
}
