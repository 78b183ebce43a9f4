"""UNetAttn: 2-D U-Net of D3 blocks with two local multi-head attention layers.

Magnitude ``(B, 2, 2049, T)`` in, mask ``(B, 4, 2, 2049, T)`` out (sigmoid, then 0.25 fill).
Frequency is the height axis, time the width axis.

Two formulations of two ops exist side by side, selected by ``legacy_ops``:

* ``legacy_ops=True``: as written in the training code (``Tensor.unfold`` for the attention
  memory windows; pads guarded by ``if`` on shapes).
* ``legacy_ops=False`` (default): the export-friendly rewrite (``unfold`` as strided slices,
  pads always applied, possibly with width 0). The ONNX tracer bakes Python ``if``s on shapes
  into the graph and ``unfold`` has no dynamic-length ONNX lowering, so export needs this.

Both give bit-identical PyTorch outputs; ``tests/test_unet.py`` proves it.
"""

from typing import List

import torch
from torch import nn
import torch.nn.functional as F


class D2_block(nn.Module):
    """Multi-dilated DenseNet block (D2), ``L`` layers of growth rate ``k``.

    Layer i's conv (dilation 2**i) produces ``k*(L-i)`` channels: chunk 0 is layer i's own
    pre-activation, chunk m >= 1 is added to the pre-activation of layer i+m. Each layer output
    is BN + ReLU of its pre-activation; the block returns the concat of the last
    ``last_n_layers`` outputs. No BN/ReLU is applied to the block input.
    """

    __constants__ = ["in_channels", "k", "L", "last_N"]

    in_channels: int
    k: int
    L: int
    last_N: int

    def __init__(self, in_channels: int, k: int, L: int, last_n_layers: int = 3):
        super().__init__()
        self.in_channels = in_channels
        self.k = k
        self.L = L
        self.last_N = last_n_layers
        self.conv_layers = nn.ModuleList()
        self.bn_layers = nn.ModuleList()
        for i in range(L):
            self.conv_layers.append(nn.Conv2d(k if i > 0 else in_channels, k * (L - i), 3,
                                              padding=2 ** i, dilation=2 ** i, bias=False))
            self.bn_layers.append(nn.Sequential(nn.BatchNorm2d(k), nn.ReLU(inplace=True)))

    def get_output_channels(self) -> int:
        return self.k * min(self.L, self.last_N)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        outputs: List[torch.Tensor] = []
        pending: List[torch.Tensor] = []  # pending[m] is added to the pre-activation of a later layer
        x = input
        i = 0
        for conv, bn in zip(self.conv_layers, self.bn_layers):
            chunks = conv(x).chunk(self.L - i, 1)
            pre = chunks[0]
            if i > 0:
                # own chunk first, then the accumulated contributions of earlier layers
                pre = pre + pending[0]
                pending = [s + t for s, t in zip(pending[1:], chunks[1:])]
            else:
                pending = list(chunks[1:])
            x = bn(pre)
            outputs.append(x)
            i += 1
        if self.last_N > 1 and len(outputs) > 1:
            return torch.cat(outputs[-self.last_N:], 1)
        return outputs[-1]


class D3_block(nn.Module):
    """M densely connected D2 blocks: D2 block m sees concat(input, outputs of blocks < m);
    the D3 block returns concat(input, all D2 outputs)."""

    def __init__(self, in_channels: int, M: int, k: int, L: int, last_n_layers: int = 3):
        super().__init__()
        self.in_channels = in_channels
        self.d2_layers = nn.ModuleList()
        for _ in range(M):
            self.d2_layers.append(D2_block(in_channels, k, L, last_n_layers))
            in_channels += self.d2_layers[-1].get_output_channels()
        self._out_channels = in_channels

    def get_output_channels(self) -> int:
        return self._out_channels

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        raw_inputs: List[torch.Tensor] = [input]
        x = input
        for d2 in self.d2_layers:
            x = d2(torch.cat(raw_inputs, 1) if len(raw_inputs) > 1 else x)
            raw_inputs.append(x)
        return torch.cat(raw_inputs, 1)


def _pad_time_to_multiple(x: torch.Tensor, multiple: int, legacy: bool) -> torch.Tensor:
    """Zero-pad the last axis on the right up to a multiple of ``multiple``."""
    t = x.shape[-1]
    if legacy:
        offset = t % multiple
        if offset != 0:
            offset = multiple - offset
        if offset > 0:
            return F.pad(x, [0, offset])
        return x
    # unconditional: a pad of width 0 is a no-op in PyTorch and traces to a dynamic Pad
    return F.pad(x, [0, (multiple - t % multiple) % multiple])


