"""Pure-numpy instrument synthesis for the synthetic multitrack generator.

Melodic engines (:data:`MELODIC_ENGINES`) turn a list of notes into a mono signal:

- ``subtractive``: 1-3 detuned PolyBLEP oscillators (saw / square / pulse with PWM / PolyBLAMP
  triangle) + optional sub oscillator, a resonant 12 or 24 dB/oct low-pass whose cutoff follows a
  filter envelope, key tracking and velocity, an amp ADSR, mono mode with glide;
- ``fm``: 2-4 operator phase modulation (four algorithms, integer or bell-like ratios, decaying
  index envelopes): e-pianos, bells, FM basses, brassy leads;
- ``wavetable``: four single-cycle tables with random smooth (power-law) harmonic spectra, read
  band-limited, the morph position swept by an envelope and an LFO, optional unison;
- ``pluck``: Karplus-Strong string (decay, brightness, pick position), the comb recursion solved
  by vectorised blocks, tuned exactly by a Lagrange fractional delay;
- ``organ``: nine-drawbar additive organ with percussion, drive and a Leslie-like rotor
  (amplitude + Doppler modulation).

None of them imitates a voice: there are no formant filter banks or vowel-like resonances, no
vibrato, and spectra are smooth power laws (wavetable) or sums of fixed harmonics (organ), so
the "bass" and "other" stems never sound like the "vocals" stem.

Drum kits (:data:`DRUM_ENGINES`, 808 / 909 / lo-fi characters) synthesise the General-MIDI
percussion notes (kick, snare, clap, hats, toms, rim, cowbell, crash, ride, tambourine, shakers
and a generic pitched percussion); an open hat is choked by the next hi-hat.

A patch is a :data:`Patch`, sorted ``(name, value)`` float pairs, so that it can sit inside the
frozen, value-comparing dataclasses of :mod:`.compose`; the engine name is stored separately.
:data:`PARAMS` lists every engine's parameters with their defaults and valid ranges.

Signals are float64 inside (sines are evaluated in float32 from float64 phases: 10x faster,
error ~1e-7) and returned as float32. Every envelope ends exactly at 0, so the output is exactly
0 wherever nothing sounds, and a shorter ``length`` renders an exact prefix of a longer one.

Determinism contract: :func:`random_patch` draws only from the generator it is given, in a
fixed order, so the same generator state gives the same patch. :func:`render_part` is a pure
function of its arguments: every random choice (oscillator start phases, pluck and drum noise)
comes from a generator seeded by ``(seed, rank of the note in start order)``, so the same inputs
give a bit-identical float32 array on the same numpy/scipy installation, and a different seed
changes every noisy sound.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Protocol, Sequence, Tuple, Union

import numpy as np
import scipy.signal

Patch = Tuple[Tuple[str, float], ...]

MELODIC_ENGINES = ("subtractive", "fm", "wavetable", "pluck", "organ")
DRUM_ENGINES = ("analog", "electro", "noise")
ENGINES = MELODIC_ENGINES + DRUM_ENGINES
MELODIC_ROLES = ("bass", "chords", "arp", "pad", "counter")
ROLES = MELODIC_ROLES + ("kit",)


class NoteLike(Protocol):
    """What :func:`render_part` reads from a note (e.g. :class:`.compose.Note`)."""
    start: float  # beats
    dur: float  # beats
    pitch: int  # MIDI note number
    vel: int  # 1..127


# ---- parameters --------------------------------------------------------------------------

_ADSR = {
    "level": (1.0, 0.0, 4.0),
    "attack": (0.005, 0.0, 4.0),  # s, linear
    "decay": (0.3, 0.005, 8.0),  # s to fall 60 dB of the way to the sustain level
    "sustain": (0.7, 0.0, 1.0),
    "release": (0.2, 0.005, 6.0),  # s to -60 dB after the key is released
    "mono": (0.0, 0.0, 1.0),  # >= 0.5: one voice, a new note cuts the previous one
    "glide": (0.0, 0.0, 1.0),  # s (mono only): pitch slides from the previous note
}

# name -> (default, low, high) for every engine.
PARAMS: Dict[str, Dict[str, Tuple[float, float, float]]] = {
    "subtractive": dict(_ADSR, **{
        "osc1_wave": (0.0, 0.0, 3.0),  # 0 saw, 1 square, 2 pulse (PWM), 3 triangle
        "osc2_wave": (0.0, 0.0, 3.0),
        "osc3_wave": (0.0, 0.0, 3.0),
        "osc2_level": (0.0, 0.0, 1.0),  # 0: oscillator off
        "osc3_level": (0.0, 0.0, 1.0),
        "osc2_detune": (0.0, -25.0, 25.0),  # cents
        "osc3_detune": (0.0, -25.0, 25.0),
        "osc2_octave": (0.0, 0.0, 2.0),  # octaves up (never down: osc 1 stays the fundamental)
        "pulse_width": (0.5, 0.05, 0.5),
        "pwm_depth": (0.0, 0.0, 0.4),
        "pwm_rate": (1.0, 0.05, 8.0),  # Hz
        "sub_level": (0.0, 0.0, 1.0),  # one octave below
        "sub_wave": (0.0, 0.0, 1.0),  # 0 sine, 1 square
        "cutoff": (2000.0, 40.0, 18000.0),  # Hz at middle C, before envelope and velocity
        "resonance": (0.707, 0.5, 10.0),  # Q of the first 2-pole section
        "poles": (4.0, 2.0, 4.0),  # 2 (12 dB/oct) or 4 (24 dB/oct)
        "env_amount": (2.0, 0.0, 7.0),  # octaves of cutoff at the filter envelope's peak
        "f_attack": (0.002, 0.0, 4.0),
        "f_decay": (0.3, 0.005, 8.0),
        "f_sustain": (0.2, 0.0, 1.0),
        "key_track": (0.5, 0.0, 1.0),
        "vel_cutoff": (1.0, 0.0, 3.0),  # octaves between velocity 0 and 127
    }),
    "fm": dict(_ADSR, **{
        "algorithm": (0.0, 0.0, 3.0),  # 0 M1>C, 1 M2>M1>C, 2 (M1+M2)>C, 3 M1>C + M2>C2
        "ratio_m1": (1.0, 0.5, 16.0),
        "ratio_m2": (2.0, 0.5, 16.0),
        "ratio_c2": (1.0, 1.0, 4.0),
        "index1": (2.0, 0.0, 12.0),  # peak modulation index (radians)
        "index2": (1.0, 0.0, 12.0),
        "index1_decay": (0.3, 0.005, 8.0),  # s, time constant of the index envelope
        "index2_decay": (0.1, 0.005, 8.0),
        "index_sustain": (0.3, 0.0, 1.0),  # fraction of the peak index that remains
        "c2_level": (0.0, 0.0, 1.0),
        "c2_detune": (0.0, -20.0, 20.0),  # cents (algorithm 3)
        "vel_index": (0.5, 0.0, 1.0),  # how much velocity brightens (raises the index)
    }),
    "wavetable": dict(_ADSR, **{
        "table_seed": (0.0, 0.0, 2.0 ** 31 - 1),  # generates the four spectra
        "tilt_a": (1.0, 0.3, 3.0),  # spectral slope (harmonic k has amplitude k^-tilt), table 0
        "tilt_b": (2.0, 0.3, 3.0),  # ... table 3 (tables 1-2 interpolate)
        "even_a": (1.0, 0.0, 1.0),  # gain of the even harmonics, table 0
        "even_b": (1.0, 0.0, 1.0),
        "morph_start": (0.0, 0.0, 1.0),  # table position at the note start (0..1)
        "morph_env": (1.0, -1.0, 1.0),  # how far the envelope moves it
        "morph_time": (0.5, 0.01, 8.0),  # s, time constant of that move
        "lfo_rate": (0.5, 0.01, 8.0),  # Hz, on the table position
        "lfo_depth": (0.0, 0.0, 0.5),
        "unison": (1.0, 1.0, 3.0),  # voices
        "unison_detune": (8.0, 0.0, 20.0),  # cents between the outer voices and the centre
    }),
    "pluck": {
        "level": (1.0, 0.0, 4.0),
        "release": (0.08, 0.005, 6.0),  # s to -60 dB once the key is released (damping)
        "mono": (0.0, 0.0, 1.0),
        "string_decay": (1.5, 0.05, 20.0),  # s to -60 dB at middle C (shorter up the neck)
        "brightness": (0.5, 0.0, 1.0),
        "pick": (0.2, 0.02, 0.5),  # pick position along the string (0.5 = middle)
    },
    "organ": {
        "level": (1.0, 0.0, 4.0),
        "attack": (0.005, 0.0, 4.0),
        "release": (0.08, 0.005, 6.0),
        # Drawbars 0..8 (3 dB a step): 16', 5 1/3', 8', 4', 2 2/3', 2', 1 3/5', 1 1/3', 1'.
        "db16": (8.0, 0.0, 8.0), "db5_1": (8.0, 0.0, 8.0), "db8": (8.0, 1.0, 8.0),
        "db4": (0.0, 0.0, 8.0), "db2_2": (0.0, 0.0, 8.0), "db2": (0.0, 0.0, 8.0),
        "db1_3": (0.0, 0.0, 8.0), "db1_1": (0.0, 0.0, 8.0), "db1": (0.0, 0.0, 8.0),
        "perc": (0.0, 0.0, 1.0),  # level of the decaying percussion harmonic
        "perc_harm": (2.0, 2.0, 3.0),  # 2nd (4') or 3rd (2 2/3') harmonic
        "perc_decay": (0.3, 0.05, 2.0),  # s to -60 dB
        "leslie_rate": (0.0, 0.0, 8.0),  # Hz; 0 = rotor off
        "leslie_depth": (0.0, 0.0, 1.0),
        "drive": (0.0, 0.0, 1.0),
    },
}
_DRUM_PARAMS = {
    "level": (1.0, 0.0, 4.0),
    "kick_pitch": (50.0, 30.0, 90.0),  # Hz, end of the pitch sweep
    "kick_sweep": (4.0, 1.0, 10.0),  # start / end frequency
    "kick_sweep_time": (0.02, 0.003, 0.1),  # s, time constant
    "kick_decay": (0.5, 0.05, 2.0),  # s to -60 dB
    "kick_click": (0.3, 0.0, 1.0),
    "kick_drive": (0.0, 0.0, 1.0),
    "snare_tone": (190.0, 100.0, 400.0),  # Hz
    "snare_decay": (0.2, 0.03, 0.8),
    "snare_noise": (0.6, 0.0, 1.0),  # noise / tone balance
    "snare_hp": (1500.0, 200.0, 6000.0),  # Hz, high-pass of the snare noise
    "clap_decay": (0.2, 0.05, 0.8),
    "clap_freq": (1200.0, 500.0, 3000.0),
    "hat_tune": (1.0, 0.6, 2.0),  # scales the six metallic oscillators
    "hat_decay": (0.05, 0.01, 0.2),  # closed hat, s to -60 dB
    "open_decay": (0.4, 0.1, 1.5),
    "hat_noise": (0.3, 0.0, 1.0),  # 0 metallic oscillators only, 1 noise only
    "hat_hp": (7000.0, 5500.0, 12000.0),
    "tom_pitch": (90.0, 50.0, 200.0),  # Hz of the low floor tom (41)
    "tom_decay": (0.35, 0.05, 1.5),
    "cymbal_decay": (1.8, 0.3, 5.0),
    "ride_decay": (1.2, 0.2, 4.0),
    "cowbell_tune": (1.0, 0.7, 1.5),
    "crush_bits": (0.0, 0.0, 16.0),  # 0 off, else quantise every hit to this many bits
}
for _kit in DRUM_ENGINES:
    PARAMS[_kit] = dict(_DRUM_PARAMS)


def make_patch(params: Mapping[str, float]) -> Patch:
    """A :data:`Patch` (sorted ``(name, float)`` pairs) from a mapping."""
    return tuple(sorted((str(k), float(v)) for k, v in params.items()))


def patch_dict(patch: Union[Patch, Mapping[str, float]]) -> Dict[str, float]:
    """The patch as a plain dict."""
    return dict(patch.items() if isinstance(patch, Mapping) else patch)


def _resolve(engine: str, patch: Union[Patch, Mapping[str, float]]) -> Dict[str, float]:
    """Defaults overlaid with the patch; unknown names, NaNs and out-of-range values are errors
    (a typo in a parameter name would otherwise silently render the default)."""
    if engine not in PARAMS:
        raise ValueError(f"unknown engine {engine!r}, expected one of {ENGINES}")
    spec = PARAMS[engine]
    p = {k: v[0] for k, v in spec.items()}
    for k, v in patch_dict(patch).items():
        if k not in spec:
            raise ValueError(f"{engine}: unknown parameter {k!r}")
        v = float(v)
        lo, hi = spec[k][1], spec[k][2]
        if not lo <= v <= hi:
            raise ValueError(f"{engine}: {k}={v} outside [{lo}, {hi}]")
        p[k] = v
    return p


# ---- random patches ----------------------------------------------------------------------

def _lu(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Log-uniform: times and frequencies are perceived on a log scale."""
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _pick(rng: np.random.Generator, values: Sequence[float], p: Optional[Sequence[float]] = None) -> float:
    return float(values[int(rng.choice(len(values), p=p))])


