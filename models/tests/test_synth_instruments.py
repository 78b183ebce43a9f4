"""Pure-numpy instruments of the synthetic generator (:mod:`danna_sep_models.synth.instruments`):
patches, determinism, exact lengths and silence, tuning, role ranges, drums and the hi-hat choke.

Everything renders short parts at 44.1 kHz with numpy/scipy only, so the file runs in seconds.
"""
import dataclasses
from typing import Dict, Sequence

import numpy as np
import pytest
import scipy.signal

from danna_sep_models.synth import instruments as I
from danna_sep_models.synth.compose import Note

SR = 44100
BEAT = 0.5  # 120 bpm


def hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


def patch_for(engine: str, role: str, seed: int, **override: float) -> I.Patch:
    p = I.patch_dict(I.random_patch(np.random.default_rng(seed), engine, role))
    p.update(override)
    return I.make_patch(p)


def render(engine: str, patch, notes: Sequence[Note], seconds: float, seed: int = 0) -> np.ndarray:
    return I.render_part(engine, patch, notes, BEAT, int(seconds * SR), SR, seed)


def spectrum(y: np.ndarray, pad: int = 8):
    w = scipy.signal.windows.blackmanharris(len(y))  # -92 dB sidelobes: never mistaken for a partial
    s = np.abs(np.fft.rfft(y * w, pad * len(y)))
    return np.fft.rfftfreq(pad * len(y), 1.0 / SR), s


def lowest_partial(y: np.ndarray, floor_db: float = -30.0, lo_hz: float = 20.0) -> float:
    """Frequency of the lowest spectral peak within floor_db of the strongest one (parabolic
    interpolation on the log magnitude): the fundamental of a harmonic tone, the strike tone of a
    bell-like one. Sub-octaves (which a fundamental estimate must not miss) show up as lower."""
    f, s = spectrum(y)
    s = np.where(f >= lo_hz, s, 0.0)
    thr = s.max() * 10 ** (floor_db / 20)
    k = np.flatnonzero((s[1:-1] >= thr) & (s[1:-1] > s[:-2]) & (s[1:-1] >= s[2:]))[0] + 1
    a, b, c = np.log(s[k - 1:k + 2] + 1e-30)
    return float(f[k] + 0.5 * (a - c) / (a - 2 * b + c) * (f[1] - f[0]))


def band_fraction(y: np.ndarray, lo: float, hi: float) -> float:
    f, s = spectrum(y, pad=1)
    e = s ** 2
    return float(e[(f >= lo) & (f < hi)].sum() / e.sum())


# Features that deliberately put partials below the played note (sub oscillator, the organ's 16'
# and 5 1/3' drawbars, whose sum with the 8' repeats at half the note frequency) or modulate its
# frequency (the Leslie rotor): switched off where a test measures the note's own fundamental.
TUNING_OVERRIDES: Dict[str, Dict[str, float]] = {
    "subtractive": {"sub_level": 0.0},
    "organ": {"db16": 0.0, "db5_1": 0.0, "leslie_depth": 0.0},
}
ADSR_ENGINES = ("subtractive", "fm", "wavetable")


# ---- patches ------------------------------------------------------------------------------

def test_patch_representation_and_ranges():
    for engine in I.ENGINES:
        roles = ("kit",) if engine in I.DRUM_ENGINES else I.MELODIC_ROLES
        for role in roles:
            seen = set()
            for seed in range(12):
                p = I.random_patch(np.random.default_rng(seed), engine, role)
                assert isinstance(p, tuple) and list(p) == sorted(p), (engine, role)
                assert all(isinstance(k, str) and type(v) is float for k, v in p), (engine, role)
                spec = I.PARAMS[engine]
                assert set(dict(p)) == set(spec), (engine, role)  # complete: self-describing
                for k, v in p:
                    assert spec[k][1] <= v <= spec[k][2], (engine, role, k, v)
                # Same generator state, same patch; the patch is hashable and compares by value.
                assert I.random_patch(np.random.default_rng(seed), engine, role) == p
                seen.add(p)
            assert len(seen) == 12, (engine, role)  # different states give different patches

    @dataclasses.dataclass(frozen=True)
    class Part:
        engine: str
        patch: I.Patch

    a = Part("fm", I.random_patch(np.random.default_rng(3), "fm", "chords"))
    assert a == Part("fm", I.random_patch(np.random.default_rng(3), "fm", "chords")) and hash(a)
    assert I.make_patch({"b": 1, "a": 2}) == (("a", 2.0), ("b", 1.0))

    with pytest.raises(ValueError):
        I.random_patch(np.random.default_rng(0), "analog", "bass")
    with pytest.raises(ValueError):
        I.random_patch(np.random.default_rng(0), "fm", "kit")
    with pytest.raises(ValueError):
        I.random_patch(np.random.default_rng(0), "theremin", "pad")
    with pytest.raises(ValueError):  # a typo must not silently render the default
        render("fm", (("indx1", 2.0),), [Note(0, 1, 60, 100)], 1.0)
    with pytest.raises(ValueError):
        render("fm", (("index1", 99.0),), [Note(0, 1, 60, 100)], 1.0)


