"""The generator report: what a generated dataset contains, as tables and pictures.

``write_report(dataset, out)`` reads ``dataset/synth.json`` (written by
:func:`.dataset.generate_dataset`) and writes into ``out``:

- ``synth-report.md``: per stem, how many parts each source played (soundfont program families,
  sampled kits, numpy engines, espeak-ng voices, formant voice types and styles), genres and
  tempi, per split;
- ``synth-histograms.png``: the same counts as bar charts (source kind per stem, genres);
- ``synth-spectrograms.png``: log-frequency spectrograms of the mixture and the four stems of a
  few tracks.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from .. import STEMS
from .render import SAMPLE_RATE, read_wav
from .sources import GM_FAMILIES

_FAMILY_OF = {first: name for name, first in GM_FAMILIES.items()}


def source_kind(label: str) -> str:
    """A coarse class of a part label (see :func:`.dataset.part_label`): ``fluid:gm33`` ->
    ``fluid/bass``, ``kit:colombo`` -> ``kit:colombo``, ``formant:alto/sung`` -> ``formant:alto``."""
    head, _, rest = label.partition(":")
    if rest.startswith("kit") and rest[3:].isdigit():
        return f"{head}/kit"
    if rest.startswith("gm") and rest[2:].isdigit():
        program = int(rest[2:])
        return f"{head}/{_FAMILY_OF.get(program // 8 * 8, 'gm')}"
    if rest.startswith("gm"):  # v1 labels: gm33:bass
        return "fluid/" + _FAMILY_OF.get(int(rest[2:].split(":")[0]) // 8 * 8, "gm")
    if head.startswith("gm"):
        return "fluid/" + _FAMILY_OF.get(int(head[2:]) // 8 * 8, "gm")
    if head == "formant":
        return f"formant:{rest.split('/')[0]}"
    if head in ("espeak", "speech"):
        return f"{head}:{rest.split('+')[0]}"
    return label


def counts(tracks: Sequence[Dict]) -> Dict[str, Counter]:
    """Per stem: source kind -> number of parts; plus ``genre`` and ``tempo`` (bpm rounded to 20)."""
    out: Dict[str, Counter] = {s: Counter() for s in STEMS}
    out["genre"] = Counter()
    out["tempo"] = Counter()
    for t in tracks:
        for stem in STEMS:
            for label in t.get("sources", {}).get(stem, []):
                out[stem][source_kind(label)] += 1
        out["genre"][t.get("genre") or "v1"] += 1
        lo = int(t["bpm"] // 20 * 20)
        out["tempo"][f"{lo}-{lo + 19}"] += 1
    return out


def markdown(manifest: Dict) -> str:
    lines = [f"# Generator report: profile `{manifest.get('profile', 'v1')}`, seed {manifest['seed']}", ""]
    tracks = manifest["tracks"]
    splits = sorted({t["split"] for t in tracks}, key=["train", "valid", "test"].index)
    minutes = sum(t["seconds"] for t in tracks) / 60
    per_split = ", ".join(f"{sum(t['split'] == s for t in tracks)} {s}" for s in splits)
    lines.append(f"{len(tracks)} tracks ({per_split}), {minutes:.1f} minutes. "
                 "Counts are parts (a song has one or more per stem).")
    c = counts(tracks)
    for key in list(STEMS) + ["genre", "tempo"]:
        lines += ["", f"## {key}", "", "| source | parts | share |", "|---|---|---|"]
        total = sum(c[key].values()) or 1
        for name, n in sorted(c[key].items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"| {name} | {n} | {100 * n / total:.0f} % |")
    return "\n".join(lines) + "\n"


def write_report(dataset: Path, out: Path, spectrogram_tracks: int = 2) -> List[Path]:
    """Write the report files for ``dataset`` into ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dataset, out = Path(dataset), Path(out)
    manifest = json.loads((dataset / "synth.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    written = []
    md = out / "synth-report.md"
    md.write_text(markdown(manifest))
    written.append(md)

    c = counts(manifest["tracks"])
    fig, axes = plt.subplots(1, 5, figsize=(22, 6))
    for ax, key in zip(axes, list(STEMS) + ["genre"]):
        items = sorted(c[key].items(), key=lambda kv: -kv[1])[:18]
        ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#4a7ab0")
        ax.set_title(key)
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle(f"parts per source, profile {manifest.get('profile', 'v1')}, {len(manifest['tracks'])} tracks")
    fig.tight_layout()
    hist = out / "synth-histograms.png"
    fig.savefig(hist, dpi=80)
    plt.close(fig)
    written.append(hist)

    picks = [t for t in manifest["tracks"]][:spectrogram_tracks]
    if picks:
        fig, axes = plt.subplots(len(picks), 5, figsize=(22, 3.2 * len(picks)), squeeze=False)
        for row, t in zip(axes, picks):
            folder = dataset / t["split"] / t["track"]
            for ax, name in zip(row, ("mixture",) + tuple(STEMS)):
                x = read_wav(folder / f"{name}.wav").mean(axis=0)
                ax.imshow(log_spectrogram(x), origin="lower", aspect="auto", cmap="magma", vmin=-90, vmax=0,
                          extent=(0, len(x) / SAMPLE_RATE, 0, 1))
                ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0], ["30", "160", "830", "4.3k", "22k"])
                ax.set_title(f"{t['track']} {t.get('genre', '')} {name}", fontsize=9)
        fig.tight_layout()
        spec = out / "synth-spectrograms.png"
        fig.savefig(spec, dpi=45)
        plt.close(fig)
        written.append(spec)
    return written


def log_spectrogram(x: np.ndarray, n_fft: int = 2048, hop: int = 1024, bands: int = 160) -> np.ndarray:
    """dB magnitude on a log-frequency axis from 30 Hz to Nyquist (``bands`` rows), 0 dB = peak."""
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    mag = np.abs(np.fft.rfft(frames, axis=1)).T
    freqs = np.fft.rfftfreq(n_fft, 1 / SAMPLE_RATE)
    edges = np.geomspace(30.0, SAMPLE_RATE / 2, bands + 1)
    idx = np.clip(np.searchsorted(freqs, edges), 1, len(freqs) - 1)
    rows = np.stack([mag[a:max(a + 1, b)].mean(axis=0) for a, b in zip(idx[:-1], idx[1:])])
    db = 20 * np.log10(rows + 1e-9)
    return db - db.max()
