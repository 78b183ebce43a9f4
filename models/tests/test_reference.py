"""Reference pipeline: Wiener vs norbert, STFT conventions, lengths, blend, chunking."""
import numpy as np
import pytest
import torch

from danna_sep_models import reference as ref


def test_wiener_vectorised_matches_norbert():
    rng = np.random.default_rng(0)
    x = ((rng.standard_normal((2, 65, 20)) + 1j * rng.standard_normal((2, 65, 20))) * 40).astype(np.complex64)
    x[:, :, 3] = 0  # zero frames: angle 0, exercises the regularisation
    v = rng.random((4, 2, 65, 20)).astype(np.float32) * np.abs(x)[None]
    a, b = ref.wiener_norbert(v, x), ref.wiener_vectorised(v, x)
    assert a.dtype == b.dtype == np.complex128
    assert np.max(np.abs(a - b)) <= 1e-9 * np.max(np.abs(a))


def test_wiener_single_source_returns_mixture():
    """With one source the filter gain is ~1: the estimate is the mixture."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 9, 6)) + 1j * rng.standard_normal((2, 9, 6))).astype(np.complex64)
    v = np.abs(x)[None].astype(np.float32)
    y = ref.wiener_norbert(v, x)
    assert np.allclose(y[0], x, atol=1e-6)


def test_stft_conventions():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 10 * 1024 + 5)).astype(np.float32)
    X = ref.stft(a)
    assert X.shape == (2, 2049, 1 + a.shape[1] // 1024) and X.dtype == np.complex64
    # frame t, bin k against the explicit formula with reflect padding and the periodic Hann
    pad = np.pad(a[0], 2048, mode="reflect")
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(4096) / 4096)
    t = 3
    frame = np.fft.rfft(w * pad[1024 * t:1024 * t + 4096])
    assert np.allclose(X[0, :, t], frame, rtol=1e-4, atol=1e-3)
    y = ref.istft(X[None])
    assert y.shape == (1, 2, 1024 * (X.shape[-1] - 1)) and y.dtype == np.float32
    assert np.max(np.abs(y[0] - a[:, : y.shape[-1]])) < 1e-5


def test_istft_ignores_dc_nyquist_imag():
    rng = np.random.default_rng(3)
    X = ref.stft(rng.standard_normal((2, 8192)).astype(np.float32)).astype(np.complex128)
    Z = X.copy()
    Z[:, 0] += 1j * 5
    Z[:, -1] -= 1j * 7
    assert np.array_equal(ref.istft(X), ref.istft(Z))


@pytest.fixture(scope="module")
def audio():
    rng = np.random.default_rng(4)
    return (0.2 * rng.standard_normal((2, 44100 * 2 + 777))).astype(np.float32)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_separate_lengths_and_blend(tiny_set, audio, mode):
    ms = ref.ModelSet(tiny_set[0])
    out, est = ref.separate(audio, ms, mode)
    L = audio.shape[1]
    assert out.shape == (4, 2, L) and out.dtype == np.float32
    blend = ms.doc["blend"][mode]
    assert list(est) == blend["order"]
    acc = np.zeros_like(out)
    for name in blend["order"]:
        assert est[name].shape == (4, 2, L)
        acc = acc + np.asarray(blend["weights"][name], np.float32)[:, None, None] * est[name]
    assert np.array_equal(acc, out)
    assert np.abs(est["demucs"]).max() <= 0.99


def test_demucs_window_and_clamp(tiny_set, audio):
    """Demucs sees [22050 zeros | audio | 1024 zeros]; its output is re-aligned and clamped."""
    ms = ref.ModelSet(tiny_set[0])
    padded = np.pad(audio, [(0, 0), (0, 1024)])
    y = ref.demucs_estimate(ms, "demucs", padded)
    x = np.pad(padded, [(0, 0), (22050, 0)])[None]
    raw = ms.run("demucs", x)[0]
    n = min(padded.shape[1], raw.shape[-1] - 22050)
    assert np.array_equal(y[..., :n], np.clip(raw[..., 22050:22050 + n], -0.99, 0.99))
    assert (y[..., n:] == 0).all()


def test_unet_chunking_and_short_chunk_guard(tiny_set):
    """Independent chunks: running chunk by chunk equals the concatenated per-chunk masks;
    a final chunk below min_frames is zero-padded (the original would raise)."""
    ms = ref.ModelSet(tiny_set[0])
    ms.doc["models"]["unet"]["chunk_frames"] = 64
    rng = np.random.default_rng(5)
    mag = rng.random((2, 2049, 64 + 64 + 10)).astype(np.float32)
    mask = ref.mask_model_chunks(ms, "unet", mag)
    assert mask.shape == (4, 2, 2049, 138)
    first = ms.run("unet", mag[None, ..., :64])[0]
    assert np.array_equal(mask[..., :64], first)
    assert (mask[..., 63] == 0.25).all()  # the last frame of every even chunk is 0.25
    last = ms.run("unet", np.pad(mag[..., 128:], [(0, 0), (0, 0), (0, 54)])[None])[0][..., :10]
    assert np.array_equal(mask[..., 128:], last)


def test_spectrogram_estimate_equals_manual(tiny_set, audio):
    """mask * |X| -> norbert(1 iter, complex128) -> float64 iSTFT, whole track for X-UMX."""
    import norbert
    ms = ref.ModelSet(tiny_set[0])
    padded = np.pad(audio, [(0, 0), (0, 1024)])
    X = ref.stft(padded)
    mag = np.abs(X)
    M = ms.run("xumx", mag[None])[0]
    V = np.transpose(M * mag[None], (3, 2, 1, 0))
    Y = norbert.wiener(V, np.transpose(X, (2, 1, 0)).astype(np.complex128), 1, use_softmask=False)
    Y = torch.from_numpy(np.ascontiguousarray(np.transpose(Y, (3, 2, 1, 0)))).reshape(8, 2049, -1)
    w = torch.hann_window(4096, dtype=torch.float64)
    manual = torch.istft(Y, 4096, 1024, window=w).float().reshape(4, 2, -1).numpy()
    assert np.array_equal(ref.spectrogram_estimate(ms, "xumx", X), manual)


def test_separate_files_writes_four_stems(tiny_set, tmp_path):
    from scipy.io import wavfile
    rng = np.random.default_rng(6)
    x = (0.1 * rng.standard_normal((30000, 2))).astype(np.float32)
    wavfile.write(str(tmp_path / "song.wav"), 44100, x)
    files = ref.separate_files([tmp_path / "song.wav"], tiny_set[0], tmp_path, "fast")
    assert [f.name for f in files] == [f"song_{s}.wav" for s in ("drums", "bass", "other", "vocals")]
    sr, y = wavfile.read(str(files[0]))
    assert sr == 44100 and y.shape == (30000, 2) and y.dtype == np.float32
