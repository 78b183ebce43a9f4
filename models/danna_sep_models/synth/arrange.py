"""The ``v2`` composer: genres, and the casting of every part onto a source of the profile's pool.

It reuses :mod:`.compose`'s form, harmony and note writers (sections, chords, grooves, bass
lines, accompaniment figures, sung melodies) and adds what the first generator lacked:

- a **genre** (:data:`GENRES`) that sets the tempo range, the drum grooves, how often
  electronic sounds and spoken or shouted vocals appear, and (through :mod:`.effects`) the
  processing of each stem;
- **casting**: each part is played by one source of the :class:`~.sources.Pool` (a soundfont
  program, a sampled kit, a numpy synthesis engine with a random patch, espeak-ng singing or
  speaking, or the formant singer), so one song mixes sources and no stem is tied to one;
- **vocal layers**: harmonies and double-tracked leads; **extra percussion** from hand-drum
  kits;
- **production**: an effect chain per stem and the bus limiter (:class:`~.compose.Production`),
  levels varied +-9 dB.

Pure like :mod:`.compose`: the result depends only on ``(seed, seconds, profile)``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import STEMS
from . import effects, instruments, voice
from .compose import (BASS_PROGRAMS, CLAP, CRASH, DRUM_CHANNEL, HAT, KICK, OPEN, PEDAL, RIDE, SNARE,
                      STICK, SYLLABLES, VOCAL_RANGES, VOICE_PROGRAMS, Chord, Mix, Note, Part, Production,
                      Section, Song, _add_syllables, _arp_notes, _chord_notes, _counter_notes, _finish, _harmony, _pad_notes,
                      _phrase_spans, _section_of, _vel, bass_part, chord_at, drum_part, plan_frame,
                      song_rng, vocal_melody)
from . import sources
from .sources import DRUMKITS, SOUNDFONTS, Pool, pool_of

# 16-step grooves beyond compose.GROOVES.
V2_GROOVES: Dict[str, Dict[int, Tuple[int, ...]]] = {
    "rock": {KICK: (0, 8, 10), SNARE: (4, 12), HAT: tuple(range(0, 16, 2))},
    "four": {KICK: (0, 4, 8, 12), CLAP: (4, 12), OPEN: (2, 6, 10, 14), HAT: (0, 4, 8, 12)},
    "half": {KICK: (0, 3, 10), SNARE: (8,), HAT: tuple(range(0, 16, 2))},
    "funk": {KICK: (0, 3, 7, 10), SNARE: (4, 12), HAT: tuple(range(16))},
    "hiphop": {KICK: (0, 7, 9), SNARE: (4, 12), HAT: tuple(range(0, 16, 2))},
    "ballad": {KICK: (0, 8), STICK: (4, 12), HAT: (0, 4, 8, 12)},
    "trap": {KICK: (0, 7, 10), CLAP: (8,), HAT: tuple(range(16))},
    "breakbeat": {KICK: (0, 10), SNARE: (4, 12), HAT: tuple(range(0, 16, 2))},
    "metal": {KICK: tuple(range(16)), SNARE: (4, 12), CRASH: (0, 8)},
    "jazz": {RIDE: (0, 4, 6, 8, 12, 14), PEDAL: (4, 12), KICK: (0,)},
    "shuffle": {KICK: (0, 8), SNARE: (4, 12), HAT: (0, 3, 4, 7, 8, 11, 12, 15)},
    "disco": {KICK: (0, 4, 8, 12), SNARE: (4, 12), OPEN: (2, 6, 10, 14), HAT: (0, 4, 8, 12)},
}


@dataclass(frozen=True)
class Genre:
    """What a genre decides: tempo range (bpm), grooves, the share of numpy-synthesised sounds
    per stem, and how the lead vocal is delivered."""
    tempo: Tuple[int, int]
    grooves: Tuple[str, ...]
    synth_share: float  # probability that a bass or "other" part is a numpy synth
    drum_synth_share: float  # probability that the main kit is a numpy drum machine
    spoken: float  # probability of a spoken (rapped) lead
    shout: float  # probability that choruses are shouted


GENRES: Dict[str, Genre] = {
    "ballad": Genre((60, 84), ("ballad", "half"), 0.25, 0.05, 0.0, 0.0),
    "pop": Genre((88, 128), ("rock", "four", "half", "disco"), 0.45, 0.25, 0.05, 0.0),
    "rock": Genre((96, 160), ("rock", "shuffle", "half"), 0.15, 0.0, 0.0, 0.25),
    "electronic": Genre((118, 150), ("four", "breakbeat", "trap"), 0.8, 0.7, 0.1, 0.0),
    "hiphop": Genre((78, 100), ("hiphop", "trap", "half"), 0.55, 0.5, 0.6, 0.1),
    "funk": Genre((92, 118), ("funk", "disco"), 0.35, 0.15, 0.1, 0.0),
    "jazz": Genre((80, 176), ("jazz", "shuffle", "ballad"), 0.1, 0.0, 0.0, 0.0),
    "metal": Genre((130, 190), ("metal", "rock", "half"), 0.1, 0.0, 0.0, 0.6),
}

# GM programs per "other" role (voice-like programs 52-54, 85 and 91 are never used, so that
# "other" never sounds like the vocals stem); a pool keeps those of its families.
V2_OTHER_PROGRAMS: Dict[str, Tuple[int, ...]] = {
    "chords": tuple(range(0, 8)) + (16, 17, 18, 19, 20) + tuple(range(24, 32)) + (48, 49, 50, 51, 61, 62) +
    (88, 89, 90, 92, 95),
    "arp": (0, 4, 6, 8, 9, 10, 11, 12, 13, 24, 25, 26, 46, 80, 81, 87, 104, 105, 106, 107, 108),
    "pad": (16, 19, 44, 48, 49, 50, 51, 61, 89, 90, 92, 95, 68, 69, 71, 74),
    "counter": (11, 24, 26, 27, 29, 30, 40, 41, 42, 56, 57, 58, 59, 60, 64, 65, 66, 67, 68, 71, 72, 73, 74, 75, 79,
                80, 81, 82, 83, 84, 86, 104, 105, 109, 110, 111),
}
SLOW_PROGRAMS = frozenset({44, 48, 49, 50, 51, 61, 68, 69, 71, 74, 88, 89, 90, 92, 95})
PERCUSSION_STEPS = ((0, 6, 8, 14), (2, 6, 10, 14), (0, 3, 8, 11), (4, 7, 12, 15), tuple(range(0, 16, 2)))


def compose_v2(seed: int, seconds: Optional[float], profile: str) -> Song:
    """A ``v2`` song (see the module doc); ``profile`` picks the source pool."""
    pool = pool_of(profile)
    # A stream of its own per profile: v2 songs are not variations of v1 songs, and a held-out
    # song is not a recast v2 song of the same seed.
    stream = [int(seed), 2, sources.PROFILES.index(profile)]
    rng = song_rng(int(np.random.SeedSequence(stream).generate_state(1)[0]))
    if seconds is None:
        seconds = round(float(rng.uniform(60.0, 90.0)), 1)
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    genre_name = str(rng.choice(list(GENRES)))
    genre = GENRES[genre_name]
    bpm = int(rng.integers(genre.tempo[0], genre.tempo[1] + 1))
    tempo_us, bars, key, mode, sections, chords, scale = plan_frame(rng, seconds, bpm)

    parts: List[Part] = cast_drums(rng, pool, genre, sections, bars)
    parts.append(cast_bass(rng, pool, genre, bass_part(rng, sections, chords, scale)))
    vocal_parts, phrases = vocals_v2(rng, pool, genre, sections, chords, scale)
    parts.extend(others_v2(rng, pool, genre, sections, chords, scale, vocal_parts))
    parts.extend(vocal_parts)
    gains = tuple((s, float(rng.uniform(-9.0, 9.0))) for s in STEMS)
    mix = Mix(gains_db=gains, reverb_sends=tuple((s, 0.0) for s in STEMS), reverb_seconds=0.0,
              reverb_predelay=0.0, reverb_damping_hz=0.0, mixture_rms_db=float(rng.uniform(-20.0, -12.0)))
    production = Production(chains=tuple((s, effects.random_chain(rng, s, genre_name, float(bpm))) for s in STEMS),
                            bus=effects.random_bus(rng))
    return Song(seed=int(seed), seconds=float(seconds), tempo_us=tempo_us, key=key, mode=mode, bars=bars,
                sections=tuple(sections), chords=tuple(chords), parts=tuple(parts), phrases=tuple(phrases), mix=mix,
                profile=profile, genre=genre_name, production=production)


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return str(options[int(rng.integers(len(options)))])


def _part_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2 ** 31 - 1))


# ---- drums --------------------------------------------------------------------------------

def cast_drums(rng: np.random.Generator, pool: Pool, genre: Genre, sections: Sequence[Section],
               bars: int) -> List[Part]:
    """The main kit (a soundfont kit, a sampled kit or a numpy drum machine) and, sometimes,
    a hand-percussion part."""
    grooves = {g: V2_GROOVES[g] for g in genre.grooves}
    kit = drum_part(rng, sections, bars, grooves)
    u = rng.random()
    if u < genre.drum_synth_share:
        engine = _pick(rng, pool.drum_engines)
        main = dataclasses.replace(kit, engine="drumsynth", source=engine, program=-1, channel=-1,
                                   patch=instruments.random_patch(rng, engine, "kit"), seed=_part_seed(rng))
    elif rng.random() < 0.55:
        name = _pick(rng, pool.drumkits)
        main = dataclasses.replace(kit, engine="kit", source=name, program=-1, channel=-1)
    else:
        name = _pick(rng, pool.kit_soundfonts)
        bank, preset = SOUNDFONTS[name].kits[int(rng.integers(len(SOUNDFONTS[name].kits)))]
        # A kit outside bank 128 (the AVL soundfonts) plays on a melodic channel: FluidSynth
        # looks drum-channel presets up in bank 128.
        main = dataclasses.replace(kit, source=name, program=preset, channel=DRUM_CHANNEL if bank == 128 else 0)
    parts = [main]
    if pool.percussion_kits and rng.random() < 0.3:
        parts.append(percussion_part(rng, pool, sections))
    return parts


def percussion_part(rng: np.random.Generator, pool: Pool, sections: Sequence[Section]) -> Part:
    """Two to four hand-percussion instruments on repeating 16-step patterns, in the sections
    where the drums play (choruses more often)."""
    from .samples import PERCUSSION_BASE, kit_map

    name = _pick(rng, pool.percussion_kits)
    kit = kit_map(str(DRUMKITS[name].path), True)
    n_inst = min(len(kit.notes), int(rng.integers(2, 5)))
    chosen = sorted(int(i) for i in rng.choice(len(kit.notes), size=n_inst, replace=False))
    patterns = [PERCUSSION_STEPS[int(rng.integers(len(PERCUSSION_STEPS)))] for _ in chosen]
    notes: List[Note] = []
    for s in sections:
        if "drums" not in s.active or (s.name not in ("chorus", "bridge") and rng.random() < 0.5):
            continue
        for b in range(s.bars):
            bar0 = 4.0 * (s.start_bar + b)
            for idx, steps in zip(chosen, patterns):
                for st in steps:
                    notes.append(Note(bar0 + st * 0.25 + float(rng.uniform(-0.015, 0.015)), 0.25, PERCUSSION_BASE + idx,
                                      _vel(rng, 90 if st % 4 == 0 else 70)))
    return Part("drums", "percussion", "kit", -1, -1, _finish(notes), pan=float(rng.uniform(-0.6, 0.6)),
                level=float(rng.uniform(0.3, 0.6)), source=name)


# ---- bass and other ---------------------------------------------------------------------

def cast_bass(rng: np.random.Generator, pool: Pool, genre: Genre, part: Part) -> Part:
    """A GM bass program of one of the pool's soundfonts, or a numpy synth bass."""
    if rng.random() < genre.synth_share:
        engine = _pick(rng, pool.synth_engines)
        return dataclasses.replace(part, engine="synth", source=engine, program=-1, channel=-1,
                                   patch=instruments.random_patch(rng, engine, "bass"), seed=_part_seed(rng))
    return dataclasses.replace(part, source=_pick(rng, pool.melodic_soundfonts),
                               program=int(BASS_PROGRAMS[int(rng.integers(len(BASS_PROGRAMS)))]))


