//! `OvModel`: one ONNX model of a model set compiled by OpenVINO for the CPU, read straight
//! from the same `.onnx` file ONNX Runtime opens (no second model format).
//!
//! [`InferenceModel::bind`] compiles the model for the engine's one window shape: OpenVINO's
//! CPU plugin plans memory and picks kernels per static shape, and the window shape is what
//! every streamed run uses. A run of any other shape (whole-clip runs of any length) compiles
//! it once more, with its dynamic frame axis, on first use: a streamed run never needs that
//! compile, and each compile holds its own copy of the weights (about 1 GB at full size).
//! Compiles set the CPU device's properties on the process's one `Core` first ([`OvRuntime::core`]): one stream, `threads` inference threads, no CPU pinning
//! (a plugin must not pin the host's cores), denormals flushed, and the precision hint.

use openvino::{
    CompiledModel, Core, DeviceType, Dimension, ElementType, InferRequest, PartialShape,
    RwPropertyKey, Shape, Tensor,
};

use crate::error::SeparationError;
use crate::modelset::ModelSpec;
use crate::openvino_runtime::OvRuntime;
use crate::selection::Precision;

use super::model::InferenceModel;

/// A compiled model with its infer request.
struct Compiled {
    _model: CompiledModel,
    request: InferRequest,
}

/// The window-shaped compile with its input tensor, set on the request once.
struct Bound {
    input_shape: Vec<usize>,
    compiled: Compiled,
    input: Tensor,
}

/// An ONNX model compiled by OpenVINO.
pub struct OvModel {
    name: String,
    runtime: &'static OvRuntime,
    precision: Precision,
    threads: usize,
    model: openvino::Model,
    /// The file's input shape, -1 for an axis of any length (the frame axis): `bind` reshapes
    /// `model` to the window, so the dynamic compile reshapes it back first.
    file_input: Vec<i64>,
    /// Compiled on the first run whose shape is not the bound window's.
    dynamic: Option<Compiled>,
    bound: Option<Bound>,
}

impl OvModel {
    /// Reads `spec.path` (or `spec.int8_path` for [`Precision::Int8`] where the model has
    /// one) and checks its inputs and outputs against the manifest; it is compiled at
    /// `precision` with `threads` inference threads by `bind` or on its first run. bf16
    /// applies where the CPU has it ([`OvRuntime::has_bf16`]); otherwise the model runs
    /// float32.
    pub fn open(
        runtime: &'static OvRuntime,
        name: &str,
        spec: &ModelSpec,
        precision: Precision,
        threads: usize,
    ) -> Result<Self, SeparationError> {
        let int8_path = spec
            .int8_path
            .as_ref()
            .filter(|_| precision == Precision::Int8);
        let path = int8_path.unwrap_or(&spec.path);
        let precision = match precision {
            Precision::Int8 if int8_path.is_none() => Precision::Float32,
            Precision::Bf16 if !runtime.has_bf16 => Precision::Float32,
            p => p,
        };
        let opening = |e: openvino::InferenceError| {
            SeparationError::model(name, &format!("opening {} in OpenVINO", path.display()), e)
        };
        let path_str = path.to_str().ok_or_else(|| {
            SeparationError::model(
                name,
                "opening",
                format!("{} is not valid UTF-8", path.display()),
            )
        })?;
        let mut core = runtime.core.lock();
        let model = core.read_model_from_file(path_str, "").map_err(opening)?;
        let io = |node: openvino::Node| -> Result<(String, Vec<Option<i64>>), SeparationError> {
            let name_of = node.get_name().map_err(opening)?;
            let shape = node.get_partial_shape().map_err(opening)?;
            let dims = shape
                .get_dimensions()
                .iter()
                .map(|d| Some(if d.is_dynamic() { -1 } else { d.get_min() }))
                .collect();
            Ok((name_of, dims))
        };
        let input = io(model.get_input_by_index(0).map_err(opening)?)?;
        let output = io(model.get_output_by_index(0).map_err(opening)?)?;
        spec.check_io(name, (&input.0, &input.1), (&output.0, &output.1))?;
        drop(core);
        let file_input = input.1.iter().map(|d| d.unwrap_or(-1)).collect();
        Ok(Self {
            name: name.to_string(),
            runtime,
            precision,
            threads,
            model,
            file_input,
            dynamic: None,
            bound: None,
        })
    }

    /// Makes the compile with the file's dynamic shape, once.
    fn compile_dynamic(&mut self) -> Result<(), SeparationError> {
        if self.dynamic.is_none() {
            let name = &self.name;
            let compiling =
                |e: openvino::InferenceError| SeparationError::model(name, "compiling", e);
            // (-1, -1) is "any length" to the C API; a dynamic axis read back from a model is
            // (0, -1), which it refuses.
            let dims: Vec<Dimension> = self
                .file_input
                .iter()
                .map(|&d| Dimension::new(d, d))
                .collect();
            let shape = PartialShape::new(dims.len() as i64, &dims).map_err(compiling)?;
            let mut core = self.runtime.core.lock();
            self.model.reshape_single_input(&shape).map_err(compiling)?;
            let compiled =
                compile(&mut core, &self.model, self.precision, self.threads).map_err(compiling)?;
            self.dynamic = Some(compiled);
        }
        Ok(())
    }
}

