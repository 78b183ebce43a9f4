"""X-UMX (CrossNet-Open-Unmix) as trained for Danna-Sep (``X_UMX`` in the training repo).

Magnitude ``(B, 2, n_fft//2+1, T)`` in, non-negative mask ``(B, 4, 2, n_fft//2+1, T)`` out,
sources in the order drums, bass, other, vocals.
"""

from typing import Optional

import torch
from torch import nn
import torch.nn.functional as F


class X_UMX(nn.Module):
    """CrossNet-Open-Unmix with four grouped encoders/decoders and four BiLSTMs.

    Registration order (and so the state_dict order) is: input_means, input_scale,
    output_means, output_scale, affine1, bass_lstm, drums_lstm, vocals_lstm, other_lstm,
    affine2. Do not reorder: state_dicts of the training code are loaded strictly.
    """

    __constants__ = ["nb_output_bins", "max_bins", "hidden_channels", "nb_channels"]

    nb_output_bins: int
    max_bins: int
    hidden_channels: int
    nb_channels: int

    def __init__(self, n_fft: int = 4096, hidden_channels: int = 512, max_bins: Optional[int] = 1487,
                 nb_channels: int = 2, nb_layers: int = 3):
        super().__init__()
        self.nb_output_bins = n_fft // 2 + 1
        self.max_bins = max_bins if max_bins else self.nb_output_bins
        self.hidden_channels = hidden_channels
        self.n_fft = n_fft
        self.nb_channels = nb_channels
        self.nb_layers = nb_layers

        # Per-source (4 groups), per-bin affine normalisation, shared by both channels.
        self.input_means = nn.Parameter(torch.zeros(4 * self.max_bins))
        self.input_scale = nn.Parameter(torch.ones(4 * self.max_bins))
        self.output_means = nn.Parameter(torch.zeros(4 * self.nb_output_bins))
        self.output_scale = nn.Parameter(torch.ones(4 * self.nb_output_bins))

        self.affine1 = nn.Sequential(
            # four per-source encoders (nb_channels*max_bins -> hidden) as one grouped conv
            nn.Conv1d(nb_channels * self.max_bins * 4, hidden_channels * 4, 1, bias=False, groups=4),
            nn.BatchNorm1d(hidden_channels * 4),
            nn.Tanh(),
        )
        # Registered bass, drums, vocals, other (the training code's order).
        self.bass_lstm = self._lstm()
        self.drums_lstm = self._lstm()
        self.vocals_lstm = self._lstm()
        self.other_lstm = self._lstm()

        self.affine2 = nn.Sequential(
            nn.Conv1d(hidden_channels * 2, hidden_channels * 4, 1, bias=False),
            nn.BatchNorm1d(hidden_channels * 4),
            nn.ReLU(inplace=True),
            nn.Conv1d(hidden_channels * 4, nb_channels * self.nb_output_bins * 4, 1, bias=False, groups=4),
            nn.BatchNorm1d(nb_channels * self.nb_output_bins * 4),
        )

    def _lstm(self) -> nn.LSTM:
        return nn.LSTM(input_size=self.hidden_channels, hidden_size=self.hidden_channels // 2,
                       num_layers=self.nb_layers, dropout=0.4, bidirectional=True)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        batch = spec.shape[0]
        frames = spec.shape[3]
        x = spec[:, :, : self.max_bins]
        # (B, 1, C, F, T) with (4, 1, F, 1) -> (B, 4, C, F, T)
        x = (x.unsqueeze(1) + self.input_means.view(4, 1, -1, 1)) * self.input_scale.view(4, 1, -1, 1)
        x = x.reshape(batch, -1, frames)

        # cross-net: mean of the four encoder outputs
        cross_1 = self.affine1(x).view(batch, 4, self.hidden_channels, frames).mean(1)
        cross_1 = cross_1.permute(2, 0, 1)  # (T, B, H), sequence first

        bass = self.bass_lstm(cross_1)[0]
        drums = self.drums_lstm(cross_1)[0]
        other = self.other_lstm(cross_1)[0]
        vocals = self.vocals_lstm(cross_1)[0]
        # summation order is fixed by the original code
        avg = (bass + drums + vocals + other) * 0.25

        cross_2 = torch.cat([cross_1, avg], 2).permute(1, 2, 0)  # (B, 2H, T)
        out = self.affine2(cross_2).view(batch, 4, self.nb_channels, self.nb_output_bins, frames)
        out = out * self.output_scale.view(4, 1, -1, 1) + self.output_means.view(4, 1, -1, 1)
        return F.relu(out)
