//! `BackendInfo`: the one immutable record of what the inference worker runs, published into
//! the engine status when the worker reaches Ready or Failed and again after every model swap.
//! The editor and the status line read only this (and the activation facts).

use std::path::PathBuf;

use crate::modelset::{ModelSet, WeightsKind};
use crate::runtime;
use crate::selection::{BackendSpec, Precision, RuntimeKind};

/// The loaded model set, as far as the user needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSetSummary {
    /// The manifest's `name`.
    pub name: String,
    /// The folder it was loaded from.
    pub dir: PathBuf,
    /// Official or demo weights.
    pub weights: WeightsKind,
}

impl ModelSetSummary {
    /// The summary of a loaded set.
    pub fn of(set: &ModelSet) -> Self {
        Self {
            name: set.name.clone(),
            dir: set.dir.clone(),
            weights: set.weights_kind(),
        }
    }
}

/// The inference runtime, as the worker saw it: the one that runs the models once a backend is
/// built, else whether ONNX Runtime (which every backend needs) could be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeInfo {
    /// Nothing tried to load it (a test backend, or the load never got that far).
    NotLoaded,
    /// Loaded.
    Loaded {
        /// `ONNX Runtime` or `OpenVINO`.
        name: String,
        /// The version the library reports.
        version: String,
        /// The file.
        path: PathBuf,
    },
    /// Could not be loaded: the one-line reason, every path tried.
    Failed(String),
}

impl RuntimeInfo {
    /// The process's ONNX Runtime outcome so far, without loading anything.
    pub fn current() -> Self {
        match runtime::load_outcome() {
            None => RuntimeInfo::NotLoaded,
            Some(Ok(rt)) => RuntimeInfo::Loaded {
                name: RuntimeKind::OnnxRuntime.name().into(),
                version: rt.version.clone(),
                path: rt.path.clone(),
            },
            Some(Err(e)) => RuntimeInfo::Failed(e.to_string()),
        }
    }
}

/// What the backend runs, or why it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// The backend's own description (the status line when Ready).
    pub description: String,
    /// The spec it was built for, as the worker asked for it (set by the worker; `None` when
    /// no backend could be built). What actually runs per model is in `models`.
    pub spec: Option<BackendSpec>,
    /// The model set it loaded.
    pub model_set: Option<ModelSetSummary>,
    /// The runtime that runs its models.
    pub runtime: RuntimeInfo,
    /// Each model that runs, with the precision it actually runs at.
    pub models: Vec<(String, Precision)>,
    /// Why the backend failed (state Failed), or why the last model swap did not happen while
    /// the previous backend kept running (state Ready); one line.
    pub error: Option<String>,
}

impl BackendInfo {
    /// Only a description (backends without a model set).
    pub fn described(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            spec: None,
            model_set: None,
            runtime: RuntimeInfo::current(),
            models: Vec::new(),
            error: None,
        }
    }

    /// A backend that could not be created, for `reason` (one line).
    pub fn failed(spec: BackendSpec, reason: String) -> Self {
        Self {
            description: String::new(),
            spec: Some(spec),
            model_set: None,
            runtime: RuntimeInfo::current(),
            models: Vec::new(),
            error: Some(reason),
        }
    }

    /// The status line: the description, or the error when there is no description; a failed
    /// swap is appended to the running backend's description.
    pub fn status_line(&self) -> String {
        match (&self.error, self.description.is_empty()) {
            (Some(e), true) => e.clone(),
            (Some(e), false) => format!("{}; {e}", self.description),
            (None, _) => self.description.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_says_what_runs_and_what_failed() {
        let mut info = BackendInfo::described("identity");
        assert_eq!(info.status_line(), "identity");
        info.error = Some("switch to Fast failed: no model".into());
        assert_eq!(
            info.status_line(),
            "identity; switch to Fast failed: no model"
        );
        let failed = BackendInfo::failed(BackendSpec::default(), "no model set found".into());
        assert_eq!(failed.status_line(), "no model set found");
    }
}
