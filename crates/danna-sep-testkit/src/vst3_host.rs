//! A minimal VST3 host on the `vst3` crate's bindings, enough to load the plugin module the way
//! a DAW does on Linux (`dlopen`, `ModuleEntry`, `GetPluginFactory`), create the component,
//! inspect its buses and stream audio through `IAudioProcessor::process`.
//!
//! Every interface pointer the host holds is a `ComPtr`, so references are released when it is
//! dropped; [`release_last`] releases the final one by hand and returns the count the object
//! reports, so tests can check that nothing (host or plugin) kept a reference it should not have.
//!
//! The host objects given to the plugin (`IHostApplication`, `IComponentHandler`) only flip
//! atomics: nice-plug calls the handler from whichever thread asks for a restart (the host's
//! main thread, or its own background thread for requests made while processing), and nothing
//! the host does on the audio thread may allocate (nice-plug's allocation checker is active in
//! debug builds).

use std::ffi::{c_char, c_void};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::ptr::{null_mut, NonNull};
use std::sync::atomic::{AtomicU32, Ordering};

use libloading::os::unix::Library;

use crate::plugin_binary;
use vst3::Steinberg::IBStream_::IStreamSeekMode_::{kIBSeekCur, kIBSeekEnd, kIBSeekSet};
use vst3::Steinberg::Vst::ParameterInfo;
use vst3::Steinberg::Vst::{
    AudioBusBuffers, AudioBusBuffers__type0, BusDirection, BusDirections_, BusInfo, BusTypes_,
    IAudioProcessor, IAudioProcessorTrait, IComponent, IComponentHandler, IComponentHandlerTrait,
    IComponentTrait, IEditController, IEditControllerTrait, IHostApplication,
    IHostApplicationTrait, MediaTypes_, ParamID, ParamValue, ProcessContext,
    ProcessContext_::StatesAndFlags_, ProcessData, ProcessModes_, ProcessSetup, RestartFlags_,
    SpeakerArrangement, String128, SymbolicSampleSizes_,
};
use vst3::Steinberg::{
    int32, int64, kInvalidArgument, kNotImplemented, kResultOk, tresult, FUnknown, IBStream,
    IBStreamTrait, IPluginBaseTrait, IPluginFactory, IPluginFactory2, IPluginFactory2Trait,
    IPluginFactoryTrait, PClassInfo, PClassInfo2, TUID,
};
use vst3::{Class, ComPtr, ComWrapper, Interface};

/// Overrides which VST3 module (the `.so` inside the bundle, or any cdylib) the tests load.
pub const ENV_VST3_PATH: &str = "DANNA_SEP_VST3_PATH";

/// The module inside the bundle `cargo xtask bundle danna-sep` writes.
pub const BUNDLE_MODULE: &str = "target/bundled/Danna-Sep.vst3/Contents/x86_64-linux/Danna-Sep.so";

// The SDK's enums are unsigned on Linux while the fields and parameters that take them are
// `int32`; converted once here.
pub const AUDIO: int32 = MediaTypes_::kAudio as int32;
pub const EVENT: int32 = MediaTypes_::kEvent as int32;
pub const INPUT: BusDirection = BusDirections_::kInput as BusDirection;
pub const OUTPUT: BusDirection = BusDirections_::kOutput as BusDirection;
pub const MAIN_BUS: int32 = BusTypes_::kMain as int32;
pub const AUX_BUS: int32 = BusTypes_::kAux as int32;
pub const SAMPLE_32: int32 = SymbolicSampleSizes_::kSample32 as int32;
pub const SAMPLE_64: int32 = SymbolicSampleSizes_::kSample64 as int32;
pub const OFFLINE: int32 = ProcessModes_::kOffline as int32;
pub const REALTIME: int32 = ProcessModes_::kRealtime as int32;
pub const LATENCY_CHANGED: int32 = RestartFlags_::kLatencyChanged as int32;

/// The VST3 module to test (the same rules as the CLAP host test; see
/// `tests/common/plugin_binary.rs`).
pub fn plugin_library() -> PathBuf {
    plugin_binary::plugin_library(ENV_VST3_PATH, BUNDLE_MODULE)
}

/// Releases `ptr` and returns the reference count the object reports afterwards: 0 means it was
/// destroyed, i.e. nobody else still held a reference.
pub fn release_last<I: Interface>(ptr: ComPtr<I>) -> u32 {
    // Every COM interface starts with FUnknown's vtable, so any interface pointer can be
    // released through it.
    let raw = ptr.into_raw() as *mut FUnknown;
    // SAFETY: `raw` is a live interface pointer whose reference `into_raw` handed to us.
    unsafe { ((*(*raw).vtbl).release)(raw) }
}

