"""Per-model I/O facts that the manifest records and the Rust side relies on."""
from __future__ import annotations

from typing import Any, Dict, List

from . import STEMS
from .demucs import demucs_min_length

SAMPLE_RATE = 44100
N_FFT = 4096
HOP = 1024

# ONNX tensor names used by our exporter.
IO_NAMES = {
    "spectrogram_mask": ("mag", "mask"),
    "waveform": ("audio", "stems"),
}

KINDS = {"xumx": "spectrogram_mask", "unet": "spectrogram_mask", "demucs": "waveform"}


def model_spec(model: str, cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Manifest entry (without file/provenance) for ``model`` built with ``cfg``.

    ``min_frames``/``frame_multiple`` count STFT frames for spectrogram models and samples
    for waveform models. ``frame_multiple`` is the preferred multiple (lengths that are
    multiples avoid ragged edges); any length >= ``min_frames`` is accepted.
    """
    kind = KINDS[model]
    spec: Dict[str, Any] = {"kind": kind, "sample_rate": SAMPLE_RATE, "stems": list(STEMS)}
    if kind == "spectrogram_mask":
        n_fft = cfg.get("n_fft", N_FFT)
        spec.update(n_fft=n_fft, hop=HOP, max_bins=cfg.get("max_bins") or n_fft // 2 + 1)
        if model == "unet":
            # `layers` floor-poolings by 2 need >= 2**layers frames
            spec.update(min_frames=2 ** cfg.get("layers", 6), frame_multiple=2 ** cfg.get("layers", 6))
        else:
            spec.update(min_frames=1, frame_multiple=1)
        spec["output_length"] = {"rule": "same"}
    else:
        depth, k, s = cfg.get("depth", 6), cfg.get("kernel_size", 8), cfg.get("stride", 4)
        spec.update(n_fft=0, hop=0, max_bins=0, min_frames=demucs_min_length(depth, k, s, 2), frame_multiple=1)
        spec["output_length"] = {"rule": "demucs", "upsample": 2, "depth": depth, "kernel_size": k, "stride": s}
    return spec


def parity_lengths(model: str, cfg: Dict[str, Any]) -> List[int]:
    """Lengths the export parity check runs: the minimum, odd ones and a larger one."""
    spec = model_spec(model, cfg)
    m = spec["min_frames"]
    if model == "xumx":
        return [1, 2, 7, 24]
    if model == "unet":
        return [m, m + 1, 2 * m - 1, 2 * m + 2]
    return [m, m + 1, 2 * m + 333]
