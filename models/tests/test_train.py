"""Training package: data (layout, random mix, augmentation), the differentiable MWF against
norbert, the losses, a few optimisation steps per model, checkpoints and exact resume.

Everything runs on tiny configs and ~1.5 s tracks with one thread (the suite budget is ~30 s).
"""
import json

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from danna_sep_models import STEMS
from danna_sep_models.checkpoints import load_model
from danna_sep_models.configs import CONFIGS
from danna_sep_models.train import data as D
from danna_sep_models.train.losses import (COMBINATIONS, SILENT_POWER, combination_loss, combination_loss_direct,
                                          pooled_sdr, sdr, stft)
from danna_sep_models.train.loop import Trainer, TrainOptions, segment_samples
from danna_sep_models.train.mwf import _em_general, wiener

SR = 44100
UNET_SECONDS = 64 * 1024 / SR  # 65 frames: the tiny U-Net needs >= 64


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _write_track(folder, rng, seconds, kinds=("int16",) * 4):
    """Sines plus a little noise per stem, written with the given sample types."""
    folder.mkdir(parents=True)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    stems = []
    for j, (stem, kind) in enumerate(zip(STEMS, kinds)):
        f = 80.0 * (j + 1) * rng.uniform(0.9, 1.1)
        x = 0.2 * np.sin(2 * np.pi * f * t)[:, None] * np.array([1.0, 0.6]) + 0.02 * rng.standard_normal((n, 2))
        if kind == "mono":
            x = x[:, 0]
            wavfile.write(folder / f"{stem}.wav", SR, (x * 32767).astype(np.int16))
        elif kind == "float32":
            wavfile.write(folder / f"{stem}.wav", SR, x.astype(np.float32))
        else:
            wavfile.write(folder / f"{stem}.wav", SR, (x * 32767).astype(np.int16))
        stems.append(x)
    return stems


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """train/{a,b} (1.6 s and 2.0 s; one float32 and one mono stem) and valid/c (1.6 s)."""
    r = tmp_path_factory.mktemp("musdb")
    rng = np.random.default_rng(0)
    _write_track(r / "train" / "a", rng, 1.6, ("int16", "float32", "int16", "mono"))
    _write_track(r / "train" / "b", rng, 2.0)
    _write_track(r / "valid" / "c", rng, 1.6)
    return r


def options(root, out, model, **kw):
    seconds = {"xumx": 0.5, "unet": UNET_SECONDS, "demucs": 0.5}[model]
    base = dict(model=model, data=str(root), out=str(out), config="tiny", batch_size=2, segment_seconds=seconds,
                steps=4, epoch_steps=2, log_every=1, valid_max_segments=1, input_stats=2, seed=0)
    base.update(kw)
    return TrainOptions(**base)


# ---- data ----------------------------------------------------------------------------------

def test_wav_cache_scaling_mono_and_zero_fill(root):
    cache = D.WavCache()
    path = root / "train" / "a" / "vocals.wav"  # mono int16
    _, raw = wavfile.read(path)
    n = cache.length(path)
    x = cache.read(path, n - 100, 300)
    assert x.shape == (2, 300) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0, :100], raw[-100:] / np.float32(32768))
    np.testing.assert_array_equal(x[0], x[1])  # mono duplicated
    assert not x[:, 100:].any()  # past the end: zeros
    f = cache.read(root / "train" / "a" / "bass.wav", 5, 10)  # float32 file, stereo
    _, rawf = wavfile.read(root / "train" / "a" / "bass.wav")
    np.testing.assert_array_equal(f, rawf[5:15].T)


def test_splits(root, tmp_path):
    train, valid, _ = D.resolve_splits(root)
    assert [t.name for t in train] == ["a", "b"] and [t.name for t in valid] == ["c"]
    # no valid/: the last train track is held out (and removed from training unless asked)
    flat = tmp_path / "flat"
    (flat / "train").mkdir(parents=True)
    for name in ("a", "b"):
        (flat / "train" / name).symlink_to(root / "train" / name)
    train, valid, _ = D.resolve_splits(flat)
    assert [t.name for t in train] == ["a"] and [t.name for t in valid] == ["b"]
    train, valid, _ = D.resolve_splits(flat, valid_tracks=["a"], train_on_valid=True)
    assert [t.name for t in train] == ["a", "b"] and [t.name for t in valid] == ["a"]
    with pytest.raises(D.DataError):
        D.resolve_splits(flat, valid_tracks=["nope"])
    assert len(D.MUSDB_VALID_TRACKS) == 14