def _random_adsr(rng: np.random.Generator, role: str) -> Dict[str, float]:
    if role == "bass":
        e = dict(attack=_lu(rng, 0.001, 0.008), decay=_lu(rng, 0.1, 0.8), sustain=rng.uniform(0.3, 0.9),
                 release=_lu(rng, 0.03, 0.15))
        mono = rng.random() < 0.8
        glide = _lu(rng, 0.02, 0.1) if rng.random() < 0.6 else 0.0
    elif role == "chords":
        e = dict(attack=_lu(rng, 0.002, 0.04), decay=_lu(rng, 0.3, 2.0), sustain=rng.uniform(0.3, 0.9),
                 release=_lu(rng, 0.1, 0.6))
        mono, glide = False, 0.0
    elif role == "arp":
        e = dict(attack=_lu(rng, 0.001, 0.01), decay=_lu(rng, 0.08, 0.5), sustain=rng.uniform(0.0, 0.4),
                 release=_lu(rng, 0.05, 0.3))
        mono, glide = False, 0.0
    elif role == "pad":
        e = dict(attack=_lu(rng, 0.15, 1.5), decay=_lu(rng, 0.5, 3.0), sustain=rng.uniform(0.6, 1.0),
                 release=_lu(rng, 0.4, 2.0))
        mono, glide = False, 0.0
    else:  # counter melody / lead line
        e = dict(attack=_lu(rng, 0.003, 0.06), decay=_lu(rng, 0.2, 1.2), sustain=rng.uniform(0.4, 0.9),
                 release=_lu(rng, 0.08, 0.4))
        mono = rng.random() < 0.4
        glide = _lu(rng, 0.02, 0.08) if rng.random() < 0.3 else 0.0
    e["mono"] = 1.0 if mono else 0.0
    e["glide"] = glide if mono else 0.0
    e["level"] = 1.0
    return {k: float(v) for k, v in e.items()}


def _random_subtractive(rng: np.random.Generator, role: str) -> Dict[str, float]:
    p = _random_adsr(rng, role)
    w_by_role = {"bass": (0.45, 0.25, 0.15, 0.15), "pad": (0.45, 0.1, 0.3, 0.15),
                 "arp": (0.35, 0.3, 0.2, 0.15), "chords": (0.4, 0.25, 0.25, 0.1), "counter": (0.4, 0.3, 0.2, 0.1)}
    w = w_by_role[role]
    n_osc = int(rng.choice(3, p={"bass": (0.5, 0.4, 0.1), "pad": (0.1, 0.4, 0.5)}.get(role, (0.3, 0.45, 0.25)))) + 1
    det = {"bass": (2.0, 8.0), "pad": (5.0, 12.0)}.get(role, (3.0, 10.0))
    p["osc1_wave"] = _pick(rng, (0, 1, 2, 3), w)
    p["osc2_wave"] = _pick(rng, (0, 1, 2, 3), w)
    p["osc3_wave"] = _pick(rng, (0, 1, 2, 3), w)
    p["osc2_level"] = rng.uniform(0.4, 1.0) if n_osc >= 2 else 0.0
    p["osc3_level"] = rng.uniform(0.3, 0.9) if n_osc >= 3 else 0.0
    p["osc2_detune"] = rng.uniform(*det)
    p["osc3_detune"] = -rng.uniform(*det)
    p["osc2_octave"] = 1.0 if rng.random() < 0.3 else 0.0
    p["pulse_width"] = rng.uniform(0.15, 0.5)
    p["pwm_depth"] = rng.uniform(0.05, 0.35) if rng.random() < 0.5 else 0.0
    p["pwm_rate"] = _lu(rng, 0.1, 4.0)
    if role == "bass":
        p["sub_level"] = rng.uniform(0.3, 0.8) if rng.random() < 0.5 else 0.0
    else:
        p["sub_level"] = rng.uniform(0.1, 0.4) if rng.random() < 0.15 else 0.0
    p["sub_wave"] = 1.0 if rng.random() < 0.3 else 0.0
    p["cutoff"] = _lu(rng, *{"bass": (150.0, 1500.0), "chords": (600.0, 6000.0), "arp": (400.0, 6000.0),
                              "pad": (300.0, 4000.0), "counter": (800.0, 8000.0)}[role])
    p["resonance"] = _lu(rng, 0.7, 6.0) if role == "bass" else _lu(rng, 0.6, 3.0)
    p["poles"] = 4.0 if rng.random() < 0.6 else 2.0
    p["env_amount"] = rng.uniform(*{"bass": (0.0, 4.0), "arp": (1.0, 5.0), "pad": (0.0, 2.0)}.get(role, (0.0, 3.0)))
    p["f_attack"] = _lu(rng, 0.1, 2.0) if role == "pad" else _lu(rng, 0.001, 0.02)
    p["f_decay"] = _lu(rng, 0.5, 4.0) if role == "pad" else _lu(rng, 0.05, 1.0)
    p["f_sustain"] = rng.uniform(0.0, 0.6)
    p["key_track"] = rng.uniform(0.3, 1.0)
    p["vel_cutoff"] = rng.uniform(0.0, 2.0)
    return p


_BELL_RATIOS = (2.41, 2.76, 3.5, 4.2, 5.4, 6.3)  # all >= 2: no partial falls below the carrier


def _random_fm(rng: np.random.Generator, role: str) -> Dict[str, float]:
    p = _random_adsr(rng, role)
    kinds = {"bass": ("bass",), "chords": ("epiano", "epiano", "brass", "bell"), "arp": ("bell", "pluck", "epiano"),
             "pad": ("soft", "epiano"), "counter": ("brass", "bell", "pluck")}[role]
    kind = kinds[int(rng.integers(len(kinds)))]
    # Algorithms 1/2 combine two modulators on one carrier: integer ratios only there, so the
    # sidebands stay harmonics of the note (a bell ratio there would put partials below it).
    p.update(algorithm=0.0, ratio_m1=1.0, ratio_m2=2.0, ratio_c2=1.0, index2=0.0, c2_level=0.0, c2_detune=0.0)
    if kind == "bass":
        p["algorithm"] = _pick(rng, (0, 1))
        p["ratio_m1"] = _pick(rng, (1, 2), (0.6, 0.4))
        p["ratio_m2"] = _pick(rng, (1, 2, 3))
        p["index1"] = rng.uniform(1.0, 5.0)
        p["index2"] = rng.uniform(0.0, 2.0)
        p["index1_decay"] = _lu(rng, 0.05, 0.4)
        p["index2_decay"] = _lu(rng, 0.05, 0.4)
        p["index_sustain"] = rng.uniform(0.0, 0.3)
    elif kind == "epiano":
        p["algorithm"] = 3.0
        p["ratio_m2"] = _pick(rng, (5, 7, 11, 14))
        p["index1"] = rng.uniform(0.8, 2.0)
        p["index2"] = rng.uniform(1.0, 4.0)
        p["index1_decay"] = _lu(rng, 0.3, 1.5)
        p["index2_decay"] = _lu(rng, 0.01, 0.08)
        p["index_sustain"] = rng.uniform(0.1, 0.4)
        p["c2_level"] = rng.uniform(0.3, 0.7)
        p["c2_detune"] = rng.uniform(-4.0, 4.0)
        p["sustain"] = min(p["sustain"], rng.uniform(0.1, 0.5))  # e-pianos die away
        p["decay"] = max(p["decay"], _lu(rng, 1.0, 3.0))
    elif kind == "bell":
        p["algorithm"] = _pick(rng, (0, 3))
        p["ratio_m1"] = _pick(rng, _BELL_RATIOS)
        p["ratio_c2"] = _pick(rng, (1, 2, 3))
        p["ratio_m2"] = _pick(rng, (1, 2, 3, 4))  # pair 2 stays harmonic (c2 >= 1, integer m2)
        p["index1"] = rng.uniform(1.0, 4.0)
        p["index2"] = rng.uniform(0.3, 2.0)
        p["index1_decay"] = _lu(rng, 0.3, 2.0)
        p["index2_decay"] = _lu(rng, 0.2, 1.0)
        p["index_sustain"] = rng.uniform(0.0, 0.3)
        p["c2_level"] = rng.uniform(0.2, 0.6) if p["algorithm"] == 3 else 0.0
        p["sustain"] = min(p["sustain"], 0.3)
    elif kind == "brass":
        p["algorithm"] = 2.0
        p["ratio_m2"] = _pick(rng, (2, 3))
        p["index1"] = rng.uniform(1.0, 3.0)
        p["index2"] = rng.uniform(0.2, 1.0)
        p["index1_decay"] = _lu(rng, 0.2, 1.0)
        p["index2_decay"] = _lu(rng, 0.2, 1.0)
        p["index_sustain"] = rng.uniform(0.4, 0.8)
    elif kind == "pluck":
        p["algorithm"] = _pick(rng, (0, 1))
        p["ratio_m1"] = _pick(rng, (1, 2, 3))
        p["ratio_m2"] = _pick(rng, (1, 2, 4))
        p["index1"] = rng.uniform(2.0, 6.0)
        p["index2"] = rng.uniform(0.0, 1.5)
        p["index1_decay"] = _lu(rng, 0.02, 0.2)
        p["index2_decay"] = _lu(rng, 0.02, 0.2)
        p["index_sustain"] = rng.uniform(0.0, 0.2)
    else:  # soft pad
        p["algorithm"] = _pick(rng, (0, 2))
        p["ratio_m1"] = _pick(rng, (1, 2))
        p["index1"] = rng.uniform(0.3, 1.5)
        p["index2"] = rng.uniform(0.0, 0.6)
        p["index1_decay"] = _lu(rng, 1.0, 4.0)
        p["index2_decay"] = _lu(rng, 1.0, 4.0)
        p["index_sustain"] = rng.uniform(0.6, 1.0)
    p["vel_index"] = rng.uniform(0.2, 0.8)
    return {k: float(v) for k, v in p.items()}


