"""Training losses and the validation metric (§9), and the forward paths they score.

- Spectrogram models (X-UMX, U-Net): ``X = STFT(mix)`` (n_fft 4096, hop 1024, periodic Hann,
  ``center=True`` reflect, complex64); ``mask = model(|X|)``; ``Y = MWF(mask*|X|, X)`` with 1
  EM iteration for X-UMX, ``Y = mask*X`` for the U-Net; ``ŝ = iSTFT(Y)`` at the input length.
  Loss: :func:`combination_loss` with ``mcoeff = 10``.
- Demucs: L1 between the output and the target cropped to the output length.
- Validation SDR: ``10*log10((|s|^2 + 1e-7) / (|s - ŝ|^2 + 1e-7))`` per (example, source)
  over both channels (:func:`sdr`), or per (track, source) over its evaluated segments and
  averaged over the tracks where the source plays (:func:`pooled_sdr`, what training uses).

The combination loss runs in float32/complex64 like the training code's ``Spec`` (its time term
uses a float64 Gram matrix, see :func:`combination_loss`). The MWF runs in float32 by default,
where the training code used complex128 (``mwf_dtype=torch.float64``); see :mod:`.mwf`.
"""
from __future__ import annotations

import itertools
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .mwf import wiener

N_FFT = 4096
HOP = 1024

# the 14 non-empty proper subsets of the 4 sources: 4 singles, 6 pairs, 4 triples
COMBINATIONS = [c for r in (1, 2, 3) for c in itertools.combinations(range(4), r)]


