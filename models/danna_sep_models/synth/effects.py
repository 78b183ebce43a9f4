"""Production effects for the synthetic stems: per-stem chains (EQ, compression, saturation,
chorus/flanger, tempo-synced delay, reverb, width/pan) and a bus limiter, so that the training
mixtures sound more like real productions than dry General MIDI renders do.

Audio is laid out like :mod:`.render`: stereo ``(2, n)`` float arrays (channels first),
44.1 kHz by default, the sample rate a parameter everywhere. float32 in gives float32 out
(the renderer's working type), anything else is processed as float64.

**Wet signals stay in their stem.** Every effect of a stem's chain (its reverb and delay tails
included) is applied to that stem alone and its output is that stem, so the mixture is still
exactly the sum of the four stems and a separation model learns to put, say, the vocal reverb
in the vocals, the way MUSDB18-style stems are bounced. The one effect that sees the mixture,
the bus limiter, only *computes* a gain curve from it (:func:`bus_gain`); the caller multiplies
every stem by the same curve, which keeps the sum exact (to float rounding).

**Plans are data.** :func:`random_chain` and :func:`random_bus` draw everything from the
generator they are given and return frozen, value-comparing :class:`Effect` / :class:`Chain`
objects (strings, floats and tuples only), so a song plan can hold them and two plans built from
the same seed compare equal.

**Determinism contract.** Every effect is a pure function of ``(audio, params, sample_rate,
seed)``: the only randomness (a reverb's impulse-response noise) comes from ``seed``, and no
effect reads global state, so the same inputs give bit-identical outputs on the same
installation (numpy / scipy builds). :func:`apply_chain` derives each effect's seed from its
``seed`` argument and the effect's position in the chain. Output always has the input's shape:
tails are cut at the input length (the renderer passes full-song-length stems that are silent
where they rest, so nothing audible is lost).

:func:`apply_chain` runs the chain at a nominal operating level (the input is scaled so that
its loud parts have an RMS of ``OPERATING_RMS``, and the output is scaled back), so thresholds
and drives in a plan mean the same thing whatever level the raw FluidSynth / espeak stems
have; the individual effect functions work on absolute levels (dBFS).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Sequence, Tuple, Union

import numpy as np
import scipy.fft
import scipy.signal

from .. import STEMS

SAMPLE_RATE = 44100
GENRES = ("ballad", "pop", "rock", "electronic", "hiphop", "funk", "jazz", "metal")
# apply_chain's nominal level: the RMS (over the loud parts) a stem is processed at, -20 dBFS
# like the renderer's REFERENCE_RMS, with peaks typically -8..0 dBFS.
OPERATING_RMS = 0.1
# Saturation shapes, by the value of the "shape" parameter (params are floats only).
SATURATION_SHAPES = ("tanh", "asym", "foldback", "bitcrush")
# Delay divisions the random chains use, in beats (1/4, dotted 1/8, 1/8, 1/16).
DELAY_DIVISIONS = (1.0, 0.75, 0.5, 0.25)

Params = Union[Mapping[str, float], Sequence[Tuple[str, float]]]


@dataclass(frozen=True)
class Effect:
    """One effect of a plan: its kind (a key of :data:`EFFECTS`, or ``"limiter"`` for the bus)
    and its parameters as ``(name, value)`` pairs (sorted by name when built by
    :func:`make_effect`, as the random plans are)."""
    kind: str
    params: Tuple[Tuple[str, float], ...]

    def param(self, name: str, default: float = math.nan) -> float:
        return dict(self.params).get(name, default)


@dataclass(frozen=True)
class Chain:
    """A stem's effects, applied in order."""
    effects: Tuple[Effect, ...]

    @property
    def kinds(self) -> Tuple[str, ...]:
        return tuple(e.kind for e in self.effects)


def make_effect(kind: str, **params: float) -> Effect:
    """An :class:`Effect` with its parameters as plain floats in a canonical (sorted) order."""
    if kind not in EFFECTS and kind != "limiter":
        raise ValueError(f"unknown effect kind {kind!r}; known: {sorted(EFFECTS)} and 'limiter'")
    return Effect(kind, tuple(sorted((str(k), float(v)) for k, v in params.items())))


# ---- helpers ----------------------------------------------------------------------------

def _stereo(audio: np.ndarray) -> np.ndarray:
    """The working array: (2, n), float32 if given float32 else float64, C-contiguous (maybe the
    caller's own array: effects never write into their input)."""
    x = np.asarray(audio)
    if x.ndim != 2 or x.shape[0] != 2:
        raise ValueError(f"stereo audio is shaped (2, n) like render.py's stems, got {x.shape}")
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    return np.ascontiguousarray(x, dtype=dtype)


def _params(kind: str, params: Params, defaults: Mapping[str, float]) -> Dict[str, float]:
    """``defaults`` overridden by ``params``; an unknown name is an error (it would be a typo
    silently ignored otherwise)."""
    given = dict(params)
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"{kind}: unknown parameter(s) {sorted(unknown)}; known: {sorted(defaults)}")
    out = dict(defaults)
    out.update({k: float(v) for k, v in given.items()})
    return out


def _one_pole(x: np.ndarray, tau_s: float, sample_rate: int) -> np.ndarray:
    """Unity-DC-gain one-pole low-pass with time constant ``tau_s`` (along the last axis)."""
    if tau_s <= 0:
        return np.array(x, copy=True)
    a = math.exp(-1.0 / (tau_s * sample_rate))
    return scipy.signal.lfilter([1.0 - a], [1.0, -a], x, axis=-1)


def _hold_release(v: np.ndarray, tau_s: float, sample_rate: int) -> np.ndarray:
    """``env[n] = max(v[n], a * env[n-1])``, ``a = exp(-1/(tau*sr))``, for ``v >= 0``: instant
    attack, exponential release. Branching recursions do not vectorise, but this one is
    ``max_k v[k] a^(n-k)``, i.e. a running maximum in the log domain (no blocks needed; the log
    keeps ``a^-k`` from overflowing)."""
    v = np.asarray(v, dtype=np.float64)
    if tau_s <= 0:
        return v.copy()
    r = 1.0 / (tau_s * sample_rate)
    ramp = np.arange(v.size, dtype=np.float64) * r
    u = np.full(v.size, -np.inf)
    np.log(v, out=u, where=v > 0)
    u += ramp
    np.maximum.accumulate(u, out=u)
    u -= ramp
    return np.maximum(np.exp(u), v)  # exactly >= v despite the log/exp rounding


def _db(x: np.ndarray, floor: float = 1e-20) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(x, floor))


def _mono(x: np.ndarray) -> np.ndarray:
    return 0.5 * (x[0] + x[1])


def _mixed(dry: np.ndarray, wet: np.ndarray, mix: float) -> np.ndarray:
    if mix >= 1.0:
        return wet
    return dry + np.asarray(mix, dtype=dry.dtype) * (wet - dry)


# ---- EQ ----------------------------------------------------------------------------------

EQ_DEFAULTS = {
    "low_cut_hz": 0.0, "low_cut_q": math.sqrt(0.5),
    "low_shelf_hz": 0.0, "low_shelf_db": 0.0,
    "peak1_hz": 0.0, "peak1_db": 0.0, "peak1_q": 1.0,
    "peak2_hz": 0.0, "peak2_db": 0.0, "peak2_q": 1.0,
    "peak3_hz": 0.0, "peak3_db": 0.0, "peak3_q": 1.0,
    "high_shelf_hz": 0.0, "high_shelf_db": 0.0,
    "high_cut_hz": 0.0, "high_cut_q": math.sqrt(0.5),
}


