//! The Danna-Sep ensemble as a [`SeparationBackend`]: the ONNX models of a model set run on
//! one window (or a whole clip), blended per stem with the manifest's weights.
//!
//! A window of `N` samples is treated as the original tool treats a track (see
//! `models/README.md`, "Reference pipeline"): zero-padded by 1024 samples on the right, one STFT shared by the
//! spectrogram models ([`MaskRunner`]), the waveform model on its own padding
//! ([`WaveformRunner`]), every estimate cropped to `N`, then accumulated in float32 in the
//! blend order: `((0 + w₁·ŝ₁) + w₂·ŝ₂) + w₃·ŝ₃`.
//!
//! # Streaming semantics
//! Statistics that the original computes over the whole track are computed per analysis
//! window here, because the streaming engine only ever has one window: the Wiener filter's
//! spatial covariances `R_j` and its scale `max_abs`, and Demucs's standardisation mean and
//! standard deviation (computed inside its ONNX graph from whatever it is given). A whole-clip
//! run ([`separate_clip`]) is the original recipe exactly. The difference between the two is
//! measured per stem and tier by `tests/ensemble_parity.rs` and reported in the README.
//!
//! # Karaoke
//! [`ModelChoice::Karaoke`] runs the full ensemble and a two-stem vocal model
//! ([`VocalRunner`], Spleeter 2stems, on the same STFT): the vocals stem is the vocal model's,
//! the accompaniment `mixture − vocals` is split into drums, bass and other by the ensemble's
//! estimates ([`ResidualSplit`]), so the four stems sum to the window (up to the STFT round
//! trip). Without a vocal set the choice runs the full ensemble and its description says why.
//!
//! [`ModelChoice::FullSpleeter`] runs the same two paths and blends them per stem,
//! `(1 − w)·full + w·karaoke`, with the set's `[blend.vocal]` weights (0.5 each when the set
//! has none, and the description says they are untuned). The blend is linear in the two
//! paths' outputs, so `cargo xtask models eval --tune-blend` fits it from whole-track outputs
//! of `--model full` and `--model karaoke`.

mod blend;
mod mask;
mod model;
mod openvino_model;
mod residual;
mod session;
mod vocal;
mod waveform;

pub use blend::BlendPlan;
pub use mask::MaskRunner;
pub use model::InferenceModel;
pub use openvino_model::OvModel;
pub use residual::ResidualSplit;
pub use session::{live_sessions, OrtModel, SessionConfig, SessionOwner};
pub use vocal::VocalRunner;
pub use waveform::WaveformRunner;

use crate::dsp::{frame_count, magnitude, ComplexSpec, MagSpec, StftPlan};
use crate::engine::{BackendInfo, ModelSetSummary, RuntimeInfo, SeparationBackend, StemBuffers};
use crate::error::SeparationError;
use crate::modelset::{ModelKind, ModelSet, ModelSpec, VocalSet};
use crate::openvino_runtime::OvRuntime;
use crate::runtime::OrtRuntime;
use crate::selection::{ModelChoice, Precision, RuntimeKind};
use crate::stems::{STEM_COUNT, VOCALS};

/// The runtime a backend opens its models in.
#[derive(Debug, Clone, Copy)]
pub enum InferenceRuntime<'a> {
    /// ONNX Runtime.
    Ort(&'a OrtRuntime),
    /// OpenVINO.
    OpenVino(&'static OvRuntime),
}

impl<'a> From<&'a OrtRuntime> for InferenceRuntime<'a> {
    fn from(runtime: &'a OrtRuntime) -> Self {
        InferenceRuntime::Ort(runtime)
    }
}

impl<'a> InferenceRuntime<'a> {
    /// Which runtime this is.
    pub fn kind(self) -> RuntimeKind {
        match self {
            InferenceRuntime::Ort(_) => RuntimeKind::OnnxRuntime,
            InferenceRuntime::OpenVino(_) => RuntimeKind::OpenVino,
        }
    }

    /// The loaded library's version and file.
    fn version_and_path(self) -> (&'a str, &'a std::path::Path) {
        match self {
            InferenceRuntime::Ort(rt) => (&rt.version, &rt.path),
            InferenceRuntime::OpenVino(rt) => (&rt.version, &rt.path),
        }
    }

