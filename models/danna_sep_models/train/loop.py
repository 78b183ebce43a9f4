"""The trainer behind ``python -m danna_sep_models.cli train``: one model per run.

Recipe (§9), per model (every value can be overridden on the command line):

| model  | loss                               | optimiser                 | schedule                                   | batch | segment |
|--------|------------------------------------|---------------------------|--------------------------------------------|-------|---------|
| xumx   | combination loss, MWF 1 iteration  | Adam lr 1e-4, wd 1e-5     | MultiStepLR x0.3 at 45/70 of ``--steps``   | 4     | 6.0 s   |
| unet   | combination loss, ``Y = mask*X``   | Adam lr 2e-4              | MultiStepLR x0.3 at 560/700 of ``--steps`` | 16    | 11.88 s |
| demucs | L1 on the cropped target           | Adam lr 3e-4              | ReduceLROnPlateau x0.3 on validation loss  | 3     | 10.0 s  |

An "epoch" is ``--epoch-steps`` optimisation steps (default: train tracks x samples per track
(64 / 32 / 150 as in the original) / batch). After every epoch and at the last step the model
is validated on consecutive segments of the validation tracks (loss and SDR, §9 "Common"),
``last.pt`` is written and, when the average SDR improved, ``best.pt``.

Checkpoints (``torch.save``; every entry loads with ``weights_only=True``, so
:func:`danna_sep_models.checkpoints.load_model` and ``cargo xtask models export --xumx FILE``
read them without ``--allow-pickle``): ``model`` (the state_dict), ``config`` (``model``,
``name``, ``kwargs``), ``optimizer``, ``scheduler``, ``step``, ``best_sdr``, ``best_step``,
``rng`` (numpy data generator, torch CPU and CUDA generators), ``options``, ``train_seconds``
(wall time trained, read by :mod:`.provenance` for the manifest). ``--resume``
restores all of it, so an interrupted run continues exactly as an uninterrupted one (same
thread count and device assumed; it continues from the last epoch boundary).

Simplifications of the original recipe (documented in models/README.md too):

- no GPU pitch-shift / speed augmentations (only gain, L/R swap, polarity flip);
- models start from their random init; the original X-UMX started from asteroid's
  pretrained weights (``--init FILE`` loads any state_dict/checkpoint to do the same). For a
  scratch X-UMX the input normalisation is set from the training data (``-mean`` / ``1/std``
  of ``|X|`` per bin over ``--input-stats`` random mixes, as open-unmix does);
- one device, no DataParallel / synchronised BatchNorm (the U-Net's batch 16 ran on 4 GPUs),
  no AMP for Demucs, gradient accumulation available (``--grad-accum``, the original Demucs
  used 21) but off by default;
- milestones are fractions of ``--steps`` instead of epoch numbers; ReduceLROnPlateau counts
  validations (``--plateau-patience``, default 500 as the original);
- the loss's MWF runs in float32 (regulariser ``sqrt(eps32)``) unless ``--mwf-float64`` (the
  original's complex128); as in the original training, its statistics are pooled per segment
  and ``max_abs`` over the batch;
- every mixture, validation included, is the sum of its stems (``mixture.wav`` is not read);
  validation drops the ragged tail of each track (``--valid-max-segments`` bounds its cost);
- data loading runs in the training process (memory-mapped WAV reads are cheap), no workers.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .. import STEMS
from ..configs import CONFIGS, MODEL_NAMES, build, count_parameters
from ..demucs import demucs_min_length
from .data import SAMPLE_RATE, RandomMix, Segments, WavCache, resolve_splits
from .losses import HOP, demucs_loss, pooled_sdr, spectrogram_loss, stft

# Per-model recipe values of the original training (§9).
MODEL_DEFAULTS: Dict[str, Dict[str, Any]] = {
    "xumx": dict(lr=1e-4, weight_decay=1e-5, batch_size=4, segment_seconds=6.0, samples_per_track=64,
                 milestone=45 / 70),
    "unet": dict(lr=2e-4, weight_decay=0.0, batch_size=16, segment_seconds=11.88, samples_per_track=32,
                 milestone=560 / 700),
    "demucs": dict(lr=3e-4, weight_decay=0.0, batch_size=3, segment_seconds=10.0, samples_per_track=150,
                   milestone=None),
}
GAMMA = 0.3


@dataclass
class TrainOptions:
    """Everything a run needs; ``None`` means "the model's recipe value" (:data:`MODEL_DEFAULTS`)."""

    model: str
    data: str
    out: str
    config: str = "demo"
    lr: Optional[float] = None
    weight_decay: Optional[float] = None
    batch_size: Optional[int] = None
    segment_seconds: Optional[float] = None
    steps: int = 10000
    epoch_steps: Optional[int] = None
    log_every: int = 10
    threads: Optional[int] = None
    seed: int = 0
    resume: bool = False
    device: str = "cpu"
    valid_tracks: Optional[List[str]] = None
    valid_holdout: int = 1
    train_on_valid: bool = False
    valid_max_segments: int = 0
    grad_accum: int = 1
    clip_grad: float = 0.0
    init: Optional[str] = None
    input_stats: int = 32
    mwf_iterations: int = 1
    mwf_float64: bool = False
    mcoeff: float = 10.0
    plateau_patience: int = 500

    def resolved(self) -> "TrainOptions":
        if self.model not in MODEL_NAMES:
            raise ValueError(f"unknown model {self.model!r}; expected one of {MODEL_NAMES}")
        if self.config not in CONFIGS:
            raise ValueError(f"unknown config {self.config!r}; expected one of {tuple(CONFIGS)}")
        d = MODEL_DEFAULTS[self.model]
        o = TrainOptions(**{f.name: getattr(self, f.name) for f in fields(self)})
        for k in ("lr", "weight_decay", "batch_size", "segment_seconds"):
            if getattr(o, k) is None:
                setattr(o, k, d[k])
        return o


def segment_samples(model: str, config: str, seconds: float) -> int:
    """Segment length in samples, checked against the model's minimum input length."""
    n = int(round(seconds * SAMPLE_RATE))
    kwargs = CONFIGS[config][model]
    if model == "unet":
        frames, need = 1 + n // HOP, 2 ** kwargs.get("layers", 6)
        if frames < need:
            raise ValueError(f"unet: a {seconds} s segment gives {frames} STFT frames, the model needs >= {need} "
                             f"(>= {((need - 1) * HOP) / SAMPLE_RATE:.2f} s); 11.88 s gives 512 frames, 5.94 s 256")
    elif model == "demucs":
        need = demucs_min_length(kwargs.get("depth", 6), kwargs.get("kernel_size", 8), kwargs.get("stride", 4))
        if n < need:
            raise ValueError(f"demucs: a segment needs >= {need} samples, got {n}")
    return n


