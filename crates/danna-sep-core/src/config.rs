//! Every environment variable the project reads, in one place.
//!
//! [`Config::from_env`] reads them once, at the composition root (the plugin's `activate`, the
//! CLI's `main`), and the result is passed down; nothing else in the project reads the
//! environment. Each variable is documented in the README's configuration table.
//!
//! Malformed values are ignored (the default applies) rather than failing a plugin load; the
//! README says which values each variable takes.

use std::ffi::OsString;
use std::path::PathBuf;

/// The ONNX Runtime library file to load (highest priority).
pub const ENV_ORT_LIB: &str = "DANNA_SEP_ORT_LIB";
/// Set (non-empty, not `0`): look for ONNX Runtime only at [`ENV_ORT_LIB`]. For tests of the
/// failure path, which must not silently find the real library.
pub const ENV_ORT_NO_FALLBACK: &str = "DANNA_SEP_ORT_NO_FALLBACK";
/// The OpenVINO C library file to load (`libopenvino_c.so.2641`; highest priority).
pub const ENV_OV_LIB: &str = "DANNA_SEP_OV_LIB";
/// Set (non-empty, not `0`): look for OpenVINO only at [`ENV_OV_LIB`] (for tests of the
/// fallback to ONNX Runtime).
pub const ENV_OV_NO_FALLBACK: &str = "DANNA_SEP_OV_NO_FALLBACK";
/// A model-set folder; overrides every other location.
pub const ENV_MODELS: &str = "DANNA_SEP_MODELS";
/// A two-stem vocal set (Spleeter 2stems) for the Karaoke choice; overrides every other
/// location.
pub const ENV_SPLEETER: &str = "DANNA_SEP_SPLEETER";
/// Intra-op threads per ONNX Runtime session (a positive integer).
pub const ENV_THREADS: &str = "DANNA_SEP_THREADS";
/// `1`: run the waveform model in parallel with the spectrogram models; `0`: one after another.
pub const ENV_PARALLEL: &str = "DANNA_SEP_PARALLEL";
/// `1`: int8 weights whatever the Precision parameter says; `0`: as the parameter says.
pub const ENV_INT8: &str = "DANNA_SEP_INT8";
/// ONNX Runtime sessions per model file in the process (a positive integer): instances beyond
/// it share sessions and take turns; each session holds its own copy of the weights.
pub const ENV_SESSIONS: &str = "DANNA_SEP_SESSIONS";

/// Where ONNX Runtime is looked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// [`ENV_ORT_LIB`].
    pub library: Option<PathBuf>,
    /// [`ENV_ORT_NO_FALLBACK`].
    pub no_fallback: bool,
    /// [`ENV_OV_LIB`].
    pub openvino_library: Option<PathBuf>,
    /// [`ENV_OV_NO_FALLBACK`].
    pub openvino_no_fallback: bool,
}

/// Overrides of the ONNX Runtime session options (`None`: the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionOverrides {
    /// [`ENV_THREADS`].
    pub intra_threads: Option<usize>,
    /// [`ENV_PARALLEL`].
    pub parallel_models: Option<bool>,
    /// [`ENV_INT8`]: `Some(true)` forces int8 weights.
    pub force_int8: bool,
    /// [`ENV_SESSIONS`].
    pub pool_size: Option<usize>,
}

/// The whole configuration from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Where ONNX Runtime comes from.
    pub runtime: RuntimeConfig,
    /// [`ENV_MODELS`]: the model-set folder, when set.
    pub models_dir: Option<PathBuf>,
    /// [`ENV_SPLEETER`]: the vocal set's folder, when set.
    pub spleeter_dir: Option<PathBuf>,
    /// Session options.
    pub sessions: SessionOverrides,
}

impl Config {
    /// Reads every variable of this module from the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(|key| std::env::var_os(key))
    }

    /// The pure core of [`Self::from_env`]: `var(name)` is the variable's value, if set.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let non_empty = |key: &str| var(key).filter(|v| !v.is_empty());
        let number = |key: &str| -> Option<usize> { non_empty(key)?.to_str()?.trim().parse().ok() };
        let flag = |key: &str| number(key).filter(|&v| v <= 1).map(|v| v == 1);
        Self {
            runtime: RuntimeConfig {
                library: non_empty(ENV_ORT_LIB).map(PathBuf::from),
                no_fallback: non_empty(ENV_ORT_NO_FALLBACK).is_some_and(|v| v != "0"),
                openvino_library: non_empty(ENV_OV_LIB).map(PathBuf::from),
                openvino_no_fallback: non_empty(ENV_OV_NO_FALLBACK).is_some_and(|v| v != "0"),
            },
            models_dir: non_empty(ENV_MODELS).map(PathBuf::from),
            spleeter_dir: non_empty(ENV_SPLEETER).map(PathBuf::from),
            sessions: SessionOverrides {
                intra_threads: number(ENV_THREADS).filter(|&n| n > 0),
                parallel_models: flag(ENV_PARALLEL),
                force_int8: flag(ENV_INT8) == Some(true),
                pool_size: number(ENV_SESSIONS).filter(|&n| n > 0),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_vars(|key| {
            vars.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| OsString::from(v))
        })
    }

    #[test]
    fn nothing_set_is_the_default() {
        assert_eq!(config(&[]), Config::default());
    }

    #[test]
    fn every_variable_is_read() {
        let c = config(&[
            (ENV_ORT_LIB, "/lib/ort.so"),
            (ENV_ORT_NO_FALLBACK, "1"),
            (ENV_OV_LIB, "/lib/ov_c.so"),
            (ENV_OV_NO_FALLBACK, "1"),
            (ENV_MODELS, "/models"),
            (ENV_SPLEETER, "/spleeter"),
            (ENV_THREADS, " 3 "),
            (ENV_PARALLEL, "0"),
            (ENV_INT8, "1"),
            (ENV_SESSIONS, "1"),
        ]);
        assert_eq!(c.runtime.library, Some(PathBuf::from("/lib/ort.so")));
        assert!(c.runtime.no_fallback);
        assert_eq!(
            c.runtime.openvino_library,
            Some(PathBuf::from("/lib/ov_c.so"))
        );
        assert!(c.runtime.openvino_no_fallback);
        assert_eq!(c.models_dir, Some(PathBuf::from("/models")));
        assert_eq!(c.spleeter_dir, Some(PathBuf::from("/spleeter")));
        assert_eq!(c.sessions.intra_threads, Some(3));
        assert_eq!(c.sessions.parallel_models, Some(false));
        assert!(c.sessions.force_int8);
    }

    #[test]
    fn malformed_and_empty_values_fall_back_to_the_default() {
        let c = config(&[
            (ENV_ORT_LIB, ""),
            (ENV_ORT_NO_FALLBACK, "0"),
            (ENV_MODELS, ""),
            (ENV_THREADS, "0"),
            (ENV_PARALLEL, "yes"),
            (ENV_INT8, "2"),
            (ENV_SESSIONS, "0"),
        ]);
        assert_eq!(c, Config::default());
    }
}
