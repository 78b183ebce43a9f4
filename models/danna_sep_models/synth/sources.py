"""Where the generator's sounds come from, and which of them each profile may use.

A *source* is one place an instrument or a voice comes from: a General-MIDI soundfont that
Debian ships, a sampled drum kit (Hydrogen's kits, the AVL drum soundfonts), a numpy synthesis
engine (:mod:`.instruments`), an espeak-ng language or a formant voice type (:mod:`.voice`).
A :class:`Pool` lists the sources a song may draw from. Five profiles exist:

- ``v1``: the first generator (FluidR3_GM and espeak-ng only, one shared room, no effects).
  Kept so that numbers measured on it stay reproducible.
- ``v2``: the *seen* pool. ``train``, ``valid`` and ``test`` splits all draw from it.
- ``v2-holdout``: the same composer and mixer, but every part draws from the *unseen* pool:
  other soundfonts, other drum kits (the whole Millo and Black Pearl families, Hydrogen's and
  AVL's), other synthesis engines, whole General-MIDI families that ``v2`` never plays (brass,
  reeds, pipes, ethnic), other espeak-ng languages and voice variants, other formant voice
  types. Its test split is a proxy for material the models never heard.
- ``v3`` (the default, the training generator): ``v2``'s sources, but "other" may play every
  General-MIDI family (brass, reeds, pipes and ethnic instruments included), so that a model
  has heard a trumpet before it meets one on an unseen soundfont.
- ``v3-holdout``: ``v2-holdout``'s sources with every family: it holds out *sources* only, not
  families, the proxy for songs played on instruments and by voices the models never heard.
  (``v2-holdout`` holds out both, which measures what unseen families cost.)

Two Debian soundfonts are reserved for evaluation by people outside the project and are never
used here, in any profile (:data:`RESERVED_SOUNDFONT_MARKERS`, :func:`check_not_reserved`).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Tuple

SF2_DIR = Path(os.environ.get("DANNA_SYNTH_SF2_DIR", "/usr/share/sounds/sf2"))
HYDROGEN_DIR = Path(os.environ.get("DANNA_SYNTH_HYDROGEN_DIR", "/usr/share/hydrogen/data/drumkits"))

# Substrings (lower case) of the reserved soundfonts' package and file names:
# musescore-general-soundfont* (MuseScore_General.sf2/.sf3) and timgm6mb-soundfont (TimGM6mb.sf2).
RESERVED_SOUNDFONT_MARKERS = ("musescore", "timgm6mb")


class ReservedSource(ValueError):
    """A reserved evaluation soundfont was named as a generator source."""


def check_not_reserved(path: Path) -> Path:
    """Return ``path`` unless it names (or resolves to) a reserved soundfont."""
    names = [str(path).lower()]
    try:
        names.append(str(Path(path).resolve()).lower())
    except OSError:
        pass
    for name in names:
        for marker in RESERVED_SOUNDFONT_MARKERS:
            if marker in name:
                raise ReservedSource(f"{path} is reserved for held-out evaluation and is never used by the generator")
    return Path(path)


@dataclass(frozen=True)
class Soundfont:
    """A General-MIDI soundfont: melodic programs in bank 0, drum kits as (bank, preset)."""
    name: str
    file: str  # inside SF2_DIR
    package: str  # the Debian package that ships it
    melodic: bool
    kits: Tuple[Tuple[int, int], ...]

    @property
    def path(self) -> Path:
        return check_not_reserved(SF2_DIR / self.file)


@dataclass(frozen=True)
class Drumkit:
    """A Hydrogen drum kit folder (``drumkit.xml`` + samples). ``percussion``: hand percussion
    without a kick/snare/hat kit, played as an extra drums part."""
    name: str
    folder: str  # inside HYDROGEN_DIR
    percussion: bool = False

    @property
    def path(self) -> Path:
        return HYDROGEN_DIR / self.folder


SOUNDFONTS: Dict[str, Soundfont] = {sf.name: sf for sf in (
    # FluidR3 kits: standard, room, power, electronic, TR-808, jazz, brush.
    Soundfont("fluid", "FluidR3_GM.sf2", "fluid-soundfont-gm", True,
              ((128, 0), (128, 8), (128, 16), (128, 24), (128, 25), (128, 32), (128, 40))),
    Soundfont("opl3", "OPL-3_FM_128M.sf2", "opl3-soundfont", True, ((128, 0),)),
    Soundfont("csound", "sf_GMbank.sf2", "csound-soundfont", True, ((128, 0), (128, 8), (128, 16), (128, 24))),
    Soundfont("avl-red-zeppelin", "Red_Zeppelin_4_LV2.sf2", "avldrums.lv2-soundfont", False, ((0, 0),)),
    Soundfont("avl-black-pearl", "Black_Pearl_4_LV2.sf2", "avldrums.lv2-soundfont", False, ((0, 0),)),
)}

DRUMKITS: Dict[str, Drumkit] = {k.name: k for k in (
    Drumkit("audiophob", "Audiophob"),
    Drumkit("bja-pacific", "BJA_Pacific"),
    Drumkit("colombo", "ColomboAcousticDrumkit"),
    Drumkit("electric-empire", "ElectricEmpireKit"),
    Drumkit("forzee", "ForzeeStereo"),
    Drumkit("hard-electro", "HardElectro1"),
    Drumkit("varibreaks", "VariBreaks"),
    Drumkit("rumpf", "rumpf_kit_z01_h2"),
    Drumkit("gimme-a-hand", "Gimme A Hand 1.0", percussion=True),
    Drumkit("millo-1", "Millo-Drums_v.1"),
    Drumkit("millo-2", "Millo_MultiLayered2"),
    Drumkit("millo-3", "Millo_MultiLayered3"),
    Drumkit("black-pearl", "The Black Pearl 1.0"),
    Drumkit("circ-afrique", "circAfrique v4", percussion=True),
)}

# General-MIDI program families (8 programs each, 0-based first program).
GM_FAMILIES = {
    "piano": 0, "chromatic": 8, "organ": 16, "guitar": 24, "bass": 32, "strings": 40,
    "ensemble": 48, "brass": 56, "reed": 64, "pipe": 72, "synth-lead": 80, "synth-pad": 88,
    "synth-fx": 96, "ethnic": 104,
}


@dataclass(frozen=True)
class Pool:
    """The sources one profile may use, per kind."""
    name: str
    melodic_soundfonts: Tuple[str, ...]
    kit_soundfonts: Tuple[str, ...]
    drumkits: Tuple[str, ...]
    percussion_kits: Tuple[str, ...]
    synth_engines: Tuple[str, ...]  # numpy melodic engines (instruments.MELODIC_ENGINES)
    drum_engines: Tuple[str, ...]  # numpy drum kits (instruments.DRUM_ENGINES)
    families: Tuple[str, ...]  # GM families "other" may play
    espeak_languages: Tuple[str, ...]
    espeak_variants: Tuple[str, ...]
    formant_voices: Tuple[str, ...]  # voice.VOICE_TYPES

    def programs(self, candidates: Tuple[int, ...]) -> Tuple[int, ...]:
        """The candidates whose GM family this pool plays (the order kept)."""
        allowed = {GM_FAMILIES[f] for f in self.families}
        return tuple(p for p in candidates if (p // 8) * 8 in allowed)


SEEN = Pool(
    name="seen",
    melodic_soundfonts=("fluid", "opl3"),
    kit_soundfonts=("fluid", "opl3", "avl-red-zeppelin"),
    drumkits=("audiophob", "bja-pacific", "colombo", "electric-empire", "forzee", "hard-electro", "varibreaks",
              "rumpf"),
    percussion_kits=("gimme-a-hand",),
    synth_engines=("subtractive", "fm", "pluck"),
    drum_engines=("analog", "noise"),
    families=("piano", "chromatic", "organ", "guitar", "strings", "ensemble", "synth-lead", "synth-pad"),
    # Languages whose "la"/"na" syllables are sung with pure vowels.
    espeak_languages=("it", "es"),
    espeak_variants=("m1", "m2", "m3", "m4", "m6", "f1", "f2", "f4"),
    formant_voices=("bass", "tenor", "soprano"),
)

UNSEEN = Pool(
    name="unseen",
    melodic_soundfonts=("csound",),
    kit_soundfonts=("csound", "avl-black-pearl"),
    drumkits=("millo-1", "millo-2", "millo-3", "black-pearl"),
    percussion_kits=("circ-afrique",),
    synth_engines=("wavetable", "organ"),
    drum_engines=("electro",),
    families=("piano", "guitar", "strings", "brass", "reed", "pipe", "ethnic"),
    espeak_languages=("pt", "ro"),
    espeak_variants=("m5", "m7", "f3", "f5"),
    formant_voices=("baritone", "alto"),
)

# Every melodic GM family except bass (the bass stem's own) and synth effects (GM 96-103: rain,
# soundtrack, goblins, ... are effects, not parts); the voice-like programs are left out per
# role by arrange.V2_OTHER_PROGRAMS.
ALL_FAMILIES = ("piano", "chromatic", "organ", "guitar", "strings", "ensemble", "brass", "reed", "pipe",
                "synth-lead", "synth-pad", "ethnic")

# A new profile goes at the end: the index seeds the composer's stream (arrange.compose_v2).
PROFILES = ("v1", "v2", "v2-holdout", "v3", "v3-holdout")
# The generator the commands and functions use unless told otherwise: v3, because a U-Net
# trained on it beat one trained on v2 on both held-out splits (README, "Does training on v3 help").
DEFAULT_PROFILE = "v3"

_POOLS: Dict[str, Pool] = {
    "v2": SEEN,
    "v2-holdout": UNSEEN,
    "v3": dataclasses.replace(SEEN, name="seen, every family", families=ALL_FAMILIES),
    "v3-holdout": dataclasses.replace(UNSEEN, name="unseen, every family", families=ALL_FAMILIES),
}


def pool_of(profile: str) -> Pool:
    """The pool a ``v2``/``v3`` profile draws from (``v1`` has none: it predates pools)."""
    try:
        return _POOLS[profile]
    except KeyError:
        raise ValueError(f"profile {profile!r} has no source pool; expected one of {tuple(_POOLS)}") from None


def missing_sources(profile: str) -> Tuple[str, ...]:
    """What a profile needs that is not installed, as install hints (empty when complete)."""
    if profile == "v1":
        return ()
    pool = pool_of(profile)
    missing = []
    for name in set(pool.melodic_soundfonts) | set(pool.kit_soundfonts):
        sf = SOUNDFONTS[name]
        if not (SF2_DIR / sf.file).is_file():
            missing.append(f"{sf.file} (apt-get install {sf.package})")
    for name in pool.drumkits + pool.percussion_kits:
        if not (DRUMKITS[name].path / "drumkit.xml").is_file():
            missing.append(f"{DRUMKITS[name].folder} (apt-get install hydrogen-drumkits)")
    return tuple(sorted(set(missing)))