def test_random_patches_suit_their_role():
    def patches(engine, role, n=24):
        return [I.patch_dict(I.random_patch(np.random.default_rng(s), engine, role)) for s in range(n)]

    for engine in ADSR_ENGINES:
        pads, arps, basses = patches(engine, "pad"), patches(engine, "arp"), patches(engine, "bass")
        assert all(p["attack"] >= 0.15 and p["release"] >= 0.4 for p in pads), engine  # slow
        assert all(p["attack"] <= 0.01 and p["release"] <= 0.3 and p["sustain"] <= 0.4 for p in arps), engine
        assert all(p["attack"] <= 0.01 for p in basses), engine
        assert sum(p["mono"] >= 0.5 for p in basses) >= 12, engine  # bass: mostly mono...
        assert sum(p["glide"] > 0 for p in basses) >= 4, engine  # ...and often gliding
        assert all(p["glide"] == 0 or p["mono"] >= 0.5 for p in basses), engine
        assert all(p["mono"] == 0 for p in patches(engine, "chords") + pads + arps), engine  # chords: poly
    assert all(p["attack"] >= 0.05 for p in patches("organ", "pad"))
    assert all(p["db8"] >= 4 and p["db16"] >= 4 for p in patches("organ", "bass"))
    assert all(p["brightness"] <= 0.6 for p in patches("pluck", "bass"))
    assert all(p["cutoff"] <= 1500 for p in patches("subtractive", "bass"))
    # Bell-like (inharmonic) FM ratios only where no partial can fall below the carrier.
    for role in I.MELODIC_ROLES:
        for p in patches("fm", role, 40):
            if p["algorithm"] in (1, 2):
                assert p["ratio_m1"] == int(p["ratio_m1"]) and p["ratio_m2"] == int(p["ratio_m2"]), p
            elif p["ratio_m1"] != int(p["ratio_m1"]):
                assert p["ratio_m1"] >= 2, p


# ---- rendering contract -------------------------------------------------------------------

NOTES = [Note(0.5, 1.0, 57, 100), Note(1.0, 0.5, 64, 80), Note(1.25, 2.0, 69, 120), Note(2.0, 0.25, 45, 60)]
DRUMS = [Note(0.5, 0.25, 36, 110), Note(0.75, 0.25, 42, 90), Note(1.0, 0.25, 38, 100), Note(1.25, 0.25, 46, 80),
         Note(1.5, 0.25, 39, 90), Note(1.75, 0.25, 49, 100), Note(2.0, 0.25, 45, 90), Note(2.25, 0.25, 56, 70),
         Note(2.5, 0.25, 37, 80), Note(2.5, 0.25, 54, 70), Note(2.75, 0.25, 51, 80), Note(2.75, 0.25, 44, 60),
         Note(3.0, 0.25, 70, 60), Note(3.0, 0.25, 62, 60)]


@pytest.mark.parametrize("engine", I.ENGINES)
def test_render_contract(engine):
    drums = engine in I.DRUM_ENGINES
    notes = DRUMS if drums else NOTES
    for seed, role in enumerate(("kit",) if drums else ("bass", "pad", "arp")):
        patch = patch_for(engine, role, seed) if drums else patch_for(engine, role, seed, release=0.3)
        n = int(9.0 * SR)
        y = I.render_part(engine, patch, notes, BEAT, n, SR, 5)
        assert y.dtype == np.float32 and y.shape == (n,)
        assert np.all(np.isfinite(y)) and np.abs(y).max() > 0.01
        # Same inputs: bit-identical (also with the notes in another order).
        assert np.array_equal(y, I.render_part(engine, patch, notes[::-1], BEAT, n, SR, 5))
        # Silence before the first note and after every sound has ended (drums ring at most
        # their longest decay, crash 5 s; melodic notes their release).
        first = int(0.5 * BEAT * SR)
        assert not y[:first].any()
        last_end = 3.25 * BEAT + (5.0 if drums else 0.3 + 0.02)
        assert not y[int(last_end * SR):].any(), role
        assert np.abs(y[first:first + int(0.1 * SR)]).max() > 0  # and sound where a note starts
        # Exact length when the part ends mid-note: the tail is cut, nothing else changes.
        short = I.render_part(engine, patch, notes, BEAT, int(0.7 * SR), SR, 5)
        assert short.shape == (int(0.7 * SR),) and np.array_equal(short, y[:len(short)])
        assert I.render_part(engine, patch, notes, BEAT, 0, SR, 5).shape == (0,)
        assert not I.render_part(engine, patch, [Note(4.0, 1.0, 60, 100)], BEAT, SR, SR, 5).any()  # past the end