def _random_wavetable(rng: np.random.Generator, role: str) -> Dict[str, float]:
    p = _random_adsr(rng, role)
    p["table_seed"] = float(rng.integers(0, 2 ** 31 - 1))
    p["tilt_a"] = rng.uniform(0.6, 2.5)
    p["tilt_b"] = rng.uniform(0.6, 2.5)
    p["even_a"] = rng.uniform(0.0, 1.0)
    p["even_b"] = rng.uniform(0.0, 1.0)
    p["morph_start"] = rng.uniform(0.0, 1.0)
    p["morph_env"] = rng.uniform(-1.0, 1.0)
    p["morph_time"] = _lu(rng, 0.05, 3.0)
    p["lfo_rate"] = _lu(rng, 0.05, 3.0)
    p["lfo_depth"] = rng.uniform(0.05, 0.4) if rng.random() < 0.5 else 0.0
    p["unison"] = {"bass": 1.0, "pad": _pick(rng, (2, 3))}.get(role, _pick(rng, (1, 2)))
    p["unison_detune"] = rng.uniform(4.0, 15.0)
    return {k: float(v) for k, v in p.items()}


def _random_pluck(rng: np.random.Generator, role: str) -> Dict[str, float]:
    decay = {"bass": (0.6, 3.0), "chords": (1.0, 6.0), "arp": (0.5, 4.0), "pad": (3.0, 10.0), "counter": (0.8, 4.0)}
    return {
        "level": 1.0,
        "release": _lu(rng, 0.03, 0.3) if role != "pad" else _lu(rng, 0.3, 1.5),
        "mono": 1.0 if role == "bass" and rng.random() < 0.8 else 0.0,
        "string_decay": _lu(rng, *decay[role]),
        "brightness": rng.uniform(0.1, 0.6) if role == "bass" else rng.uniform(0.3, 1.0),
        "pick": rng.uniform(0.08, 0.45),
    }


_DRAWBARS = ("db16", "db5_1", "db8", "db4", "db2_2", "db2", "db1_3", "db1_1", "db1")


def _random_organ(rng: np.random.Generator, role: str) -> Dict[str, float]:
    p: Dict[str, float] = {"level": 1.0}
    p["attack"] = _lu(rng, 0.05, 0.5) if role == "pad" else _lu(rng, 0.002, 0.01)
    p["release"] = _lu(rng, 0.2, 1.0) if role == "pad" else _lu(rng, 0.03, 0.2)
    for name in _DRAWBARS:
        p[name] = float(rng.integers(1, 9)) if rng.random() < 0.5 else 0.0
    p["db8"] = float(rng.integers(4, 9))  # the 8' is always strong: it is the note's pitch
    if role == "bass":
        p["db16"] = float(rng.integers(4, 9))
        for name in ("db1_3", "db1_1", "db1"):
            p[name] = 0.0
    p["perc"] = rng.uniform(0.3, 1.0) if role in ("chords", "arp") and rng.random() < 0.4 else 0.0
    p["perc_harm"] = _pick(rng, (2, 3))
    p["perc_decay"] = _lu(rng, 0.15, 0.8)
    r = rng.random()
    p["leslie_rate"] = 0.0 if r < 0.3 else (rng.uniform(0.6, 1.0) if r < 0.7 else rng.uniform(5.5, 7.0))
    p["leslie_depth"] = rng.uniform(0.3, 1.0)
    p["drive"] = rng.uniform(0.0, 0.6) if rng.random() < 0.4 else 0.0
    return {k: float(v) for k, v in p.items()}


def _random_kit(rng: np.random.Generator, engine: str) -> Dict[str, float]:
    u, lu = rng.uniform, lambda a, b: _lu(rng, a, b)
    if engine == "analog":  # TR-808-like: long boomy kick, tonal snare, metallic hats
        p = dict(kick_pitch=u(42, 56), kick_sweep=u(2.0, 4.0), kick_sweep_time=lu(0.02, 0.06),
                 kick_decay=lu(0.35, 1.4), kick_click=u(0.0, 0.3), kick_drive=u(0.0, 0.3),
                 snare_tone=u(160, 240), snare_decay=lu(0.1, 0.3), snare_noise=u(0.3, 0.7), snare_hp=lu(600, 2000),
                 hat_noise=u(0.0, 0.35), crush_bits=0.0)
    elif engine == "electro":  # TR-909-like: punchy driven kick, noisy snare, mixed hats
        p = dict(kick_pitch=u(46, 62), kick_sweep=u(3.0, 7.0), kick_sweep_time=lu(0.008, 0.03),
                 kick_decay=lu(0.2, 0.6), kick_click=u(0.3, 0.8), kick_drive=u(0.2, 0.8),
                 snare_tone=u(180, 300), snare_decay=lu(0.12, 0.35), snare_noise=u(0.5, 0.9), snare_hp=lu(1000, 4000),
                 hat_noise=u(0.3, 0.8), crush_bits=0.0)
    else:  # lo-fi noise kit: noise everywhere, saturated, often bit-crushed
        p = dict(kick_pitch=u(40, 60), kick_sweep=u(2.0, 8.0), kick_sweep_time=lu(0.005, 0.04),
                 kick_decay=lu(0.15, 0.6), kick_click=u(0.4, 1.0), kick_drive=u(0.4, 1.0),
                 snare_tone=u(150, 350), snare_decay=lu(0.08, 0.4), snare_noise=u(0.8, 1.0), snare_hp=lu(400, 3000),
                 hat_noise=1.0, crush_bits=float(rng.integers(5, 11)) if rng.random() < 0.7 else 0.0)
    p.update(level=1.0, clap_decay=lu(0.1, 0.4), clap_freq=lu(800, 1800), hat_tune=u(0.8, 1.3),
             hat_decay=lu(0.025, 0.08), open_decay=lu(0.2, 0.8), hat_hp=u(6500, 9500), tom_pitch=u(70, 110),
             tom_decay=lu(0.2, 0.6), cymbal_decay=lu(1.0, 3.0), ride_decay=lu(0.8, 2.5), cowbell_tune=u(0.9, 1.1))
    return {k: float(v) for k, v in p.items()}


def random_patch(rng: np.random.Generator, engine: str, role: str) -> Patch:
    """A random patch of ``engine`` suited to ``role`` (bass: low, mostly mono, often gliding;
    pad: slow attack and release; arp: short; chords / counter in between; kit: drum engines
    only). Draws only from ``rng``, in a fixed order: the same generator state gives the same
    patch. Every value lies inside the ranges of :data:`PARAMS`."""
    if engine in DRUM_ENGINES:
        if role != "kit":
            raise ValueError(f"drum engine {engine!r} plays role 'kit', not {role!r}")
        return make_patch(_random_kit(rng, engine))
    if engine not in MELODIC_ENGINES:
        raise ValueError(f"unknown engine {engine!r}, expected one of {ENGINES}")
    if role not in MELODIC_ROLES:
        raise ValueError(f"melodic engine {engine!r} plays one of {MELODIC_ROLES}, not {role!r}")
    make = {"subtractive": _random_subtractive, "fm": _random_fm, "wavetable": _random_wavetable,
            "pluck": _random_pluck, "organ": _random_organ}[engine]
    return make_patch(make(rng, role))


# ---- shared building blocks --------------------------------------------------------------

_LN1000 = math.log(1000.0)  # an exponential exp(-t/tau) falls 60 dB at t = tau * ln(1000)
_EPS = 1e-3  # -60 dB: decays end here, bent to reach exactly 0 (no step, true silence after)
_FADE_S = 0.004  # fade of a note cut by the next one (mono, hi-hat choke): no click
_GLIDE_GAP_S = 0.1  # glide only from a note that ended at most this long before
_BLOCK = 32  # samples per evaluation of a filter cutoff sweep
# Notes are synthesised in chunks of this many samples (0.74 s): the working arrays stay in
# the CPU cache (whole-note arrays of 100k+ samples made numpy passes several times slower),
# yet there are few enough numpy calls per note (smaller chunks were slower again).
_CHUNK = 32768
_AR = np.arange(_CHUNK, dtype=np.float64)


