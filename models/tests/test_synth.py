"""Synthetic multitrack generator: pure seeded composition, rendering (FluidSynth, espeak-ng),
the MUSDB18-HQ layout, exact mixtures, determinism and rests.

Rendering needs ``fluidsynth``, ``fluid-soundfont-gm`` and ``espeak-ng`` (installed by
``.ci/run``); without them these tests fail with the install command rather than skipping.
Tracks are a few seconds long so that the whole file runs in seconds.
"""
import dataclasses
import json

import numpy as np
import pytest

from danna_sep_models import STEMS
from danna_sep_models.cli import main as cli_main
from danna_sep_models.synth import compose, render
from danna_sep_models.synth.compose import Note, Part, Section, compose_song
from danna_sep_models.synth.dataset import FILES, SPLITS, generate_dataset, track_seed
from danna_sep_models.synth.render import SAMPLE_RATE, read_wav

SEED, SECONDS = 7, 4.0


def v1_song(seed, seconds=None):
    """This file tests the first generator (profile v1); v2 is tested in test_synth_v2.py."""
    return compose_song(seed, seconds, "v1")


# ---- composition (no rendering) -----------------------------------------------------------

def test_compose_is_pure_and_seeded():
    a, b = v1_song(123, 70.0), v1_song(123, 70.0)
    assert a == b and a is not b
    assert v1_song(124, 70.0) != a
    # Default length: drawn from the seed, 60-90 s.
    d = v1_song(5)
    assert d == v1_song(5) and 60.0 <= d.seconds <= 90.0
    # Track seeds: independent of how many tracks other splits have, distinct across splits/seeds.
    seeds = {track_seed(s, sp, n) for s in (0, 1) for sp in SPLITS for n in (1, 2, 3)}
    assert len(seeds) == 18 and track_seed(0, "valid", 2) == track_seed(0, "valid", 2)


@pytest.mark.parametrize("seed", range(12))
def test_compose_content(seed):
    song = v1_song(seed, 75.0)
    assert 72 <= song.bpm < 150 and song.mode in ("major", "minor")
    # Sections tile the bars; intros never have vocals; every stem plays somewhere.
    bar = 0
    for s in song.sections:
        assert s.name in ("intro", "verse", "chorus", "bridge", "outro") and s.start_bar == bar and s.bars >= 1
        bar += s.bars
    assert bar == song.bars and song.bars * 4 * song.beat_seconds <= song.seconds
    assert {"intro", "verse", "chorus", "outro"} <= {s.name for s in song.sections}
    assert all("vocals" not in s.active for s in song.sections if s.name == "intro")
    assert all(any(st in s.active for s in song.sections) for st in STEMS)

    for p in song.parts:
        assert all(0 <= n.start < song.seconds / song.beat_seconds and n.dur > 0 for n in p.notes), p.role
    drums, = song.parts_of("drums")
    assert drums.channel == compose.DRUM_CHANNEL and drums.program in compose.DRUM_KITS
    bass, = song.parts_of("bass")
    assert bass.program in range(32, 40) and all(28 <= n.pitch <= 55 for n in bass.notes)
    others = song.parts_of("other")
    assert 1 <= len(others) <= 3 and others[0].role == "chords" and len({p.program for p in others}) == len(others)
    assert not {p.program for p in others} & {52, 53, 54, 85, 91}  # nothing voice-like in "other"
    vocals = song.parts_of("vocals")
    assert vocals and all(p.engine == "espeak" or p.program in compose.VOICE_PROGRAMS for p in vocals)
    for p in vocals:
        assert p.vibrato > 0 and all(48 <= n.pitch <= 84 for n in p.notes)  # C3-C6
        if p.engine == "espeak":
            assert p.voice and p.notes[0].syllable

    # A stem resting in a section has no notes inside it.
    for s in song.sections:
        a, b = 4.0 * s.start_bar + 0.05, 4.0 * (s.start_bar + s.bars) - 0.05
        for stem in set(STEMS) - s.active:
            assert not [n for p in song.parts_of(stem) for n in p.notes if a <= n.start < b], (stem, s)

    # The lead melody follows the chords (chord tones on most notes) and breathes (several phrases).
    lead = [n for p in vocals if p.role == "lead" for n in p.notes]
    in_chord = [n.pitch % 12 in compose.chord_at(song.chords, n.start).tones for n in lead]
    assert np.mean(in_chord) > 0.55
    assert len(song.phrases) >= 3
    assert all(b1 - a1 > 0 for a1, b1 in song.phrases)
    assert all(a2 - b1 >= 1.0 for (_, b1), (a2, _) in zip(song.phrases, song.phrases[1:]))


def test_vocal_engines_vary_across_songs():
    engines = {p.engine for seed in range(12) for p in v1_song(seed, 20.0).parts_of("vocals")}
    assert engines == {"espeak", "midi"}


# ---- rendering ----------------------------------------------------------------------------