def others_v2(rng: np.random.Generator, pool: Pool, genre: Genre, sections: Sequence[Section],
              chords: Sequence[Chord], scale: Sequence[int], vocal_parts: Sequence[Part]) -> List[Part]:
    """1-3 accompaniment parts (a chord part first), each a soundfont program of the pool's
    families or a numpy synth."""
    n = int(rng.choice([1, 2, 2, 3, 3]))
    roles = ["chords"] + [str(r) for r in rng.choice(["arp", "pad", "counter"], size=n - 1, replace=False)]
    vocal_notes = [note for p in vocal_parts for note in p.notes]
    parts: List[Part] = []
    used: List[int] = []
    for k, role in enumerate(roles):
        synth = rng.random() < genre.synth_share
        programs = [p for p in pool.programs(V2_OTHER_PROGRAMS[role]) if p not in used]
        if not programs:
            synth = True
        program = -1 if synth else int(programs[int(rng.integers(len(programs)))])
        used.append(program)
        slow = role == "pad" or program in SLOW_PROGRAMS
        if role == "chords":
            notes = _chord_notes(rng, sections, chords, slow=slow)
        elif role == "arp":
            notes = _arp_notes(rng, sections, chords)
        elif role == "pad":
            notes = _pad_notes(rng, sections, chords)
        else:
            notes = _counter_notes(rng, sections, chords, scale, vocal_notes)
        level = 1.0 if k == 0 else float(rng.uniform(0.45, 0.9))
        pan = float(rng.uniform(-0.8, 0.8))
        if synth:
            engine = _pick(rng, pool.synth_engines)
            parts.append(Part("other", role, "synth", -1, -1, _finish(notes), pan=pan, level=level, source=engine,
                              patch=instruments.random_patch(rng, engine, role), seed=_part_seed(rng)))
        else:
            parts.append(Part("other", role, "midi", program, k, _finish(notes), pan=pan, level=level,
                              source=_pick(rng, pool.melodic_soundfonts)))
    return parts


