"""The formant singing engine (``synth.voice``): determinism, exact lengths, silence outside
the notes, pitch (notes, vibrato, jitter, speech intonation), vowel formants, consonants,
styles, harmony lines. Signals are analysed directly (autocorrelation f0, LPC formants, band
energies); every render is a few seconds, so each test runs in well under a second or two.
"""
import collections
import dataclasses

import numpy as np
import pytest
import scipy.linalg
import scipy.signal

from danna_sep_models.synth import voice
from danna_sep_models.synth.voice import (HARMONY_INTERVALS, STYLES, VOICE_TYPES, double_track_offsets,
                                          harmony_notes, parse_syllable, random_voice, sing_formant)

SR = 44100
BEAT = 0.5  # seconds per beat (120 bpm)


@dataclasses.dataclass(frozen=True)
class Note:  # the shape of compose.Note
    start: float
    dur: float
    pitch: int
    vel: int
    syllable: str = ""


def patch_with(voice_type="tenor", seed=0, **over):
    p = dict(random_voice(np.random.default_rng(seed), voice_type))
    p.update(over)
    return tuple(sorted(p.items()))


def render(notes, voice_type="tenor", patch=None, style="sung", seed=0, seconds=None, **kw):
    patch = patch_with(voice_type) if patch is None else patch
    end = max(n.start + n.dur for n in notes) * BEAT + 0.5
    length = int((seconds or end) * SR)
    return sing_formant(notes, BEAT, length, SR, voice_type, patch, style, seed, **kw).astype(np.float64)


def f0_autocorr(x, lo_hz, hi_hz):
    """Global f0 of a segment: the normalised autocorrelation peak in [lo, hi] Hz, refined by
    a parabola through the peak (sub-sample lag)."""
    x = (x - x.mean()) * np.hanning(len(x))
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[:len(x)]
    ac /= np.arange(len(x), 0, -1)  # unbiased: long lags are not penalised
    lo, hi = int(SR / hi_hz), int(SR / lo_hz) + 1
    k = lo + int(np.argmax(ac[lo:hi]))
    a, b, c = ac[k - 1], ac[k], ac[k + 1]
    return SR / (k + 0.5 * (a - c) / (a - 2 * b + c))


def f0_track(x, lo_hz, hi_hz, frame=2048, hop=256):
    """Frame-wise f0 (Hz) and frame RMS."""
    out, rms = [], []
    for s in range(0, len(x) - frame, hop):
        seg = x[s:s + frame]
        rms.append(np.sqrt(np.mean(seg ** 2)))
        out.append(f0_autocorr(seg, lo_hz, hi_hz) if rms[-1] > 1e-4 else np.nan)
    return np.array(out), np.array(rms)


def lpc_formants(x, order=14, down=5):
    """Formant frequencies (Hz, ascending) from LPC roots of a pre-emphasised segment, at
    SR / ``down`` (8.8 kHz: the poles go to F1-F4, not to the air above)."""
    target_sr = SR / down
    x = scipy.signal.resample_poly(x, 1, down)
    x = np.append(x[0], x[1:] - 0.9 * x[:-1]) * np.hanning(len(x))
    r = np.correlate(x, x, "full")[len(x) - 1:len(x) + order]
    a = scipy.linalg.solve_toeplitz(r[:order], -r[1:order + 1])
    roots = np.roots(np.concatenate([[1.0], a]))
    roots = roots[np.imag(roots) > 0]
    f = np.angle(roots) * target_sr / (2 * np.pi)
    bw = -np.log(np.abs(roots)) * target_sr / np.pi
    return np.sort(f[(f > 150) & (bw < 350)])  # (broad poles model the source, not the tract)


