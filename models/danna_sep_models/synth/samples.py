"""Sampled drum kits: Hydrogen's ``drumkit.xml`` folders played from General-MIDI drum notes.

A kit's instruments are mapped to GM percussion notes by their names (``Kick`` -> 36,
``Closed HH`` -> 42, ...: :func:`gm_note_of`); instruments whose name says nothing known are
left out of a drum kit. Percussion-only kits (hand drums, djembes) have no kick/snare/hat; their
instruments are played by index (note ``PERCUSSION_BASE + i``) as an extra drums part.

Samples are read once per process (``soundfile``), converted to 44.1 kHz stereo float64 and
cached. A hit picks the velocity layer that covers its velocity (Hydrogen's ``min``/``max``
in 0..1); an open hi-hat rings until the next closed or pedal hat (the choke real hats have).
Rendering is deterministic: no randomness beyond what the notes carry.
"""
from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.signal

PERCUSSION_BASE = 60  # note numbers of a percussion kit's instruments: 60, 61, ...
CHOKE_FADE = 0.03  # seconds: a choked open hat fades out this fast
MIN_LAYER_SAMPLES = 64

KICK, SNARE, STICK, CLAP, HAT, PEDAL, OPEN, CRASH, RIDE, TAMB, COWBELL = 36, 38, 37, 39, 42, 44, 46, 49, 51, 54, 56
TOM_LOW, TOM_LOW_MID, TOM_MID, TOM_HIGH = 41, 45, 47, 50

# (pattern, note): the first pattern found in the lower-case instrument name wins.
_NAME_RULES: Tuple[Tuple[str, int], ...] = (
    (r"kick|bass ?drum|bassdrum", KICK),
    (r"clap", CLAP),
    (r"stick|rim", STICK),
    (r"roll", -1),  # snare rolls are not hits
    (r"snare", SNARE),
    (r"pedal|hat .*pd|hh .*pd", PEDAL),
    (r"(hi-?hat|hh|hat).*(open|op\b|opened|semi)|open hh|side ohh", OPEN),
    (r"hi-?hat|hh|hat", HAT),
    (r"ride", RIDE),
    (r"crash|splash|china|cymbal", CRASH),
    (r"floor", TOM_LOW),
    (r"tom.*(low|lo\b)|low tom", TOM_LOW_MID),
    (r"tom.*mid|mid(dle)? tom|tom 2", TOM_MID),
    (r"tom", TOM_HIGH),
    (r"tamb", TAMB),
    (r"cowbell", COWBELL),
)


def gm_note_of(name: str) -> Optional[int]:
    """The GM percussion note an instrument name stands for, or ``None``."""
    low = name.lower()
    for pattern, note in _NAME_RULES:
        if re.search(pattern, low):
            return None if note < 0 else note
    return None


@dataclass(frozen=True)
class Layer:
    file: Path
    vel_min: float
    vel_max: float
    gain: float


@dataclass(frozen=True)
class Instrument:
    name: str
    gain: float
    pan: float  # -1..1 from Hydrogen's pan_L/pan_R
    layers: Tuple[Layer, ...]


def parse_drumkit(folder: Path) -> Tuple[Instrument, ...]:
    """The instruments of a Hydrogen kit that have at least one existing sample file."""
    root = ET.parse(Path(folder) / "drumkit.xml").getroot()
    for node in root.iter():  # newer kits declare an XML namespace; the tags are the same
        if isinstance(node.tag, str) and "}" in node.tag:
            node.tag = node.tag.split("}", 1)[1]
    out: List[Instrument] = []
    for inst in root.iter("instrument"):
        name = (inst.findtext("name") or "").strip()
        layers = []
        for layer in inst.iter("layer"):
            layers.append(_layer(folder, layer))
        if not layers and inst.findtext("filename"):  # the older, single-sample format
            layers.append(_layer(folder, inst))
        layers = [x for x in layers if x is not None]
        if not name or not layers:
            continue
        pan_l = float(inst.findtext("pan_L") or 1.0)
        pan_r = float(inst.findtext("pan_R") or 1.0)
        pan = float(np.clip(pan_r - pan_l, -1.0, 1.0))
        vol = float(inst.findtext("volume") or 1.0) * float(inst.findtext("gain") or 1.0)
        out.append(Instrument(name, vol, pan, tuple(sorted(layers, key=lambda x: x.vel_min))))
    return tuple(out)


def _layer(folder: Path, node: ET.Element) -> Optional[Layer]:
    file = (node.findtext("filename") or "").strip()
    path = Path(folder) / file
    if not file or not path.is_file():
        return None
    return Layer(path, float(node.findtext("min") or 0.0), float(node.findtext("max") or 1.0),
                 float(node.findtext("gain") or 1.0))


@dataclass(frozen=True)
class KitMap:
    """A kit's playable notes: GM note (or percussion index note) -> instrument."""
    notes: Tuple[Tuple[int, Instrument], ...]

    def get(self, note: int) -> Optional[Instrument]:
        for n, inst in self.notes:
            if n == note:
                return inst
        return None

    @property
    def playable(self) -> Tuple[int, ...]:
        return tuple(n for n, _ in self.notes)