def rbj_biquad(shape: str, freq: float, sample_rate: int, gain_db: float = 0.0,
               q: float = math.sqrt(0.5)) -> np.ndarray:
    """One RBJ "Audio EQ Cookbook" section as an ``sos`` row: ``shape`` in "highpass",
    "lowpass", "peak", "lowshelf", "highshelf" (shelves with slope S = 1)."""
    f = min(max(freq, 10.0), 0.45 * sample_rate)  # keep the bilinear warp sane at any rate
    w = 2.0 * math.pi * f / sample_rate
    c, s = math.cos(w), math.sin(w)
    A = 10.0 ** (gain_db / 40.0)
    if shape in ("highpass", "lowpass", "peak"):
        alpha = s / (2.0 * q)
    else:
        alpha = s / 2.0 * math.sqrt(2.0)  # S = 1
    sq = 2.0 * math.sqrt(A) * alpha
    if shape == "highpass":
        b = ((1 + c) / 2, -(1 + c), (1 + c) / 2)
        a = (1 + alpha, -2 * c, 1 - alpha)
    elif shape == "lowpass":
        b = ((1 - c) / 2, 1 - c, (1 - c) / 2)
        a = (1 + alpha, -2 * c, 1 - alpha)
    elif shape == "peak":
        b = (1 + alpha * A, -2 * c, 1 - alpha * A)
        a = (1 + alpha / A, -2 * c, 1 - alpha / A)
    elif shape == "lowshelf":
        b = (A * ((A + 1) - (A - 1) * c + sq), 2 * A * ((A - 1) - (A + 1) * c), A * ((A + 1) - (A - 1) * c - sq))
        a = ((A + 1) + (A - 1) * c + sq, -2 * ((A - 1) + (A + 1) * c), (A + 1) + (A - 1) * c - sq)
    elif shape == "highshelf":
        b = (A * ((A + 1) + (A - 1) * c + sq), -2 * A * ((A - 1) + (A + 1) * c), A * ((A + 1) + (A - 1) * c - sq))
        a = ((A + 1) - (A - 1) * c + sq, 2 * ((A - 1) - (A + 1) * c), (A + 1) - (A - 1) * c - sq)
    else:
        raise ValueError(f"unknown biquad shape {shape!r}")
    return np.array([b[0], b[1], b[2], a[0], a[1], a[2]]) / a[0]


