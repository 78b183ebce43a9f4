//! Danna-Sep RT: real-time music source separation (drums, bass, other, vocals) as a VST3 and
//! CLAP plugin. This file is the thin plugin glue; the work happens in [`engine`].

pub mod audio_file;
pub mod cli;
pub mod dsp;
pub mod editor;
pub mod engine;
pub mod ensemble;
pub mod modelset;
pub mod ort_runtime;
pub mod params;
pub mod separation;

use std::num::NonZeroU32;
use std::sync::Arc;

use nice_plug::prelude::*;

use editor::hub::{peak, ActiveInfo};
use editor::PluginHub;
use engine::{
    EngineConfig, EngineShared, InferenceWorker, LatencyBudget, LatencyTier, OutputChannels,
    StemMixer, StreamingEngine, STEM_COUNT,
};
use params::{DannaSepParams, ModelChoice, Precision};

/// Names of the four aux outputs, in stem order.
pub const AUX_NAMES: [&str; STEM_COUNT] = ["Drums", "Bass", "Other", "Vocals"];

/// Everything that exists only while the plugin is active.
struct ActiveEngine {
    engine: StreamingEngine,
    // Dropped in `deactivate()` on the main thread, which joins the worker.
    _worker: InferenceWorker,
    shared: Arc<EngineShared>,
    mixer: StemMixer,
    tier: LatencyTier,
    model: ModelChoice,
    precision: Precision,
    restart_requested: bool,
}

/// The plugin.
pub struct DannaSep {
    params: Arc<DannaSepParams>,
    active: Option<ActiveEngine>,
    // Shared with the editor: engine status for the GUI, meters from the audio thread.
    hub: Arc<PluginHub>,
}

impl Default for DannaSep {
    // Hosts create instances while scanning: nothing expensive happens here.
    fn default() -> Self {
        Self {
            params: Arc::new(DannaSepParams::default()),
            active: None,
            hub: Arc::new(PluginHub::default()),
        }
    }
}

impl DannaSep {
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

    /// What the plugin shares with its editor (for the GUI and tests).
    pub fn hub(&self) -> &Arc<PluginHub> {
        &self.hub
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

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.hub.clone())
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        // Replacing a previous engine joins its worker here, on the main thread.
        self.active = None;
        let tier = self.params.tier.value();
        let budget = LatencyBudget::new(
            tier,
            config.sample_rate.round() as u32,
            config.max_buffer_size.max(1) as usize,
        );
        let offline = config.process_mode == ProcessMode::Offline;
        let hub = self.hub.clone();
        let (model, precision) = (self.params.model.value(), self.params.precision.value());
        let factory = separation::backend_factory_reporting(model, precision, None, move |set| {
            hub.set_model_set(Some(editor::view_model::ModelSetSummary::of(set)))
        });
        let (engine, worker, shared) = engine::build(EngineConfig { budget, offline }, factory);
        context.set_latency_samples(budget.total() as u32);
        self.hub.activate(
            shared.clone(),
            ActiveInfo {
                latency_samples: budget.total() as u32,
                sample_rate: config.sample_rate,
                max_block: budget.max_block as u32,
                tier,
                model,
                precision,
            },
        );
        self.active = Some(ActiveEngine {
            engine,
            _worker: worker,
            shared,
            mixer: StemMixer::new(config.sample_rate, &self.params.mixer_settings()),
            tier,
            model,
            precision,
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
        self.active = None;
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let Some(a) = self.active.as_mut() else {
            return ProcessStatus::Normal;
        };
        if (self.params.tier.value() != a.tier
            || self.params.model.value() != a.model
            || self.params.precision.value() != a.precision)
            && !a.restart_requested
        {
            // The latency is fixed while active, and the models load on re-activation: ask the
            // host to re-activate with the new tier, model choice or precision.
            context.request_restart();
            a.restart_requested = true;
        }
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
}

nice_export_clap!(DannaSep);
nice_export_vst3!(DannaSep);
