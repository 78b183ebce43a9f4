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
    /// The full ensemble and the Karaoke path blended per stem with the weights the model set's
    /// `[blend.vocal]` gives (tuned on the synthetic `valid` split by
    /// `cargo xtask models eval --tune-blend`): `(1 − w)·full + w·karaoke`. Without a Spleeter
    /// model: the full ensemble, saying why. Appended after [`ModelChoice::Karaoke`].
    FullSpleeter,
}

impl ModelChoice {
    /// Every choice, in parameter order.
    pub const ALL: [ModelChoice; 7] = [
        ModelChoice::Full,
        ModelChoice::Fast,
        ModelChoice::XUmx,
        ModelChoice::UNet,
        ModelChoice::Demucs,
        ModelChoice::Karaoke,
        ModelChoice::FullSpleeter,
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
            ModelChoice::FullSpleeter => "Full + Spleeter (tuned blend)",
        }
    }

    /// Whether the choice runs a two-stem vocal model beside the ensemble (when one is found).
    pub fn uses_vocal_model(self) -> bool {
        matches!(self, ModelChoice::Karaoke | ModelChoice::FullSpleeter)
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

/// Numeric precision of the models' arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// The float32 files: the exact result.
    Float32,
    /// The int8 variants of the models that have one (`int8_file` in the manifest: dynamic
    /// int8 quantisation of the LSTM/MatMul weights): faster and smaller, slightly different.
    Int8,
    /// bfloat16 arithmetic on CPUs that have it (AVX512_BF16 or AMX), through OpenVINO's
    /// inference-precision hint, for the spectrogram models (the waveform model stays float32,
    /// see `docs/runtimes.md`): lossy, measured in the README.
    Bf16,
}

impl Precision {
    /// Every precision, in code order (appended values keep older codes valid).
    pub const ALL: [Precision; 3] = [Precision::Float32, Precision::Int8, Precision::Bf16];

    /// `float32`, `int8` or `bf16`.
    pub fn label(self) -> &'static str {
        match self {
            Precision::Float32 => "float32",
            Precision::Int8 => "int8",
            Precision::Bf16 => "bf16",
        }
    }
}

/// Which inference runtime runs the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RuntimeChoice {
    /// OpenVINO where it loads (as fast or faster on every model measured, float32 results
    /// identical to 140 dB; see the README's Performance section), else ONNX Runtime; the
    /// status says which ran and why.
    #[default]
    Auto,
    /// ONNX Runtime.
    OnnxRuntime,
    /// OpenVINO; when it cannot be loaded ONNX Runtime runs and the status says why.
    OpenVino,
}

impl RuntimeChoice {
    /// Every choice, in code order.
    pub const ALL: [RuntimeChoice; 3] = [
        RuntimeChoice::Auto,
        RuntimeChoice::OnnxRuntime,
        RuntimeChoice::OpenVino,
    ];

    /// `auto`, `onnxruntime` or `openvino` (the CLI's spelling).
    pub fn label(self) -> &'static str {
        match self {
            RuntimeChoice::Auto => "auto",
            RuntimeChoice::OnnxRuntime => "onnxruntime",
            RuntimeChoice::OpenVino => "openvino",
        }
    }
}

/// The runtime that actually runs the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeKind {
    /// ONNX Runtime.
    OnnxRuntime,
    /// OpenVINO.
    OpenVino,
}

impl RuntimeKind {
    /// `ONNX Runtime` or `OpenVINO`, as the status line names it.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::OnnxRuntime => "ONNX Runtime",
            RuntimeKind::OpenVino => "OpenVINO",
        }
    }
}

/// Why Auto runs ONNX Runtime on a CPU without AVX-512, as the status line says it.
pub const AUTO_ORT_NOTE: &str = "Auto: ONNX Runtime, the faster runtime on CPUs without AVX-512";

/// Whether Auto should run OpenVINO at float32 on this CPU: where it has AVX-512. Measured by
/// the bench's streaming runs (docs/runtimes.md): on an Intel Xeon with AMX and an AMD EPYC
/// Zen 4 (both AVX-512) OpenVINO was as fast as ONNX Runtime or faster, on an AMD EPYC with
/// AVX2 only ONNX Runtime took 12–21 % less CPU at the Balanced tier.
pub fn auto_prefers_openvino() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// What runs for a choice of runtime and precision, given whether OpenVINO loaded (and can do
/// bf16): the runtime, the precision, and why it differs from what was asked, if it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimePlan {
    /// The runtime that runs.
    pub runtime: RuntimeKind,
    /// The precision it runs at.
    pub precision: Precision,
    /// Why the runtime or precision is not the one asked for (empty when it is).
    pub note: String,
}