def band_fraction(x, lo_hz):
    """Fraction of the energy above ``lo_hz``."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    return float(spec[freqs >= lo_hz].sum() / spec.sum())


def midi_hz(p):
    return 440.0 * 2 ** ((p - 69) / 12)


# A short line with every kind of onset, legato, a melisma and rests.
LINE = (Note(1, 1, 57, 90, "la"), Note(2, 0.5, 59, 80, "sa"), Note(2.5, 0.5, 60, 85, ""),
        Note(3, 1, 62, 95, "ti"), Note(4.5, 1, 60, 90, "mo"), Note(5.5, 1.5, 57, 100, "shu"),
        Note(8, 1, 55, 90, "ka"), Note(9, 2, 57, 80, "star"))


# ---- contract --------------------------------------------------------------------------------

@pytest.mark.parametrize("style", STYLES)
def test_deterministic_exact_length_finite_and_silent_before(style):
    length = int(6.3 * SR)  # longer than the notes: the tail is silence
    patch = patch_with("alto", 4)
    a = sing_formant(LINE, BEAT, length, SR, "alto", patch, style, 11)
    b = sing_formant(LINE, BEAT, length, SR, "alto", patch, style, 11)
    assert a.dtype == np.float32 and a.shape == (length,)
    assert np.array_equal(a, b)
    assert np.isfinite(a).all() and 0.01 < np.abs(a).max() < 2.0
    first = int(LINE[0].start * BEAT * SR)
    assert not a[:first].any()  # exact zeros before the first note
    assert np.sqrt(np.mean(a[first:first + SR // 4] ** 2)) > 1e-3
    # Silent between phrases and after the end, past a short release.
    end_last = int((LINE[-1].start + LINE[-1].dur) * BEAT * SR)
    assert not a[end_last + int(0.2 * SR):].any()
    gap0, gap1 = int((5.5 + 1.5) * BEAT * SR), int(8 * BEAT * SR)
    assert not a[gap0 + int(0.2 * SR):gap1].any()
    # Shorter than the notes: cut to the length (the random streams differ, so not a prefix).
    short = sing_formant(LINE, BEAT, SR, SR, "alto", patch, style, 11)
    assert short.shape == (SR,) and np.isfinite(short).all() and not short[:first].any() and short.any()
    assert sing_formant(LINE, BEAT, 0, SR, "alto", patch, style, 11).shape == (0,)
    assert not sing_formant((), BEAT, 1000, SR, "alto", patch, style, 11).any()


def test_seeds_change_details_and_jitter_is_cycle_to_cycle():
    notes = (Note(0, 4, 57, 100, "a"),)
    quiet = dict(breathiness=0.0, drift=0.0, shimmer=0.0, scoop=0.0, vibrato_depth=0.0)
    jittery = patch_with("tenor", 1, jitter=0.01, **quiet)
    a, b = render(notes, patch=jittery, seed=1), render(notes, patch=jittery, seed=2)
    assert not np.array_equal(a, b)

    def period_spread(y):
        # Periods from upward zero crossings of the fundamental (band-passed around 220 Hz).
        sos = scipy.signal.butter(2, [150, 320], btype="bandpass", fs=SR, output="sos")
        f = scipy.signal.sosfiltfilt(sos, y[int(0.5 * SR):int(1.7 * SR)])
        i = np.flatnonzero((f[:-1] < 0) & (f[1:] >= 0))
        t = i + f[i] / (f[i] - f[i + 1])  # sub-sample crossing
        per = np.diff(t)[5:-5]  # (the filter's edges are not periods)
        return np.std(np.diff(per)) / np.mean(per)  # period-to-period change

    steady = period_spread(render(notes, patch=patch_with("tenor", 1, jitter=0.0, **quiet), seed=1))
    assert period_spread(a) > 0.002 and period_spread(a) > 4 * steady


# ---- pitch ---------------------------------------------------------------------------------

@pytest.mark.parametrize("pitch,voice_type", [(57, "tenor"), (57, "baritone"), (69, "soprano"), (69, "alto")])
def test_sustained_vowel_hits_the_note(pitch, voice_type):
    y = render((Note(0, 4, pitch, 100, "a"),), voice_type, patch_with(voice_type, pitch))
    target = midi_hz(pitch)
    seg = y[int(0.8 * SR):int(1.8 * SR)]  # steady middle: several vibrato cycles
    assert abs(f0_autocorr(seg, target / 1.5, target * 1.5) / target - 1) < 0.02


def test_vibrato_at_the_patch_rate():
    for seed, rate in ((5, 4.8), (6, 6.3)):
        patch = patch_with("tenor", seed, vibrato_rate=rate, vibrato_depth=0.5, vibrato_onset=0.3, drift=0.0)
        y = render((Note(0, 8, 57, 100, "o"),), patch=patch, seed=seed)
        f0, _ = f0_track(y[int(1.0 * SR):int(3.8 * SR)], 150, 330, frame=1024, hop=128)
        st = 12 * np.log2(f0 / midi_hz(57))
        st -= st.mean()
        spec = np.abs(np.fft.rfft(st * np.hanning(len(st)), 16 * len(st)))
        freqs = np.fft.rfftfreq(16 * len(st), 128 / SR)
        band = (freqs > 2) & (freqs < 12)
        peak = freqs[band][np.argmax(spec[band])]
        assert abs(peak / rate - 1) < 0.15, (peak, rate)
        # ... and the depth is the patch's (+-20 % per note, and some estimator smoothing).
        assert 0.5 * 0.5 < 0.5 * (np.percentile(st, 97) - np.percentile(st, 3)) < 1.5 * 0.5


def test_vibrato_waits_for_its_onset():
    patch = patch_with("tenor", 2, vibrato_depth=0.6, vibrato_onset=0.8, vibrato_rate=5.5, drift=0.0, scoop=0.0,
                       jitter=0.002)
    y = render((Note(0, 6, 57, 100, "a"),), patch=patch)
    f0, _ = f0_track(y[:int(2.5 * SR)], 150, 330, frame=1024, hop=128)
    st = 12 * np.log2(f0 / midi_hz(57))
    t = (np.arange(len(st)) * 128 + 512) / SR
    early, late = st[(t > 0.15) & (t < 0.7)], st[(t > 1.5) & (t < 2.4)]
    assert np.ptp(early) < 0.25 and np.ptp(late) > 0.8


def test_legato_notes_glide():
    patch = patch_with("tenor", 3, glide=0.12, vibrato_depth=0.0, drift=0.0, scoop=0.0)
    y = render((Note(0, 2, 57, 100, "a"), Note(2, 2, 62, 100, "")), patch=patch)
    f0, _ = f0_track(y, 150, 450, frame=1024, hop=128)
    st = 12 * np.log2(f0 / midi_hz(57))
    t = (np.arange(len(st)) * 128 + 512) / SR
    assert abs(np.median(st[(t > 0.5) & (t < 0.9)])) < 0.15
    assert abs(np.median(st[(t > 1.5) & (t < 1.9)]) - 5) < 0.15
    # Inside the glide (centred a little before the new note): between the notes, rising, no jump.
    mid = st[(t > 0.99) & (t < 1.06)]
    assert ((mid > 0.3) & (mid < 4.7)).all() and ((mid > 2) & (mid < 3)).any()
    assert (np.diff(mid) > -0.05).all()


def test_spoken_has_no_sustained_pitch_and_short_syllables():
    notes = tuple(Note(2 * k, 2, p, 95, s) for k, (p, s) in enumerate(zip((57, 59, 60, 62, 60, 57),
                                                                           ("la", "ma", "no", "li", "ra", "mo"))))
    flat = patch_with("baritone", 7, vibrato_depth=0.0, drift=0.0, scoop=0.0, jitter=0.002)

    def steady_windows(y, win=0.12):
        f0, rms = f0_track(y, 70, 400, frame=1024, hop=128)
        st = scipy.signal.medfilt(12 * np.log2(np.nan_to_num(f0, nan=100.0) / 100.0), 5)
        voiced = rms > 0.15 * rms.max()
        w = int(win * SR / 128)
        ranges = [np.ptp(st[i:i + w]) for i in range(len(st) - w) if voiced[i:i + w].all()]
        return np.array(ranges)

    sung = render(notes, "baritone", flat, "sung")
    spoken = render(notes, "baritone", flat, "spoken")
    r_sung, r_spoken = steady_windows(sung), steady_windows(spoken)
    assert len(r_sung) and (r_sung < 0.15).mean() > 0.5  # the sung control holds its notes
    assert len(r_spoken) > 10 and r_spoken.min() > 0.3  # speech never holds a pitch
    # Faster syllables: each note's second half is silent, and nothing sounds before a note.
    for n in notes:
        a, b = int(n.start * BEAT * SR), int((n.start + n.dur) * BEAT * SR)
        assert np.sqrt(np.mean(spoken[a:a + SR // 8] ** 2)) > 1e-3
        assert not spoken[a + int(0.55 * SR):b].any()


# ---- timbre: vowels, consonants, styles --------------------------------------------------------

@pytest.mark.parametrize("voice_type,pitch", [("bass", 45), ("tenor", 50), ("soprano", 57)])
def test_vowel_formants(voice_type, pitch):
    patch = patch_with(voice_type, 3)
    formants = {}
    for v in "aiu":
        y = render((Note(0, 3, pitch, 100, v),), voice_type, patch, seed=1)
        formants[v] = lpc_formants(y[int(0.6 * SR):int(0.6 * SR) + 2048])
    assert formants["a"][0] > 1.5 * formants["i"][0]  # open /a/: high F1; close /i/: low F1
    assert formants["i"][1] > 2.2 * formants["u"][1]  # front /i/: high F2; back /u/: low F2
    assert formants["a"][0] > 420 and formants["i"][1] > 1500 and formants["u"][1] < 800


def test_voice_types_scale_formants():
    # Mean log F1/F2 over three vowels (each syllable's formants wobble by a few %), all on A2:
    # dense harmonics keep LPC honest whatever the voice.
    size = {}
    for vt in ("bass", "tenor", "soprano", "child"):
        logs = []
        for v in "aeo":
            y = render((Note(0, 3, 45, 100, v),), vt, patch_with(vt, 0, formant_scale=1.0))
            logs.extend(np.log(lpc_formants(y[int(0.6 * SR):int(0.6 * SR) + 2048])[:2]))
        size[vt] = np.exp(np.mean(logs))
    assert size["bass"] < size["tenor"] < size["soprano"] < size["child"]
    assert size["child"] > 1.15 * size["bass"]


def test_s_onset_is_sibilant():
    patch = patch_with("tenor", 2, breathiness=0.1)
    y = render((Note(0, 3, 57, 100, "sa"),), patch=patch)
    onset, vowel = y[:int(0.06 * SR)], y[int(0.5 * SR):int(1.0 * SR)]
    assert np.sqrt(np.mean(onset ** 2)) > 1e-3
    assert band_fraction(onset, 4000) > 0.6 > 0.1 > band_fraction(vowel, 4000)
    # "sh" sits lower: most of its noise is 2-5.5 kHz, less above 6 kHz than "s".
    sh = render((Note(0, 3, 57, 100, "sha"),), patch=patch)[:int(0.06 * SR)]
    assert band_fraction(sh, 6000) < 0.5 * band_fraction(onset, 6000)
    assert band_fraction(sh, 2000) - band_fraction(sh, 5500) > 0.5
    rms = lambda x: np.sqrt(np.mean(x ** 2))  # noqa: E731
    # "f" is weak and broad; "h" is noise through the vowel's formants (mostly under 4 kHz).
    f = render((Note(0, 3, 57, 100, "fa"),), patch=patch)[:int(0.06 * SR)]
    assert 1e-4 < rms(f) < 0.5 * rms(onset)
    h = render((Note(0, 3, 57, 100, "ha"),), patch=patch)[int(0.01 * SR):int(0.06 * SR)]
    assert rms(h) > 1e-3 and band_fraction(h, 4000) < 0.3
    spec = np.abs(np.fft.rfft(h * np.hanning(len(h)))) ** 2
    freqs = np.fft.rfftfreq(len(h), 1 / SR)
    f1_band = spec[(freqs > 450) & (freqs < 900)].mean()  # around the tenor /a/'s F1 ...
    assert f1_band > 5 * spec[(freqs > 1500) & (freqs < 2200)].mean()  # ... above the trough after F2


def test_plosive_closure_burst_and_nasal_murmur():
    patch = patch_with("tenor", 2)
    ta = render((Note(0, 2, 57, 100, "ta"),), patch=patch)
    rms = lambda x: np.sqrt(np.mean(x ** 2))  # noqa: E731
    assert rms(ta[:int(0.03 * SR)]) < 0.01 * rms(ta[int(0.3 * SR):int(0.6 * SR)])  # closure
    burst = ta[int(0.045 * SR):int(0.065 * SR)]
    assert rms(burst) > 1e-3 and band_fraction(burst, 2500) > 0.5
    ma = render((Note(0, 2, 57, 100, "ma"),), patch=patch)
    murmur, vowel = ma[int(0.02 * SR):int(0.06 * SR)], ma[int(0.3 * SR):int(0.6 * SR)]
    assert rms(murmur) < 0.7 * rms(vowel) and band_fraction(murmur, 1000) < band_fraction(vowel, 1000)


def test_shout_is_brighter_with_higher_f1_and_a_subharmonic():
    patch = patch_with("tenor", 8, vibrato_depth=0.1)
    notes = (Note(0, 3, 50, 100, "a"),)
    sung, shout = render(notes, patch=patch), render(notes, patch=patch, style="shout")
    seg = slice(int(0.6 * SR), int(0.6 * SR) + 2048)
    assert lpc_formants(shout[seg])[0] > 1.12 * lpc_formants(sung[seg])[0]
    long = slice(int(0.5 * SR), int(1.5 * SR))
    assert band_fraction(shout[long], 2000) > 1.3 * band_fraction(sung[long], 2000)

    def sub_level(y):  # energy at f0/2 relative to f0 (D3 = 146.8 Hz)
        spec = np.abs(np.fft.rfft(y[long] * np.hanning(SR)))
        f = np.fft.rfftfreq(SR, 1 / SR)
        at = lambda hz: spec[(f > hz * 0.97) & (f < hz * 1.03)].max()  # noqa: E731
        return at(midi_hz(50) / 2) / at(midi_hz(50))

    assert sub_level(shout) > 3 * sub_level(sung)


def test_parse_syllable():
    assert parse_syllable("la") == (("l",), ("a",), ())
    assert parse_syllable("sha") == (("sh",), ("a",), ())
    assert parse_syllable("Star") == (("s", "t"), ("a",), ("r",))
    assert parse_syllable("time") == (("t",), ("i",), ("m",))
    assert parse_syllable("love") == (("l",), ("o",), ("v",))
    assert parse_syllable("moon") == (("m",), ("u",), ("n",))
    assert parse_syllable("hai") == (("h",), ("a", "i"), ())
    assert parse_syllable("yes") == (("y",), ("e",), ("s",))
    assert parse_syllable("mm") == ((), ("m",), ())  # hummed
    assert parse_syllable("brr") == (("b", "r"), ("@",), ())  # no vowel: schwa
    assert parse_syllable("ché") == (("t", "sh"), ("e",), ())  # accents dropped
    assert parse_syllable("") == ((), ("@",), ())


# ---- harmony, double tracking, patches -------------------------------------------------------

def test_harmony_notes_are_chord_tones_in_range():
    from danna_sep_models.synth.compose import Note as ComposeNote

    chords = {0: (0, 4, 7), 1: (7, 11, 2), 2: (9, 0, 4), 3: (5, 9, 0)}  # C G Am F, one per bar
    tones = lambda beat: chords[int(beat // 4) % 4]  # noqa: E731
    c_major = (0, 2, 4, 5, 7, 9, 11)
    melody = tuple(ComposeNote(0.5 * k, 0.5, 60 + c_major[(k * 3) % 7] + (12 if k % 5 == 0 else 0), 90,
                               "la" if k % 2 else "") for k in range(32))
    ranges = {"third_above": ((3, 5), (2, 7)), "third_below": ((-5, -3), (-7, -2)),
              "sixth_below": ((-9, -7), (-10, -5)), "octave": ((-12, -12), (-12, -12))}
    for interval in HARMONY_INTERVALS:
        h = harmony_notes(melody, tones, interval)
        assert len(h) == len(melody) and all(type(x) is ComposeNote for x in h)
        (slo, shi), (wlo, whi) = ranges[interval]
        for m, x in zip(melody, h):
            assert (x.start, x.dur, x.vel, x.syllable) == (m.start, m.dur, m.vel, m.syllable)
            d = x.pitch - m.pitch
            if interval == "octave":
                assert d == -12
                continue
            assert x.pitch % 12 in tones(m.start), (interval, m, x)
            assert wlo <= d <= whi
            if m.pitch % 12 in tones(m.start):  # from a chord tone: the strict interval
                assert slo <= d <= shi, (interval, m, x)
    # Other note types: namedtuples too; an unknown interval is an error.
    NT = collections.namedtuple("NT", "start dur pitch vel syllable")
    assert harmony_notes([NT(0, 1, 64, 90, "la")], tones, "third_above") == (NT(0, 1, 67, 90, "la"),)
    with pytest.raises(ValueError):
        harmony_notes(melody, tones, "fifth_above")


def test_double_track_offsets_and_delay_detune():
    d = [double_track_offsets(np.random.default_rng(s)) for s in range(20)]
    assert d[0] == double_track_offsets(np.random.default_rng(0))
    assert all(0.01 <= a <= 0.04 and 3 <= abs(c) <= 15 for a, c in d)
    assert len({c > 0 for _, c in d}) == 2
    notes = (Note(0, 4, 57, 100, "a"),)
    patch = patch_with("tenor", 1)
    base = render(notes, patch=patch, seconds=2.5)
    shifted = render(notes, patch=patch, seconds=2.5, delay_s=0.02, detune_cents=30.0)
    first = np.flatnonzero(shifted)[0] - np.flatnonzero(base)[0]
    assert abs(first - 0.02 * SR) <= 1
    seg = slice(int(0.8 * SR), int(1.8 * SR))
    ratio = f0_autocorr(shifted[seg], 150, 330) / f0_autocorr(base[seg], 150, 330)
    assert abs(1200 * np.log2(ratio) - 30) < 8
    # The detune may also come in the patch (added to the argument).
    in_patch = render(notes, patch=patch + (("detune_cents", 30.0),), seconds=2.5, delay_s=0.02)
    assert np.array_equal(in_patch, shifted)


def test_random_voice_is_seeded_sorted_and_accepted():
    a = random_voice(np.random.default_rng(3), "soprano")
    assert a == random_voice(np.random.default_rng(3), "soprano") != random_voice(np.random.default_rng(4), "soprano")
    assert list(a) == sorted(a) and all(isinstance(k, str) and isinstance(v, float) for k, v in a)
    assert set(dict(a)) == set(voice._PATCH_SPEC) - {"detune_cents"}
    for vt in VOICE_TYPES:
        y = sing_formant((Note(0, 1, 60, 90, "no"),), BEAT, SR, SR, vt, random_voice(np.random.default_rng(0), vt))
        assert np.isfinite(y).all() and np.abs(y).max() > 0.005
    with pytest.raises(ValueError):
        random_voice(np.random.default_rng(0), "castrato")
    with pytest.raises(ValueError):
        sing_formant((), BEAT, 10, SR, "tenor", a, "whisper", 0)
    with pytest.raises(ValueError):
        sing_formant((), BEAT, 10, SR, "tenor", (("vibrato_speed", 1.0),), "sung", 0)
