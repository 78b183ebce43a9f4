"""state_dict keys, shapes, order and parameter counts against the fact sheet tables."""
import io

import pytest
import torch

from danna_sep_models.configs import build, count_parameters


def meta(model):
    with torch.device("meta"):
        return build(model, "full")


@pytest.mark.parametrize("model,params,entries", [
    ("xumx", 35_573_392, None),
    ("unet", 15_676_652, 462),
    ("demucs", 191_928_152, None),
])
def test_full_parameter_counts(model, params, entries):
    m = meta(model)
    assert count_parameters(m) == params
    if entries is not None:
        assert len(m.state_dict()) == entries


def test_xumx_state_dict_table():
    sd = meta("xumx").state_dict()
    keys = list(sd)
    assert keys[:4] == ["input_means", "input_scale", "output_means", "output_scale"]
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["input_means"] == shapes["input_scale"] == (5948,)
    assert shapes["output_means"] == shapes["output_scale"] == (8196,)
    assert shapes["affine1.0.weight"] == (2048, 2974, 1)
    for suffix in ("weight", "bias", "running_mean", "running_var"):
        assert shapes[f"affine1.1.{suffix}"] == (2048,)
        assert shapes[f"affine2.1.{suffix}"] == (2048,)
        assert shapes[f"affine2.4.{suffix}"] == (16392,)
    assert sd["affine1.1.num_batches_tracked"].dtype == torch.int64 and sd["affine1.1.num_batches_tracked"].dim() == 0
    assert shapes["affine2.0.weight"] == (2048, 1024, 1)
    assert shapes["affine2.3.weight"] == (16392, 512, 1)
    # LSTMs registered bass, drums, vocals, other; module name other_lstm
    lstm_order = []
    for k in keys:
        name = k.split(".")[0]
        if name.endswith("_lstm") and name not in lstm_order:
            lstm_order.append(name)
    assert lstm_order == ["bass_lstm", "drums_lstm", "vocals_lstm", "other_lstm"]
    for src in ("bass", "drums", "vocals", "other"):
        for l in range(3):
            for rev in ("", "_reverse"):
                assert shapes[f"{src}_lstm.weight_ih_l{l}{rev}"] == (1024, 512)
                assert shapes[f"{src}_lstm.weight_hh_l{l}{rev}"] == (1024, 256)
                assert shapes[f"{src}_lstm.bias_ih_l{l}{rev}"] == (1024,)
                assert shapes[f"{src}_lstm.bias_hh_l{l}{rev}"] == (1024,)
    assert keys.index("affine1.0.weight") < keys.index("bass_lstm.weight_ih_l0") < keys.index("affine2.0.weight")


def test_unet_state_dict_table():
    sd = {k: tuple(v.shape) for k, v in meta("unet").state_dict().items()}
    # down path: (in ch, L, out ch) per level, conv shapes of the D3 blocks
    levels = [(2, 5, 122), (122, 4, 218), (218, 3, 290), (290, 2, 338), (338, 2, 386), (386, 2, 434)]
    for i, (c, L, out) in enumerate(levels):
        p = f"down_convs.{i}.0."
        assert c + 2 * 12 * L == out
        assert sd[p + "d2_layers.0.conv_layers.0.weight"] == (12 * L, c, 3, 3)
        assert sd[p + "d2_layers.1.conv_layers.0.weight"] == (12 * L, c + 12 * L, 3, 3)
        for d in (0, 1):
            for l in range(1, L):
                assert sd[p + f"d2_layers.{d}.conv_layers.{l}.weight"] == (12 * (L - l), 12, 3, 3)
            for l in range(L):
                assert sd[p + f"d2_layers.{d}.bn_layers.{l}.0.weight"] == (12,)
        assert p + f"d2_layers.0.conv_layers.{L}.weight" not in sd
    assert sd["attn.0.qkv_conv.weight"] == (384, 434, 3, 3) and sd["attn.0.qkv_conv.bias"] == (384,)
    assert sd["attn.0.out_conv.weight"] == (256, 128, 3, 3) and "attn.0.out_conv.bias" not in sd
    assert sd["attn.3.qkv_conv.weight"] == (384, 256, 3, 3)
    assert sd["attn.1.weight"] == sd["attn.4.weight"] == (256,)
    ups = [(690, 2, 738, 386), (772, 2, 820, 338), (676, 3, 748, 290), (580, 4, 676, 218), (436, 5, 556, 122)]
    for j, (c, L, d3_out, out) in enumerate(ups):
        assert sd[f"up_convs.{j}.0.d2_layers.0.conv_layers.0.weight"] == (12 * L, c, 3, 3)
        assert sd[f"up_convs.{j}.1.weight"] == (d3_out, out, 3, 3)
        assert sd[f"up_convs.{j}.2.weight"] == (out,)
    assert sd["end.0.weight"] == (244, 122, 5, 5) and "end.0.bias" not in sd
    assert sd["end.1.weight"] == (122,)
    assert sd["end.3.weight"] == (8, 122, 3, 3) and sd["end.3.bias"] == (8,)


