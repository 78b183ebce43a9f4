//! A minimal in-process "host" that drives the plugin's `activate`/`reset`/`process` directly,
//! with nice-plug's own `Buffer` types, so tests see exactly what a DAW's calls do.
// Index loops over channels read more clearly than iterator chains here.
#![allow(clippy::needless_range_loop)]

use std::cell::Cell;
use std::num::NonZeroU32;

use danna_sep::DannaSep;
use nice_plug::context::process::SendEventError;
use nice_plug::prelude::*;

use danna_sep_core::engine::BackendState;
use danna_sep_testkit::use_quarter_model_set;

/// Records what the plugin asks of the host during activation.
pub struct TestActivateContext {
    pub latency: Cell<u32>,
}

impl ActivateContext<DannaSep> for TestActivateContext {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    fn execute(&self, _task: ()) {}
    fn set_latency_samples(&self, samples: u32) {
        self.latency.set(samples);
    }
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

/// Records what the plugin asks of the host during processing (no allocation).
pub struct TestProcessContext {
    pub transport: Transport,
    pub restart_requested: Cell<bool>,
    pub latency_changed: Cell<Option<u32>>,
}

impl ProcessContext<DannaSep> for TestProcessContext {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    fn execute_background(&self, _task: ()) {}
    fn execute_gui(&self, _task: ()) {}
    fn transport(&self) -> &Transport {
        &self.transport
    }
    fn next_event(&mut self) -> Option<PluginNoteEvent<DannaSep>> {
        None
    }
    fn try_send_event(
        &mut self,
        event: PluginNoteEvent<DannaSep>,
    ) -> Result<(), (PluginNoteEvent<DannaSep>, SendEventError)> {
        Err((event, SendEventError::HostBufferFull))
    }
    fn set_latency_samples(&self, samples: u32) {
        self.latency_changed.set(Some(samples));
    }
    fn request_restart(&self) {
        self.restart_requested.set(true);
    }
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

/// The plugin's stereo or mono layout.
pub fn layout(channels: u32) -> AudioIOLayout {
    DannaSep::AUDIO_IO_LAYOUTS
        .iter()
        .copied()
        .find(|l| l.main_output_channels == NonZeroU32::new(channels))
        .expect("layout")
}

/// A plugin instance activated at `rate` with `max_block`, and the buffers to drive it.
pub struct Driver {
    pub plugin: DannaSep,
    pub latency: u32,
    pub channels: usize,
    main: Vec<Vec<f32>>,
    aux: Vec<Vec<Vec<f32>>>,
    ctx: TestProcessContext,
}

/// The host configuration a driver activates with.
pub fn buffer_config(rate: f32, max_block: u32, mode: ProcessMode) -> BufferConfig {
    BufferConfig {
        sample_rate: rate,
        min_buffer_size: None,
        max_buffer_size: max_block,
        process_mode: mode,
    }
}

/// Calls `plugin.activate()` as a host would; its answer and the latency it reported.
pub fn activate(plugin: &mut DannaSep, channels: u32, config: &BufferConfig) -> (bool, u32) {
    use_quarter_model_set();
    let mut actx = TestActivateContext {
        latency: Cell::new(0),
    };
    let ok = plugin.activate(&layout(channels), config, &mut actx);
    (ok, actx.latency.get())
}

/// Buffers are allocated up front for blocks of up to this many frames, and grown (outside the
/// allocation check) when a test sends more, so an absurd announced maximum costs nothing.
const PREALLOCATED: usize = 1 << 16;

impl Driver {
    pub fn new(channels: u32, rate: f32, max_block: u32, mode: ProcessMode) -> Self {
        Self::with_plugin(DannaSep::default(), channels, rate, max_block, mode)
    }

    /// Activates (and resets) an existing instance, as a host's deactivate/activate cycle
    /// does: its previous activation's backend is reused where it can be.
    pub fn with_plugin(
        mut plugin: DannaSep,
        channels: u32,
        rate: f32,
        max_block: u32,
        mode: ProcessMode,
    ) -> Self {
        let config = buffer_config(rate, max_block, mode);
        let (ok, latency) = activate(&mut plugin, channels, &config);
        assert!(
            ok,
            "activate refused {config:?}: {:?}",
            plugin.hub().refusal()
        );
        plugin.reset();
        let c = channels as usize;
        let frames = (max_block as usize).min(PREALLOCATED);
        Self {
            plugin,
            latency,
            channels: c,
            main: vec![vec![0.0; frames]; c],
            aux: vec![vec![vec![0.0; frames]; c]; 4],
            ctx: TestProcessContext {
                transport: Transport::new(rate),
                restart_requested: Cell::new(false),
                latency_changed: Cell::new(None),
            },
        }
    }