@functools.lru_cache(maxsize=None)
def kit_map(folder: str, percussion: bool) -> KitMap:
    """Map a kit folder's instruments to notes (the first instrument of each GM note wins;
    percussion kits: every instrument by index)."""
    instruments = parse_drumkit(Path(folder))
    if percussion:
        return KitMap(tuple((PERCUSSION_BASE + i, inst) for i, inst in enumerate(instruments)))
    seen: Dict[int, Instrument] = {}
    for inst in instruments:
        note = gm_note_of(inst.name)
        if note is not None and note not in seen:
            seen[note] = inst
    # Stand-ins so that every groove note sounds: a clap for a missing snare, a closed hat for a
    # missing pedal, a crash for a missing ride (and the reverse), the nearest tom for a tom.
    fallbacks = {SNARE: (CLAP, STICK), CLAP: (SNARE,), STICK: (SNARE,), PEDAL: (HAT,), OPEN: (HAT,), CRASH: (RIDE, OPEN),
                 RIDE: (CRASH, OPEN, HAT), TAMB: (HAT,), COWBELL: (STICK, RIDE),
                 TOM_LOW: (TOM_LOW_MID, TOM_MID, TOM_HIGH), TOM_LOW_MID: (TOM_LOW, TOM_MID, TOM_HIGH),
                 TOM_MID: (TOM_LOW_MID, TOM_HIGH, TOM_LOW), TOM_HIGH: (TOM_MID, TOM_LOW_MID, TOM_LOW)}
    for note, alternatives in fallbacks.items():
        if note not in seen:
            for alt in alternatives:
                if alt in seen:
                    seen[note] = seen[alt]
                    break
    return KitMap(tuple(sorted(seen.items(), key=lambda kv: kv[0])))


def is_full_kit(kit: KitMap) -> bool:
    """A kit that can play the grooves: kick, snare (or a stand-in) and a closed hat."""
    notes = set(kit.playable)
    return {KICK, SNARE, HAT} <= notes


@functools.lru_cache(maxsize=512)
def load_sample(path: Path, sample_rate: int) -> np.ndarray:
    """A sample file as (n, 2) float64 at ``sample_rate``, peak-normalised to the file's own
    level (kept: Hydrogen kits encode velocity layers by recorded loudness)."""
    import soundfile  # the wheel bundles libsndfile (FLAC, AIFF, WAV)

    data, sr = soundfile.read(str(path), dtype="float64", always_2d=True)
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    data = data[:, :2]
    if sr != sample_rate:
        ratio = Fraction(sample_rate, sr).limit_denominator(1000)
        data = scipy.signal.resample_poly(data, ratio.numerator, ratio.denominator, axis=0)
    if data.shape[0] < MIN_LAYER_SAMPLES:
        data = np.pad(data, ((0, MIN_LAYER_SAMPLES - data.shape[0]), (0, 0)))
    return np.ascontiguousarray(data)


def pick_layer(inst: Instrument, velocity: float) -> Layer:
    """The layer whose velocity range holds ``velocity`` (0..1); the nearest one otherwise."""
    for layer in inst.layers:
        if layer.vel_min <= velocity <= layer.vel_max:
            return layer
    return min(inst.layers, key=lambda x: min(abs(x.vel_min - velocity), abs(x.vel_max - velocity)))


class NoteLike:  # documentation only: the notes passed in have these attributes
    start: float
    dur: float
    pitch: int
    vel: int


def render_kit(kit: KitMap, notes: Sequence["NoteLike"], beat_seconds: float, length: int,
               sample_rate: int) -> np.ndarray:
    """The hits of ``notes`` (GM drum notes, or percussion index notes) on ``kit`` as a
    ``(2, length)`` float32 array (the renderer's layout). Notes the kit cannot play are skipped."""
    out = np.zeros((length, 2), dtype=np.float64)
    hits = sorted(((int(round(n.start * beat_seconds * sample_rate)), n) for n in notes), key=lambda h: h[0])
    choke_at = _choke_points(hits)
    fade = max(1, int(CHOKE_FADE * sample_rate))
    for idx, (pos, n) in enumerate(hits):
        if pos >= length or pos < 0:
            continue
        inst = kit.get(int(n.pitch))
        if inst is None:
            continue
        vel = float(n.vel) / 127.0
        layer = pick_layer(inst, vel)
        sample = load_sample(layer.file, sample_rate)
        end = min(length, pos + sample.shape[0])
        seg = sample[: end - pos] * (layer.gain * inst.gain * (0.25 + 0.75 * vel))
        if int(n.pitch) == OPEN and choke_at[idx] is not None:
            cut = choke_at[idx] - pos
            if cut < seg.shape[0]:
                seg = seg.copy()
                ramp_end = min(seg.shape[0], cut + fade)
                seg[cut:ramp_end] *= np.linspace(1.0, 0.0, ramp_end - cut, endpoint=False)[:, None]
                seg[ramp_end:] = 0.0
        left = min(1.0, 1.0 - inst.pan)
        right = min(1.0, 1.0 + inst.pan)
        out[pos:end, 0] += seg[:, 0] * left
        out[pos:end, 1] += seg[:, 1] * right
    return np.ascontiguousarray(out.T, dtype=np.float32)


def _choke_points(hits: Sequence[Tuple[int, "NoteLike"]]) -> List[Optional[int]]:
    """For each open-hat hit, the sample of the next closed or pedal hat (else ``None``)."""
    out: List[Optional[int]] = [None] * len(hits)
    next_closed: Optional[int] = None
    for k in range(len(hits) - 1, -1, -1):
        pos, n = hits[k]
        if int(n.pitch) == OPEN:
            out[k] = next_closed
        if int(n.pitch) in (HAT, PEDAL):
            next_closed = pos
    return out
