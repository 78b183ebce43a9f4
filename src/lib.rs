//! Danna-Sep RT: real-time music source separation (drums, bass, other, vocals) as a VST3 and
//! CLAP plugin. This crate is the plugin: its parameters, the stem mixer, what it shares with
//! the editor and the editor itself; this file is the thin glue to nice-plug. The separation
//! itself is `danna-sep-core`'s streaming engine.

pub mod editor;
pub mod host_config;
pub mod hub;
pub mod mixer;
pub mod params;
pub mod state;

use std::sync::Arc;

use danna_sep_core::config::Config;
use danna_sep_core::engine::{
    self, BackendHandoff, EngineConfig, EngineShared, InferenceWorker, LatencyBudget,
    StreamingEngine, ThreadGroup,
};
use danna_sep_core::ensemble::SessionOwner;
use danna_sep_core::separation::ensemble_factory_for;
use danna_sep_core::stems::{STEM_COUNT, STEM_DISPLAY_NAMES};
use nice_plug::prelude::*;

use host_config::EngineBounds;
use hub::{peak, ActivationFacts, PluginHub};
use mixer::{OutputChannels, StemMixer};
use params::DannaSepParams;

/// Names of the four aux outputs, in stem order.
pub const AUX_NAMES: [&str; STEM_COUNT] = STEM_DISPLAY_NAMES;

/// Everything that exists only while the plugin is active.
struct ActiveEngine {
    engine: StreamingEngine,
    // Stopped in `deactivate()`/`activate()` without waiting: its backend comes back through
    // a handoff that the next activation's worker takes.
    worker: InferenceWorker,
    shared: Arc<EngineShared>,
    mixer: StemMixer,
    facts: ActivationFacts,
    /// The configuration the backend was built with (a parked backend is reused only under
    /// the same one).
    config: Config,
    restart_requested: bool,
}

/// A backend kept from the last activation (perhaps still finishing a window or a load), with
/// the configuration it was built under.
struct Parked {
    config: Config,
    backend: BackendHandoff,
}

/// The plugin.
pub struct DannaSep {
    params: Arc<DannaSepParams>,
    active: Option<ActiveEngine>,
    /// The previous activation's backend: a re-activation for the same models (a new sample
    /// rate or block size, a host's deactivate/activate cycle) reuses it instead of loading
    /// the models again.
    parked: Option<Parked>,
    /// Whose ONNX Runtime sessions this instance's models use (see
    /// [`danna_sep_core::ensemble::SessionConfig::owner`]).
    session_owner: SessionOwner,
    /// Every thread this instance's engines start (see `Drop`).
    threads: ThreadGroup,
    // Shared with the editor: engine status for the GUI, meters from the audio thread.
    hub: Arc<PluginHub>,
}

impl Drop for DannaSep {
    // The host may unload the plugin's library right after destroying the instance, so none of
    // its threads may still run code from it: this is the one place that waits for them (each
    // is stopped and ends after its current step: a window, or a model load).
    fn drop(&mut self) {
        self.stop_engine();
        self.parked = None;
        self.threads.wait_all();
    }
}

impl Default for DannaSep {
    // Hosts create instances while scanning: nothing expensive happens here.
    fn default() -> Self {
        Self {
            params: Arc::new(DannaSepParams::default()),
            active: None,
            parked: None,
            session_owner: SessionOwner::unique(),
            threads: ThreadGroup::new(),
            hub: Arc::new(PluginHub::default()),
        }
    }
}

impl DannaSep {
    /// Stops the active engine and keeps its backend for the next activation. Returns at once:
    /// the worker finishes its current step on its own thread.
    fn stop_engine(&mut self) {
        if let Some(mut a) = self.active.take() {
            self.parked = Some(Parked {
                config: a.config,
                backend: a.worker.stop(),
            });
        }
    }

    /// The engine's status line, or why there is none (not for the audio thread).
    pub fn status_line(&self) -> String {
        match &self.active {
            Some(a) => format!(
                "{:?}: {}",
                a.shared.status.state(),
                a.shared.status.message()
            ),
            None => "inactive".into(),
        }
    }

    /// The shared engine state while active (for the GUI and tests).
    pub fn engine_shared(&self) -> Option<Arc<EngineShared>> {
        self.active.as_ref().map(|a| a.shared.clone())
    }

    /// The group this instance's threads are counted in (for tests).
    pub fn thread_group(&self) -> &ThreadGroup {
        &self.threads
    }

    /// What the plugin shares with its editor (for the GUI and tests).
    pub fn hub(&self) -> &Arc<PluginHub> {
        &self.hub
    }

    /// The parameters (for tests).
    pub fn parameters(&self) -> &Arc<DannaSepParams> {
        &self.params
    }
}

const STEREO: Option<NonZeroU32> = NonZeroU32::new(2);
const MONO: Option<NonZeroU32> = NonZeroU32::new(1);
const PORT_NAMES: PortNames = PortNames {
    layout: None,
    main_input: Some("Input"),
    main_output: Some("Output"),
    aux_inputs: &[],
    aux_outputs: &AUX_NAMES,
};