/// Compiles `model` for the CPU at `precision` with `threads` threads.
fn compile(
    core: &mut Core,
    model: &openvino::Model,
    precision: Precision,
    threads: usize,
) -> Result<Compiled, openvino::InferenceError> {
    let hint = if precision == Precision::Bf16 {
        "bf16"
    } else {
        "f32"
    };
    let threads = threads.max(1).to_string();
    core.set_properties(
        &DeviceType::CPU,
        [
            (RwPropertyKey::HintInferencePrecision, hint),
            (RwPropertyKey::InferenceNumThreads, threads.as_str()),
            (RwPropertyKey::NumStreams, "1"),
            (RwPropertyKey::HintPerformanceMode, "LATENCY"),
            (RwPropertyKey::HintEnableCpuPinning, "NO"),
            (
                RwPropertyKey::Other("CPU_DENORMALS_OPTIMIZATION".into()),
                "YES",
            ),
        ],
    )?;
    let mut compiled = core.compile_model(model, DeviceType::CPU)?;
    let request = compiled.create_infer_request()?;
    Ok(Compiled {
        _model: compiled,
        request,
    })
}

fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

/// Runs `request` (its input already set) and hands the output to `read`.
fn infer_and_read(
    name: &str,
    request: &mut InferRequest,
    read: &mut dyn FnMut(&[i64], &[f32]),
) -> Result<(), SeparationError> {
    request
        .infer()
        .map_err(|e| SeparationError::model(name, "inference", e))?;
    let output = request
        .get_output_tensor_by_index(0)
        .map_err(|e| SeparationError::model(name, "reading the output", e))?;
    let shape = output
        .get_shape()
        .map_err(|e| SeparationError::model(name, "reading the output", e))?;
    let data = output
        .get_data::<f32>()
        .map_err(|e| SeparationError::model(name, "reading the output", e))?;
    read(shape.get_dimensions(), data);
    Ok(())
}

impl InferenceModel for OvModel {
    fn precision(&self) -> Precision {
        self.precision
    }

    fn bind(
        &mut self,
        input_shape: &[usize],
        _output_shape: &[usize],
    ) -> Result<(), SeparationError> {
        let name = self.name.clone();
        let binding = |e: openvino::InferenceError| {
            SeparationError::model(&name, "compiling for the window", e)
        };
        let shape = dims(input_shape);
        let static_shape = PartialShape::new_static(shape.len() as i64, &shape).map_err(binding)?;
        let mut core = self.runtime.core.lock();
        // A compile keeps its own graph, so `model` can take the window's shape (`dynamic`
        // reshapes it back before its compile).
        self.model
            .reshape_single_input(&static_shape)
            .map_err(binding)?;
        let mut compiled =
            compile(&mut core, &self.model, self.precision, self.threads).map_err(binding)?;
        drop(core);
        let input = Tensor::new(ElementType::F32, &Shape::new(&shape).map_err(binding)?)
            .map_err(binding)?;
        compiled.request.set_input_tensor(&input).map_err(binding)?;
        self.bound = Some(Bound {
            input_shape: input_shape.to_vec(),
            compiled,
            input,
        });
        Ok(())
    }

    fn run_with(
        &mut self,
        input: &[f32],
        shape: &[usize],
        read: &mut dyn FnMut(&[i64], &[f32]),
    ) -> Result<(), SeparationError> {
        if let Some(bound) = self.bound.as_mut().filter(|b| b.input_shape == shape) {
            let name = &self.name;
            bound
                .input
                .get_data_mut::<f32>()
                .map_err(|e| SeparationError::model(name, "writing the input", e))?
                .copy_from_slice(input);
            return infer_and_read(name, &mut bound.compiled.request, read);
        }
        self.compile_dynamic()?;
        let name = &self.name;
        let wrap =
            |e: openvino::InferenceError| SeparationError::model(name, "wrapping the input", e);
        let mut tensor = Tensor::new(ElementType::F32, &Shape::new(&dims(shape)).map_err(wrap)?)
            .map_err(wrap)?;
        tensor
            .get_data_mut::<f32>()
            .map_err(wrap)?
            .copy_from_slice(input);
        let dynamic = self.dynamic.as_mut().expect("compiled above");
        dynamic.request.set_input_tensor(&tensor).map_err(wrap)?;
        infer_and_read(name, &mut dynamic.request, read)
    }
}
