#!/usr/bin/env python3
"""Reproduces why the waveform model (DemucsSplit) stays float32 when bf16 is chosen: on a
CPU with AMX, OpenVINO's bf16 convolution gives wrong results (about 0 dB SNR against
float32) for a 1-D convolution with 8 or 12 input channels and kernel 8 when the input length
is odd, while the same convolution keeps about 51 dB (bf16's rounding) with AMX turned off
(``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16``), with other channel counts, shorter kernels, or
even lengths (1002 and 65,536 pass where 1001, 65,535 and 65,537 fail). The demo
DemucsSplit's second encoder layer is such a convolution (8 channels, kernel 8, stride 4) and
its input length depends on the window, so its bf16 output came out at 0.6 dB SNR against
float32 (docs/runtimes.md, "bf16").

    .venv/bin/pip install openvino==2026.4.1   # not in the project's requirements
    .venv/bin/python scripts/openvino-bf16-conv-repro.py
    ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 .venv/bin/python scripts/openvino-bf16-conv-repro.py

Each line is one ``Conv1d`` exported to ONNX with torch and run through OpenVINO's CPU device
at ``INFERENCE_PRECISION_HINT`` f32 and bf16 on the same random input.
"""
from __future__ import annotations

import io

import numpy as np
import torch

# (input channels, output channels, kernel, stride, input length)
CASES = [
    (2, 8, 8, 4, 71679),
    (8, 16, 8, 4, 71679),
    (8, 16, 8, 4, 71680),
    (8, 16, 8, 4, 1001),
    (8, 16, 8, 1, 1001),
    (8, 16, 4, 4, 1001),
    (12, 16, 8, 4, 71679),
    (16, 16, 8, 4, 71679),
    (48, 96, 8, 4, 71679),
]


def bf16_snr_db(core, ic: int, oc: int, kernel: int, stride: int, length: int) -> float:
    """SNR of the bf16 output against the float32 one, in dB."""
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(ic, oc, kernel, stride).eval()
    x = torch.randn(1, ic, length)
    onnx = io.BytesIO()
    torch.onnx.export(conv, x, onnx, input_names=["x"], dynamo=False)
    model = core.read_model(onnx.getvalue(), b"")
    out = {}
    for precision in ("f32", "bf16"):
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision,
                                                     "INFERENCE_NUM_THREADS": 1})
        out[precision] = np.array(compiled.create_infer_request().infer([x.numpy()])[0],
                                  dtype=np.float64)
    error = np.sum((out["f32"] - out["bf16"]) ** 2)
    return float(10 * np.log10(np.sum(out["f32"] ** 2) / error))


def main() -> None:
    import openvino as ov
    core = ov.Core()
    print(f"OpenVINO {ov.__version__}; CPU: {core.get_property('CPU', 'FULL_DEVICE_NAME')}; "
          f"capabilities {core.get_property('CPU', 'OPTIMIZATION_CAPABILITIES')}")
    for ic, oc, kernel, stride, length in CASES:
        snr = bf16_snr_db(core, ic, oc, kernel, stride, length)
        print(f"Conv1d {ic:2d} -> {oc:2d} channels, kernel {kernel}, stride {stride}, "
              f"length {length:6d} ({'odd' if length % 2 else 'even'}): bf16 SNR against f32 {snr:6.1f} dB")


if __name__ == "__main__":
    main()
