"""Dynamic int8 quantisation of a model set: ``python -m danna_sep_models.cli quantize DIR``.

ONNX Runtime's ``quantize_dynamic`` turns the weights of the LSTM, MatMul (constant weight
only) and Gemm nodes into int8; activations are quantised on the fly at every run. Conv is
left in float32 on purpose: ONNX Runtime's ConvInteger is 2-3x slower than its float Conv on
our CPUs, so quantising the convolutions loses time. The result is lossy: it is written next
to the float file as ``<stem>.int8.onnx`` and recorded in the manifest as the optional keys
``int8_file`` / ``int8_sha256`` of the model; the float file and every other manifest entry
stay as they are. The engine uses the int8 file only when the user asks for it (plugin
parameter "Precision", CLI ``--int8``, ``DANNA_SEP_INT8=1``).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx

from . import manifest
from .onnx_io import check_runtime, example_input, session

QUANT_OPS = ("LSTM", "MatMul", "Gemm")


def int8_name(file: str) -> str:
    """``demucs.onnx`` -> ``demucs.int8.onnx`` (same folder)."""
    p = Path(file)
    return str(p.with_name(p.stem + ".int8.onnx"))


def quantizable(path: Path) -> bool:
    """Whether quantisation would change the graph: an LSTM, or a MatMul/Gemm whose weight
    (second input) is a constant (``quantize_dynamic`` leaves activation x activation
    products, e.g. attention scores, in float32)."""
    m = onnx.load(str(path), load_external_data=False)

    def walk(graph: onnx.GraphProto, outer: frozenset) -> bool:
        consts = outer | {i.name for i in graph.initializer} | {
            o for n in graph.node if n.op_type == "Constant" for o in n.output}
        for node in graph.node:
            if node.domain in ("", "ai.onnx"):
                if node.op_type == "LSTM":
                    return True
                if node.op_type in ("MatMul", "Gemm") and len(node.input) > 1 and node.input[1] in consts:
                    return True
            for a in node.attribute:
                subs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
                if any(walk(g, consts) for g in subs):
                    return True
        return False

    return walk(m.graph, frozenset())


def quantize_file(src: Path, dst: Path) -> None:
    """Quantise the LSTM/MatMul/Gemm weights of ``src`` to int8 (dynamic), writing ``dst``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()  # quiet its "consider pre-processing" advice (for static quantisation)
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=list(QUANT_OPS),
                         weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)


def _example_length(spec: Dict[str, Any]) -> int:
    """A few windows' worth of input, a multiple of ``frame_multiple``, at least ``min_frames``."""
    if spec["kind"] == "spectrogram_mask":
        n = max(spec["min_frames"], 64)
    else:
        n = max(spec["min_frames"], 2 * spec["sample_rate"] // 10)  # 0.2 s of audio
    m = spec["frame_multiple"]
    return -(-n // m) * m


def _compare(float_path: Path, int8_path: Path, spec: Dict[str, Any], length: int) -> Tuple[float, float]:
    """(max abs diff int8 vs float, max abs float output) on the example input of ``length``."""
    bins = spec["n_fft"] // 2 + 1 if spec["kind"] == "spectrogram_mask" else 0
    x = example_input(spec["kind"], length, bins=bins).numpy()
    outs = []
    for p in (float_path, int8_path):
        s = session(p)
        outs.append(s.run(None, {s.get_inputs()[0].name: x})[0].astype(np.float64))
    return float(np.max(np.abs(outs[0] - outs[1]))), float(np.max(np.abs(outs[0])))


def quantize_set(folder: Path, models: Optional[Sequence[str]] = None,
                 log: Callable[[str], None] = print) -> Dict[str, Dict[str, Any]]:
    """Quantise ``models`` of the set in ``folder`` (default: every model with an LSTM, MatMul
    or Gemm node that quantisation changes, see :func:`quantizable`; a named model it would not
    change is skipped), check the int8 files in ONNX Runtime and record them in the manifest.

    Returns ``{model: {"file", "int8_file", "float_bytes", "int8_bytes", "max_abs_diff",
    "float_peak", "length"}}``. The float files are not modified."""
    folder = Path(folder)
    doc = manifest.load(folder)
    entries = doc["models"]
    if models is None:
        names = [n for n, e in entries.items() if quantizable(folder / e["file"])]
    else:
        unknown = [n for n in models if n not in entries]
        if unknown:
            raise manifest.ManifestError(f"{folder}: no model(s) {unknown} in the set (it has {sorted(entries)})")
        names = []
        for n in models:
            if quantizable(folder / entries[n]["file"]):
                names.append(n)
            else:
                log(f"{n}: no LSTM and no MatMul/Gemm with constant weights, nothing to quantise; skipped")
    if not names:
        log(f"{folder}: no model to quantise")
        return {}
    reports: Dict[str, Dict[str, Any]] = {}
    updates: Dict[str, Dict[str, Any]] = {}
    for name in names:
        e = entries[name]
        src = folder / e["file"]
        file = int8_name(e["file"])
        dst = folder / file
        if dst.resolve() == src.resolve():
            raise manifest.ManifestError(f"models.{name}: the int8 file would overwrite {src}")
        tmp = dst.with_name(dst.name + ".tmp")
        try:
            quantize_file(src, tmp)
            mf = e["min_frames"]
            check_runtime(tmp, e, [mf, mf + 1])  # loads, output shapes as the manifest says
            length = _example_length(e)
            diff, peak = _compare(src, tmp, e, length)
            tmp.replace(dst)
        finally:
            tmp.unlink(missing_ok=True)
        r = {"file": e["file"], "int8_file": file, "float_bytes": src.stat().st_size,
             "int8_bytes": dst.stat().st_size, "max_abs_diff": diff, "float_peak": peak, "length": length}
        reports[name] = r
        updates[name] = {"int8_file": file, "int8_sha256": manifest.sha256(dst)}
        log(f"{name}: {e['file']} {_mb(r['float_bytes'])} -> {file} {_mb(r['int8_bytes'])} "
            f"({r['int8_bytes'] / r['float_bytes']:.0%}); max abs diff vs float32 on the example input "
            f"({length} {'frames' if e['kind'] == 'spectrogram_mask' else 'samples'}): {diff:.3g} "
            f"(float32 output peak {peak:.3g})")
    manifest.update_models(folder, updates)
    return reports


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def parse_models(arg: Optional[str]) -> Optional[List[str]]:
    if arg is None:
        return None
    return [m.strip() for m in arg.split(",") if m.strip()]