# ---- vocals -----------------------------------------------------------------------------

VOICE_TYPE_RANGE = {"bass": "low", "baritone": "low", "tenor": "mid", "alto": "mid", "soprano": "high",
                    "child": "high"}


def vocals_v2(rng: np.random.Generator, pool: Pool, genre: Genre, sections: Sequence[Section],
              chords: Sequence[Chord], scale: Sequence[int]) -> Tuple[List[Part], List[Tuple[float, float]]]:
    """The lead (espeak-ng singing, the formant singer, or spoken), its layers (a harmony in
    choruses, a double-tracked copy) and the phrase spans (for breaths)."""
    formant = rng.random() < 0.5
    voice_type = _pick(rng, pool.formant_voices)
    range_name = VOICE_TYPE_RANGE[voice_type] if formant else _pick(rng, tuple(VOCAL_RANGES))
    lo, hi = VOCAL_RANGES[range_name]
    variants = [v for v in pool.espeak_variants if v.startswith("m" if range_name == "low" else "f")] or \
        list(pool.espeak_variants)
    espeak_voice = f"{_pick(rng, pool.espeak_languages)}+{_pick(rng, variants)}"
    syllables = tuple(str(x) for x in rng.choice(SYLLABLES, size=int(rng.integers(3, 7)), replace=False))
    vibrato = float(rng.uniform(0.15, 0.6))
    rate = float(rng.uniform(4.5, 6.5))
    pan = float(rng.uniform(-0.15, 0.15))
    spoken = rng.random() < genre.spoken
    shout = rng.random() < genre.shout
    melody = vocal_melody(rng, sections, chords, scale, lo, hi)
    phrases = _phrase_spans(melody)
    sung = tuple(_add_syllables(rng, melody, syllables))
    parts: List[Part] = []
    if spoken:
        if formant:
            parts.append(Part("vocals", "lead", "formant", -1, -1, sung, pan=pan, level=1.0, voice=voice_type,
                              patch=voice.random_voice(rng, voice_type), style="spoken", seed=_part_seed(rng)))
        else:
            parts.append(Part("vocals", "lead", "speech", -1, -1, sung, pan=pan, level=1.0, voice=espeak_voice))
    else:
        lead_patch = voice.random_voice(rng, voice_type)
        # Only the formant singer can shout; espeak-ng sings every section.
        for style, notes in _split_by_style(sections, sung, shout and formant):
            if formant:
                parts.append(Part("vocals", "lead", "formant", -1, -1, notes, pan=pan, level=1.0, voice=voice_type,
                                  patch=lead_patch, style=style, seed=_part_seed(rng)))
            else:
                parts.append(Part("vocals", "lead", "espeak", -1, -1, notes, pan=pan, level=1.0, vibrato=vibrato,
                                  vibrato_rate=rate, voice=espeak_voice))
    if not spoken and rng.random() < 0.35:
        parts.extend(_harmony_parts(rng, pool, sections, chords, scale, melody, lo, hi, parts[0], syllables))
    if not spoken and rng.random() < 0.3 and parts[0].engine == "formant":
        delay, detune = voice.double_track_offsets(rng)
        for lead in [p for p in parts if p.role == "lead"]:
            parts.append(dataclasses.replace(lead, role="double", pan=float(np.clip(-lead.pan - 0.3, -1, 1)),
                                             level=float(rng.uniform(0.4, 0.75)), seed=_part_seed(rng),
                                             delay=float(delay), detune=float(detune)))
    return parts, phrases