def midi_hz(pitch: float) -> float:
    """Equal-tempered frequency of a MIDI note (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def _decay(n: int, tau: float) -> np.ndarray:
    """exp(-k / tau) for k = 0..n-1 (tau in samples), one multiply per sample (exp is slow):
    an outer product of per-block and within-block factors."""
    if n <= 0:
        return np.zeros(0)
    if n <= 512:
        return np.exp(-np.arange(n) / tau)
    b = 256
    outer = np.exp(-np.arange(-(-n // b)) * (b / tau))
    outer[outer < 1e-30] = 0.0  # keep denormals out of later arithmetic
    return np.multiply.outer(outer, np.exp(-np.arange(b) / tau)).ravel()[:n]


def _decay_range(a: int, b: int, tau: float) -> np.ndarray:
    """exp(-k / tau) for k = a..b-1."""
    g = math.exp(-a / tau)
    if g < 1e-30:
        return np.zeros(b - a)
    y = _decay(b - a, tau)
    y *= g
    return y


def _ramp(a: int, b: int) -> np.ndarray:
    """Sample indices a..b-1 as floats."""
    return _AR[:b - a] + a if b - a <= _CHUNK else np.arange(a, b, dtype=np.float64)


def _to_zero_range(a: int, b: int, total: int) -> np.ndarray:
    """An exponential decay that reaches -60 dB after `total` samples, minus a -60 dB linear
    ramp so that it ends exactly at 0 there (and stays 0), for samples a..b-1."""
    y = _decay_range(a, b, total / _LN1000)
    y -= _ramp(a, b) * (_EPS / total)
    y *= 1.0 / (1.0 - _EPS)
    np.maximum(y, 0.0, out=y)
    return y


def _to_zero(n: int, total: int) -> np.ndarray:
    return _to_zero_range(0, n, total)


class _Adsr:
    """Amplitude envelope, evaluated chunk by chunk: linear attack, exponential decay to the
    sustain level, exponential release from whatever level the gate ended on, reaching exactly 0
    after the release time (-60 dB just before)."""

    def __init__(self, gate: int, sr: int, a: float, d: float, s: float, r: float):
        self.na = max(1, int(round(max(a, 5e-4) * sr)))  # >= 0.5 ms: never a hard start
        self.gate, self.s = gate, s
        self.tau_d = max(d, 1e-4) * sr / _LN1000
        self.nr = max(1, int(math.ceil(r * sr)))
        na = self.na
        self.lg = gate / na if gate < na else s + (1.0 - s) * math.exp(-(gate - na) / self.tau_d)

    def __call__(self, a: int, b: int) -> np.ndarray:
        env = np.empty(b - a)
        na, g = self.na, self.gate
        lo, hi = a, min(b, na, g)  # attack
        if hi > lo:
            env[lo - a:hi - a] = _ramp(lo, hi)
            env[lo - a:hi - a] *= 1.0 / na
        lo, hi = max(a, na), min(b, g)  # decay / sustain
        if hi > lo:
            seg = _decay_range(lo - na, hi - na, self.tau_d)
            seg *= 1.0 - self.s
            seg += self.s
            env[lo - a:hi - a] = seg
        lo, hi = max(a, g), b  # release
        if hi > lo:
            seg = _to_zero_range(lo - g, hi - g, self.nr)
            seg *= self.lg
            env[lo - a:hi - a] = seg
        return env


def _adsr_at(t: np.ndarray, gate_s: float, a: float, d: float, s: float, r: float) -> np.ndarray:
    """The same envelope shape at arbitrary times t (s), for sparse control-rate curves."""
    a = max(a, 5e-4)
    tau_d, tau_r = max(d, 1e-4) / _LN1000, r / _LN1000

    def held(x):
        return np.where(x < a, x / a, s + (1.0 - s) * np.exp(-np.maximum(x - a, 0.0) / tau_d))

    lg = float(held(np.array(gate_s)))
    return np.where(t < gate_s, held(t), lg * np.exp(-np.maximum(t - gate_s, 0.0) / tau_r))


def _cycles(f: Union[float, np.ndarray], n: int, sr: int, phase0: float) -> np.ndarray:
    """Unwrapped oscillator phase in cycles for a frequency (Hz, scalar or per sample)."""
    if np.ndim(f) == 0:
        return phase0 + (float(f) / sr) * np.arange(n)
    inc = np.asarray(f) / sr
    c = np.cumsum(inc)
    c -= inc  # phase before the sample's own increment: starts exactly at phase0
    c += phase0
    return c


class _Phase:
    """Running phase (cycles, from 0) of a note, chunk by chunk: constant pitch, or a glide from
    the previous note's pitch (exponential in semitones, ~95 % there after `glide` s)."""

    def __init__(self, f0: float, sr: int, glide_semis: float = 0.0, glide_s: float = 0.0):
        self.f0, self.sr = f0, sr
        self.semis, self.tau = glide_semis, glide_s * sr / 3.0
        self.acc = 0.0

    @property
    def gliding(self) -> bool:
        return self.semis != 0.0 and self.tau > 0

    def fmax(self) -> float:
        return self.f0 * 2.0 ** (max(self.semis, 0.0) / 12.0)

    def __call__(self, a: int, b: int) -> Tuple[np.ndarray, Union[float, np.ndarray]]:
        """Cycles and per-sample increments (cycles) for samples a..b-1 (call in order)."""
        if not self.gliding:
            dt = self.f0 / self.sr
            c = _ramp(a, b)
            c *= dt
            return c, dt
        dt = _decay_range(a, b, self.tau)
        dt *= self.semis / 12.0
        np.exp2(dt, out=dt)
        dt *= self.f0 / self.sr
        c = np.cumsum(dt)
        c += self.acc - dt
        self.acc = float(c[-1] + dt[-1])
        return c, dt


def _wrap(c: np.ndarray) -> np.ndarray:
    """Phase in cycles wrapped to [0, 1) (into a new array)."""
    f = np.floor(c)
    np.subtract(c, f, out=f)
    return f


_TWO_PI_32 = np.float32(2.0 * np.pi)


def _sin_cycles(c: np.ndarray) -> np.ndarray:
    """sin(2 pi c) for a phase in cycles. The phase is reduced in float64 and only the sine is
    evaluated in float32 (SIMD, ~10x faster than float64; error ~1e-7, far below the float32
    output's own resolution)."""
    t = _wrap(c).astype(np.float32)
    t *= _TWO_PI_32
    return np.sin(t, out=t).astype(np.float64)


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit-variance white noise. Uniform rather than Gaussian: spectrally the same, and much
    cheaper to draw."""
    y = rng.random(n)
    y -= 0.5
    y *= math.sqrt(12.0)
    return y


def _edge(y: np.ndarray, t: np.ndarray, dt: Union[float, np.ndarray], h: float, ramp: bool = False) -> None:
    """Band-limit a discontinuity where the phase t (wrapped, cycles) wraps, dt being the phase
    increment per sample: PolyBLEP for a step of -2h, or (ramp) PolyBLAMP for a change of slope
    scaled by h. Only the two samples around each wrap change, found by one comparison each."""
    for after in (True, False):
        idx = np.flatnonzero(t < dt) if after else np.flatnonzero(t > 1.0 - dt)
        d = dt if isinstance(dt, float) else dt[idx]
        x = t[idx] / d if after else (t[idx] - 1.0) / d
        if ramp:
            x = x - 1.0 if after else x + 1.0
            y[idx] += (-h if after else h) * d * (x * x * x) / 3.0
        elif after:
            y[idx] -= h * (x + x - x * x - 1.0)
        else:
            y[idx] -= h * (x * x + x + x + 1.0)


def _oscillator(wave: int, c: np.ndarray, dt: Union[float, np.ndarray],
                pw: Union[float, np.ndarray] = 0.5) -> np.ndarray:
    """Band-limited oscillator on a phase c (cycles; consumed) advancing dt cycles per sample:
    0 saw, 1 square, 2 pulse of width pw (DC removed), 3 triangle."""
    if not isinstance(dt, np.ndarray):
        dt = float(dt)
    if wave == 3:
        c += 0.25
        t = _wrap(c)  # wraps at the trough
        y = t - 0.5
        np.abs(y, out=y)
        y *= -4.0
        y += 1.0
        _edge(y, t, dt, 4.0, ramp=True)
        t += 0.5
        _edge(y, _wrap(t), dt, -4.0, ramp=True)  # the peak
        return y
    t = _wrap(c)
    if wave == 0:
        y = t * 2.0
        y -= 1.0
        _edge(y, t, dt, 1.0)
    elif wave == 1:
        y = np.where(t < 0.5, 1.0, -1.0)
        _edge(y, t, dt, -1.0)
        t += 0.5
        _edge(y, _wrap(t), dt, 1.0)
    else:
        y = np.where(t < pw, 1.0, -1.0)
        y -= 2.0 * np.asarray(pw) - 1.0
        _edge(y, t, dt, -1.0)
        t -= pw
        _edge(y, _wrap(t), dt, 1.0)
    return y


def _biquad(kind: str, fc: float, q: float, sr: int) -> Tuple[np.ndarray, np.ndarray]:
    """RBJ cookbook low-pass / high-pass / band-pass (constant peak gain) coefficients."""
    w = 2.0 * math.pi * min(max(fc, 10.0), 0.45 * sr) / sr
    cw, al = math.cos(w), math.sin(w) / (2.0 * q)
    if kind == "lp":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
    elif kind == "hp":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
    else:
        b = [al, 0.0, -al]
    a0 = 1.0 + al
    return np.array(b) / a0, np.array([1.0, -2.0 * cw / a0, (1.0 - al) / a0])


def _filt(kind: str, x: np.ndarray, fc: float, sr: int, q: float = 0.707, stages: int = 1) -> np.ndarray:
    for _ in range(stages):
        b, a = _biquad(kind, fc, q, sr)
        x = scipy.signal.lfilter(b, a, x)
    return x


class _SweepLowpass:
    """Resonant low-pass (2 or 4 poles) whose cutoff moves, given per block of _BLOCK samples
    (log2 Hz); fed chunk by chunk. Coefficients change only when the cutoff has moved by a step
    on a fixed grid (1/24 octave; a multiple of it for very large sweeps, so that a note needs
    at most ~32 coefficient sets); the filter state carries over, so a held cutoff costs one
    lfilter call per chunk and a sweep has no audible zipper. Coefficients are cached per part
    (notes share grid points)."""

    def __init__(self, log2_fc: np.ndarray, sr: int, q: float, poles: int, n: int, cache: dict):
        lc = np.clip(log2_fc, math.log2(30.0), math.log2(0.45 * sr))
        tv = float(np.abs(np.diff(lc)).sum()) if len(lc) > 1 else 0.0
        step = math.ceil(tv / 32.0 * 24.0) if tv > 32.0 / 24.0 else 1  # in 1/24 octave
        qz = np.round(lc * (24.0 / step)).astype(np.int64) * step
        starts = np.concatenate(([0], np.flatnonzero(np.diff(qz)) + 1))
        self.bounds = [int(s) * _BLOCK for s in starts] + [n]
        self.coefs = []
        for blk in starts:
            key = ("lp", int(qz[blk]), q, poles)
            if key not in cache:
                fc = 2.0 ** (qz[blk] / 24.0)
                b, a = _biquad("lp", fc, q, sr)
                if poles >= 4:  # both sections as one 4th-order call (accurate in float64 down to 30 Hz)
                    b2, a2 = _biquad("lp", fc, 0.54, sr)
                    b, a = np.convolve(b, b2), np.convolve(a, a2)
                cache[key] = (b, a)
            self.coefs.append(cache[key])
        self.zi = np.zeros(4 if poles >= 4 else 2)
        self.g = 0

    def __call__(self, x: np.ndarray, a: int) -> np.ndarray:
        y = np.empty_like(x)
        pos, end = a, a + len(x)
        while pos < end:
            while self.bounds[self.g + 1] <= pos:
                self.g += 1
            e = min(end, self.bounds[self.g + 1])
            b, aa = self.coefs[self.g]
            y[pos - a:e - a], self.zi = scipy.signal.lfilter(b, aa, x[pos - a:e - a], zi=self.zi)
            pos = e
        return y


def _table_read(flat: np.ndarray, width: int, row: int, t: np.ndarray) -> np.ndarray:
    """Linear-interpolated read of one row of a (rows, width) table (last column = first
    column), flattened; t is the wrapped phase in cycles."""
    x = t * (width - 1)
    i = x.astype(np.intp)
    fr = x
    fr -= i
    if row:
        i += row * width
    y = flat[i]
    i += 1
    y1 = flat[i]
    y1 -= y
    y1 *= fr
    y1 += y
    return y1


def _table_morph(flat: np.ndarray, width: int, base: np.ndarray, w: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Read rows r and r+1 of the flattened table (base = r * width per sample), linearly
    interpolated in phase t, and crossfade them by w: one index computation, four gathers."""
    x = t * (width - 1)
    i = x.astype(np.intp)
    fr = x
    fr -= i
    i += base
    y0 = flat[i]
    i += 1
    a = flat[i]
    a -= y0
    a *= fr
    a += y0  # row r
    i += width
    b = flat[i]
    i -= 1
    y1 = flat[i]
    b -= y1
    b *= fr
    b += y1  # row r + 1
    b -= a
    b *= w
    b += a
    return b