impl Plugin for DannaSep {
    const NAME: &'static str = "Danna-Sep";
    const VENDOR: &'static str = "Danna-Sep RT";
    const URL: &'static str = "";
    const EMAIL: &'static str = "";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: STEREO,
            main_output_channels: STEREO,
            aux_input_ports: &[],
            aux_output_ports: &[new_nonzero_u32(2); STEM_COUNT],
            names: PORT_NAMES,
        },
        AudioIOLayout {
            main_input_channels: MONO,
            main_output_channels: MONO,
            aux_input_ports: &[],
            aux_output_ports: &[new_nonzero_u32(1); STEM_COUNT],
            names: PORT_NAMES,
        },
    ];

    type Editor = editor::DannaEditor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn filter_state(state: &mut PluginState) {
        state::normalize(state);
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.hub.clone())
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        // Replacing a previous engine does not wait for its worker (see `stop_engine`).
        self.stop_engine();
        // Checked before anything is allocated for it: the engine's buffers scale with both.
        let bounds = match EngineBounds::of(config) {
            Ok(bounds) => bounds,
            Err(e) => {
                let reason = format!("the host's configuration was refused: {e}");
                nice_error!("{reason}");
                self.hub.refuse(reason);
                return false;
            }
        };
        // The composition root: the environment is read here, once per activation.
        let env = Config::from_env();
        let tier = self.params.latency_tier();
        let budget = LatencyBudget::new(tier, bounds.sample_rate, bounds.max_block);
        let offline = config.process_mode == ProcessMode::Offline;
        let reuse = match self.parked.take() {
            Some(p) if p.config == env => Some(p.backend),
            Some(p) => {
                p.backend.discard();
                None
            }
            None => None,
        };
        let engine_config = EngineConfig::new(budget)
            .offline(offline)
            .spec(self.params.backend_spec())
            .reusing(reuse)
            .threads(self.threads.clone());
        let (engine, worker, shared) = engine::build(
            engine_config,
            ensemble_factory_for(self.session_owner, &env, None),
        );
        shared.set_null_stems(self.params.null_stems());
        let facts = ActivationFacts {
            latency_samples: budget.total() as u32,
            sample_rate: config.sample_rate,
            max_block: budget.max_block as u32,
            tier,
        };
        context.set_latency_samples(facts.latency_samples);
        self.hub.activate(shared.clone(), facts);
        self.active = Some(ActiveEngine {
            engine,
            worker,
            shared,
            mixer: StemMixer::new(config.sample_rate, &self.params.mixer_settings()),
            facts,
            config: env,
            restart_requested: false,
        });
        true
    }

    fn reset(&mut self) {
        if let Some(a) = self.active.as_mut() {
            a.engine.reset();
        }
    }

    fn deactivate(&mut self) {
        self.hub.deactivate();
        self.stop_engine();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        // Subnormal input (decaying tails) would slow the mixing down; the host's own mode
        // comes back when this returns.
        let _ftz = danna_sep_core::dsp::finite::ScopedFlushToZero::new();
        let Some(a) = self.active.as_mut() else {
            return ProcessStatus::Normal;
        };
        if self.params.latency_tier() != a.facts.tier && !a.restart_requested {
            // The latency is fixed while active: ask the host to re-activate with the new tier.
            context.request_restart();
            a.restart_requested = true;
        }
        // Models and precision change without a restart: a staged swap on the worker (one
        // atomic store here when they changed, nothing otherwise).
        a.engine.request_backend(self.params.backend_spec());
        // Stems that null: one relaxed atomic store, read by the worker per window.
        a.shared.set_null_stems(self.params.null_stems());
        let settings = self.params.mixer_settings();
        let max = a.engine.budget().max_block;
        let n = buffer.samples();
        // Block peaks for the editor's meters: kept on the stack, published once at the end.
        let mut stem_peaks = [0.0f32; STEM_COUNT];
        let mut main_peak = 0.0f32;
        let mut start = 0;
        while start < n {
            let end = (start + max).min(n);
            let channels = buffer.as_slice();
            let block = {
                let left = &channels[0][start..end];
                let right = &channels[channels.len() - 1][start..end];
                a.engine.process(left, right)
            };
            for (s, p) in stem_peaks.iter_mut().enumerate() {
                *p = p.max(peak(block.stem(s, 0))).max(peak(block.stem(s, 1)));
            }
            let Some(main) = OutputChannels::from_channels(channels, start..end) else {
                return ProcessStatus::Normal;
            };
            let mut outs = aux.outputs.iter_mut();
            let aux_channels: [Option<OutputChannels>; STEM_COUNT] = std::array::from_fn(|_| {
                outs.next()
                    .and_then(|b| OutputChannels::from_channels(b.as_slice(), start..end))
            });
            a.mixer.mix(block, &settings, main, aux_channels);
            for ch in buffer.as_slice_immutable() {
                main_peak = main_peak.max(peak(&ch[start..end]));
            }
            start = end;
        }
        self.hub.meters.publish(stem_peaks, main_peak);
        ProcessStatus::Tail(a.engine.latency() as u32)
    }
}

impl ClapPlugin for DannaSep {
    const CLAP_ID: &'static str = "org.danna-sep.rt";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Real-time music source separation: drums, bass, other, vocals");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Stereo,
        ClapFeature::Mono,
        ClapFeature::Utility,
        ClapFeature::Mixing,
    ];
}

impl Vst3Plugin for DannaSep {
    const VST3_CLASS_ID: [u8; 16] = *b"DannaSepRTStems1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[
        Vst3SubCategory::Fx,
        Vst3SubCategory::Tools,
        Vst3SubCategory::Stereo,
    ];

    /// A host that says "offline" only in its blocks (Ardour's export) switches the running
    /// engine's mode on its processing thread: no re-activation, nothing allocated, the
    /// latency unchanged; the stream starts anew as it would after a re-activation.
    fn switch_process_mode(&mut self, mode: ProcessMode) -> bool {
        match self.active.as_mut() {
            Some(a) => {
                a.engine.set_offline(mode == ProcessMode::Offline);
                true
            }
            None => false,
        }
    }
}

nice_export_clap!(DannaSep);
nice_export_vst3!(DannaSep);
