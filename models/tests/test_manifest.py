"""manifest.toml: schema, round trip, validation errors, whole-set check."""
import copy
import tomllib

import pytest

from danna_sep_models import STEMS, manifest
from danna_sep_models.modelset import check_set


def test_exported_set_manifest(tiny_set):
    folder, _ = tiny_set
    doc = manifest.load(folder)
    assert doc["schema_version"] == 1 and doc["stems"] == list(STEMS)
    assert set(doc["models"]) == {"xumx", "unet", "demucs"}
    u, d, x = doc["models"]["unet"], doc["models"]["demucs"], doc["models"]["xumx"]
    assert (u["kind"], u["n_fft"], u["hop"], u["max_bins"], u["min_frames"], u["frame_multiple"]) == \
        ("spectrogram_mask", 4096, 1024, 1487, 64, 64)
    assert u["chunk_frames"] == 2584 and u["output_length"] == {"rule": "same"}
    assert (x["min_frames"], x["input_name"], x["output_name"]) == (1, "mag", "mask")
    assert d["kind"] == "waveform" and d["min_frames"] == 4778 and d["output_length"]["rule"] == "demucs"
    assert doc["blend"]["full"]["order"] == ["unet", "demucs", "xumx"]
    assert doc["blend"]["fast"]["weights"]["unet"] == [0.4, 0.27, 0.5, 0.6]
    assert len(d["sha256"]) == 64
    check_set(folder)


def test_dumps_roundtrip():
    doc = {"a": 1, "b": [0.1, 0.27], "s": 'q"uote\\', "t": {"x": {"y": "z"}, "c": True}, "config": {"k": 2}}
    assert tomllib.loads(manifest.dumps(doc)) == doc


def _doc(tiny_set):
    return manifest.load(tiny_set[0])


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.update(stems=["bass", "drums", "other", "vocals"]), "stems"),
    (lambda d: d["models"]["unet"].update(stems=["vocals", "other", "bass", "drums"]), "stems"),
    (lambda d: d["blend"]["full"]["weights"]["xumx"].__setitem__(0, 0.3), "sum to"),
    (lambda d: d["models"]["xumx"].update(kind="magic"), "unknown kind"),
    (lambda d: d["models"]["xumx"].pop("n_fft"), "missing key 'n_fft'"),
    (lambda d: d.update(schema_version=2), "schema_version"),
    (lambda d: d["models"]["xumx"].update(file="nope.onnx"), "does not exist"),
    (lambda d: d["blend"]["fast"]["order"].append("xumx"), "same models"),
    (lambda d: d["blend"].update(vocal={"weights": [0.0, 0.5, 1.0]}), "blend.vocal.weights"),
    (lambda d: d["blend"].update(vocal={"weights": [0.0, 0.5, 1.0, 1.2]}), "blend.vocal.weights"),
])
def test_validation_errors(tiny_set, mutate, message):
    d = copy.deepcopy(_doc(tiny_set))
    mutate(d)
    with pytest.raises(manifest.ManifestError, match=message):
        manifest.validate(d, tiny_set[0])


def test_a_vocal_blend_of_shares_is_valid(tiny_set):
    d = copy.deepcopy(_doc(tiny_set))
    d["blend"]["vocal"] = {"weights": [0.0, 0.25, 0.5, 1.0], "tuned_on": "valid"}
    manifest.validate(d, tiny_set[0])


def test_missing_manifest(tmp_path):
    with pytest.raises(manifest.ManifestError, match="does not exist"):
        manifest.load(tmp_path)
    (tmp_path / "manifest.toml").write_text("schema_version = [")
    with pytest.raises(manifest.ManifestError, match="invalid TOML"):
        manifest.load(tmp_path)


def test_cli_check_and_errors(tiny_set, tmp_path, capsys):
    from danna_sep_models.cli import main
    assert main(["check", str(tiny_set[0])]) == 0
    assert "OK" in capsys.readouterr().out
    with pytest.raises(manifest.ManifestError):
        main(["check", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["export", "--out", str(tmp_path), "--models", "hdemucs"])