# ---- note scheduling ---------------------------------------------------------------------

class _Event(NamedTuple):
    onset: int  # absolute sample of the note start (may be negative)
    gate: int  # samples the key is held (cut by the next note in mono mode)
    n: int  # samples to synthesise: gate + release tail, clipped to the part end
    pitch: int
    prev_pitch: float  # glide source (MIDI) or NaN
    vel: float  # 0..1
    rank: int  # index of the note in start order: seeds its randomness
    fade: int  # samples faded out at the end (mono cut), 0 = none
    full: int  # n before the part end cut it: control curves depend on this, never on n, so a
    #            shorter part renders an exact prefix of a longer one


def _sorted_notes(notes: Iterable[NoteLike]) -> List[Tuple[float, int, float, int]]:
    # A total order on the note values, so the output does not depend on the input order.
    return sorted((float(n.start), int(n.pitch), float(n.dur), int(n.vel)) for n in notes)


def _schedule(notes: Iterable[NoteLike], beat_seconds: float, sr: int, length: int, tail_s: float,
              mono: bool) -> List[_Event]:
    items = _sorted_notes(notes)
    onsets = [int(round(st * beat_seconds * sr)) for st, _, _, _ in items]
    ranks = list(range(len(items)))
    if mono:  # one note per onset: the highest (items are sorted by pitch within an onset)
        keep = [k for k in range(len(items)) if k + 1 == len(items) or onsets[k + 1] != onsets[k]]
        items, onsets, ranks = [items[k] for k in keep], [onsets[k] for k in keep], [ranks[k] for k in keep]
    tail = int(math.ceil(tail_s * sr))
    fade = int(round(_FADE_S * sr))
    events = []
    prev_end, prev_pitch = None, float("nan")
    for k, (st, pitch, dur, vel) in enumerate(items):
        onset = onsets[k]
        held = max(1, int(round(dur * beat_seconds * sr)))
        gate, n, fd = held, held + tail, 0
        if mono and k + 1 < len(items) and onsets[k + 1] - onset < n:  # cut by the next note
            gap = onsets[k + 1] - onset
            gate, n, fd = min(gate, gap), gap + fade, fade
        glide_from = float("nan")
        if mono and prev_end is not None and onset - prev_end <= _GLIDE_GAP_S * sr:
            glide_from = prev_pitch
        prev_end, prev_pitch = onset + held, float(pitch)
        full = n
        if n > length - onset:  # the part end comes first: plain cut, no fade
            n, fd = length - onset, 0
        if n <= 0 or onset + n <= 0:
            continue
        events.append(_Event(onset, gate, n, pitch, glide_from, max(1, min(127, vel)) / 127.0, ranks[k], fd, full))
    return events


def _note_rng(seed: int, rank: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) % (1 << 64), rank])


def _overlap_add(out: np.ndarray, onset: int, y: np.ndarray) -> None:
    a, b = max(onset, 0), min(onset + len(y), len(out))
    if b > a:
        out[a:b] += y[a - onset:b - onset]


def _phase(ev: _Event, sr: int, glide: float) -> _Phase:
    f = midi_hz(ev.pitch)
    if glide <= 0.0 or math.isnan(ev.prev_pitch) or ev.prev_pitch == ev.pitch:
        return _Phase(f, sr)
    return _Phase(f, sr, ev.prev_pitch - ev.pitch, glide)


def _vel_gain(vel: float) -> float:
    return vel ** 1.5


def _chunks(n: int):
    for a in range(0, n, _CHUNK):
        yield a, min(n, a + _CHUNK)


# ---- melodic engines ---------------------------------------------------------------------

def _lfo(cache: dict, rate: float, start: int, n: int, sr: int, cos: bool = False) -> np.ndarray:
    """A sine LFO in absolute time (free-running across notes, like a synth's global LFO):
    computed once per part and sliced, so a note pays no sine evaluation for it."""
    if start < 0:  # a note starting before the part (never cached: rare)
        return _sin_cycles((rate / sr) * np.arange(start, start + n) + (0.25 if cos else 0.0))
    key = ("lfo", rate, cos)
    if key not in cache:
        cache[key] = _sin_cycles((rate / sr) * np.arange(cache["length"] + 1) + (0.25 if cos else 0.0))
    return cache[key][start:start + n]


def _v_subtractive(p: Dict[str, float], ev: _Event, sr: int, rng: np.random.Generator, cache: dict) -> np.ndarray:
    n, gate = ev.n, ev.gate
    ph = _phase(ev, sr, p["glide"])
    oscs = []
    for lvl, wave, det, octv in ((1.0, p["osc1_wave"], 0.0, 0.0),
                                 (p["osc2_level"], p["osc2_wave"], p["osc2_detune"], p["osc2_octave"]),
                                 (p["osc3_level"], p["osc3_wave"], p["osc3_detune"], 0.0)):
        if lvl > 0:
            oscs.append((lvl, int(round(wave)), 2.0 ** (round(octv) + det / 1200.0), float(rng.random())))
    sub_phase = float(rng.random()) if p["sub_level"] > 0 else 0.0
    total = sum(o[0] for o in oscs) + p["sub_level"]
    pwm = p["pwm_depth"] > 0 and any(o[1] == 2 for o in oscs)
    # Cutoff at control rate: base, key tracking, velocity, filter envelope (octaves).
    tb = np.arange(0, ev.full, _BLOCK) / sr
    fenv = _adsr_at(tb, gate / sr, p["f_attack"], p["f_decay"], p["f_sustain"], p["release"])
    lc = (math.log2(p["cutoff"]) + p["key_track"] * math.log2(midi_hz(ev.pitch) / midi_hz(60))
          + p["vel_cutoff"] * (ev.vel - 0.75) + p["env_amount"] * fenv)
    filt = _SweepLowpass(lc, sr, p["resonance"], int(round(p["poles"])), ev.full, cache)
    env = _Adsr(gate, sr, p["attack"], p["decay"], p["sustain"], p["release"])
    gain = p["level"] * _vel_gain(ev.vel) / total
    out = np.empty(n)
    for a, b in _chunks(n):
        c, dt = ph(a, b)
        pw: Union[float, np.ndarray] = p["pulse_width"]
        if pwm:
            pw = np.clip(p["pulse_width"] + p["pwm_depth"] * _lfo(cache, p["pwm_rate"], ev.onset + a, b - a, sr),
                         0.05, 0.95)
        sig = np.zeros(b - a)
        for lvl, wave, ratio, phase0 in oscs:
            o = _oscillator(wave, c * ratio + phase0, dt * ratio, pw)
            o *= lvl
            sig += o
        if p["sub_level"] > 0:
            cs = c * 0.5 + sub_phase
            sub = _oscillator(1, cs, dt * 0.5) if p["sub_wave"] >= 0.5 else _sin_cycles(cs)
            sub *= p["sub_level"]
            sig += sub
        y = filt(sig, a)
        y *= env(a, b)
        y *= gain
        out[a:b] = y
    return out


