"""ONNX export: opset, dynamic axes, ORT-vs-PyTorch parity on several lengths."""
import numpy as np
import onnx
import pytest
import torch

from danna_sep_models.onnx_io import example_input, io_summary, session
from danna_sep_models.specs import parity_lengths
from danna_sep_models.configs import CONFIGS


@pytest.mark.parametrize("model", ["xumx", "unet", "demucs"])
def test_exported_parity(tiny_set, model):
    folder, modules = tiny_set
    path = folder / f"{model}.onnx"
    s = io_summary(path)
    assert s["opset"] >= 17
    assert s["input_dims"][0] is None and s["input_dims"][-1] is None  # dynamic batch and time
    sess = session(path)
    kind = "waveform" if model == "demucs" else "spectrogram_mask"
    lengths = parity_lengths(model, CONFIGS["tiny"][model])
    assert min(lengths) == {"xumx": 1, "unet": 64, "demucs": 4778}[model]
    assert any(n % 2 for n in lengths)
    for n in lengths:
        x = example_input(kind, n, seed=7)
        y = sess.run(None, {s["input_name"]: x.numpy()})[0]
        with torch.no_grad():
            ref = modules[model](x).numpy()
        assert y.shape == ref.shape
        assert np.max(np.abs(y - ref)) <= 1e-4


def test_batch_axis_dynamic(tiny_set):
    folder, modules = tiny_set
    sess = session(folder / "xumx.onnx")
    x = example_input("spectrogram_mask", 5, batch=2)
    y = sess.run(None, {"mag": x.numpy()})[0]
    with torch.no_grad():
        ref = modules["xumx"](x).numpy()
    assert y.shape == (2, 4, 2, 2049, 5) and np.max(np.abs(y - ref)) <= 1e-4


def test_declared_output_dims(tiny_set):
    folder, _ = tiny_set
    for model, dims in (("xumx", [None, 4, 2, 2049, None]), ("unet", [None, 4, 2, 2049, None]),
                        ("demucs", [None, 4, 2, None])):
        assert io_summary(folder / f"{model}.onnx")["output_dims"] == dims
        onnx.checker.check_model(str(folder / f"{model}.onnx"))
