"""Production effects of the synthetic generator (:mod:`danna_sep_models.synth.effects`): plans
are pure and value-comparing, every effect keeps shape/dtype and is deterministic, and each
effect does what it claims, measured (EQ gains, compression ratio, echo times, RT60 from the
Schroeder integral, width, aliasing), plus the bus limiter's ceiling guarantee and that one gain
curve for all stems keeps the mixture = sum of stems. Signals are short (<= a few seconds)."""
import math

import numpy as np
import pytest
import scipy.signal

from danna_sep_models import STEMS
from danna_sep_models.synth import effects as fx
from danna_sep_models.synth.effects import Chain, Effect, make_effect

SR = 44100


def sine(freq, seconds, rms_db, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    s = 10.0 ** (rms_db / 20.0) * math.sqrt(2.0) * np.sin(2 * np.pi * freq * t)
    return np.stack([s, s])


def level_db(y, a=0, b=None):
    seg = y[:, a:b]
    return 10.0 * np.log10(np.mean(seg.astype(np.float64) ** 2))


def noisy_stem(seconds=0.5, seed=0, dtype=np.float32):
    """Band-limited noise with a silent stretch in the middle, like a resting stem."""
    rng = np.random.default_rng(seed)
    x = scipy.signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal((2, int(seconds * SR))), axis=-1)
    x[:, x.shape[1] // 3: x.shape[1] // 2] = 0.0
    return (0.05 * x).astype(dtype)


def schroeder_rt60(ir, sr=SR):
    """T30: the -5..-35 dB slope of the backward-integrated energy, extrapolated to 60 dB."""
    energy = np.cumsum((ir ** 2)[::-1])[::-1]
    edc = 10.0 * np.log10(energy / energy[0])
    t = np.arange(edc.size) / sr
    m = (edc <= -5.0) & (edc >= -35.0)
    slope = np.polyfit(t[m], edc[m], 1)[0]
    return -60.0 / slope


# Parameter sets that reach every branch of every kind.
KIND_CASES = [
    ("eq", {}),
    ("eq", dict(low_cut_hz=30, low_shelf_hz=100, low_shelf_db=3, peak1_hz=400, peak1_db=-3, peak2_hz=3000,
                peak2_db=2, peak3_hz=7000, peak3_db=1, high_shelf_hz=9000, high_shelf_db=2, high_cut_hz=16000)),
    ("compressor", {}),
    ("compressor", dict(detector=0, knee_db=6, mix=0.4, makeup_db=6)),
    ("saturation", dict(shape=0, drive_db=18)),
    ("saturation", dict(shape=1, drive_db=10, asymmetry=0.5, mix=0.6)),
    ("saturation", dict(shape=2, drive_db=20)),
    ("saturation", dict(shape=3, bits=6, hold=3, mix=0.5)),
    ("chorus", {}),
    ("chorus", dict(voices=3, delay_ms=25, depth_ms=1, rate_hz=0.3)),
    ("flanger", {}),
    ("flanger", dict(feedback=0.6)),
    ("delay", {}),
    ("delay", dict(pingpong=1, low_cut_hz=250, beats=0.25, bpm=150)),
    ("reverb", dict(rt60_s=0.2)),
    ("reverb", dict(rt60_s=3.5, predelay_s=0.05, low_ratio=1.4, high_ratio=0.3)),
    ("width", dict(width=0.0)),
    ("width", dict(width=1.6)),
    ("pan", dict(pan=-0.7)),
]


def test_kind_cases_cover_every_effect():
    assert {k for k, _ in KIND_CASES} == set(fx.EFFECTS)


@pytest.mark.parametrize("kind,params", KIND_CASES, ids=[f"{k}{i}" for i, (k, _) in enumerate(KIND_CASES)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_effect_keeps_shape_dtype_and_is_deterministic(kind, params, dtype):
    x = noisy_stem(dtype=dtype)
    before = x.copy()
    e = make_effect(kind, **params)
    y = fx.apply_effect(e, x, SR, seed=3)
    assert y.shape == x.shape and y.dtype == dtype and np.isfinite(y).all()
    assert np.array_equal(x, before)  # the input is never written
    assert np.array_equal(y, fx.apply_effect(e, x, SR, seed=3))
    assert np.abs(y).max() > 0
    # Silence stays silence (nothing is generated out of nothing).
    assert not np.abs(fx.apply_effect(e, np.zeros_like(x), SR, seed=3)).any()


def test_effects_reject_bad_inputs():
    x = noisy_stem()
    with pytest.raises(ValueError, match=r"\(2, n\)"):
        fx.eq(x.T, {})  # (n, 2) is not the renderer's layout
    with pytest.raises(ValueError, match="unknown parameter"):
        fx.compressor(x, dict(treshold_db=-10))
    with pytest.raises(ValueError):
        make_effect("wah")
    with pytest.raises(ValueError):
        fx.saturation(x, dict(shape=7))


# ---- plans ----------------------------------------------------------------------------------

def test_random_chain_is_pure_and_value_comparing():
    a = fx.random_chain(np.random.default_rng(11), "vocals", "pop", 97.0)
    b = fx.random_chain(np.random.default_rng(11), "vocals", "pop", 97.0)
    assert a == b and a is not b and hash(a) == hash(b)
    assert isinstance(a, Chain) and all(isinstance(e, Effect) for e in a.effects)
    for e in a.effects:
        assert isinstance(e.kind, str) and e.kind in fx.EFFECTS
        assert all(isinstance(k, str) and type(v) is float for k, v in e.params)
    others = {fx.random_chain(np.random.default_rng(s), "vocals", "pop", 97.0) for s in range(12)}
    assert len(others) == 12
    with pytest.raises(ValueError, match="genre"):
        fx.random_chain(np.random.default_rng(0), "vocals", "polka", 120.0)
    with pytest.raises(ValueError, match="stem"):
        fx.random_chain(np.random.default_rng(0), "piano", "pop", 120.0)
    assert fx.random_bus(np.random.default_rng(4)) == fx.random_bus(np.random.default_rng(4))


def _chains(stem, genre, seeds=range(40), bpm=120.0):
    return [fx.random_chain(np.random.default_rng(s), stem, genre, bpm) for s in seeds]


def _share(chains, pred):
    return sum(bool(pred(c)) for c in chains) / len(chains)


def test_random_chain_per_stem_logic():
    for genre in fx.GENRES:
        for c in _chains("vocals", genre, range(10), bpm=93.0):
            assert c.effects[0].kind == "eq" and 70 <= c.effects[0].param("low_cut_hz") <= 140
            comp = next(e for e in c.effects if e.kind == "compressor")
            assert comp.param("attack_s") <= 0.005  # fast
            for e in c.effects:
                if e.kind == "delay":  # synced to the song
                    assert e.param("bpm") == 93.0 and e.param("beats") in fx.DELAY_DIVISIONS
                if e.kind == "reverb":
                    assert e.param("predelay_s") >= 0.01 and fx.RT60_RANGE[0] <= e.param("rt60_s") <= 3.5
        for c in _chains("bass", genre, range(10)):
            assert c.effects[0].kind == "eq" and 28 <= c.effects[0].param("low_cut_hz") <= 34
            assert c.effects[-1].kind == "width" and c.effects[-1].param("width") <= 0.6
        for c in _chains("drums", genre, range(10)):
            assert c.effects[0].kind == "eq"
            assert all(e.param("rt60_s") <= 1.4 for e in c.effects if e.kind == "reverb")  # rooms
    # Genre biases.
    def distorted(c):
        return any(e.kind == "saturation" and e.param("shape") < 3 and e.param("drive_db") >= 20 for e in c.effects)
    assert _share(_chains("other", "metal"), distorted) >= 0.85
    assert _share(_chains("other", "jazz"), lambda c: "saturation" in c.kinds) <= 0.1
    assert _share(_chains("other", "rock"), lambda c: "saturation" in c.kinds) >= 0.4
    assert all(c.effects[0].param("high_shelf_db") >= 2 for c in _chains("drums", "electronic"))  # bright hats
    long_delay = lambda c: any(e.kind == "delay" and e.param("beats") >= 0.75 and e.param("feedback") >= 0.35
                               for e in c.effects)
    assert _share(_chains("other", "electronic"), long_delay) >= 0.4
    assert _share(_chains("other", "jazz"), long_delay) <= 0.1
    n_fx = lambda genre: np.mean([len(c.effects) for s in STEMS for c in _chains(s, genre, range(20))])
    assert n_fx("jazz") < n_fx("pop") < n_fx("metal") + 1


@pytest.mark.parametrize("genre", fx.GENRES)
def test_every_random_chain_runs(genre):
    x = noisy_stem(0.4, seed=1)
    for stem in STEMS:
        for seed in range(3):
            chain = fx.random_chain(np.random.default_rng(seed), stem, genre, 80.0 + 20 * seed)
            y = fx.apply_chain(chain, x, SR, seed=seed)
            assert y.shape == x.shape and y.dtype == x.dtype and np.isfinite(y).all(), (stem, seed, chain.kinds)
            # Same order of loudness as the input (the chain runs at a nominal level and scales back).
            assert -15 < level_db(y) - level_db(x) < 15, (stem, seed, chain.kinds)


def test_apply_chain_determinism_scale_and_silence():
    x = noisy_stem(0.6, seed=2)
    chain = Chain((make_effect("compressor", threshold_db=-30, ratio=6), make_effect("saturation", drive_db=12),
                   make_effect("reverb", rt60_s=0.8, mix=0.4)))
    y = fx.apply_chain(chain, x, SR, seed=5)
    assert np.array_equal(y, fx.apply_chain(chain, x, SR, seed=5))
    assert not np.array_equal(y, fx.apply_chain(chain, x, SR, seed=6))  # another reverb noise
    # Plans mean the same at any input level: the non-linear chain scales with its input.
    np.testing.assert_allclose(fx.apply_chain(chain, 8 * x, SR, seed=5), 8 * y, rtol=1e-3, atol=1e-6)
    assert not np.abs(fx.apply_chain(chain, np.zeros_like(x), SR, seed=5)).any()
    # Tails are cut at the input length, and the sample rate is a parameter.
    x22 = noisy_stem(0.6, seed=2)[:, ::2].copy()
    assert fx.apply_chain(chain, x22, 22050, seed=5).shape == x22.shape


# ---- the effects, measured ----------------------------------------------------------------

def test_eq_peaking_band_and_shelves():
    p = dict(peak1_hz=1000.0, peak1_db=6.0, peak1_q=1.0)
    for freq, expect, tol in ((1000.0, 6.0, 0.2), (100.0, 0.0, 0.3)):
        x = sine(freq, 1.0, -20.0)
        y = fx.eq(x, p, SR)
        half = SR // 2  # past the filter's start-up
        assert abs(level_db(y, half) - level_db(x, half) - expect) <= tol, freq
    # Shelves (half the gain at the corner) and 12 dB/octave cuts (-3 dB at the corner), from
    # the cascade's response.
    def response(params, freqs):
        _, h = scipy.signal.sosfreqz(fx.eq_sos(params, SR), worN=freqs, fs=SR)
        return 20 * np.log10(np.abs(h))

    np.testing.assert_allclose(response(dict(low_shelf_hz=100.0, low_shelf_db=4.0), [10.0, 100.0, 2000.0]),
                               [4.0, 2.0, 0.0], atol=0.05)
    np.testing.assert_allclose(response(dict(high_shelf_hz=8000.0, high_shelf_db=-3.0), [500.0, 8000.0, 21000.0]),
                               [0.0, -1.5, -3.0], atol=0.05)
    cuts = response(dict(low_cut_hz=30.0, high_cut_hz=12000.0), [10.0, 30.0, 1000.0, 12000.0, 20000.0])
    np.testing.assert_allclose(cuts[1:4], [-3.0, 0.0, -3.0], atol=0.1)
    assert cuts[0] < -15 and cuts[4] < -10
    assert fx.eq_sos({}, SR).shape == (0, 6)


def test_compressor_ratio_above_threshold():
    quiet, loud = sine(1000, 0.6, -30.0), sine(1000, 0.6, -6.0)
    x = np.concatenate([quiet, loud, quiet], axis=1)
    n = quiet.shape[1]
    p = dict(threshold_db=-18.0, ratio=4.0, knee_db=0.0, attack_s=0.002, release_s=0.05, rms_s=0.005)
    y = fx.compressor(x, p, SR)
    q_in, l_in = level_db(x, n // 2, n), level_db(x, n + n // 2, 2 * n)
    q_out, l_out = level_db(y, n // 2, n), level_db(y, n + n // 2, 2 * n)
    assert abs(q_out - q_in) < 0.05  # below threshold: untouched
    # 12 dB over the threshold in, 12 / 4 = 3 dB over it out.
    assert abs((l_out - (-18.0)) - (l_in - (-18.0)) / 4.0) < 0.3
    assert abs(level_db(y, 2 * n + n // 2) - q_in) < 0.05  # released again
    # Attack: the first ms of the burst passes nearly uncompressed, then the gain comes down.
    g = fx.compressor_gain(x, p, SR)
    assert g[n + 10] > 0.8 and g[n + n // 2] < 10 ** (-8.5 / 20)
    # Peak detector, make-up, parallel mix.
    yp = fx.compressor(x, dict(p, detector=0.0, makeup_db=3.0), SR)
    assert abs(level_db(yp, n // 2, n) - (q_in + 3.0)) < 0.05
    peak_over = l_in + 10 * np.log10(2.0) - (-18.0)  # a sine's peak is 3 dB over its RMS
    assert abs(level_db(yp, n + n // 2, 2 * n) - (l_in - 0.75 * peak_over + 3.0)) < 0.3
    par = fx.compressor(x, dict(p, mix=0.5), SR)
    assert l_out < level_db(par, n + n // 2, 2 * n) < l_in


@pytest.mark.parametrize("beats", fx.DELAY_DIVISIONS)
def test_delay_echoes_at_the_synced_time(beats):
    bpm, at = 97.0, 100
    d = fx.delay_samples(beats, bpm, SR)
    assert d == round(beats * 60.0 / bpm * SR)
    x = np.zeros((2, at + 4 * d + 50))
    x[:, at] = 1.0
    p = dict(beats=beats, bpm=bpm, feedback=0.5, damp=0.5, damp_hz=3000.0, mix=1.0)
    wet = fx.delay(x, p, SR) - x
    assert not np.abs(wet[:, :at + d]).any()  # nothing before the first echo
    energies = []
    for k in (1, 2, 3):
        # Echo k starts exactly k delays after the impulse (the damping's low-pass only smears
        # it after its onset); what precedes it is the previous echo's long-gone ringing.
        t = at + k * d
        peak = np.abs(wet[0, t: t + d // 2]).max()
        assert np.abs(wet[0, t - d // 2: t]).max() < 1e-6 * peak, k
        assert np.abs(wet[0, t]) > 0.2 * peak, k
        energies.append(np.sum(wet[0, t: t + d // 2] ** 2))
    # Each echo is weaker, at least by the feedback (0.5 in amplitude), more in the damped highs.
    assert energies[0] > 4 * energies[1] > 16 * energies[2]
    assert np.array_equal(wet[0], wet[1])  # a centred impulse echoes in both channels
    # Ping-pong: odd echoes on the left, even ones on the right.
    pp = fx.delay(x, dict(p, pingpong=1.0), SR) - x
    win = lambda c, k: np.sum(pp[c, at + k * d - d // 2: at + k * d + d // 2] ** 2)
    assert win(0, 1) > 100 * win(1, 1) and win(1, 2) > 100 * win(0, 2) and win(0, 3) > 100 * win(1, 3)
    assert np.argmax(np.abs(pp[1])) == at + 2 * d


def test_echo_train_matches_the_recursion():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000)
    y = fx.echo_train(x, 7, 13, 0.6)
    ref = np.zeros_like(x)
    for j in range(100):
        s = 7 + 13 * j
        if s < x.size:
            ref[s:] += 0.6 ** j * x[:x.size - s]
    np.testing.assert_allclose(y, ref, atol=1e-12)


@pytest.mark.parametrize("rt60", [0.2, 0.6, 1.5, 3.5])
def test_reverb_ir_rt60_from_schroeder_integral(rt60):
    flat = fx.reverb_ir(dict(rt60_s=rt60, low_ratio=1.0, high_ratio=1.0), SR, seed=1)
    for c in (0, 1):
        assert abs(schroeder_rt60(flat[c]) / rt60 - 1.0) < 0.25
    assert abs(np.corrcoef(flat[0], flat[1])[0, 1]) < 0.1  # decorrelated stereo
    np.testing.assert_allclose(np.sum(flat ** 2, axis=1), 1.0)
    # Frequency-dependent decay: the requested RT60 is the mid band's (measured in the 1 kHz
    # octave), the top decays faster, the bottom slower.
    ir = fx.reverb_ir(dict(rt60_s=rt60, low_ratio=1.3, high_ratio=0.4), SR, seed=2)[0]
    band = lambda lo, hi: scipy.signal.sosfilt(scipy.signal.butter(3, [lo, hi], "band", fs=SR, output="sos"), ir)
    mid = schroeder_rt60(band(707.0, 1414.0))
    assert abs(mid / rt60 - 1.0) < 0.25
    assert schroeder_rt60(band(8000.0, 16000.0)) < 0.6 * mid
    if rt60 >= 0.6:  # (a 0.2 s IR is too short for the 100 Hz band's filter ringing)
        assert schroeder_rt60(band(60.0, 150.0)) > 1.1 * mid


def test_reverb_tail_decays_and_is_cut():
    n_burst, n = SR // 5, SR * 2
    rng = np.random.default_rng(3)
    x = np.zeros((2, n))
    x[:, :n_burst] = 0.1 * rng.standard_normal((2, n_burst))
    p = dict(rt60_s=1.0, predelay_s=0.02, mix=0.5)
    y = fx.reverb(x, p, SR, seed=4)
    assert y.shape == x.shape and np.array_equal(y, fx.reverb(x, p, SR, seed=4))
    assert not np.array_equal(y, fx.reverb(x, p, SR, seed=5))
    np.testing.assert_array_equal(y[:, :int(0.02 * SR)], x[:, :int(0.02 * SR)])  # pre-delay: dry only
    win = SR // 10
    energy = [np.sum(y[:, n_burst + k * win: n_burst + (k + 1) * win] ** 2) for k in range(10)]
    assert energy[0] > 0 and all(a > b for a, b in zip(energy, energy[1:]))
    # ~6 dB per 100 ms at RT60 = 1 s (60 dB per second).
    per_win = 10 * np.log10(energy[2] / energy[6]) / 4
    assert 4.5 < per_win < 7.5


def test_width_and_pan():
    x = noisy_stem(0.2, seed=4, dtype=np.float64)
    x[1] = 0.3 * x[1] + 0.1 * np.roll(x[0], 5)  # some side signal
    mono = fx.width(x, dict(width=0.0))
    assert np.array_equal(mono[0], mono[1])
    np.testing.assert_allclose(mono[0], 0.5 * (x[0] + x[1]))
    np.testing.assert_allclose(fx.width(x, dict(width=1.0)), x, atol=1e-15)
    wide = fx.width(x, dict(width=1.6))
    side = lambda y: np.sum((y[0] - y[1]) ** 2)
    assert abs(side(wide) / side(x) - 1.6 ** 2) < 1e-9
    np.testing.assert_allclose(wide[0] + wide[1], x[0] + x[1])  # the mid is untouched
    assert np.array_equal(fx.pan(x, dict(pan=0.0)), x)
    right = fx.pan(x, dict(pan=1.0))
    assert not right[0].any() and np.array_equal(right[1], x[1])


def test_chorus_and_flanger_modulate_the_delay():
    x = sine(440, 1.0, -20.0)
    y = fx.chorus(x, dict(voices=1, delay_ms=15, depth_ms=3, rate_hz=2.0, spread=math.pi, mix=1.0), SR)
    assert not np.allclose(y[0], y[1], atol=1e-3)  # the stereo LFO offset decorrelates L/R
    # Linear interpolation of a fractional delay is exact on a ramp.
    ramp = np.arange(200, dtype=np.float64)
    np.testing.assert_allclose(fx.modulated_delay(ramp, np.full(200, 3.25))[10:], ramp[10:] - 3.25)
    # A flanger's notch: a constant 1 ms delay mixed 1:1 cancels 500 Hz.
    z = fx.flanger(sine(500, 0.5, -20.0), dict(delay_ms=1.0, depth_ms=0.0, mix=1.0), SR)
    assert level_db(z, SR // 10) < -20.0 - 40


def test_saturation_oversampling_limits_aliasing():
    n = SR // 2
    x = sine(15000, 0.5, -9.0)  # the 3rd harmonic (45 kHz) folds to 900 Hz at 44.1 kHz
    spectrum = lambda y: np.abs(np.fft.rfft(y[0] * np.hanning(n)))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    at = lambda s, f: 20 * np.log10(s[np.abs(freqs - f) < 30].max())
    for shape in (0, 1, 2):
        y = fx.saturation(x, dict(shape=shape, drive_db=12.0), SR)
        naive = fx._shaper(fx.SATURATION_SHAPES[shape], 10 ** (12 / 20), 0.3)(x)
        sy, sn = spectrum(y), spectrum(naive)
        # Alias below the fundamental: >= 30 dB better than shaping at the base rate.
        assert at(sy, 15000) - at(sy, 900) > at(sn, 15000) - at(sn, 900) + 30, shape
    # The drive is level-compensated: a peak of 0.5 comes out at 0.5.
    y = fx.saturation(sine(200, 0.2, 20 * np.log10(0.5 / math.sqrt(2))), dict(shape=0, drive_db=20.0), SR)
    assert abs(np.abs(y[:, 1000:]).max() - 0.5) < 0.02
    # Bit-crush: few levels, held samples.
    c = fx.saturation(sine(200, 0.2, -10.0), dict(shape=3, bits=4, hold=4, drive_db=0.0), SR)
    assert len(np.unique(c)) <= 2 ** 4 + 1 and np.all(c[0, 0::4] == c[0, 3::4][:c[0, 0::4].size])


# ---- the bus --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_bus_gain_guarantees_the_ceiling(seed):
    rng = np.random.default_rng(seed)
    n = SR
    env = np.exp(rng.uniform(-3, 2, n // 441).repeat(441))  # sections from -26 to +17 dB
    mix = env * rng.standard_normal((2, n)) * rng.uniform(0.2, 1.0)
    mix[:, rng.integers(n, size=20)] *= 10.0  # isolated spikes
    ceiling = float(rng.uniform(0.3, 1.0))
    release, look = float(rng.uniform(0.01, 0.3)), float(rng.uniform(0.0005, 0.01))
    g = fx.bus_gain(mix, SR, ceiling, release, look)
    assert g.shape == (n,) and g.dtype == np.float64
    assert (g > 0).all() and (g <= 1.0).all()
    assert np.abs(mix * g).max() <= ceiling
    # Also with float32 stems and a float32 gain.
    assert np.abs(mix.astype(np.float32) * g.astype(np.float32)).max() <= ceiling
    assert np.abs(mix * g).max() > 0.98 * ceiling  # it limits, it does not just turn down
    # Ramps, no jumps: a moving average over the lookahead moves by at most 1/L per sample.
    assert np.abs(np.diff(g)).max() <= 1.0 / max(1, round(look * SR)) + 1e-12


def test_bus_gain_is_one_far_below_the_ceiling():
    rng = np.random.default_rng(1)
    quiet = 0.01 * rng.standard_normal((2, SR))
    assert np.array_equal(fx.bus_gain(quiet, SR, 0.9, 0.1, 0.005), np.ones(SR))
    # One loud burst at 0.5 s: reduced around it, exactly 1.0 once lookahead and release are over.
    mix = quiet.copy()
    mix[:, SR // 2: SR // 2 + 2000] *= 200.0
    g = fx.bus_gain(mix, SR, 0.9, 0.02, 0.005)
    assert np.abs(mix * g).max() <= 0.9
    assert g[SR // 2 + 1000] < 0.5
    assert np.array_equal(g[:SR // 2 - 300], np.ones(SR // 2 - 300))  # before the lookahead
    assert g[SR // 2 - 150] < 1.0  # the lookahead ramp (5 ms = 220 samples)
    assert np.all(g[SR // 2 + 2000 + int(0.5 * SR):] == 1.0)


def test_bus_gain_on_stems_sums_to_the_limited_mixture():
    rng = np.random.default_rng(2)
    stems = [rng.standard_normal((2, SR // 2)) * s for s in (0.5, 0.3, 0.4, 0.2)]
    mixture = stems[0] + stems[1] + stems[2] + stems[3]
    g = fx.bus_gain(mixture, SR, 0.8, 0.1, 0.004)
    limited = [s * g for s in stems]
    np.testing.assert_allclose(sum(limited), mixture * g, atol=1e-6)
    assert np.abs(sum(limited)).max() <= 0.8 + 1e-6
    # float32, as the renderer stores them.
    s32 = [s.astype(np.float32) for s in stems]
    m32 = s32[0] + s32[1] + s32[2] + s32[3]
    g32 = fx.bus_gain(m32, SR, 0.8, 0.1, 0.004).astype(np.float32)
    np.testing.assert_allclose(sum(s * g32 for s in s32), m32 * g32, atol=1e-6)


def test_random_bus_and_its_target_reduction():
    buses = [fx.random_bus(np.random.default_rng(s)) for s in range(60)]
    assert all(b.kind == "limiter" for b in buses)
    red = np.array([b.param("reduction_db") for b in buses])
    assert 0.1 < np.mean(red == 0) < 0.45 and np.all((red == 0) | ((red >= 1) & (red <= 8)))
    rng = np.random.default_rng(3)
    mix = rng.standard_normal((2, SR // 2)) * np.linspace(0.1, 1.0, SR // 2)
    on = next(b for b in buses if b.param("reduction_db") > 3)
    g = fx.bus_limit(on, mix, SR)
    assert abs(-20 * np.log10(g.min()) - on.param("reduction_db")) < 0.01  # on the loudest peak
    off = next(b for b in buses if b.param("reduction_db") == 0)
    assert np.array_equal(fx.bus_limit(off, mix, SR), np.ones(SR // 2))
