"""ONNX export of the three models and validation of ONNX files (ours or imported).

Export uses the TorchScript-based exporter (``dynamo=False``, opset 17) with dynamic batch
and time axes. Validation runs the ONNX checker and shape inference, checks input/output
ranks and the static dimensions against the model kind, and runs ONNX Runtime on a few
lengths (including odd and minimum ones) to compare with PyTorch or to check output shapes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from .demucs import demucs_output_length
from .specs import IO_NAMES, KINDS, model_spec, parity_lengths

OPSET = 17


class OnnxValidationError(ValueError):
    """An ONNX file does not satisfy the I/O contract of its model kind."""


def example_input(kind: str, length: int, batch: int = 1, bins: int = 2049, seed: int = 0) -> torch.Tensor:
    """A deterministic test input: magnitudes for spectrogram models, audio for waveform ones."""
    g = torch.Generator().manual_seed(seed + length)
    if kind == "spectrogram_mask":
        # |STFT|-like: non-negative, heavy-tailed
        return torch.randn(batch, 2, bins, length, generator=g).abs() ** 2
    return 0.3 * torch.randn(batch, 2, length, generator=g)


def export_onnx(module: nn.Module, model: str, path: Path, example_length: Optional[int] = None) -> Path:
    """Export ``module`` (a ``model`` in {"xumx","unet","demucs"}) to ``path``."""
    kind = KINDS[model]
    in_name, out_name = IO_NAMES[kind]
    module = module.eval()
    if hasattr(module, "set_legacy_ops"):
        module.set_legacy_ops(False)  # export-friendly unfold / pads
    if example_length is None:
        example_length = {"xumx": 16, "unet": 128, "demucs": 2 * model_spec(model, _cfg_of(module))["min_frames"]}[model]
    x = example_input(kind, example_length)
    if kind == "spectrogram_mask":
        dyn = {in_name: {0: "batch", 3: "frames"}, out_name: {0: "batch", 4: "frames"}}
    else:
        dyn = {in_name: {0: "batch", 2: "samples"}, out_name: {0: "batch", 3: "out_samples"}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(module, (x,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[in_name], output_names=[out_name], dynamic_axes=dyn,
                          do_constant_folding=True)
    _declare_static_output_dims(path, kind, x.shape[2] if kind == "spectrogram_mask" else 0)
    return path


def _declare_static_output_dims(path: Path, kind: str, bins: int) -> None:
    """The tracer cannot infer the bin axis through the U-Net's final (dynamic) pad; declare the
    static output dims so the file is self-describing for the loader's shape checks."""
    m = onnx.load(str(path))
    _, exp_out = expected_dims(kind, bins)
    dims = m.graph.output[0].type.tensor_type.shape.dim
    for d, e in zip(dims, exp_out):
        if e is not None and not d.HasField("dim_value"):
            d.dim_value = e
    onnx.save(m, str(path))


def _cfg_of(module: nn.Module) -> Dict[str, Any]:
    return {"depth": getattr(module, "depth", 6), "kernel_size": getattr(module, "kernel_size", 8),
            "stride": getattr(module, "stride", 4), "layers": getattr(module, "layers", 6)}


def _dims(vi: onnx.ValueInfoProto) -> List[Optional[int]]:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return []
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]


def io_summary(path: Path) -> Dict[str, Any]:
    """Names, element types and (static or None) dims of the first input and output, and the opset."""
    m = onnx.load(str(path), load_external_data=False)
    init = {i.name for i in m.graph.initializer}
    inputs = [i for i in m.graph.input if i.name not in init]
    if len(inputs) != 1 or not m.graph.output:
        raise OnnxValidationError(f"{path}: expected exactly one input and at least one output, "
                                  f"got {len(inputs)} inputs, {len(m.graph.output)} outputs")
    opset = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=0)
    i, o = inputs[0], m.graph.output[0]
    return {"input_name": i.name, "output_name": o.name, "input_dims": _dims(i), "output_dims": _dims(o),
            "input_type": i.type.tensor_type.elem_type, "output_type": o.type.tensor_type.elem_type, "opset": opset}


def expected_dims(kind: str, bins: int = 2049) -> Tuple[List[Optional[int]], List[Optional[int]]]:
    """Expected input/output dims; None = dynamic (batch, time)."""
    if kind == "spectrogram_mask":
        return [None, 2, bins, None], [None, 4, 2, bins, None]
    return [None, 2, None], [None, 4, 2, None]