def _windows(x: torch.Tensor, size: int, step: int, legacy: bool) -> torch.Tensor:
    """Sliding windows over the last axis: ``(..., n) -> (..., (n-size)//step + 1, size)``."""
    if legacy:
        return x.unfold(-1, size, step)
    # Element j of window b is x[step*b + j]. Slicing [j : j-(size-1) : step] yields exactly
    # (n-size)//step + 1 elements, and the (negative or open) end is static, so the traced
    # graph is an ONNX Slice with steps that works for any length.
    parts: List[torch.Tensor] = []
    for j in range(size):
        end = j - (size - 1)
        if end < 0:
            parts.append(x[..., j:end:step])
        else:
            parts.append(x[..., j::step])
    return torch.stack(parts, -1)


class MultiHeadAttention(nn.Module):
    """2-D local multi-head attention along time with full-frequency context.

    Queries are blocks of ``query_shape`` frames x all bins; each block attends to the
    window of ``query_shape + 2*memory_flange`` frames around it x all bins. Key positions
    whose key vector is exactly zero get a bias of -1e-9 (sic: the training code's typo of
    -1e9, kept for bit-compatibility: padded keys are effectively *not* masked).
    """

    __constants__ = ["out_channels", "d_model", "n_heads", "query_shape", "memory_flange"]

    out_channels: int
    d_model: int
    n_heads: int
    query_shape: int
    memory_flange: int
    legacy_ops: bool

    def __init__(self, in_channels: int, out_channels: int, d_model: int = 32, n_heads: int = 8,
                 query_shape: int = 24, memory_flange: int = 8):
        super().__init__()
        self.out_channels = out_channels
        self.d_model = d_model
        self.n_heads = n_heads
        self.query_shape = query_shape
        self.memory_flange = memory_flange
        self.legacy_ops = False
        self.qkv_conv = nn.Conv2d(in_channels, d_model * 3, 3, padding=1)
        self.out_conv = nn.Conv2d(d_model, out_channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qs = self.query_shape
        fl = self.memory_flange
        depth = self.d_model // self.n_heads

        qkv = _pad_time_to_multiple(self.qkv_conv(x), qs, self.legacy_ops)
        # head-major channel layout: head h owns [3*depth*h, 3*depth*(h+1)) = q | k | v
        qkv = qkv.view(qkv.shape[0], self.n_heads, 3 * depth, qkv.shape[2], qkv.shape[3])
        q, k, v = qkv.chunk(3, 2)
        q = q * depth ** -0.5

        k = F.pad(k, [fl, fl])
        v = F.pad(v, [fl, fl])

        # (B, heads, depth, H, nb, qs) and (B, heads, depth, H, nb, qs + 2*fl)
        unfold_q = q.reshape(q.shape[0], q.shape[1], q.shape[2], q.shape[3], q.shape[4] // qs, qs)
        unfold_k = _windows(k, qs + 2 * fl, qs, self.legacy_ops)
        unfold_v = _windows(v, qs + 2 * fl, qs, self.legacy_ops)

        # queries: (B*heads*nb, H*qs, depth), bin-major
        unfold_q = unfold_q.permute(0, 1, 4, 3, 5, 2)
        q_shape = unfold_q.shape
        unfold_q = unfold_q.reshape(-1, unfold_q.shape[-2] * unfold_q.shape[-3], depth)
        unfold_k = unfold_k.permute(0, 1, 4, 2, 3, 5).reshape(unfold_q.shape[0], depth, -1)
        unfold_v = unfold_v.permute(0, 1, 4, 3, 5, 2).reshape(unfold_q.shape[0], -1, depth)

        bias = (unfold_k.abs().sum(-2, keepdim=True) == 0).to(unfold_k.dtype) * -1e-9
        logits = unfold_q @ unfold_k + bias
        weights = logits.softmax(-1)
        out = weights @ unfold_v

        out = out.view(q_shape).permute(0, 1, 5, 3, 2, 4)  # (B, heads, depth, H, nb, qs)
        out = out.reshape(out.shape[0], out.shape[1] * out.shape[2], out.shape[3], -1)
        out = out[..., : x.shape[2], : x.shape[3]]
        return self.out_conv(out)


class UNetAttn(nn.Module):
    """Spleeter-like U-Net of D3 blocks with local attention at the bottleneck.

    Full Danna-Sep config: ``max_bins=1487, k=12, layers=6`` (15,676,652 parameters).
    Smaller demo configs may shrink ``k``, ``attn_channels``/``d_model`` or ``layers``; the
    code path is the same. Needs ``T >= 2**layers`` frames.
    """

    __constants__ = ["max_bins", "n_fft_bins"]

    max_bins: int
    n_fft_bins: int
    legacy_ops: bool

    def __init__(self, max_bins: int = 1487, k: int = 12, layers: int = 6, attn_channels: int = 256,
                 d_model: int = 128, n_heads: int = 8, n_fft: int = 4096):
        super().__init__()
        self.max_bins = max_bins
        self.n_fft_bins = n_fft // 2 + 1
        self.layers = layers
        self.legacy_ops = False
        self.conv_n_filters: List[int] = []

        in_channels = 2
        self.down_convs = nn.ModuleList()
        for i in range(layers):
            L = max(2, layers - i - 1)
            d3 = D3_block(in_channels, M=2, k=k, L=L, last_n_layers=L)
            self.down_convs.append(nn.Sequential(d3, nn.AvgPool2d(2, 2)))
            in_channels = d3.get_output_channels()
            self.conv_n_filters.append(in_channels)

        self.attn = nn.Sequential(
            MultiHeadAttention(in_channels, attn_channels, d_model, n_heads, query_shape=2, memory_flange=3),
            nn.BatchNorm2d(attn_channels),
            nn.ReLU(inplace=True),
            MultiHeadAttention(attn_channels, attn_channels, d_model, n_heads, query_shape=2, memory_flange=3),
            nn.BatchNorm2d(attn_channels),
            nn.ReLU(inplace=True),
        )

        self.up_convs = nn.ModuleList()
        concat_channels = attn_channels
        n_dropout = 3
        for i in range(len(self.conv_n_filters) - 2, -1, -1):
            L = max(2, layers - i - 1)
            d3 = D3_block(self.conv_n_filters[i + 1] + concat_channels, M=2, k=k, L=L, last_n_layers=L)
            block = [
                d3,
                nn.ConvTranspose2d(d3.get_output_channels(), self.conv_n_filters[i], 3, stride=2,
                                   padding=1, bias=False),
                nn.BatchNorm2d(self.conv_n_filters[i]),
                nn.ReLU(inplace=True),
            ]
            if n_dropout > 0:
                block.append(nn.Dropout2d(0.4))
                n_dropout -= 1
            self.up_convs.append(nn.Sequential(*block))
            concat_channels = self.conv_n_filters[i]

        self.end = nn.Sequential(
            nn.ConvTranspose2d(concat_channels * 2, concat_channels, 5, 2, 2, bias=False),
            nn.BatchNorm2d(concat_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(concat_channels, 8, 3, padding=2, dilation=2),
        )

    def set_legacy_ops(self, legacy: bool) -> "UNetAttn":  # noqa: F821
        """Switch between the training code's ops and the export-friendly rewrite."""
        self.legacy_ops = legacy
        for m in self.modules():
            if isinstance(m, MultiHeadAttention):
                m.legacy_ops = legacy
        return self

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        x = spec[:, :, : self.max_bins]

        skips: List[torch.Tensor] = []
        for conv in self.down_convs:
            x = conv(x)
            skips.append(x)
        skips.pop()

        x = torch.cat([x, self.attn(x)], 1)

        i = len(skips) - 1
        for conv in self.up_convs:
            sk = skips[i]
            x = conv(x)
            # upsampled maps are 2n-1 < skip size: zero-pad right/bottom, then (x, skip)
            if self.legacy_ops:
                if x.shape[2] < sk.shape[2] or x.shape[3] < sk.shape[3]:
                    x = F.pad(x, [0, sk.shape[3] - x.shape[3], 0, sk.shape[2] - x.shape[2]])
            else:
                x = F.pad(x, [0, sk.shape[3] - x.shape[3], 0, sk.shape[2] - x.shape[2]])
            x = torch.cat([x, sk], 1)
            i -= 1

        x = self.end(x).sigmoid()
        # bins >= 2*(max_bins//2)-1 and the last 1-2 frames get 0.25 (a training-code quirk)
        x = F.pad(x, [0, spec.shape[3] - x.shape[3], 0, self.n_fft_bins - x.shape[2]], value=0.25)
        return x.view(x.shape[0], 4, 2, x.shape[2], x.shape[3])
