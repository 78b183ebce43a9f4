"""Differentiable multichannel Wiener filter: a torch port of norbert's ``wiener`` with
``use_softmask=False`` and no residual model (§4), batched, for the X-UMX training loss.

Per batch item, with ``y_j = v_j * exp(i*angle(X))`` as the initial estimate, each EM
iteration computes the power ``v_j = mean_c |y_j|^2`` and the spatial covariance
``R_j[f] = sum_t y_j y_j^H / (eps + sum_t v_j)`` pooled over all frames of the item, then
``y_j = v_j R_j (sum_k v_k R_k + sqrt(eps) I)^-1 X``. As in the training code, ``max_abs =
max(1, max|X|/10)`` is one scalar for the whole batch; ``X`` and ``y`` are divided by it
during the EM and the result multiplied back.

The EM runs on real and imaginary parts (complex tensors are several times slower on a CPU),
in float32 by default; ``dtype=torch.float64`` reproduces the training code's complex128
batched fork (and agrees with norbert to ~1e-15 relative). ``eps`` is the machine epsilon of the type
used, so float32 regularises ``Cxx`` with ``sqrt(eps32) = 3.5e-4`` instead of 1.5e-8 (after
the ``max_abs`` scaling, next to powers up to ~100): that keeps the determinant of a nearly
rank-1 ``Cxx`` (stereo-identical content) well above its rounding error, since
``det(A + δI) >= δ·tr(A)``, and changes the filter only in near-silent bins.

``iterations=0`` returns ``mask * X``. Gradients flow through ``v`` (the masked magnitudes);
the mixture is data and gets none.
"""
from __future__ import annotations

from typing import Tuple

import torch