@pytest.mark.parametrize("engine", ("analog", "electro", "noise", "pluck"))
def test_seed_drives_the_noise(engine):
    role = "kit" if engine in I.DRUM_ENGINES else "chords"
    patch = patch_for(engine, role, 1)
    notes = DRUMS if role == "kit" else NOTES
    a, b = render(engine, patch, notes, 3.0, seed=1), render(engine, patch, notes, 3.0, seed=2)
    assert not np.array_equal(a, b)
    assert np.array_equal(a, render(engine, patch, notes, 3.0, seed=1))


@pytest.mark.parametrize("engine", I.MELODIC_ENGINES)
def test_velocity_scales_level(engine):
    patch = patch_for(engine, "chords", 4)
    loud = render(engine, patch, [Note(0, 2, 60, 127)], 1.0)
    soft = render(engine, patch, [Note(0, 2, 60, 40)], 1.0)
    assert np.sqrt(np.mean(loud ** 2)) > 2.5 * np.sqrt(np.mean(soft ** 2))


def test_velocity_opens_the_subtractive_filter():
    patch = patch_for("subtractive", "chords", 2, vel_cutoff=2.0, env_amount=0.0, cutoff=800.0, resonance=0.7)

    def bright(vel):  # share of the energy above 1.5 kHz
        return band_fraction(render("subtractive", patch, [Note(0, 2, 48, vel)], 1.0)[SR // 4:], 1500, SR / 2)

    assert bright(127) > 3 * bright(50)


# ---- tuning -------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", I.MELODIC_ENGINES)
@pytest.mark.parametrize("pitch", (45, 69, 81))  # A2 110 Hz, A4 440 Hz, A5 880 Hz
def test_pitch(engine, pitch):
    for seed in range(4):
        patch = patch_for(engine, "chords", seed, **TUNING_OVERRIDES.get(engine, {}))
        y = render(engine, patch, [Note(0.0, 4.0, pitch, 100)], 2.0)
        est = lowest_partial(y[int(0.05 * SR):int(0.85 * SR)])
        assert abs(est / hz(pitch) - 1) < 0.01, (engine, seed, est, dict(patch))


@pytest.mark.parametrize("engine", I.MELODIC_ENGINES)
def test_bass_fundamental_stays_low(engine):
    for seed in range(4):
        patch = patch_for(engine, "bass", seed)
        for pitch in (28, 40, 55):
            y = render(engine, patch, [Note(0.0, 2.0, pitch, 100)], 1.0)
            est = lowest_partial(y[int(0.05 * SR):int(0.75 * SR)])
            assert est < 400 and est < 1.02 * hz(pitch), (engine, seed, pitch, est)


def test_oscillators_are_band_limited():
    # A 3.5 kHz saw: everything off the harmonic comb is aliasing; PolyBLEP keeps it far below
    # the naive waveform's.
    f = 3520.3
    c = I._cycles(f, SR, SR, 0.1)

    def off_comb_db(y):
        fr, s = spectrum(y, pad=1)
        near = np.abs(fr - np.round(fr / f) * f) < 10
        return 10 * np.log10((s[~near] ** 2).sum() / (s ** 2).sum())

    naive = 2 * (c - np.floor(c)) - 1
    for wave in range(4):
        y = I._oscillator(wave, c.copy(), f / SR, 0.3)
        assert off_comb_db(y) < -25, wave
    assert off_comb_db(I._oscillator(0, c.copy(), f / SR)) < off_comb_db(naive) - 10


def test_blocked_comb_matches_the_recursion():
    rng = np.random.default_rng(0)
    for delay in (30, 100, 401):
        x = rng.standard_normal(delay + 20)
        c = np.array([0.2, 0.3, 0.25, 0.15, 0.0995])
        n = 30 * delay
        a = np.zeros(delay + len(c))
        a[0], a[delay:] = 1.0, -c
        ref = scipy.signal.lfilter([1.0], a, np.concatenate([x, np.zeros(n - len(x))]))
        np.testing.assert_allclose(I._comb(x, delay, c, n), ref, rtol=0, atol=1e-9 * np.abs(ref).max())


def test_mono_cuts_and_glides():
    # FM with no modulation is a pure sine: its zero crossings give the frequency directly.
    base = patch_for("fm", "bass", 0, index1=0.0, index2=0.0, attack=0.002, sustain=1.0, release=0.05)
    notes = [Note(0.0, 2.0, 40, 100), Note(1.0, 2.0, 52, 100)]  # overlapping: E2 then E3
    b_on = int(1.0 * BEAT * SR)

    def freq(y, a, b):
        s = np.signbit(y[a:b])
        return np.count_nonzero(s[1:] != s[:-1]) / 2 / ((b - a) / SR)

    poly = render("fm", I.make_patch(dict(I.patch_dict(base), mono=0.0, glide=0.0)), notes, 2.0)
    mono = render("fm", I.make_patch(dict(I.patch_dict(base), mono=1.0, glide=0.0)), notes, 2.0)
    glide = render("fm", I.make_patch(dict(I.patch_dict(base), mono=1.0, glide=0.2)), notes, 2.0)
    seg = slice(b_on + int(0.3 * SR), b_on + int(0.8 * SR))
    assert abs(lowest_partial(mono[seg]) / hz(52) - 1) < 0.01  # the first note is gone
    assert abs(lowest_partial(poly[seg]) / hz(40) - 1) < 0.01  # in poly mode it still sounds
    assert abs(freq(glide, b_on + int(0.4 * SR), b_on + int(0.9 * SR)) / hz(52) - 1) < 0.02
    early = freq(glide, b_on + int(0.02 * SR), b_on + int(0.12 * SR))
    assert hz(40) * 1.1 < early < hz(52) * 0.95  # still on its way up


# ---- drums --------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", I.DRUM_ENGINES)
def test_drum_voices(engine):
    for seed in range(3):
        kit = patch_for(engine, "kit", seed)
        kick = render(engine, kit, [Note(0, 0.25, 36, 120)], 1.5)
        hat = render(engine, kit, [Note(0, 0.25, 42, 120)], 0.5)
        assert band_fraction(kick, 0, 150) > 0.6, (engine, seed)
        assert band_fraction(hat, 5000, SR / 2) > 0.8, (engine, seed)
        snare = render(engine, kit, [Note(0, 0.25, 38, 120)], 1.0)
        assert band_fraction(snare, 150, SR / 2) > 0.8  # a snare is not a kick
        soft = render(engine, kit, [Note(0, 0.25, 38, 40)], 1.0)
        assert np.abs(snare).max() > 2 * np.abs(soft).max()  # velocity
        for note in (37, 39, 41, 44, 46, 49, 51, 53, 54, 56, 60, 70, 81, 30):  # every voice sounds
            y = render(engine, kit, [Note(0, 0.25, note, 100)], 0.3)
            assert np.abs(y).max() > 1e-3, (engine, note)
    assert I.drum_voice(40) == "snare" and I.drum_voice(57) == "crash" and I.drum_voice(59) == "ride"
    assert [I.drum_voice(n) for n in (41, 43, 45, 47, 48, 50)] == ["tom"] * 6


def test_toms_are_tuned_low_to_high():
    kit = patch_for("analog", "kit", 0)
    pitches = [lowest_partial(render("analog", kit, [Note(0, 0.25, n, 100)], 0.5)[int(0.05 * SR):]) for n in
               (41, 43, 45, 47, 48, 50)]
    assert all(a < b for a, b in zip(pitches, pitches[1:])), pitches


@pytest.mark.parametrize("engine", I.DRUM_ENGINES)
def test_open_hat_is_choked_by_the_next_closed_hat(engine):
    kit = patch_for(engine, "kit", 0, open_decay=1.0, hat_decay=0.05)
    tail = slice(int(0.2 * SR), int(0.9 * SR))  # after the closed hat's own decay
    open_only = render(engine, kit, [Note(0, 0.25, 46, 100)], 1.0)
    choked = render(engine, kit, [Note(0, 0.25, 46, 100), Note(0.2, 0.25, 42, 100)], 1.0)  # closed at 0.1 s
    pedal = render(engine, kit, [Note(0, 0.25, 46, 100), Note(0.2, 0.25, 44, 100)], 1.0)
    other = render(engine, kit, [Note(0, 0.25, 46, 100), Note(0.2, 0.25, 38, 100)], 1.0)  # a snare
    assert np.abs(open_only[tail]).max() > 1e-3
    assert not choked[tail].any() and not pedal[tail].any()
    assert np.array_equal(choked[:int(0.1 * SR)], open_only[:int(0.1 * SR)])  # untouched before
    hi = lambda y: scipy.signal.sosfilt(scipy.signal.butter(4, 5000, "hp", fs=SR, output="sos"), y)  # noqa: E731
    assert np.abs(hi(other)[tail]).max() > 0.5 * np.abs(hi(open_only)[tail]).max()  # a snare does not choke
