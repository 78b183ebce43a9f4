"""import-danna on files made from our own definitions: the release layout (xumx.onnx +
two TorchScript files) and plain training checkpoints."""
import numpy as np
import onnx
import pytest
import torch

from danna_sep_models import manifest
from danna_sep_models.checkpoints import CheckpointError, infer_config, load_model
from danna_sep_models.configs import CONFIGS, build
from danna_sep_models.modelset import check_set, import_danna
from danna_sep_models.onnx_io import OnnxValidationError, example_input, export_onnx, session


def _modules(seed):
    mods = {}
    for i, m in enumerate(("xumx", "unet", "demucs")):
        torch.manual_seed(seed + i)
        mods[m] = build(m, "tiny")
        # non-trivial BN statistics so a wrong load would show
        for mod in mods[m].modules():
            if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    return mods


def _compare(out, mods):
    for m, module in mods.items():
        kind = "waveform" if m == "demucs" else "spectrogram_mask"
        n = {"xumx": 7, "unet": 65, "demucs": 5001}[m]
        x = example_input(kind, n, seed=11)
        y = session(out / f"{m}.onnx").run(None, {manifest.load(out)["models"][m]["input_name"]: x.numpy()})[0]
        with torch.no_grad():
            ref = module(x).numpy()
        assert np.max(np.abs(y - ref)) <= 1e-4, m


def test_import_release_layout(tmp_path):
    mods = _modules(10)
    src = tmp_path / "release"
    src.mkdir()
    export_onnx(mods["xumx"], "xumx", src / "xumx.onnx")
    torch.jit.save(torch.jit.script(mods["unet"]), str(src / "unet_attention.pth"))
    torch.jit.save(torch.jit.script(mods["demucs"]), str(src / "demucs_4_decoders.pth"))
    out = tmp_path / "set"
    import_danna(src, out, log=lambda *_: None)
    doc = manifest.load(out)
    assert doc["models"]["xumx"]["provenance"]["format"] == "onnx"
    assert doc["models"]["unet"]["provenance"]["format"] == "torchscript"
    assert doc["models"]["unet"]["config"]["k"] == CONFIGS["tiny"]["unet"]["k"]
    assert doc["blend"]["full"]["weights"]["xumx"] == [0.2, 0.1, 0.0, 0.2]
    # X-UMX used as is
    assert (out / "xumx.onnx").read_bytes() == (src / "xumx.onnx").read_bytes()
    check_set(out)
    _compare(out, mods)


def test_import_training_checkpoints(tmp_path):
    """Plain training checkpoints ({"model": state_dict, ...}). Also: an xumx.onnx with a
    fixed time axis fails runtime validation, and the X-UMX checkpoint next to it is
    exported instead."""
    mods = _modules(20)
    src = tmp_path / "ckpts"
    src.mkdir()
    for m, module in mods.items():
        torch.save({"model": module.state_dict(), "epoch": 3, "config": {"lr": 1e-4}}, src / f"{m}.ckpt")
    with torch.no_grad():
        torch.onnx.export(mods["xumx"], (example_input("spectrogram_mask", 9),), str(src / "xumx.onnx"),
                          dynamo=False, opset_version=17, input_names=["mag"], output_names=["mask"])
    logs = []
    out = tmp_path / "set"
    import_danna(src, out, log=logs.append)
    assert any("re-exporting from xumx.ckpt" in m for m in logs)
    doc = manifest.load(out)
    assert {m["provenance"]["format"] for m in doc["models"].values()} == {"checkpoint"}
    _compare(out, mods)


def test_bad_xumx_onnx_is_rejected(tmp_path):
    mods = _modules(30)
    src = tmp_path / "bad"
    src.mkdir()
    export_onnx(mods["xumx"], "xumx", src / "xumx.onnx")
    m = onnx.load(str(src / "xumx.onnx"))
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 1487  # wrong bin count
    onnx.save(m, str(src / "xumx.onnx"))
    torch.jit.save(torch.jit.script(mods["unet"]), str(src / "unet_attention.pth"))
    torch.jit.save(torch.jit.script(mods["demucs"]), str(src / "demucs_4_decoders.pth"))
    with pytest.raises(OnnxValidationError, match="do not match"):
        import_danna(src, tmp_path / "out", log=lambda *_: None)


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="unet"):
        import_danna(tmp_path, tmp_path / "out", log=lambda *_: None)


def test_checkpoint_formats_and_errors(tmp_path):
    torch.manual_seed(0)
    m = build("demucs", "tiny")
    sd = m.state_dict()
    assert infer_config("demucs", sd)["channels"] == 8
    torch.save(sd, tmp_path / "sd.pth")
    loaded, cfg, fmt = load_model("demucs", tmp_path / "sd.pth")
    assert fmt == "state_dict" and all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), sd.values()))
    with pytest.raises(CheckpointError, match="does not look like"):
        load_model("unet", tmp_path / "sd.pth")
    bad = dict(sd)
    bad.pop("lstm_linear.bias")
    torch.save({"model": bad}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="does not match"):
        load_model("demucs", tmp_path / "bad.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_model("demucs", tmp_path / "junk.pth")