    /// The loaded runtime, for [`BackendInfo::runtime`].
    pub fn info(self) -> RuntimeInfo {
        let (version, path) = self.version_and_path();
        RuntimeInfo::Loaded {
            name: self.kind().name().into(),
            version: version.into(),
            path: path.into(),
        }
    }

    /// `ONNX Runtime 1.31.1` or `OpenVINO 2026.4.1`.
    pub fn describe(self) -> String {
        format!("{} {}", self.kind().name(), self.version_and_path().0)
    }

    /// Opens one model of a set. `config` says the precision asked for; bf16 applies to the
    /// spectrogram models only: the waveform model (DemucsSplit) stays float32, because
    /// OpenVINO's AMX bf16 convolution is wrong for some of its 1-D layers (0.6 dB SNR
    /// against float32 on the demo set; `docs/runtimes.md`, "bf16").
    pub fn open(
        self,
        name: &str,
        spec: &ModelSpec,
        config: SessionConfig,
    ) -> Result<Box<dyn InferenceModel>, SeparationError> {
        Ok(match self {
            InferenceRuntime::Ort(rt) => Box::new(OrtModel::open(rt, name, spec, config)?),
            InferenceRuntime::OpenVino(rt) => {
                let precision = match config.precision() {
                    Precision::Bf16 if spec.kind == ModelKind::Waveform => Precision::Float32,
                    p => p,
                };
                Box::new(OvModel::open(
                    rt,
                    name,
                    spec,
                    precision,
                    config.intra_threads,
                )?)
            }
        })
    }
}

/// Zeros appended to every window before any model (the tool's 1024-sample right pad, which
/// makes the iSTFT at least as long as the input).
pub const RIGHT_PAD: usize = 1024;

enum Runner {
    Mask(MaskRunner),
    Waveform(WaveformRunner),
}

/// One model of the plan with the buffer its estimate goes to before blending.
struct ModelSlot {
    runner: Runner,
    estimate: StemBuffers,
}

/// The ensemble backend: a blend plan and one runner per model in it.
pub struct EnsembleBackend {
    /// What it runs; `describe()` is its description.
    info: BackendInfo,
    plan: BlendPlan,
    slots: Vec<ModelSlot>,
    parallel: bool,
    frames: usize,
    stft: Option<StftPlan>,
    padded: [Vec<f32>; 2],
    x: ComplexSpec,
    mag: MagSpec,
    karaoke: Option<Karaoke>,
}

/// The Karaoke path's vocal model and accompaniment split, and how it is blended.
struct Karaoke {
    vocal: VocalRunner,
    split: ResidualSplit,
    vocals: [Vec<f32>; 2],
    acc: [Vec<f32>; 2],
    /// Per stem, the Karaoke path's share; the full ensemble has the rest (all 1: Karaoke).
    weights: [f32; STEM_COUNT],
    /// The full ensemble's stems, kept for the blend (empty when every weight is 1).
    full: StemBuffers,
}

/// Per stem, the Karaoke path's share for `choice`, and how the description says it.
fn vocal_path_weights(set: &ModelSet, choice: ModelChoice) -> ([f32; STEM_COUNT], String) {
    if choice != ModelChoice::FullSpleeter {
        return ([1.0; STEM_COUNT], String::new());
    }
    let (weights, source) = match &set.blend.vocal {
        Some(v) if v.tuned_on.is_empty() => (v.stem_weights(), "[blend.vocal]".to_string()),
        Some(v) => (v.stem_weights(), format!("tuned on {}", v.tuned_on)),
        None => (
            [0.5; STEM_COUNT],
            "untuned: the set has no [blend.vocal]".into(),
        ),
    };
    let shown: Vec<String> = weights.iter().map(|w| format!("{w:.2}")).collect();
    (
        weights,
        format!(
            "; blended with the ensemble, Karaoke share d/b/o/v {} ({source})",
            shown.join("/")
        ),
    )
}