/// The number of references to a host object the test created (its own included).
pub fn ref_count<C: Class, I: Interface>(object: &ComWrapper<C>) -> u32 {
    release_last(
        object
            .to_com_ptr::<I>()
            .expect("host object implements the interface"),
    )
}

/// A NUL-terminated `char8` array as a `String`.
fn c_string(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A NUL-terminated UTF-16 array as a `String`.
fn u16_string(chars: &[u16]) -> String {
    let end = chars.iter().position(|&c| c == 0).unwrap_or(chars.len());
    String::from_utf16_lossy(&chars[..end])
}

/// One class of the module's factory.
#[derive(Debug, Clone)]
pub struct ClassInfo {
    pub cid: TUID,
    pub category: String,
    pub name: String,
    /// From `IPluginFactory2` (empty if the factory does not implement it).
    pub subcategories: String,
    pub vendor: String,
}

/// A loaded VST3 module: the library, entered with `ModuleEntry`, and its factory.
///
/// Hosts may load the same module more than once (the SDK's `ModuleEntry` counts calls for that
/// reason), and `cargo test` runs tests in parallel, so each test loads its own and the dynamic
/// loader shares the mapping.
pub struct Module {
    // Declared before `lib`, so that on an early exit (a failed assertion) the factory is
    // released before the library is closed.
    factory: Option<ComPtr<IPluginFactory>>,
    lib: Option<Library>,
}

impl Module {
    /// `dlopen`s `path`, calls `ModuleEntry` with the library handle (the Linux VST3 module
    /// entry point) and gets the factory from `GetPluginFactory`.
    pub fn load(path: &Path) -> Module {
        // SAFETY: loading runs the library's initialisers; this is our own plugin.
        let lib = unsafe { Library::new(path) }
            .unwrap_or_else(|e| panic!("dlopen {}: {e}", path.display()));
        // The SDK passes the handle `dlopen` returned; borrow it and give it back.
        let handle = lib.into_raw();
        // SAFETY: `handle` came from `into_raw` just above.
        let lib = unsafe { Library::from_raw(handle) };
        // SAFETY: the signatures are the VST3 SDK's (linuxmain.cpp, ipluginbase.h).
        unsafe {
            let entry = lib
                .get::<extern "C" fn(*mut c_void) -> bool>(b"ModuleEntry\0")
                .expect("module exports ModuleEntry");
            assert!(entry(handle), "ModuleEntry returned false");
            let get_factory = lib
                .get::<extern "system" fn() -> *mut c_void>(b"GetPluginFactory\0")
                .expect("module exports GetPluginFactory");
            // The factory comes with one reference, which the ComPtr now owns.
            let factory = ComPtr::from_raw(get_factory() as *mut IPluginFactory)
                .expect("GetPluginFactory returned a factory");
            Module {
                factory: Some(factory),
                lib: Some(lib),
            }
        }
    }

    fn factory(&self) -> &ComPtr<IPluginFactory> {
        self.factory.as_ref().expect("module is open")
    }

    /// The factory's classes.
    pub fn classes(&self) -> Vec<ClassInfo> {
        let factory = self.factory();
        let factory2 = factory.cast::<IPluginFactory2>();
        // SAFETY: plain calls with out-parameters the factory fills in.
        let count = unsafe { factory.countClasses() };
        (0..count)
            .map(|i| unsafe {
                let mut info: PClassInfo = std::mem::zeroed();
                assert_eq!(factory.getClassInfo(i, &mut info), kResultOk, "class {i}");
                let (subcategories, vendor) = match &factory2 {
                    Some(f2) => {
                        let mut info2: PClassInfo2 = std::mem::zeroed();
                        assert_eq!(f2.getClassInfo2(i, &mut info2), kResultOk, "class {i}");
                        assert_eq!(
                            info2.cid, info.cid,
                            "getClassInfo2({i}) describes the class"
                        );
                        (c_string(&info2.subCategories), c_string(&info2.vendor))
                    }
                    None => (String::new(), String::new()),
                };
                ClassInfo {
                    cid: info.cid,
                    category: c_string(&info.category),
                    name: c_string(&info.name),
                    subcategories,
                    vendor,
                }
            })
            .collect()
    }

    /// Releases the factory, calls `ModuleExit` and closes the library. Returns the reference
    /// count the factory reported on its last release (0 if nothing else held it).
    pub fn close(mut self) -> u32 {
        let factory_refs = release_last(self.factory.take().expect("module is open"));
        let lib = self.lib.take().expect("module is open");
        // SAFETY: the SDK's signature; every object of the module has been released.
        unsafe {
            let exit = lib
                .get::<extern "C" fn() -> bool>(b"ModuleExit\0")
                .expect("module exports ModuleExit");
            assert!(exit(), "ModuleExit returned false");
        }
        lib.close().expect("dlclose");
        factory_refs
    }
}

/// The host's `IHostApplication`, passed to `initialize` like a DAW does.
pub struct HostApplication;

impl Class for HostApplication {
    type Interfaces = (IHostApplication,);
}

impl IHostApplicationTrait for HostApplication {
    unsafe fn getName(&self, name: *mut String128) -> tresult {
        let Some(mut name) = NonNull::new(name) else {
            return vst3::Steinberg::kInvalidArgument;
        };
        // SAFETY: the caller passes a String128 to fill in.
        let name = unsafe { name.as_mut() };
        name.fill(0);
        for (dst, src) in name
            .iter_mut()
            .zip("danna-sep VST3 test host".encode_utf16())
        {
            *dst = src;
        }
        kResultOk
    }

    unsafe fn createInstance(
        &self,
        _cid: *mut TUID,
        _iid: *mut TUID,
        obj: *mut *mut c_void,
    ) -> tresult {
        // No IMessage/IAttributeList: nice-plug's single-component wrapper needs no connection
        // between a separate processor and controller.
        if !obj.is_null() {
            // SAFETY: checked for null; the caller passes an out-parameter.
            unsafe { *obj = null_mut() };
        }
        kNotImplemented
    }
}

/// The host's `IComponentHandler`: counts what the plugin asks for.
#[derive(Default)]
pub struct ComponentHandler {
    /// `restartComponent` calls with `kLatencyChanged` set.
    pub latency_restarts: AtomicU32,
    /// All `restartComponent` calls.
    pub restarts: AtomicU32,
}

impl Class for ComponentHandler {
    type Interfaces = (IComponentHandler,);
}

impl IComponentHandlerTrait for ComponentHandler {
    unsafe fn beginEdit(&self, _id: ParamID) -> tresult {
        kResultOk
    }

    unsafe fn performEdit(&self, _id: ParamID, _value_normalized: ParamValue) -> tresult {
        kResultOk
    }

    unsafe fn endEdit(&self, _id: ParamID) -> tresult {
        kResultOk
    }

    unsafe fn restartComponent(&self, flags: int32) -> tresult {
        self.restarts.fetch_add(1, Ordering::SeqCst);
        if flags & LATENCY_CHANGED != 0 {
            self.latency_restarts.fetch_add(1, Ordering::SeqCst);
        }
        kResultOk
    }
}

/// An audio bus as the plugin describes it.
#[derive(Debug, Clone)]
pub struct Bus {
    pub name: String,
    pub channels: i32,
    pub bus_type: i32,
    pub flags: u32,
    pub arrangement: SpeakerArrangement,
}

/// What the plugin reported before, during and after one activation, and its output.
pub struct Run {
    /// `outputs[bus][channel][frame]`, as long as the input.
    pub outputs: Vec<Vec<Vec<f32>>>,
    /// `getLatencySamples()` right after `setActive(true)`.
    pub latency: u32,
    /// `getLatencySamples()` again after processing (must not change while active).
    pub latency_after: u32,
    /// `getTailSamples()` after the last block.
    pub tail: u32,
    /// `getTailSamples()` after `setActive(true)` and `setProcessing(true)`, before any block.
    pub tail_before_first_block: u32,
    /// With [`OutputBuses::MainOnly`]: the poisoned bus past the array still holds [`POISON`]
    /// everywhere (always true with [`OutputBuses::All`]).
    pub poison_intact: bool,
    /// `restartComponent(kLatencyChanged)` calls during `setActive(true)`.
    pub latency_restarts_on_activate: u32,
    /// Further `restartComponent` calls while processing.
    pub restarts_while_processing: u32,
}

/// Value written into output buffers before each `process` call, to catch unwritten outputs.
pub const UNWRITTEN: f32 = 1.0e9;

/// Value of the buffers behind the poisoned bus that follows the host's output bus array when
/// it passes only the main bus ([`OutputBuses::MainOnly`]).
pub const POISON: f32 = -7.0e8;

/// Which output buses the host passes to `process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputBuses {
    /// Every bus the plugin declares.
    All,
    /// Only the main bus (`numOutputs = 1`). The array is followed by a poisoned
    /// `AudioBusBuffers` entry with valid pointers to buffers filled with [`POISON`], so that a
    /// plugin reading past the array writes there (and [`Run::poison_intact`] turns false)
    /// instead of reading garbage.
    MainOnly,
}

