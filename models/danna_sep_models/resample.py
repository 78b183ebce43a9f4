"""Band-limited fractional resampling, bit-compatible with julius ``ResampleFrac`` (2021).

Demucs (Danna-Sep) upsamples x2 before the encoder and downsamples /2 after the decoder with
julius. The windowed-sinc kernels are registered as a buffer named ``kernel`` so the
state_dict matches the training code (``up_sample.kernel [2,1,53]``,
``down_sample.kernel [1,1,104]``). The kernel is computed in float32 exactly as julius does.

Only integer up- or down-sampling (``old == 1`` or ``new == 1`` after gcd reduction) is
supported: that is all Demucs needs, and it lets the final truncation be a static slice,
which exports to ONNX for any input length.
"""

import math

import torch
from torch import nn
import torch.nn.functional as F


def _sinc(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x == 0, torch.tensor(1.0, dtype=x.dtype), torch.sin(x) / x)


def julius_kernel(old_sr: int, new_sr: int, zeros: int = 24, rolloff: float = 0.945) -> torch.Tensor:
    """Kernels ``(new, 1, 2*width + old)`` of julius ``ResampleFrac(old, new)``."""
    g = math.gcd(old_sr, new_sr)
    old, new = old_sr // g, new_sr // g
    sr = min(new, old) * rolloff
    width = math.ceil(zeros * old / sr)
    idx = torch.arange(-width, width + old).float()
    kernels = []
    for i in range(new):
        t = (-i / new + idx / old) * sr
        t = t.clamp_(-zeros, zeros)
        t *= math.pi
        window = torch.cos(t / zeros / 2) ** 2
        kernel = _sinc(t) * window
        kernel.div_(kernel.sum())
        kernels.append(kernel)
    return torch.stack(kernels).view(new, 1, -1)


class ResampleFrac(nn.Module):
    """Resample by ``new_sr/old_sr`` (integer factor up or down), julius semantics:
    replicate padding of ``width`` left / ``width + old`` right, strided correlation with each
    phase kernel, interleave phases, keep ``floor(new*len/old)`` samples."""

    __constants__ = ["old_sr", "new_sr", "width"]

    old_sr: int
    new_sr: int
    width: int

    def __init__(self, old_sr: int, new_sr: int, zeros: int = 24, rolloff: float = 0.945):
        super().__init__()
        g = math.gcd(old_sr, new_sr)
        self.old_sr = old_sr // g
        self.new_sr = new_sr // g
        if self.old_sr != 1 and self.new_sr != 1:
            raise ValueError("only integer up/down-sampling factors are supported")
        self.zeros = zeros
        self.rolloff = rolloff
        self.width = math.ceil(zeros * self.old_sr / (min(self.old_sr, self.new_sr) * rolloff))
        self.register_buffer("kernel", julius_kernel(self.old_sr, self.new_sr, zeros, rolloff))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, L) -> (B, C, floor(new*L/old))``."""
        channels = x.shape[1]
        y = x.reshape(-1, 1, x.shape[-1])
        y = F.pad(y, [self.width, self.width + self.old_sr], mode="replicate")
        y = F.conv1d(y, self.kernel, stride=self.old_sr)  # (B*C, new, floor(L/old) + 1)
        y = y.transpose(1, 2).reshape(-1, channels, y.shape[1] * y.shape[2])
        # new*(floor(L/old)+1) samples were produced; julius keeps floor(new*L/old), which for
        # old == 1 or new == 1 is always "drop the last `new`".
        return y[..., : -self.new_sr]
