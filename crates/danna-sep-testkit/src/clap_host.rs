//! A minimal CLAP host on `clack-host`, enough to load the plugin, inspect its ports and
//! latency, and stream audio through it block by block.
//!
//! Host callbacks only flip atomics: they may be called from inside the plugin's `process`,
//! where nice-plug's allocation checker (debug builds) aborts on any allocation.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use clack_extensions::audio_ports::{
    AudioPortFlags, AudioPortInfoBuffer, AudioPortRescanFlags, HostAudioPorts, HostAudioPortsImpl,
    PluginAudioPorts,
};
use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::events::io::{EventBuffer, InputEvents, OutputEvents};
use clack_host::events::Pckn;
use clack_host::prelude::*;
use clack_host::utils::ClapId;

/// The plugin's CLAP id.
pub const PLUGIN_ID: &CStr = c"org.danna-sep.rt";

/// Overrides which CLAP file the tests load.
pub const ENV_CLAP_PATH: &str = "DANNA_SEP_CLAP_PATH";

/// The host's type-level description for clack.
pub struct TestHost;

/// Host state shared between threads: what the plugin asked for.
#[derive(Default)]
pub struct TestShared {
    /// The plugin called `request_restart`.
    pub restart_requested: AtomicBool,
    /// The plugin called `request_callback` (wants `on_main_thread`).
    pub callback_requested: AtomicBool,
    /// Number of `latency.changed()` notifications.
    pub latency_changed: AtomicU32,
}

impl SharedHandler<'_> for TestShared {
    fn request_restart(&self) {
        self.restart_requested.store(true, Ordering::SeqCst);
    }
    fn request_process(&self) {}
    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

/// Main-thread host state.
pub struct TestMainThread<'a> {
    shared: &'a TestShared,
}

impl<'a> MainThreadHandler<'a> for TestMainThread<'a> {}

impl HostLatencyImpl for TestMainThread<'_> {
    fn changed(&self) {
        self.shared.latency_changed.fetch_add(1, Ordering::SeqCst);
    }
}

impl HostAudioPortsImpl for TestMainThread<'_> {
    fn is_rescan_flag_supported(&self, _flag: AudioPortRescanFlags) -> bool {
        false
    }
    fn rescan(&self, _flags: AudioPortRescanFlags) {}
}

impl HostHandlers for TestHost {
    type Shared<'a> = TestShared;
    type MainThread<'a> = TestMainThread<'a>;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder
            .register::<HostLatency>()
            .register::<HostAudioPorts>();
    }
}

/// The CLAP library to test (see `plugin_binary::plugin_library`).
pub fn plugin_library() -> PathBuf {
    crate::plugin_binary::plugin_library(ENV_CLAP_PATH, "target/bundled/Danna-Sep.clap")
}