def test_random_mix_shapes_and_sum(root):
    train, _, _ = D.resolve_splits(root)
    ds = D.RandomMix(train, 12345)
    mix, stems = ds.example(np.random.default_rng(1))
    assert mix.shape == (2, 12345) and stems.shape == (4, 2, 12345)
    np.testing.assert_array_equal(mix, stems.sum(0))
    assert all(np.abs(stems[j]).max() > 0 for j in range(4))
    bm, bs = ds.batch(np.random.default_rng(1), 3)
    assert bm.shape == (3, 2, 12345) and bs.shape == (3, 4, 2, 12345) and bm.dtype == torch.float32
    torch.testing.assert_close(bm, bs.sum(1), rtol=0, atol=0)


def test_augmentation_is_deterministic_by_seed_and_bounded(root):
    train, _, _ = D.resolve_splits(root)
    ds = D.RandomMix(train, 4096)
    a = ds.batch(np.random.default_rng(7), 4)[1]
    b = ds.batch(np.random.default_rng(7), 4)[1]
    c = ds.batch(np.random.default_rng(8), 4)[1]
    assert torch.equal(a, b) and not torch.equal(a, c)
    # each augmented stem is +-g * (maybe channel-swapped) source segment with g in [0.25, 1.25].
    # One track and a segment as long as it: track and offset (0) draws are the same with and
    # without augmentation, so the un-augmented read is the reference.
    n = D.WavCache().length(train[1].stem("drums"))
    one = D.RandomMix(train[1:], n)
    plain = D.RandomMix(train[1:], n, augment=False)
    flips = set()
    for seed in range(4):
        x = one.example(np.random.default_rng(seed))[1]
        y = plain.example(np.random.default_rng(seed))[1]
        for j in range(4):
            g = np.abs(x[j]).max() / np.abs(y[j]).max()
            assert 0.25 - 1e-6 <= g <= 1.25 + 1e-6
            ok = [(s, sw) for s in (1, -1) for sw in (1, -1) if np.allclose(s * x[j][::sw], g * y[j], atol=1e-5)]
            assert ok
            flips.add(ok[0])
    assert len(flips) > 1  # swaps/flips do happen


