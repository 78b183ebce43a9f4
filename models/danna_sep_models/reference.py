"""Reference (golden) implementation of the released Danna-Sep inference recipe, running an
ONNX model set through ONNX Runtime.

Follows the tool (``danna_sep`` v1.0.2) step by step:

1. ``orig_length = L``; zero-pad 1024 samples on the right (``L' = L + 1024``).
2. Spectrogram models: STFT (n_fft 4096, hop 1024, periodic Hann in float32, centred with
   reflect padding) -> ``mag = |X|`` -> mask (U-Net: independent chunks of 2584 frames;
   X-UMX: whole track) -> ``V = mask * mag`` -> norbert Wiener filter, 1 EM iteration, in
   complex128 with whole-track statistics -> iSTFT in float64 -> float32.
3. Demucs: ``[22050 zeros | audio | 1024 zeros]`` in one call; output samples
   ``[22050, 22050 + min(L', N' - 22050))`` into a zero ``(4, 2, L')`` buffer; clamp to
   +-0.99.
4. Blend: each estimate cropped to ``L``, weighted per stem and accumulated in float32 in the
   manifest's order (full: U-Net, Demucs, X-UMX; fast: U-Net, Demucs).

Deliberate difference from the tool: a U-Net chunk shorter than the model's ``min_frames``
(a track under ~1.5 s, or a last chunk of 1-63 frames) is zero-padded to ``min_frames`` and
the mask cropped back, where the original raises an error.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import numpy as np
import norbert
import torch

from . import STEMS, manifest
from .onnx_io import session

N_FFT = 4096
HOP = 1024
RIGHT_PAD = 1024
DEMUCS_SHIFT = 22050
DEMUCS_CLAMP = 0.99


# ---- STFT / iSTFT with PyTorch semantics -------------------------------------------------

def stft(audio: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """``(C, L)`` float32 -> ``(C, n_fft//2+1, 1 + L//hop)`` complex64 (window in the input dtype)."""
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    w = torch.hann_window(n_fft, periodic=True, dtype=x.dtype)
    return torch.stft(x, n_fft, hop, n_fft, window=w, center=True, pad_mode="reflect",
                      normalized=False, onesided=True, return_complex=True).numpy()


def istft(spec: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """``(..., bins, T)`` complex -> ``(..., hop*(T-1))`` float32, computed in float64 as the
    tool does (c2r: imaginary parts of DC/Nyquist are ignored)."""
    z = torch.from_numpy(np.ascontiguousarray(spec, dtype=np.complex128))
    lead = z.shape[:-2]
    z = z.reshape(-1, z.shape[-2], z.shape[-1])
    w = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    y = torch.istft(z, n_fft, hop, n_fft, window=w, center=True, normalized=False, onesided=True)
    return y.reshape(*lead, y.shape[-1]).float().numpy()


# ---- Wiener filter -----------------------------------------------------------------------

def wiener_norbert(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The tool's call: ``v`` (J, C, F, T) magnitude estimates (mask * |X|), ``x`` (C, F, T)
    mixture STFT -> (J, C, F, T) complex128 source STFTs, 1 EM iteration, no soft mask."""
    V = np.transpose(v, (3, 2, 1, 0))              # (T, F, C, J)
    X = np.transpose(x, (2, 1, 0)).astype(np.complex128)  # (T, F, C)
    Y = norbert.wiener(V, X, 1, use_softmask=False)
    return np.transpose(Y, (3, 2, 1, 0))


def wiener_vectorised(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Same maths as :func:`wiener_norbert` for 2 channels, without Python loops over frames
    (the blueprint for the Rust implementation). Differences are float64 rounding only."""
    X = np.transpose(x, (2, 1, 0)).astype(np.complex128)      # (T, F, C)
    V = np.transpose(v, (3, 2, 1, 0))                          # (T, F, C, J)
    y = V * np.exp(1j * np.angle(X))[..., None]                # initial estimate, complex128
    max_abs = max(1.0, float(np.abs(X).max()) / 10.0)
    X = X / max_abs
    y = y / max_abs
    eps = np.finfo(np.float64).eps
    vj = np.mean(np.abs(y) ** 2, axis=2)                       # (T, F, J)
    # R_j[f] = sum_t y y^H / (eps + sum_t v_j): whole-track spatial covariance per bin
    R = np.einsum("tfcj,tfdj->fcdj", y, np.conj(y)) / (eps + vj.sum(0))[:, None, None, :]
    Cxx = np.einsum("tfj,fcdj->tfcd", vj, R) + np.sqrt(eps) * np.eye(2)
    det = Cxx[..., 0, 0] * Cxx[..., 1, 1] - Cxx[..., 0, 1] * Cxx[..., 1, 0]
    inv = np.empty_like(Cxx)
    inv[..., 0, 0] = Cxx[..., 1, 1] / det
    inv[..., 1, 1] = Cxx[..., 0, 0] / det
    inv[..., 0, 1] = -Cxx[..., 0, 1] / det
    inv[..., 1, 0] = -Cxx[..., 1, 0] / det
    invX = np.einsum("tfcd,tfd->tfc", inv, X)                   # Cxx^-1 x
    out = vj[:, :, None, :] * np.einsum("fcdj,tfd->tfcj", R, invX)
    return np.transpose(out * max_abs, (3, 2, 1, 0))


# ---- model runners ----------------------------------------------------------------------

class ModelSet:
    """An ONNX model set opened with ONNX Runtime (sessions created lazily)."""

    def __init__(self, folder: Path, threads: int = 2):
        self.folder = Path(folder)
        self.doc = manifest.load(self.folder)
        self.threads = threads
        self._sessions: Dict[str, object] = {}

    def model(self, name: str) -> Dict:
        return self.doc["models"][name]

    def run(self, name: str, x: np.ndarray) -> np.ndarray:
        if name not in self._sessions:
            self._sessions[name] = session(self.folder / self.model(name)["file"], self.threads)
        m = self.model(name)
        return self._sessions[name].run([m["output_name"]], {m["input_name"]: np.ascontiguousarray(x, np.float32)})[0]


def mask_model_chunks(ms: ModelSet, name: str, mag: np.ndarray) -> np.ndarray:
    """Run a spectrogram model on ``mag`` (C, F, T): whole track, or independent chunks of
    ``chunk_frames`` when the manifest sets it. Returns the mask (J, C, F, T)."""
    m = ms.model(name)
    T = mag.shape[-1]
    chunk = int(m.get("chunk_frames", 0)) or T
    outs = []
    for start in range(0, T, chunk):
        part = mag[..., start:start + chunk]
        n = part.shape[-1]
        if n < m["min_frames"]:  # guard (the original raises here), see the module docstring
            part = np.pad(part, [(0, 0), (0, 0), (0, m["min_frames"] - n)])
        outs.append(ms.run(name, part[None])[0][..., :n])
    return np.concatenate(outs, -1)


def spectrogram_estimate(ms: ModelSet, name: str, X: np.ndarray, vectorised_wiener: bool = False) -> np.ndarray:
    """Mixture STFT ``X`` (C, F, T) -> source waveforms (J, C, hop*(T-1)) float32."""
    mag = np.abs(X)
    mask = mask_model_chunks(ms, name, mag)
    v = mask * mag[None]  # magnitude estimate, float32
    Y = (wiener_vectorised if vectorised_wiener else wiener_norbert)(v, X)
    return istft(Y, ms.model(name)["n_fft"], ms.model(name)["hop"])


def demucs_estimate(ms: ModelSet, name: str, padded: np.ndarray) -> np.ndarray:
    """``padded`` (C, L') -> (J, C, L') with the tool's shifts=1 scheme and the +-0.99 clamp."""
    Lp = padded.shape[-1]
    x = np.pad(padded, [(0, 0), (DEMUCS_SHIFT, 0)])  # [22050 zeros | audio | 1024 zeros]
    y = ms.run(name, x[None])[0]
    out = np.zeros((y.shape[0], y.shape[1], Lp), np.float32)
    n = min(Lp, y.shape[-1] - DEMUCS_SHIFT)
    out[..., :n] += y[..., DEMUCS_SHIFT:DEMUCS_SHIFT + n]
    return np.clip(out, -DEMUCS_CLAMP, DEMUCS_CLAMP)


def separate(audio: np.ndarray, ms: ModelSet, mode: str = "full", vectorised_wiener: bool = False
             ) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """Stereo ``audio`` (2, L) float32 at 44.1 kHz -> (blend (4, 2, L), per-model estimates
    cropped to L). Stem order: drums, bass, other, vocals."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 2 or audio.shape[0] != 2:
        raise ValueError(f"expected stereo audio of shape (2, L), got {audio.shape}")
    L = audio.shape[-1]
    padded = np.pad(audio, [(0, 0), (0, RIGHT_PAD)])
    blend = ms.doc["blend"][mode]
    X = None
    est: Dict[str, np.ndarray] = {}
    acc = np.zeros((len(STEMS), 2, L), np.float32)
    for name in blend["order"]:
        m = ms.model(name)
        if m["kind"] == "spectrogram_mask":
            if X is None:
                X = stft(padded, m["n_fft"], m["hop"])
            y = spectrogram_estimate(ms, name, X, vectorised_wiener)
        else:
            y = demucs_estimate(ms, name, padded)
        est[name] = y[..., :L]
        w = np.asarray(blend["weights"][name], np.float32)[:, None, None]
        acc = acc + w * est[name]
    return acc, est


# ---- files --------------------------------------------------------------------------------

def read_wav(path: Path) -> Tuple[np.ndarray, int]:
    from scipy.io import wavfile
    sr, data = wavfile.read(str(path))
    if data.dtype.kind == "i":
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    elif data.dtype.kind == "u":
        data = (data.astype(np.float32) - 128.0) / 128.0
    data = np.asarray(data, np.float32)
    return (data[:, None] if data.ndim == 1 else data).T, sr


def separate_files(inputs: Iterable[Path], model_set: Path, outdir: Path, mode: str = "full",
                   vectorised_wiener: bool = False) -> List[Path]:
    """Write ``<outdir>/<name>_{drums,bass,other,vocals}.wav`` (32-bit float, 44.1 kHz)."""
    from scipy.io import wavfile
    ms = ModelSet(model_set)
    written = []
    for path in inputs:
        audio, sr = read_wav(Path(path))
        if sr != 44100:
            raise ValueError(f"{path}: {sr} Hz; the reference pipeline takes 44.1 kHz input only")
        if audio.shape[0] != 2:
            raise ValueError(f"{path}: {audio.shape[0]} channels; Danna-Sep needs stereo")
        out, _ = separate(audio, ms, mode, vectorised_wiener)
        for s, stem in enumerate(STEMS):
            Path(outdir).mkdir(parents=True, exist_ok=True)
            f = Path(outdir) / f"{Path(path).stem}_{stem}.wav"
            wavfile.write(str(f), 44100, out[s].T.copy())
            written.append(f)
    return written