def eq_sos(params: Params, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The ``(k, 6)`` cascade of an ``eq`` effect: only the sections whose frequency is set
    (> 0), in the order low-cut, low shelf, peaks 1-3, high shelf, high-cut."""
    p = _params("eq", params, EQ_DEFAULTS)
    rows = []
    if p["low_cut_hz"] > 0:
        rows.append(rbj_biquad("highpass", p["low_cut_hz"], sample_rate, q=p["low_cut_q"]))
    if p["low_shelf_hz"] > 0:
        rows.append(rbj_biquad("lowshelf", p["low_shelf_hz"], sample_rate, p["low_shelf_db"]))
    for i in (1, 2, 3):
        if p[f"peak{i}_hz"] > 0:
            rows.append(rbj_biquad("peak", p[f"peak{i}_hz"], sample_rate, p[f"peak{i}_db"], p[f"peak{i}_q"]))
    if p["high_shelf_hz"] > 0:
        rows.append(rbj_biquad("highshelf", p["high_shelf_hz"], sample_rate, p["high_shelf_db"]))
    if p["high_cut_hz"] > 0:
        rows.append(rbj_biquad("lowpass", p["high_cut_hz"], sample_rate, q=p["high_cut_q"]))
    return np.array(rows).reshape(-1, 6)


def eq(audio: np.ndarray, params: Params, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Parametric EQ: a cascade of RBJ biquads (see :func:`eq_sos` / ``EQ_DEFAULTS``; a band is
    present when its ``*_hz`` is > 0) run with ``scipy.signal.sosfilt``."""
    x = _stereo(audio)
    sos = eq_sos(params, sample_rate)
    if len(sos) == 0:
        return x.copy()
    return scipy.signal.sosfilt(sos.astype(x.dtype), x, axis=-1)


# ---- compressor --------------------------------------------------------------------------

COMPRESSOR_DEFAULTS = {
    "threshold_db": -20.0, "ratio": 4.0, "knee_db": 0.0, "attack_s": 0.005, "release_s": 0.1,
    "makeup_db": 0.0, "detector": 1.0, "rms_s": 0.01, "mix": 1.0,
}


def static_reduction_db(level_db: np.ndarray, threshold_db: float, ratio: float, knee_db: float) -> np.ndarray:
    """Gain reduction (dB, >= 0) of the compressor's static curve, soft knee centred on the
    threshold."""
    over = np.asarray(level_db, dtype=np.float64) - threshold_db
    slope = 1.0 - 1.0 / max(ratio, 1.0)
    if knee_db <= 0:
        return slope * np.maximum(over, 0.0)
    half = knee_db / 2.0
    inside = np.clip(over + half, 0.0, None) ** 2 / (2.0 * knee_db)
    return slope * np.where(over > half, over, inside)


# The compressor's gain is computed at 1/4 of the audio rate (block peak / block power, so no
# peak is missed) and interpolated back: a quarter of the work on log/exp, and 11 kHz is far
# faster than any attack it models.
CONTROL_DECIMATION = 4


def compressor_gain(audio: np.ndarray, params: Params, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The ``(n,)`` linear gain a ``compressor`` applies (make-up included, dry/wet mix not).

    Stereo-linked feed-forward design, at a control rate of ``sample_rate /
    CONTROL_DECIMATION``: detector (``detector`` 1: RMS, both channels' power through a
    one-pole of ``rms_s``; 0: peak, max |channel|) -> static curve
    (:func:`static_reduction_db`) -> instant-attack / exponential-release hold
    (:func:`_hold_release`) -> one-pole attack smoothing (``lfilter``), which lets the first
    ``attack_s`` of a transient through as real compressors do -> linear interpolation back to
    the audio rate.
    """
    x = _stereo(audio)
    p = _params("compressor", params, COMPRESSOR_DEFAULTS)
    n = x.shape[1]
    r = CONTROL_DECIMATION
    nb = -(-n // r)
    rate = sample_rate / r
    if p["detector"] >= 0.5:
        power = np.zeros(nb * r)
        power[:n] = np.einsum("ij,ij->j", x, x, dtype=np.float64)
        level = _db(_one_pole(power.reshape(nb, r).mean(axis=1) * 0.5, p["rms_s"], rate))
    else:
        peak = np.zeros(nb * r, dtype=x.dtype)
        np.maximum(np.abs(x[0]), np.abs(x[1]), out=peak[:n])
        level = 2.0 * _db(peak.reshape(nb, r).max(axis=1).astype(np.float64), 1e-10)
    gr = static_reduction_db(level, p["threshold_db"], p["ratio"], p["knee_db"])
    gr = _one_pole(_hold_release(gr, p["release_s"], rate), p["attack_s"], rate)
    g = 10.0 ** ((p["makeup_db"] - gr) / 20.0)
    # Block k's value is reached at the block's last sample, ramping from block k-1's.
    prev = np.concatenate([g[:1], g[:-1]])
    ramp = np.arange(1, r + 1) / r
    return (prev[:, None] + (g - prev)[:, None] * ramp[None, :]).reshape(-1)[:n]


def compressor(audio: np.ndarray, params: Params, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Feed-forward, stereo-linked compressor (``COMPRESSOR_DEFAULTS``: threshold_db, ratio,
    knee_db, attack_s, release_s, makeup_db, detector 1 = RMS / 0 = peak, rms_s, mix < 1 for
    parallel compression)."""
    x = _stereo(audio)
    p = _params("compressor", params, COMPRESSOR_DEFAULTS)
    wet = x * compressor_gain(x, p, sample_rate).astype(x.dtype)
    return _mixed(x, wet, p["mix"])


# ---- saturation --------------------------------------------------------------------------

SATURATION_DEFAULTS = {"shape": 0.0, "drive_db": 6.0, "mix": 1.0, "asymmetry": 0.3, "bits": 8.0, "hold": 1.0}
# 2x oversampling filter (linear phase, so the dry/wet mix does not comb): a Kaiser half-band,
# short because it runs on every sample twice: -0.2 dB at 16 kHz, > 60 dB down above 30 kHz
# (what is left of the 22-30 kHz harmonics folds to 14-22 kHz, where it is least audible).
_OVERSAMPLE_FIR = scipy.signal.firwin(23, 0.5, window=("kaiser", 6.0))
# The drive is normalised so that a peak of this level comes out at the same level (the
# chains run at OPERATING_RMS, peaks around -6 dBFS).
_SAT_REFERENCE = 0.5


def _shaper(shape: str, drive: float, asymmetry: float) -> Callable[[np.ndarray], np.ndarray]:
    if shape == "tanh":
        def f(u):
            return np.tanh(u * drive)
    elif shape == "asym":
        # The negative half clips earlier and lower (at -1 / (1 + asymmetry)): even harmonics
        # like a single-ended stage, slope 1 and f(0) = 0 exactly on both sides. The DC that
        # asymmetry leaves (it moves with the level) goes in the DC blocker after.
        k = 1.0 + max(asymmetry, 0.0)

        def f(u):
            scale = np.where(u < 0, np.asarray(k, u.dtype), np.asarray(1.0, u.dtype))
            y = np.tanh(u * (scale * np.asarray(drive, u.dtype)))
            y /= scale
            return y
    elif shape == "foldback":
        def f(u):  # triangle fold: identity on [-1, 1], then mirrored back
            v = u * drive
            return 1.0 - np.abs(np.mod(v + 1.0, 4.0) - 2.0)
    else:
        raise ValueError(shape)
    return f


def saturation(audio: np.ndarray, params: Params, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Waveshaping distortion (``SATURATION_DEFAULTS``): ``shape`` indexes
    :data:`SATURATION_SHAPES` (0 tanh, 1 asymmetric soft clip whose negative half clips at
    ``-1 / (1 + asymmetry)``, 2 foldback, 3 bit-crush with ``bits`` and a sample-``hold``
    factor), ``drive_db`` into the shaper, ``mix`` of wet.

    The smooth shapes run at 2x the rate (``resample_poly`` with a half-band FIR) so that the
    harmonics above the original Nyquist are filtered instead of aliased; the bit-crusher's
    aliasing is its sound, so it runs at the original rate. Level: a peak of
    ``_SAT_REFERENCE`` comes out at the same level whatever the drive.
    """
    x = _stereo(audio)
    p = _params("saturation", params, SATURATION_DEFAULTS)
    k = int(round(p["shape"]))
    if not 0 <= k < len(SATURATION_SHAPES):
        raise ValueError(f"saturation: shape {p['shape']} is not an index of {SATURATION_SHAPES}")
    shape = SATURATION_SHAPES[k]
    drive = 10.0 ** (p["drive_db"] / 20.0)
    if shape == "bitcrush":
        hold = max(1, int(round(p["hold"])))
        u = x * np.asarray(drive, x.dtype)
        if hold > 1:  # sample-rate reduction: hold every hold-th sample
            idx = (np.arange(x.shape[1]) // hold) * hold
            u = u[:, idx]
        step = 2.0 ** (1.0 - max(1.0, p["bits"]))
        wet = np.clip(np.round(u / step) * step, -1.0, 1.0) / np.asarray(drive, x.dtype)
        return _mixed(x, wet.astype(x.dtype), p["mix"])
    f = _shaper(shape, drive, p["asymmetry"])
    if shape == "foldback":  # identity below the fold (x drive <= 1), output within +-ref above
        norm = max(1.0 / drive, _SAT_REFERENCE)
    else:  # tanh-like: monotonic, f(0) = 0
        norm = _SAT_REFERENCE / float(f(np.array([_SAT_REFERENCE]))[0])
    fir = _OVERSAMPLE_FIR.astype(x.dtype)
    up = scipy.signal.resample_poly(x, 2, 1, axis=-1, window=fir)
    wet = scipy.signal.resample_poly(f(up), 1, 2, axis=-1, window=fir)[:, :x.shape[1]]
    wet *= np.asarray(norm, x.dtype)
    if shape == "asym":  # DC blocker (~10 Hz): asymmetric clipping shifts the mean with level
        a = math.exp(-2.0 * math.pi * 10.0 / sample_rate)
        wet = scipy.signal.lfilter(np.array([1.0, -1.0], x.dtype), np.array([1.0, -a], x.dtype), wet, axis=-1)
    return _mixed(x, wet.astype(x.dtype, copy=False), p["mix"])


# ---- chorus / flanger --------------------------------------------------------------------

CHORUS_DEFAULTS = {"voices": 1.0, "delay_ms": 15.0, "depth_ms": 3.0, "rate_hz": 0.8, "spread": math.pi / 2,
                   "phase": 0.0, "mix": 0.5}
FLANGER_DEFAULTS = {"delay_ms": 1.0, "depth_ms": 2.5, "rate_hz": 0.2, "spread": math.pi / 2, "phase": 0.0,
                    "feedback": 0.0, "mix": 0.5}


def _lfo_pair(n: int, rate_hz: float, phase: float, sample_rate: int, dtype) -> Tuple[np.ndarray, np.ndarray]:
    """``sin`` and ``cos`` of an LFO's phase; the phase is wrapped in float64 before the
    (float32) sine so that it stays accurate over a whole song. Any phase offset of the same LFO
    is then ``sin(t + o) = sin t cos o + cos t sin o``, without another wrap."""
    cycles = np.arange(n, dtype=np.float64) * (rate_hz / sample_rate) + phase / (2.0 * math.pi)
    cycles -= np.floor(cycles)
    theta = (2.0 * math.pi) * cycles.astype(dtype)
    return np.sin(theta), np.cos(theta)


def modulated_delay(x: np.ndarray, delay: np.ndarray) -> np.ndarray:
    """``y[n] = x[n - delay[n]]`` for a fractional ``delay >= 0`` (samples), by linear
    interpolation, zeros before the start. Vectorised: one gather per neighbour."""
    n = x.shape[-1]
    d = np.asarray(delay, dtype=x.dtype)
    pad = int(math.ceil(float(d.max()))) + 2 if n else 2
    xp = np.concatenate([np.zeros(pad, x.dtype), x, np.zeros(1, x.dtype)])
    dc = np.ceil(d)
    frac = dc - d  # pos = n - d = (n - dc) + frac, frac in [0, 1)
    i = np.arange(pad, pad + n, dtype=np.int64) - dc.astype(np.int64)
    a = xp[i]
    return a + frac * (xp[i + 1] - a)


def chorus(audio: np.ndarray, params: Params, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Stereo chorus / doubler (``CHORUS_DEFAULTS``): the mid signal through ``voices`` pairs of
    modulated delays (``delay_ms`` + 0..``depth_ms``, sine LFO at ``rate_hz``), the left and
    right copy of a pair ``spread`` radians apart on the LFO (that offset is what makes it
    wide), voices detuned in rate and evenly spaced in phase; ``mix`` of wet, normalised by
    ``1 + mix``. A long delay with a shallow, slow LFO is a doubler."""
    x = _stereo(audio)
    p = _params("chorus", params, CHORUS_DEFAULTS)
    return _modulation(x, p, sample_rate, max(1, int(round(p["voices"]))), feedback=0.0)


def flanger(audio: np.ndarray, params: Params, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Flanger (``FLANGER_DEFAULTS``): one modulated delay pair of ``delay_ms`` + 0..``depth_ms``
    (a few ms: the notches sweep the audible range), stereo LFO offset ``spread``;
    ``feedback`` is approximated by two more taps at 2x and 3x the delay (gains fb, fb^2),
    since a recursive modulated delay does not vectorise."""
    x = _stereo(audio)
    p = _params("flanger", params, FLANGER_DEFAULTS)
    return _modulation(x, p, sample_rate, 1, feedback=float(np.clip(p["feedback"], -0.9, 0.9)))


def _modulation(x: np.ndarray, p: Dict[str, float], sample_rate: int, voices: int, feedback: float) -> np.ndarray:
    n = x.shape[1]
    mid = _mono(x)
    base = p["delay_ms"] * 1e-3 * sample_rate
    depth = p["depth_ms"] * 1e-3 * sample_rate
    wet = np.zeros_like(x)
    for v in range(voices):
        rate = p["rate_hz"] * (1.0 + 0.17 * v)  # detuned LFOs: voices drift apart
        sin, cos = _lfo_pair(n, rate, p["phase"] + 2.0 * math.pi * v / voices, sample_rate, x.dtype)
        for c in (0, 1):
            o = p["spread"] if c else 0.0
            # delay = base + depth * (1 + sin(t + o)) / 2
            d = sin * np.asarray(0.5 * depth * math.cos(o), x.dtype)
            d += cos * np.asarray(0.5 * depth * math.sin(o), x.dtype)
            d += np.asarray(base + 0.5 * depth, x.dtype)
            np.maximum(d, 0.0, out=d)
            wet[c] += modulated_delay(mid, d)
            if feedback:
                wet[c] += np.asarray(feedback, x.dtype) * modulated_delay(mid, 2 * d)
                wet[c] += np.asarray(feedback ** 2, x.dtype) * modulated_delay(mid, 3 * d)
    wet *= np.asarray(1.0 / voices, x.dtype)
    return (x + np.asarray(p["mix"], x.dtype) * wet) * np.asarray(1.0 / (1.0 + p["mix"]), x.dtype)


# ---- delay -------------------------------------------------------------------------------

DELAY_DEFAULTS = {"beats": 0.5, "bpm": 120.0, "feedback": 0.35, "damp_hz": 3000.0, "damp": 0.6, "mix": 0.2,
                  "pingpong": 0.0, "low_cut_hz": 0.0}


def delay_samples(beats: float, bpm: float, sample_rate: int = SAMPLE_RATE) -> int:
    """A tempo-synced delay time in whole samples (>= 1)."""
    return max(1, int(round(beats * 60.0 / bpm * sample_rate)))


def echo_train(x: np.ndarray, first: int, spacing: int, g: float) -> np.ndarray:
    """``y[n] = sum_{j>=0} g^j x[n - first - j spacing]`` for a 1-D ``x``, cut at its length:
    the echoes of a feedback comb.

    The comb ``c[i] = x[i] + g c[i - spacing]`` is a one-pole filter *across* the rows of ``x``
    reshaped to ``(m, spacing)``, so one ``lfilter`` along axis 0 runs it at the cost of a
    one-pole whatever the delay (a length-``spacing`` denominator would cost ``spacing``
    operations per sample)."""
    n = x.shape[-1]
    y = np.zeros_like(x)
    if first >= n:
        return y
    need = n - first
    m = -(-need // spacing)
    buf = np.zeros(m * spacing, dtype=x.dtype)
    buf[:need] = x[:need]
    c = scipy.signal.lfilter(np.array([1.0], x.dtype), np.array([1.0, -g], x.dtype), buf.reshape(m, spacing), axis=0)
    y[first:] = c.reshape(-1)[:need]
    return y


def delay(audio: np.ndarray, params: Params, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Tempo-synced feedback delay (``DELAY_DEFAULTS``): echoes every ``beats`` at ``bpm``
    (whole samples), each ``feedback`` times the previous, darker with every repeat (damping in
    the loop: above ``damp_hz`` the loop gain is ``feedback * damp``), ``mix`` of wet added to
    the dry, optional ``low_cut_hz`` on the send. ``pingpong`` 1: the mid signal's echoes
    alternate left, right, left ...; 0: each channel echoes itself.

    The damping splits the send into a low band (2nd-order Butterworth at ``damp_hz``) and the
    complementary rest and runs one comb per band, each with its own loop gain: the same as a
    loop filter that is flat within each band, and still a pair of cheap ``lfilter`` combs.
    """
    x = _stereo(audio)
    p = _params("delay", params, DELAY_DEFAULTS)
    d = delay_samples(p["beats"], p["bpm"], sample_rate)
    fb = float(np.clip(p["feedback"], 0.0, 0.95))
    damp = float(np.clip(p["damp"], 0.0, 1.0))
    send = _mono(x)[None] if p["pingpong"] >= 0.5 else x
    if p["low_cut_hz"] > 0:
        send = scipy.signal.sosfilt(rbj_biquad("highpass", p["low_cut_hz"], sample_rate)[None].astype(x.dtype),
                                    send, axis=-1)
    low = scipy.signal.sosfilt(scipy.signal.butter(2, min(p["damp_hz"], 0.45 * sample_rate), fs=sample_rate,
                                                   output="sos").astype(x.dtype), send, axis=-1)
    high = send - low
    # (band, loop gain, gain of the first echo): highs are damped once before the first echo.
    bands = ((low, fb, 1.0), (high, fb * damp, damp))
    wet = np.zeros_like(x)
    for band, g, first in bands:
        if p["pingpong"] >= 0.5:
            # Echo k (k = 1, 2, ...) is on the left for odd k, on the right for even k: two
            # trains of twice the spacing, the right one one echo later.
            wet[0] += np.asarray(first, x.dtype) * echo_train(band[0], d, 2 * d, g * g)
            wet[1] += np.asarray(first * g, x.dtype) * echo_train(band[0], 2 * d, 2 * d, g * g)
        else:
            for c in (0, 1):
                wet[c] += np.asarray(first, x.dtype) * echo_train(band[c], d, d, g)
    return x + np.asarray(p["mix"], x.dtype) * wet


# ---- reverb ------------------------------------------------------------------------------

REVERB_DEFAULTS = {"rt60_s": 1.2, "predelay_s": 0.0, "mix": 0.2, "low_ratio": 1.0, "high_ratio": 0.6,
                   "low_hz": 250.0, "high_hz": 4000.0, "er_level": 0.4, "er_span_s": 0.03, "er_count": 8.0}
RT60_RANGE = (0.2, 3.5)


def reverb_ir(params: Params, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """A reverb's own ``(2, L)`` impulse response, float64, unit energy per channel (pre-delay
    not included: :func:`reverb` shifts its output instead of convolving with zeros).

    Late tail: decorrelated Gaussian noise per channel in three bands (below ``low_hz``, between,
    above ``high_hz``; 4th-order Butterworth, independent noise per band so the spectrum starts
    flat), each band decaying by 60 dB in its own time: ``rt60_s`` (clipped to
    :data:`RT60_RANGE`) for the mid band, times ``low_ratio`` / ``high_ratio`` for the others, so
    it darkens as it decays; a short onset ramp models the diffuse build-up. Early reflections:
    ``er_count`` signed taps per channel, random in (0.5 ms, ``er_span_s``), decaying, with
    ``er_level`` of the tail's energy (amplitude ratio). ``L`` = 1.1 x the longest band RT60.
    """
    p = _params("reverb", params, REVERB_DEFAULTS)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) % 2 ** 64, 0x4E7E]))
    rt_mid = float(np.clip(p["rt60_s"], *RT60_RANGE))
    rts = (rt_mid * max(p["low_ratio"], 0.1), rt_mid, rt_mid * max(p["high_ratio"], 0.1))
    n = max(16, int(1.1 * max(rts) * sample_rate))
    t = np.arange(n) / sample_rate
    low_hz = min(max(p["low_hz"], 20.0), 0.2 * sample_rate)
    high_hz = min(max(p["high_hz"], 2.0 * low_hz), 0.45 * sample_rate)
    filters = (
        (scipy.signal.butter(4, low_hz, "low", fs=sample_rate, output="sos"),),
        (scipy.signal.butter(4, low_hz, "high", fs=sample_rate, output="sos"),
         scipy.signal.butter(4, high_hz, "low", fs=sample_rate, output="sos")),
        (scipy.signal.butter(4, high_hz, "high", fs=sample_rate, output="sos"),),
    )
    tail = np.zeros((2, n))
    for sos_list, rt in zip(filters, rts):
        band = rng.standard_normal((2, n))
        band = scipy.signal.sosfilt(np.concatenate(sos_list), band, axis=-1)
        tail += band * np.exp(-3.0 * math.log(10.0) * t / rt)
    span = max(p["er_span_s"], 1e-3)
    tail *= 1.0 - np.exp(-t / (0.3 * span))  # diffuse build-up over the early-reflection span
    tail /= np.sqrt(np.sum(tail ** 2, axis=-1, keepdims=True))
    count = max(0, int(round(p["er_count"])))
    if count and p["er_level"] > 0:
        er = np.zeros((2, n))
        for c in (0, 1):
            times = rng.uniform(5e-4, span, count)
            pos = np.minimum((times * sample_rate).astype(np.int64), n - 1)
            gains = rng.uniform(0.4, 1.0, count) * rng.choice((-1.0, 1.0), count) * np.exp(-2.0 * times / span)
            np.add.at(er[c], pos, gains)
        er /= np.maximum(np.sqrt(np.sum(er ** 2, axis=-1, keepdims=True)), 1e-12)
        tail += p["er_level"] * er
    return tail / np.sqrt(np.sum(tail ** 2, axis=-1, keepdims=True))


def reverb(audio: np.ndarray, params: Params, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Convolution reverb with its own generated impulse response (:func:`reverb_ir`, noise from
    ``seed``): the mid signal convolved (one FFT of the input, one per IR channel) into a stereo
    wet signal, delayed by ``predelay_s``, added at ``mix`` (wet amplitude; the IR has unit
    energy, so ``mix`` is roughly the wet/dry RMS ratio). Tails are cut at the input length."""
    x = _stereo(audio)
    p = _params("reverb", params, REVERB_DEFAULTS)
    n = x.shape[1]
    pre = int(round(max(p["predelay_s"], 0.0) * sample_rate))
    m = n - pre  # input samples whose reverb starts before the end
    if m <= 0 or p["mix"] == 0:
        return x.copy()
    ir = reverb_ir(p, sample_rate, seed).astype(x.dtype)
    ir = ir[:, :m]
    nfft = scipy.fft.next_fast_len(m + ir.shape[1] - 1, real=True)
    spec = scipy.fft.rfft(_mono(x)[:m], nfft) * scipy.fft.rfft(ir, nfft, axis=-1)
    wet = scipy.fft.irfft(spec, nfft, axis=-1)[:, :m]
    y = x.copy()
    y[:, pre:] += np.asarray(p["mix"], x.dtype) * wet.astype(x.dtype, copy=False)
    return y


# ---- stereo ------------------------------------------------------------------------------

def width(audio: np.ndarray, params: Params, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Mid/side width: the side signal times ``width`` (0 mono .. 1 unchanged .. 1.6 wide)."""
    x = _stereo(audio)
    w = _params("width", params, {"width": 1.0})["width"]
    w = float(np.clip(w, 0.0, 1.6))
    mid = _mono(x)
    side = (x[0] - x[1]) * np.asarray(0.5 * w, x.dtype)
    return np.stack([mid + side, mid - side])


def pan(audio: np.ndarray, params: Params, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Balance: ``pan`` in -1 (left) .. 1 (right) turns the other channel down (linear, 0 is the
    identity)."""
    x = _stereo(audio)
    b = float(np.clip(_params("pan", params, {"pan": 0.0})["pan"], -1.0, 1.0))
    gains = np.array([[min(1.0, 1.0 - b)], [min(1.0, 1.0 + b)]], dtype=x.dtype)
    return x * gains


EFFECTS: Dict[str, Callable[..., np.ndarray]] = {
    "eq": eq, "compressor": compressor, "saturation": saturation, "chorus": chorus, "flanger": flanger,
    "delay": delay, "reverb": reverb, "width": width, "pan": pan,
}


# ---- chains ------------------------------------------------------------------------------

def effect_seed(seed: int, index: int) -> int:
    """The seed of the ``index``-th effect of a chain run with ``seed``."""
    return int(np.random.SeedSequence([int(seed) % 2 ** 64, int(index)]).generate_state(1)[0])


def apply_effect(effect: Effect, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """One effect at absolute levels. ``(2, n)`` in and out."""
    if effect.kind not in EFFECTS:
        raise ValueError(f"unknown effect kind {effect.kind!r}; known: {sorted(EFFECTS)}")
    return EFFECTS[effect.kind](audio, effect.params, sample_rate, seed)


def operating_level(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """RMS of the loud parts: over ~46 ms frames within 40 dB of the loudest frame (a stem is
    silent wherever it rests; those frames must not count)."""
    x = _stereo(audio)
    frame = max(1, int(round(0.0464 * sample_rate)))
    n = x.shape[1]
    if n == 0:
        return 0.0
    sq = np.einsum("ij,ij->j", x, x, dtype=np.float64)
    k = -(-n // frame)
    frames = np.zeros(k * frame)
    frames[:n] = sq
    power = frames.reshape(k, frame).sum(axis=1) / (2 * frame)
    top = power.max()
    if not top > 0:
        return 0.0
    return float(math.sqrt(power[power > 1e-4 * top].mean()))


def apply_chain(chain: Chain, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Run ``chain`` on a ``(2, n)`` stem: same shape out, finite, tails cut at ``n``,
    bit-identical for the same inputs. The stem is scaled to :data:`OPERATING_RMS` (see
    :func:`operating_level`) for the chain and scaled back after, so the result scales with
    the input (the plan's thresholds and drives are relative to the stem's own level). A
    silent stem comes back silent."""
    x = _stereo(audio)
    if not np.isfinite(x).all():
        raise ValueError("apply_chain: non-finite input")
    level = operating_level(x, sample_rate)
    if level == 0.0:
        return np.zeros_like(x)
    y = x * np.asarray(OPERATING_RMS / level, x.dtype)
    for i, fx in enumerate(chain.effects):
        y = apply_effect(fx, y, sample_rate, effect_seed(seed, i))
    y = np.asarray(y, dtype=x.dtype) * np.asarray(level / OPERATING_RMS, x.dtype)
    if y.shape != x.shape or not np.isfinite(y).all():
        raise FloatingPointError(f"apply_chain: {chain.kinds} gave a non-finite or misshaped result")
    return y


# ---- random plans --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Genre:
    amount: float  # 0..1: how much processing (probabilities and strengths scale with it)
    room: Tuple[float, float]  # drum room RT60 range
    verb: Tuple[float, float]  # plate/hall RT60 range (other, vocals)
    verb_mix: Tuple[float, float]  # reverb wet amplitude range
    dist_other: float  # probability of distortion on "other"
    drive_other: Tuple[float, float]  # its drive (dB)
    delay_p: float  # probability of a delay on vocals / other
    feedback: Tuple[float, float]
    bright: Tuple[float, float]  # drums' high shelf (dB)


_GENRES: Dict[str, _Genre] = {
    "ballad": _Genre(0.45, (0.5, 1.4), (1.6, 3.5), (0.15, 0.4), 0.03, (4, 10), 0.5, (0.2, 0.45), (-2, 2)),
    "pop": _Genre(0.7, (0.3, 1.0), (0.9, 2.4), (0.1, 0.3), 0.15, (6, 14), 0.6, (0.2, 0.45), (0, 4)),
    "rock": _Genre(0.8, (0.4, 1.2), (0.8, 2.0), (0.08, 0.25), 0.6, (12, 24), 0.45, (0.15, 0.4), (-1, 3)),
    "electronic": _Genre(0.8, (0.2, 0.8), (1.2, 3.5), (0.1, 0.35), 0.25, (6, 18), 0.8, (0.35, 0.65), (2, 6)),
    "hiphop": _Genre(0.75, (0.2, 0.7), (0.4, 1.4), (0.05, 0.2), 0.15, (6, 16), 0.55, (0.15, 0.4), (0, 4)),
    "funk": _Genre(0.55, (0.2, 0.7), (0.5, 1.4), (0.06, 0.2), 0.2, (4, 12), 0.35, (0.1, 0.3), (0, 3)),
    "jazz": _Genre(0.2, (0.3, 1.0), (0.6, 1.6), (0.05, 0.18), 0.02, (2, 6), 0.15, (0.1, 0.25), (-2, 1)),
    "metal": _Genre(0.95, (0.3, 0.9), (0.6, 1.6), (0.05, 0.18), 0.95, (22, 36), 0.35, (0.15, 0.35), (0, 4)),
}


class _Draw:
    """Rounded draws from one generator (plans print readably and compare exactly)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def u(self, lo: float, hi: float) -> float:
        return round(float(self.rng.uniform(lo, hi)), 4)

    def logu(self, lo: float, hi: float) -> float:
        return round(float(math.exp(self.rng.uniform(math.log(lo), math.log(hi)))), 4)

    def p(self, prob: float) -> bool:
        return bool(self.rng.random() < prob)

    def pick(self, options: Sequence):
        return options[int(self.rng.integers(len(options)))]


def _comp(r: _Draw, thr: Tuple[float, float], ratio: Tuple[float, float], attack: Tuple[float, float],
          release: Tuple[float, float], detector: float, mix: float = 1.0, makeup: Tuple[float, float] = (0, 3),
          knee: Tuple[float, float] = (0, 6)) -> Effect:
    return make_effect("compressor", threshold_db=r.u(*thr), ratio=r.u(*ratio), knee_db=r.u(*knee),
                       attack_s=r.logu(*attack), release_s=r.logu(*release), makeup_db=r.u(*makeup),
                       detector=detector, mix=mix)


def _reverb(r: _Draw, rt: Tuple[float, float], mix: Tuple[float, float], predelay: Tuple[float, float],
            style: str) -> Effect:
    if style == "room":  # strong, dense early reflections, short
        er, span, lo, hi = r.u(0.5, 1.0), r.u(0.01, 0.04), r.u(0.9, 1.2), r.u(0.4, 0.8)
    elif style == "plate":  # no discrete reflections to speak of, bright
        er, span, lo, hi = r.u(0.0, 0.15), r.u(0.005, 0.015), r.u(0.8, 1.1), r.u(0.6, 0.95)
    else:  # hall: distinct early reflections, long and dark
        er, span, lo, hi = r.u(0.3, 0.7), r.u(0.03, 0.09), r.u(1.05, 1.4), r.u(0.35, 0.65)
    lo_t, hi_t = max(rt[0], RT60_RANGE[0]), min(rt[1], RT60_RANGE[1])
    return make_effect("reverb", rt60_s=r.u(lo_t, hi_t), predelay_s=r.u(*predelay), mix=r.u(*mix),
                       low_ratio=lo, high_ratio=hi, low_hz=r.u(150, 400), high_hz=r.u(2500, 6000),
                       er_level=er, er_span_s=span, er_count=float(r.rng.integers(4, 13)))


def _delay(r: _Draw, bpm: float, divisions: Sequence[float], feedback: Tuple[float, float],
           mix: Tuple[float, float], pingpong: bool) -> Effect:
    return make_effect("delay", beats=float(r.pick(divisions)), bpm=round(float(bpm), 4), feedback=r.u(*feedback),
                       damp_hz=r.logu(1500, 7000), damp=r.u(0.35, 0.85), mix=r.u(*mix), pingpong=float(pingpong),
                       low_cut_hz=r.logu(120, 500))


def _drums(r: _Draw, g: _Genre, genre: str, bpm: float) -> List[Effect]:
    a = g.amount
    fx = [make_effect("eq", low_cut_hz=r.u(20, 45), low_shelf_hz=r.u(60, 120), low_shelf_db=r.u(-1, 4 * a),
                      peak1_hz=r.logu(250, 600), peak1_db=r.u(-5 * a, 0), peak1_q=r.u(0.7, 2.0),
                      peak2_hz=r.logu(2000, 5000), peak2_db=r.u(0, 4 * a), peak2_q=r.u(0.7, 1.5),
                      high_shelf_hz=r.u(6000, 10000), high_shelf_db=r.u(*g.bright),
                      **({"high_cut_hz": r.u(6000, 12000)} if genre == "hiphop" and r.p(0.3) else {}))]
    if r.p(0.3 + 0.7 * a):  # bus compression: peak detector, slow enough attack to keep the snap
        heavy = genre in ("rock", "metal", "hiphop")
        fx.append(_comp(r, (-18, -8), (2, 6 if heavy else 4), (0.003, 0.03), (0.05, 0.25), 0.0))
    if r.p(0.4 * a):  # parallel "crush": squashed copy under the dry
        fx.append(_comp(r, (-32, -22), (10, 20), (0.0005, 0.002), (0.06, 0.15), 1.0, mix=r.u(0.2, 0.45),
                        makeup=(6, 12), knee=(0, 2)))
    if genre == "hiphop" and r.p(0.2):
        fx.append(make_effect("saturation", shape=3.0, bits=float(r.rng.integers(8, 13)),
                              hold=float(r.rng.integers(1, 4)), drive_db=0.0, mix=r.u(0.3, 0.7)))
    elif r.p(0.3 * a):
        fx.append(make_effect("saturation", shape=float(r.pick((0, 1))), drive_db=r.u(3, 10), asymmetry=r.u(0.1, 0.5),
                              mix=r.u(0.3, 1.0)))
    if r.p(0.85):
        fx.append(_reverb(r, g.room, (0.05, 0.3), (0.0, 0.01), "room"))
    fx.append(make_effect("width", width=r.u(0.8, 1.3)))
    if r.p(0.3):
        fx.append(make_effect("pan", pan=r.u(-0.1, 0.1)))
    return fx


def _bass(r: _Draw, g: _Genre, genre: str, bpm: float) -> List[Effect]:
    a = g.amount
    eq_params = dict(low_cut_hz=r.u(28, 34), low_shelf_hz=r.u(70, 120), low_shelf_db=r.u(0, 4 * a + 1),
                     peak1_hz=r.logu(600, 1400), peak1_db=r.u(-1, 4 * a + 0.5), peak1_q=r.u(0.7, 1.8))
    if r.p(0.5):  # mud cut
        eq_params.update(peak2_hz=r.logu(180, 400), peak2_db=r.u(-4, 0), peak2_q=r.u(0.8, 2.0))
    if r.p(0.5):
        eq_params.update(high_cut_hz=r.logu(3000, 9000))
    fx = [make_effect("eq", **eq_params)]
    if r.p(0.5 + 0.5 * a):
        fx.append(_comp(r, (-28, -18), (3, 6), (0.005, 0.03), (0.08, 0.25), 1.0))
    sat_p = {"jazz": 0.05, "ballad": 0.2, "rock": 0.7, "metal": 0.8, "hiphop": 0.7}.get(genre, 0.5)
    if r.p(sat_p):
        hi = 20.0 if genre == "metal" else 15.0
        fx.append(make_effect("saturation", shape=float(r.pick((0, 0, 1))), drive_db=r.u(4, hi),
                              asymmetry=r.u(0.1, 0.5), mix=r.u(0.5, 1.0)))
    if r.p({"jazz": 0.03, "funk": 0.12, "pop": 0.12, "ballad": 0.12}.get(genre, 0.08)):
        fx.append(make_effect("chorus", voices=1.0, delay_ms=r.u(7, 15), depth_ms=r.u(1, 3), rate_hz=r.u(0.3, 1.2),
                              spread=r.u(1.0, math.pi), phase=r.u(0, 2 * math.pi), mix=r.u(0.2, 0.4)))
    fx.append(make_effect("width", width=r.u(0.0, 0.6)))  # low end close to mono
    return fx


def _other(r: _Draw, g: _Genre, genre: str, bpm: float) -> List[Effect]:
    a = g.amount
    eq_params = dict(low_cut_hz=r.logu(60, 200), low_shelf_hz=r.u(150, 300), low_shelf_db=r.u(-3, 2),
                     high_shelf_hz=r.u(5000, 10000), high_shelf_db=r.u(-3, 4 * a))
    for i in range(1, int(r.rng.integers(1, 4)) + 1):
        eq_params.update({f"peak{i}_hz": r.logu(200, 6000), f"peak{i}_db": r.u(-5 * a - 1, 5 * a + 1),
                          f"peak{i}_q": r.u(0.6, 2.5)})
    fx = [make_effect("eq", **eq_params)]
    if r.p(g.dist_other):  # guitars: amp-like drive, then a cabinet-like band limit
        shape = 2.0 if genre == "electronic" and r.p(0.3) else float(r.pick((0, 0, 1)))
        fx.append(make_effect("saturation", shape=shape, drive_db=r.u(*g.drive_other), asymmetry=r.u(0.1, 0.6),
                              mix=r.u(0.7, 1.0) if genre in ("metal", "rock") else r.u(0.3, 1.0)))
        fx.append(make_effect("eq", low_cut_hz=r.u(70, 130), peak1_hz=r.logu(1500, 3500), peak1_db=r.u(-2, 4),
                              peak1_q=r.u(0.7, 1.5), high_cut_hz=r.u(4000, 7500)))
    elif genre in ("electronic", "hiphop") and r.p(0.15):
        fx.append(make_effect("saturation", shape=3.0, bits=float(r.rng.integers(6, 12)),
                              hold=float(r.rng.integers(1, 5)), drive_db=0.0, mix=r.u(0.2, 0.6)))
    if r.p(0.3 + 0.4 * a):
        fx.append(_comp(r, (-26, -16), (1.5, 3), (0.005, 0.04), (0.08, 0.3), 1.0))
    if r.p(0.15 if genre == "jazz" else 0.45):
        if r.p(0.7):
            fx.append(make_effect("chorus", voices=float(r.rng.integers(1, 3)), delay_ms=r.u(8, 22),
                                  depth_ms=r.u(1, 4), rate_hz=r.logu(0.2, 1.5), spread=r.u(1.0, math.pi),
                                  phase=r.u(0, 2 * math.pi), mix=r.u(0.25, 0.6)))
        else:
            fx.append(make_effect("flanger", delay_ms=r.u(0.3, 2.5), depth_ms=r.u(1, 4), rate_hz=r.logu(0.05, 0.5),
                                  spread=r.u(0.5, math.pi), phase=r.u(0, 2 * math.pi), feedback=r.u(-0.6, 0.7),
                                  mix=r.u(0.35, 0.6)))
    if r.p(g.delay_p * 0.8):
        divs = (1.0, 0.75) if genre == "electronic" and r.p(0.6) else DELAY_DIVISIONS
        fx.append(_delay(r, bpm, divs, g.feedback, (0.08, 0.3), r.p(0.5)))
    if r.p(0.85):
        fx.append(_reverb(r, g.verb, g.verb_mix, (0.0, 0.04), r.pick(("plate", "hall", "room") if genre == "jazz"
                                                                     else ("plate", "hall"))))
    fx.append(make_effect("width", width=r.u(0.9, 1.6)))
    if r.p(0.5):
        fx.append(make_effect("pan", pan=r.u(-0.25, 0.25)))
    return fx


def _vocals(r: _Draw, g: _Genre, genre: str, bpm: float) -> List[Effect]:
    a = g.amount
    eq_params = dict(low_cut_hz=r.u(70, 140), peak2_hz=r.logu(2500, 5000), peak2_db=r.u(1, 1 + 4 * a),
                     peak2_q=r.u(0.7, 1.5), high_shelf_hz=r.u(8000, 12000), high_shelf_db=r.u(0, 4 * a + 0.5))
    if r.p(0.5):  # boxiness cut
        eq_params.update(peak1_hz=r.logu(200, 450), peak1_db=r.u(-4, 0), peak1_q=r.u(0.8, 2.0))
    fx = [make_effect("eq", **eq_params)]
    ratio = (2, 3) if genre == "jazz" else (3, 8)
    fx.append(_comp(r, (-30, -20), ratio, (0.0005, 0.005), (0.03, 0.12), 1.0, knee=(3, 6)))
    if r.p(0.25 * a):  # a second, peak-catching stage
        fx.append(_comp(r, (-10, -4), (4, 10), (0.0003, 0.002), (0.03, 0.1), 0.0, knee=(0, 3)))
    if r.p(0.35 if genre in ("rock", "metal") else 0.12):
        fx.append(make_effect("saturation", shape=float(r.pick((0, 1))), drive_db=r.u(3, 8), asymmetry=r.u(0.1, 0.4),
                              mix=r.u(0.3, 0.6)))
    if r.p(0.05 if genre == "jazz" else 0.3):  # doubler: long base delay, shallow and slow
        fx.append(make_effect("chorus", voices=float(r.rng.integers(1, 3)), delay_ms=r.u(12, 30),
                              depth_ms=r.u(0.3, 1.5), rate_hz=r.u(0.1, 0.6), spread=r.u(math.pi / 2, math.pi),
                              phase=r.u(0, 2 * math.pi), mix=r.u(0.25, 0.5)))
    if r.p(g.delay_p):
        if r.p(0.4):  # slap: short synced echo, little feedback
            fx.append(_delay(r, bpm, (0.25, 0.5), (0.0, 0.15), (0.08, 0.25), False))
        else:
            divs = (1.0, 0.75, 0.5) if genre == "electronic" else DELAY_DIVISIONS[:3]
            fx.append(_delay(r, bpm, divs, g.feedback, (0.06, 0.25), r.p(0.6)))
    if r.p(0.95):
        fx.append(_reverb(r, g.verb, (g.verb_mix[0] + 0.03, g.verb_mix[1] + 0.05), (0.01, 0.08),
                          r.pick(("plate", "hall"))))
    fx.append(make_effect("width", width=r.u(0.6, 1.2)))
    return fx


_STEM_CHAINS = {"drums": _drums, "bass": _bass, "other": _other, "vocals": _vocals}


def random_chain(rng: np.random.Generator, stem: str, genre: str, tempo_bpm: float) -> Chain:
    """A plausible production chain for ``stem`` (one of :data:`~danna_sep_models.STEMS`) in
    ``genre`` (one of :data:`GENRES`), its delays synced to ``tempo_bpm``; every choice is drawn
    from ``rng``. Order: EQ, dynamics, drive, modulation, delay, reverb, width/pan.

    - drums: EQ (low cut, shelves, box cut, presence; bright hats in electronic), bus
      compression, sometimes parallel crush / saturation (hip-hop: bit-crush), short room;
    - bass: EQ (low cut ~30 Hz, low and growl boosts), compression, saturation often (rarely
      in jazz/ballads), rarely chorus, narrow width;
    - other: EQ with 1-3 bands, distortion + cabinet EQ by genre (metal almost always, heavy),
      compression, chorus or flanger, synced delay (electronic: long, more feedback),
      plate/hall, wide;
    - vocals: high-pass, presence/air EQ, fast compression, sometimes doubler, synced slap or
      (ping-pong) delay, plate/hall with pre-delay.

    Genres scale how much of this happens (jazz little, metal/rock/electronic/pop a lot).
    """
    if genre not in _GENRES:
        raise ValueError(f"unknown genre {genre!r}; known: {GENRES}")
    if stem not in _STEM_CHAINS:
        raise ValueError(f"unknown stem {stem!r}; known: {STEMS}")
    if not tempo_bpm > 0:
        raise ValueError(f"tempo_bpm must be > 0, got {tempo_bpm}")
    return Chain(tuple(_STEM_CHAINS[stem](_Draw(rng), _GENRES[genre], genre, float(tempo_bpm))))


# ---- bus limiter -------------------------------------------------------------------------

# Headroom for rounding: the guarantee holds for float64 products and for a float32 cast of
# the gain times float32 audio (two roundings of 2^-24 each).
_CEILING_MARGIN = 1.0 - 1e-6
# A release below this much reduction (dB) snaps to none, so the gain returns to exactly 1.0.
_RELEASE_FLOOR_DB = 1e-6


def _window_min(v: np.ndarray, width: int) -> np.ndarray:
    """``out[n] = min(v[n : n + width])`` (window cut at the end), by doubling: O(n log width)."""
    out = v.copy()
    span = 1
    while span * 2 <= width:
        out[:-span] = np.minimum(out[:-span], out[span:])
        span *= 2
    rest = width - span  # two overlapping power-of-two windows cover any width
    if rest > 0:
        out[:-rest] = np.minimum(out[:-rest], out[rest:])
    return out


def bus_gain(mixture: np.ndarray, sample_rate: int, ceiling: float, release_s: float,
             lookahead_s: float) -> np.ndarray:
    """Lookahead peak limiter as a gain curve: ``(n,)`` float64 in (0, 1] with
    ``abs(mixture * gain).max() <= ceiling`` (``mixture`` is ``(2, n)``; multiply every stem by
    the same ``gain`` and the limited stems still sum to the limited mixture).

    Steps: required gain ``req = min(1, ceiling / peak)`` per sample; ``h`` = its minimum over
    the next ``L`` = ``lookahead_s`` samples; release: the reduction in dB held with an
    exponential decay of ``release_s`` (only ever more reduction than ``h``); attack: a causal
    ``L``-sample moving average. Every sample of that average is the mean of ``h`` over
    windows that all contain the current sample, so it never exceeds ``req``: the ceiling holds
    exactly, with the gain ramping down over the lookahead instead of jumping. Where the
    mixture stays below the ceiling (beyond the lookahead and release), the gain is exactly 1.
    """
    x = np.asarray(mixture)
    if x.ndim != 2 or x.shape[0] != 2:
        raise ValueError(f"the mixture is shaped (2, n) like render.py's, got {x.shape}")
    if not ceiling > 0:
        raise ValueError(f"ceiling must be > 0, got {ceiling}")
    peak = np.maximum(np.abs(x[0]), np.abs(x[1])).astype(np.float64)
    if not np.isfinite(peak).all():
        raise ValueError("bus_gain: non-finite mixture")
    n = peak.size
    if n == 0:
        return np.ones(0)
    limit = ceiling * _CEILING_MARGIN
    req = np.ones(n)
    over = peak > limit
    req[over] = limit / peak[over]
    look = max(1, int(round(lookahead_s * sample_rate)))
    h = _window_min(req, look)
    red = -20.0 * np.log10(h)
    red = _hold_release(red, release_s, sample_rate)
    red[red < _RELEASE_FLOOR_DB] = 0.0
    dip = 1.0 - 10.0 ** (-red / 20.0)  # averaged as 1 - gain, so quiet stretches stay exactly 1
    # Causal moving average over `look` samples; the first sample's value stands in before the
    # start (its window covers the first `look` samples).
    c = np.concatenate([np.zeros(1), np.cumsum(np.concatenate([np.full(look - 1, dip[0]), dip]))])
    avg = (c[look:] - c[:-look]) / look
    gain = 1.0 - avg
    # The guarantee, checked: the average may exceed req only by cumsum rounding, which the min
    # removes; anything more would be a bug in the windows above.
    if np.any(gain > req * (1.0 + 1e-9)):
        raise AssertionError("bus_gain: the smoothed gain exceeds the required gain")
    np.minimum(gain, req, out=gain)
    return np.clip(gain, np.finfo(np.float64).tiny, 1.0)


def random_bus(rng: np.random.Generator) -> Effect:
    """How hard the bus is limited: ``reduction_db`` 0 (off, a quarter of the songs) or 1-8 dB of
    gain reduction on the loudest peak, with ``release_s`` and ``lookahead_s``."""
    r = _Draw(rng)
    off = r.p(0.25)
    reduction = 0.0 if off else r.u(1.0, 8.0)
    return make_effect("limiter", reduction_db=reduction, release_s=r.logu(0.03, 0.3), lookahead_s=r.u(0.0015, 0.006))


def bus_limit(bus: Effect, mixture: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The gain curve of a :func:`random_bus` plan for ``mixture``: :func:`bus_gain` with the
    ceiling ``reduction_db`` under the mixture's peak (all ones when off or silent)."""
    if bus.kind != "limiter":
        raise ValueError(f"not a bus limiter: {bus.kind!r}")
    p = _params("limiter", bus.params, {"reduction_db": 0.0, "release_s": 0.1, "lookahead_s": 0.005})
    x = np.asarray(mixture)
    peak = float(np.abs(x).max()) if x.size else 0.0
    if p["reduction_db"] <= 0 or peak == 0.0:
        return np.ones(x.shape[-1])
    return bus_gain(x, sample_rate, peak * 10.0 ** (-p["reduction_db"] / 20.0), p["release_s"], p["lookahead_s"])