def check_static(path: Path, kind: str, bins: int = 2049) -> Dict[str, Any]:
    """ONNX checker + shape inference + rank/static-dim check. Returns :func:`io_summary`."""
    try:
        onnx.checker.check_model(str(path))
        onnx.shape_inference.infer_shapes_path(str(path), str(path) + ".inferred.tmp")
        Path(str(path) + ".inferred.tmp").unlink()
    except Exception as e:  # noqa: BLE001
        raise OnnxValidationError(f"{path}: ONNX checker/shape inference failed: {e}") from e
    s = io_summary(path)
    exp_in, exp_out = expected_dims(kind, bins)
    for what, got, exp in (("input", s["input_dims"], exp_in), ("output", s["output_dims"], exp_out)):
        if got and len(got) != len(exp):
            raise OnnxValidationError(f"{path}: {what} rank {len(got)} (dims {got}), expected {len(exp)} ({exp})")
        for g, e in zip(got, exp):
            if e is not None and g not in (None, 0, e):
                raise OnnxValidationError(f"{path}: {what} dims {got} do not match the expected {exp}")
    if s["input_type"] != onnx.TensorProto.FLOAT or s["output_type"] != onnx.TensorProto.FLOAT:
        raise OnnxValidationError(f"{path}: input and output must be float32")
    return s


def session(path: Path, threads: int = 2) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def expected_output_length(model_kind: str, length: int, output_length: Dict[str, Any]) -> int:
    if output_length["rule"] == "same":
        return length
    return demucs_output_length(length, output_length["depth"], output_length["kernel_size"],
                                output_length["stride"], output_length["upsample"])


def check_runtime(path: Path, spec: Dict[str, Any], lengths: Sequence[int],
                  module: Optional[nn.Module] = None, atol: float = 1e-4) -> Dict[int, float]:
    """Run ONNX Runtime on ``lengths``; check output shapes against ``spec`` and, when
    ``module`` is given, values against PyTorch. Returns {length: max abs diff}."""
    try:
        sess = session(path)
    except Exception as e:  # noqa: BLE001
        raise OnnxValidationError(f"{path}: ONNX Runtime cannot load the model: {e}") from e
    in_name = sess.get_inputs()[0].name
    kind = spec["kind"]
    bins = spec["n_fft"] // 2 + 1 if kind == "spectrogram_mask" else 0
    diffs: Dict[int, float] = {}
    for n in lengths:
        x = example_input(kind, n, bins=bins)
        try:
            y = sess.run(None, {in_name: x.numpy()})[0]
        except Exception as e:  # noqa: BLE001 - e.g. a fixed time axis: report as a contract failure
            raise OnnxValidationError(f"{path}: ONNX Runtime failed for input length {n}: {e}") from e
        n_out = expected_output_length(kind, n, spec["output_length"])
        exp = (1, 4, 2, bins, n_out) if kind == "spectrogram_mask" else (1, 4, 2, n_out)
        if tuple(y.shape) != exp:
            raise OnnxValidationError(f"{path}: for input length {n} the output shape is {tuple(y.shape)}, expected {exp}")
        if module is not None:
            with torch.no_grad():
                ref = module(x).numpy()
            d = float(np.max(np.abs(ref - y)))
            diffs[n] = d
            if not d <= atol:
                raise OnnxValidationError(f"{path}: ONNX Runtime differs from PyTorch by {d:.3g} (> {atol}) at length {n}")
    return diffs


def export_and_check(module: nn.Module, model: str, cfg: Dict[str, Any], path: Path,
                     lengths: Optional[Sequence[int]] = None, atol: float = 1e-4) -> Dict[str, Any]:
    """Export, validate statically and compare ORT with PyTorch. Returns a report dict."""
    export_onnx(module, model, path)
    spec = model_spec(model, cfg)
    s = check_static(path, spec["kind"], spec["n_fft"] // 2 + 1 if spec["kind"] == "spectrogram_mask" else 0)
    lengths = list(lengths) if lengths is not None else parity_lengths(model, cfg)
    diffs = check_runtime(path, spec, lengths, module=module, atol=atol)
    return {"io": s, "max_abs_diff": diffs, "spec": spec}
