"""Training data: MUSDB18-HQ-style folders, random-mix examples and validation segments.

Layout: ``<root>/{train,valid,test}/<track>/{drums,bass,other,vocals}.wav`` (44.1 kHz WAV,
stereo; mono files are duplicated to two channels). ``mixture.wav`` may be present but is not
read: every mixture is the sum of its stems, for training (random mixes have no mixture file)
and validation alike, so the loss always sees a consistent (mixture, stems) pair. In
MUSDB18-HQ the mixture file is that sum anyway.

Validation split (:func:`resolve_splits`):

1. ``<root>/valid`` exists: its tracks.
2. else ``valid_tracks`` names are given: those tracks of ``<root>/train``.
3. else all 14 musdb validation tracks (:data:`MUSDB_VALID_TRACKS`) exist in ``train`` (the
   real MUSDB18-HQ, which has no ``valid`` folder): those.
4. else the last ``valid_holdout`` train tracks by name.

In cases 2-4 the validation tracks are removed from training unless ``train_on_valid``
(the original recipe trained on all 100 tracks, validation ones included).

Random mix (§9): each stem comes from an independently chosen random track at a random
offset; per stem, in this order: gain U[0.25, 1.25], left/right swap p=0.5, polarity flip
p=0.5; the mixture is the sum. Reads past the end of a file are zero-filled. The original's
GPU augmentations (pitch shift, speed perturbation) are not implemented.

WAV files are opened once with ``scipy.io.wavfile.read(mmap=True)`` and the maps cached, so a
segment read touches only its own samples. Sub-formats scipy cannot map (24-bit PCM) are
read whole into memory once and cached (documented cost: memory).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from scipy.io import wavfile

from .. import STEMS

SAMPLE_RATE = 44100

# musdb's validation subset (``musdb.DB(subsets="train", split="valid")``): 14 train tracks.
MUSDB_VALID_TRACKS = (
    "Actions - One Minute Smile",
    "Clara Berry And Wooldog - Waltz For My Victims",
    "Johnny Lokke - Promises & Lies",
    "Patrick Talbot - A Reason To Leave",
    "Triviul - Angelsaint",
    "Alexander Ross - Goodbye Bolero",
    "Fergessen - Nos Palpitants",
    "Leaf - Summerghost",
    "Skelpolu - Human Mistakes",
    "Young Griffo - Pennies",
    "ANiMAL - Rockshow",
    "James May - On The Line",
    "Meaxic - Take A Step",
    "Traffic Experiment - Sirens",
)


class DataError(ValueError):
    """The data folder does not have the expected layout or format."""


class WavCache:
    """Memory-mapped WAV files, opened once per path. ``read`` returns float32 ``(2, n)``."""

    def __init__(self) -> None:
        self._maps: Dict[Path, np.ndarray] = {}

    def _open(self, path: Path) -> np.ndarray:
        data = self._maps.get(path)
        if data is None:
            try:
                rate, data = wavfile.read(path, mmap=True)
            except ValueError:
                # scipy cannot memory-map some sub-formats (24-bit PCM): keep it in memory
                rate, data = wavfile.read(path)
            if rate != SAMPLE_RATE:
                raise DataError(f"{path}: sample rate {rate}, expected {SAMPLE_RATE} (no resampling in training)")
            if data.ndim == 2 and data.shape[1] not in (1, 2):
                raise DataError(f"{path}: {data.shape[1]} channels, expected mono or stereo")
            self._maps[path] = data
        return data

    def length(self, path: Path) -> int:
        return int(self._open(path).shape[0])

    def read(self, path: Path, start: int, n: int) -> np.ndarray:
        """Samples ``[start, start+n)`` as float32 ``(2, n)`` in [-1, 1], zero-filled past the end."""
        data = self._open(path)
        out = np.zeros((2, n), np.float32)
        seg = data[max(start, 0): max(start + n, 0)]
        if seg.shape[0] == 0:
            return out
        x = _to_float(np.asarray(seg))
        if x.ndim == 1:
            x = x[:, None]
        out[:, : x.shape[0]] = x.T  # mono broadcasts to both channels
        return out


def _to_float(x: np.ndarray) -> np.ndarray:
    # scipy returns the file's sample type; scale integers to [-1, 1) like torchaudio does
    if x.dtype == np.float32:
        return x
    if x.dtype == np.float64:
        return x.astype(np.float32)
    if x.dtype == np.uint8:
        return (x.astype(np.float32) - 128.0) / 128.0
    if x.dtype == np.int16:
        return x.astype(np.float32) / 32768.0
    if x.dtype == np.int32:  # 32-bit PCM and scipy's 24-bit (left-aligned in int32)
        return (x.astype(np.float64) / 2147483648.0).astype(np.float32)
    raise DataError(f"unsupported WAV sample type {x.dtype}")


@dataclass(frozen=True)
class Track:
    name: str
    folder: Path

    def stem(self, stem: str) -> Path:
        return self.folder / f"{stem}.wav"


def find_tracks(folder: Path) -> List[Track]:
    """Tracks (sub-folders holding the four stem WAVs) of ``folder``, sorted by name; hidden
    folders are skipped, any other folder without the four stems is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    tracks = []
    for d in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        missing = [s for s in STEMS if not (d / f"{s}.wav").is_file()]
        if missing:
            raise DataError(f"{d}: missing stem file(s) {', '.join(s + '.wav' for s in missing)}")
        tracks.append(Track(d.name, d))
    return tracks


