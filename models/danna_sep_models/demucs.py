"""DemucsSplit: Demucs (v2 style) with a shared encoder/BiLSTM and four grouped per-source
decoder branches, as trained for Danna-Sep.

Waveform ``(B, 2, N)`` at 44.1 kHz in, ``(B, 4, 2, N')`` out with
``N' = 2048*e_6 + 2730 <= N`` (see :func:`demucs_output_length`).
"""

from typing import List

import torch
from torch import nn

from .resample import ResampleFrac


def rescale_conv_(module: nn.Module, reference: float) -> None:
    """Training-code init: divide every Conv1d/ConvTranspose1d weight and bias by
    ``sqrt(std(w)/reference)``."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
                scale = (m.weight.std() / reference) ** 0.5
                m.weight.div_(scale)
                if m.bias is not None:
                    m.bias.div_(scale)


def encoder_lengths(n: int, depth: int = 6, kernel_size: int = 8, stride: int = 4, upsample: int = 2) -> List[int]:
    """Lengths ``e_0..e_depth``: ``e_0 = upsample*n``, ``e_{l+1} = floor((e_l-k)/s) + 1``."""
    e = [upsample * n]
    for _ in range(depth):
        e.append((e[-1] - kernel_size) // stride + 1)
    return e


def demucs_output_length(n: int, depth: int = 6, kernel_size: int = 8, stride: int = 4, upsample: int = 2) -> int:
    """Output length ``N'`` for input length ``n`` (no valid-length padding anywhere)."""
    d = encoder_lengths(n, depth, kernel_size, stride, upsample)[-1]
    if d < 1:
        raise ValueError(f"input of {n} samples is too short for Demucs (min {demucs_min_length(depth, kernel_size, stride, upsample)})")
    for _ in range(depth):
        d = (d - 1) * stride + kernel_size
    return d // upsample


def demucs_min_length(depth: int = 6, kernel_size: int = 8, stride: int = 4, upsample: int = 2) -> int:
    """Smallest input length giving ``e_depth >= 1``."""
    e = 1
    for _ in range(depth):
        e = (e - 1) * stride + kernel_size
    return -(-e // upsample)


class DemucsSplit(nn.Module):
    """Full Danna-Sep config: ``channels=48, depth=6, kernel_size=8, stride=4, lstm_layers=2``
    (191,928,152 parameters). Demo configs use 8-16 channels; the code path is the same.

    Registration order: up_sample, down_sample, encoder, convs_1x1, dec_pre_convs, decoder,
    lstm, lstm_linear. The three decoder-side lists are built by inserting at the front, so
    index 0 is the deepest level.
    """

    def __init__(self, channels: int = 48, depth: int = 6, rescale: float = 0.1, kernel_size: int = 8,
                 stride: int = 4, lstm_layers: int = 2):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.depth = depth
        self.channels = channels

        self.up_sample = ResampleFrac(1, 2)
        self.down_sample = ResampleFrac(2, 1)

        self.encoder = nn.ModuleList()
        self.convs_1x1 = nn.ModuleList()
        self.dec_pre_convs = nn.ModuleList()
        self.decoder = nn.ModuleList()

        in_channels = 2
        for index in range(depth):
            self.encoder.append(nn.Sequential(
                nn.Conv1d(in_channels, channels, kernel_size, stride),
                nn.ReLU(inplace=True),
                nn.Conv1d(channels, channels * 2, 1),
                nn.GLU(dim=1),
            ))
            out_channels = in_channels * 2 if index > 0 else 8
            # skip projection: not grouped, but produces one C-channel slice per source
            self.convs_1x1.insert(0, nn.Conv1d(channels, channels * 4, 3, padding=1, bias=False))
            self.dec_pre_convs.insert(0, nn.Conv1d(channels * 2, channels * 4, 3, padding=1, groups=4))
            decode: List[nn.Module] = [nn.ConvTranspose1d(channels * 2, out_channels, kernel_size, stride, groups=4)]
            if index > 0:
                decode.append(nn.ReLU(inplace=True))
            self.decoder.insert(0, nn.Sequential(*decode))
            in_channels = channels
            channels *= 2

        self.lstm = nn.LSTM(input_size=in_channels, hidden_size=in_channels, num_layers=lstm_layers,
                            dropout=0.0, bidirectional=True)
        self.lstm_linear = nn.Linear(in_channels * 2, in_channels * 2)

        rescale_conv_(self, rescale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # standardise with the statistics of the whole input (unbiased std + 1e-5)
        mono = x.mean(1, keepdim=True)
        mu = mono.mean(dim=-1, keepdim=True)
        std = mono.std(dim=-1, keepdim=True) + 1e-5
        x = (x - mu) / std

        x = self.up_sample(x)

        saved: List[torch.Tensor] = []
        for encode in self.encoder:
            x = encode(x)
            saved.append(x)

        x = x.permute(2, 0, 1)
        x = self.lstm(x)[0]
        x = self.lstm_linear(x).permute(1, 2, 0)

        for decode, pre_dec, conv1x1 in zip(self.decoder, self.dec_pre_convs, self.convs_1x1):
            skip = saved.pop()
            x = pre_dec(x) + conv1x1(skip[..., : x.shape[2]])
            # per-source GLU: each group of 2C channels -> first C * sigmoid(last C)
            a, b = x.view(x.shape[0], 4, -1, x.shape[2]).chunk(2, 2)
            x = a * b.sigmoid()
            x = decode(x.reshape(x.shape[0], -1, x.shape[3]))

        x = self.down_sample(x)
        x = x * std + mu  # the same mu for every source
        return x.view(x.shape[0], 4, 2, x.shape[-1])