def _split_by_style(sections: Sequence[Section], notes: Sequence[Note],
                    shout: bool) -> List[Tuple[str, Tuple[Note, ...]]]:
    """``[("sung", notes)]``, or the chorus notes apart as ``"shout"`` when the genre shouts."""
    if not shout:
        return [("sung", tuple(notes))]
    loud = tuple(n for n in notes if _section_of(sections, n.start).name == "chorus")
    rest = tuple(n for n in notes if _section_of(sections, n.start).name != "chorus")
    return [(s, ns) for s, ns in (("sung", rest), ("shout", loud)) if ns]


def _harmony_parts(rng: np.random.Generator, pool: Pool, sections: Sequence[Section], chords: Sequence[Chord],
                   scale: Sequence[int], melody: Sequence[Note], lo: int, hi: int, lead: Part,
                   syllables: Sequence[str]) -> List[Part]:
    """Backing vocals in the choruses: the formant singer or espeak-ng on a harmony line, or
    (as in v1) a GM "oohs" program of the pool's soundfonts."""
    chorus = [n for n in melody if _section_of(sections, n.start).name == "chorus"]
    if not chorus:
        return []
    level = float(rng.uniform(0.3, 0.6))
    pan = float(np.clip(-lead.pan + rng.uniform(-0.4, 0.4), -1, 1))
    kind = rng.random()
    if kind < 0.3:
        notes = _harmony(melody, sections, chords, scale, lo, hi)
        if not notes:
            return []
        return [Part("vocals", "harmony", "midi", int(VOICE_PROGRAMS[int(rng.integers(2))]), 1, tuple(notes), pan=pan,
                     level=level, source=_pick(rng, pool.melodic_soundfonts))]
    interval = _pick(rng, ("third_above", "third_below", "sixth_below", "octave"))
    line = voice.harmony_notes(tuple(_add_syllables(rng, chorus, syllables)),
                               lambda beat: chord_at(chords, beat).tones, interval)
    line = tuple(n for n in line if 36 <= n.pitch <= 88)
    if not line:
        return []
    if lead.engine == "formant":
        return [dataclasses.replace(lead, role="harmony", notes=line, pan=pan, level=level, style="sung",
                                    seed=_part_seed(rng))]
    return [Part("vocals", "harmony", "espeak", -1, -1, line, pan=pan, level=level, vibrato=lead.vibrato * 0.7,
                 vibrato_rate=lead.vibrato_rate * 1.05, voice=lead.voice if lead.engine == "espeak" else
                 f"{_pick(rng, pool.espeak_languages)}+{_pick(rng, pool.espeak_variants)}")]