def wiener(v: torch.Tensor, x: torch.Tensor, iterations: int = 1, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``v`` (B, J, C, F, T) non-negative magnitude estimates (``mask * |X|``), ``x`` (B, C, F, T)
    complex mixture STFT -> (B, J, C, F, T) source STFTs in ``x.dtype``. ``dtype`` is the real
    type the EM runs in: float32 (default) or float64 (the training code's complex128)."""
    out_dtype = x.dtype
    x = x.detach().to(torch.complex128 if dtype == torch.float64 else torch.complex64)
    v = v.to(dtype)
    # exp(i*angle(X)); angle(0) = 0, so silent bins get phase 1 as in numpy
    angle = torch.angle(x)
    if iterations <= 0:
        return torch.polar(v, angle.unsqueeze(1)).to(out_dtype)

    xr, xi = x.real.to(dtype), x.imag.to(dtype)
    max_abs = torch.clamp(torch.sqrt(xr.square() + xi.square()).max() / 10.0, min=1.0)
    xr, xi = xr / max_abs, xi / max_abs
    eps = torch.finfo(dtype).eps
    v = v / max_abs
    if x.shape[1] != 2:
        y = _em_general(torch.polar(v, angle.unsqueeze(1)), torch.complex(xr, xi), iterations, eps)
        return (y * max_abs).to(out_dtype)
    # The first iteration's statistics come straight from v: |y_jc| = v_jc, and
    # y_j0 conj(y_j1) = v_j0 v_j1 exp(i(angle X_0 - angle X_1)), the phase term shared by all j.
    v0, v1 = v.unbind(2)
    p0, p1 = v0.square(), v1.square()
    diff = (angle[:, 0] - angle[:, 1]).to(dtype)
    cross = torch.einsum("bjft,bkft->kbjf", v0 * v1, torch.stack([diff.cos(), diff.sin()], 1))
    one = torch.ones_like(max_abs)
    # the last step's output is multiplied back by max_abs; earlier ones stay in scaled units
    re, im = _em_step_stereo(p0, p1, cross[0], cross[1], xr, xi, eps, max_abs if iterations == 1 else one)
    for i in range(1, iterations):
        (a0, a1), (b0, b1) = re.unbind(2), im.unbind(2)
        re, im = _em_step_stereo(a0.square() + b0.square(), a1.square() + b1.square(),
                                 (a0 * a1 + b0 * b1).sum(-1), (b0 * a1 - a0 * b1).sum(-1), xr, xi, eps,
                                 max_abs if i == iterations - 1 else one)
    return torch.complex(re, im).to(out_dtype)


def _em_step_stereo(p0: torch.Tensor, p1: torch.Tensor, cross_re: torch.Tensor, cross_im: torch.Tensor,
                    xr: torch.Tensor, xi: torch.Tensor, eps: float, scale: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """One EM step for 2 channels on real and imaginary parts, the 2x2 matrices written out,
    from the current estimate's powers ``p_c = |y_jc|^2`` (B, J, F, T) and frame sums of
    ``y_j0 conj(y_j1)`` (B, J, F). Returns ``scale * y`` as (re, im), each (B, J, 2, F, T).

    Same maths as the matrix form (and norbert's closed-form 2x2 inverse without extra
    epsilon); complex tensors, and batched einsums over tiny matrices, are several times
    slower on a CPU. ``R`` and ``Cxx`` are Hermitian, so their diagonals and determinant are
    real. ``xr``/``xi``: (B, 2, F, T)."""
    vj = (p0 + p1) / 2                                                  # v_j = mean_c |y_j|^2
    den = eps + vj.sum(-1)                                              # (B, J, F)
    # whole-item spatial covariance per bin: R = [[r00, r01], [conj(r01), r11]]
    r00 = p0.sum(-1) / den
    r11 = p1.sum(-1) / den
    r01r = cross_re / den
    r01i = cross_im / den
    # Cxx = sum_j v_j R_j + sqrt(eps) I, per (B, F, T): one batched contraction over j
    r = torch.stack([r00, r11, r01r, r01i], -1)                          # (B, J, F, 4)
    c00, c11, c01r, c01i = torch.einsum("bjft,bjfk->kbft", vj, r).unbind(0)
    delta = eps ** 0.5
    c00, c11 = c00 + delta, c11 + delta
    det = c00 * c11 - c01r.square() - c01i.square()
    (xr0, xr1), (xi0, xi1) = xr.unbind(1), xi.unbind(1)
    # (i0, i1) = Cxx^-1 X, with Cxx^-1 = [[c11, -c01], [-conj(c01), c00]] / det (times scale,
    # applied here on (B, F, T) rather than on the 4x larger output)
    inv_x = torch.stack([c11 * xr0 - c01r * xr1 + c01i * xi1,
                         c11 * xi0 - c01r * xi1 - c01i * xr1,
                         c00 * xr1 - c01r * xr0 - c01i * xi0,
                         c00 * xi1 - c01r * xi0 + c01i * xr0], 1) * (scale / det).unsqueeze(1)   # (B, 4, F, T)
    # y_j = v_j R_j Cxx^-1 X; rows: (y0 re, y0 im, y1 re, y1 im), columns: (i0r, i0i, i1r, i1i).
    # One batched matmul over (b, f) instead of 4x3 broadcast products (2x less memory traffic).
    z = torch.zeros_like(r00)
    gain = torch.stack([torch.stack([r00, z, r01r, -r01i], -1),
                        torch.stack([z, r00, r01i, r01r], -1),
                        torch.stack([r01r, r01i, r11, z], -1),
                        torch.stack([-r01i, r01r, z, r11], -1)], -2)      # (B, J, F, 4, 4)
    out = torch.einsum("bjfok,bkft->bjoft", gain, inv_x) * vj.unsqueeze(2)
    return out.unflatten(2, (2, 2)).unbind(3)                           # (B, J, channel, F, T) x re/im


def _em_general(y: torch.Tensor, x: torch.Tensor, iterations: int, eps: float) -> torch.Tensor:
    """Any channel count: the matrix form (slow, only for completeness)."""
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    for _ in range(iterations):
        vj = y.real.square().add(y.imag.square()).mean(2)                   # (B, J, F, T)
        R = torch.einsum("bjcft,bjdft->bjfcd", y, y.conj()) / (eps + vj.sum(-1))[..., None, None]
        vc = vj.to(y.dtype)
        Cxx = torch.einsum("bjft,bjfcd->bftcd", vc, R) + eps ** 0.5 * eye      # (B, F, T, C, C)
        inv_x = torch.einsum("bftcd,bdft->bftc", _inverse(Cxx), x)           # Cxx^-1 X
        y = vc.unsqueeze(2) * torch.einsum("bjfcd,bftd->bjcft", R, inv_x)
    return y


def _inverse(m: torch.Tensor) -> torch.Tensor:
    """Inverse of (..., C, C) matrices; closed form without extra epsilon for C = 2 as norbert."""
    if m.shape[-1] != 2:
        return torch.linalg.inv(m)
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    det = a * d - b * c
    return torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2) / det[..., None, None]
