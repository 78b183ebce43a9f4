"""``quantize``: int8 variants next to the float files, recorded in the manifest."""
import shutil

import pytest

from danna_sep_models import manifest
from danna_sep_models.modelset import check_set
from danna_sep_models.quantize import int8_name, quantizable, quantize_set


@pytest.fixture
def tiny_copy(tiny_set, tmp_path):
    """A private copy of the session's tiny set (quantize rewrites the manifest)."""
    dst = tmp_path / "set"
    shutil.copytree(tiny_set[0], dst)
    return dst


def _snapshot(folder):
    doc = manifest.load(folder)
    return doc, {n: manifest.sha256(folder / e["file"]) for n, e in doc["models"].items()}


def test_int8_name():
    assert int8_name("demucs.onnx") == "demucs.int8.onnx"
    assert int8_name("sub/x.onnx") == "sub/x.int8.onnx"


def test_quantize_default_set_records_int8_files(tiny_copy):
    before, float_hashes = _snapshot(tiny_copy)
    logged = []
    reports = quantize_set(tiny_copy, log=logged.append)
    # X-UMX and Demucs have LSTMs; the U-Net's only MatMuls multiply two activations (attention)
    assert sorted(reports) == ["demucs", "xumx"]
    assert not quantizable(tiny_copy / "unet.onnx")
    after = manifest.load(tiny_copy)
    for name, e in after["models"].items():
        if name not in reports:
            assert "int8_file" not in e
            continue
        assert e["int8_file"] == f"{name}.int8.onnx"
        path = tiny_copy / e["int8_file"]
        assert path.is_file()
        assert e["int8_sha256"] == manifest.sha256(path)
        assert 0 < reports[name]["max_abs_diff"] < 1.0
        # the float file and its entry are untouched
        assert manifest.sha256(tiny_copy / e["file"]) == float_hashes[name] == e["sha256"]
        assert {k: v for k, v in e.items() if not k.startswith("int8_")} == before["models"][name]
    # everything but the new keys is as before
    assert {k: v for k, v in after.items() if k != "models"} == {k: v for k, v in before.items() if k != "models"}
    assert len(logged) == len(reports) and all("max abs diff" in line for line in logged)
    check_set(tiny_copy)  # the int8 files pass the runtime checks too


def test_quantize_subset_keeps_the_text_and_is_idempotent(tiny_copy):
    path = tiny_copy / manifest.MANIFEST
    text = path.read_text()
    quantize_set(tiny_copy, ["demucs"], log=lambda *_: None)
    new = path.read_text()
    added = [l for l in new.splitlines() if l not in text.splitlines()]
    assert len(added) == 2 and added[0] == 'int8_file = "demucs.int8.onnx"' and added[1].startswith("int8_sha256 = ")
    assert [l for l in new.splitlines() if not l.startswith("int8_")] == text.splitlines()
    assert "int8_file" not in manifest.load(tiny_copy)["models"]["xumx"]
    quantize_set(tiny_copy, ["demucs"], log=lambda *_: None)  # again: replaced, not duplicated
    assert path.read_text() == new


def test_quantize_errors_and_validation(tiny_copy):
    with pytest.raises(manifest.ManifestError, match="no model"):
        quantize_set(tiny_copy, ["hdemucs"], log=lambda *_: None)
    logged = []
    assert quantize_set(tiny_copy, ["unet"], log=logged.append) == {}
    assert "skipped" in logged[0] and not (tiny_copy / "unet.int8.onnx").exists()
    doc = manifest.load(tiny_copy)
    bad = dict(doc, models=dict(doc["models"], demucs=dict(doc["models"]["demucs"], int8_file="missing.onnx")))
    with pytest.raises(manifest.ManifestError, match="int8_file"):
        manifest.validate(bad, tiny_copy)
    bad["models"]["demucs"] = dict(doc["models"]["demucs"], int8_sha256="0" * 64)
    with pytest.raises(manifest.ManifestError, match="without 'int8_file'"):
        manifest.validate(bad, tiny_copy)
    quantize_set(tiny_copy, ["demucs"], log=lambda *_: None)
    doc = manifest.load(tiny_copy)
    doc["models"]["demucs"]["int8_sha256"] = "XYZ"
    with pytest.raises(manifest.ManifestError, match="int8_sha256"):
        manifest.validate(doc, tiny_copy)


def test_cli_quantize(tiny_copy, capsys):
    from danna_sep_models.cli import main
    assert main(["quantize", str(tiny_copy), "--models", "xumx"]) == 0
    out = capsys.readouterr().out
    assert "xumx: xumx.onnx" in out and "xumx.int8.onnx" in out and "max abs diff" in out
    assert manifest.load(tiny_copy)["models"]["xumx"]["int8_file"] == "xumx.int8.onnx"