/// Loads the CLAP entry from `path`.
pub fn load_entry(path: &Path) -> PluginEntry {
    // SAFETY: loading a library runs its initialisers; this is our own plugin.
    unsafe { PluginEntry::load(path) }.unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// The ids of all plugins in the entry's factory.
pub fn plugin_ids(entry: &PluginEntry) -> Vec<String> {
    let factory = entry
        .get_plugin_factory()
        .expect("entry has a plugin factory");
    factory
        .plugin_descriptors()
        .filter_map(|d| d.id().map(|id| id.to_string_lossy().into_owned()))
        .collect()
}

/// Creates an instance of [`PLUGIN_ID`] on the current thread (its main thread).
pub fn instantiate(entry: &PluginEntry) -> PluginInstance<TestHost> {
    let info = HostInfo::new(
        "danna-sep test host",
        "danna-sep",
        "https://example.invalid",
        "0.1",
    )
    .unwrap();
    PluginInstance::<TestHost>::new(
        |_| TestShared::default(),
        |shared| TestMainThread { shared },
        entry,
        PLUGIN_ID,
        &info,
    )
    .expect("instantiating the plugin")
}

/// An audio port as the plugin describes it.
#[derive(Debug, Clone)]
pub struct PortInfo {
    /// Display name.
    pub name: String,
    /// Number of channels.
    pub channels: u32,
    /// Whether this is the main port of its direction.
    pub is_main: bool,
}

/// The plugin's input (`is_input`) or output ports.
pub fn audio_ports(instance: &mut PluginInstance<TestHost>, is_input: bool) -> Vec<PortInfo> {
    let handle = instance.plugin_handle();
    let ext = handle
        .get_extension::<PluginAudioPorts>()
        .expect("plugin implements audio-ports");
    let mut buffer = AudioPortInfoBuffer::new();
    (0..ext.count(&handle, is_input))
        .map(|i| {
            let info = ext
                .get(&handle, i, is_input, &mut buffer)
                .expect("audio port info");
            PortInfo {
                name: String::from_utf8_lossy(info.name).into_owned(),
                channels: info.channel_count,
                is_main: info.flags.contains(AudioPortFlags::IS_MAIN),
            }
        })
        .collect()
}

/// The latency the plugin reports, in samples.
pub fn latency(instance: &mut PluginInstance<TestHost>) -> u32 {
    let handle = instance.plugin_handle();
    let ext = handle
        .get_extension::<PluginLatency>()
        .expect("plugin implements latency");
    ext.get(&handle)
}

/// Switches between real-time and offline rendering (takes effect at the next activation).
pub fn set_offline(instance: &mut PluginInstance<TestHost>, offline: bool) {
    let handle = instance.plugin_handle();
    let ext = handle
        .get_extension::<PluginRender>()
        .expect("plugin implements render");
    let mode = if offline {
        RenderMode::Offline
    } else {
        RenderMode::Realtime
    };
    ext.set(&handle, mode).expect("render mode accepted");
}

/// A parameter as the plugin describes it over CLAP.
#[derive(Debug, Clone, Copy)]
pub struct ParamRef {
    /// The CLAP parameter id.
    pub id: ClapId,
    /// Lowest plain value.
    pub min: f64,
    /// Highest plain value.
    pub max: f64,
}

/// The parameter whose display name is `name`.
pub fn find_param(instance: &mut PluginInstance<TestHost>, name: &str) -> ParamRef {
    let handle = instance.plugin_handle();
    let ext = handle
        .get_extension::<PluginParams>()
        .expect("plugin implements params");
    let mut buffer = ParamInfoBuffer::new();
    (0..ext.count(&handle))
        .find_map(|i| {
            let info = ext.get_info(&handle, i, &mut buffer)?;
            (info.name == name.as_bytes()).then_some(ParamRef {
                id: info.id,
                min: info.min_value,
                max: info.max_value,
            })
        })
        .unwrap_or_else(|| panic!("no parameter named {name:?}"))
}

/// A parameter change the host sends with the block that contains `frame`.
#[derive(Debug, Clone, Copy)]
pub struct ParamChange {
    /// Stream frame the change happens at.
    pub frame: usize,
    /// Which parameter.
    pub param: ClapId,
    /// The new plain value.
    pub value: f64,
}

/// Value written into output buffers before each `process` call, to catch unwritten outputs.
pub const UNWRITTEN: f32 = 1.0e9;

/// The result of [`stream`]: `outputs[port][channel][frame]` and the latency reported after
/// activation.
pub struct StreamResult {
    /// All output ports' audio, as long as the input.
    pub outputs: Vec<Vec<Vec<f32>>>,
    /// Latency read right after activation.
    pub latency: u32,
    /// Latency read again after processing (must not change while active).
    pub latency_after: u32,
    /// Whether the plugin asked the host to restart it while streaming.
    pub restart_requested: bool,
}

/// Activates at `sample_rate` with `max_frames`, streams `input` (`[channel][frame]`, one
/// input port) through the plugin on a separate audio thread in blocks of the sizes produced by
/// `block_sizes` (cycled), and returns every output port's audio. `output_channels[p]` is the
/// channel count of output port `p`.
pub fn stream(
    instance: &mut PluginInstance<TestHost>,
    sample_rate: f64,
    max_frames: u32,
    input: &[Vec<f32>],
    output_channels: &[u32],
    block_sizes: &[usize],
) -> StreamResult {
    stream_with_changes(
        instance,
        sample_rate,
        max_frames,
        input,
        output_channels,
        block_sizes,
        &[],
    )
}

/// [`stream`] with parameter changes sent as CLAP events in the blocks they fall into, as a
/// host plays back automation.
pub fn stream_with_changes(
    instance: &mut PluginInstance<TestHost>,
    sample_rate: f64,
    max_frames: u32,
    input: &[Vec<f32>],
    output_channels: &[u32],
    block_sizes: &[usize],
    changes: &[ParamChange],
) -> StreamResult {
    let config = PluginAudioConfiguration {
        sample_rate,
        min_frames_count: 1,
        max_frames_count: max_frames,
    };
    let processor = instance
        .activate(|_, _| (), config)
        .expect("activating the plugin");
    let latency_before = latency(instance);
    instance.access_shared_handler(|s| s.restart_requested.store(false, Ordering::SeqCst));

    let total = input[0].len();
    let max = max_frames as usize;
    let (processor, outputs) = std::thread::scope(|s| {
        s.spawn(move || {
            let mut processor = processor.start_processing().expect("start_processing");
            let mut outputs: Vec<Vec<Vec<f32>>> = output_channels
                .iter()
                .map(|&c| vec![vec![0.0; total]; c as usize])
                .collect();
            let mut in_bufs: Vec<Vec<f32>> = vec![vec![0.0; max]; input.len()];
            let mut out_bufs: Vec<Vec<Vec<f32>>> = output_channels
                .iter()
                .map(|&c| vec![vec![0.0; max]; c as usize])
                .collect();
            let mut in_ports = AudioPorts::with_capacity(input.len(), 1);
            let total_out_channels = output_channels.iter().sum::<u32>() as usize;
            let mut out_ports =
                AudioPorts::with_capacity(total_out_channels, output_channels.len());

            let mut events = EventBuffer::with_capacity(changes.len().max(1));
            let mut pos = 0;
            let mut sizes = block_sizes.iter().cycle();
            while pos < total {
                let n = (*sizes.next().unwrap()).min(max).min(total - pos);
                events.clear();
                for c in changes.iter().filter(|c| (pos..pos + n).contains(&c.frame)) {
                    let time = (c.frame - pos) as u32;
                    events.push(&ParamValueEvent::new(
                        time,
                        c.param,
                        Pckn::match_all(),
                        c.value,
                    ));
                }
                for (buf, channel) in in_bufs.iter_mut().zip(input) {
                    buf[..n].copy_from_slice(&channel[pos..pos + n]);
                }
                for buf in out_bufs.iter_mut().flatten() {
                    buf[..n].fill(UNWRITTEN);
                }
                let inputs = in_ports.with_input_buffers([AudioPortBuffer {
                    latency: 0,
                    channels: AudioPortBufferType::f32_input_only(
                        in_bufs
                            .iter_mut()
                            .map(|b| InputChannel::variable(&mut b[..n])),
                    ),
                }]);
                let mut outs = out_ports.with_output_buffers(out_bufs.iter_mut().map(|port| {
                    AudioPortBuffer {
                        latency: 0,
                        channels: AudioPortBufferType::f32_output_only(
                            port.iter_mut().map(|b| &mut b[..n]),
                        ),
                    }
                }));
                processor
                    .process(
                        &inputs,
                        &mut outs,
                        &InputEvents::from_buffer(&events),
                        &mut OutputEvents::void(),
                        Some(pos as u64),
                        None,
                    )
                    .expect("process");
                for (port_out, port_buf) in outputs.iter_mut().zip(&out_bufs) {
                    for (channel_out, buf) in port_out.iter_mut().zip(port_buf) {
                        channel_out[pos..pos + n].copy_from_slice(&buf[..n]);
                    }
                }
                pos += n;
            }
            (processor.stop_processing(), outputs)
        })
        .join()
        .expect("audio thread panicked")
    });
    if instance.access_shared_handler(|s| s.callback_requested.swap(false, Ordering::SeqCst)) {
        instance.call_on_main_thread_callback();
    }
    let latency_after = latency(instance);
    let restart_requested =
        instance.access_shared_handler(|s| s.restart_requested.load(Ordering::SeqCst));
    instance.deactivate(processor);
    StreamResult {
        outputs,
        latency: latency_before,
        latency_after,
        restart_requested,
    }
}

/// Sets parameter `param` to the plain `value` while the plugin is inactive, as a host does
/// with `clap_plugin_params::flush()` (e.g. automation read before playback starts).
pub fn flush_param(instance: &mut PluginInstance<TestHost>, param: ClapId, value: f64) {
    let mut events = EventBuffer::with_capacity(1);
    events.push(&ParamValueEvent::new(0, param, Pckn::match_all(), value));
    let mut handle = instance
        .inactive_plugin_handle()
        .expect("flush_param needs an inactive plugin");
    let ext = handle
        .get_extension::<PluginParams>()
        .expect("plugin implements params");
    ext.flush(
        &mut handle,
        &InputEvents::from_buffer(&events),
        &mut OutputEvents::void(),
    );
}
