//! Chooses the separation backend for the plugin and the CLI: the ONNX ensemble
//! ([`crate::ensemble::EnsembleBackend`]) on a model set, the shipped one by default.
//!
//! Everything here runs on the inference worker thread. When ONNX Runtime or the model set
//! cannot be loaded, the factory fails: the plugin then passes its input through, delayed by
//! its latency, and shows the reason in its status line; the CLI prints it and exits non-zero.

use std::path::PathBuf;

use crate::engine::{BackendError, BackendFactory, SeparationBackend};
use crate::ensemble::{find_model_set, EnsembleBackend, SessionConfig};
use crate::modelset::ModelSet;
use crate::ort_runtime;
use crate::params::{ModelChoice, Precision};

/// A backend factory for `choice` at `precision`, loading the model set in `models` (the
/// shipped default set when `None`, see [`crate::ensemble::default_model_dirs`]).
pub fn backend_factory(
    choice: ModelChoice,
    precision: Precision,
    models: Option<PathBuf>,
) -> BackendFactory {
    backend_factory_reporting(choice, precision, models, |_| {})
}

/// The session configuration: [`SessionConfig::from_env`], with int8 weights when `precision`
/// asks for them (`DANNA_SEP_INT8=1` turns them on whatever the precision).
pub fn session_config(precision: Precision) -> SessionConfig {
    let mut config = SessionConfig::from_env();
    config.int8 |= precision == Precision::Int8;
    config
}

/// [`backend_factory`] that also hands the loaded model set to `loaded` (on the worker thread),
/// e.g. for the editor's model-set display; `loaded` is not called when loading fails.
pub fn backend_factory_reporting(
    choice: ModelChoice,
    precision: Precision,
    models: Option<PathBuf>,
    loaded: impl FnOnce(&ModelSet) + Send + 'static,
) -> BackendFactory {
    Box::new(move || {
        ort_runtime::ensure_loaded().map_err(|e| BackendError(e.to_string()))?;
        let set = find_model_set(models.as_deref()).map_err(BackendError)?;
        let backend = EnsembleBackend::new(&set, choice, session_config(precision))?;
        loaded(&set);
        Ok(Box::new(backend) as Box<dyn SeparationBackend>)
    })
}