def test_valid_segments_are_consecutive(root):
    _, valid, _ = D.resolve_splits(root)
    seg = 20000
    vs = D.Segments(valid, seg)
    n = D.WavCache().length(valid[0].stem("drums"))
    assert len(vs) == n // seg
    mixes = torch.cat([m for m, _ in vs.batches(2)])
    _, raw = wavfile.read(valid[0].stem("drums"))
    _, stems = next(vs.batches(2))
    np.testing.assert_array_equal(stems[1, 0].numpy(), raw[seg:2 * seg].T / np.float32(32768))
    assert mixes.shape == (n // seg, 2, seg)
    assert len(D.Segments(valid, seg, max_per_track=1)) == 1


# ---- MWF -----------------------------------------------------------------------------------

def _random_case(seed=0, b=1, f=12, t=9):
    g = torch.Generator().manual_seed(seed)
    x = torch.complex(torch.randn(b, 2, f, t, generator=g), torch.randn(b, 2, f, t, generator=g)) * 30
    mask = torch.rand(b, 4, 2, f, t, generator=g) * 1.5
    return x, mask * x.abs().unsqueeze(1)


@pytest.mark.parametrize("iterations", [1, 2])
def test_mwf_matches_norbert(iterations):
    import norbert
    x, v = _random_case()
    x[..., 3, :] = 0  # a silent bin: phase 0, y = 0
    V = np.transpose(v[0].numpy(), (3, 2, 1, 0))
    X = np.transpose(x[0].numpy(), (2, 1, 0)).astype(np.complex128)
    ref = np.transpose(norbert.wiener(V, X, iterations, use_softmask=False), (3, 2, 1, 0))
    y64 = wiener(v, x.to(torch.complex128), iterations, dtype=torch.float64)[0].numpy()
    np.testing.assert_allclose(y64, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    y32 = wiener(v, x, iterations)[0].numpy()  # float32 EM, sqrt(eps32) regulariser
    np.testing.assert_allclose(y32, ref, rtol=0, atol=2e-3 * np.abs(ref).max())
    # the matrix-form fallback (any channel count) agrees on 2 channels
    xs = x.to(torch.complex128)
    y0 = torch.polar(v.double(), torch.angle(xs).unsqueeze(1))
    m = max(1.0, float(xs.abs().max()) / 10)
    yg = _em_general(y0 / m, xs / m, iterations, float(np.finfo(np.float64).eps)) * m
    np.testing.assert_allclose(yg[0].numpy(), ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_mwf_properties():
    x, v = _random_case(1, b=2)
    # zero iterations: the plain mask
    mask = v / x.abs().unsqueeze(1)
    torch.testing.assert_close(wiener(v, x, 0), mask * x.unsqueeze(1), rtol=1e-5, atol=1e-4)
    # the filter is conservative: the sources add up to the mixture
    torch.testing.assert_close(wiener(v, x, 1).sum(1), x, rtol=0, atol=1e-3 * float(x.abs().max()))
    # one source with all the energy gets the mixture, the others nothing
    v1 = torch.zeros_like(v)
    v1[:, 2] = x.abs()
    y = wiener(v1, x, 1)
    torch.testing.assert_close(y[:, 2], x, rtol=0, atol=1e-3 * float(x.abs().max()))
    assert float(y[:, [0, 1, 3]].abs().max()) == 0.0


def test_mwf_gradient():
    x, v = _random_case(2, f=3, t=4)
    v = v.double().requires_grad_(True)
    xs = x.to(torch.complex128)
    assert torch.autograd.gradcheck(lambda w: torch.view_as_real(wiener(w, xs, 1, dtype=torch.float64)), (v,))


# ---- losses -------------------------------------------------------------------------------

def test_combination_loss_closed_forms_match_the_literal_formula():
    g = torch.Generator().manual_seed(0)
    Y = torch.complex(torch.randn(2, 4, 2, 7, 5, generator=g), torch.randn(2, 4, 2, 7, 5, generator=g))
    S = torch.complex(torch.randn(2, 4, 2, 7, 5, generator=g), torch.randn(2, 4, 2, 7, 5, generator=g))
    target = torch.randn(2, 4, 2, 3000, generator=g)
    target[0, 3] = 0  # a silent source
    est = (target + 0.3 * torch.randn(2, 4, 2, 3000, generator=g)).requires_grad_(True)
    mix = target.sum(1)
    a = combination_loss(Y, S, est, target, mix)
    b = combination_loss_direct(Y, S, est, target, mix)
    assert len(COMBINATIONS) == 14
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    ga, = torch.autograd.grad(a, est)
    gb, = torch.autograd.grad(b, est)
    torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-9)
    # a perfect estimate: freq term 0, time term 1 + mean(-1) = 0
    S2 = stft(target)
    assert float(combination_loss(S2, S2, target, target, mix)) < 1e-4


def test_sdr():
    s = torch.randn(1, 4, 2, 1000)
    assert float(sdr(s, s).min()) > 60
    torch.testing.assert_close(sdr(0.5 * s, s), torch.full((1, 4), 10 * np.log10(4.0)), rtol=1e-4, atol=1e-4)


def test_pooled_sdr_leaves_out_a_stem_that_rests_in_a_track():
    n = 1000.0
    samples = torch.tensor([n, n, n], dtype=torch.float64)
    # Reference energies (track x stem): track 1's vocals rest (digital silence plus a little
    # reverb tail, far below -80 dBFS), bass rests in every track.
    num = torch.tensor([[n, 0.0, n, n], [n, 0.0, n, 1e-9 * n], [n, 0.0, n, n]], dtype=torch.float64)
    den = torch.tensor([[0.1 * n, 1e-3, 0.01 * n, 0.1 * n], [0.1 * n, 1e-3, 0.01 * n, 0.01 * n],
                        [0.1 * n, 1e-3, 0.01 * n, 0.1 * n]], dtype=torch.float64)
    per = pooled_sdr(num, den, samples)
    torch.testing.assert_close(per[[0, 2, 3]], torch.tensor([10.0, 20.0, 10.0], dtype=torch.float64))
    assert torch.isnan(per[1])
    # Left in, the resting vocals would pull the mean to about -17 dB.
    assert float(10 * torch.log10((num[1, 3] + 1e-7) / (den[1, 3] + 1e-7))) < -40
    # A quiet part (-50 dBFS, 1e3 x the threshold) is not a rest.
    assert 1e-5 > 100 * SILENT_POWER
    quiet = pooled_sdr(torch.tensor([[1e-5 * n]], dtype=torch.float64), torch.tensor([[1e-6 * n]], dtype=torch.float64),
                       samples[:1])
    torch.testing.assert_close(quiet, torch.tensor([10.0], dtype=torch.float64), rtol=0, atol=1e-3)


@pytest.mark.parametrize("model", ["xumx", "unet", "demucs"])
def test_losses_finite_and_differentiable(root, tmp_path, model):
    tr = Trainer(options(root, tmp_path, model), log=lambda *_: None)
    mix, stems = tr.train_set.batch(np.random.default_rng(0), 2)
    loss, est = tr.loss(mix, stems)
    assert torch.isfinite(loss) and est.shape[:3] == (2, 4, 2)
    loss.backward()
    grads = [p.grad for p in tr.model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


# ---- training --------------------------------------------------------------------------------

@pytest.mark.parametrize("model,lr,steps", [("xumx", 3e-3, 4), ("unet", 1e-2, 2), ("demucs", 1e-2, 10)])
def test_a_few_steps_lower_the_loss(root, tmp_path, model, lr, steps):
    tr = Trainer(options(root, tmp_path, model, lr=lr), log=lambda *_: None)
    batch = tr.train_set.batch(np.random.default_rng(3), 2)

    def measure():
        torch.manual_seed(0)  # same dropout masks for both measurements
        with torch.no_grad():
            return float(tr.loss(*batch)[0])

    before = measure()
    for _ in range(steps):
        tr.train_step([batch])
    after = measure()
    assert tr.step == steps
    assert after < 0.95 * before, (before, after)


def _states_equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()


def test_checkpoint_resume_is_exact_and_loadable(root, tmp_path):
    logs = []
    full = Trainer(options(root, tmp_path / "full", "xumx"), log=logs.append)
    r = full.run()
    assert full.step == 4 and r["step"] == 4
    assert (tmp_path / "full" / "best.pt").is_file() and (tmp_path / "full" / "last.pt").is_file()
    hist = [json.loads(line) for line in (tmp_path / "full" / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in hist] == [2, 4] and all(np.isfinite(h["sdr"]) for h in hist)
    assert any(line.startswith("step 4/4 loss") and "steps/s" in line for line in logs)

    part = Trainer(options(root, tmp_path / "part", "xumx"), log=lambda *_: None)
    part.run(until=3)  # interrupted after step 3 (last.pt written at 2 by validation, then at 3)
    assert part.step == 3
    with pytest.raises(FileExistsError):  # never overwrite a run by accident
        Trainer(options(root, tmp_path / "part", "xumx"), log=lambda *_: None).run()
    resumed = Trainer(options(root, tmp_path / "part", "xumx", resume=True), log=lambda *_: None)
    resumed.run()
    assert resumed.step == 4
    assert _states_equal(full.model.state_dict(), resumed.model.state_dict())
    oa, ob = full.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert all(_states_equal(oa["state"][i], ob["state"][i]) for i in oa["state"])
    assert full.scheduler.state_dict()["last_epoch"] == resumed.scheduler.state_dict()["last_epoch"] == 4

    # the checkpoint loads with checkpoints.py (weights_only) and names its config
    module, cfg, fmt = load_model("xumx", tmp_path / "full" / "best.pt")
    assert fmt == "checkpoint" and cfg == CONFIGS["tiny"]["xumx"]
    ck = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    assert ck["config"] == {"model": "xumx", "name": "tiny", "kwargs": CONFIGS["tiny"]["xumx"]} and ck["step"] == 4
    with torch.no_grad():
        mag = torch.rand(1, 2, 2049, 5)
        torch.testing.assert_close(module(mag), full.model.eval()(mag))


def test_cli_train_and_segment_checks(root, tmp_path, capsys):
    from danna_sep_models.cli import main
    assert main(["train", "--model", "demucs", "--config", "tiny", "--data", str(root), "--out", str(tmp_path / "d"),
                 "--steps", "1", "--batch-size", "1", "--segment-seconds", "0.2", "--valid-max-segments", "1"]) == 0
    out = capsys.readouterr().out
    assert "step 1/1 loss" in out and "valid step 1" in out
    model, cfg, _ = load_model("demucs", tmp_path / "d" / "best.pt")
    assert cfg["channels"] == CONFIGS["tiny"]["demucs"]["channels"]
    with pytest.raises(ValueError, match="frames"):
        segment_samples("unet", "tiny", 1.0)
    assert segment_samples("unet", "full", 11.88) // 1024 + 1 == 512


# ---- provenance: what an exported model was trained on ----------------------------------------


def test_export_records_the_training_lineage(root, tmp_path, tiny_set):
    import shutil

    from danna_sep_models import manifest
    from danna_sep_models.modelset import export_set
    from danna_sep_models.quantize import quantize_set
    from danna_sep_models.train.provenance import describe, describe_data

    # stage 1 on the plain folder, stage 2 (--init stage 1) on a synth-made copy
    first = Trainer(options(root, tmp_path / "s1", "xumx", steps=2), log=lambda *_: None)
    first.run()
    synth = tmp_path / "synth"
    shutil.copytree(root, synth)
    (synth / "synth.json").write_text(json.dumps({"profile": "v2", "seed": 7, "tracks": [
        {"split": "train", "seconds": 1.6}, {"split": "train", "seconds": 2.0}, {"split": "valid", "seconds": 1.6}]}))
    second = Trainer(options(synth, tmp_path / "s2", "xumx", steps=2, init=str(tmp_path / "s1" / "best.pt")),
                     log=lambda *_: None)
    second.run()

    assert describe_data(synth) == "synth profile v2, seed 7: train 2 tracks (0.00 h), valid 1 tracks (0.00 h) [synth]"
    assert describe_data(root) == f"{root.name}: train 2 tracks, valid 1 tracks"
    ck = torch.load(tmp_path / "s2" / "best.pt", weights_only=True)
    rec = describe(tmp_path / "s2" / "best.pt")
    assert rec["training_data"] == f"{describe_data(root)}; then {describe_data(synth)}"
    assert rec["training"].count("2 steps (batch 2 x 0.5 s, lr 0.0001, cpu, 0.") == 2 and "; then " in rec["training"]
    assert rec["steps"] == 4 and rec["valid_sdr_db"] == round(ck["best_sdr"], 3) and rec["valid_best_step"] == 2
    ck1 = torch.load(tmp_path / "s1" / "best.pt", weights_only=True)
    assert ck["train_seconds"] > 0 and ck1["train_seconds"] > 0
    assert rec["train_hours"] == round((ck["train_seconds"] + ck1["train_seconds"]) / 3600, 3)

    # a vanished --init ends the chain with a stage that says so; the total stays known-partial
    (tmp_path / "s1" / "best.pt").unlink()
    rec = describe(tmp_path / "s2" / "best.pt")
    assert rec["training_data"].startswith("weights best.pt (not found at export); then synth profile v2")
    assert rec["steps"] == 2
    assert describe(tiny_set[0] / "xumx.onnx") is None  # not a checkpoint

    # --update replaces one member; the rest, the blend and the set provenance stay
    out = tmp_path / "set"
    shutil.copytree(tiny_set[0], out)
    quantize_set(out, ["xumx"], log=lambda *_: None)
    before = manifest.load(out)
    blend = dict(before["blend"], fast={"order": ["unet", "demucs"],
                                         "weights": {"unet": [0.6] * 4, "demucs": [0.4] * 4}})
    manifest.write(out, dict(before, blend=blend))
    logs = []
    export_set(out, "tiny", weights={"xumx": tmp_path / "s2" / "best.pt"}, update=True, log=logs.append)
    after = manifest.load(out)
    assert after["blend"] == blend and after["provenance"] == before["provenance"] and after["name"] == before["name"]
    for kept in ("unet", "demucs"):
        assert after["models"][kept] == before["models"][kept]
    x = after["models"]["xumx"]
    assert "int8_file" not in x and not (out / "xumx.int8.onnx").exists()
    assert any("removed the stale xumx.int8.onnx" in line for line in logs)
    assert x["sha256"] != before["models"]["xumx"]["sha256"] and x["provenance"]["steps"] == 2
    assert x["provenance"]["origin"].startswith("checkpoint file best.pt")
    with pytest.raises(ValueError, match="at least one model"):
        export_set(out, "tiny", update=True, log=lambda *_: None)
    with pytest.raises(manifest.ManifestError, match="does not exist"):
        export_set(tmp_path / "nothing", "tiny", weights={"xumx": tmp_path / "s2" / "best.pt"}, update=True)
