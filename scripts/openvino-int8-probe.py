#!/usr/bin/env python3
"""Measures whether NNCF's post-training int8 quantisation makes a model set faster through
OpenVINO, and what it costs: per model, the float32 and the int8 time of one window and the
int8 output's SNR against float32; where the CPU has bf16, bf16 and int8 with bf16 for the
rest too. A probe, not a product path: the numbers decide whether a model set gets OpenVINO
int8 files (docs/runtimes.md, "int8 through OpenVINO").

    .venv/bin/pip install nncf==3.4.0 openvino==2026.4.1   # not in the project's requirements
    .venv/bin/python scripts/openvino-int8-probe.py --models models/demo --data DATA

DATA is a MUSDB18-HQ-style folder (``cargo xtask models synth``): windows of its ``valid``
split calibrate the quantisation; the first track of the ``test`` split of ``--measure-data``
(default DATA) gives the window that is timed and compared. Variants (``--variant``):
``default`` (NNCF's defaults), ``transformer`` (``ModelType.TRANSFORMER``), ``no-matmul``
(MatMul left float32) and ``no-matmul-convT`` (MatMul and ConvTranspose left float32).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

STEMS = ("drums", "bass", "other", "vocals")
N_FFT, HOP = 4096, 1024


def mixtures(split: Path, count: int):
    """The first ``count`` tracks' mixtures as the sum of their stems, (2, N) float32."""
    for track in sorted(p for p in split.iterdir() if p.is_dir())[:count]:
        yield sum(sf.read(track / f"{s}.wav", dtype="float32")[0] for s in STEMS).T


def window(mix: np.ndarray, kind: str, start: int, frames: int) -> np.ndarray:
    """One model input: |STFT| (1, 2, 2049, frames) or the waveform (1, 2, samples)."""
    if kind == "waveform":
        return np.ascontiguousarray(mix[None, :, start:start + frames * HOP])
    seg = torch.from_numpy(np.ascontiguousarray(mix[:, start:start + (frames - 1) * HOP]))
    spec = torch.stft(seg, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True,
                      pad_mode="reflect", return_complex=True)
    return spec.abs().numpy()[None].astype(np.float32)


def quantize(model, calibration, variant: str):
    import nncf
    kw = {}
    if variant == "transformer":
        kw["model_type"] = nncf.ModelType.TRANSFORMER
    elif variant == "no-matmul":
        kw["ignored_scope"] = nncf.IgnoredScope(types=["MatMul"])
    elif variant == "no-matmul-convT":
        kw["ignored_scope"] = nncf.IgnoredScope(types=["MatMul", "ConvolutionBackpropData"])
    return nncf.quantize(model, nncf.Dataset(calibration), subset_size=len(calibration), **kw)


def time_one(core, model, x: np.ndarray, threads: int, precision: str = "f32",
             repeats: int = 3):
    """Best of ``repeats`` warm runs (seconds) and the output; ``precision`` is OpenVINO's
    inference precision for the operations left in floating point (``f32`` or ``bf16``)."""
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                 "INFERENCE_PRECISION_HINT": precision,
                                                 "NUM_STREAMS": 1})
    request = compiled.create_infer_request()
    request.infer([x])
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = request.infer([x])
        best = min(best, time.perf_counter() - t)
    return best, np.array(out[0])


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """SNR of ``estimate`` against ``reference`` in dB (float64 sums)."""
    reference = reference.astype(np.float64)
    return float(10 * np.log10(np.sum(reference ** 2) / np.sum((reference - estimate) ** 2)))


def main() -> None:
    import openvino as ov
    import tomllib
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--measure-data", type=Path, help="default: --data")
    p.add_argument("--only", default="unet,demucs,xumx", help="comma-separated model names")
    p.add_argument("--variant", default="default",
                   choices=["default", "transformer", "no-matmul", "no-matmul-convT"])
    p.add_argument("--frames", type=int, default=256, help="window length in STFT hops")
    p.add_argument("--calibration-tracks", type=int, default=3)
    args = p.parse_args()
    manifest = tomllib.loads((args.models / "manifest.toml").read_text())
    core = ov.Core()
    print(f"OpenVINO {ov.__version__}; CPU: {core.get_property('CPU', 'FULL_DEVICE_NAME')}; "
          f"capabilities {core.get_property('CPU', 'OPTIMIZATION_CAPABILITIES')}")
    # Where the CPU has bf16 arithmetic, int8 is compared with bf16 too, and also run with
    # the operations it leaves in floating point in bf16 (OpenVINO's default there).
    bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    calibration_mixes = list(mixtures(args.data / "valid", args.calibration_tracks))
    measured_mix = next(mixtures((args.measure_data or args.data) / "test", 1))
    for name in args.only.split(","):
        spec = manifest["models"].get(name)
        if spec is None:
            continue
        kind = spec["kind"]
        # Two windows per calibration track: its start and 10 s in.
        calibration = [window(m, kind, s, args.frames) for m in calibration_mixes
                       for s in (0, 441_000)]
        x = window(measured_mix, kind, 0, args.frames)
        model = core.read_model(str(args.models / spec["file"]))
        t0 = time.perf_counter()
        q = quantize(model, calibration, args.variant)
        took = time.perf_counter() - t0
        for threads in (1, 2):
            tf, yf = time_one(core, model, x, threads)
            rows = [("int8", q, "f32")]
            if bf16:
                rows = [("bf16", model, "bf16"), *rows, ("int8 + bf16", q, "bf16")]
            cells = []
            for label, m, precision in rows:
                t, y = time_one(core, m, x, threads, precision)
                cells.append(f"{label} {t:.3f} s ({tf / t:.2f}x, {snr_db(yf, y):.1f} dB)")
            print(f"{name} ({args.variant}, quantised in {took:.0f} s), {threads} thread(s): "
                  f"float32 {tf:.3f} s; " + "; ".join(cells)
                  + " (speed-up and SNR against float32)")


if __name__ == "__main__":
    main()