impl RuntimePlan {
    /// The pure decision: `openvino` is `Ok(has_bf16)` when OpenVINO loaded, else why not.
    /// bf16 needs OpenVINO and a CPU with bf16; without either the models run float32.
    /// Auto runs OpenVINO where [`auto_prefers_openvino`] says it is the faster float32
    /// runtime on this CPU (or bf16 is asked for), else ONNX Runtime.
    pub fn resolve(
        choice: RuntimeChoice,
        precision: Precision,
        openvino: Result<bool, &str>,
    ) -> Self {
        Self::resolve_for(choice, precision, openvino, auto_prefers_openvino())
    }

    /// Whether [`Self::resolve`] may pick OpenVINO for this choice (else it need not load).
    pub fn may_use_openvino(choice: RuntimeChoice, precision: Precision) -> bool {
        Self::resolve(choice, precision, Ok(true)).runtime == RuntimeKind::OpenVino
    }

    /// [`Self::resolve`] for a CPU where OpenVINO is (`true`) or is not the faster float32
    /// runtime.
    pub fn resolve_for(
        choice: RuntimeChoice,
        precision: Precision,
        openvino: Result<bool, &str>,
        openvino_faster: bool,
    ) -> Self {
        let mut note = String::new();
        let auto_ort =
            choice == RuntimeChoice::Auto && !openvino_faster && precision != Precision::Bf16;
        let runtime = match (choice, &openvino) {
            (RuntimeChoice::OnnxRuntime, _) => RuntimeKind::OnnxRuntime,
            _ if auto_ort => {
                note = AUTO_ORT_NOTE.to_string();
                RuntimeKind::OnnxRuntime
            }
            (_, Ok(_)) => RuntimeKind::OpenVino,
            // Auto says why too: a user who expected OpenVINO's speed learns what is missing.
            (RuntimeChoice::OpenVino | RuntimeChoice::Auto, Err(why)) => {
                note = format!("OpenVINO unavailable ({why}): ONNX Runtime runs");
                RuntimeKind::OnnxRuntime
            }
        };
        let mut run = precision;
        if precision == Precision::Bf16 {
            let why = match (runtime, openvino) {
                (RuntimeKind::OnnxRuntime, _) => Some("bf16 needs OpenVINO"),
                (RuntimeKind::OpenVino, Ok(false)) => Some("this CPU has no bf16"),
                _ => None,
            };
            if let Some(why) = why {
                run = Precision::Float32;
                if !note.is_empty() {
                    note.push_str("; ");
                }
                note.push_str(&format!("{why}: float32 runs"));
            }
        }
        Self {
            runtime,
            precision: run,
            note,
        }
    }
}

/// The models, precision and runtime a backend is built for: everything a staged model swap
/// changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackendSpec {
    /// Which models run.
    pub model: ModelChoice,
    /// At which precision.
    pub precision: Precision,
    /// On which runtime.
    pub runtime: RuntimeChoice,
}

impl Default for BackendSpec {
    fn default() -> Self {
        Self {
            model: ModelChoice::Full,
            precision: Precision::Float32,
            runtime: RuntimeChoice::Auto,
        }
    }
}

impl BackendSpec {
    /// A compact code for an atomic (the audio thread requests a spec without allocating).
    pub fn code(self) -> u32 {
        let m = ModelChoice::ALL.iter().position(|&c| c == self.model);
        let p = Precision::ALL.iter().position(|&c| c == self.precision);
        let r = RuntimeChoice::ALL.iter().position(|&c| c == self.runtime);
        let (np, nr) = (Precision::ALL.len(), RuntimeChoice::ALL.len());
        ((m.unwrap_or(0) * np + p.unwrap_or(0)) * nr + r.unwrap_or(0)) as u32
    }

    /// The spec of a [`Self::code`]; `None` for a code no spec has.
    pub fn from_code(code: u32) -> Option<Self> {
        let code = code as usize;
        let (np, nr) = (Precision::ALL.len(), RuntimeChoice::ALL.len());
        let (rest, r) = (code / nr, code % nr);
        let (m, p) = (rest / np, rest % np);
        Some(Self {
            model: *ModelChoice::ALL.get(m)?,
            precision: Precision::ALL[p],
            runtime: RuntimeChoice::ALL[r],
        })
    }
}

