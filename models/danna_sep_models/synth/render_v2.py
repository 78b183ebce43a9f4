"""Rendering a ``v2`` :class:`~.compose.Song`: every part on its own source, then the production.

Per stem:

1. each part is rendered by its engine: FluidSynth on the part's soundfont (one MIDI file
   per stem and soundfont), a sampled kit (:mod:`.samples`), a numpy engine
   (:mod:`.instruments`), espeak-ng singing (:func:`.render.sing`) or speaking
   (:func:`speak`), or the formant singer (:mod:`.voice`); each source group is brought to
   its part's level, so a song can mix sources inside one stem;
2. the stem's rests are applied, then its effect chain (:mod:`.effects`: the wet signal of its
   delays and reverbs stays in the stem), the rests again (a resting stem is silent), and its
   level (+-9 dB around a common reference);
3. the bus limiter's gain, computed on the mixture, multiplies every stem alike, so the
   mixture stays exactly the sum of the stems.

Deterministic like :mod:`.render`: every random choice comes from the song's seed.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .. import STEMS
from . import effects, instruments, voice
from .compose import Note, Part, Song
from .render import (PEAK_LIMIT, REFERENCE_RMS, SAMPLE_RATE, _sounding_rms, at_stem_level, beat_to_sample, breaths,
                     espeak, espeak_pitch, fade_end, midi_hz, n_samples, pan_stereo, render_midi, rest_mask, sing,
                     song_midi)
from .samples import kit_map, render_kit
from .sources import DRUMKITS, SOUNDFONTS

SPEECH_SPEED = 165  # words per minute of a spoken (rapped) lead


def render_song_v2(song: Song, workdir: Optional[Path] = None) -> Dict[str, np.ndarray]:
    """``{"mixture", "drums", "bass", "other", "vocals"}`` -> ``(2, N)`` float32; the mixture
    is the float32 sum of the four stems."""
    if song.production is None:
        raise ValueError("a v2 song needs its production plan")
    length = n_samples(song)
    rng = np.random.default_rng(np.random.SeedSequence([song.seed, 0x5EED, 2]))
    gains = dict(song.mix.gains_db)
    stems: Dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="danna-synth-") as tmp:
        work = Path(workdir) if workdir is not None else Path(tmp)
        for k, stem in enumerate(STEMS):
            dry = stem_dry(song, stem, length, work)
            if stem == "vocals" and song.parts_of("vocals"):
                level = 0.2 * _sounding_rms(dry)
                dry += pan_stereo(breaths(song, length, level, rng), song.parts_of("vocals")[0].pan).astype(np.float32)
            mask = rest_mask(song, stem, length)
            dry *= mask
            y = effects.apply_chain(song.production.chain(stem), dry, SAMPLE_RATE, seed=song.seed * 8 + k)
            y = np.asarray(y, dtype=np.float32) * mask
            stems[stem] = at_stem_level(y, mask, gains[stem])
    fade_end(stems, length)
    return finish_mix(song, stems, length)


def finish_mix(song: Song, stems: Dict[str, np.ndarray], length: int) -> Dict[str, np.ndarray]:
    """Loudness, the bus limiter (one gain for all stems) and the final peak limit."""
    mix = stems["drums"] + stems["bass"] + stems["other"] + stems["vocals"]
    rms = np.sqrt(np.einsum("ij,ij->", mix, mix, dtype=np.float64) / mix.size)
    g = 10.0 ** (song.mix.mixture_rms_db / 20.0) / rms if rms > 0 else 1.0
    out = {s: stems[s] * np.float32(g) for s in STEMS}
    bus = song.production.bus if song.production is not None else None
    if bus is not None:
        mix = out["drums"] + out["bass"] + out["other"] + out["vocals"]
        gain = np.asarray(effects.bus_limit(bus, mix, SAMPLE_RATE), dtype=np.float32)
        for s in STEMS:
            out[s] *= gain
    mix = out["drums"] + out["bass"] + out["other"] + out["vocals"]
    peak = float(np.abs(mix).max())
    if peak > PEAK_LIMIT:
        for s in STEMS:
            out[s] *= np.float32(PEAK_LIMIT / peak)
    mixture = np.zeros((2, length), dtype=np.float32)
    for s in STEMS:  # fixed order, float32: the file's mixture is exactly this sum
        mixture += out[s]
    out["mixture"] = mixture
    return out


def stem_dry(song: Song, stem: str, length: int, work: Path) -> np.ndarray:
    """The stem before effects: every source group at its parts' level."""
    dry = np.zeros((2, length), dtype=np.float32)
    parts = [p for p in song.parts_of(stem) if p.notes]
    for sf in sorted({p.source for p in parts if p.engine == "midi"}):
        mid = song_midi(song, stem, source=sf)
        if mid is None:
            continue
        group = render_midi(mid, work, f"{stem}-{sf}", length, SOUNDFONTS[sf].path)
        level = max(p.level for p in parts if p.engine == "midi" and p.source == sf)
        dry += _at_level(group, level)
    for part in parts:
        if part.engine == "midi":
            continue
        dry += _at_level(render_part(song, part, length), part.level)
    return dry


