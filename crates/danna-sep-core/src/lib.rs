//! Danna-Sep RT's separation core: the DSP ([`dsp`]), the streaming engine that runs a
//! separation backend off the audio thread with a constant, sample-exact latency ([`engine`]),
//! the Danna-Sep ensemble on ONNX Runtime ([`ensemble`]), model-set folders ([`modelset`]),
//! loading ONNX Runtime ([`runtime`]), the dynamic loader's answers ([`native`]) and the
//! configuration from the environment ([`config`]).
//!
//! The core knows nothing of plugin APIs, GUIs, command lines or audio file formats; the
//! plugin (`danna-sep`) and the CLI (`danna-sep-cli`) build on it.

pub mod config;
pub mod dsp;
pub mod engine;
pub mod ensemble;
pub mod error;
pub mod modelset;
pub mod native;
pub mod openvino_runtime;
pub mod paths;
pub mod runtime;
pub mod selection;
pub mod separation;
pub mod stems;

// The unit tests check "no allocation after construction" with the same allocator the plugin
// runs under (nice-plug installs it there); it counts only in debug builds.
#[cfg(test)]
#[global_allocator]
static TEST_ALLOCATOR: nice_assert_no_alloc::AllocDisabler = nice_assert_no_alloc::AllocDisabler;

pub use config::Config;
pub use engine::{
    BackendFactory, BackendInfo, BackendState, EngineConfig, EngineShared, InferenceWorker,
    LatencyBudget, LatencyTier, ParkedBackend, SeparationBackend, StemBuffers, StreamingEngine,
};
pub use error::{one_line, ModelSetError, RuntimeLoadError, SeparationError};
pub use modelset::ModelSet;
pub use selection::{BackendSpec, ModelChoice, NullStems, Precision, RuntimeChoice};
pub use stems::{Stem, STEMS, STEM_COUNT};