impl EnsembleBackend {
    /// Opens the models `choice` needs from `set` in ONNX Runtime ([`ModelChoice::Karaoke`]
    /// without a vocal set: the full ensemble, see [`Self::with_vocals`]).
    pub fn new<'a>(
        runtime: impl Into<InferenceRuntime<'a>>,
        set: &ModelSet,
        choice: ModelChoice,
        config: SessionConfig,
    ) -> Result<Self, SeparationError> {
        Self::with_vocals(
            runtime,
            set,
            choice,
            config,
            Err("no vocal set given".into()),
        )
    }

    /// [`Self::new`] with the vocal set the Karaoke choice runs, or why there is none (then
    /// Karaoke runs the full ensemble and the description says so). Other choices ignore it.
    pub fn with_vocals<'a>(
        runtime: impl Into<InferenceRuntime<'a>>,
        set: &ModelSet,
        choice: ModelChoice,
        config: SessionConfig,
        vocals: Result<&VocalSet, String>,
    ) -> Result<Self, SeparationError> {
        let runtime = runtime.into();
        let plan = BlendPlan::for_choice(set, choice)?;
        let mut slots = Vec::with_capacity(plan.len());
        let mut precisions: Vec<(String, Precision)> = Vec::new();
        for (name, _) in plan.iter() {
            let spec = &set.models[name];
            let model = runtime.open(name, spec, config)?;
            precisions.push((name.to_string(), model.precision()));
            let runner = match spec.kind {
                ModelKind::SpectrogramMask => Runner::Mask(MaskRunner::new(name, spec, model)?),
                ModelKind::Waveform => Runner::Waveform(WaveformRunner::new(name, spec, model)),
                // The four-stem loader refuses it; a vocal set's model runs in `VocalRunner`.
                ModelKind::RatioMask => {
                    return Err(SeparationError::model(
                        name,
                        "opening",
                        "a ratio_mask model is not a four-stem model",
                    ))
                }
            };
            slots.push(ModelSlot {
                runner,
                estimate: StemBuffers::new(0),
            });
        }
        let mut karaoke = None;
        let mut vocal_note = String::new();
        if choice.uses_vocal_model() {
            match vocals {
                Ok(vs) => {
                    // The vocal set has no int8 variant: float32 whatever was asked.
                    let float = SessionConfig {
                        int8: false,
                        ..config
                    };
                    let model = runtime.open(&vs.model_name, &vs.model, float)?;
                    precisions.push((vs.model_name.clone(), model.precision()));
                    let (weights, blend_note) = vocal_path_weights(set, choice);
                    karaoke = Some(Karaoke {
                        vocal: VocalRunner::new(&vs.model_name, &vs.model, model)?,
                        split: ResidualSplit::default(),
                        vocals: [Vec::new(), Vec::new()],
                        acc: [Vec::new(), Vec::new()],
                        weights,
                        full: StemBuffers::new(0),
                    });
                    vocal_note = format!(
                        "; Karaoke: {}; drums/bass/other split from the ensemble{blend_note}",
                        vs.describe()
                    );
                }
                Err(why) => {
                    let short = match choice {
                        ModelChoice::Karaoke => "Karaoke",
                        _ => "Full + Spleeter",
                    };
                    vocal_note =
                        format!("; {short} without Spleeter ({why}): the full ensemble runs");
                }
            }
        }
        let description = format!(
            "model set '{}' ({}), {}: {}, {}{}",
            set.name,
            plan.describe(),
            set.provenance.origin,
            runtime.describe(),
            describe_precision(config, &precisions[..plan.len()]),
            vocal_note,
        );
        let info = BackendInfo {
            description,
            // The worker sets the spec it asked for.
            spec: None,
            model_set: Some(ModelSetSummary::of(set)),
            runtime: runtime.info(),
            models: precisions,
            error: None,
        };
        let kinds = |mask: bool| {
            slots
                .iter()
                .any(|s| matches!(s.runner, Runner::Mask(_)) == mask)
        };
        let parallel = config.parallel_models && kinds(true) && kinds(false);
        Ok(Self {
            info,
            plan,
            slots,
            parallel,
            frames: 0,
            stft: None,
            padded: [Vec::new(), Vec::new()],
            x: ComplexSpec::new(2, 0),
            mag: MagSpec::new(2, 0),
            karaoke,
        })
    }

    fn needs_stft(&self) -> bool {
        self.karaoke.is_some()
            || self
                .slots
                .iter()
                .any(|s| matches!(s.runner, Runner::Mask(_)))
    }

    /// Appends `note` (why the runtime or precision differs from the choice) to the
    /// description; nothing when it is empty.
    pub fn add_note(&mut self, note: &str) {
        if !note.is_empty() {
            self.info.description.push_str(&format!(" ({note})"));
        }
    }

    /// Whether the Karaoke choice runs its vocal model (false: it fell back to the ensemble).
    pub fn has_vocal_model(&self) -> bool {
        self.karaoke.is_some()
    }
}