/// One plugin instance: the component and the interfaces a host queries from it. Borrows the
/// module so it cannot outlive the library its code lives in.
pub struct Instance<'m> {
    pub component: ComPtr<IComponent>,
    pub processor: ComPtr<IAudioProcessor>,
    pub controller: ComPtr<IEditController>,
    pub host: ComWrapper<HostApplication>,
    pub handler: ComWrapper<ComponentHandler>,
    _module: PhantomData<&'m Module>,
}

impl<'m> Instance<'m> {
    /// Creates class `cid` as an `IComponent`, initialises it with a host context and connects
    /// the component handler, as a DAW does when inserting the plugin.
    pub fn new(module: &'m Module, cid: &TUID) -> Instance<'m> {
        let host = ComWrapper::new(HostApplication);
        let handler = ComWrapper::new(ComponentHandler::default());
        // SAFETY: out-parameter calls on live objects; returned references are owned by ComPtrs.
        unsafe {
            let mut obj: *mut c_void = null_mut();
            let result = module.factory().createInstance(
                cid.as_ptr(),
                IComponent::IID.as_ptr() as *const c_char,
                &mut obj,
            );
            assert_eq!(result, kResultOk, "createInstance(IComponent)");
            let component =
                ComPtr::from_raw(obj as *mut IComponent).expect("createInstance returned null");
            let host_context = host
                .as_com_ref::<IHostApplication>()
                .expect("IHostApplication")
                .as_ptr() as *mut FUnknown;
            assert_eq!(component.initialize(host_context), kResultOk, "initialize");

            // No separate controller class: the component is its own edit controller, which a
            // host then finds by querying the component (and must not initialise twice).
            let mut controller_cid: TUID = [0; 16];
            assert_ne!(
                component.getControllerClassId(&mut controller_cid),
                kResultOk,
                "nice-plug plugins are single-component"
            );
            let controller = component
                .cast::<IEditController>()
                .expect("the component implements IEditController");
            let handler_ptr = handler
                .as_com_ref::<IComponentHandler>()
                .expect("IComponentHandler")
                .as_ptr();
            assert_eq!(
                controller.setComponentHandler(handler_ptr),
                kResultOk,
                "setComponentHandler"
            );
            let processor = component
                .cast::<IAudioProcessor>()
                .expect("the component implements IAudioProcessor");
            Instance {
                component,
                processor,
                controller,
                host,
                handler,
                _module: PhantomData,
            }
        }
    }

    /// The audio buses in direction `dir`.
    pub fn audio_buses(&self, dir: BusDirection) -> Vec<Bus> {
        // SAFETY: out-parameter calls on a live component.
        unsafe {
            let count = self.component.getBusCount(AUDIO, dir);
            (0..count)
                .map(|i| {
                    let mut info: BusInfo = std::mem::zeroed();
                    assert_eq!(
                        self.component.getBusInfo(AUDIO, dir, i, &mut info),
                        kResultOk,
                        "getBusInfo({dir}, {i})"
                    );
                    assert_eq!((info.mediaType, info.direction), (AUDIO, dir));
                    let mut arrangement: SpeakerArrangement = 0;
                    assert_eq!(
                        self.processor.getBusArrangement(dir, i, &mut arrangement),
                        kResultOk,
                        "getBusArrangement({dir}, {i})"
                    );
                    Bus {
                        name: u16_string(&info.name),
                        channels: info.channelCount,
                        bus_type: info.busType,
                        flags: info.flags,
                        arrangement,
                    }
                })
                .collect()
        }
    }

    /// `setBusArrangements` with one input and `outputs.len()` outputs.
    pub fn set_arrangements(
        &self,
        input: SpeakerArrangement,
        outputs: &[SpeakerArrangement],
    ) -> tresult {
        let mut inputs = [input];
        let mut outputs = outputs.to_vec();
        // SAFETY: the arrays live for the duration of the call.
        unsafe {
            self.processor.setBusArrangements(
                inputs.as_mut_ptr(),
                1,
                outputs.as_mut_ptr(),
                outputs.len() as int32,
            )
        }
    }

    /// `setupProcessing` for offline rendering at `rate` with blocks of up to `max_block`.
    pub fn setup_offline(&self, rate: f64, max_block: usize) {
        self.setup_processing(OFFLINE, rate, max_block);
    }

    /// `setupProcessing` in `mode` at `rate` with blocks of up to `max_block`.
    pub fn setup_processing(&self, mode: int32, rate: f64, max_block: usize) {
        let mut setup = ProcessSetup {
            processMode: mode,
            symbolicSampleSize: SAMPLE_32,
            maxSamplesPerBlock: max_block as int32,
            sampleRate: rate,
        };
        // One call, as a DAW switching to an offline bounce makes it: the plugin must activate
        // in offline mode and wait for its worker (stock nice-plug 0.4.2 applied the mode one
        // call late; see vendor/README.md).
        // SAFETY: `setup` lives for the duration of the call.
        let result = unsafe { self.processor.setupProcessing(&mut setup) };
        assert_eq!(result, kResultOk, "setupProcessing({rate} Hz)");
    }

    /// The latency the plugin reports, in samples.
    pub fn latency(&self) -> u32 {
        // SAFETY: a plain getter.
        unsafe { self.processor.getLatencySamples() }
    }

    /// Sets up offline processing at `rate` with blocks of up to `max_block`, activates,
    /// streams `input` (`[channel][frame]`, the main input bus) through `process` on a separate
    /// audio thread in blocks of the sizes in `blocks` (cycled), deactivates and returns every
    /// output bus's audio. `output_channels[b]` is the channel count of output bus `b`.
    pub fn run_offline(
        &self,
        rate: f64,
        max_block: usize,
        input: &[Vec<f32>],
        output_channels: &[usize],
        blocks: &[usize],
    ) -> Run {
        self.run_offline_buses(
            rate,
            max_block,
            input,
            output_channels,
            blocks,
            OutputBuses::All,
        )
    }

    /// [`Self::run_offline`] passing only the output buses `buses` says; with
    /// [`OutputBuses::MainOnly`] the run has the main bus's audio only.
    pub fn run_offline_buses(
        &self,
        rate: f64,
        max_block: usize,
        input: &[Vec<f32>],
        output_channels: &[usize],
        blocks: &[usize],
        buses: OutputBuses,
    ) -> Run {
        self.setup_offline(rate, max_block);
        self.activate_and_stream(rate, max_block, input, output_channels, blocks, buses)
    }

    /// [`Self::run_offline`] as Ardour 7 exports: `setupProcessing(kRealtime)`, and only the
    /// blocks' `ProcessData::processMode` says offline.
    pub fn run_offline_blocks_only(
        &self,
        rate: f64,
        max_block: usize,
        input: &[Vec<f32>],
        output_channels: &[usize],
        blocks: &[usize],
    ) -> Run {
        self.setup_processing(REALTIME, rate, max_block);
        self.activate_and_stream(
            rate,
            max_block,
            input,
            output_channels,
            blocks,
            OutputBuses::All,
        )
    }

    /// The part of a run after `setupProcessing`: activate, stream offline blocks, deactivate.
    fn activate_and_stream(
        &self,
        rate: f64,
        max_block: usize,
        input: &[Vec<f32>],
        output_channels: &[usize],
        blocks: &[usize],
        buses: OutputBuses,
    ) -> Run {
        let restarts_before = self.handler.latency_restarts.load(Ordering::SeqCst);
        // SAFETY: plain calls on a live component.
        assert_eq!(
            unsafe { self.component.setActive(1) },
            kResultOk,
            "setActive(true)"
        );
        // A DAW reacts to kLatencyChanged by reading the latency again: the restart request must
        // come after the new latency is readable, which it is here (synchronously, on the thread
        // that created the instance, i.e. the host's main thread).
        let latency = self.latency();
        let latency_restarts_on_activate =
            self.handler.latency_restarts.load(Ordering::SeqCst) - restarts_before;
        let restarts_before = self.handler.restarts.load(Ordering::SeqCst);

        let processor = &self.processor;
        let streamed = std::thread::scope(|s| {
            s.spawn(|| {
                stream(
                    processor,
                    rate,
                    max_block,
                    input,
                    output_channels,
                    blocks,
                    buses,
                )
            })
            .join()
            .expect("audio thread panicked")
        });

        let latency_after = self.latency();
        // SAFETY: a plain call on a live component.
        assert_eq!(
            unsafe { self.component.setActive(0) },
            kResultOk,
            "setActive(false)"
        );
        Run {
            outputs: streamed.outputs,
            latency,
            latency_after,
            tail: streamed.tail,
            tail_before_first_block: streamed.tail_before_first_block,
            poison_intact: streamed.poison_intact,
            latency_restarts_on_activate,
            restarts_while_processing: self.handler.restarts.load(Ordering::SeqCst)
                - restarts_before,
        }
    }

    /// Terminates the instance and releases every reference the host holds. Returns the
    /// reference count the component reported on its last release (0 if the plugin kept no
    /// reference to itself) and those of the host's own objects afterwards (1 each, their
    /// `ComWrapper`, if the plugin released everything it had been given).
    pub fn terminate(self) -> (u32, u32, u32) {
        let Instance {
            component,
            processor,
            controller,
            host,
            handler,
            _module,
        } = self;
        // SAFETY: a plain call on a live component.
        assert_eq!(unsafe { component.terminate() }, kResultOk, "terminate");
        drop(processor);
        drop(controller);
        let component_refs = release_last(component);
        let host_refs = ref_count::<_, IHostApplication>(&host);
        let handler_refs = ref_count::<_, IComponentHandler>(&handler);
        (component_refs, host_refs, handler_refs)
    }
}

/// What [`stream`] observed.
struct Streamed {
    outputs: Vec<Vec<Vec<f32>>>,
    tail: u32,
    tail_before_first_block: u32,
    poison_intact: bool,
}

/// The audio thread's part of [`Instance::run_offline_buses`]: `setProcessing(true)`,
/// `getTailSamples()`, the blocks, `getTailSamples()`, `setProcessing(false)`.
fn stream(
    processor: &ComPtr<IAudioProcessor>,
    rate: f64,
    max_block: usize,
    input: &[Vec<f32>],
    output_channels: &[usize],
    blocks: &[usize],
    buses: OutputBuses,
) -> Streamed {
    let total = input[0].len();
    // The buses passed each block.
    let output_channels = match buses {
        OutputBuses::All => output_channels,
        OutputBuses::MainOnly => &output_channels[..1],
    };
    let mut outputs: Vec<Vec<Vec<f32>>> = output_channels
        .iter()
        .map(|&c| vec![vec![0.0; total]; c])
        .collect();
    // Separate input and output buffers (not in place), as most hosts use.
    let mut in_bufs: Vec<Vec<f32>> = vec![vec![0.0; max_block]; input.len()];
    let mut out_bufs: Vec<Vec<Vec<f32>>> = output_channels
        .iter()
        .map(|&c| vec![vec![0.0; max_block]; c])
        .collect();
    // Channel pointer arrays, refreshed before every call (the buffers themselves never move).
    let mut in_ptrs: Vec<*mut f32> = vec![null_mut(); input.len()];
    let mut out_ptrs: Vec<Vec<*mut f32>> = output_channels
        .iter()
        .map(|&c| vec![null_mut(); c])
        .collect();
    let mut out_buses: Vec<AudioBusBuffers> = output_channels
        .iter()
        .map(|&c| AudioBusBuffers {
            numChannels: c as int32,
            silenceFlags: 0,
            __field0: AudioBusBuffers__type0 {
                channelBuffers32: null_mut(),
            },
        })
        .collect();
    // The poisoned entry after the array: a stereo bus whose buffers hold POISON.
    let mut poison_bufs: Vec<Vec<f32>> = vec![vec![POISON; max_block]; 2];
    let mut poison_ptrs: Vec<*mut f32> = poison_bufs.iter_mut().map(|b| b.as_mut_ptr()).collect();
    if buses == OutputBuses::MainOnly {
        out_buses.push(AudioBusBuffers {
            numChannels: 2,
            silenceFlags: 0,
            __field0: AudioBusBuffers__type0 {
                channelBuffers32: poison_ptrs.as_mut_ptr(),
            },
        });
    }
    // SAFETY: a zeroed ProcessContext is valid (all plain numbers).
    let mut context: ProcessContext = unsafe { std::mem::zeroed() };
    context.state = StatesAndFlags_::kPlaying;
    context.sampleRate = rate;

    // SAFETY (all calls below): the pointers in `data` point into the buffers above, which
    // outlive the calls; the plugin writes at most `numSamples` frames per channel.
    let call = |data: &mut ProcessData| unsafe { processor.process(data) };
    assert_eq!(
        unsafe { processor.setProcessing(1) },
        kResultOk,
        "setProcessing(true)"
    );
    // SAFETY: a plain getter.
    let tail_before_first_block = unsafe { processor.getTailSamples() };

    // Some hosts flush parameter changes with an empty block; it must not disturb the stream.
    let mut flush = ProcessData {
        processMode: OFFLINE,
        symbolicSampleSize: SAMPLE_32,
        numSamples: 0,
        numInputs: 0,
        numOutputs: 0,
        inputs: null_mut(),
        outputs: null_mut(),
        inputParameterChanges: null_mut(),
        outputParameterChanges: null_mut(),
        inputEvents: null_mut(),
        outputEvents: null_mut(),
        processContext: &mut context,
    };
    assert_eq!(call(&mut flush), kResultOk, "parameter flush");

    let mut pos = 0;
    let mut sizes = blocks.iter().cycle();
    while pos < total {
        let n = (*sizes.next().unwrap()).min(max_block).min(total - pos);
        for (buf, channel) in in_bufs.iter_mut().zip(input) {
            buf[..n].copy_from_slice(&channel[pos..pos + n]);
        }
        for buf in out_bufs.iter_mut().flatten() {
            buf[..n].fill(UNWRITTEN);
        }
        for (p, buf) in in_ptrs.iter_mut().zip(&mut in_bufs) {
            *p = buf.as_mut_ptr();
        }
        for ((bus, ptrs), bufs) in out_buses.iter_mut().zip(&mut out_ptrs).zip(&mut out_bufs) {
            for (p, buf) in ptrs.iter_mut().zip(bufs.iter_mut()) {
                *p = buf.as_mut_ptr();
            }
            bus.__field0.channelBuffers32 = ptrs.as_mut_ptr();
        }
        let mut in_bus = AudioBusBuffers {
            numChannels: in_ptrs.len() as int32,
            silenceFlags: 0,
            __field0: AudioBusBuffers__type0 {
                channelBuffers32: in_ptrs.as_mut_ptr(),
            },
        };
        context.projectTimeSamples = pos as i64;
        context.continousTimeSamples = pos as i64;
        let mut data = ProcessData {
            processMode: OFFLINE,
            symbolicSampleSize: SAMPLE_32,
            numSamples: n as int32,
            numInputs: 1,
            numOutputs: output_channels.len() as int32,
            inputs: &mut in_bus,
            outputs: out_buses.as_mut_ptr(),
            inputParameterChanges: null_mut(),
            outputParameterChanges: null_mut(),
            inputEvents: null_mut(),
            outputEvents: null_mut(),
            processContext: &mut context,
        };
        assert_eq!(call(&mut data), kResultOk, "process at frame {pos}");
        for (b, (bus_out, bus_buf)) in outputs.iter_mut().zip(&out_bufs).enumerate() {
            for (c, (channel_out, buf)) in bus_out.iter_mut().zip(bus_buf).enumerate() {
                if let Some(i) = buf[..n]
                    .iter()
                    .position(|&v| v == UNWRITTEN || !v.is_finite())
                {
                    panic!(
                        "output bus {b} channel {c} frame {} not written: {}",
                        pos + i,
                        buf[i]
                    );
                }
                channel_out[pos..pos + n].copy_from_slice(&buf[..n]);
            }
        }
        pos += n;
    }

    // Read while processing: nice-plug answers from the last `process` call's status and
    // forgets it in `setProcessing`.
    let tail = unsafe { processor.getTailSamples() };
    assert_eq!(
        unsafe { processor.setProcessing(0) },
        kResultOk,
        "setProcessing(false)"
    );
    Streamed {
        outputs,
        tail,
        tail_before_first_block,
        poison_intact: poison_bufs.iter().flatten().all(|&v| v == POISON),
    }
}

impl Instance<'_> {
    /// The number of event (MIDI) buses in direction `dir`.
    pub fn event_bus_count(&self, dir: BusDirection) -> i32 {
        // SAFETY: a plain getter.
        unsafe { self.component.getBusCount(EVENT, dir) }
    }

