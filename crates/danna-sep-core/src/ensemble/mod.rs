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

mod blend;
mod mask;
mod residual;
mod session;
mod vocal;
mod waveform;

pub use blend::BlendPlan;
pub use mask::MaskRunner;
pub use residual::ResidualSplit;
pub use session::{live_sessions, OrtModel, SessionConfig, SessionOwner};
pub use vocal::VocalRunner;
pub use waveform::WaveformRunner;

use crate::dsp::{frame_count, magnitude, ComplexSpec, MagSpec, StftPlan};
use crate::engine::{BackendInfo, ModelSetSummary, RuntimeInfo, SeparationBackend, StemBuffers};
use crate::error::SeparationError;
use crate::modelset::{ModelKind, ModelSet, VocalSet};
use crate::runtime::OrtRuntime;
use crate::selection::{ModelChoice, Precision};
use crate::stems::{STEM_COUNT, VOCALS};

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

/// The Karaoke choice's vocal model and accompaniment split.
struct Karaoke {
    vocal: VocalRunner,
    split: ResidualSplit,
    vocals: [Vec<f32>; 2],
    acc: [Vec<f32>; 2],
}

impl EnsembleBackend {
    /// Opens the models `choice` needs from `set` in ONNX Runtime ([`ModelChoice::Karaoke`]
    /// without a vocal set: the full ensemble, see [`Self::with_vocals`]).
    pub fn new(
        runtime: &OrtRuntime,
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
    pub fn with_vocals(
        runtime: &OrtRuntime,
        set: &ModelSet,
        choice: ModelChoice,
        config: SessionConfig,
        vocals: Result<&VocalSet, String>,
    ) -> Result<Self, SeparationError> {
        let plan = BlendPlan::for_choice(set, choice)?;
        let mut slots = Vec::with_capacity(plan.len());
        let (mut int8, mut float) = (Vec::new(), Vec::new());
        for (name, _) in plan.iter() {
            let spec = &set.models[name];
            let model = OrtModel::open(runtime, name, spec, config)?;
            if model.is_int8() {
                int8.push(name);
            } else {
                float.push(name);
            }
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
        let mut vocal_model = None;
        if choice == ModelChoice::Karaoke {
            match vocals {
                Ok(vs) => {
                    // The vocal set has no int8 variant: float32 whatever was asked.
                    let float = SessionConfig {
                        int8: false,
                        ..config
                    };
                    let model = OrtModel::open(runtime, &vs.model_name, &vs.model, float)?;
                    karaoke = Some(Karaoke {
                        vocal: VocalRunner::new(&vs.model_name, &vs.model, model)?,
                        split: ResidualSplit::default(),
                        vocals: [Vec::new(), Vec::new()],
                        acc: [Vec::new(), Vec::new()],
                    });
                    vocal_model = Some(vs.model_name.clone());
                    vocal_note = format!(
                        "; Karaoke: {}; drums/bass/other split from the ensemble",
                        vs.describe()
                    );
                }
                Err(why) => {
                    vocal_note =
                        format!("; Karaoke without Spleeter ({why}): full ensemble vocals");
                }
            }
        }
        let description = format!(
            "model set '{}' ({}), {}: ONNX Runtime {}, {}{}",
            set.name,
            plan.describe(),
            set.provenance.origin,
            runtime.version,
            describe_precision(config, &int8, &float),
            vocal_note,
        );
        let info = BackendInfo {
            description,
            // The worker sets the spec it asked for.
            spec: None,
            model_set: Some(ModelSetSummary::of(set)),
            runtime: RuntimeInfo::Loaded {
                version: runtime.version.clone(),
                path: runtime.path.clone(),
            },
            models: plan
                .iter()
                .map(|(name, _)| {
                    let p = if int8.contains(&name) {
                        Precision::Int8
                    } else {
                        Precision::Float32
                    };
                    (name.to_string(), p)
                })
                .chain(vocal_model.map(|m| (m, Precision::Float32)))
                .collect(),
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

    /// Whether the Karaoke choice runs its vocal model (false: it fell back to the ensemble).
    pub fn has_vocal_model(&self) -> bool {
        self.karaoke.is_some()
    }
}

/// `config.describe()`, saying which models actually run int8 when int8 was asked for.
fn describe_precision(config: SessionConfig, int8: &[&str], float: &[&str]) -> String {
    if !config.int8 || float.is_empty() {
        return config.describe();
    }
    let float_only = SessionConfig {
        int8: false,
        ..config
    };
    if int8.is_empty() {
        return format!(
            "{}, float32 (no int8 files in the set)",
            float_only.describe()
        );
    }
    format!(
        "{}, int8 LSTM/MatMul for {} ({} float32: no int8 file)",
        float_only.describe(),
        int8.join(", "),
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
        }
        Ok(())
    }
}

/// Separates a whole clip at the model rate in one window: the original tool's recipe with
/// whole-track statistics (for short clips and parity tests; the CLI streams instead, with
/// bounded memory). Memory grows with the clip length.
pub fn separate_clip(
    runtime: &OrtRuntime,
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