def resolve_splits(root: Path, valid_tracks: Optional[Sequence[str]] = None, valid_holdout: int = 1,
                   train_on_valid: bool = False) -> Tuple[List[Track], List[Track], str]:
    """``(train, valid, how)`` for a data root; see the module docstring for the rules."""
    root = Path(root)
    train = find_tracks(root / "train")
    if not train:
        raise DataError(f"{root / 'train'}: no tracks")
    if (root / "valid").is_dir():
        valid = find_tracks(root / "valid")
        if not valid:
            raise DataError(f"{root / 'valid'}: no tracks")
        return train, valid, f"{len(train)} train tracks, {len(valid)} valid tracks from {root / 'valid'}"
    by_name = {t.name: t for t in train}
    if valid_tracks:
        unknown = [n for n in valid_tracks if n not in by_name]
        if unknown:
            raise DataError(f"--valid-tracks not found in {root / 'train'}: {unknown}")
        names, how = list(valid_tracks), "named with --valid-tracks"
    elif all(n in by_name for n in MUSDB_VALID_TRACKS):
        names, how = list(MUSDB_VALID_TRACKS), "the 14 musdb validation tracks"
    else:
        if not 0 < valid_holdout < len(train):
            raise DataError(f"cannot hold out {valid_holdout} of {len(train)} train tracks for validation")
        names, how = [t.name for t in train[-valid_holdout:]], f"the last {valid_holdout} train track(s) held out"
    valid = [by_name[n] for n in names]
    if not train_on_valid:
        train = [t for t in train if t.name not in set(names)]
    kept = "also used for training" if train_on_valid else "excluded from training"
    return train, valid, f"{len(train)} train tracks, {len(valid)} valid tracks ({how}, {kept})"


class RandomMix:
    """Random-mix training examples of ``segment`` samples from ``tracks``.

    Every draw consumes the caller's ``numpy.random.Generator`` in a fixed order, so a seeded
    generator gives the same examples, and saving its state makes resuming exact."""

    def __init__(self, tracks: Sequence[Track], segment: int, augment: bool = True,
                 cache: Optional[WavCache] = None):
        if not tracks:
            raise DataError("no training tracks")
        self.tracks = list(tracks)
        self.segment = int(segment)
        self.augment = augment
        self.cache = cache or WavCache()

    def example(self, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """``(mixture (2, N), stems (4, 2, N))`` float32, mixture = sum of the stems."""
        n = self.segment
        stems = np.empty((len(STEMS), 2, n), np.float32)
        for j, stem in enumerate(STEMS):
            path = self.tracks[int(rng.integers(len(self.tracks)))].stem(stem)
            start = int(rng.integers(max(self.cache.length(path) - n, 0) + 1))
            x = self.cache.read(path, start, n)
            if self.augment:
                x *= np.float32(rng.uniform(0.25, 1.25))
                if rng.random() < 0.5:
                    x = x[::-1]  # left/right swap
                if rng.random() < 0.5:
                    x = -x  # polarity flip
            stems[j] = x
        return stems.sum(0), stems

    def batch(self, rng: np.random.Generator, size: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(mixture (B, 2, N), stems (B, 4, 2, N))`` float32 tensors."""
        ex = [self.example(rng) for _ in range(size)]
        return (torch.from_numpy(np.stack([m for m, _ in ex])),
                torch.from_numpy(np.stack([s for _, s in ex])))


class Segments:
    """Consecutive, non-overlapping validation segments of ``segment`` samples.

    A track yields ``floor(len / segment)`` segments (the ragged tail is dropped), or one
    zero-padded segment if it is shorter than ``segment``; ``max_per_track`` > 0 keeps that many,
    evenly spread over the track (to bound validation time on a CPU without judging a model on
    intros alone, where stems often rest)."""

    def __init__(self, tracks: Sequence[Track], segment: int, max_per_track: int = 0,
                 cache: Optional[WavCache] = None):
        self.tracks = list(tracks)
        self.segment = int(segment)
        self.cache = cache or WavCache()
        self.index: List[Tuple[Track, int]] = []
        for t in self.tracks:
            count = max(self.cache.length(t.stem(STEMS[0])) // self.segment, 1)
            picks = range(count)
            if 0 < max_per_track < count:
                # Centres of equal parts: the first and last segments (intros and outros, where
                # stems often rest) are not picked unless there is room for them.
                picks = sorted({int((k + 0.5) * count / max_per_track) for k in range(max_per_track)})
            self.index += [(t, i * self.segment) for i in picks]

    def __len__(self) -> int:
        return len(self.index)

    def batches(self, size: int) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """``(mixture (B, 2, N), stems (B, 4, 2, N))`` in order; the last batch may be smaller."""
        for i in range(0, len(self.index), size):
            stems = np.stack([np.stack([self.cache.read(t.stem(s), start, self.segment) for s in STEMS])
                              for t, start in self.index[i:i + size]])
            yield torch.from_numpy(stems.sum(1)), torch.from_numpy(stems)