    /// Whether `canProcessSampleSize(size)` accepts `size`.
    pub fn can_process_sample_size(&self, size: int32) -> bool {
        // SAFETY: a plain getter.
        unsafe { self.processor.canProcessSampleSize(size) == kResultOk }
    }

    /// `activateBus` for every audio bus, as hosts do for the buses they connect.
    pub fn activate_all_audio_buses(&self) {
        for dir in [INPUT, OUTPUT] {
            // SAFETY: plain calls on a live component.
            unsafe {
                for i in 0..self.component.getBusCount(AUDIO, dir) {
                    assert_eq!(
                        self.component.activateBus(AUDIO, dir, i, 1),
                        kResultOk,
                        "activateBus({dir}, {i})"
                    );
                }
            }
        }
    }
}

/// An in-memory `IBStream`, as a host passes to `getState`/`setState` (a project file's chunk).
#[derive(Default)]
pub struct MemoryStream {
    // (bytes, position); `IBStream` methods take `&self`.
    inner: std::sync::Mutex<(Vec<u8>, usize)>,
}

impl MemoryStream {
    /// A stream holding `bytes`, positioned at the start.
    pub fn with_bytes(bytes: &[u8]) -> Self {
        Self {
            inner: std::sync::Mutex::new((bytes.to_vec(), 0)),
        }
    }