def _v_fm(p: Dict[str, float], ev: _Event, sr: int, rng: np.random.Generator, cache: dict) -> np.ndarray:
    n, gate = ev.n, ev.gate
    ph = _phase(ev, sr, p["glide"])  # zero start phase: the 0 Hz sideband (sin 0) carries no DC
    alg = int(round(p["algorithm"]))
    m1, m2, c2 = p["ratio_m1"], p["ratio_m2"], p["ratio_c2"]
    vi = 1.0 - p["vel_index"] * (1.0 - ev.vel)
    i1, i2 = p["index1"] * vi, p["index2"] * vi
    # Keep the sidebands below Nyquist (Carson: a carrier c modulated with bandwidth B reaches
    # about c + (I + 1) B): a too-bright high note is made duller instead of aliasing.
    nyq = 0.45 * sr / ph.fmax()
    if alg == 1:
        i2 = min(i2, max(0.0, (nyq - 1.0 - m1) / m2 - 1.0))
        i1 = min(i1, max(0.0, (nyq - 1.0) / (m1 + (i2 + 1.0) * m2) - 1.0))
    elif alg == 2:
        band = (i1 + 1.0) * m1 + (i2 + 1.0) * m2
        if band > nyq - 1.0:
            scale = max(0.0, (nyq - 1.0) / band)
            i1, i2 = i1 * scale, i2 * scale
    else:
        i1 = min(i1, max(0.0, (nyq - 1.0) / m1 - 1.0))
        i2 = min(i2, max(0.0, (nyq - c2) / m2 - 1.0))
    s = p["index_sustain"]
    det2 = 2.0 ** (p["c2_detune"] / 1200.0)
    pair2 = alg == 3 and p["c2_level"] > 0

    def index(peak: float, tau: float, a: int, b: int) -> Optional[np.ndarray]:
        # Modulation depth in cycles (radians / 2 pi), decaying to its sustain fraction.
        if peak <= 0:
            return None
        e = _decay_range(a, b, tau * sr)
        e *= (1.0 - s) * peak / (2 * np.pi)
        e += s * peak / (2 * np.pi)
        return e

    def op(cyc: np.ndarray, *mods: Tuple[Optional[np.ndarray], Optional[np.ndarray]]) -> np.ndarray:
        """An operator at phase cyc (consumed), phase-modulated by depth * modulator pairs."""
        for depth, mod in mods:
            if depth is not None:
                mod *= depth
                cyc += mod
        return _sin_cycles(cyc)

    env = _Adsr(gate, sr, p["attack"], p["decay"], p["sustain"], p["release"])
    gain = p["level"] * _vel_gain(ev.vel) / (1.0 + (p["c2_level"] if pair2 else 0.0))
    out = np.empty(n)
    for a, b in _chunks(n):
        c, _ = ph(a, b)
        e1, e2 = index(i1, p["index1_decay"], a, b), index(i2, p["index2_decay"], a, b)
        if alg == 0:  # M1 > C
            y = op(c.copy(), (e1, op(m1 * c)))
        elif alg == 1:  # M2 > M1 > C
            y = op(c.copy(), (e1, op(m1 * c, (e2, op(m2 * c)))))
        elif alg == 2:  # (M1 + M2) > C
            y = op(c.copy(), (e1, op(m1 * c)), (e2, op(m2 * c)))
        else:  # M1 > C, M2 > C2 (C2 slightly detuned: the e-piano's beating)
            y = op(c.copy(), (e1, op(m1 * c)))
            if pair2:
                cc = c * det2
                y2 = op(c2 * cc, (e2, op(m2 * cc)))
                y2 *= p["c2_level"]
                y += y2
        y *= env(a, b)
        y *= gain
        out[a:b] = y
    return out


_WT_SIZE = 2048  # samples per single-cycle table
_WT_HARM = 64  # harmonics per table (fewer where they would pass Nyquist)