def test_sung_syllables_hit_the_notes():
    """espeak-ng + PSOLA: the sung f0 is the note's (well inside a semitone), vibrato around it."""
    song = v1_song(3, SECONDS)
    notes = (Note(0.0, 2.0, 57, 100, "la"), Note(2.0, 2.0, 69, 100, "no"))
    part = Part("vocals", "lead", "espeak", -1, -1, notes, pan=0.0, level=1.0, vibrato=0.1, voice="it+f3")
    y = render.sing(song, part, render.beat_to_sample(song, 4.0))
    assert np.abs(y).max() > 0.01
    half = len(y) // 2
    for seg, pitch in ((y[:half], 57), (y[half:], 69)):
        f0, strength, _ = render.f0_track(seg[len(seg) // 4:-len(seg) // 4])
        measured = np.median(f0[strength > 0.5])
        assert abs(12 * np.log2(measured / render.midi_hz(pitch))) < 0.3


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    tracks = generate_dataset(out, {"train": 1, "valid": 1, "test": 1}, seconds=SECONDS, seed=SEED, jobs=2, profile="v1",
                              log=lambda *_: None)
    return out, tracks


def test_layout(dataset):
    out, tracks = dataset
    assert [(t["split"], t["track"]) for t in tracks] == [(s, "synth-0001") for s in SPLITS]
    assert json.loads((out / "synth.json").read_text())["tracks"][0]["track"] == "synth-0001"
    for split in SPLITS:
        folder = out / split / "synth-0001"
        assert sorted(p.name for p in folder.iterdir()) == sorted(f"{f}.wav" for f in FILES)
        for f in FILES:
            x = read_wav(folder / f"{f}.wav")
            assert x.dtype == np.float32 and x.shape == (2, int(round(SECONDS * SAMPLE_RATE)))
    assert not list(out.glob("*/.synth-*"))  # no temporary folders left behind


def test_mixture_is_the_sum_of_the_stems(dataset):
    out, _ = dataset
    for split in SPLITS:
        folder = out / split / "synth-0001"
        stems = {f: read_wav(folder / f"{f}.wav").astype(np.float64) for f in FILES}
        assert np.abs(stems["mixture"] - sum(stems[s] for s in STEMS)).max() < 1e-6
        assert 0.05 < np.abs(stems["mixture"]).max() < 1.0
        for s in STEMS:  # every stem plays in these one-section songs
            assert np.sqrt(np.mean(stems[s] ** 2)) > 1e-3, (split, s)


def test_vocals_differ_from_other(dataset):
    out, _ = dataset
    for split in SPLITS:
        folder = out / split / "synth-0001"
        v, o = read_wav(folder / "vocals.wav").mean(0), read_wav(folder / "other.wav").mean(0)
        assert np.sqrt(np.mean(v ** 2)) > 1e-3
        corr = abs(np.dot(v, o)) / (np.linalg.norm(v) * np.linalg.norm(o))
        assert corr < 0.5


def test_same_seed_same_bytes_different_seed_different(dataset, tmp_path, capsys):
    """Through the CLI: the same seed rewrites identical files, another seed other files."""
    out, _ = dataset
    assert cli_main(["synth", "--out", str(tmp_path / "a"), "--train", "1", "--valid", "0", "--test", "0",
                     "--seconds", str(SECONDS), "--seed", str(SEED), "--jobs", "1", "--profile", "v1"]) == 0
    assert "wrote 1 tracks" in capsys.readouterr().out
    for f in FILES:
        assert (tmp_path / "a/train/synth-0001" / f"{f}.wav").read_bytes() == \
            (out / "train/synth-0001" / f"{f}.wav").read_bytes(), f
    generate_dataset(tmp_path / "b", {"train": 1}, seconds=SECONDS, seed=SEED + 1, jobs=1, log=lambda *_: None,
                     profile="v1")
    for f in FILES:
        assert (tmp_path / "b/train/synth-0001" / f"{f}.wav").read_bytes() != \
            (out / "train/synth-0001" / f"{f}.wav").read_bytes(), f


def test_resting_stem_is_silent():
    """A stem absent from a section is digital silence there once its tail has faded."""
    song = next(s for s in map(lambda k: v1_song(k, 6.0), range(100)) if s.bars >= 2)  # a fast tempo
    bars = song.bars
    half = bars // 2
    sections = (Section("verse", 0, half, frozenset(STEMS)),
                Section("chorus", half, bars - half, frozenset({"drums", "bass", "vocals"})))
    song = dataclasses.replace(song, sections=sections)
    audio = render.render_song(song)
    bar_n = 4 * song.beat_seconds * SAMPLE_RATE
    a = int(half * bar_n + render.REST_FADE * SAMPLE_RATE) + 2  # (rounding of the section start)
    assert np.all(audio["other"][:, a:] == 0)
    assert np.sqrt(np.mean(audio["other"][:, :int(half * bar_n)] ** 2)) > 1e-3
    assert np.sqrt(np.mean(audio["drums"][:, a:] ** 2)) > 1e-3


def test_missing_tools_are_reported(tmp_path):
    with pytest.raises(render.ToolMissing, match="apt-get install"):
        render.check_tools(tmp_path / "no.sf2", "v1")
