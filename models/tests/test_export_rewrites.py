"""The export rewrites (unfold as strided slices, unconditional pads) leave outputs unchanged."""
import pytest
import torch

from danna_sep_models.configs import build
from danna_sep_models.unet import _pad_time_to_multiple, _windows


@pytest.mark.parametrize("n", [8, 9, 10, 15, 64])
@pytest.mark.parametrize("size,step", [(8, 2), (3, 1), (5, 3)])
def test_windows_equal_unfold(n, size, step):
    x = torch.randn(2, 3, n)
    assert torch.equal(_windows(x, size, step, legacy=False), _windows(x, size, step, legacy=True))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_pad_equal(n):
    x = torch.randn(1, 2, n)
    assert torch.equal(_pad_time_to_multiple(x, 2, False), _pad_time_to_multiple(x, 2, True))


@pytest.mark.parametrize("T", [64, 65, 67, 130])
def test_unet_rewrite_bit_identical(T):
    torch.manual_seed(0)
    m = build("unet", "tiny")
    x = torch.rand(1, 2, 2049, T)
    with torch.no_grad():
        new = m.set_legacy_ops(False)(x)
        old = m.set_legacy_ops(True)(x)
    assert torch.equal(new, old)
