"""Writing a synthetic dataset in the MUSDB18-HQ layout, in parallel over tracks.

``<out>/<split>/<track>/{mixture,drums,bass,other,vocals}.wav``: 44.1 kHz stereo float32,
``mixture.wav`` exactly the sum of the four stems. Splits ``train``, ``valid``, ``test``;
tracks ``synth-0001``, ``synth-0002``, ... in each split. A track's content depends only on
``(seed, split, number, seconds)``: asking for more training tracks does not change the
validation or test tracks, and re-running gives bit-identical files. ``<out>/synth.json``
lists what was generated (tempo, key, sections, instruments) for inspection.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

import numpy as np

from .. import STEMS
from .compose import Song, compose_song
from .render import SAMPLE_RATE, SOUNDFONT, check_tools, render_song, write_wav
from .sources import DEFAULT_PROFILE, PROFILES

SPLITS = ("train", "valid", "test")
FILES = ("mixture",) + tuple(STEMS)


def track_name(number: int) -> str:
    """``synth-0001`` for ``number`` 1."""
    return f"synth-{number:04d}"


def track_seed(seed: int, split: str, number: int) -> int:
    """The song seed of track ``number`` (1-based) of ``split`` under the dataset ``seed``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    state = np.random.SeedSequence([int(seed), SPLITS.index(split), int(number)]).generate_state(2, np.uint32)
    return int(state[0]) << 32 | int(state[1])


def generate_track(out: Path, split: str, number: int, seed: int = 0, seconds: Optional[float] = None,
                   soundfont: Path = SOUNDFONT, profile: str = DEFAULT_PROFILE) -> Dict[str, Any]:
    """Compose, render and write one track; returns its summary (see :func:`song_summary`).

    Files are written to a hidden sibling folder renamed into place at the end, so an
    interrupted run never leaves a track folder with missing or truncated files.
    """
    name = track_name(number)
    song = compose_song(track_seed(seed, split, number), seconds, profile)
    audio = render_song(song, soundfont=soundfont)
    folder = Path(out) / split / name
    tmp = folder.parent / f".{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for f in FILES:
        write_wav(tmp / f"{f}.wav", audio[f])
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    info = song_summary(song)
    info.update(split=split, track=name, path=str(folder))
    return info


def _worker(args) -> Dict[str, Any]:
    t0 = time.perf_counter()
    info = generate_track(*args)
    info["render_seconds"] = round(time.perf_counter() - t0, 3)
    return info


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def generate_dataset(out: Path, counts: Mapping[str, int], seconds: Optional[float] = None, seed: int = 0,
                     jobs: Optional[int] = None, soundfont: Path = SOUNDFONT,
                     log: Callable[[str], None] = print, profile: str = DEFAULT_PROFILE) -> List[Dict[str, Any]]:
    """Generate ``counts[split]`` tracks per split into ``out`` with ``jobs`` worker processes
    (default: the number of CPUs) from the generator ``profile`` (:data:`.sources.PROFILES`).
    Returns the track summaries, in split/number order."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    check_tools(soundfont, profile)
    bad = [s for s in counts if s not in SPLITS]
    if bad:
        raise ValueError(f"unknown split(s) {bad}; expected {SPLITS}")
    if seconds is not None and seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [(out, split, k, seed, seconds, soundfont, profile)
             for split in SPLITS for k in range(1, int(counts.get(split, 0)) + 1)]
    jobs = max(1, min(jobs or default_jobs(), len(tasks) or 1))
    t0 = time.perf_counter()
    results: List[Dict[str, Any]] = []
    if jobs == 1:
        for t in tasks:
            results.append(_worker(t))
            _log_track(log, results[-1], len(results), len(tasks))
    else:
        # fork: the workers need nothing from the parent but these arguments, and it avoids
        # re-importing the CLI (and torch) in every worker as spawn would.
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = [pool.submit(_worker, t) for t in tasks]
            for f in as_completed(futures):
                results.append(f.result())
                _log_track(log, results[-1], len(results), len(tasks))
    results.sort(key=lambda r: (SPLITS.index(r["split"]), r["track"]))
    wall = time.perf_counter() - t0
    audio_s = sum(r["seconds"] for r in results)
    log(f"{len(results)} tracks, {audio_s / 60:.1f} min of audio in {wall:.1f} s with {jobs} job(s) "
        f"({wall / max(audio_s, 1e-9) * 3600:.0f} s per hour of audio)")
    manifest = {"generator": "danna_sep_models.synth", "profile": profile, "seed": seed, "seconds": seconds,
                "sample_rate": SAMPLE_RATE, "files": list(FILES),
                "tracks": [{k: v for k, v in r.items() if k != "path"} for r in results]}
    (out / "synth.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return results


def _log_track(log: Callable[[str], None], r: Dict[str, Any], done: int, total: int) -> None:
    log(f"[{done}/{total}] {r['split']}/{r['track']}: {r['seconds']:.1f} s, {r['bpm']:.0f} bpm, "
        f"vocals {'+'.join(r['vocals'])} ({r['render_seconds']:.1f} s)")


def song_summary(song: Song) -> Dict[str, Any]:
    """A JSON-able description of a song: form, tempo, key and instruments."""
    names = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    vocals = [part_label(p) for p in song.parts_of("vocals")]
    return {
        "seed": song.seed,
        "seconds": song.seconds,
        "bpm": round(song.bpm, 3),
        "key": f"{names[song.key]} {song.mode}",
        "sections": [{"name": s.name, "bars": s.bars, "stems": [x for x in STEMS if x in s.active]}
                     for s in song.sections],
        "programs": {stem: [p.program for p in song.parts_of(stem) if p.engine == "midi"] for stem in STEMS},
        "other_roles": [p.role for p in song.parts_of("other")],
        "vocals": vocals,
        "profile": song.profile,
        "genre": song.genre,
        "sources": {stem: [part_label(p) for p in song.parts_of(stem)] for stem in STEMS},
    }


def part_label(p) -> str:
    """What plays a part, e.g. ``espeak:it+f3``, ``gm33:bass`` (v1), ``fluid:gm33``,
    ``fluid:kit25`` (a soundfont drum kit), ``kit:colombo``, ``synth:fm``, ``formant:tenor/sung``."""
    if p.engine == "espeak" or p.engine == "speech":
        return f"{p.engine}:{p.voice}"
    if p.engine == "formant":
        return f"formant:{p.voice}/{p.style or 'sung'}"
    if p.engine == "midi" and p.stem == "drums":
        return f"{p.source or 'fluid'}:kit{p.program}"
    if p.engine == "midi":
        return f"{p.source}:gm{p.program}" if p.source else f"gm{p.program}:{p.role}"
    return f"{p.engine}:{p.source}"