    /// Everything written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.inner.lock().unwrap().0.clone()
    }
}

impl Class for MemoryStream {
    type Interfaces = (IBStream,);
}

impl IBStreamTrait for MemoryStream {
    unsafe fn read(&self, buffer: *mut c_void, num_bytes: int32, num_read: *mut int32) -> tresult {
        let mut guard = self.inner.lock().unwrap();
        let (data, pos) = &mut *guard;
        let n = (num_bytes.max(0) as usize).min(data.len() - *pos);
        // SAFETY: the caller passes a buffer of at least `num_bytes` bytes.
        unsafe { std::ptr::copy_nonoverlapping(data[*pos..].as_ptr(), buffer as *mut u8, n) };
        *pos += n;
        if !num_read.is_null() {
            // SAFETY: checked for null; an out-parameter.
            unsafe { *num_read = n as int32 };
        }
        kResultOk
    }

    unsafe fn write(
        &self,
        buffer: *mut c_void,
        num_bytes: int32,
        num_written: *mut int32,
    ) -> tresult {
        let mut guard = self.inner.lock().unwrap();
        let (data, pos) = &mut *guard;
        let n = num_bytes.max(0) as usize;
        // SAFETY: the caller passes `num_bytes` readable bytes.
        let src = unsafe { std::slice::from_raw_parts(buffer as *const u8, n) };
        let end = *pos + n;
        if data.len() < end {
            data.resize(end, 0);
        }
        data[*pos..end].copy_from_slice(src);
        *pos = end;
        if !num_written.is_null() {
            // SAFETY: checked for null; an out-parameter.
            unsafe { *num_written = n as int32 };
        }
        kResultOk
    }

