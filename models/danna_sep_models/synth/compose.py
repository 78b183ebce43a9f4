"""Procedural composition: a seed (and a length) -> a :class:`Song` plan, with no audio and no I/O.

Every function here is pure: randomness comes only from the ``numpy.random.Generator`` passed
in (itself built from the seed by :func:`compose_song`), and the result is made of frozen
dataclasses and tuples that compare by value, so ``compose_song(s, t) == compose_song(s, t)``.
:mod:`.render` turns a ``Song`` into stems (FluidSynth for the MIDI parts, espeak-ng for sung
syllables) and applies the mix (levels, reverb) whose random choices are also made here.

Musical model (4/4 throughout, times in beats from the start of the song):

- sections intro / verse / chorus / bridge / outro, each with the set of stems that play in it
  (a stem absent from ``Section.active`` rests for the whole section);
- one chord per bar (or two, in some choruses) from a per-section diatonic progression;
- drums: one GM kit (channel 10) with a per-track groove, fills before section changes;
- bass: a GM bass (programs 32-39) following the chord roots in a per-track style;
- other: 1-3 instruments (chords / arpeggio / pad / counter-melody), never a voice program;
- vocals: a sung melody in the voice's range (within C3-C6) built on chord tones, in phrases
  separated by rests (where the renderer adds breaths), sung by espeak-ng syllables and/or a GM
  voice program (52 choir aahs, 53 voice oohs, 54 synth voice) with vibrato.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from .. import STEMS
from .sources import DEFAULT_PROFILE

if TYPE_CHECKING:
    from .effects import Chain, Effect

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)

# Diatonic progressions as 0-based scale degrees (one chord per step).
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3), (1, 4, 0, 5),
              (0, 2, 3, 4), (3, 0, 4, 5), (0, 3, 5, 4), (3, 4, 2, 5)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4),
              (0, 2, 6, 3), (5, 6, 0, 0), (3, 4, 0, 0)),
}

DRUM_CHANNEL = 9  # GM percussion: MIDI channel 10
# FluidR3_GM kits (bank 128): standard, room, power, electronic, TR-808, jazz, brush.
DRUM_KITS = (0, 0, 8, 16, 24, 25, 32, 40)
BASS_PROGRAMS = tuple(range(32, 40))
VOICE_PROGRAMS = (52, 53, 54)  # choir aahs, voice oohs, synth voice
# Programs for "other", by role. Voice-like sounds (52-54, 85 "voice" lead, 91 "choir" pad)
# are left out on purpose so that "other" never sounds like the vocals stem.
OTHER_PROGRAMS = {
    "chords": (0, 1, 2, 4, 5, 16, 17, 18, 19, 24, 25, 26, 27, 29, 48, 49, 50, 61),
    "arp": (0, 4, 6, 8, 10, 11, 12, 13, 24, 25, 46, 80, 81, 87, 98, 108),
    "pad": (48, 49, 50, 16, 19, 88, 89, 90, 92, 95, 44),
    "counter": (11, 24, 26, 27, 40, 56, 65, 68, 71, 73, 80, 81, 82, 84, 86),
}
SYLLABLES = ("la", "na", "ma", "da", "lo", "no", "mi", "ne", "lu", "do", "ta", "o", "a", "u")
ESPEAK_LANGUAGES = ("it", "es")  # pure vowels: "la" is /la/ (English reads it /lA:/)
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")
# Vocal ranges (MIDI notes), all within C3 (48) - C6 (84).
VOCAL_RANGES = {"low": (48, 67), "mid": (55, 74), "high": (62, 84)}


@dataclass(frozen=True)
class Note:
    """One note. ``syllable`` (vocals sung by espeak-ng only): the text sung on it; ``""`` on a
    later note of a phrase holds the previous vowel (melisma, legato)."""
    start: float  # beats
    dur: float  # beats
    pitch: int  # MIDI note number
    vel: int  # 1..127
    syllable: str = ""


@dataclass(frozen=True)
class Part:
    """One instrument of a stem. ``engine`` is ``"midi"`` (rendered by FluidSynth on ``channel``
    with ``program``) or ``"espeak"`` (sung syllables, voice ``voice``)."""
    stem: str
    role: str
    engine: str
    program: int
    channel: int
    notes: Tuple[Note, ...]
    pan: float  # -1 (left) .. 1 (right)
    level: float  # 0..1, relative level inside the stem
    vibrato: float = 0.0  # semitones (peak), vocals only
    vibrato_rate: float = 5.5  # Hz
    voice: str = ""  # espeak-ng voice, e.g. "it+f3"; formant engine: the voice type
    # Profile v2 (see .sources): ``engine`` may also be "kit" (sampled Hydrogen kit), "drumsynth"
    # / "synth" (numpy engines of .instruments), "formant" (.voice) or "speech" (espeak-ng
    # speaking the phrase). ``source`` names the soundfont, kit or engine; ``patch`` holds the
    # engine's parameters; ``style`` is the formant engine's style; ``seed`` drives its noise;
    # ``delay`` (seconds) and ``detune`` (cents) make a double-tracked copy.
    source: str = ""
    patch: Tuple[Tuple[str, float], ...] = ()
    style: str = ""
    seed: int = 0
    delay: float = 0.0
    detune: float = 0.0


@dataclass(frozen=True)
class Section:
    name: str
    start_bar: int
    bars: int
    active: FrozenSet[str]


@dataclass(frozen=True)
class Chord:
    start: float  # beats
    dur: float
    root: int  # pitch class
    tones: Tuple[int, ...]  # pitch classes, root first


@dataclass(frozen=True)
class Mix:
    """Mix decisions applied by the renderer (all stems share one room)."""
    gains_db: Tuple[Tuple[str, float], ...]  # per stem, relative to a common reference loudness
    reverb_sends: Tuple[Tuple[str, float], ...]  # per stem, wet/dry amplitude ratio
    reverb_seconds: float  # RT60 of the generated impulse response
    reverb_predelay: float  # seconds
    reverb_damping_hz: float  # the tail is low-passed around this frequency
    mixture_rms_db: float  # target loudness of the mixture (the peak limit wins if lower)


@dataclass(frozen=True)
class Production:
    """v2 mix processing: one effect chain per stem (wet signals stay in their stem) and the
    bus limiter, whose gain is applied equally to every stem (.effects)."""
    chains: Tuple[Tuple[str, "Chain"], ...]
    bus: Optional["Effect"]

    def chain(self, stem: str) -> "Chain":
        return dict(self.chains)[stem]


@dataclass(frozen=True)
class Song:
    seed: int
    seconds: float  # exact length of every stem
    tempo_us: int  # microseconds per beat (the MIDI tempo: the renderer uses exactly this)
    key: int  # pitch class of the tonic
    mode: str  # "major" | "minor"
    bars: int
    sections: Tuple[Section, ...]
    chords: Tuple[Chord, ...]
    parts: Tuple[Part, ...]
    phrases: Tuple[Tuple[float, float], ...]  # vocal phrases (start, end) in beats
    mix: Mix
    profile: str = "v1"  # see .sources.PROFILES
    genre: str = ""  # v2: the style that chose tempo, grooves and processing
    production: Optional["Production"] = None  # v2: per-stem effect chains and the bus limiter

    @property
    def bpm(self) -> float:
        return 60e6 / self.tempo_us

    @property
    def beat_seconds(self) -> float:
        return self.tempo_us / 1e6

    def parts_of(self, stem: str) -> Tuple[Part, ...]:
        return tuple(p for p in self.parts if p.stem == stem)

    def section_at(self, beat: float) -> Section:
        return _section_of(self.sections, beat)


# Seconds kept after the last bar for release and reverb tails.
TAIL_SECONDS = 1.5


def song_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed)))


def compose_song(seed: int, seconds: Optional[float] = None, profile: str = DEFAULT_PROFILE) -> Song:
    """The whole plan of one song. ``seconds``: exact length (default: 60-90 s drawn from the
    seed). ``profile``: which generator (:data:`.sources.PROFILES`, default ``v3``); ``v1`` is
    the first one, kept bit-identical; the others are composed by :mod:`.arrange`."""
    if profile != "v1":
        from .arrange import compose_v2  # arrange builds on this module's parts

        return compose_v2(seed, seconds, profile)
    rng = song_rng(seed)
    if seconds is None:
        seconds = round(float(rng.uniform(60.0, 90.0)), 1)
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    bpm = int(rng.integers(72, 150))
    tempo_us, bars, key, mode, sections, chords, scale = plan_frame(rng, seconds, bpm)

    parts: List[Part] = [drum_part(rng, sections, bars)]
    parts.append(bass_part(rng, sections, chords, scale))
    vocal_parts, phrases = vocal_parts_for(rng, sections, chords, scale)
    parts.extend(other_parts(rng, sections, chords, scale, vocal_parts))
    parts.extend(vocal_parts)
    mix = plan_mix(rng)
    return Song(seed=int(seed), seconds=float(seconds), tempo_us=tempo_us, key=key, mode=mode, bars=bars,
                sections=tuple(sections), chords=tuple(chords), parts=tuple(parts), phrases=tuple(phrases), mix=mix)


# ---- form and harmony -----------------------------------------------------------------------

def plan_frame(rng: np.random.Generator, seconds: float, bpm: int):
    """Tempo, bars, key, mode, sections, chords and scale of a song at ``bpm`` (shared by the
    v1 and v2 composers; the draws stay in v1's order)."""
    tempo_us = int(round(60e6 / bpm))
    bars = max(1, int((seconds - TAIL_SECONDS) // (4 * tempo_us / 1e6)))
    key = int(rng.integers(0, 12))
    mode = "minor" if rng.random() < 0.45 else "major"
    sections = plan_sections(rng, bars)
    chords = plan_chords(rng, sections, key, mode)
    scale = tuple((key + i) % 12 for i in (MAJOR if mode == "major" else MINOR))
    return tempo_us, bars, key, mode, sections, chords, scale


def plan_sections(rng: np.random.Generator, bars: int) -> List[Section]:
    """Intro, verse/chorus alternation with a bridge, outro; rests chosen per section type.

    Songs under 6 bars (tests, tiny previews) are a single verse with every stem playing.
    """
    everything = frozenset(STEMS)
    if bars < 6:
        return [Section("verse", 0, bars, everything)]
    short = bars < 16
    intro = int(rng.choice([1, 2])) if short else int(rng.choice([2, 4]))
    outro = int(rng.choice([1, 2])) if short else int(rng.choice([2, 4]))
    lengths = {"verse": 4 if short else int(rng.choice([8, 8, 4])),
               "chorus": 4 if short else int(rng.choice([8, 4])),
               "bridge": 4 if short else int(rng.choice([4, 8]))}
    # The bridge comes after the second chorus, or already after the first one (so that
    # shorter songs get one too).
    if rng.random() < 0.5:
        order = ["verse", "chorus", "verse", "chorus", "bridge", "chorus"]
    else:
        order = ["verse", "chorus", "bridge", "chorus", "verse", "chorus"]
    plan = [("intro", intro)]
    left = bars - intro - outro
    i = 0
    while left > 0:
        name = order[i % len(order)] if i < len(order) else ("verse", "chorus")[i % 2]
        n = min(lengths[name], left)
        if left - n < 2 and left - n > 0:  # no 1-bar leftovers: stretch this section instead
            n = left
        plan.append((name, n))
        left -= n
        i += 1
    plan.append(("outro", outro))

    sections = []
    bar = 0
    for name, n in plan:
        sections.append(Section(name, bar, n, _active_stems(rng, name)))
        bar += n
    # Every stem must play somewhere: the first verse always has everything but maybe drums.
    first_verse = next(k for k, s in enumerate(sections) if s.name == "verse")
    for stem in STEMS:
        if not any(stem in s.active for s in sections):
            s = sections[first_verse]
            sections[first_verse] = Section(s.name, s.start_bar, s.bars, s.active | {stem})
    return sections


def _active_stems(rng: np.random.Generator, name: str) -> FrozenSet[str]:
    # Probability that each stem RESTS in a section of this type.
    rest_p = {
        "intro": {"drums": 0.5, "bass": 0.5, "other": 0.0, "vocals": 1.0},
        "verse": {"drums": 0.15, "bass": 0.05, "other": 0.15, "vocals": 0.0},
        "chorus": {"drums": 0.0, "bass": 0.0, "other": 0.0, "vocals": 0.0},
        "bridge": {"drums": 0.4, "bass": 0.3, "other": 0.0, "vocals": 0.35},
        "outro": {"drums": 0.4, "bass": 0.4, "other": 0.0, "vocals": 0.75},
    }[name]
    active = frozenset(s for s in STEMS if rng.random() >= rest_p[s])
    if len(active) < 2:  # a section with one stem alone is rare in songs; keep at least "other" + one
        active = active | {"other"} | ({"bass"} if "bass" not in active else {"drums"})
    return active


def chord_tones(key: int, mode: str, degree: int, seventh: bool, raised_v: bool) -> Tuple[int, ...]:
    """Pitch classes of the diatonic chord on ``degree`` (root, 3rd, 5th[, 7th]).
    ``raised_v``: in minor, the dominant takes the leading tone (harmonic minor V)."""
    scale = MAJOR if mode == "major" else MINOR
    steps = (0, 2, 4, 6) if seventh else (0, 2, 4)
    tones = [(key + scale[(degree + s) % 7]) % 12 for s in steps]
    if mode == "minor" and degree == 4 and raised_v:
        tones[1] = (tones[0] + 4) % 12
    return tuple(tones)


def plan_chords(rng: np.random.Generator, sections: Sequence[Section], key: int, mode: str) -> List[Chord]:
    progs = PROGRESSIONS[mode]
    by_name = {name: progs[int(rng.integers(len(progs)))] for name in ("intro", "verse", "chorus", "bridge", "outro")}
    by_name["intro"] = by_name["verse"] if rng.random() < 0.6 else by_name["chorus"]
    by_name["outro"] = by_name["chorus"] if rng.random() < 0.6 else by_name["verse"]
    sevenths = rng.random() < 0.3
    raised_v = rng.random() < 0.6
    fast_chorus = rng.random() < 0.3  # two chords per bar in choruses
    chords = []
    for s in sections:
        prog = by_name[s.name]
        per_bar = 2 if (fast_chorus and s.name == "chorus") else 1
        for i in range(s.bars * per_bar):
            degree = prog[i % len(prog)]
            # End the song on the tonic.
            if s is sections[-1] and i == s.bars * per_bar - 1 and s.name == "outro":
                degree = 0
            start = 4.0 * s.start_bar + i * 4.0 / per_bar
            tones = chord_tones(key, mode, degree, sevenths, raised_v)
            chords.append(Chord(start, 4.0 / per_bar, tones[0], tones))
    return chords


def chord_at(chords: Sequence[Chord], beat: float) -> Chord:
    for c in chords:
        if c.start <= beat < c.start + c.dur:
            return c
    return chords[-1] if beat >= chords[-1].start else chords[0]


def nearest_pitch(pc: int, center: float) -> int:
    """The MIDI note of pitch class ``pc`` closest to ``center``."""
    base = int(round(center)) - 6
    return base + (pc - base) % 12


def voicing(tones: Sequence[int], center: float) -> Tuple[int, ...]:
    """Close voicing of the pitch classes around ``center`` (keeps chord changes smooth)."""
    return tuple(sorted(nearest_pitch(pc, center) for pc in tones))


def _sections_with(sections: Sequence[Section], stem: str) -> List[Section]:
    return [s for s in sections if stem in s.active]


def _humanize(rng: np.random.Generator, amount: float) -> float:
    return float(rng.uniform(-amount, amount))


def _clamp(x: float, lo: int, hi: int) -> int:
    """``int(np.clip(...))`` for one number, without numpy's per-call overhead."""
    return int(min(max(x, lo), hi))


def _vel(rng: np.random.Generator, base: float, spread: int = 8) -> int:
    return _clamp(round(base + int(rng.integers(-spread, spread + 1))), 1, 127)


# ---- drums ------------------------------------------------------------------------------

KICK, SNARE, STICK, CLAP, HAT, PEDAL, OPEN, CRASH, RIDE, TAMB = 36, 38, 37, 39, 42, 44, 46, 49, 51, 54
TOMS = (50, 48, 47, 45, 43, 41)  # high to low

# Grooves on a 16-step bar: instrument -> steps (accents are added by the velocity model).
GROOVES = {
    "rock": {KICK: (0, 8, 10), SNARE: (4, 12), HAT: tuple(range(0, 16, 2))},
    "four": {KICK: (0, 4, 8, 12), CLAP: (4, 12), OPEN: (2, 6, 10, 14), HAT: (0, 4, 8, 12)},
    "half": {KICK: (0, 3, 10), SNARE: (8,), HAT: tuple(range(0, 16, 2))},
    "funk": {KICK: (0, 3, 7, 10), SNARE: (4, 12), HAT: tuple(range(16))},
    "hiphop": {KICK: (0, 7, 9), SNARE: (4, 12), HAT: tuple(range(0, 16, 2))},
    "ballad": {KICK: (0, 8), STICK: (4, 12), HAT: (0, 4, 8, 12)},
}


def drum_part(rng: np.random.Generator, sections: Sequence[Section], bars: int,
              grooves: Optional[Dict[str, Dict[int, Tuple[int, ...]]]] = None) -> Part:
    """The kit's notes over the song. ``grooves``: the patterns to choose from (default
    :data:`GROOVES`; v2 passes its genre's)."""
    grooves = GROOVES if grooves is None else grooves
    kit = int(rng.choice(DRUM_KITS))
    groove_name = str(rng.choice(list(grooves)))
    groove = grooves[groove_name]
    ghosts = groove_name in ("funk", "rock", "hiphop") and rng.random() < 0.5
    extra_kick = rng.random() < 0.5
    fill_p = float(rng.uniform(0.4, 0.9))
    step = 0.25  # beats per 16th
    notes: List[Note] = []
    for si, s in enumerate(sections):
        if "drums" not in s.active:
            continue
        nxt = sections[si + 1] if si + 1 < len(sections) else None
        loud = s.name in ("chorus",) or (s.name == "bridge" and rng.random() < 0.3)
        light = s.name in ("intro", "outro") or (s.name == "verse" and rng.random() < 0.3)
        for b in range(s.bars):
            bar0 = 4.0 * (s.start_bar + b)
            last = b == s.bars - 1
            fill = last and nxt is not None and s.bars >= 2 and rng.random() < fill_p
            fill_from = int(rng.choice([8, 12])) if fill else 16
            for inst, steps in groove.items():
                if light and inst == KICK and b % 2 == 1 and rng.random() < 0.3:
                    steps = steps[:1]  # sparser kick in quiet sections
                for st in steps:
                    if st >= fill_from:
                        continue
                    hit = inst
                    if loud and inst == HAT and groove_name != "four":
                        hit = RIDE if kit in (32, 40) else (OPEN if st % 4 == 2 and rng.random() < 0.3 else HAT)
                    if light and inst == HAT and groove_name != "four":
                        hit = PEDAL if rng.random() < 0.2 else HAT
                    accent = 100 if st % 4 == 0 else 82
                    if inst in (HAT, OPEN, PEDAL, RIDE):
                        accent -= 12 if st % 2 else 0
                    if light:
                        accent -= 15
                    notes.append(Note(bar0 + st * step + _humanize(rng, 0.02), 0.25, hit, _vel(rng, accent)))
            if extra_kick and fill_from == 16 and rng.random() < 0.25:
                notes.append(Note(bar0 + 14 * step, 0.25, KICK, _vel(rng, 85)))
            if ghosts:
                for st in (2, 7, 11, 15):
                    if st < fill_from and rng.random() < 0.35:
                        notes.append(Note(bar0 + st * step + _humanize(rng, 0.02), 0.25, SNARE, _vel(rng, 35)))
            if loud and rng.random() < 0.5 and fill_from == 16:
                for st in range(0, 16, 4):  # tambourine on the beats in big sections
                    notes.append(Note(bar0 + st * step + 0.5, 0.25, TAMB, _vel(rng, 60)))
            if b == 0 and (loud or s.name in ("verse", "bridge")) and si > 0:
                notes.append(Note(bar0, 1.0, CRASH, _vel(rng, 105)))
            if fill:
                notes.extend(_fill(rng, bar0, fill_from))
    if sections[-1].name == "outro" and "drums" in sections[-1].active:
        notes.append(Note(4.0 * bars, 2.0, CRASH, _vel(rng, 100)))  # final hit on the last downbeat
        notes.append(Note(4.0 * bars, 0.5, KICK, _vel(rng, 105)))
    return Part("drums", "kit", "midi", kit, DRUM_CHANNEL, _finish(notes),
                pan=0.0, level=1.0)


def _fill(rng: np.random.Generator, bar0: float, start_step: int) -> List[Note]:
    """A 16th-note fill from ``start_step`` to the bar end: snare or descending toms, crescendo."""
    kind = rng.choice(["snare", "toms", "mixed"])
    out = []
    n = 16 - start_step
    for k, st in enumerate(range(start_step, 16)):
        if kind == "snare":
            pitch = SNARE
        elif kind == "toms":
            pitch = TOMS[min(len(TOMS) - 1, k * len(TOMS) // n)]
        else:
            pitch = SNARE if k % 2 == 0 else TOMS[min(len(TOMS) - 1, k * len(TOMS) // n)]
        if rng.random() < 0.15 and k < n - 1:
            continue  # leave a gap now and then
        out.append(Note(bar0 + st * 0.25, 0.25, pitch, _vel(rng, 70 + 40 * k / max(1, n - 1))))
    return out


# ---- bass -------------------------------------------------------------------------------

BASS_STYLES = ("whole", "root8", "rootfifth", "sync", "walk", "octave")


def bass_part(rng: np.random.Generator, sections: Sequence[Section], chords: Sequence[Chord],
              scale: Sequence[int]) -> Part:
    program = int(rng.choice(BASS_PROGRAMS))
    style = str(rng.choice(BASS_STYLES))
    # Roots between E1 (28) and D#2; synth basses an octave up sometimes, for brightness.
    low = 28 + (12 if program >= 38 and rng.random() < 0.4 else 0)
    staccato = float(rng.uniform(0.6, 0.95))
    notes: List[Note] = []
    for c_i, c in enumerate(chords):
        s = None
        for sec in sections:
            if sec.start_bar * 4.0 <= c.start < (sec.start_bar + sec.bars) * 4.0:
                s = sec
        if s is None or "bass" not in s.active:
            continue
        root = low + (c.root - low) % 12
        fifth = root + 7
        nxt = chords[c_i + 1] if c_i + 1 < len(chords) else c
        nroot = low + (nxt.root - low) % 12
        third = nearest_pitch(c.tones[1], root + 4)
        st = _style_for_section(style, s.name)
        events: List[Tuple[float, float, int, float]] = []  # (offset, dur, pitch, accent)
        d = c.dur
        if st == "whole":
            events = [(0.0, d, root, 100)]
        elif st == "root8":
            events = [(k * 0.5, 0.5 * staccato, root, 100 if k % 2 == 0 else 80) for k in range(int(d * 2))]
        elif st == "rootfifth":
            events = [(k * 1.0, staccato, root if k % 2 == 0 else fifth, 95) for k in range(int(d))]
        elif st == "sync":
            pat = [(0.0, 1.0), (1.5, 0.5), (2.5, 0.5), (3.0, 0.75)] if d >= 4 else [(0.0, 1.0), (1.5, 0.5)]
            events = [(o, du * staccato, root if k != 2 else fifth, 100 - 10 * (k % 2)) for k, (o, du) in enumerate(pat)
                      if o < d]
        elif st == "walk":
            path = [root, third, fifth, _approach(nroot, rng)]
            events = [(k * 1.0, staccato, path[k % 4], 92) for k in range(int(d))]
        elif st == "octave":
            events = [(k * 0.5, 0.45, root + (12 if k % 2 else 0), 95) for k in range(int(d * 2))]
        for off, du, pitch, acc in events:
            pitch = _clamp(pitch, 28, 55)
            notes.append(Note(c.start + off + _humanize(rng, 0.01), max(0.1, du), pitch, _vel(rng, acc, 6)))
    return Part("bass", "bass", "midi", program, 0, _finish(notes),
                pan=float(rng.uniform(-0.1, 0.1)), level=1.0)


def _style_for_section(style: str, section: str) -> str:
    # Quiet sections get the sparse version of the line; the chorus keeps the track's style.
    if section in ("intro", "outro") and style in ("root8", "octave", "walk"):
        return "whole" if section == "outro" else "rootfifth"
    return style


def _approach(target: int, rng: np.random.Generator) -> int:
    """A chromatic or diatonic neighbour of the next chord's root, leading into it."""
    return int(target + rng.choice([-1, 1, -2, 2]))


# ---- other --------------------------------------------------------------------------------

def other_parts(rng: np.random.Generator, sections: Sequence[Section], chords: Sequence[Chord],
                scale: Sequence[int], vocal_parts: Sequence[Part]) -> List[Part]:
    """1-3 accompaniment instruments: always a chord instrument, then arpeggio / pad / counter."""
    n = int(rng.choice([1, 2, 2, 3, 3]))
    roles = ["chords"] + [str(r) for r in rng.choice(["arp", "pad", "counter"], size=n - 1, replace=False)]
    vocal_notes = [note for p in vocal_parts for note in p.notes]
    parts = []
    channels = iter((0, 1, 2, 3))
    used: List[int] = []
    for k, role in enumerate(roles):
        # Distinct instruments: a second part on the chord instrument's sound adds nothing.
        program = int(rng.choice([p for p in OTHER_PROGRAMS[role] if p not in used]))
        used.append(program)
        if role == "chords":
            notes = _chord_notes(rng, sections, chords, slow=program in SLOW_ATTACK)
        elif role == "arp":
            notes = _arp_notes(rng, sections, chords)
        elif role == "pad":
            notes = _pad_notes(rng, sections, chords)
        else:
            notes = _counter_notes(rng, sections, chords, scale, vocal_notes)
        level = 1.0 if k == 0 else float(rng.uniform(0.5, 0.9))
        pan = float(rng.uniform(-0.7, 0.7))
        parts.append(Part("other", role, "midi", program, next(channels), _finish(notes),
                          pan=pan, level=level))
    return parts


# Strings and pads swell in slowly: they sustain chords rather than play stabs (which would
# also pile up hundreds of releasing voices in FluidSynth).
SLOW_ATTACK = frozenset({44, 48, 49, 50, 51, 88, 89, 90, 92, 95})
SLOW_RHYTHMS = ("sustain", "halves", "pop")
CHORD_RHYTHMS = {
    "sustain": ((0.0, 4.0),),
    "halves": ((0.0, 2.0), (2.0, 2.0)),
    "quarters": tuple((float(k), 0.8) for k in range(4)),
    "offbeat": tuple((k + 0.5, 0.35) for k in range(4)),
    "pop": ((0.0, 1.5), (1.5, 1.0), (2.5, 1.5)),
    "eighths": tuple((k * 0.5, 0.4) for k in range(8)),
}


def _chord_notes(rng: np.random.Generator, sections: Sequence[Section], chords: Sequence[Chord],
                 slow: bool) -> List[Note]:
    rhythm_name = str(rng.choice(SLOW_RHYTHMS if slow else list(CHORD_RHYTHMS)))
    center = float(rng.uniform(58, 68))
    notes = []
    for c in chords:
        s = _section_of(sections, c.start)
        if "other" not in s.active:
            continue
        rhythm = CHORD_RHYTHMS["sustain" if s.name in ("intro", "outro") and rng.random() < 0.5 else rhythm_name]
        pitches = voicing(c.tones, center)
        if rng.random() < 0.5:
            pitches = pitches + (nearest_pitch(c.root, center - 12),)  # a low root under the voicing
        for off, du in rhythm:
            if off >= c.dur:
                continue
            du = min(du, c.dur - off)
            base = 88 if off == 0 else 74
            for p in pitches:
                notes.append(Note(c.start + off + _humanize(rng, 0.01), du, p, _vel(rng, base, 6)))
    return notes


def _arp_notes(rng: np.random.Generator, sections: Sequence[Section], chords: Sequence[Chord]) -> List[Note]:
    step = float(rng.choice([0.5, 0.25, 0.5]))
    shape = str(rng.choice(["up", "down", "updown"]))
    center = float(rng.uniform(66, 76))
    only_big = rng.random() < 0.5  # an arpeggio that only joins in choruses and bridges
    notes = []
    for c in chords:
        s = _section_of(sections, c.start)
        if "other" not in s.active or (only_big and s.name not in ("chorus", "bridge")):
            continue
        tones = list(voicing(c.tones, center)) + [p + 12 for p in voicing(c.tones, center)]
        seq = tones if shape == "up" else tones[::-1] if shape == "down" else tones + tones[-2:0:-1]
        for k in range(int(round(c.dur / step))):
            notes.append(Note(c.start + k * step, step * 0.9, seq[k % len(seq)], _vel(rng, 78 if k % 2 == 0 else 66)))
    return notes


def _pad_notes(rng: np.random.Generator, sections: Sequence[Section], chords: Sequence[Chord]) -> List[Note]:
    center = float(rng.uniform(55, 66))
    notes = []
    for c in chords:
        s = _section_of(sections, c.start)
        if "other" not in s.active:
            continue
        for p in voicing(c.tones, center):
            notes.append(Note(c.start, c.dur, p, _vel(rng, 70, 5)))
    return notes


def _counter_notes(rng: np.random.Generator, sections: Sequence[Section], chords: Sequence[Chord],
                   scale: Sequence[int], vocal_notes: Sequence[Note]) -> List[Note]:
    """Short motifs answering the singer: mostly where the vocals are silent, in a higher register."""
    lo, hi = 67, 88
    pool = _scale_pitches(scale, lo, hi)
    notes = []
    vocal_spans = [(n.start, n.start + n.dur) for n in vocal_notes]
    for s in sections:
        if "other" not in s.active:
            continue
        for b in range(s.bars):
            bar0 = 4.0 * (s.start_bar + b)
            if rng.random() < 0.35:
                continue
            t = bar0 + float(rng.choice([0.0, 0.5, 1.0, 2.0]))
            c = chord_at(chords, t)
            p = _snap_to_chord(pool, c.tones, int(rng.choice(pool)))
            while t < bar0 + 4.0:
                du = float(rng.choice([0.5, 0.5, 1.0, 1.5]))
                du = min(du, bar0 + 4.0 - t)
                sung = any(a < t + du and t < b_ for a, b_ in vocal_spans)
                if not sung or rng.random() < 0.15:
                    notes.append(Note(t, du * 0.95, p, _vel(rng, 80)))
                t += du
                i = pool.index(p) + int(rng.choice([-2, -1, 1, 2]))
                p = pool[_clamp(i, 0, len(pool) - 1)]
                if t % 2 == 0 and t < bar0 + 4.0:
                    p = _snap_to_chord(pool, chord_at(chords, t).tones, p)
    return notes


def _section_of(sections: Sequence[Section], beat: float) -> Section:
    bar = int(beat // 4)
    for s in sections:
        if s.start_bar <= bar < s.start_bar + s.bars:
            return s
    return sections[-1]


def _scale_pitches(scale: Sequence[int], lo: int, hi: int) -> List[int]:
    return [p for p in range(lo, hi + 1) if p % 12 in scale]


def _snap_to_chord(pool: Sequence[int], tones: Sequence[int], pitch: int) -> int:
    cands = [p for p in pool if p % 12 in tones]
    return min(cands, key=lambda p: (abs(p - pitch), p)) if cands else pitch


def _note_key(n: Note) -> Tuple[float, int]:
    return (n.start, n.pitch)


def _finish(notes: Sequence[Note]) -> Tuple[Note, ...]:
    """Sorted, with the humanised notes of the first beat moved to 0 instead of before it."""
    return tuple(sorted((n if n.start >= 0 else dataclasses.replace(n, start=0.0) for n in notes), key=_note_key))


# ---- vocals -----------------------------------------------------------------------------

def vocal_parts_for(rng: np.random.Generator, sections: Sequence[Section], chords: Sequence[Chord],
                    scale: Sequence[int]) -> Tuple[List[Part], List[Tuple[float, float]]]:
    """The sung melody, split between espeak-ng and a GM voice program, plus phrase spans.

    Mode per track: "espeak" (all phrases sung with syllables), "gm" (all on a voice program)
    or "mixed" (verses by espeak-ng, choruses and bridges on the voice program). A chorus can
    also get a quieter "oohs" harmony a third above (backing vocals, still the vocals stem).
    """
    mode = str(rng.choice(["espeak", "espeak", "gm", "mixed", "mixed"]))
    range_name = str(rng.choice(list(VOCAL_RANGES)))
    lo, hi = VOCAL_RANGES[range_name]
    gm_program = int(rng.choice(VOICE_PROGRAMS))
    variants = MALE_VARIANTS if range_name == "low" else FEMALE_VARIANTS
    voice = f"{rng.choice(ESPEAK_LANGUAGES)}+{rng.choice(variants)}"
    syllables = tuple(rng.choice(SYLLABLES, size=int(rng.integers(3, 7)), replace=False))
    vibrato = float(rng.uniform(0.2, 0.5))
    rate = float(rng.uniform(4.8, 6.2))
    pan = float(rng.uniform(-0.15, 0.15))

    melody = vocal_melody(rng, sections, chords, scale, lo, hi)
    phrases = _phrase_spans(melody)
    espeak_notes, gm_notes = [], []
    for n in melody:
        sec = _section_of(sections, n.start)
        by_espeak = mode == "espeak" or (mode == "mixed" and sec.name in ("verse", "intro", "outro"))
        (espeak_notes if by_espeak else gm_notes).append(n)
    parts = []
    if espeak_notes:
        parts.append(Part("vocals", "lead", "espeak", -1, -1, tuple(_add_syllables(rng, espeak_notes, syllables)),
                          pan=pan, level=1.0, vibrato=vibrato, vibrato_rate=rate, voice=voice))
    if gm_notes:
        parts.append(Part("vocals", "lead", "midi", gm_program, 0, tuple(gm_notes), pan=pan, level=1.0,
                          vibrato=vibrato, vibrato_rate=rate))
    if rng.random() < 0.35:
        harmony = _harmony(melody, sections, chords, scale, lo, hi)
        if harmony:
            parts.append(Part("vocals", "harmony", "midi", int(rng.choice([52, 53])), 1, tuple(harmony),
                              pan=float(-pan + rng.uniform(-0.3, 0.3)), level=float(rng.uniform(0.35, 0.6)),
                              vibrato=vibrato * 0.7, vibrato_rate=rate * 1.05))
    return parts, phrases


def vocal_melody(rng: np.random.Generator, sections: Sequence[Section], chords: Sequence[Chord],
                 scale: Sequence[int], lo: int, hi: int) -> List[Note]:
    """Phrases of 2 or 4 bars separated by rests; strong beats on chord tones, steps between.

    A section type keeps its melody when it comes back with the same length (the second verse
    sings the first verse's tune), as songs do; choruses sit a few semitones higher.
    """
    pool = _scale_pitches(scale, lo, hi)
    span = hi - lo
    memory: Dict[Tuple[str, int], List[Note]] = {}
    notes: List[Note] = []
    for s in sections:
        if "vocals" not in s.active:
            continue
        key = (s.name, s.bars)
        if key in memory and rng.random() < 0.8:
            offset = 4.0 * s.start_bar
            notes.extend(Note(n.start + offset, n.dur, n.pitch, n.vel) for n in memory[key])
            continue
        center = lo + span * (0.6 if s.name == "chorus" else 0.4 if s.name == "verse" else 0.5)
        phrase_bars = 4 if (s.bars >= 4 and s.bars % 4 == 0 and rng.random() < 0.4) else min(2, s.bars)
        sec_notes: List[Note] = []
        t_bar = 0
        while t_bar < s.bars:
            bars = min(phrase_bars, s.bars - t_bar)
            start = 4.0 * (s.start_bar + t_bar)
            # Verses breathe more: some phrases are left out entirely (the "other" stem answers).
            if s.name != "chorus" and t_bar > 0 and rng.random() < 0.2:
                t_bar += bars
                continue
            sec_notes.extend(_phrase(rng, chords, pool, start, 4.0 * bars, center))
            t_bar += bars
        memory[key] = [Note(n.start - 4.0 * s.start_bar, n.dur, n.pitch, n.vel) for n in sec_notes]
        notes.extend(sec_notes)
    return notes


def _phrase(rng: np.random.Generator, chords: Sequence[Chord], pool: Sequence[int], start: float, beats: float,
            center: float) -> List[Note]:
    t = start + float(rng.choice([0.0, 0.0, 0.5, 1.0]))
    rest = float(rng.choice([1.0, 1.0, 1.5, 2.0])) if beats >= 4 else 0.5
    end = start + beats - rest
    out: List[Note] = []
    prev: Optional[int] = None
    base_vel = float(rng.uniform(80, 105))
    while t < end - 0.25:
        dur = float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0, 0.5], p=[0.25, 0.3, 0.15, 0.1, 0.1, 0.1]))
        if t + dur > end - 0.5:
            dur = end - t  # the last note of the phrase holds to the rest
        strong = (t - start) % 2 == 0 or dur >= 1.5 or t + dur >= end
        c = chord_at(chords, t)
        if prev is None:
            cands = [p for p in pool if p % 12 in c.tones]
            p = min(cands, key=lambda q: (abs(q - center + rng.uniform(-3, 3)), q))
        else:
            i = pool.index(prev)
            move = int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]))
            if prev > center + 5:
                move = -abs(move)  # gravity back toward the middle of the range
            elif prev < center - 5:
                move = abs(move)
            p = pool[_clamp(i + move, 0, len(pool) - 1)]
            if strong:
                p = _snap_to_chord(pool, c.tones, p)
        # A gentle arc over the phrase: louder in the middle.
        arc = np.sin(np.pi * (t - start) / max(beats, 1e-6))
        out.append(Note(t, dur, int(p), _vel(rng, base_vel + 10 * arc, 5)))
        prev = p
        t += dur
    # A short gap now and then inside a phrase (articulation), never before the first note.
    gapped = []
    for k, n in enumerate(out):
        if 0 < k < len(out) - 1 and n.dur >= 1.0 and rng.random() < 0.12:
            n = Note(n.start, n.dur - 0.25, n.pitch, n.vel)
        gapped.append(n)
    return gapped


def _phrase_spans(notes: Sequence[Note]) -> List[Tuple[float, float]]:
    """Groups of notes joined without a rest of a beat or more."""
    spans: List[Tuple[float, float]] = []
    for n in sorted(notes, key=_note_key):
        if spans and n.start - spans[-1][1] < 1.0:
            spans[-1] = (spans[-1][0], max(spans[-1][1], n.start + n.dur))
        else:
            spans.append((n.start, n.start + n.dur))
    return spans


def _add_syllables(rng: np.random.Generator, notes: Sequence[Note], syllables: Sequence[str]) -> List[Note]:
    out = []
    prev_end = -1.0
    for n in notes:
        legato = abs(n.start - prev_end) < 1e-6
        # A held vowel (melisma) on some legato notes; otherwise a new syllable.
        text = "" if legato and rng.random() < 0.25 else str(rng.choice(syllables))
        out.append(Note(n.start, n.dur, n.pitch, n.vel, text))
        prev_end = n.start + n.dur
    return out


def _harmony(melody: Sequence[Note], sections: Sequence[Section], chords: Sequence[Chord], scale: Sequence[int],
             lo: int, hi: int) -> List[Note]:
    """A diatonic third above the lead (or below, near the top of the range), choruses only."""
    pool = _scale_pitches(scale, lo - 12, hi + 12)
    out = []
    for n in melody:
        if _section_of(sections, n.start).name != "chorus" or n.pitch not in pool:
            continue
        i = pool.index(n.pitch)
        j = i + 2 if n.pitch + 4 <= hi else i - 2
        p = pool[_clamp(j, 0, len(pool) - 1)]
        out.append(Note(n.start, n.dur, _clamp(p, 48, 84), max(1, n.vel - 15)))
    return out


# ---- mix --------------------------------------------------------------------------------

def plan_mix(rng: np.random.Generator) -> Mix:
    gains = (("drums", rng.uniform(-3, 3)), ("bass", rng.uniform(-4, 2)),
             ("other", rng.uniform(-4, 2)), ("vocals", rng.uniform(-2, 4)))
    sends = (("drums", rng.uniform(0.03, 0.25)), ("bass", rng.uniform(0.0, 0.06)),
             ("other", rng.uniform(0.08, 0.4)), ("vocals", rng.uniform(0.1, 0.45)))
    return Mix(gains_db=tuple((k, float(v)) for k, v in gains),
               reverb_sends=tuple((k, float(v)) for k, v in sends),
               reverb_seconds=float(rng.uniform(0.4, 2.2)),
               reverb_predelay=float(rng.uniform(0.005, 0.03)),
               reverb_damping_hz=float(rng.uniform(2500, 9000)),
               mixture_rms_db=float(rng.uniform(-20, -14)))
