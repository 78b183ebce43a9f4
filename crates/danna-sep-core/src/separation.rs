//! The backend factory the plugin and the CLI run: the ONNX ensemble
//! ([`crate::ensemble::EnsembleBackend`]) on a model set, the shipped one by default, and for
//! the Karaoke and Full + Spleeter choices the Spleeter vocal set found beside it
//! ([`crate::modelset::find_vocal_set`]).
//!
//! The factory runs on the inference worker (or its loader thread), never the audio thread.
//! When ONNX Runtime or the model set cannot be loaded it fails with a typed error: the plugin
//! then passes its input through, delayed by its latency, and shows the reason in its status
//! line; the CLI prints it and exits non-zero.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Config, SessionOverrides};
use crate::engine::{BackendFactory, SeparationBackend};
use crate::ensemble::{EnsembleBackend, InferenceRuntime, SessionConfig, SessionOwner};
use crate::error::one_line;
use crate::modelset::{find_model_set, find_vocal_set};
use crate::selection::{Precision, RuntimeKind, RuntimePlan};
use crate::{openvino_runtime, runtime};

/// A factory for the ensemble on the model set in `models` (else the configured folder, else
/// the default search, see [`crate::modelset::default_model_dirs`]). Every backend it builds
/// shares ONNX Runtime sessions with the others it built (a model swap opens only what the old
/// backend lacked); another factory's backends get sessions of their own while there is room
/// (see [`SessionConfig::pool_size`]).
pub fn ensemble_factory(config: &Config, models: Option<PathBuf>) -> BackendFactory {
    ensemble_factory_for(SessionOwner::unique(), config, models)
}

/// [`ensemble_factory`] for an `owner` that outlives the factory: a plugin instance builds a
/// factory per activation, and its backends share sessions across activations (a re-activation
/// for other models keeps the files both use open) while other instances get their own.
pub fn ensemble_factory_for(
    owner: SessionOwner,
    config: &Config,
    models: Option<PathBuf>,
) -> BackendFactory {
    let runtime_config = config.runtime.clone();
    let overrides = config.sessions;
    let models = models.or_else(|| config.models_dir.clone());
    let spleeter = config.spleeter_dir.clone();
    Arc::new(move |spec| {
        let runtime = runtime::ensure_loaded(&runtime_config)?;
        let set = find_model_set(models.as_deref())?;
        // OpenVINO is loaded only when the choice may use it.
        let openvino = if !RuntimePlan::may_use_openvino(spec.runtime, spec.precision) {
            Err("not asked for".to_string())
        } else {
            openvino_runtime::ensure_loaded(&runtime_config).map_err(|e| e.to_string())
        };
        let plan = RuntimePlan::resolve(
            spec.runtime,
            spec.precision,
            openvino
                .as_ref()
                .map(|ov| ov.has_bf16)
                .map_err(String::as_str),
        );
        let sessions = SessionConfig {
            owner,
            ..session_config(overrides, plan.precision)
        };
        let inference = match (plan.runtime, &openvino) {
            (RuntimeKind::OpenVino, Ok(ov)) => InferenceRuntime::OpenVino(ov),
            _ => InferenceRuntime::Ort(runtime),
        };
        // The vocal set of the choices that run one: looked for only then; when it cannot be
        // loaded they run the full ensemble and say why.
        let vocals = if spec.model.uses_vocal_model() {
            find_vocal_set(spleeter.as_deref(), Some(&set.dir)).map_err(|e| one_line(&e))
        } else {
            Err(String::new())
        };
        let mut backend = EnsembleBackend::with_vocals(
            inference,
            &set,
            spec.model,
            sessions,
            vocals.as_ref().map_err(Clone::clone),
        )?;
        backend.add_note(&plan.note);
        Ok(Box::new(backend) as Box<dyn SeparationBackend>)
    })
}

/// The session configuration: the default with the configured overrides, and int8 weights when
/// `precision` asks for them (`DANNA_SEP_INT8=1` turns them on whatever the precision).
pub fn session_config(overrides: SessionOverrides, precision: Precision) -> SessionConfig {
    let mut config = SessionConfig::default().with_overrides(overrides);
    config.int8 |= precision == Precision::Int8;
    config.bf16 = precision == Precision::Bf16;
    config
}