    /// Deactivates the plugin as a host does and hands the instance back.
    pub fn deactivate(mut self) -> DannaSep {
        self.plugin.deactivate();
        self.plugin
    }

    pub fn context(&self) -> &TestProcessContext {
        &self.ctx
    }

    /// Resets the plugin as a host would on the audio thread, checked for allocations.
    pub fn reset(&mut self) {
        let plugin = &mut self.plugin;
        nice_assert_no_alloc::assert_no_alloc(|| plugin.reset());
    }

    /// Runs one block in place: `io[ch]` holds the input and receives the main output;
    /// `aux_out[stem][ch][..n]` receives the stems. Allocation free after construction.
    pub fn process(
        &mut self,
        io: &mut [&mut [f32]],
        aux_out: &mut [Vec<Vec<f32>>],
    ) -> ProcessStatus {
        let n = io[0].len();
        if n > self.main[0].len() {
            for ch in self.main.iter_mut().chain(self.aux.iter_mut().flatten()) {
                ch.resize(n, 0.0);
            }
        }
        for (ch, data) in io.iter().enumerate() {
            self.main[ch][..n].copy_from_slice(data);
        }
        let status = {
            let mut buffer = Buffer::default();
            let mut aux_buffers: [Buffer; 4] = Default::default();
            // SAFETY: the slices outlive the buffers, which are dropped at the end of this scope.
            unsafe {
                let main = &mut self.main;
                buffer.set_slices(n, |slices| {
                    slices.clear();
                    slices.extend(main.iter_mut().map(|c| &mut c[..n]));
                });
                for (b, a) in aux_buffers.iter_mut().zip(self.aux.iter_mut()) {
                    b.set_slices(n, |slices| {
                        slices.clear();
                        slices.extend(a.iter_mut().map(|c| &mut c[..n]));
                    });
                }
            }
            let mut aux = AuxiliaryBuffers {
                inputs: &mut [],
                outputs: &mut aux_buffers,
            };
            // The audio thread's rules: no allocation inside process(). Violations are counted
            // per thread by nice-assert-no-alloc (warn mode) and checked by the tests.
            let (plugin, ctx) = (&mut self.plugin, &mut self.ctx);
            nice_assert_no_alloc::assert_no_alloc(|| plugin.process(&mut buffer, &mut aux, ctx))
        };
        for (ch, data) in io.iter_mut().enumerate() {
            data.copy_from_slice(&self.main[ch][..n]);
        }
        for (dst, src) in aux_out.iter_mut().zip(&self.aux) {
            for (d, s) in dst.iter_mut().zip(src) {
                d[..n].copy_from_slice(&s[..n]);
            }
        }
        status
    }
}

/// Everything the plugin wrote during [`Driver::run`]: main channels, then per stem its aux
/// channels.
pub struct Output {
    pub main: Vec<Vec<f32>>,
    pub aux: Vec<Vec<Vec<f32>>>,
}

impl Driver {
    /// Waits (up to 30 s) until the worker has tried to create its backend and returns the
    /// outcome.
    pub fn settle(&self) -> BackendState {
        let shared = self.plugin.engine_shared().expect("active");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let s = shared.status.state();
            if s != BackendState::Loading {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "backend never started"
            );
            std::thread::yield_now();
        }
    }

    /// Feeds `input` (one vector per channel) in blocks of the given sizes and records every
    /// output; asserts that each block reports the latency as its tail.
    pub fn run(&mut self, input: &[Vec<f32>], blocks: &[usize]) -> Output {
        let total = input[0].len();
        let c = self.channels;
        let mut out = Output {
            main: vec![vec![0.0; total]; c],
            aux: vec![vec![vec![0.0; total]; c]; 4],
        };
        let max = *blocks.iter().max().unwrap();
        let mut io: Vec<Vec<f32>> = vec![vec![0.0; max]; c];
        let mut aux: Vec<Vec<Vec<f32>>> = vec![vec![vec![0.0; max]; c]; 4];
        let mut pos = 0;
        for &n in blocks {
            for ch in 0..c {
                io[ch][..n].copy_from_slice(&input[ch][pos..pos + n]);
            }
            let mut slices: Vec<&mut [f32]> = io.iter_mut().map(|v| &mut v[..n]).collect();
            let status = self.process(&mut slices, &mut aux);
            assert_eq!(
                status,
                ProcessStatus::Tail(self.latency),
                "the tail flushes the buffered audio"
            );
            for ch in 0..c {
                out.main[ch][pos..pos + n].copy_from_slice(&io[ch][..n]);
                for s in 0..4 {
                    out.aux[s][ch][pos..pos + n].copy_from_slice(&aux[s][ch][..n]);
                }
            }
            pos += n;
        }
        out
    }
}
