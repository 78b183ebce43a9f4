//! What the user chooses to run: which models ([`ModelChoice`]) at which precision
//! ([`Precision`]); together a [`BackendSpec`]. The latency tier ([`crate::engine::LatencyTier`])
//! sits beside them. The plugin mirrors these as host parameters; the CLI as flags.

/// Which models the backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelChoice {
    /// U-Net + Demucs + X-UMX, blended per stem.
    Full,
    /// U-Net + Demucs.
    Fast,
    /// X-UMX alone.
    XUmx,
    /// U-Net alone.
    UNet,
    /// Demucs alone.
    Demucs,
    /// Vocals from the Spleeter 2-stem model (real pretrained weights, MIT), the accompaniment
    /// (`mixture − vocals`) split into drums, bass and other by the full ensemble and
    /// renormalised so the three sum to it. Without a Spleeter model: the full ensemble, and
    /// the status line says why. Appended last: the saved states and the host's normalised
    /// values of the earlier choices stay as they were.
    Karaoke,
}

impl ModelChoice {
    /// Every choice, in parameter order.
    pub const ALL: [ModelChoice; 6] = [
        ModelChoice::Full,
        ModelChoice::Fast,
        ModelChoice::XUmx,
        ModelChoice::UNet,
        ModelChoice::Demucs,
        ModelChoice::Karaoke,
    ];

    /// Short display name (`Full ensemble`, `X-UMX only`, ...).
    pub fn label(self) -> &'static str {
        match self {
            ModelChoice::Full => "Full ensemble",
            ModelChoice::Fast => "Fast",
            ModelChoice::XUmx => "X-UMX only",
            ModelChoice::UNet => "U-Net only",
            ModelChoice::Demucs => "Demucs only",
            ModelChoice::Karaoke => "Karaoke (Spleeter vocals)",
        }
    }
}

/// Whether the engine makes the four stems sum to the input exactly ("stems that null"): the
/// residual `mixture − Σ stems` of every window is added to the stems, each sample's share in
/// proportion to the stems' magnitudes there (equal shares where all four are silent), after
/// the window is back at the host rate. The residual's level before that is reported
/// ([`crate::engine::EngineStatus::residual_db`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NullStems {
    /// On for [`ModelChoice::Karaoke`], off otherwise.
    #[default]
    Auto,
    /// Always.
    On,
    /// Never: the stems are the models' estimates as they are.
    Off,
}

impl NullStems {
    /// Every value, in parameter order.
    pub const ALL: [NullStems; 3] = [NullStems::Auto, NullStems::On, NullStems::Off];

    /// `auto`, `on` or `off` (CLI values).
    pub fn id(self) -> &'static str {
        match self {
            NullStems::Auto => "auto",
            NullStems::On => "on",
            NullStems::Off => "off",
        }
    }

    /// Whether the residual is assigned when `model` runs.
    pub fn applies_to(self, model: ModelChoice) -> bool {
        match self {
            NullStems::Auto => model == ModelChoice::Karaoke,
            NullStems::On => true,
            NullStems::Off => false,
        }
    }

    /// A compact code for an atomic (see [`Self::from_code`]).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The value of a [`Self::code`]; [`NullStems::Auto`] for an unknown one.
    pub fn from_code(code: u8) -> Self {
        Self::ALL.get(code as usize).copied().unwrap_or_default()
    }
}

/// Numeric precision of the models' weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// The float32 files: the exact result.
    Float32,
    /// The int8 variants of the models that have one (`int8_file` in the manifest: dynamic
    /// int8 quantisation of the LSTM/MatMul weights): faster and smaller, slightly different.
    Int8,
}

impl Precision {
    /// Both precisions, in parameter order.
    pub const ALL: [Precision; 2] = [Precision::Float32, Precision::Int8];

    /// `float32` or `int8`.
    pub fn label(self) -> &'static str {
        match self {
            Precision::Float32 => "float32",
            Precision::Int8 => "int8",
        }
    }
}

/// The models and precision a backend is built for: everything a staged model swap changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackendSpec {
    /// Which models run.
    pub model: ModelChoice,
    /// At which precision.
    pub precision: Precision,
}

impl Default for BackendSpec {
    fn default() -> Self {
        Self {
            model: ModelChoice::Full,
            precision: Precision::Float32,
        }
    }
}

impl BackendSpec {
    /// A compact code for an atomic (the audio thread requests a spec without allocating).
    pub fn code(self) -> u32 {
        let m = ModelChoice::ALL.iter().position(|&c| c == self.model);
        let p = Precision::ALL.iter().position(|&c| c == self.precision);
        (m.unwrap_or(0) * Precision::ALL.len() + p.unwrap_or(0)) as u32
    }

    /// The spec of a [`Self::code`]; `None` for a code no spec has.
    pub fn from_code(code: u32) -> Option<Self> {
        let code = code as usize;
        let (m, p) = (code / Precision::ALL.len(), code % Precision::ALL.len());
        Some(Self {
            model: *ModelChoice::ALL.get(m)?,
            precision: Precision::ALL[p],
        })
    }
}

impl std::fmt::Display for BackendSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, {}", self.model.label(), self.precision.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_round_trips_through_its_code() {
        let mut codes = Vec::new();
        for model in ModelChoice::ALL {
            for precision in Precision::ALL {
                let spec = BackendSpec { model, precision };
                assert_eq!(BackendSpec::from_code(spec.code()), Some(spec));
                codes.push(spec.code());
            }
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ModelChoice::ALL.len() * Precision::ALL.len());
        assert_eq!(BackendSpec::from_code(u32::MAX), None);
    }

    #[test]
    fn null_stems_auto_is_on_for_karaoke_only_and_codes_round_trip() {
        for model in ModelChoice::ALL {
            assert_eq!(
                NullStems::Auto.applies_to(model),
                model == ModelChoice::Karaoke
            );
            assert!(NullStems::On.applies_to(model));
            assert!(!NullStems::Off.applies_to(model));
        }
        for n in NullStems::ALL {
            assert_eq!(NullStems::from_code(n.code()), n);
        }
        assert_eq!(ModelChoice::ALL.last(), Some(&ModelChoice::Karaoke));
    }
}