def _wavetables(p: Dict[str, float], n_harm: int, cache: dict) -> np.ndarray:
    """Four band-limited single-cycle tables (rows, flattened, each _WT_SIZE + 1 wide). Spectra:
    power law k^-tilt with per-harmonic jitter in [0.5, 1] and even-harmonic gain, so there is
    no formant-like bump; harmonic 1 is the strongest and the phases are shared by the tables, so
    morphing never cancels the fundamental."""
    h = max(1, min(n_harm, _WT_HARM))
    key = ("wt", h)
    if key not in cache:
        g = np.random.default_rng(int(p["table_seed"]))
        k = np.arange(1, _WT_HARM + 1)
        jitter = g.uniform(0.5, 1.0, (4, _WT_HARM))
        jitter[:, 0] = 1.0
        phases = g.uniform(0.0, 2 * np.pi, _WT_HARM)
        w = np.arange(4)[:, None] / 3.0
        tilt = p["tilt_a"] + (p["tilt_b"] - p["tilt_a"]) * w
        even = p["even_a"] + (p["even_b"] - p["even_a"]) * w
        amp = k[None, :] ** -tilt * jitter * np.where(k % 2 == 0, even, 1.0)
        amp /= np.sqrt((amp ** 2).sum(axis=1, keepdims=True) / 2.0)  # equal RMS: morphing keeps loudness
        spec = np.zeros((4, _WT_SIZE // 2 + 1), complex)
        spec[:, 1:h + 1] = amp[:, :h] * np.exp(1j * (phases[:h] - np.pi / 2)) * (_WT_SIZE / 2)
        tab = np.fft.irfft(spec, _WT_SIZE, axis=1)
        cache[key] = np.concatenate([tab, tab[:, :1]], axis=1).ravel()
    return cache[key]


def _v_wavetable(p: Dict[str, float], ev: _Event, sr: int, rng: np.random.Generator, cache: dict) -> np.ndarray:
    n, gate = ev.n, ev.gate
    ph = _phase(ev, sr, p["glide"])
    voices = int(round(p["unison"]))
    det = p["unison_detune"]
    cents = [0.0] if voices == 1 else ([-det / 2, det / 2] if voices == 2 else [-det, 0.0, det])
    unison = [(2.0 ** (cent / 1200.0), float(rng.random())) for cent in cents]
    fmax = ph.fmax() * 2.0 ** (max(cents) / 1200.0)
    flat = _wavetables(p, int(0.45 * sr / fmax), cache)
    width = _WT_SIZE + 1
    env = _Adsr(gate, sr, p["attack"], p["decay"], p["sustain"], p["release"])
    gain = p["level"] * _vel_gain(ev.vel) / math.sqrt(voices)
    tau = p["morph_time"] * sr
    out = np.empty(n)
    for a, b in _chunks(n):
        c, _ = ph(a, b)
        # Table position: start + envelope move + LFO, in [0, 3] across the 4 tables.
        pos = _decay_range(a, b, tau)
        pos *= -p["morph_env"]
        pos += p["morph_start"] + p["morph_env"]
        if p["lfo_depth"] > 0:
            pos += p["lfo_depth"] * _lfo(cache, p["lfo_rate"], ev.onset + a, b - a, sr)
        np.clip(pos, 0.0, 1.0, out=pos)
        pos *= 3.0
        row = np.minimum(pos.astype(np.intp), 2)
        w = pos
        w -= row
        row *= width
        y = np.zeros(b - a)
        for ratio, phase0 in unison:
            cu = c * ratio
            cu += phase0
            y += _table_morph(flat, width, row, w, _wrap(cu))
        y *= env(a, b)
        y *= gain
        out[a:b] = y
    return out


def _lagrange3(d: float) -> np.ndarray:
    """Third-order Lagrange fractional delay (4 taps, delay d in [1, 2]): flat enough that the
    damping of the string does not depend on the note's fractional period."""
    return np.array([-(d - 1) * (d - 2) * (d - 3) / 6, d * (d - 2) * (d - 3) / 2,
                     -d * (d - 1) * (d - 3) / 2, d * (d - 1) * (d - 2) / 6])


def _response(c: np.ndarray, w: float) -> complex:
    return complex(np.dot(c, np.exp(-1j * w * np.arange(len(c)))))


def _string_loop(period: float, s: float) -> Tuple[int, np.ndarray]:
    """Integer delay N and the unit-DC-gain loop FIR (taps for delays N, N+1, ...) of a string
    whose total loop delay at the fundamental is exactly `period` samples: a 2-tap damping
    low-pass [1-s, s] times a Lagrange fractional delay, refined by a few fixed-point steps
    because the phase delay of both filters depends (slightly) on frequency."""
    w = 2 * np.pi / period
    lp = np.array([1.0 - s, s])
    n_int = max(2, int(math.floor(period - s - 1.0)))  # leaves d in [1, 2): Lagrange at its best
    d = period - n_int - s
    for _ in range(4):
        c = np.convolve(lp, _lagrange3(d))
        d += period - n_int + np.angle(_response(c, w)) / w
    return n_int, np.convolve(lp, _lagrange3(d))


def _comb(x: np.ndarray, delay: int, c: np.ndarray, n: int) -> np.ndarray:
    """y[k] = x[k] + sum_j c[j] y[k - delay - j] for k < n (the Karplus-Strong recursion).

    Short delays: one scipy.signal.lfilter call on the comb (its cost grows with the delay).
    Long delays: vectorised blocks of one period, then, once the excitation has passed, blocks of
    m periods using the exact identity y = (z^-delay C)^m y (an FIR of C^m on the output m
    periods back), so a low note costs a few dozen numpy calls instead of a per-sample loop."""
    taps = len(c)
    xl = min(len(x), n)
    if delay < 48:
        a = np.zeros(delay + taps)
        a[0] = 1.0
        a[delay:] = -c
        xx = np.zeros(n)
        xx[:xl] = x[:xl]
        return scipy.signal.lfilter([1.0], a, xx)
    m = max(1, min(12, int(round(math.sqrt(4000.0 / delay)))))
    h = c
    for _ in range(m - 1):
        h = np.convolve(h, c)
    pad = m * delay + len(h)
    y = np.zeros(pad + n)
    y[pad:pad + xl] = x[:xl]
    switch = xl + (m - 1) * delay + len(h) - 1  # from here on the excitation terms are zero
    k = 0
    while k < n and k < switch:
        e = min(k + delay, n)
        seg = y[pad + k - delay - taps + 1:pad + e - delay]
        y[pad + k:pad + e] += np.convolve(seg, c, "valid")
        k = e
    big = m * delay
    while k < n:
        e = min(k + big, n)
        seg = y[pad + k - big - len(h) + 1:pad + e - big]
        y[pad + k:pad + e] = np.convolve(seg, h, "valid")
        k = e
    return y[pad:]


def _v_pluck(p: Dict[str, float], ev: _Event, sr: int, rng: np.random.Generator, cache: dict) -> np.ndarray:
    f = midi_hz(ev.pitch)
    period = max(sr / f, 6.0)  # the loop needs a few samples; notes above ~7 kHz go flat
    f = sr / period
    bright = min(1.0, p["brightness"] * (0.6 + 0.4 * ev.vel))  # softer plucks are darker
    s = 0.02 + 0.48 * (1.0 - bright)
    key = ("string", round(period, 9), s)
    if key not in cache:
        w0 = 2 * np.pi / period
        t60 = p["string_decay"] * math.sqrt(midi_hz(60) / f)  # higher strings ring shorter
        want = 10.0 ** (-3.0 / (t60 * f))  # loop gain per period at the fundamental
        delay, c = _string_loop(period, s)
        mag = abs(_response(c, w0))
        if mag * 0.99995 < want:
            # High notes: the damping low-pass alone would kill the fundamental faster than
            # asked (Karplus-Strong's short high notes): lighten it until it just allows it.
            hs = math.sqrt(1.0 - 2.0 * s * (1.0 - s) * (1.0 - math.cos(w0)))  # |[1-s, s]| at w0
            target = min(1.0, want / (0.99995 * mag / hs))
            x = (1.0 - target * target) / (2.0 * (1.0 - math.cos(w0)))  # s (1 - s) that gives it
            s = min(s, (1.0 - math.sqrt(1.0 - 4.0 * x)) / 2.0 if x < 0.25 else s)
            delay, c = _string_loop(period, s)
            mag = abs(_response(c, w0))
        g = min(want / mag, 0.99995 / np.abs(np.fft.rfft(c, 256)).max())  # < 1 at every frequency
        c = g * c
        t60 = 3.0 / (f * -math.log10(g * mag))  # what the loop actually gives
        cache[key] = (delay, c, t60)
    delay, c, t60 = cache[key]
    natural = int(math.ceil(t60 * sr))  # the string is at -60 dB here
    n = min(ev.n, natural)
    # Excitation: one period of low-passed noise with a pick-position comb (a string plucked at
    # fraction b of its length lacks the harmonics that have a node there).
    exc = _noise(rng, delay)
    a = 0.9 * (1.0 - bright)
    exc = scipy.signal.lfilter([1.0 - a], [1.0, -a], exc)
    mp = max(1, int(round(p["pick"] * delay)))
    exc = np.concatenate([exc, np.zeros(mp)])
    exc[mp:] -= exc[:-mp].copy()
    exc /= math.sqrt(np.mean(exc ** 2)) + 1e-12
    y = _comb(exc, delay, c, n)
    if n > ev.gate:  # key released: the string is damped
        y[ev.gate:] *= _to_zero(n - ev.gate, max(1, int(math.ceil(p["release"] * sr))))
    if n == natural < ev.full:  # the string itself has died away: fade the last few ms to 0
        k = min(n, int(_FADE_S * sr))
        y[n - k:] *= np.linspace(1.0, 0.0, k)
    y *= 0.3 * p["level"] * _vel_gain(ev.vel)
    return y


# Drawbar pitches in units of half the note frequency (the 16' is the lowest partial).
_DRAWBAR_HARM = (1, 3, 2, 4, 6, 8, 10, 12, 16)
_ORGAN_SIZE = 2048


def _organ_tables(p: Dict[str, float], n_harm: int, cache: dict) -> np.ndarray:
    """Main drawbar mix and the percussion sine, one cycle of half the note frequency each."""
    key = ("organ", min(n_harm, 16))
    if key not in cache:
        spec = np.zeros((2, _ORGAN_SIZE // 2 + 1), complex)
        total = 0.0
        for name, h in zip(_DRAWBARS, _DRAWBAR_HARM):
            if p[name] > 0 and h <= n_harm:
                amp = 10.0 ** ((p[name] - 8.0) * 3.0 / 20.0)  # 3 dB per drawbar step
                spec[0, h] = -1j * amp * (_ORGAN_SIZE / 2)
                total += amp
        ph = int(round(p["perc_harm"])) * 2
        if ph <= n_harm:
            spec[1, ph] = -1j * (_ORGAN_SIZE / 2)
        tab = np.fft.irfft(spec, _ORGAN_SIZE, axis=1)
        tab[0] /= max(total, 1e-9)
        cache[key] = np.concatenate([tab, tab[:, :1]], axis=1).ravel()
    return cache[key]


def _v_organ(p: Dict[str, float], ev: _Event, sr: int, rng: np.random.Generator, cache: dict) -> np.ndarray:
    n, gate = ev.n, ev.gate
    half = 0.5 * midi_hz(ev.pitch)
    flat = _organ_tables(p, int(0.45 * sr / half), cache)
    width = _ORGAN_SIZE + 1
    phase0 = float(rng.random())
    rotor = p["leslie_rate"] > 0 and p["leslie_depth"] > 0
    env = _Adsr(gate, sr, p["attack"], 1.0, 1.0, p["release"])
    gain = p["level"] * _vel_gain(ev.vel)
    perc_total = max(1, int(p["perc_decay"] * sr))
    drive = 1.0 + 4.0 * p["drive"]
    out = np.empty(n)
    for a, b in _chunks(n):
        cyc = _ramp(a, b)
        cyc *= half / sr
        cyc += phase0
        if rotor:
            # Rotating horn (absolute time): its distance changes, a delay of up to 80 us
            # (Doppler wobble of a few cents), and its direction, an amplitude change in quadrature.
            cyc -= (half * 8e-5 * p["leslie_depth"]) * _lfo(cache, p["leslie_rate"], ev.onset + a, b - a, sr)
        t = _wrap(cyc)
        y = _table_read(flat, width, 0, t)
        if p["perc"] > 0 and a < perc_total:
            perc = _table_read(flat, width, 1, t)
            perc *= _to_zero_range(a, b, perc_total)
            perc *= p["perc"]
            y += perc
        if p["drive"] > 0:
            y = np.tanh(drive * y) / math.tanh(drive)
        if rotor:
            y *= 1.0 + 0.3 * p["leslie_depth"] * _lfo(cache, p["leslie_rate"], ev.onset + a, b - a, sr, cos=True)
        y *= env(a, b)
        y *= gain
        out[a:b] = y
    return out


_VOICES: Dict[str, Callable[..., np.ndarray]] = {
    "subtractive": _v_subtractive, "fm": _v_fm, "wavetable": _v_wavetable, "pluck": _v_pluck, "organ": _v_organ,
}


# ---- drums -------------------------------------------------------------------------------

GM_DRUMS: Dict[int, str] = {
    35: "kick", 36: "kick", 37: "rim", 38: "snare", 39: "clap", 40: "snare",
    41: "tom", 43: "tom", 45: "tom", 47: "tom", 48: "tom", 50: "tom",
    42: "closed_hat", 44: "pedal_hat", 46: "open_hat",
    49: "crash", 52: "crash", 55: "crash", 57: "crash", 51: "ride", 59: "ride", 53: "ride_bell",
    54: "tambourine", 56: "cowbell", 58: "shaker", 69: "shaker", 70: "shaker", 82: "shaker",
}
_TOM_STEP = {41: 0, 43: 1, 45: 2, 47: 3, 48: 4, 50: 5}
_HATS = ("closed_hat", "pedal_hat", "open_hat")
_METAL_HZ = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)  # the TR-808's six square oscillators


def drum_voice(pitch: int) -> str:
    """The drum voice that plays a General-MIDI percussion note (unlisted notes: "rim" below 35,
    a short pitched "perc" above)."""
    return GM_DRUMS.get(int(pitch), "rim" if pitch < 35 else "perc")


def _metal(freqs: Sequence[float], n: int, sr: int) -> np.ndarray:
    y = np.zeros(n)
    for fq in freqs:
        y += _oscillator(1, _cycles(fq, n, sr, 0.0), fq / sr)
    return y / len(freqs)


def _tone(f0: float, sweep: float, sweep_tau: float, n: int, sr: int) -> np.ndarray:
    """Sine whose frequency falls from f0*sweep to f0 with time constant sweep_tau (s)."""
    f = _decay(n, sweep_tau * sr)
    f *= f0 * (sweep - 1.0)
    f += f0
    return _sin_cycles(_cycles(f, n, sr, 0.0))


def _len(sec: float, sr: int) -> int:
    return max(16, int(math.ceil(sec * sr)))


def _env(n: int, t60: float, sr: int) -> np.ndarray:
    """Exponential decay reaching -60 dB, then exactly 0, after t60 s (n samples of it)."""
    return _to_zero(n, _len(t60, sr))


def _cached(cache: dict, key, make: Callable[[], np.ndarray]) -> np.ndarray:
    # Deterministic (noise-free) parts of a voice are the same on every hit: computed once.
    if key not in cache:
        cache[key] = make()
    return cache[key]


_BANKS = ("hat", "crash", "ride", "snare", "clap", "tambourine", "shaker")


def _noise_slice(cache: dict, bank: str, n: int, sr: int, rng: np.random.Generator,
                 make: Callable[[np.random.Generator, int], np.ndarray]) -> np.ndarray:
    """n samples of a voice's filtered noise. Filtering fresh noise on every hit (hundreds of
    ride and hat hits of up to seconds each) dominated the drum cost, so each voice filters one
    long noise bank per part (seeded by the part seed) and every hit takes its own randomly
    placed slice of it (placed by the hit's generator): the same determinism, the same
    per-hit variation."""
    key = ("bank", bank)
    if key not in cache:
        total = max(4 * sr, 3 * cache["bank_n"][bank]) + sr // 10
        g = np.random.default_rng([int(cache["seed"]) % (1 << 64), 1 << 32, _BANKS.index(bank)])
        cache[key] = make(g, total)[sr // 10:]  # without the filters' start transient
    b = cache[key]
    off = int(rng.integers(0, len(b) - n + 1))
    return b[off:off + n]


def _bank_lengths(p: Dict[str, float], sr: int) -> Dict[str, int]:
    """The longest slice each noise bank serves (a function of the patch only)."""
    return {"hat": _len(max(p["open_decay"], p["hat_decay"]), sr), "crash": _len(p["cymbal_decay"], sr),
            "ride": _len(p["ride_decay"], sr), "snare": _len(max(p["snare_decay"], 0.1), sr),
            "clap": _len(0.04 + p["clap_decay"], sr), "tambourine": _len(0.25, sr), "shaker": _len(0.1, sr)}


def _drum_hit(engine: str, p: Dict[str, float], pitch: int, vel: float, sr: int,
              rng: np.random.Generator, cache: dict) -> np.ndarray:
    """One hit (velocity 0..1), as long as the voice rings (to its -60 dB point, then 0)."""
    voice = drum_voice(pitch)
    noisy = engine == "noise"
    if voice == "kick":
        n = _len(p["kick_decay"], sr)
        body = _cached(cache, "kick", lambda: _tone(p["kick_pitch"], p["kick_sweep"], p["kick_sweep_time"], n, sr)
                       * _env(n, p["kick_decay"], sr))
        y = body.copy()
        nc = _len(0.006 if noisy else 0.003, sr)
        if engine == "electro":  # a short bright blip rather than noise
            click = _sin_cycles((3000.0 / sr) * np.arange(nc)) + 0.3 * _noise(rng, nc)
        else:
            click = _filt("hp", _noise(rng, nc), 1500.0, sr)
        y[:nc] += 0.5 * p["kick_click"] * click * _env(nc, nc / sr, sr)
        if p["kick_drive"] > 0:
            g = 1.0 + 2.0 * p["kick_drive"]
            y = np.tanh(g * y) / math.tanh(g)
    elif voice == "snare":
        n = _len(max(p["snare_decay"], 0.1), sr)
        tone = _cached(cache, "snare", lambda: (_tone(p["snare_tone"], 1.3, 0.01, n, sr)
                                                + 0.5 * _tone(p["snare_tone"] * 1.72, 1.2, 0.01, n, sr))
                       * _env(n, min(0.1, p["snare_decay"]), sr))
        top = 9000.0 if engine == "analog" else 12000.0
        noise = _noise_slice(cache, "snare", n, sr, rng, lambda g, m: _filt(
            "lp", _filt("hp", _noise(g, m), p["snare_hp"], sr, stages=2), top, sr))
        y = (1.0 - p["snare_noise"]) * tone + p["snare_noise"] * 1.5 * noise * _env(n, p["snare_decay"], sr)
    elif voice == "clap":
        n = _len(0.04 + p["clap_decay"], sr)
        noise = _noise_slice(cache, "clap", n, sr, rng, lambda g, m: _filt(
            "bp", _noise(g, m), p["clap_freq"], sr, q=1.2) + 0.3 * _filt("hp", _noise(g, m), 3000.0, sr))
        env = np.zeros(n)
        t0 = 0
        for _ in range(3):  # several hands, a few ms apart
            env[t0:] = np.maximum(env[t0:], _env(n - t0, 0.02, sr))
            t0 += int(round(rng.uniform(0.007, 0.013) * sr))
        env[t0:] = np.maximum(env[t0:], 0.8 * _env(n - t0, p["clap_decay"], sr))
        y = 2.0 * noise * env
    elif voice in _HATS:
        t60 = {"closed_hat": p["hat_decay"], "pedal_hat": 0.7 * p["hat_decay"], "open_hat": p["open_decay"]}[voice]
        n = _len(t60, sr)
        hp = p["hat_hp"]
        metal: Union[float, np.ndarray] = 0.0
        if p["hat_noise"] < 1.0:
            long_n = _len(max(p["open_decay"], p["hat_decay"]), sr)
            bank = _cached(cache, "hat_metal", lambda: _filt(
                "hp", _metal([fq * p["hat_tune"] for fq in _METAL_HZ], long_n, sr), hp, sr, stages=3))
            metal = bank[:n] * 3.0
        noise = _noise_slice(cache, "hat", n, sr, rng, lambda g, m: _filt("hp", _noise(g, m), hp, sr, stages=2))
        y = ((1.0 - p["hat_noise"]) * metal + p["hat_noise"] * noise) * _env(n, t60, sr)
        if voice == "pedal_hat":
            y *= 0.6
    elif voice in ("crash", "ride", "ride_bell"):
        t60 = p["cymbal_decay"] if voice == "crash" else p["ride_decay"]
        n = _len(t60, sr)
        hp = 4000.0 if voice == "crash" else 5000.0
        metal = _cached(cache, voice, lambda: _filt(
            "hp", _metal([fq * p["hat_tune"] * (1.37 if voice == "crash" else 1.71) for fq in _METAL_HZ], n, sr),
            hp, sr, stages=2))
        noise = _noise_slice(cache, "crash" if voice == "crash" else "ride", n, sr, rng,
                             lambda g, m: _filt("hp", _noise(g, m), hp, sr, stages=2))
        mix = max(0.3, p["hat_noise"]) if voice == "crash" else 0.3 + 0.4 * p["hat_noise"]
        y = ((1.0 - mix) * 3.0 * metal + mix * noise) * _env(n, t60, sr)
        if voice == "crash":  # the first splash is brighter and louder
            y *= 1.0 + 1.5 * _env(n, 0.15, sr)
        else:
            y *= 0.5
        if voice == "ride_bell":  # inharmonic bell partials on top
            k = np.arange(n)
            bell = sum(_sin_cycles((740.0 * p["hat_tune"] * r / sr) * k) for r in (1.0, 1.49, 2.11, 2.97))
            y += 0.15 * bell * _env(n, min(t60, 1.0), sr)
    elif voice == "tom":
        step = _TOM_STEP.get(int(pitch), 2)
        f0 = p["tom_pitch"] * 2.0 ** (step * 0.25)
        n = _len(p["tom_decay"], sr)
        tone = _cached(cache, ("tom", step), lambda: _tone(f0, 1.5, 0.05, n, sr) * _env(n, p["tom_decay"], sr))
        hit = _filt("bp", _noise(rng, n), 3.0 * f0, sr, q=0.8) * _env(n, 0.04, sr)
        y = tone + (0.8 if noisy else 0.25) * hit
    elif voice == "rim":
        n = _len(0.04, sr)
        y = _sin_cycles((1750.0 / sr) * np.arange(n)) * _env(n, 0.03, sr)
        y += 0.6 * _filt("hp", _noise(rng, n), 3000.0, sr) * _env(n, 0.012, sr)
    elif voice == "cowbell":
        n = _len(0.3, sr)
        tone = _cached(cache, "cowbell", lambda: _filt(
            "bp", _metal((540.0 * p["cowbell_tune"], 800.0 * p["cowbell_tune"]), n, sr), 1600.0 * p["cowbell_tune"],
            sr, q=1.0))
        env = 0.7 * _env(n, 0.05, sr) + 0.3 * _env(n, 0.3, sr)
        y = 2.0 * tone * env
        if noisy:
            y = 0.5 * y + 0.5 * _filt("bp", _noise(rng, n), 1600.0, sr, q=4.0) * env
    elif voice == "tambourine":
        n = _len(0.25, sr)
        noise = _noise_slice(cache, "tambourine", n, sr, rng,
                             lambda g, m: _filt("hp", _noise(g, m), 7000.0, sr, stages=2))
        env = np.zeros(n)
        t0 = 0
        for j in range(4):  # the jingles ring a few ms apart
            env[t0:] = np.maximum(env[t0:], (0.8 ** j) * _env(n - t0, 0.2, sr))
            t0 += int(round(rng.uniform(0.004, 0.012) * sr))
        y = 1.5 * noise * env
    elif voice == "shaker":
        n = _len(0.1, sr)
        noise = _noise_slice(cache, "shaker", n, sr, rng, lambda g, m: _filt("hp", _noise(g, m), 5000.0, sr, stages=2))
        rise = np.minimum(1.0, np.arange(n) / (0.012 * sr))
        y = noise * rise * _env(n, 0.1, sr)
    else:  # pitched percussion (bongos, congas, agogo, blocks...): a short sine blip
        f0 = midi_hz(min(int(pitch), 96) - 12)
        n = _len(0.15, sr)
        y = _tone(f0, 1.2, 0.01, n, sr) * _env(n, 0.15, sr)
        if noisy:
            y += 0.4 * _filt("bp", _noise(rng, n), 2 * f0, sr, q=2.0) * _env(n, 0.03, sr)
    y = y * (p["level"] * vel ** 1.3)
    if p["crush_bits"] >= 1:
        q = 2.0 ** (round(p["crush_bits"]) - 1)
        y = np.round(y * q) / q
    return y


def _render_drums(engine: str, p: Dict[str, float], notes: Iterable[NoteLike], beat_seconds: float, out: np.ndarray,
                  sr: int, seed: int) -> None:
    items = _sorted_notes(notes)
    length = len(out)
    onsets = [int(round(st * beat_seconds * sr)) for st, _, _, _ in items]
    fade = int(round(_FADE_S * sr))
    cache: dict = {"seed": seed, "bank_n": _bank_lengths(p, sr)}
    for rank, ((st, pitch, dur, vel), onset) in enumerate(zip(items, onsets)):
        if onset >= length:
            break
        voice = drum_voice(pitch)
        y = _drum_hit(engine, p, pitch, max(1, min(127, vel)) / 127.0, sr, _note_rng(seed, rank), cache)
        if voice == "open_hat":  # one hi-hat: the next hat event (pedal, closed or open) chokes it
            nxt = next((onsets[j] for j in range(rank + 1, len(items))
                        if drum_voice(items[j][1]) in _HATS and onsets[j] > onset), None)
            if nxt is not None and nxt - onset < len(y):
                cut = nxt - onset
                y = y[:cut + fade].copy()
                y[cut:] *= np.linspace(1.0, 0.0, len(y) - cut)
        _overlap_add(out, onset, y)


# ---- entry point -------------------------------------------------------------------------

def render_part(engine: str, patch: Patch, notes: Sequence[NoteLike], beat_seconds: float, length: int,
                sample_rate: int, seed: int) -> np.ndarray:
    """Render ``notes`` (start/dur in beats, MIDI pitch, velocity 1..127) with ``engine`` and
    ``patch`` to a mono float32 array of exactly ``length`` samples at ``sample_rate``.

    Notes starting past the end are dropped and tails are cut at the end; otherwise every note
    rings out its release (drums: their natural decay), which ends exactly at zero, so the output
    is exactly 0 where nothing sounds. Velocity scales the level (and, per engine, the cutoff, FM
    index or pluck brightness). Drum engines read the pitch as a General-MIDI percussion note
    (:data:`GM_DRUMS`) and ignore the duration (one-shots; an open hat is choked by the next
    hi-hat). ``seed`` drives every random choice: the same arguments give a bit-identical
    output. Not peak-normalised (a full-velocity single note peaks around 1)."""
    if length < 0 or sample_rate <= 0 or not beat_seconds > 0:
        raise ValueError("need length >= 0, sample_rate > 0 and beat_seconds > 0")
    p = _resolve(engine, patch)
    sr = int(sample_rate)
    out = np.zeros(int(length))
    if engine in DRUM_ENGINES:
        _render_drums(engine, p, notes, beat_seconds, out, sr, seed)
    else:
        voice = _VOICES[engine]
        mono = p.get("mono", 0.0) >= 0.5
        cache: dict = {"length": len(out)}
        for ev in _schedule(notes, beat_seconds, sr, len(out), p["release"], mono):
            y = voice(p, ev, sr, _note_rng(seed, ev.rank), cache)
            if ev.fade and len(y) == ev.n:
                y[-ev.fade:] *= np.linspace(1.0, 0.0, ev.fade)
            _overlap_add(out, ev.onset, y)
    if not np.all(np.isfinite(out)):  # a bug, never expected: fail loudly rather than train on NaN
        raise FloatingPointError(f"{engine}: non-finite samples")
    return out.astype(np.float32)


__all__ = ["Patch", "NoteLike", "MELODIC_ENGINES", "DRUM_ENGINES", "ENGINES", "MELODIC_ROLES", "ROLES", "PARAMS",
           "GM_DRUMS", "make_patch", "patch_dict", "random_patch", "render_part", "drum_voice", "midi_hz"]