def _at_level(x: np.ndarray, level: float) -> np.ndarray:
    """``x`` scaled to ``level * REFERENCE_RMS`` while it sounds (silence stays silence)."""
    rms = _sounding_rms(x)
    return x if rms <= 0 else (x * np.float32(level * REFERENCE_RMS / rms)).astype(np.float32)


def render_part(song: Song, part: Part, length: int) -> np.ndarray:
    """One non-MIDI part as ``(2, length)`` float32."""
    beat_s = song.beat_seconds
    if part.engine == "kit":
        kit = DRUMKITS[part.source]
        y = render_kit(kit_map(str(kit.path), kit.percussion), part.notes, beat_s, length, SAMPLE_RATE)
        return _balance(y, part.pan)
    if part.engine in ("synth", "drumsynth"):
        mono = instruments.render_part(part.source, part.patch, part.notes, beat_s, length, SAMPLE_RATE, part.seed)
        return pan_stereo(mono, part.pan).astype(np.float32)
    if part.engine == "espeak":
        return pan_stereo(sing(song, part, length), part.pan).astype(np.float32)
    if part.engine == "speech":
        return pan_stereo(speak(song, part, length), part.pan).astype(np.float32)
    if part.engine == "formant":
        mono = voice.sing_formant(part.notes, beat_s, length, SAMPLE_RATE, part.voice, part.patch, part.style or "sung",
                                  part.seed, delay_s=part.delay, detune_cents=part.detune)
        return pan_stereo(mono, part.pan).astype(np.float32)
    raise ValueError(f"unknown engine {part.engine!r} for a {part.stem} part")


def _balance(stereo: np.ndarray, pan: float) -> np.ndarray:
    """Stereo balance for parts that are stereo already (sampled kits)."""
    out = stereo.copy()
    if pan > 0:
        out[0] *= np.float32(1.0 - pan)
    elif pan < 0:
        out[1] *= np.float32(1.0 + pan)
    return out


def phrases_of(notes: Sequence[Note]) -> List[List[Note]]:
    """Notes grouped where a rest of a beat or more separates them."""
    groups: List[List[Note]] = []
    for n in sorted(notes, key=lambda n: n.start):
        if groups and n.start - (groups[-1][-1].start + groups[-1][-1].dur) < 1.0:
            groups[-1].append(n)
        else:
            groups.append([n])
    return groups


def speak(song: Song, part: Part, length: int) -> np.ndarray:
    """A spoken lead: espeak-ng speaking each phrase's syllables as words, from the phrase's
    start, time-cut at its end (what a rapped or spoken line is: words, not sung notes)."""
    out = np.zeros(length)
    for phrase in phrases_of(part.notes):
        words = [n.syllable for n in phrase if n.syllable]
        if not words:
            continue
        # Two syllables per word, so espeak-ng stresses and links them like speech.
        text = " ".join("".join(words[i:i + 2]) for i in range(0, len(words), 2))
        centre = float(np.median([n.pitch for n in phrase]))
        x = np.asarray(espeak(text, part.voice, espeak_pitch(part.voice, midi_hz(centre - 5)), SPEECH_SPEED))
        start = beat_to_sample(song, phrase[0].start)
        end = min(length, beat_to_sample(song, phrase[-1].start + phrase[-1].dur) + int(0.25 * SAMPLE_RATE))
        if start >= length or x.size == 0:
            continue
        seg = x[: max(0, end - start)].copy()
        fade = min(len(seg), int(0.02 * SAMPLE_RATE))
        if fade:
            seg[len(seg) - fade:] *= np.linspace(1.0, 0.0, fade)
        rms = np.sqrt(np.mean(seg ** 2)) + 1e-9
        out[start:start + len(seg)] += seg * (0.2 / rms) * (np.mean([n.vel for n in phrase]) / 127.0)
    return out
