//! Chooses the separation backend for the plugin and the CLI.
//!
//! The ONNX ensemble arrives with the ensemble issue. Until then, when ONNX Runtime loads, the
//! engine runs the identity backend and says so; when ONNX Runtime cannot be loaded, the backend
//! fails to start and the engine passes the input through, delayed by its latency, with the
//! reason in its status line.

use crate::engine::{BackendError, BackendFactory, IdentityBackend, SeparationBackend};
use crate::ort_runtime;
use crate::params::ModelChoice;

/// A backend factory for `choice`; it runs on the inference worker thread.
pub fn backend_factory(choice: ModelChoice) -> BackendFactory {
    Box::new(move || {
        let ort = ort_runtime::ensure_loaded().map_err(|e| BackendError(e.to_string()))?;
        Ok(Box::new(Placeholder {
            choice,
            ort: format!("ONNX Runtime {} ({})", ort.version, ort.path.display()),
        }) as Box<dyn SeparationBackend>)
    })
}

/// The identity backend, labelled with what the user asked for.
struct Placeholder {
    choice: ModelChoice,
    ort: String,
}

impl SeparationBackend for Placeholder {
    fn describe(&self) -> String {
        format!(
            "{}; no model set is shipped yet, so '{:?}' runs the {}",
            self.ort,
            self.choice,
            IdentityBackend.describe()
        )
    }

    fn prepare(&mut self, frames: usize) -> Result<(), BackendError> {
        IdentityBackend.prepare(frames)
    }

    fn separate(
        &mut self,
        mix: [&[f32]; 2],
        stems: &mut crate::engine::StemBuffers,
    ) -> Result<(), BackendError> {
        IdentityBackend.separate(mix, stems)
    }
}
