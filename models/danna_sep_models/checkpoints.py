"""Loading weights from the three formats the Danna-Sep world uses, and inferring the model
configuration from a state_dict's shapes (so small test/demo checkpoints import without
naming their config).

Formats: a TorchScript archive (``torch.jit.save`` of ``torch.jit.script(model)``, as in the
released ``unet_attention.pth`` / ``demucs_4_decoders.pth``), a training checkpoint (a dict
holding a ``model`` state_dict), or a bare state_dict.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

import torch
from torch import nn

from .demucs import DemucsSplit
from .unet import UNetAttn
from .xumx import X_UMX

StateDict = Dict[str, torch.Tensor]


class CheckpointError(ValueError):
    """The file is not a usable checkpoint for the requested model."""


def _is_torchscript(path: Path) -> bool:
    # TorchScript archives are zip files with a code/ or constants.pkl entry; torch.save
    # files (new format) are zips too, but with only data.pkl + data/.
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    return any(n.split("/", 1)[-1].startswith(("code/", "constants.pkl")) for n in names)


def load_state_dict(path: Path, allow_pickle: bool = False) -> Tuple[StateDict, str]:
    """Return ``(state_dict, format)`` with format in {"torchscript", "checkpoint", "state_dict"}.

    torch.save files are read with ``weights_only=True`` (no arbitrary code); a training
    checkpoint that pickles other objects needs ``allow_pickle=True`` (trusted files only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if _is_torchscript(path):
        module = torch.jit.load(str(path), map_location="cpu")
        return {k: v.detach().clone() for k, v in module.state_dict().items()}, "torchscript"
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=not allow_pickle)
    except Exception as e:  # noqa: BLE001 - report any unpickling failure as a bad checkpoint
        hint = "" if allow_pickle else " (if it is a trusted checkpoint pickling other objects, pass --allow-pickle)"
        raise CheckpointError(f"{path}: not a TorchScript archive nor a loadable torch.save checkpoint{hint}: {e}") from e
    for key in ("model", "state_dict"):  # the training repo saves {"model": ...}; tolerate the other usual name
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            return dict(obj[key]), "checkpoint"
    if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj), "state_dict"
    raise CheckpointError(f"{path}: expected a state_dict or a dict with a 'model' state_dict")


def _count(sd: Mapping[str, Any], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd for m in [rx.match(k)] if m})


def infer_config(model: str, sd: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """Constructor kwargs for ``model`` read from state_dict shapes. Values that shapes cannot
    reveal (U-Net ``max_bins``/``n_heads``, Demucs ``stride``) take the Danna-Sep values."""
    try:
        if model == "xumx":
            max_bins = sd["input_means"].numel() // 4
            return dict(
                n_fft=2 * (sd["output_means"].numel() // 4 - 1),
                hidden_channels=sd["affine1.0.weight"].shape[0] // 4,
                max_bins=max_bins,
                nb_channels=sd["affine1.0.weight"].shape[1] // max_bins,
                nb_layers=_count(sd, r"bass_lstm\.weight_ih_l(\d+)$"),
            )
        if model == "unet":
            return dict(
                max_bins=1487,
                k=sd["down_convs.0.0.d2_layers.0.bn_layers.0.0.weight"].shape[0],
                layers=_count(sd, r"down_convs\.(\d+)\."),
                attn_channels=sd["attn.1.weight"].shape[0],
                d_model=sd["attn.0.out_conv.weight"].shape[1],
                n_heads=8,
            )
        if model == "demucs":
            w = sd["encoder.0.0.weight"]
            return dict(
                channels=w.shape[0],
                depth=_count(sd, r"encoder\.(\d+)\."),
                kernel_size=w.shape[2],
                stride=4,
                lstm_layers=_count(sd, r"lstm\.weight_ih_l(\d+)$"),
            )
    except KeyError as e:
        raise CheckpointError(f"state_dict does not look like a {model} model: missing {e}") from e
    raise ValueError(f"unknown model {model!r}")


_CLASSES = {"xumx": X_UMX, "unet": UNetAttn, "demucs": DemucsSplit}


def model_from_state_dict(model: str, sd: StateDict, **overrides: Any) -> Tuple[nn.Module, Dict[str, Any]]:
    """Build ``model`` with the inferred config and load ``sd`` strictly. Returns (module, config)."""
    cfg = infer_config(model, sd)
    cfg.update(overrides)
    m = _CLASSES[model](**cfg)
    try:
        m.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{model}: state_dict does not match the architecture: {e}") from e
    return m.eval(), cfg


def load_model(model: str, path: Path, allow_pickle: bool = False, **overrides: Any) -> Tuple[nn.Module, Dict[str, Any], str]:
    """Load ``model`` from any supported file. Returns (module in eval mode, config, format)."""
    sd, fmt = load_state_dict(path, allow_pickle)
    m, cfg = model_from_state_dict(model, sd, **overrides)
    return m, cfg, fmt