impl Karaoke {
    /// Whether the full ensemble's stems are blended in (some weight below 1).
    fn blends(&self) -> bool {
        self.weights.iter().any(|&w| w < 1.0)
    }
}

/// `config.describe()`, saying which models actually run at the lossy precision asked for
/// (`models`: each of the plan's models with the precision it runs at).
fn describe_precision(config: SessionConfig, models: &[(String, Precision)]) -> String {
    let asked = config.precision();
    let names = |lossy: bool| -> Vec<&str> {
        models
            .iter()
            .filter(|(_, p)| (*p == asked) == lossy)
            .map(|(n, _)| n.as_str())
            .collect()
    };
    let (lossy, float) = (names(true), names(false));
    if asked == Precision::Float32 || float.is_empty() {
        return config.describe();
    }
    let schedule = SessionConfig {
        int8: false,
        bf16: false,
        ..config
    }
    .describe();
    let (what, none) = match asked {
        Precision::Int8 => ("int8 LSTM/MatMul", "no int8 file"),
        _ => ("bf16", "a waveform model"),
    };
    if lossy.is_empty() {
        let why = if asked == Precision::Int8 {
            "no int8 files in the set"
        } else {
            "no model takes bf16 here"
        };
        return format!("{schedule}, float32 ({why})");
    }
    format!(
        "{schedule}, {what} for {} ({} float32: {none})",
        lossy.join(", "),
        float.join(", ")
    )
}

/// Runs the spectrogram-mask models among `slots` on the calling thread.
fn run_masks<'a>(
    slots: impl Iterator<Item = &'a mut ModelSlot>,
    x: &ComplexSpec,
    mag: &MagSpec,
    stft: &mut Option<StftPlan>,
) -> Result<(), SeparationError> {
    for slot in slots {
        if let Runner::Mask(m) = &mut slot.runner {
            let plan = stft.as_mut().expect("prepared with an STFT plan");
            m.estimate(x, mag, plan, &mut slot.estimate)?;
        }
    }
    Ok(())
}

/// Runs the waveform models among `slots` on the calling thread.
fn run_waveforms<'a>(
    slots: impl Iterator<Item = &'a mut ModelSlot>,
    mix: [&[f32]; 2],
) -> Result<(), SeparationError> {
    for slot in slots {
        if let Runner::Waveform(w) = &mut slot.runner {
            w.estimate(mix, &mut slot.estimate)?;
        }
    }
    Ok(())
}

impl SeparationBackend for EnsembleBackend {
    fn describe(&self) -> String {
        self.info.description.clone()
    }

    fn info(&self) -> BackendInfo {
        self.info.clone()
    }

    fn prepare(&mut self, frames: usize) -> Result<(), SeparationError> {
        let padded = frames + RIGHT_PAD;
        let spec_frames = frame_count(padded);
        self.frames = frames;
        self.padded = [vec![0.0; padded], vec![0.0; padded]];
        if self.needs_stft() {
            self.stft = Some(StftPlan::new(padded));
            self.x = ComplexSpec::new(2, spec_frames);
            self.mag = MagSpec::new(2, spec_frames);
        }
        if let Some(k) = &mut self.karaoke {
            k.vocal.prepare(spec_frames)?;
            k.split.prepare(padded, spec_frames);
            k.vocals = [vec![0.0; frames], vec![0.0; frames]];
            k.acc = [vec![0.0; frames], vec![0.0; frames]];
            if k.blends() {
                k.full = StemBuffers::new(frames);
            }
        }
        for slot in &mut self.slots {
            slot.estimate = StemBuffers::new(frames);
            match &mut slot.runner {
                Runner::Mask(m) => m.prepare(spec_frames)?,
                Runner::Waveform(w) => w.prepare(frames)?,
            }
        }
        Ok(())
    }

    /// One window of silence through every model.
    fn warm_up(&mut self, frames: usize) -> Result<(), SeparationError> {
        let silence = vec![0.0f32; frames];
        self.separate([&silence, &silence], &mut StemBuffers::new(frames))
    }