class Trainer:
    """One training run. ``run()`` trains to ``options.steps``; :meth:`train_step` and
    :meth:`validate` are usable on their own (the tests drive them directly)."""

    def __init__(self, options: TrainOptions, log: Callable[[str], None] = print):
        o = self.options = options.resolved()
        self.log = log
        if o.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("--device cuda asked but torch sees no CUDA device")
        self.device = torch.device(o.device)
        if o.threads:
            torch.set_num_threads(o.threads)
        self.out = Path(o.out)

        train, valid, how = resolve_splits(Path(o.data), o.valid_tracks, o.valid_holdout, o.train_on_valid)
        self.splits = how
        seg = segment_samples(o.model, o.config, o.segment_seconds)
        cache = WavCache()
        self.train_set = RandomMix(train, seg, augment=True, cache=cache)
        self.valid_set = Segments(valid, seg, o.valid_max_segments, cache=cache)
        self.epoch_steps = o.epoch_steps or max(1, math.ceil(
            len(train) * MODEL_DEFAULTS[o.model]["samples_per_track"] / (o.batch_size * o.grad_accum)))

        torch.manual_seed(o.seed)
        self.model: nn.Module = build(o.model, o.config).to(self.device).train()
        self.config = {"model": o.model, "name": o.config, "kwargs": dict(CONFIGS[o.config][o.model])}
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        milestone = MODEL_DEFAULTS[o.model]["milestone"]
        if milestone is None:
            self.scheduler: Any = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode="min", factor=GAMMA, patience=o.plateau_patience)
        else:
            self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
                self.optimizer, [max(1, round(o.steps * milestone))], gamma=GAMMA)
        # the data stream has its own generator: its state is saved, so resuming is exact
        self.rng = np.random.default_rng(o.seed)
        self.step = 0
        self.best_sdr = -math.inf
        self.best_step = -1
        # wall time trained before this run (resumed runs add up); None once a checkpoint
        # from before the trainer recorded it was resumed: the total is then unknown
        self.seconds_before: Optional[float] = 0.0
        self.run_started: Optional[float] = None

    # ---- the forward paths -------------------------------------------------------------

    def loss(self, mix: torch.Tensor, stems: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(loss, waveform estimates) of the current model on a batch."""
        if self.options.model == "demucs":
            return demucs_loss(self.model, mix, stems)
        iters = self.options.mwf_iterations if self.options.model == "xumx" else 0
        dtype = torch.float64 if self.options.mwf_float64 else torch.float32
        return spectrogram_loss(self.model, mix, stems, iters, self.options.mcoeff, dtype)

    def train_step(self, batches: Optional[List[Tuple[torch.Tensor, torch.Tensor]]] = None) -> float:
        """One optimisation step over ``grad_accum`` batches (drawn from the random mix when
        not given). Returns the mean loss."""
        o = self.options
        if batches is None:
            batches = [self.train_set.batch(self.rng, o.batch_size) for _ in range(o.grad_accum)]
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for mix, stems in batches:
            loss, _ = self.loss(mix.to(self.device), stems.to(self.device))
            (loss / len(batches)).backward()
            total += loss.item() / len(batches)
        if not math.isfinite(total):
            raise FloatingPointError(f"step {self.step + 1}: loss is {total}")
        if o.clip_grad > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), o.clip_grad)
        self.optimizer.step()
        if not isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step()
        self.step += 1
        return total

    @torch.no_grad()
    def validate(self) -> Dict[str, Any]:
        """Loss and SDR (dB, per stem and average) on the validation segments. The SDR pools each
        track's segments before the ratio (the MDX definition over what was evaluated of the
        track), so a segment where a stem rests does not dominate with a huge negative value, and
        a track where a stem rests in every evaluated segment is left out of that stem's mean
        (:func:`.losses.pooled_sdr`)."""
        self.model.eval()
        losses = []
        num: Dict[str, torch.Tensor] = {}
        den: Dict[str, torch.Tensor] = {}
        samples: Dict[str, int] = {}
        tracks = iter(t.name for t, _ in self.valid_set.index)
        for mix, stems in self.valid_set.batches(self.options.batch_size):
            mix, stems = mix.to(self.device), stems.to(self.device)
            loss, est = self.loss(mix, stems)
            losses.append(loss.item() * mix.shape[0])
            target = stems[..., : est.shape[-1]]
            for b in range(mix.shape[0]):
                name = next(tracks)
                n = target[b].square().sum((-2, -1)).cpu().double()
                d = (target[b] - est[b]).square().sum((-2, -1)).cpu().double()
                num[name] = num.get(name, 0) + n
                den[name] = den.get(name, 0) + d
                samples[name] = samples.get(name, 0) + target[b, 0].numel()
        self.model.train()
        names = list(num)
        per = pooled_sdr(torch.stack([num[k] for k in names]), torch.stack([den[k] for k in names]),
                         torch.tensor([samples[k] for k in names], dtype=torch.float64))
        return {"step": self.step, "loss": sum(losses) / len(self.valid_set), "sdr": per.nanmean().item(),
                "sdr_per_stem": {s: per[j].item() for j, s in enumerate(STEMS)}}

    # ---- checkpoints ----------------------------------------------------------------------

    def train_seconds(self) -> Optional[float]:
        """Wall time trained so far (validation included), over this run and the ones it resumed."""
        if self.seconds_before is None:
            return None
        return self.seconds_before + (time.perf_counter() - self.run_started if self.run_started is not None else 0.0)

    def state(self) -> Dict[str, Any]:
        rng: Dict[str, Any] = {"numpy": self.rng.bit_generator.state, "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        opts = asdict(self.options)
        return {"model": self.model.state_dict(), "config": self.config, "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "step": self.step, "best_sdr": self.best_sdr,
                "best_step": self.best_step, "rng": rng, "options": opts, "train_seconds": self.train_seconds()}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.state(), tmp)
        os.replace(tmp, path)  # never leave a half-written checkpoint behind

    def load(self, path: Path) -> None:
        """Restore a checkpoint written by :meth:`save` (model, optimiser, scheduler, step, RNGs)."""
        ck = torch.load(str(path), map_location="cpu", weights_only=True)
        if ck.get("config", {}).get("model") != self.config["model"] or ck["config"].get("kwargs") != self.config["kwargs"]:
            raise ValueError(f"{path}: checkpoint is {ck.get('config')}, this run is {self.config}")
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.step, self.best_sdr, self.best_step = int(ck["step"]), float(ck["best_sdr"]), int(ck["best_step"])
        seconds = ck.get("train_seconds")
        self.seconds_before = float(seconds) if seconds is not None else None
        self.rng.bit_generator.state = ck["rng"]["numpy"]
        torch.set_rng_state(ck["rng"]["torch"])
        if "cuda" in ck["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ck["rng"]["cuda"])

    # ---- initialisation ----------------------------------------------------------------------

    def init_weights(self) -> None:
        """Fresh start: ``--init FILE`` weights, else (X-UMX) input statistics from the data."""
        o = self.options
        if o.init:
            from ..checkpoints import load_state_dict
            sd, fmt = load_state_dict(Path(o.init))
            self.model.load_state_dict(sd, strict=True)
            self.log(f"initialised from {o.init} ({fmt})")
        elif o.model == "xumx" and o.input_stats > 0:
            self.set_input_stats(o.input_stats)

    @torch.no_grad()
    def set_input_stats(self, examples: int) -> None:
        """X-UMX input normalisation ``(|X| - mean) / std`` per bin from random training mixes
        (a separate generator, so the training data stream does not depend on it)."""
        rng = np.random.default_rng([self.options.seed, 1])
        mags = []
        for _ in range(examples):
            mix, _ = self.train_set.example(rng)
            mags.append(stft(torch.from_numpy(mix)).abs())
        mag = torch.stack(mags)[:, :, : self.model.max_bins]  # (n, C, F, T)
        mean = mag.mean((0, 1, 3))
        std = mag.std((0, 1, 3))
        std = std.clamp_min(1e-4 * float(std.max()) + 1e-12)  # silent bins must not blow up
        self.model.input_means.copy_(-mean.repeat(4).to(self.device))
        self.model.input_scale.copy_((1 / std).repeat(4).to(self.device))
        self.log(f"input statistics from {examples} random mixes (|X| mean {float(mean.mean()):.3g}, std {float(std.mean()):.3g})")

    # ---- the loop ------------------------------------------------------------------------

    def run(self, until: Optional[int] = None) -> Dict[str, Any]:
        """Train to ``options.steps`` (or stop at step ``until``, for tests of resuming).
        Returns the last validation result."""
        o = self.options
        last, best = self.out / "last.pt", self.out / "best.pt"
        if o.resume:
            if not last.is_file():
                raise FileNotFoundError(f"--resume: {last} does not exist")
            self.load(last)
            self.log(f"resumed from {last} at step {self.step} (best SDR {self.best_sdr:.3f} dB at step {self.best_step})")
        else:
            if last.exists():
                raise FileExistsError(f"{last} exists: pass --resume to continue it, or choose another --out")
            self.init_weights()
        self.log(f"{o.model} ({o.config}, {count_parameters(self.model):,} parameters) on {self.device}; {self.splits}; "
                 f"{len(self.valid_set)} valid segments; batch {o.batch_size} x {o.segment_seconds} s, "
                 f"lr {o.lr:g}, {o.steps} steps, epoch {self.epoch_steps} steps")
        stop = min(until, o.steps) if until is not None else o.steps
        self.run_started = time.perf_counter()
        result: Dict[str, Any] = {}
        window: List[float] = []
        tick = time.perf_counter()
        while self.step < stop:
            window.append(self.train_step())
            if self.step % o.log_every == 0 or self.step == stop:
                dt = time.perf_counter() - tick
                lr = self.optimizer.param_groups[0]["lr"]
                self.log(f"step {self.step}/{o.steps} loss {sum(window) / len(window):.4f} lr {lr:.2e} "
                         f"{len(window) / dt:.3f} steps/s ({dt / len(window):.2f} s/step)")
                window = []
            if self.step % self.epoch_steps == 0 or self.step == o.steps:
                result = self._end_of_epoch(last, best)
            if not window:
                tick = time.perf_counter()  # steps/s excludes validation and checkpoint time
        if self.step < o.steps and (not result or result["step"] != self.step):
            self.save(last)  # stopped early (``until``): keep the state to resume from
        return result

    def _end_of_epoch(self, last: Path, best: Path) -> Dict[str, Any]:
        t0 = time.perf_counter()
        r = self.validate()
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(r["loss"])
        improved = r["sdr"] > self.best_sdr
        if improved:
            self.best_sdr, self.best_step = r["sdr"], self.step
        self.save(last)
        if improved:
            self.save(best)
        per = " ".join(f"{s} {v:.2f}" for s, v in r["sdr_per_stem"].items())
        self.log(f"valid step {self.step}: loss {r['loss']:.4f} SDR {r['sdr']:.3f} dB ({per})"
                 f"{' best' if improved else ''} [{time.perf_counter() - t0:.1f} s]")
        with open(self.out / "history.jsonl", "a") as f:
            f.write(json.dumps(dict(r, best=improved)) + "\n")
        return r


# ---- command line --------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``cli.py train``."""
    p.add_argument("--model", required=True, choices=MODEL_NAMES)
    p.add_argument("--data", required=True, help="MUSDB18-HQ-style root: train/<track>/{drums,bass,other,vocals}.wav, "
                                                 "optional valid/")
    p.add_argument("--out", required=True, help="checkpoint folder (last.pt, best.pt, history.jsonl)")
    p.add_argument("--config", default="demo", choices=sorted(CONFIGS), help="model size (configs.py)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default: xumx 1e-4, unet 2e-4, demucs 3e-4)")
    p.add_argument("--weight-decay", type=float, help="Adam weight decay (default: xumx 1e-5, others 0)")
    p.add_argument("--batch-size", type=int, help="default: xumx 4, unet 16, demucs 3")
    p.add_argument("--segment-seconds", type=float, help="default: xumx 6.0, unet 11.88 (512 frames), demucs 10.0")
    p.add_argument("--steps", type=int, default=10000, help="total optimisation steps")
    p.add_argument("--epoch-steps", type=int, help="steps between validations/checkpoints "
                                                   "(default: train tracks x samples per track / batch)")
    p.add_argument("--log-every", type=int, default=10, help="steps between log lines")
    p.add_argument("--threads", type=int, help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    p.add_argument("--valid-tracks", help="comma-separated train track names used for validation when DATA/valid "
                                          "does not exist")
    p.add_argument("--valid-holdout", type=int, default=1, help="without DATA/valid, --valid-tracks or the musdb "
                                                                "validation tracks: hold out the last N train tracks")
    p.add_argument("--train-on-valid", action="store_true", help="keep validation tracks taken from train/ in training "
                                                                 "(as the original recipe did)")
    p.add_argument("--valid-max-segments", type=int, default=0, help="at most N validation segments per track (0: all)")
    p.add_argument("--grad-accum", type=int, default=1, help="batches per optimisation step (original Demucs: 21)")
    p.add_argument("--clip-grad", type=float, default=0.0, help="clip the gradient norm (0: off)")
    p.add_argument("--init", help="start from these weights (state_dict, checkpoint or TorchScript)")
    p.add_argument("--input-stats", type=int, default=32, help="xumx: random mixes for the input normalisation (0: off)")
    p.add_argument("--mwf-iterations", type=int, default=1, help="xumx: EM iterations of the MWF in the loss")
    p.add_argument("--mwf-float64", action="store_true", help="xumx: run the MWF in float64 as the original "
                                                              "(complex128); default float32, 2-3x faster")
    p.add_argument("--mcoeff", type=float, default=10.0, help="weight of the time term of the combination loss")
    p.add_argument("--plateau-patience", type=int, default=500, help="demucs: ReduceLROnPlateau patience (validations)")


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    names = {f.name for f in fields(TrainOptions)}
    kw = {k: getattr(args, k) for k in names if hasattr(args, k)}
    kw["data"], kw["out"] = str(args.data), str(args.out)
    if kw.get("valid_tracks"):
        kw["valid_tracks"] = [t.strip() for t in kw["valid_tracks"].split(",") if t.strip()]
    return TrainOptions(**kw)


def main(args: argparse.Namespace) -> int:
    trainer = Trainer(options_from_args(args), log=lambda s: print(s, flush=True))
    trainer.run()
    print(f"done: step {trainer.step}, best SDR {trainer.best_sdr:.3f} dB at step {trainer.best_step}; "
          f"{trainer.out / 'best.pt'}, {trainer.out / 'last.pt'}", flush=True)
    return 0
