"""A formant (source-filter) singing synthesiser: a second vocal engine, independent of
espeak-ng, so that the vocals stem is not one voice's timbre only.

What it is: notes (``start``/``dur`` in beats, MIDI ``pitch``, ``vel``, ``syllable`` text) ->
mono float32 audio, in numpy/scipy only (no external tools, no per-sample Python loops):

- **source**: a band-limited glottal flow-derivative pulse train (Rosenberg-type flow pulse,
  its Fourier series truncated below Nyquist in half-octave wavetables, so no pulse aliases),
  with cycle-to-cycle jitter and shimmer, slow pitch drift, and aspiration noise mixed by a
  breathiness parameter and gated by the glottal cycle (louder while the glottis is open);
- **pitch**: the notes with portamento between legato notes (glide time, a small overshoot),
  small scoops into attacks and falls off phrase ends, vibrato (rate, depth, delayed onset
  that fades in), raised F1 on high notes (sopranos' formant tuning);
- **filter**: a cascade of formant resonators F1..F5 (bandwidths B1..B5) per voice type
  (bass, baritone, tenor, alto, soprano, child) and vowel (a e i o u and schwa), a nasal
  pole/zero pair, fixed F6..F8 and a parallel high branch for the air above them, with
  coarticulated transitions (30-60 ms), time-varying in blocks of :data:`BLOCK` samples with
  per-block biquads and carried filter state (``sosfilt`` with ``zi``; no per-sample loops);
- **consonants** from the syllable text: nasals and liquids (voiced, formant shifts, the nasal
  anti-formant), plosives (closure, burst of shaped noise, aspiration for p/t/k), fricatives
  (s 4-9 kHz, sh 2-5.5 kHz, f/th weak and broad; z/zh/v voiced), h (aspiration through the
  vowel's formants), simple codas (n, m, s, t, ...);
- **styles**: ``"sung"``, ``"spoken"`` (declining speech intonation, no vibrato, short
  syllables inside the notes) and ``"shout"`` (more effort: higher F1, brighter and rougher
  source with a subharmonic, less breath, harder attacks).

Determinism: :func:`sing_formant` is a pure function of its arguments. All randomness comes
from generators built from ``seed`` (one independent stream per purpose: syllable plans,
pitch details, per-cycle jitter and shimmer, noise), nothing reads global state (the caches
hold derived constants only), and the same inputs give a bit-identical array on the same
numpy/scipy installation. A different ``length`` may change the random draws (a shorter
render is not a prefix of a longer one). :func:`random_voice` and :func:`double_track_offsets`
draw only from the generator passed in, in a fixed order.

What it does not model: real articulation dynamics (a physical tongue/jaw, nasal coupling
spectra beyond one pole/zero pair), voice registers and breaks, creak/vocal fry, lyrics beyond
one onset cluster + vowel (+ a short coda) per note, pitch-dependent source changes of real
singers (louder is not brighter here, within one render), the chest/room radiation, breaths
between phrases (:func:`.render.breaths` adds those), reverb, polyphony (one voice: overlapping
notes are cut at the next note's start; sing a harmony by calling again).
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import unicodedata
from typing import Callable, Dict, List, Optional, Protocol, Sequence, Tuple

import numpy as np
import scipy.signal

BLOCK = 64  # samples per filter-coefficient update (1.5 ms at 44.1 kHz)
VOICE_TYPES = ("bass", "baritone", "tenor", "alto", "soprano", "child")
STYLES = ("sung", "spoken", "shout")
VOWELS = ("a", "e", "i", "o", "u", "@")  # "@" is schwa
HARMONY_INTERVALS = ("third_above", "third_below", "sixth_below", "octave")

Patch = Tuple[Tuple[str, float], ...]


class NoteLike(Protocol):
    """What :func:`sing_formant` reads from a note (``compose.Note`` is one)."""
    start: float  # beats
    dur: float  # beats
    pitch: int  # MIDI note number
    vel: int  # 1..127
    syllable: str  # text of a new syllable, or "" to hold the previous vowel (melisma)


# ---- formant tables -----------------------------------------------------------------------

# (F1..F5 Hz, B1..B5 Hz) of sung vowels. bass/tenor/alto/soprano a e i o u: the classic table
# of the Csound manual (after measured singers); schwa: a neutral vocal tract in each range.
_TABLE_SRC: Dict[str, Dict[str, Tuple[Tuple[float, ...], Tuple[float, ...]]]] = {
    "bass": {
        "a": ((600, 1040, 2250, 2450, 2750), (60, 70, 110, 120, 130)),
        "e": ((400, 1620, 2400, 2800, 3100), (40, 80, 100, 120, 120)),
        "i": ((250, 1750, 2600, 3050, 3340), (60, 90, 100, 120, 120)),
        "o": ((400, 750, 2400, 2600, 2900), (40, 80, 100, 120, 120)),
        "u": ((350, 600, 2400, 2675, 2950), (40, 80, 100, 120, 120)),
        "@": ((480, 1300, 2350, 2650, 2950), (60, 80, 110, 120, 130)),
    },
    "tenor": {
        "a": ((650, 1080, 2650, 2900, 3250), (80, 90, 120, 130, 140)),
        "e": ((400, 1700, 2600, 3200, 3580), (70, 80, 100, 120, 120)),
        "i": ((290, 1870, 2800, 3250, 3540), (40, 90, 100, 120, 120)),
        "o": ((400, 800, 2600, 2800, 3000), (40, 80, 100, 120, 120)),
        "u": ((350, 600, 2700, 2900, 3300), (40, 60, 100, 120, 120)),
        "@": ((500, 1400, 2550, 2950, 3300), (70, 80, 110, 120, 130)),
    },
    "alto": {
        "a": ((800, 1150, 2800, 3500, 4950), (80, 90, 120, 130, 140)),
        "e": ((400, 1600, 2700, 3300, 4950), (60, 80, 120, 150, 200)),
        "i": ((350, 1700, 2700, 3700, 4950), (50, 100, 120, 150, 200)),
        "o": ((450, 800, 2830, 3500, 4950), (70, 80, 100, 130, 135)),
        "u": ((325, 700, 2530, 3500, 4950), (50, 60, 170, 180, 200)),
        "@": ((550, 1450, 2700, 3500, 4950), (70, 90, 120, 150, 180)),
    },
    "soprano": {
        "a": ((800, 1150, 2900, 3900, 4950), (80, 90, 120, 130, 140)),
        "e": ((350, 2000, 2800, 3600, 4950), (60, 100, 120, 150, 200)),
        "i": ((270, 2140, 2950, 3900, 4950), (60, 90, 100, 120, 120)),
        "o": ((450, 800, 2830, 3800, 4950), (40, 80, 100, 120, 120)),
        "u": ((325, 700, 2700, 3800, 4950), (50, 60, 170, 180, 200)),
        "@": ((560, 1550, 2800, 3800, 4950), (70, 90, 120, 150, 180)),
    },
}


def _build_tables() -> Dict[str, Dict[str, Tuple[np.ndarray, np.ndarray]]]:
    t = {vt: {v: (np.array(f, float), np.array(b, float)) for v, (f, b) in d.items()} for vt, d in _TABLE_SRC.items()}
    # Baritone: between bass and tenor (geometric mean of the frequencies).
    t["baritone"] = {v: (np.sqrt(t["bass"][v][0] * t["tenor"][v][0]), 0.5 * (t["bass"][v][1] + t["tenor"][v][1]))
                     for v in VOWELS}
    # Child: a shorter vocal tract than a soprano's, so every formant is higher.
    t["child"] = {v: (t["soprano"][v][0] * 1.12, t["soprano"][v][1] * 1.1) for v in VOWELS}
    return t


FORMANTS = _build_tables()
_NASAL_POLE = (270.0, 100.0)  # Hz: the nasal pole/zero pair cancels exactly outside nasals

# ---- patches ----------------------------------------------------------------------------

# Default (and clip range) of every patch key; a hand-made patch may leave keys out.
_PATCH_SPEC: Dict[str, Tuple[float, float, float]] = {
    "breathiness": (0.12, 0.0, 0.6),  # aspiration noise level relative to voicing
    "brightness": (0.5, 0.0, 1.0),  # source spectral tilt and closing speed
    # Cents added to every note (a double-tracked take); not a trait, so random_voice leaves it out.
    "detune_cents": (0.0, -100.0, 100.0),
    "drift": (6.0, 0.0, 30.0),  # cents: slow random pitch wander
    "formant_scale": (1.0, 0.85, 1.15),  # vocal tract length of this singer vs the voice type
    "glide": (0.08, 0.01, 0.3),  # seconds: portamento between legato notes
    "jitter": (0.005, 0.0, 0.03),  # relative cycle-to-cycle period variation (std)
    "ring": (0.3, 0.0, 1.0),  # singer's formant: F3-F5 clustered (0 = speech-like)
    "scoop": (0.4, 0.0, 2.0),  # semitones: largest scoop from below into an attack
    "shimmer": (0.04, 0.0, 0.2),  # relative cycle-to-cycle amplitude variation (std)
    "transition": (0.045, 0.02, 0.08),  # seconds: vowel/consonant formant transitions
    "vibrato_depth": (0.3, 0.0, 1.5),  # semitones, peak
    "vibrato_onset": (0.25, 0.0, 2.0),  # seconds after the attack before the vibrato fades in
    "vibrato_rate": (5.5, 2.0, 9.0),  # Hz
}


def random_voice(rng: np.random.Generator, voice_type: str) -> Patch:
    """A random singer of ``voice_type``: sorted ``(key, value)`` pairs, every key of
    ``_PATCH_SPEC`` but ``detune_cents``: formant scale, breathiness, vibrato rate/depth/onset,
    jitter, shimmer, glide, brightness, scoop, drift, transition time, ring. Draws a fixed
    number of values from ``rng`` in a fixed order (deterministic)."""
    _check_voice_type(voice_type)
    high = voice_type in ("alto", "soprano", "child")
    values = {
        "formant_scale": rng.uniform(0.94, 1.06),
        "breathiness": rng.uniform(0.04, 0.4 if high else 0.3),
        "vibrato_rate": rng.uniform(4.6, 6.6),
        "vibrato_depth": rng.uniform(0.12, 0.6),
        "vibrato_onset": rng.uniform(0.12, 0.45),
        "jitter": rng.uniform(0.002, 0.01),
        "shimmer": rng.uniform(0.02, 0.08),
        "glide": rng.uniform(0.04, 0.14),
        "brightness": rng.uniform(0.2, 0.85),
        "scoop": rng.uniform(0.0, 0.8),
        "drift": rng.uniform(3.0, 12.0),
        "transition": rng.uniform(0.03, 0.06),
        "ring": rng.uniform(0.0, 0.4 if high else 0.7),
    }
    return tuple(sorted((k, float(v)) for k, v in values.items()))


def _patch_values(patch: Patch) -> Dict[str, float]:
    given = dict(patch)
    unknown = set(given) - set(_PATCH_SPEC)
    if unknown:
        raise ValueError(f"unknown patch keys {sorted(unknown)}; known: {sorted(_PATCH_SPEC)}")
    return {k: float(np.clip(float(given.get(k, d)), lo, hi)) for k, (d, lo, hi) in _PATCH_SPEC.items()}


def _check_voice_type(voice_type: str) -> None:
    if voice_type not in VOICE_TYPES:
        raise ValueError(f"voice_type {voice_type!r} not in {VOICE_TYPES}")


# ---- style constants ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Style:
    gain: float  # output level (vocal effort)
    f1: float  # F1 multiplier (effort opens the jaw)
    f2: float
    bw: float  # bandwidth multiplier
    breath: float  # breathiness multiplier
    bright: float  # added to brightness
    jitter: float  # jitter multiplier
    sub: float  # subharmonic: amplitude drop of every other cycle
    sub_period: float  # ... and relative period alternation
    vibrato: float  # vibrato depth multiplier
    scoop: float  # scoop multiplier
    fall_p: float  # probability of a fall off a phrase end
    attack: float  # seconds: onset of a vowel after silence
    release: float  # seconds: release after the last note of a phrase
    cons: float  # consonant duration multiplier
    ring: float  # singer's-formant multiplier


_STYLES = {
    "sung": _Style(1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.35, 0.04, 0.06, 1.0, 1.0),
    "spoken": _Style(0.75, 1.0, 1.0, 1.1, 1.0, -0.05, 1.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.022, 0.035, 0.75, 0.0),
    "shout": _Style(1.6, 1.22, 1.05, 1.15, 0.3, 0.35, 1.5, 0.15, 0.012, 0.3, 1.8, 0.55, 0.012, 0.07, 0.9, 0.5),
}

LEGATO_GAP = 0.03  # seconds: notes closer than this are joined (legato)
_GLOTTAL_BASE_HZ = 55.0  # lowest wavetable band edge; tables every half octave above


# ---- source -------------------------------------------------------------------------------

@functools.lru_cache(maxsize=32)
def _pulse_tables(sr: int, oq: float, sq: float, tilt: float,
                  size: int = 2048) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band-limited wavetables of one glottal flow-derivative cycle, one per half-octave band
    of f0 (row ``L`` holds harmonics up to 0.45*sr for f0 <= 55*2**(L/2) Hz), the flow itself
    (the aspiration gate), each with a wrap-around sample for interpolation, and the
    amplitudes of harmonics 1, 2, ... in the tables' scale (for level estimates). Read-only."""
    m = 16384
    tau = np.arange(m) / m
    tp = oq * sq / (1.0 + sq)  # opening phase (slow) ...
    tn = oq - tp  # ... then closing (fast: the main excitation at closure)
    g = np.zeros(m)
    opening = tau < tp
    g[opening] = 0.5 * (1.0 - np.cos(np.pi * tau[opening] / tp))
    closing = (tau >= tp) & (tau < oq)
    g[closing] = np.cos(0.5 * np.pi * (tau[closing] - tp) / tn)
    spec = np.fft.rfft(g) / m
    k = np.arange(len(spec), dtype=float)
    # Derivative in the Fourier domain (lip radiation), exact, plus an extra spectral tilt.
    spec = spec * 2j * np.pi * k
    spec[1:] *= k[1:] ** (-tilt)
    spec[0] = 0.0
    levels = []
    f_max = _GLOTTAL_BASE_HZ
    while True:
        h = int(max(1, min(size // 2 - 1, m // 2 - 1, np.floor(0.45 * sr / f_max))))
        row = np.zeros(size // 2 + 1, complex)
        taper = np.ones(h)
        t0 = int(0.7 * h)
        if h - t0 > 1:  # smooth roll-off of the top harmonics: no Gibbs ringing, soft band switches
            taper[t0:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(h - t0) / (h - t0))
        row[1:h + 1] = spec[1:h + 1] * taper
        levels.append(np.fft.irfft(row, size) * size)
        if h == 1 or f_max > 0.25 * sr:
            break
        f_max *= 2 ** 0.5
    tables = np.array(levels)
    rms0 = np.sqrt(np.mean(tables[0] ** 2))
    tables /= rms0
    tables = np.concatenate([tables, tables[:, :1]], axis=1)
    flow = g[:: m // size] / g.max()
    flow = np.append(flow, flow[0])
    harm = 2.0 * size * np.abs(spec[1:size // 2]) / rms0
    for a in (tables, flow, harm):
        a.setflags(write=False)
    return tables, flow, harm


def _source_params(p: Dict[str, float], st: _Style) -> Tuple[float, float, float]:
    """(open quotient, speed quotient, extra tilt) of the pulse from brightness/breathiness."""
    bright = float(np.clip(p["brightness"] + st.bright, 0.0, 1.3))
    breath = p["breathiness"] * st.breath
    oq = float(np.clip(0.55 + 0.3 * breath - 0.15 * (bright - 0.5), 0.35, 0.85))
    sq = float(np.clip(2.0 + 1.5 * bright, 1.2, 4.5))
    tilt = float(np.clip(0.4 * (0.5 - bright) + 0.5 * breath, -0.4, 0.8))
    return round(oq, 3), round(sq, 3), round(tilt, 3)


def _slow_noise(rng: np.random.Generator, n: int, sr: int, step_s: float) -> np.ndarray:
    """Band-limited random curve (unit-ish std), control points every ``step_s``, linear between."""
    step = max(1, int(step_s * sr))
    k = n // step + 3
    pts = rng.standard_normal(k)
    pts = np.convolve(pts, np.ones(3) / np.sqrt(3), mode="same")  # smoother than white points
    return np.interp(np.arange(n, dtype=float), np.arange(k) * step, pts)


# ---- syllable text -> phones ---------------------------------------------------------------

# kind, place/band, voiced, duration (s)
_CONS: Dict[str, Tuple[str, str, bool, float]] = {
    "m": ("nasal", "lab", True, 0.07), "n": ("nasal", "alv", True, 0.065), "ng": ("nasal", "vel", True, 0.06),
    "l": ("liquid", "l", True, 0.06), "r": ("liquid", "r", True, 0.05),
    "w": ("liquid", "w", True, 0.05), "y": ("liquid", "y", True, 0.045),
    "p": ("stop", "lab", False, 0.05), "t": ("stop", "alv", False, 0.05), "k": ("stop", "vel", False, 0.055),
    "b": ("stop", "lab", True, 0.04), "d": ("stop", "alv", True, 0.04), "g": ("stop", "vel", True, 0.045),
    "s": ("fric", "s", False, 0.1), "z": ("fric", "s", True, 0.08),
    "sh": ("fric", "sh", False, 0.1), "zh": ("fric", "sh", True, 0.08),
    "f": ("fric", "f", False, 0.08), "v": ("fric", "f", True, 0.06),
    "th": ("fric", "th", False, 0.07), "dh": ("fric", "th", True, 0.05),
    "h": ("asp", "", False, 0.07),
}
# Letter groups -> consonant keys (longest match first); single letters not listed map to themselves.
_DIGRAPHS = (("sch", ("sh",)), ("tch", ("t", "sh")), ("sh", ("sh",)), ("ch", ("t", "sh")), ("th", ("th",)),
             ("ph", ("f",)), ("ng", ("ng",)), ("zh", ("zh",)), ("ck", ("k",)), ("qu", ("k", "w")),
             ("wh", ("w",)), ("gh", ("g",)), ("kh", ("h",)), ("dh", ("dh",)), ("gn", ("n", "y")))
_LETTERS = {"j": ("d", "zh"), "x": ("k", "s"), "q": ("k",), "c": ("k",)}
_VOWEL_LETTERS = "aeiouy"
_VOWEL_PAIRS = {"ee": ("i",), "ie": ("i",), "ea": ("i",), "ey": ("e", "i"), "oo": ("u",), "ou": ("u",),
                "ue": ("u",), "ew": ("u",), "oa": ("o",), "ae": ("e",), "ai": ("a", "i"), "ay": ("e", "i"),
                "ei": ("e", "i"), "au": ("a", "u"), "oi": ("o", "i"), "oy": ("o", "i"), "eu": ("e", "u")}
_VOWEL_ONE = {"a": "a", "e": "e", "i": "i", "o": "o", "u": "u", "y": "i"}


@functools.lru_cache(maxsize=1024)
def parse_syllable(text: str) -> Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]:
    """``text`` -> (onset consonants, vowels (1, or 2 for a diphthong), coda consonants).

    Accents are dropped, other non-letters ignored. The first vowel group is the nucleus (an
    unknown or missing vowel is schwa ``"@"``); consonants before it are the onset, those after
    it up to the next vowel the coda (later syllables in the same text are not sung). A text
    of nasals only (``"m"``, ``"hm"``) is hummed: the vowel is ``"m"``/``"n"``."""
    t = unicodedata.normalize("NFD", str(text).lower())
    t = "".join(c for c in t if "a" <= c <= "z")
    items: List[Tuple[str, Tuple[str, ...]]] = []  # ("C", keys) or ("V", (letter,))
    i = 0
    while i < len(t):
        c = t[i]
        nxt = t[i + 1] if i + 1 < len(t) else ""
        # "y" before a vowel is a consonant (yes), otherwise a vowel (my).
        if c in _VOWEL_LETTERS and not (c == "y" and nxt != "" and nxt in "aeiou"):
            items.append(("V", (c,)))
            i += 1
            continue
        for letters, keys in _DIGRAPHS:
            if t.startswith(letters, i):
                items.append(("C", keys))
                i += len(letters)
                break
        else:
            if c == "c" and nxt in ("e", "i", "y"):
                keys = ("s",)
            else:
                keys = _LETTERS.get(c, (c,))
            items.append(("C", tuple(k for k in keys if k in _CONS)))
            i += 1
    first_v = next((j for j, (kind, _) in enumerate(items) if kind == "V"), None)
    if first_v is None:
        cons = _dedupe([k for _, keys in items for k in keys])
        if cons and _CONS[cons[-1]][0] == "nasal":
            return tuple(cons[:-1]), (cons[-1],), ()
        return tuple(cons), ("@",), ()
    j = first_v
    letters = ""
    while j < len(items) and items[j][0] == "V":
        letters += items[j][1][0]
        j += 1
    coda: List[str] = []
    while j < len(items) and items[j][0] == "C":
        coda.extend(items[j][1])
        j += 1
    onset = _dedupe([k for _, keys in items[:first_v] for k in keys])
    return tuple(onset), _vowels(letters), tuple(_dedupe(coda))


def _dedupe(keys: Sequence[str]) -> List[str]:
    out: List[str] = []
    for k in keys:
        if not out or out[-1] != k:  # "ll", "ss": one consonant
            out.append(k)
    return out


def _vowels(letters: str) -> Tuple[str, ...]:
    if len(letters) >= 2 and letters[:2] in _VOWEL_PAIRS:
        return _VOWEL_PAIRS[letters[:2]]
    first = _VOWEL_ONE.get(letters[0], "@")
    if len(letters) >= 2 and letters[1] != letters[0]:
        second = _VOWEL_ONE.get(letters[1], "@")
        if second != first:
            return (first, second)
    return (first,)


# ---- planning: notes -> syllable groups -> per-sample controls --------------------------------

@dataclasses.dataclass
class _Ev:
    a: int  # first sample
    b: int  # end sample (exclusive)
    pitch: float
    vel: float
    text: str
    legato_in: bool = False


@dataclasses.dataclass
class _Group:
    """One sung syllable: a note with text plus the held (melisma) notes after it."""
    notes: List[_Ev]
    text: str
    a: int
    b: int  # end of the sounding span (spoken syllables end before the notes do)
    legato_in: bool
    legato_out: bool = False
    release: int = 0
    phrase: int = 0
    # Speech intonation (spoken style): phrase declination line (semitones at the phrase's
    # start, slope per sample, absolute sample of the phrase start) and the syllable's accent.
    contour: Tuple[float, float, int, int, float] = (0.0, 0.0, 0, 0, 0.0)

    def shifted(self, off: int) -> "_Group":
        """A copy with every sample position moved ``off`` earlier (chunk coordinates)."""
        notes = [dataclasses.replace(ev, a=ev.a - off, b=ev.b - off) for ev in self.notes]
        start, slope, a0, shape, amount = self.contour
        return dataclasses.replace(self, notes=notes, a=self.a - off, b=self.b - off,
                                   contour=(start, slope, a0 - off, shape, amount))


def _events(notes: Sequence[NoteLike], beat_seconds: float, length: int, sr: int, delay_s: float) -> List[_Ev]:
    items = sorted(((float(n.start), float(n.dur), float(n.pitch), float(n.vel), str(getattr(n, "syllable", "") or ""))
                    for n in notes), key=lambda x: (x[0], x[2]))
    evs: List[_Ev] = []
    for start, dur, pitch, vel, text in items:
        if dur <= 0 or vel <= 0:
            continue
        a = int(round((start * beat_seconds + delay_s) * sr))
        b = min(length, int(round(((start + dur) * beat_seconds + delay_s) * sr)))
        a = max(0, a)
        while evs and a < evs[-1].b:  # one voice: an overlapped note is cut where the next begins
            evs[-1].b = a
            if evs[-1].b - evs[-1].a >= int(0.01 * sr):
                break
            evs.pop()
        if b - a >= int(0.01 * sr):
            evs.append(_Ev(a, b, pitch, min(127.0, vel), text))
    gap = int(LEGATO_GAP * sr)
    for prev, ev in zip(evs, evs[1:]):
        if ev.a - prev.b <= gap:
            ev.legato_in = True
            prev.b = ev.a  # close the gap: voicing (and the filter) continue through it
    return evs


def _groups(evs: List[_Ev], style: str, sr: int, rng: np.random.Generator) -> List[_Group]:
    groups: List[_Group] = []
    last_vowel = "a"
    for ev in evs:
        if ev.text == "" and ev.legato_in and groups:
            groups[-1].notes.append(ev)  # melisma: the same vowel carries on
            groups[-1].b = ev.b
            continue
        text = ev.text
        if text == "":  # a held vowel after a rest: sing the last vowel again, no consonants
            text = last_vowel
        vowels = parse_syllable(text)[1]
        last_vowel = vowels[-1] if vowels[-1] in VOWELS else "a"
        groups.append(_Group([ev], text, ev.a, ev.b, legato_in=ev.legato_in and bool(groups)))
    phrase = 0
    for k, g in enumerate(groups):
        if k and not g.legato_in and g.a - groups[k - 1].b > int(0.3 * sr):
            phrase += 1
        g.phrase = phrase
    if style == "spoken":
        # Speech is faster than song: a syllable lasts as long as its phones need, from the
        # note's start, and the rest of the note is silence.
        for k, g in enumerate(groups):
            onset, _, coda = parse_syllable(g.text)
            last = k + 1 == len(groups) or groups[k + 1].phrase != g.phrase
            dur = 0.13 + 0.035 * len(onset) + 0.03 * len(coda) + float(rng.uniform(0.0, 0.07))
            dur *= 1.4 if last else 1.0
            g.b = g.a + min(g.b - g.a, int(np.clip(dur, 0.12, 0.4) * sr))
    for k, g in enumerate(groups):
        nxt = groups[k + 1].a if k + 1 < len(groups) else None
        g.legato_out = nxt is not None and nxt == g.b and groups[k + 1].legato_in
        room = (nxt - g.b) if nxt is not None else 10 ** 9
        g.release = 0 if g.legato_out else int(max(0, room))
    if style == "spoken":
        _intonation(groups, rng)
    return groups


def _intonation(groups: List[_Group], rng: np.random.Generator) -> None:
    """Speech melody: per phrase a line declining from a few semitones above to a few below
    the phrase's register (the notes' mean, pulled toward the whole line's mean, a little
    lower: speech sits under song), and per syllable a falling, rising-falling or rising
    accent; the phrase's last syllable falls. Decided here, for all phrases at once, because
    a phrase may be rendered in several pieces (see :func:`sing_formant`)."""
    mean_all = float(np.mean([ev.pitch for g in groups for ev in g.notes]))
    by_phrase: Dict[int, List[_Group]] = {}
    for g in groups:
        by_phrase.setdefault(g.phrase, []).append(g)
    for gs in by_phrase.values():
        mean_ph = float(np.mean([ev.pitch for g in gs for ev in g.notes]))
        mu = 0.5 * (mean_all + mean_ph) - 1.0
        a0, a1 = gs[0].a, max(gs[-1].b, gs[0].a + 1)
        hi, lo = float(rng.uniform(1.5, 3.0)), float(rng.uniform(2.0, 4.0))
        for k, g in enumerate(gs):
            shape = int(rng.integers(0, 3)) if k + 1 < len(gs) else 3
            g.contour = (mu + hi, -(hi + lo) / (a1 - a0), a0, shape, float(rng.uniform(1.2, 3.0)))


class _Timeline:
    """Per-sample control levels and per-block formant targets, written segment by segment."""

    def __init__(self, n: int, nb: int):
        self.voice = np.zeros(n)
        self.asp = np.zeros(n)
        self.hf = np.ones(n)  # gain of the high-frequency branch (low in nasals and voice bars)
        self.tgt = np.full((nb, 11), np.nan)
        self.noise: List[Tuple[int, int, str, float, float, float]] = []
        self.n = n

    def seg(self, a: int, b: int, v0: float, v1: float, asp: float, tgt: Optional[np.ndarray],
            hf: float = 1.0) -> None:
        a, b = max(0, a), min(self.n, b)
        if b <= a:
            return
        self.voice[a:b] = np.linspace(v0, v1, b - a, endpoint=False) if v0 != v1 else v0
        self.asp[a:b] = asp
        self.hf[a:b] = hf
        if tgt is not None:
            self.formants(a, b, tgt)

    def formants(self, a: int, b: int, tgt: np.ndarray) -> None:
        k0 = max(0, -(-(a - BLOCK // 2) // BLOCK))
        k1 = min(len(self.tgt), -(-(b - BLOCK // 2) // BLOCK))
        if k1 <= k0 and k0 < len(self.tgt):
            k1 = k0 + 1  # a very short segment still gets its block
        self.tgt[k0:k1] = tgt

    def burst(self, a: int, dur: int, band: str, level: float, attack: int, decay: int) -> None:
        if dur > 0 and level > 0 and a < self.n:
            self.noise.append((a, min(dur, self.n - a), band, level, attack, decay))


class _Voice:
    """Formant targets of one singer (voice type x patch x style) as 11-vectors
    ``F1..F5, B1..B5, FNZ`` (FNZ: the nasal zero; at the nasal pole it cancels)."""

    def __init__(self, voice_type: str, p: Dict[str, float], st: _Style, sr: int):
        self.tab = FORMANTS[voice_type]
        self.scale = p["formant_scale"]
        self.st = st
        self.ring = p["ring"] * st.ring
        self.sr = sr
        # Consonant loci are given for a tenor-sized tract; other voices scale with schwa's F2.
        self.k = self.tab["@"][0][1] * self.scale / FORMANTS["tenor"]["@"][0][1]
        # F6..F8, fixed: a tract's resonances go on about every 1 kHz (tenor); without them the
        # cascade would fall off a cliff above F5 and leave no "air" (breath, brilliance) at all.
        f5 = self.tab["@"][0][4] * self.scale
        self.high = np.array([f5 + 1000 * self.k, f5 + 2000 * self.k, f5 + 3000 * self.k, 250.0, 350.0, 450.0])
        self.harm = _pulse_tables(sr, *_source_params(p, st))[2]
        f, b = FORMANTS["tenor"]["a"]
        tenor_a = np.concatenate([f, b, [_NASAL_POLE[0]]])
        tenor_high = np.array([4300.0, 5300.0, 6300.0, 250.0, 350.0, 450.0])
        self.ref_power = _harmonic_power(tenor_a, tenor_high, 220.0, self.harm, sr)
        self._gains: Dict[Tuple[float, ...], float] = {}

    def vowel(self, v: str, wobble: Tuple[float, float]) -> np.ndarray:
        f, b = self.tab[v]
        f = f * self.scale  # (a copy: the tables stay untouched)
        f[0] *= self.st.f1 * wobble[0]
        f[1] *= self.st.f2 * wobble[1]
        b = b * self.st.bw
        if self.ring > 0:  # singer's formant: F4/F5 pulled toward F3, narrower
            f[3] -= 0.35 * self.ring * (f[3] - f[2] - 250.0)
            f[4] -= 0.35 * self.ring * (f[4] - f[3] - 300.0)
            b = b.copy()
            b[2:] *= 1.0 - 0.3 * self.ring
        return self._fix(np.concatenate([f, b, [_NASAL_POLE[0]]]))

    def _fix(self, t: np.ndarray) -> np.ndarray:
        f = t[:5]
        f[1] = max(f[1], f[0] + 200.0)  # keep formants ordered after the style/tuning shifts
        for i in range(2, 5):
            f[i] = max(f[i], f[i - 1] + 150.0)
        return t

    def gain(self, tgt: np.ndarray, f0: float) -> float:
        """Level correction of a note: the output power of this source's harmonics at ``f0``
        through this formant shape, against a tenor's /a/ on A3, with 80 % of the (dB)
        difference removed. Singers even out their vowels and registers; the bare cascade
        would make /i/ ~9 dB quieter than /a/, and a high note whose fundamental sits on a
        (tuned) F1 some 25 dB louder than a low one."""
        key = tuple(np.round(tgt, 1)) + (round(f0, 1),)
        if key not in self._gains:
            power = _harmonic_power(tgt, self.high, f0, self.harm, self.sr)
            self._gains[key] = float((power / self.ref_power) ** (-0.5 * 0.8))
        return self._gains[key]

    def tuned(self, tgt: np.ndarray, f0: float) -> np.ndarray:
        """Formant tuning: high notes raise F1 just above f0, as trained singers do, so the
        fundamental is not left far above the first resonance."""
        if tgt[0] >= 1.1 * f0:
            return tgt
        t = tgt.copy()
        t[0] = 1.1 * f0
        t[5] = max(t[5], 0.1 * f0)  # a wider F1 there: vibrato must not sweep onto a sharp peak
        return self._fix(t)

    def consonant(self, key: str, vowel: np.ndarray) -> np.ndarray:
        kind, place, _, _ = _CONS[key]
        k = self.k
        t = vowel.copy()
        if kind == "asp":
            return t  # h: the vowel's own formants, excited by noise
        loci = {"lab": 900.0, "alv": 1700.0, "vel": 2100.0, "s": 1700.0, "th": 1500.0, "sh": 1900.0, "f": 900.0}
        if kind == "liquid":
            shape = {"l": (360, 1150, 2600), "r": (420, 1250, 1750), "w": (300, 700, 0), "y": (280, 2100, 2900)}[place]
            for i, v in enumerate(shape):
                if v:
                    t[i] = v * k
            t[5] *= 1.2
        elif kind == "nasal":
            t[0] = 260.0 * k
            t[1] = loci[place] * k
            t[5] = 80.0
            t[6:10] = vowel[6:10] * 2.5  # damped upper formants: the murmur is low-passed
            t[10] = {"lab": 1100.0, "alv": 1700.0, "vel": 2500.0}[place] * k
        else:  # stops and fricatives: a constriction lowers F1; F2 points to the place's locus
            t[0] = 250.0 * k
            t[1] = vowel[1] + 0.65 * (loci[place] * k - vowel[1])
        return self._fix(t)


def _plan(groups: List[_Group], voice: _Voice, p: Dict[str, float], st: _Style, style: str, sr: int,
          tl: _Timeline, rng: np.random.Generator) -> None:
    """Segments of every syllable: onset consonants, the vowel (per note, diphthongs), coda,
    release. Levels are relative to the note's effort; formant targets go to the blocks."""
    sec = lambda s: int(round(s * sr))  # noqa: E731
    cmul = st.cons
    prev_level = 0.0
    for g in groups:
        onset, vowels, coda = parse_syllable(g.text)
        effort = (g.notes[0].vel / 127.0) ** 1.2
        wobble = (1.0 + 0.025 * float(rng.standard_normal()), 1.0 + 0.025 * float(rng.standard_normal()))
        hum = vowels[0] in _CONS
        v_main = voice.vowel("@" if hum else vowels[0], wobble)
        if hum:
            v_main = voice.consonant(vowels[0], v_main)
        v_end = voice.vowel(vowels[1], wobble) if len(vowels) > 1 else v_main
        # Formants and level of each note: F1 tuned to high notes (not in speech), and the
        # level corrected for how the harmonics meet the formants (:meth:`_Voice.gain`).
        shapes = []
        for ev in g.notes:
            if style == "spoken":  # the pitch spoken there, not the note's
                start, slope, a0, _, _ = g.contour
                f0 = 440.0 * 2 ** ((start + slope * (0.5 * (g.a + g.b) - a0) - 69) / 12)
                tgt = v_main
            else:
                f0 = 440.0 * 2 ** ((ev.pitch - 69) / 12)
                tgt = voice.tuned(v_main, f0)
            shapes.append((tgt, effort * voice.gain(tgt, f0)))
        lv = shapes[0][1]  # the onset consonants and the attack take the first note's level
        span = g.b - g.a
        on_d = [sec(_duration(c, style, False) * cmul) for c in onset]
        co_d = [sec(_duration(c, style, True) * cmul) for c in coda]
        # Short notes: the consonants share at most 45 % (onset) and 25 % (coda) of the note.
        for d, frac in ((on_d, 0.45), (co_d, 0.25)):
            total = sum(d)
            if total > frac * span:
                d[:] = [int(x * frac * span / total) for x in d]
        t = g.a
        level = prev_level if g.legato_in else 0.0  # voicing level at the current point
        voiced_before = g.legato_in and prev_level > 0
        for c, d in zip(onset, on_d):
            level, voiced_before = _consonant(tl, c, t, d, voice.consonant(c, v_main), lv, level, sr, st, style)
            t += d
        nuc_end = g.b - sum(co_d)
        # Vowel onset: soft after silence, quick after a voiceless consonant, a light
        # re-articulation dip for a vowel-initial syllable sung legato.
        if level == 0.0 and not voiced_before:
            ramp = sec(st.attack) if t == g.a else sec(0.012)
            start_level = 0.0
        elif not onset and voiced_before:
            ramp, start_level = sec(0.04), 0.6 * lv
        else:
            ramp, start_level = sec(0.015), level
        ramp = min(ramp, max(1, (nuc_end - t) // 2))
        first = True
        for ev, (tgt, lv) in zip(g.notes, shapes):
            a, b = max(t, ev.a), min(nuc_end, ev.b)
            if b <= a:
                continue
            if first:
                tl.seg(a, a + ramp, start_level, lv, 0.0, tgt, 0.15 if hum else 1.0)
                a += ramp
                first = False
            tl.seg(a, b, lv, lv, 0.0, tgt, 0.15 if hum else 1.0)
        if len(vowels) > 1:  # diphthong: glide to the second vowel over the end of the nucleus
            d2 = max(sec(0.06), int(0.35 * (nuc_end - t)))
            f0_last = 440.0 * 2 ** ((g.notes[-1].pitch - 69) / 12)
            tl.formants(max(t, nuc_end - d2), nuc_end, v_end if style == "spoken" else voice.tuned(v_end, f0_last))
        level = lv
        t = nuc_end
        tail_tgt = v_end
        for c, d in zip(coda, co_d):
            ct = voice.consonant(c, v_end)
            level, _ = _consonant(tl, c, t, d, ct, lv, level, sr, st, style, coda=True)
            t += d
            tail_tgt = ct
        rel = min(g.release, sec(st.release))
        if rel > 0:
            tl.seg(g.b, g.b + rel, level, 0.0, 0.0, None)
            # The filter keeps the last shape while the release (and its ringing) dies away.
            tl.formants(g.b, g.b + rel + sec(p["transition"]), tail_tgt)
            level = 0.0
        prev_level = level if g.legato_out else 0.0


def _vot(c: str, style: str, coda: bool) -> float:
    """Seconds of aspiration after a voiceless stop's release before voicing (0 otherwise)."""
    kind, _, voiced, _ = _CONS[c]
    if kind != "stop" or voiced or coda:
        return 0.0
    return 0.025 if style == "spoken" else 0.035


def _duration(c: str, style: str, coda: bool) -> float:
    """Seconds of consonant ``c`` before the style's multiplier; codas are a little shorter."""
    return _CONS[c][3] * (0.8 if coda else 1.0) + _vot(c, style, coda)


def _consonant(tl: _Timeline, c: str, t: int, d: int, tgt: np.ndarray, lv: float, level: float, sr: int,
               st: _Style, style: str, coda: bool = False) -> Tuple[float, bool]:
    """Write consonant ``c`` over ``[t, t+d)``; returns (voicing level at its end, voiced)."""
    kind, place, voiced, _ = _CONS[c]
    ms = lambda s: max(1, int(s * sr))  # noqa: E731
    if d <= 0:
        return level, voiced
    if kind in ("nasal", "liquid"):
        v = lv * {"nasal": 0.4, "liquid": 0.6}[kind]
        # From silence the murmur fades in; after a vowel it follows it (legato).
        ramp = min(d // 2, ms(0.015)) if level == 0.0 else 0
        hf = 0.15 if kind == "nasal" else 0.6  # the nasal murmur has little above 4 kHz
        tl.seg(t, t + ramp, 0.0, v, 0.0, tgt, hf)
        tl.seg(t + ramp, t + d, v, v, 0.0, tgt, hf)
        return v, True
    if kind == "asp":
        tl.seg(t, t + d, 0.0, 0.0, lv * 0.9, tgt)
        return 0.0, False
    if kind == "fric":
        v = lv * 0.3 if voiced else 0.0
        tl.seg(t, t + d, v, v, 0.0, tgt, 0.3)
        lvl = {"s": 1.0, "sh": 0.9, "f": 0.25, "th": 0.2}[place] * (0.5 if voiced else 1.0)
        tl.burst(t, d, place, lv * lvl, min(d // 3, ms(0.015)), min(d // 2, ms(0.03)))
        return v, voiced
    # Stops: closure (silence, or a low "voice bar" when voiced), burst, aspiration (p t k).
    full = _duration(c, style, coda)
    vot = int(d * _vot(c, style, coda) / full)  # the same share of a compressed consonant
    closure = d - vot
    tl.seg(t, t + closure, lv * 0.12 if voiced else 0.0, lv * 0.12 if voiced else 0.0, 0.0, tgt, 0.05)
    burst = min(ms(0.012 if place != "vel" else 0.018), max(1, d // 3))
    strength = {"lab": 0.5, "alv": 0.8, "vel": 0.8}[place] * (0.4 if voiced else 1.0) * (0.5 if coda else 1.0)
    b0 = t + closure - (burst if vot == 0 else 0)
    tl.burst(b0, burst, "burst_" + place, lv * strength * (1.4 if st.gain > 1.2 else 1.0), ms(0.0015), burst)
    if vot:
        tl.seg(t + closure, t + d, 0.0, 0.0, lv * 0.6, tgt)
    return 0.0, False


# ---- pitch --------------------------------------------------------------------------------

def _pitch_track(groups: List[_Group], p: Dict[str, float], st: _Style, style: str, n: int, sr: int,
                 rng: np.random.Generator, detune_cents: float) -> np.ndarray:
    """Semitones (MIDI, float) per sample: the sung line (glides, scoops, falls, vibrato) or,
    for speech, an intonation contour; plus slow drift. Silent samples hold a nearby value."""
    semis = np.full(n, np.nan)
    vib_depth = np.zeros(n)
    t_idx = np.arange(n)
    if style == "spoken":
        for g in groups:
            e = min(n, g.b + min(g.release, int(st.release * sr)))
            if e <= g.a:
                continue
            start, slope, a0, shape, amt = g.contour
            tt = t_idx[g.a:e]
            decl = start + slope * (tt - a0)  # declination over the phrase
            u = (tt - g.a) / max(1, e - g.a)
            if shape == 0:  # falling syllable
                acc = amt * (0.4 - u)
            elif shape == 1:  # accent: rise then fall
                acc = amt * (np.sin(np.pi * np.minimum(1.0, 1.3 * u)) - 0.3 - 0.5 * u)
            elif shape == 2:  # rising (continuation)
                acc = amt * (u - 0.4)
            else:  # phrase-final fall
                acc = amt * (0.3 - 1.3 * u ** 1.5)
            semis[g.a:e] = decl + acc
    else:
        glide = p["glide"]
        prev: Optional[_Ev] = None
        for g in groups:
            for j, ev in enumerate(g.notes):
                end = ev.b
                last_in_group = j + 1 == len(g.notes)
                if last_in_group:
                    end = min(n, ev.b + min(g.release, int(st.release * sr)))
                semis[ev.a:end] = ev.pitch
                attack = not ev.legato_in or prev is None
                if not attack and prev is not None and 0 < abs(prev.pitch - ev.pitch) <= 12:
                    # Portamento centred a little before the new note, with a small overshoot.
                    # (Leaps over an octave are not slid: a singer re-places the voice.)
                    gl = int(glide * sr)
                    g0, g1 = max(prev.a, ev.a - int(0.3 * gl)), min(ev.b, ev.a + int(0.7 * gl))
                    if g1 > g0:
                        u = (t_idx[g0:g1] - g0) / (g1 - g0)
                        semis[g0:g1] = prev.pitch + (ev.pitch - prev.pitch) * (0.5 - 0.5 * np.cos(np.pi * u))
                        ov = min(ev.b, g1 + int(0.08 * sr))
                        v = (t_idx[g1:ov] - g1) / max(1, ov - g1)
                        over = float(np.clip(0.12 * (ev.pitch - prev.pitch), -0.5, 0.5))
                        semis[g1:ov] += over * np.sin(np.pi * v)
                scoop_p, scoop_amt = float(rng.random()), float(rng.uniform(0.3, 1.0))
                if attack and scoop_p < 0.7 and p["scoop"] > 0:
                    e2 = min(ev.b, ev.a + int(0.2 * sr))
                    tau = (t_idx[ev.a:e2] - ev.a) / (0.04 * sr)
                    semis[ev.a:e2] -= p["scoop"] * st.scoop * scoop_amt * np.exp(-tau)
                fall_p, fall_amt = float(rng.random()), float(rng.uniform(0.5, 2.5))
                if last_in_group and g.release > 0 and not g.legato_out and fall_p < st.fall_p:
                    f0s = max(ev.a, ev.b - int(min(0.15, 0.4 * (ev.b - ev.a) / sr) * sr))
                    if end > f0s:
                        u = (t_idx[f0s:end] - f0s) / (end - f0s)
                        semis[f0s:end] -= fall_amt * u ** 2
                # Vibrato fades in after its onset delay (shorter inside a melisma).
                onset = p["vibrato_onset"] * (1.0 if attack or j == 0 else 0.5)
                depth = p["vibrato_depth"] * st.vibrato * float(rng.uniform(0.8, 1.2))
                if depth > 0:
                    rel_t = (t_idx[ev.a:end] - ev.a) / sr
                    vib_depth[ev.a:end] = depth * np.clip((rel_t - onset) / 0.3, 0.0, 1.0)
                prev = ev
    # Silence holds the next (then the previous) sounding pitch: irrelevant to the output but finite.
    semis = _fill_nan(semis)
    if vib_depth.any():
        rate = p["vibrato_rate"] * (1.0 + 0.03 * _slow_noise(rng, n, sr, 0.4))
        phase = 2 * np.pi * np.cumsum(rate) / sr + float(rng.uniform(0, 2 * np.pi))
        semis += vib_depth * np.sin(phase)
    semis += (p["drift"] * _slow_noise(rng, n, sr, 0.12) + detune_cents) / 100.0
    return semis


def _fill_nan(x: np.ndarray) -> np.ndarray:
    """Back-fill NaNs (take the next valid value), then forward-fill the tail; along axis 0."""
    valid = ~np.isnan(x if x.ndim == 1 else x[:, 0])
    if not valid.any():
        return np.zeros_like(x)
    idx = np.arange(len(valid))
    nxt = np.where(valid, idx, len(valid))
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]
    last = np.maximum.accumulate(np.where(valid, idx, -1))
    take = np.where(nxt < len(valid), nxt, last)
    return x[take]


# ---- filter -------------------------------------------------------------------------------

def _resonator(f: np.ndarray, bw: np.ndarray, sr: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Klatt's two-pole resonator with unity gain at DC: y = A x + B y[-1] + C y[-2]."""
    c = -np.exp(-2 * np.pi * bw / sr)
    b = 2 * np.exp(-np.pi * bw / sr) * np.cos(2 * np.pi * f / sr)
    return 1.0 - b - c, b, c


def _block_sos(tgt: np.ndarray, high: np.ndarray, sr: int) -> np.ndarray:
    """``(nb, 9, 6)`` second-order sections per block: the nasal pole/zero pair, F1..F5, and
    the fixed F6..F8 (``high``: 3 frequencies then 3 bandwidths). A formant too close to
    Nyquist (low sample rates) is left out (pass-through)."""
    nb = len(tgt)
    sos = np.zeros((nb, 9, 6))
    fp, bp = _NASAL_POLE
    ap, bpc, cp = _resonator(np.full(nb, fp), np.full(nb, bp), sr)
    az, bz, cz = _resonator(tgt[:, 10], np.full(nb, bp), sr)
    g = ap / az  # antiresonator = inverse resonator: unity DC gain overall
    sos[:, 0, :] = np.stack([g, -g * bz, -g * cz, np.ones(nb), -bpc, -cp], axis=1)
    f = np.concatenate([tgt[:, :5], np.broadcast_to(high[:3], (nb, 3))], axis=1)
    bw = np.concatenate([tgt[:, 5:10], np.broadcast_to(high[3:], (nb, 3))], axis=1)
    a, b, c = _resonator(f, bw, sr)
    ok = f < 0.45 * sr
    sos[:, 1:, 0] = np.where(ok, a, 1.0)
    sos[:, 1:, 3] = 1.0
    sos[:, 1:, 4] = np.where(ok, -b, 0.0)
    sos[:, 1:, 5] = np.where(ok, -c, 0.0)
    return sos


def _harmonic_power(tgt: np.ndarray, high: np.ndarray, f0: float, harm: np.ndarray, sr: int) -> float:
    """Output power of a steady note: harmonics of ``f0`` (source amplitudes ``harm``, those
    under 0.45 * sr) through the cascade of target ``tgt`` (11-vector) and ``high`` (F6..F8)."""
    k = np.arange(1, max(1, min(len(harm), int(0.45 * sr / f0))) + 1)
    z = np.exp(-2j * np.pi * k * f0 / sr)
    f = np.concatenate([tgt[:5], high[:3]])[:, None]
    bw = np.concatenate([tgt[5:10], high[3:]])[:, None]
    a, b, c = _resonator(f, bw, sr)
    h = np.prod(np.where(f < 0.45 * sr, a / (1.0 - b * z - c * z * z), 1.0), axis=0)
    ap, bp, cp = _resonator(_NASAL_POLE[0], _NASAL_POLE[1], sr)
    az, bz, cz = _resonator(tgt[10], _NASAL_POLE[1], sr)
    h = h * (ap / az) * (1.0 - bz * z - cz * z * z) / (1.0 - bp * z - cp * z * z)
    return float(np.sum((harm[k - 1] * np.abs(h)) ** 2))


def _box(x: np.ndarray, w: int, axis_len: int) -> np.ndarray:
    """Centred moving average over ``w`` rows with edge padding. Each output is the mean of
    the same values in the same order, so constant stretches stay bit-exactly constant (and
    their filter coefficients merge into one ``sosfilt`` call)."""
    if w <= 1:
        return x
    pad = np.concatenate([np.repeat(x[:1], w // 2, axis=0), x, np.repeat(x[-1:], w - 1 - w // 2, axis=0)])
    win = np.lib.stride_tricks.sliding_window_view(pad, w, axis=0)
    return win.mean(axis=-1)[:axis_len]


def _causal_smooth(x: np.ndarray, w: int) -> np.ndarray:
    """Two passes of a causal moving average (an S-shaped ramp of ~2w samples, finite support:
    nothing starts before a note). Values under 1e-6 are set to exact zero (cumsum rounding)."""
    for _ in range(2):
        c = np.cumsum(np.concatenate([np.zeros(w), x]))
        x = (c[w:] - c[:-w]) / w
    x[np.abs(x) < 1e-6] = 0.0
    return x


def _load_sosfilt_kernel() -> Callable[[np.ndarray, np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]:
    """``(sos, x, zi) -> (y, zi)``. The public ``sosfilt`` spends ~50-90 us per call checking
    its arguments, which dominates thousands of short block runs; scipy's compiled kernel does
    the same arithmetic in ~4 us. It is private, so it is used only after it reproduced
    ``sosfilt`` bit-exactly here, and the public function is the fallback."""

    def public(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        return scipy.signal.sosfilt(sos, x, zi=zi)

    try:
        from scipy.signal._sosfilt import _sosfilt  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - another scipy layout
        return public

    def kernel(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        y = np.array(x, dtype=np.float64, order="C")[None, :]
        z = np.array(zi, dtype=np.float64, order="C")[None, :, :]
        _sosfilt(np.ascontiguousarray(sos, dtype=np.float64), y, z)
        return y[0], z[0]

    try:
        rng = np.random.default_rng(0)
        sos = scipy.signal.butter(6, 0.1, output="sos")
        x, zi = rng.standard_normal(300), rng.standard_normal((3, 2))
        (y0, z0), (y1, z1) = public(sos, x, zi), kernel(sos, x, zi)
        if np.array_equal(y0, y1) and np.array_equal(z0, z1):
            return kernel
    except Exception:  # pragma: no cover - signature changed: use the public function
        pass
    return public  # pragma: no cover


_sosfilt_blocks = _load_sosfilt_kernel()


def _cascade(exc: np.ndarray, tgt: np.ndarray, high: np.ndarray, hf_gain: np.ndarray, sr: int,
             ring_blocks: int) -> np.ndarray:
    """Time-varying formant filter: per-block coefficients, state carried between calls;
    consecutive blocks with identical coefficients are filtered by one call, and blocks long
    after the excitation stopped are skipped (exact silence, state reset).

    Plus a parallel high-frequency branch: a cascade of eight resonators falls by ~96 dB per
    octave above its last one, where a real tract (resonances every ~1 kHz up, each lifting
    the response below it) stays near its low-frequency gain. So the excitation above F6,
    shaped by :func:`_hf_sos`, is added times ``hf_gain`` (breath noise, brilliance)."""
    n = len(exc)
    nb = len(tgt)
    sos = _block_sos(tgt, high, sr)
    padded = np.zeros(nb * BLOCK)
    padded[:n] = exc
    active = np.any(padded.reshape(nb, BLOCK) != 0.0, axis=1)
    c = np.concatenate([[0], np.cumsum(active)])
    live = (c[1:] - c[np.maximum(0, np.arange(nb) + 1 - ring_blocks)]) > 0  # ringing may go on
    flat = sos.reshape(nb, -1)
    change = np.ones(nb, dtype=bool)
    change[1:] = np.any(flat[1:] != flat[:-1], axis=1) | (live[1:] != live[:-1])
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], nb)
    out = np.zeros(nb * BLOCK)
    zi = np.zeros((sos.shape[1], 2))
    for k0, k1 in zip(starts, ends):
        if not live[k0]:
            zi[:] = 0.0
            continue
        a, b = k0 * BLOCK, k1 * BLOCK
        out[a:b], zi = _sosfilt_blocks(sos[k0], padded[a:b], zi)
    hp = scipy.signal.sosfilt(_hf_sos(sr, float(high[0])), exc)
    hp *= hf_gain
    hp[~np.repeat(live, BLOCK)[:n]] = 0.0  # exact silence where the cascade is skipped too
    return out[:n] + hp


@functools.lru_cache(maxsize=16)
def _hf_sos(sr: int, f6: float) -> np.ndarray:
    """The high branch: high-passed from F6 (12 dB/octave below it) and then falling by
    6 dB/octave from 1.5 x F6 on, as the damped upper resonances and the long-term spectra of
    real voices do."""
    fc = min(f6, 0.4 * sr)
    hp = scipy.signal.butter(2, fc, btype="highpass", fs=sr, output="sos")
    lp = scipy.signal.butter(1, min(1.5 * fc, 0.45 * sr), btype="lowpass", fs=sr, output="sos")
    return np.concatenate([hp, lp])


@functools.lru_cache(maxsize=16)
def _band_sos(sr: int, band: str) -> Tuple[np.ndarray, float]:
    """Noise shaping filter of a fricative/burst band and its white-noise gain correction."""
    lo, hi = {"s": (4000, 9500), "sh": (2000, 5500), "f": (1200, 11000), "th": (1800, 10000),
              "burst_lab": (300, 2500), "burst_alv": (2500, 8000), "burst_vel": (1200, 4000)}[band]
    hi = min(hi, 0.45 * sr)
    lo = min(lo, 0.6 * hi)
    sos = scipy.signal.butter(2, [lo, hi], btype="bandpass", fs=sr, output="sos")
    imp = np.zeros(4096)
    imp[0] = 1.0
    gain = 1.0 / np.sqrt(np.sum(scipy.signal.sosfilt(sos, imp) ** 2))  # unit output RMS
    return sos, float(gain)


# Output calibration: a sustained vowel at velocity 127 lands at RMS ~0.04-0.15 (by voice type,
# vowel and pitch; "shout" x1.6, "spoken" x0.75). Callers normalise stems anyway.
_VOICE_GAIN = 0.022
_ASP_GAIN = 0.6  # white aspiration noise (std 1) relative to the pulse (RMS 1), before the filter
_BREATH_GAIN = 0.7
_FRIC_GAIN = 0.05  # fricative noise in output units at level 1


def sing_formant(notes: Sequence[NoteLike], beat_seconds: float, length: int, sample_rate: int, voice_type: str,
                 patch: Patch, style: str = "sung", seed: int = 0, *, delay_s: float = 0.0,
                 detune_cents: float = 0.0) -> np.ndarray:
    """Sing ``notes`` -> mono float32 array of exactly ``length`` samples at ``sample_rate``.

    ``notes``: objects with ``start``, ``dur`` (beats), ``pitch`` (MIDI), ``vel`` and
    ``syllable`` (:class:`NoteLike`; a missing ``syllable`` counts as ``""``). A note with a
    syllable starts it (its consonants inside the note, from its start); ``""`` on a legato
    note holds the previous vowel (melisma, with a glide), ``""`` after a rest sings the last
    vowel again. Notes are sung one at a time: an overlapped note is cut at the next start;
    notes past ``length`` are cut or dropped. ``voice_type``: one of :data:`VOICE_TYPES`
    (formant tables); ``patch``: the singer (:func:`random_voice`, missing keys take defaults);
    ``style``: one of :data:`STYLES`; ``seed``: every random detail (jitter, shimmer, noise,
    scoops, falls, intonation). Keyword-only ``delay_s`` (shift everything later) and
    ``detune_cents`` (added to the patch's ``detune_cents``) are for a double-tracked copy
    (:func:`double_track_offsets`).

    Silent (exact zeros) before the first note and outside the notes except for short
    releases (at most 0.07 s) and the filter's ringing (exact zeros again 0.1 s later);
    finite; bit-identical for identical inputs. Level: a sustained vowel at full velocity is
    at RMS ~0.04-0.15 (louder shouted, softer spoken); callers normalise."""
    _check_voice_type(voice_type)
    if style not in STYLES:
        raise ValueError(f"style {style!r} not in {STYLES}")
    if beat_seconds <= 0 or sample_rate <= 0 or length < 0:
        raise ValueError("beat_seconds and sample_rate must be positive, length non-negative")
    sr = int(sample_rate)
    length = int(length)
    out = np.zeros(length, dtype=np.float32)
    p = _patch_values(patch)
    st = _STYLES[style]
    seq = np.random.SeedSequence([int(seed) % (1 << 63), 0x70CE])
    r_plan, r_pitch, r_cycle, r_noise = (np.random.default_rng(s) for s in seq.spawn(4))

    evs = _events(notes, beat_seconds, length, sr, delay_s)
    if not evs:
        return out
    groups = _groups(evs, style, sr, r_plan)
    voice = _Voice(voice_type, p, st, sr)
    rngs = (r_plan, r_pitch, r_cycle, r_noise)
    # Render in chunks separated by silences: the filter has rung out (its state would be
    # reset there anyway), memory stays bounded by the longest phrase, rests cost nothing.
    ring = int(0.1 * sr)
    chunk: List[_Group] = []
    for k, g in enumerate(groups):
        chunk.append(g)
        end = g.b + min(g.release, int(st.release * sr)) + ring
        if k + 1 == len(groups) or groups[k + 1].a > end + ring:
            off = (chunk[0].a // BLOCK) * BLOCK
            end = min(length, end)
            if end > off:
                y = _render_chunk([c.shifted(off) for c in chunk], end - off, voice, p, st, style, sr, rngs,
                                  detune_cents + p["detune_cents"])
                out[off:end] += y.astype(np.float32)
            chunk = []
    return out


def _render_chunk(groups: List[_Group], n: int, voice: _Voice, p: Dict[str, float], st: _Style, style: str,
                  sr: int, rngs: Tuple[np.random.Generator, ...], detune_cents: float) -> np.ndarray:
    """``n`` samples of the syllables ``groups`` (positions relative to the chunk start)."""
    r_plan, r_pitch, r_cycle, r_noise = rngs
    nb = -(-n // BLOCK)
    tl = _Timeline(n, nb)
    _plan(groups, voice, p, st, style, sr, tl, r_plan)

    # Source: pitch, then the phase of the glottal cycles (jittered per cycle), then the pulse.
    semis = _pitch_track(groups, p, st, style, n, sr, r_pitch, detune_cents)
    f0 = np.clip(440.0 * np.exp2((semis - 69.0) / 12.0), 30.0, 0.4 * sr)
    del semis
    tables, flow, _ = _pulse_tables(sr, *_source_params(p, st))
    size = tables.shape[1] - 1
    phase0 = np.cumsum(f0) / sr
    cycles = int(phase0[-1]) + 3
    jit = np.clip(r_cycle.standard_normal(cycles), -3, 3) * p["jitter"] * st.jitter
    alt = 1.0 - 2.0 * (np.arange(cycles) % 2)  # shout: alternating periods -> subharmonic
    f0 *= (1.0 + jit + st.sub_period * alt)[phase0.astype(np.int64)]
    del phase0
    phase = np.cumsum(f0) / sr
    cyc = phase.astype(np.int64)
    cycles = int(cyc[-1]) + 1
    shim = 1.0 + np.clip(r_cycle.standard_normal(cycles), -3, 3) * p["shimmer"]
    shim *= 1.0 - st.sub * (np.arange(cycles) % 2)
    # Wavetable band per sample: the one whose harmonics all stay under 0.45 * sr at this f0.
    idx = np.clip(np.ceil(2.0 * np.log2(f0 / _GLOTTAL_BASE_HZ)), 0, len(tables) - 1).astype(np.int64)
    del f0
    idx *= size + 1
    pos = (phase - cyc) * size
    del phase
    i0 = pos.astype(np.int64)
    w = pos - i0
    del pos
    idx += i0
    flat = tables.ravel()
    pulse = flat[idx]
    pulse += w * (flat[idx + 1] - pulse)
    del idx, w
    gate = 0.3 + 0.7 * flow[i0]  # aspiration is strongest while the glottis is open
    del i0

    voice_env = _causal_smooth(tl.voice, max(1, int(0.004 * sr)))
    asp_env = _causal_smooth(tl.asp, max(1, int(0.003 * sr)))
    breath = p["breathiness"] * st.breath
    exc = pulse * voice_env
    exc *= shim[cyc] * (1.0 - 0.4 * breath)
    del pulse, cyc
    gate *= _BREATH_GAIN * breath * voice_env
    gate += asp_env
    gate *= _ASP_GAIN
    exc += r_noise.standard_normal(n) * gate
    del gate, voice_env, asp_env

    # Filter.
    tgt = _fill_nan(tl.tgt)
    tgt = _box(tgt, max(1, int(round(p["transition"] * sr / BLOCK))), nb)
    hf = _causal_smooth(tl.hf - 1.0, max(1, int(0.004 * sr))) + 1.0  # (1 is "nothing written")
    y = _cascade(exc, tgt, voice.high, hf, sr, ring_blocks=int(0.1 * sr / BLOCK))
    y *= _VOICE_GAIN * st.gain

    # Fricatives and bursts: shaped noise added after the tract filter (a source in front of
    # the constriction, barely filtered by the cavities behind it).
    for a, d, band, lvl, att, dec in tl.noise:
        sos, gain = _band_sos(sr, band)  # cached; sosfilt only reads it
        warm = min(512, 4 * BLOCK)
        z = scipy.signal.sosfilt(sos, r_noise.standard_normal(d + warm))[warm:]
        env = np.ones(d)
        att, dec = max(1, min(att, d)), max(1, min(dec, d))
        env[:att] *= np.linspace(0.0, 1.0, att, endpoint=False)
        env[d - dec:] *= np.linspace(1.0, 0.0, dec)
        y[a:a + d] += z * env * (gain * lvl * _FRIC_GAIN * st.gain)
    return y


# ---- harmony and double tracking --------------------------------------------------------------

# interval -> (strict lo, strict hi, ideal, widened lo, widened hi) in semitones from the melody
_INTERVALS = {
    "third_above": (3, 5, 3.5, 2, 7),
    "third_below": (-5, -3, -3.5, -7, -2),
    "sixth_below": (-9, -7, -8.5, -10, -5),
}


def harmony_notes(notes: Sequence[NoteLike], chord_tones_at: Callable[[float], Tuple[int, ...]],
                  interval: str) -> tuple:
    """A harmony line: each note moved by ``interval`` and snapped to the pitch classes that
    ``chord_tones_at(note.start)`` returns (chord tones, or a scale).

    ``"third_above"``: the nearest of those pitch classes 3-5 semitones above (a third, or the
    fourth from a chord's fifth to its root); ``"third_below"``: 3-5 below; ``"sixth_below"``:
    7-9 below; when none is there (passing tones, sparse sets) the window widens to 2-7 above,
    2-7 below, 5-10 below, and only a callback with no such tone at all leaves the plain
    interval. ``"octave"``: an octave below, not snapped. Ties go to the pitch closest to the
    previous harmony note (smoother line). Returns new notes of the input's type (dataclasses
    via :func:`dataclasses.replace`, namedtuples via ``_replace``) with the same timing, velocity
    and syllables."""
    if interval not in HARMONY_INTERVALS:
        raise ValueError(f"interval {interval!r} not in {HARMONY_INTERVALS}")
    out = []
    prev: Optional[int] = None
    for n in notes:
        pitch = int(n.pitch)
        if interval == "octave":
            new = pitch - 12
        else:
            lo, hi, ideal, wlo, whi = _INTERVALS[interval]
            tones = {int(t) % 12 for t in chord_tones_at(float(n.start))}
            cands = [pitch + d for d in range(lo, hi + 1) if (pitch + d) % 12 in tones]
            if not cands:
                cands = [pitch + d for d in range(wlo, whi + 1) if (pitch + d) % 12 in tones]
            if cands:
                new = min(cands, key=lambda q: (abs(q - pitch - ideal), abs(q - prev) if prev is not None else 0, q))
            else:
                new = pitch + int(round(ideal))
        new = int(np.clip(new, 0, 127))
        out.append(_with_pitch(n, new))
        prev = new
    return tuple(out)


def _with_pitch(n: NoteLike, pitch: int):
    if dataclasses.is_dataclass(n) and not isinstance(n, type):
        return dataclasses.replace(n, pitch=pitch)
    if hasattr(n, "_replace"):
        return n._replace(pitch=pitch)
    m = copy.copy(n)
    m.pitch = pitch
    return m


def double_track_offsets(rng: np.random.Generator) -> Tuple[float, float]:
    """``(delay_s, detune_cents)`` of a double-tracked take: 12-35 ms late and 4-12 cents off
    (either way). Render the same notes again with another seed (its own jitter, scoops,
    vibrato phase) and ``sing_formant(..., delay_s=delay_s, detune_cents=detune_cents)``."""
    delay = float(rng.uniform(0.012, 0.035))
    detune = float(rng.choice([-1.0, 1.0]) * rng.uniform(4.0, 12.0))
    return delay, detune