    unsafe fn seek(&self, offset: int64, mode: int32, result: *mut int64) -> tresult {
        let mut guard = self.inner.lock().unwrap();
        let (data, pos) = &mut *guard;
        let base = match mode as u32 {
            m if m == kIBSeekSet => 0,
            m if m == kIBSeekCur => *pos as int64,
            m if m == kIBSeekEnd => data.len() as int64,
            _ => return kInvalidArgument,
        };
        let target = base + offset;
        if target < 0 || target > data.len() as int64 {
            return kInvalidArgument;
        }
        *pos = target as usize;
        if !result.is_null() {
            // SAFETY: checked for null; an out-parameter.
            unsafe { *result = target };
        }
        kResultOk
    }

    unsafe fn tell(&self, pos: *mut int64) -> tresult {
        if pos.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: checked for null; an out-parameter.
        unsafe { *pos = self.inner.lock().unwrap().1 as int64 };
        kResultOk
    }
}

/// A parameter as a VST3 host sees it.
#[derive(Debug, Clone)]
pub struct Vst3Param {
    /// The `ParamID` hosts store automation under.
    pub id: ParamID,
    /// Its title.
    pub title: String,
    /// The current normalised value.
    pub normalized: f64,
}

impl Instance<'_> {
    /// `IComponent::getState`: the bytes a host stores in its project.
    pub fn get_state(&self) -> Vec<u8> {
        let stream = ComWrapper::new(MemoryStream::default());
        let ptr = stream.as_com_ref::<IBStream>().expect("IBStream").as_ptr();
        // SAFETY: the stream lives for the duration of the call.
        assert_eq!(
            unsafe { self.component.getState(ptr) },
            kResultOk,
            "getState"
        );
        stream.bytes()
    }

    /// `IComponent::setState` with `bytes`; the plugin's answer.
    pub fn set_state(&self, bytes: &[u8]) -> tresult {
        let stream = ComWrapper::new(MemoryStream::with_bytes(bytes));
        let ptr = stream.as_com_ref::<IBStream>().expect("IBStream").as_ptr();
        // SAFETY: the stream lives for the duration of the call.
        unsafe { self.component.setState(ptr) }
    }

    /// Every parameter the edit controller lists, with its current value.
    pub fn params(&self) -> Vec<Vst3Param> {
        // SAFETY: out-parameter calls on a live controller.
        unsafe {
            (0..self.controller.getParameterCount())
                .map(|i| {
                    let mut info: ParameterInfo = std::mem::zeroed();
                    assert_eq!(
                        self.controller.getParameterInfo(i, &mut info),
                        kResultOk,
                        "getParameterInfo({i})"
                    );
                    Vst3Param {
                        id: info.id,
                        title: u16_string(&info.title),
                        normalized: self.controller.getParamNormalized(info.id),
                    }
                })
                .collect()
        }
    }

    /// `IEditController::setParamNormalized`, as a host does when it restores automation.
    pub fn set_param(&self, id: ParamID, normalized: f64) {
        // SAFETY: a plain call on a live controller.
        let result = unsafe { self.controller.setParamNormalized(id, normalized) };
        assert_eq!(result, kResultOk, "setParamNormalized({id})");
    }
}