def combination_matrix(device: torch.device = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(14, 4) 0/1 matrix: row k selects the sources of ``COMBINATIONS[k]``."""
    m = torch.zeros(len(COMBINATIONS), 4, dtype=dtype, device=device)
    for i, c in enumerate(COMBINATIONS):
        m[i, list(c)] = 1
    return m


def stft(x: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """``(..., N)`` real -> ``(..., n_fft//2+1, 1 + N//hop)`` complex (PyTorch conventions, §3)."""
    lead = x.shape[:-1]
    w = torch.hann_window(n_fft, periodic=True, dtype=x.dtype, device=x.device)
    z = torch.stft(x.reshape(-1, x.shape[-1]), n_fft, hop, n_fft, window=w, center=True, pad_mode="reflect",
                   normalized=False, onesided=True, return_complex=True)
    return z.reshape(*lead, *z.shape[-2:])


def istft(z: torch.Tensor, length: int, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """``(..., bins, T)`` complex -> ``(..., length)`` real (c2r: DC/Nyquist imaginary parts ignored)."""
    lead = z.shape[:-2]
    w = torch.hann_window(n_fft, periodic=True, dtype=z.real.dtype, device=z.device)
    y = torch.istft(z.reshape(-1, *z.shape[-2:]), n_fft, hop, n_fft, window=w, center=True,
                    normalized=False, onesided=True, length=length)
    return y.reshape(*lead, length)


def separate_spectrogram(model: nn.Module, mix: torch.Tensor, mwf_iterations: int,
                         mwf_dtype: torch.dtype = torch.float32) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mask-model forward path: ``mix`` (B, 2, N) -> (source STFTs Y (B, 4, 2, F, T),
    waveforms ŝ (B, 4, 2, N)). ``mwf_dtype``: the real type of the MWF's EM (see :mod:`.mwf`)."""
    X = stft(mix)
    mag = X.abs()
    mask = model(mag)
    if mwf_iterations > 0:
        Y = wiener(mask * mag.unsqueeze(1), X, mwf_iterations, dtype=mwf_dtype)
    else:
        Y = mask * X.unsqueeze(1)  # what the MWF gives with 0 iterations, without the detour
    return Y, istft(Y, mix.shape[-1])


def weighted_sdr_loss(est: torch.Tensor, target: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """Weighted-SDR loss per row (last axis = time): ``-α cos(s, ŝ) - (1-α) cos(n, n̂)`` with
    ``n = mix - s``, ``α = |s|² / (|s|² + |n|² + 1e-10)``."""
    noise, noise_est = mix - target, mix - est

    def cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1) + 1e-10)

    s2, n2 = target.square().sum(-1), noise.square().sum(-1)
    alpha = s2 / (s2 + n2 + 1e-10)
    return -alpha * cos(target, est) - (1 - alpha) * cos(noise, noise_est)


def combination_loss(Y: torch.Tensor, S: torch.Tensor, est: torch.Tensor, target: torch.Tensor,
                     mix: torch.Tensor, mcoeff: float = 10.0) -> torch.Tensor:
    """CLoss: frequency term + ``mcoeff`` x time term over the 14 source combinations.

    ``Y``/``S`` (B, 4, C, F, T) complex estimate/target STFTs; ``est``/``target`` (B, 4, C, N)
    waveforms; ``mix`` (B, C, N).

    Frequency term: mean over combinations of the mean squared complex error of the summed
    STFTs. With ``d_j = Y_j - S_j``, ``sum_c |sum_{j in c} d_j|^2 = 4 sum_j |d_j|^2 + 3 |sum_j d_j|^2``
    (each source is in 7 of the 14 combinations, each pair in 3), which avoids materialising 14
    combined spectrograms.

    Time term: ``1 + mean`` of the weighted-SDR loss over combinations, batch and channels
    (each channel its own row). All the dot products it needs are bilinear in the 9 signals
    ``(s_1..s_4, ŝ_1..ŝ_4, mix)``, so they come from one float64 Gram matrix per row; float64
    because ``|mix - ŝ_c|^2`` expanded that way cancels when ``ŝ_c`` is close to the mixture.
    :func:`combination_loss_direct` is the literal formula (tests check both agree)."""
    d = Y - S
    power = d.real.square() + d.imag.square()
    total = d.sum(1)
    freq = (4 * power.sum(1) + 3 * (total.real.square() + total.imag.square())).mean() / len(COMBINATIONS)

    u = torch.cat([target, est, mix.unsqueeze(1)], 1).transpose(1, 2).to(torch.float64)  # (B, C, 9, N)
    gram = u @ u.transpose(-1, -2)                                                         # (B, C, 9, 9)
    a = combination_matrix(est.device, torch.float64)                                      # (14, 4)
    zero = torch.zeros_like(a)
    one = torch.ones(len(COMBINATIONS), 1, dtype=torch.float64, device=est.device)
    p_s = torch.cat([a, zero, 0 * one], 1)       # s_c
    p_e = torch.cat([zero, a, 0 * one], 1)       # ŝ_c
    p_n = torch.cat([-a, zero, one], 1)          # n = mix - s_c
    p_ne = torch.cat([zero, -a, one], 1)         # n̂ = mix - ŝ_c

    def dot(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:   # (B, C, 14)
        return torch.einsum("ki,bcij,kj->bck", p, gram, q)

    def norm(p: torch.Tensor) -> torch.Tensor:
        # clamp: rounding may leave a tiny negative square; sqrt'(0) would be infinite
        return dot(p, p).clamp_min(1e-30).sqrt()

    s2, n2 = dot(p_s, p_s), dot(p_n, p_n)
    alpha = s2 / (s2 + n2 + 1e-10)
    cos_s = dot(p_s, p_e) / (norm(p_s) * norm(p_e) + 1e-10)
    cos_n = dot(p_n, p_ne) / (norm(p_n) * norm(p_ne) + 1e-10)
    time = 1 + (-alpha * cos_s - (1 - alpha) * cos_n).mean().to(est.dtype)
    return freq + mcoeff * time


def combination_loss_direct(Y: torch.Tensor, S: torch.Tensor, est: torch.Tensor, target: torch.Tensor,
                            mix: torch.Tensor, mcoeff: float = 10.0) -> torch.Tensor:
    """:func:`combination_loss` written literally, one combination at a time (reference for
    the tests; too slow and memory-hungry for training)."""
    freq, time = [], []
    for comb in COMBINATIONS:
        idx = list(comb)
        dy = Y[:, idx].sum(1) - S[:, idx].sum(1)
        freq.append((dy.real.square() + dy.imag.square()).mean())
        time.append(weighted_sdr_loss(est[:, idx].sum(1), target[:, idx].sum(1), mix).mean())
    return torch.stack(freq).mean() + mcoeff * (1 + torch.stack(time).mean())


def spectrogram_loss(model: nn.Module, mix: torch.Tensor, stems: torch.Tensor, mwf_iterations: int,
                     mcoeff: float = 10.0, mwf_dtype: torch.dtype = torch.float32) -> Tuple[torch.Tensor, torch.Tensor]:
    """(loss, waveform estimates) for X-UMX (``mwf_iterations=1``) or the U-Net (0)."""
    Y, est = separate_spectrogram(model, mix, mwf_iterations, mwf_dtype)
    return combination_loss(Y, stft(stems), est, stems, mix, mcoeff), est


def demucs_loss(model: nn.Module, mix: torch.Tensor, stems: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(L1 loss, estimates (B, 4, 2, N')) with the target cropped to the output length N'."""
    est = model(mix)
    return F.l1_loss(est, stems[..., : est.shape[-1]]), est


def energy_ratio_db(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``10*log10((num + 1e-7) / (den + 1e-7))``: reference over error energy, the SDR of both
    :func:`sdr` and :func:`pooled_sdr` (the epsilon keeps silent stems finite)."""
    return 10 * torch.log10((num + 1e-7) / (den + 1e-7))


def sdr(est: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Validation SDR in dB per (example, source): ``est``/``target`` (B, J, C, N'), the target
    already cropped to the estimate's length. Returns (B, J)."""
    return energy_ratio_db(target.square().sum((-2, -1)), (target - est).square().sum((-2, -1)))


# Mean square (per sample and channel) below which a reference stem counts as resting: -80 dBFS.
# The generator's rests are digital silence; a quiet part at -50 dBFS is 1e3 times louder.
SILENT_POWER = 1e-8


def pooled_sdr(num: torch.Tensor, den: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
    """Validation SDR in dB per source, averaged over tracks: ``num`` / ``den`` (T, J) are each
    track's reference and error energies summed over its evaluated segments (the MDX definition
    pools before the ratio), ``samples`` (T,) how many values (channels x samples) each sum holds.

    A (track, source) whose reference rests in everything evaluated is left out of that source's
    mean: its ratio is only the leakage's level (-70 dB and below for a good model) and would
    swamp the others, so the checkpoint choice would follow the leakage into one silent stem.
    A source silent in every track is NaN; the caller averages the rest."""
    ratio = energy_ratio_db(num, den)
    present = num / samples.unsqueeze(-1) >= SILENT_POWER
    counted = present.sum(0)
    total = torch.where(present, ratio, torch.zeros_like(ratio)).sum(0)
    return torch.where(counted > 0, total / counted.clamp(min=1), torch.full_like(total, float("nan")))