def test_unet_dropout_placement():
    m = meta("unet")
    for j in range(5):
        has = any(isinstance(x, torch.nn.Dropout2d) for x in m.up_convs[j])
        assert has == (j < 3)
        if has:
            assert isinstance(m.up_convs[j][4], torch.nn.Dropout2d) and m.up_convs[j][4].p == 0.4


def test_demucs_state_dict_table():
    sd = meta("demucs").state_dict()
    keys = list(sd)
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    # registration order of the top-level modules/buffers
    tops = []
    for k in keys:
        t = k.split(".")[0]
        if t not in tops:
            tops.append(t)
    assert tops == ["up_sample", "down_sample", "encoder", "convs_1x1", "dec_pre_convs", "decoder", "lstm", "lstm_linear"]
    assert shapes["up_sample.kernel"] == (2, 1, 53)
    assert shapes["down_sample.kernel"] == (1, 1, 104)
    C = [48 * 2 ** l for l in range(6)]
    for l in range(6):
        cin = 2 if l == 0 else C[l - 1]
        assert shapes[f"encoder.{l}.0.weight"] == (C[l], cin, 8) and shapes[f"encoder.{l}.0.bias"] == (C[l],)
        assert shapes[f"encoder.{l}.2.weight"] == (2 * C[l], C[l], 1)
        j = 5 - l
        out = C[l] if l > 0 else 8
        assert shapes[f"convs_1x1.{j}.weight"] == (4 * C[l], C[l], 3) and f"convs_1x1.{j}.bias" not in shapes
        assert shapes[f"dec_pre_convs.{j}.weight"] == (4 * C[l], C[l] // 2, 3)
        assert shapes[f"dec_pre_convs.{j}.bias"] == (4 * C[l],)
        assert shapes[f"decoder.{j}.0.weight"] == (2 * C[l], out // 4, 8) and shapes[f"decoder.{j}.0.bias"] == (out,)
    assert shapes["convs_1x1.0.weight"] == (6144, 1536, 3) and shapes["convs_1x1.5.weight"] == (192, 48, 3)
    assert shapes["decoder.0.0.weight"] == (3072, 384, 8) and shapes["decoder.5.0.weight"] == (96, 2, 8)
    assert shapes["lstm.weight_ih_l0"] == shapes["lstm.weight_ih_l0_reverse"] == (6144, 1536)
    assert shapes["lstm.weight_ih_l1"] == shapes["lstm.weight_ih_l1_reverse"] == (6144, 3072)
    assert shapes["lstm.weight_hh_l1"] == (6144, 1536) and shapes["lstm.bias_ih_l1"] == (6144,)
    assert shapes["lstm_linear.weight"] == (3072, 3072)
    # the resampler kernels are buffers, not parameters
    m = meta("demucs")
    assert "up_sample.kernel" not in dict(m.named_parameters())


@pytest.mark.parametrize("model,shape", [
    ("xumx", (1, 2, 2049, 5)),
    ("unet", (1, 2, 2049, 66)),
    ("demucs", (1, 2, 5000)),
])
def test_torchscript_roundtrip_loads_strictly(model, shape):
    """The release files are torch.jit.script'ed training modules: script ours, save, load,
    take the state_dict and load it strictly into a fresh module; outputs must match."""
    torch.manual_seed(1)
    a = build(model, "tiny")
    x = torch.rand(*shape)
    with torch.no_grad():
        ref = a(x)
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(a), buf)
    buf.seek(0)
    ts = torch.jit.load(buf)
    with torch.no_grad():
        assert torch.equal(ts(x), ref)
    torch.manual_seed(2)
    b = build(model, "tiny")
    b.load_state_dict(ts.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(b(x), ref)


def test_xumx_forward_semantics():
    """Mask is ReLU'd and the output affine is applied per source and bin."""
    torch.manual_seed(0)
    m = build("xumx", "tiny")
    with torch.no_grad():
        m.output_means.zero_()
        m.output_means.view(4, -1)[2] = -1e6  # source 2 ("other") forced to 0 by the ReLU
        y = m(torch.rand(1, 2, 2049, 3))
    assert y.shape == (1, 4, 2, 2049, 3)
    assert (y >= 0).all() and (y[:, 2] == 0).all() and (y[:, 0] > 0).any()
