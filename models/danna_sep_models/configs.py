"""Named model configurations: the full Danna-Sep sizes and small demo/test sizes.

Every config keeps the same code path as the full model (only widths/depth-of-levels change),
so anything tested on a small config holds for the full one.
"""
from __future__ import annotations

from typing import Any, Dict

from torch import nn

from .demucs import DemucsSplit
from .unet import UNetAttn
from .xumx import X_UMX

MODEL_NAMES = ("xumx", "unet", "demucs")

CONFIGS: Dict[str, Dict[str, Dict[str, Any]]] = {
    # The released Danna-Sep networks.
    "full": {
        "xumx": dict(n_fft=4096, hidden_channels=512, max_bins=1487, nb_channels=2, nb_layers=3),
        "unet": dict(max_bins=1487, k=12, layers=6, attn_channels=256, d_model=128, n_heads=8),
        "demucs": dict(channels=48, depth=6, kernel_size=8, stride=4, lstm_layers=2),
    },
    # Demo training on one machine: same I/O contract, a fraction of the cost.
    "small": {
        "xumx": dict(n_fft=4096, hidden_channels=128, max_bins=1487, nb_channels=2, nb_layers=3),
        "unet": dict(max_bins=1487, k=6, layers=6, attn_channels=64, d_model=32, n_heads=8),
        "demucs": dict(channels=16, depth=6, kernel_size=8, stride=4, lstm_layers=2),
    },
    # The shipped demo model set, trained on a 2-core CPU (danna_sep_models.train): the three
    # ONNX files together stay under 36 MB fp32 (1,608,592 + 1,638,668 + 5,342,272 = 8,589,532
    # parameters = 34.4 MB). Demucs dominates through its deepest convs and the BiLSTM.
    "demo": {
        "xumx": dict(n_fft=4096, hidden_channels=48, max_bins=1487, nb_channels=2, nb_layers=3),
        "unet": dict(max_bins=1487, k=4, layers=6, attn_channels=64, d_model=32, n_heads=8),
        "demucs": dict(channels=8, depth=6, kernel_size=8, stride=4, lstm_layers=2),
    },
    # Unit tests: as small as possible while keeping every layer kind and the I/O contract.
    "tiny": {
        "xumx": dict(n_fft=4096, hidden_channels=16, max_bins=1487, nb_channels=2, nb_layers=2),
        "unet": dict(max_bins=1487, k=2, layers=6, attn_channels=16, d_model=16, n_heads=8),
        "demucs": dict(channels=8, depth=6, kernel_size=8, stride=4, lstm_layers=2),
    },
}

_CLASSES = {"xumx": X_UMX, "unet": UNetAttn, "demucs": DemucsSplit}


def build(model: str, config: str = "full", **overrides: Any) -> nn.Module:
    """Construct ``model`` ("xumx", "unet", "demucs") with a named config, in eval mode."""
    if model not in _CLASSES:
        raise ValueError(f"unknown model {model!r}; expected one of {MODEL_NAMES}")
    if config not in CONFIGS:
        raise ValueError(f"unknown config {config!r}; expected one of {tuple(CONFIGS)}")
    kwargs = dict(CONFIGS[config][model])
    kwargs.update(overrides)
    return _CLASSES[model](**kwargs).eval()


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
