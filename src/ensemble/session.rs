//! `OrtModel`: one ONNX model of a model set, opened in ONNX Runtime, with its input and output
//! tensors pre-allocated and bound for the shape the streaming engine uses every window.

use std::path::Path;

use ort::memory::Allocator;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{IoBinding, Session};
use ort::value::{Tensor, TensorRef};

use crate::engine::BackendError;
use crate::modelset::ModelSpec;
use crate::ort_runtime;

/// How ONNX Runtime sessions are configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Intra-op threads per session (the models run one after another, so this is also the
    /// number of cores the ensemble keeps busy).
    pub intra_threads: usize,
}

impl Default for SessionConfig {
    /// Two threads (the product's target machine has two cores), fewer if the machine has one.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            intra_threads: cores.clamp(1, 2),
        }
    }
}

impl SessionConfig {
    /// The default, overridden by the environment variable `DANNA_SEP_THREADS` when it holds a
    /// positive integer (lets a user give the plugin more cores without a parameter).
    pub fn from_env() -> Self {
        let mut config = Self::default();
        if let Some(n) = std::env::var("DANNA_SEP_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
        {
            config.intra_threads = n;
        }
        config
    }
}

/// Input and output bound once for a fixed shape: a run then only writes the input tensor's
/// memory and reads the output tensor's memory.
struct Bound {
    input_shape: Vec<usize>,
    input: Tensor<f32>,
    output: Tensor<f32>,
    binding: IoBinding,
}

/// An ONNX model with one float input and one float output (the manifest's `input_name` and
/// `output_name`).
pub struct OrtModel {
    name: String,
    session: Session,
    input_name: String,
    output_name: String,
    bound: Option<Bound>,
}

fn err(model: &str, what: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError(format!("model '{model}': {what}: {e}"))
}

impl OrtModel {
    /// Opens `spec.path` and checks its inputs and outputs against the manifest.
    pub fn open(name: &str, spec: &ModelSpec, config: SessionConfig) -> Result<Self, BackendError> {
        let runtime = ort_runtime::ensure_loaded().map_err(|e| BackendError(e.to_string()))?;
        let session = open_session(&runtime.environment, &spec.path, config)
            .map_err(|e| err(name, &format!("opening {}", spec.path.display()), e))?;
        let dims = |o: &ort::value::Outlet| -> Vec<Option<i64>> {
            o.dtype()
                .tensor_shape()
                .map(|s| s.iter().map(|&d| Some(d)).collect())
                .unwrap_or_default()
        };
        let (Some(input), Some(output)) = (session.inputs().first(), session.outputs().first())
        else {
            return Err(err(
                name,
                "checking I/O",
                "the model has no input or no output",
            ));
        };
        spec.check_io(
            name,
            (input.name(), &dims(input)),
            (output.name(), &dims(output)),
        )
        .map_err(|e| BackendError(e.to_string()))?;
        Ok(Self {
            name: name.to_string(),
            session,
            input_name: spec.input_name.clone(),
            output_name: spec.output_name.clone(),
            bound: None,
        })
    }

    /// Pre-allocates and binds the input and output tensors for one shape; runs with exactly
    /// this input shape then reuse them.
    pub fn bind(
        &mut self,
        input_shape: &[usize],
        output_shape: &[usize],
    ) -> Result<(), BackendError> {
        let name = self.name.clone();
        let input = Tensor::<f32>::from_array((
            input_shape.to_vec(),
            vec![0.0f32; input_shape.iter().product()],
        ))
        .map_err(|e| err(&name, "allocating the input", e))?;
        let output = Tensor::<f32>::new(&Allocator::default(), output_shape.to_vec())
            .map_err(|e| err(&name, "allocating the output", e))?;
        let mut binding = self
            .session
            .create_binding()
            .map_err(|e| err(&name, "creating the binding", e))?;
        binding
            .bind_input(self.input_name.as_str(), &input)
            .map_err(|e| err(&name, "binding the input", e))?;
        let mut bound = Bound {
            input_shape: input_shape.to_vec(),
            input,
            output,
            binding,
        };
        bound
            .binding
            .bind_output(self.output_name.as_str(), &mut bound.output)
            .map_err(|e| err(&name, "binding the output", e))?;
        self.bound = Some(bound);
        Ok(())
    }

    /// Runs the model on `input` of shape `shape` and hands the output (its shape and data) to
    /// `read`. Uses the bound tensors when `shape` is the bound shape, otherwise lets ONNX
    /// Runtime allocate (whole-clip runs with ragged last chunks).
    pub fn run<R>(
        &mut self,
        input: &[f32],
        shape: &[usize],
        read: impl FnOnce(&[i64], &[f32]) -> R,
    ) -> Result<R, BackendError> {
        let name = &self.name;
        if let Some(bound) = self.bound.as_mut().filter(|b| b.input_shape == shape) {
            bound.input.extract_tensor_mut().1.copy_from_slice(input);
            self.session
                .run_binding(&bound.binding)
                .map_err(|e| err(name, "inference", e))?;
            let (out_shape, data) = bound.output.extract_tensor();
            return Ok(read(out_shape, data));
        }
        let tensor = TensorRef::from_array_view((shape.to_vec(), input))
            .map_err(|e| err(name, "wrapping the input", e))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| err(name, "inference", e))?;
        let (out_shape, data) = outputs[self.output_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| err(name, "reading the output", e))?;
        Ok(read(out_shape, data))
    }
}

fn open_session(
    environment: &ort::environment::Environment,
    path: &Path,
    config: SessionConfig,
) -> Result<Session, String> {
    let threads = config.intra_threads.max(1);
    Session::builder(environment)
        .map_err(|e| e.to_string())?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| e.to_string())?
        .with_intra_threads(threads)
        .map_err(|e| e.to_string())?
        .with_inter_threads(1)
        .map_err(|e| e.to_string())?
        .commit_from_file(path)
        .map_err(|e| e.to_string())
}
