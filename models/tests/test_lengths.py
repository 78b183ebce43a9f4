"""Length bookkeeping: Demucs N', U-Net 0.25 fill, julius resampler kernels."""
import pytest
import torch

from danna_sep_models.configs import build
from danna_sep_models.demucs import demucs_min_length, demucs_output_length, encoder_lengths
from danna_sep_models.resample import ResampleFrac, julius_kernel


@pytest.mark.parametrize("n", [4778, 4779, 10000, 44100, 441000, 1_000_003])
def test_demucs_output_length_formula(n):
    e6 = encoder_lengths(n)[-1]
    out = demucs_output_length(n)
    assert out == 2048 * e6 + 2730
    assert 0 <= n - out <= 2047


def test_demucs_min_length():
    assert demucs_min_length() == 4778
    assert encoder_lengths(4778)[-1] == 1 and encoder_lengths(4777)[-1] == 0
    with pytest.raises(ValueError):
        demucs_output_length(4777)


@pytest.mark.parametrize("n", [4778, 4779, 12345])
def test_demucs_actual_length(n):
    torch.manual_seed(0)
    m = build("demucs", "tiny")
    with torch.no_grad():
        y = m(0.1 * torch.randn(1, 2, n))
    assert y.shape == (1, 4, 2, demucs_output_length(n))


def test_demucs_adds_mu_to_every_source():
    """With all decoder weights zeroed the output is mu for every source and channel."""
    torch.manual_seed(0)
    m = build("demucs", "tiny")
    with torch.no_grad():
        for p in m.decoder[-1].parameters():
            p.zero_()
        x = 0.1 * torch.randn(1, 2, 6000) + 0.5
        y = m(x)
        mu = x.mean(1).mean(-1)
    assert torch.allclose(y, mu.expand_as(y), atol=1e-6)


@pytest.mark.parametrize("T", [64, 65, 66, 71])
def test_unet_quarter_fill(T):
    torch.manual_seed(0)
    m = build("unet", "tiny")
    with torch.no_grad():
        y = m(torch.rand(1, 2, 2049, T))
    assert y.shape == (1, 4, 2, 2049, T)
    valid_t = T - 1 if T % 2 == 0 else T - 2
    assert (y[..., 1485:, :] == 0.25).all()        # incl. bins 1485, 1486 < max_bins
    assert (y[..., valid_t:] == 0.25).all()        # last 1 (even T) or 2 (odd T) frames
    inner = y[..., :1485, :valid_t]
    assert (inner > 0).all() and (inner < 1).all() and not (inner == 0.25).all()


def test_julius_kernels():
    up, down = julius_kernel(1, 2), julius_kernel(2, 1)
    assert up.shape == (2, 1, 53) and down.shape == (1, 1, 104)
    assert up[0, 0, 26].item() == pytest.approx(0.94499, abs=1e-5)
    assert down[0, 0, 51].item() == pytest.approx(0.47250, abs=1e-5)
    assert torch.allclose(up.sum(-1), torch.ones(2, 1)) and torch.allclose(down.sum(-1), torch.ones(1, 1))


@pytest.mark.parametrize("n", [1, 2, 7, 100, 101])
def test_resample_lengths_and_julius_parity(n):
    x = torch.randn(2, 2, n)
    up, down = ResampleFrac(1, 2), ResampleFrac(2, 1)
    assert up(x).shape[-1] == 2 * n and down(x).shape[-1] == n // 2
    julius = pytest.importorskip("julius")
    assert torch.equal(up(x), julius.ResampleFrac(1, 2)(x))
    assert torch.equal(down(x), julius.ResampleFrac(2, 1)(x))
    assert torch.equal(up.kernel, julius.ResampleFrac(1, 2).kernel)


def test_unet_worked_example_sizes_full_config():
    """Fact-sheet worked example, full config, T = 2584 (shapes only, on the meta device):
    skip widths 1292/646/323/161/80, bottleneck 23 x 40, heights 743..23, output 2049 x T."""
    with torch.device("meta"):
        m = build("unet", "full")
        shapes = []
        hooks = [c.register_forward_hook(lambda mod, i, o: shapes.append(tuple(o.shape[2:])))
                 for c in m.down_convs]
        y = m(torch.empty(1, 2, 2049, 2584))
    for h in hooks:
        h.remove()
    assert shapes == [(743, 1292), (371, 646), (185, 323), (92, 161), (46, 80), (23, 40)]
    assert y.shape == (1, 4, 2, 2049, 2584)
