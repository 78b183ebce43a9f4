"""What a training checkpoint was trained on, how long, and how well: the per-model
``[models.<name>.provenance]`` fields of an exported model set.

A checkpoint written by :class:`~danna_sep_models.train.loop.Trainer` holds its options (data
folder, recipe, ``--init``), its step, the best validation SDR and, since the trainer records
it, the wall time it trained. :func:`describe` turns that into manifest fields, following
``--init`` back through earlier checkpoints, so a fine-tuned model names every stage it went
through (oldest first). A data folder made by ``synth`` is described from its ``synth.json``
(generator profile, seed, tracks and hours per split); any other folder by its track counts.

Everything here reads files that may have moved since training: what cannot be found is said
("not found at export"), never guessed.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import torch

SPLITS = ("train", "valid", "test")
# A chain of --init files longer than this is a loop or a mistake; stop following it.
MAX_STAGES = 16


@dataclass(frozen=True)
class Stage:
    """One training run of a lineage."""
    data: str  # what it trained on (one line)
    steps: int  # optimisation steps of this run (the checkpoint's step)
    recipe: str  # batch, segment, learning rate, device
    seconds: Optional[float]  # wall time of the run, when the checkpoint recorded it
    valid_sdr: float  # best validation SDR (dB) of the run
    valid_step: int  # the step it was reached at


def describe_data(folder: Path) -> str:
    """One line on a training data folder: ``synth`` metadata when present, else track counts."""
    folder = Path(folder)
    meta = folder / "synth.json"
    if meta.is_file():
        try:
            doc = json.loads(meta.read_text())
            tracks = doc["tracks"]
            parts = []
            for split in SPLITS:
                mine = [t for t in tracks if t.get("split") == split]
                if mine:
                    hours = sum(float(t["seconds"]) for t in mine) / 3600
                    parts.append(f"{split} {len(mine)} tracks ({hours:.2f} h)")
            return (f"synth profile {doc.get('profile', 'v1')}, seed {doc.get('seed')}: "
                    + ", ".join(parts) + f" [{folder.name}]")
        except (OSError, ValueError, KeyError, TypeError) as e:
            return f"{folder.name} (synth.json unreadable: {e})"
    if not folder.is_dir():
        return f"{folder} (not found at export)"
    counts = [f"{s} {sum(1 for d in (folder / s).iterdir() if d.is_dir())} tracks"
              for s in SPLITS if (folder / s).is_dir()]
    return f"{folder.name}: " + (", ".join(counts) or "no train/valid/test folders")


def _stage(ck: Mapping[str, Any]) -> Stage:
    o = ck.get("options", {})
    threads = o.get("threads")
    where = o.get("device", "cpu") + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else "")
    recipe = (f"batch {o.get('batch_size')} x {o.get('segment_seconds')} s, lr {o.get('lr'):g}, {where}"
              if o.get("lr") is not None else where)
    seconds = ck.get("train_seconds")
    return Stage(data=describe_data(Path(o.get("data", "?"))), steps=int(ck.get("step", 0)), recipe=recipe,
                 seconds=float(seconds) if seconds is not None else None,
                 valid_sdr=float(ck.get("best_sdr", float("nan"))), valid_step=int(ck.get("best_step", -1)))


def is_training_checkpoint(obj: Any) -> bool:
    """True for a dict written by the trainer (it has its options and step)."""
    return isinstance(obj, Mapping) and isinstance(obj.get("options"), Mapping) and "step" in obj


def lineage(path: Path) -> Optional[List[Stage]]:
    """The stages behind checkpoint ``path``, oldest first; ``None`` when it is not a
    trainer checkpoint. A ``--init`` that is missing or not a trainer checkpoint ends the
    chain with a stage that says so."""
    stages: List[Stage] = []
    current: Optional[Path] = Path(path)
    while current is not None and len(stages) < MAX_STAGES:
        try:
            ck = torch.load(str(current), map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - TorchScript, corrupt or absent: the chain ends here
            ck = None
        if not is_training_checkpoint(ck):
            if not stages:
                return None
            stages.append(Stage(data=f"weights {current.name} ({'not found at export' if not current.exists() else 'no training record'})",
                                steps=0, recipe="", seconds=None, valid_sdr=float("nan"), valid_step=-1))
            break
        stages.append(_stage(ck))
        init = ck["options"].get("init")
        current = Path(init) if init else None
    return list(reversed(stages))


def describe(path: Path) -> Optional[Dict[str, Any]]:
    """Manifest provenance fields for a trainer checkpoint (``None`` for other files):
    ``training_data`` and ``training`` (one clause per stage, joined by "; then "), the total
    ``steps``, ``train_hours`` (only when every stage recorded its time) and the last stage's
    best ``valid_sdr_db`` with the step it was reached at (``valid_best_step``)."""
    stages = lineage(path)
    if stages is None:
        return None
    trained = [s for s in stages if s.recipe]
    runs = []
    for s in trained:
        took = f", {s.seconds / 60:.1f} min" if s.seconds is not None else ""
        runs.append(f"{s.steps} steps ({s.recipe}{took})")
    last = stages[-1]
    fields: Dict[str, Any] = {
        "training_data": "; then ".join(s.data for s in stages),
        "training": "; then ".join(runs),
        "steps": sum(s.steps for s in trained),
    }
    if math.isfinite(last.valid_sdr):  # a run stopped before its first validation has none
        fields["valid_sdr_db"] = round(last.valid_sdr, 3)
        fields["valid_best_step"] = last.valid_step
    if trained and all(s.seconds is not None for s in trained):
        fields["train_hours"] = round(sum(s.seconds for s in trained) / 3600, 3)
    return fields