    fn separate(
        &mut self,
        mix: [&[f32]; 2],
        stems: &mut StemBuffers,
    ) -> Result<(), SeparationError> {
        let frames = stems.frames();
        if frames != self.frames || mix.iter().any(|c| c.len() != frames) {
            return Err(SeparationError::WindowLength {
                got: frames,
                prepared: self.frames,
            });
        }
        for (p, x) in self.padded.iter_mut().zip(mix) {
            p[..frames].copy_from_slice(x);
            p[frames..].fill(0.0);
        }
        if let Some(plan) = self.stft.as_mut() {
            let [l, r] = &self.padded;
            plan.stft(&[l, r], &mut self.x);
            magnitude(&self.x, &mut self.mag);
        }
        let (x, mag, stft) = (&self.x, &self.mag, &mut self.stft);
        if self.parallel {
            // The waveform model on a scoped thread, the mask models here; the blend below runs
            // after both, in plan order, so the result is bit-identical to the sequential run.
            let (waves, masks): (Vec<&mut ModelSlot>, Vec<&mut ModelSlot>) = self
                .slots
                .iter_mut()
                .partition(|s| matches!(s.runner, Runner::Waveform(_)));
            std::thread::scope(|scope| {
                let waveform = std::thread::Builder::new()
                    .name("danna-sep-waveform".into())
                    .spawn_scoped(scope, move || {
                        crate::dsp::finite::flush_denormals_on_this_thread();
                        SeparationError::catching("the waveform model", || {
                            run_waveforms(waves.into_iter(), mix)
                        })
                    })
                    .map_err(|e| {
                        SeparationError::Thread(format!("starting the waveform thread: {e}"))
                    })?;
                let masked = run_masks(masks.into_iter(), x, mag, stft);
                let waved = waveform.join().unwrap_or_else(|payload| {
                    Err(SeparationError::Panicked {
                        stage: "the waveform model",
                        message: crate::error::panic_message(payload.as_ref()),
                    })
                });
                masked.and(waved)
            })?;
        } else {
            run_masks(self.slots.iter_mut(), x, mag, stft)?;
            run_waveforms(self.slots.iter_mut(), mix)?;
        }
        for c in stems.channels_mut() {
            c.fill(0.0);
        }
        for (slot, (_, weights)) in self.slots.iter().zip(self.plan.iter()) {
            for (s, &w) in weights.iter().enumerate().take(STEM_COUNT) {
                for ch in 0..2 {
                    let est = slot.estimate.channel(s, ch);
                    for (o, &e) in stems.channel_mut(s, ch).iter_mut().zip(est) {
                        *o += w * e;
                    }
                }
            }
        }
        if let Some(k) = &mut self.karaoke {
            let plan = self.stft.as_mut().expect("prepared with an STFT plan");
            if k.blends() {
                k.full.clone_from(stems);
            }
            let [vl, vr] = &mut k.vocals;
            k.vocal.estimate(&self.x, &self.mag, plan, [vl, vr])?;
            for (ch, (acc, vocals)) in k.acc.iter_mut().zip(&k.vocals).enumerate() {
                for ((a, &x), &v) in acc.iter_mut().zip(mix[ch]).zip(vocals) {
                    *a = x - v;
                }
                stems.channel_mut(VOCALS, ch).copy_from_slice(vocals);
            }
            let [al, ar] = &k.acc;
            k.split.split([al, ar], stems, plan);
            if k.blends() {
                for (s, &w) in k.weights.iter().enumerate() {
                    for ch in 0..2 {
                        let full = k.full.channel(s, ch);
                        for (o, &f) in stems.channel_mut(s, ch).iter_mut().zip(full) {
                            *o = (1.0 - w) * f + w * *o;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Separates a whole clip at the model rate in one window: the original tool's recipe with
/// whole-track statistics (for short clips and parity tests; the CLI streams instead, with
/// bounded memory). Memory grows with the clip length.
pub fn separate_clip<'a>(
    runtime: impl Into<InferenceRuntime<'a>>,
    set: &ModelSet,
    choice: ModelChoice,
    config: SessionConfig,
    mix: [&[f32]; 2],
) -> Result<StemBuffers, SeparationError> {
    let frames = mix[0].len();
    if mix[1].len() != frames {
        return Err(SeparationError::WindowLength {
            got: mix[1].len(),
            prepared: frames,
        });
    }
    let mut backend = EnsembleBackend::new(runtime, set, choice, config)?;
    backend.prepare(frames)?;
    let mut stems = StemBuffers::new(frames);
    backend.separate(mix, &mut stems)?;
    Ok(stems)
}