impl std::fmt::Display for BackendSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, {}", self.model.label(), self.precision.label())?;
        // ONNX Runtime is the default; the others are named.
        if self.runtime != RuntimeChoice::OnnxRuntime {
            write!(f, ", runtime {}", self.runtime.label())?;
        }
        Ok(())
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
                for runtime in RuntimeChoice::ALL {
                    let spec = BackendSpec {
                        model,
                        precision,
                        runtime,
                    };
                    assert_eq!(BackendSpec::from_code(spec.code()), Some(spec));
                    codes.push(spec.code());
                }
            }
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(
            codes.len(),
            ModelChoice::ALL.len() * Precision::ALL.len() * RuntimeChoice::ALL.len()
        );
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
        assert_eq!(ModelChoice::ALL.last(), Some(&ModelChoice::FullSpleeter));
    }

    #[test]
    fn the_runtime_plan_says_why_it_differs_from_the_choice() {
        use RuntimeChoice::*;
        // A CPU where OpenVINO is the faster float32 runtime (AVX-512).
        let plan = |c, p, o| RuntimePlan::resolve_for(c, p, o, true);
        // OpenVINO loaded, with bf16.
        let p = plan(Auto, Precision::Bf16, Ok(true));
        assert_eq!(
            (p.runtime, p.precision),
            (RuntimeKind::OpenVino, Precision::Bf16)
        );
        assert!(p.note.is_empty());
        let p = plan(OnnxRuntime, Precision::Float32, Ok(true));
        assert_eq!(p.runtime, RuntimeKind::OnnxRuntime);
        assert!(p.note.is_empty());
        // bf16 asked where it cannot run: float32, and the reason.
        let p = plan(OnnxRuntime, Precision::Bf16, Ok(true));
        assert_eq!(
            (p.runtime, p.precision),
            (RuntimeKind::OnnxRuntime, Precision::Float32)
        );
        assert_eq!(p.note, "bf16 needs OpenVINO: float32 runs");
        let p = plan(OpenVino, Precision::Bf16, Ok(false));
        assert_eq!(
            (p.runtime, p.precision),
            (RuntimeKind::OpenVino, Precision::Float32)
        );
        assert_eq!(p.note, "this CPU has no bf16: float32 runs");
        // OpenVINO missing: ONNX Runtime runs, and Auto says why as an explicit choice does.
        let p = plan(Auto, Precision::Int8, Err("not found"));
        assert_eq!(
            (p.runtime, p.precision),
            (RuntimeKind::OnnxRuntime, Precision::Int8)
        );
        assert_eq!(
            p.note,
            "OpenVINO unavailable (not found): ONNX Runtime runs"
        );
        let p = plan(OpenVino, Precision::Bf16, Err("not found"));
        assert_eq!(p.runtime, RuntimeKind::OnnxRuntime);
        assert_eq!(
            p.note,
            "OpenVINO unavailable (not found): ONNX Runtime runs; bf16 needs OpenVINO: float32 runs"
        );
    }

    #[test]
    fn auto_runs_onnx_runtime_where_openvino_is_not_the_faster_runtime() {
        use RuntimeChoice::*;
        let plan = |c, p, o| RuntimePlan::resolve_for(c, p, o, false);
        for precision in [Precision::Float32, Precision::Int8] {
            let p = plan(Auto, precision, Ok(false));
            assert_eq!(
                (p.runtime, p.precision),
                (RuntimeKind::OnnxRuntime, precision)
            );
            assert_eq!(p.note, AUTO_ORT_NOTE);
        }
        // An explicit choice is obeyed, and bf16 still goes to OpenVINO (which says if the
        // CPU cannot do it).
        let p = plan(OpenVino, Precision::Float32, Ok(false));
        assert_eq!((p.runtime, p.note.as_str()), (RuntimeKind::OpenVino, ""));
        let p = plan(Auto, Precision::Bf16, Ok(false));
        assert_eq!(
            (p.runtime, p.precision, p.note.as_str()),
            (
                RuntimeKind::OpenVino,
                Precision::Float32,
                "this CPU has no bf16: float32 runs"
            )
        );
        let p = plan(OnnxRuntime, Precision::Float32, Ok(false));
        assert!(p.note.is_empty());
    }
}
