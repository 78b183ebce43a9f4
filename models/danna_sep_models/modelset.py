"""Building model-set folders: ONNX files + ``manifest.toml``.

Used by ``cargo xtask models export`` (our own definitions, random init or a checkpoint) and
``cargo xtask models import-danna`` (the official release or training checkpoints).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from . import STEMS, manifest
from .checkpoints import load_model
from .configs import CONFIGS, MODEL_NAMES, build
from .onnx_io import OnnxValidationError, check_runtime, check_static, export_and_check, io_summary
from .specs import SAMPLE_RATE, model_spec, parity_lengths

# Files the released tool loads, and the alternatives we also accept, by model.
DANNA_FILES = {
    "xumx": ["xumx.onnx", "xumx.pth", "xumx.ckpt", "xumx_mwf.pth"],
    "unet": ["unet_attention.pth", "unet.pth", "unet.ckpt"],
    "demucs": ["demucs_4_decoders.pth", "demucs.pth", "demucs.ckpt"],
}
DANNA_PROVENANCE = {
    "origin": "Danna-Sep v1.0.2 release checkpoints (github.com/yoyololicon/danna-sep), imported",
    "training_data": "MUSDB18-HQ train subset (100 tracks, incl. the 14 validation tracks), random-mix augmentation",
    "notes": "SDR 6.77 dB is the published Danna-Sep result, not measured on this import.",
}


def _entry(model: str, cfg: Dict[str, Any], file: str, io: Dict[str, Any], prov: Dict[str, Any]) -> Dict[str, Any]:
    spec = model_spec(model, cfg)
    e: Dict[str, Any] = {"file": file}
    e.update({k: spec[k] for k in ("kind", "sample_rate", "n_fft", "hop", "max_bins", "min_frames", "frame_multiple")})
    if model == "unet":
        e["chunk_frames"] = manifest.DANNA_UNET_CHUNK_FRAMES
    e["stems"] = list(STEMS)
    e["input_name"] = io["input_name"]
    e["output_name"] = io["output_name"]
    e["opset"] = int(io["opset"])
    e["config"] = {k: v for k, v in cfg.items() if v is not None}
    e["output_length"] = spec["output_length"]
    e["provenance"] = prov
    return e


def build_doc(name: str, description: str, models: Dict[str, Dict[str, Any]], provenance: Dict[str, Any],
              blend: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The manifest document for ``models`` (entries from :func:`_entry`); ``blend`` defaults
    to :func:`manifest.default_blend`."""
    order = [m for m in MODEL_NAMES if m in models]
    return {
        "schema_version": manifest.SCHEMA_VERSION,
        "name": name,
        "description": description,
        "sample_rate": SAMPLE_RATE,
        "stems": list(STEMS),
        "provenance": provenance,
        "models": models,
        "blend": blend if blend is not None else manifest.default_blend(order),
    }


def _finish(out: Path, name: str, description: str, models: Dict[str, Dict[str, Any]], provenance: Dict[str, Any],
            blend: Optional[Dict[str, Any]] = None) -> Path:
    for e in models.values():
        e["sha256"] = manifest.sha256(out / e["file"])
    return manifest.write(out, build_doc(name, description, models, provenance, blend))


def checkpoint_provenance(path: Path, fmt: str) -> Dict[str, Any]:
    """Per-model provenance of a weights file: its name and hash, and for a trainer
    checkpoint what it was trained on, how long and its validation SDR (:mod:`.train.provenance`)."""
    from .train.provenance import describe
    prov: Dict[str, Any] = {"origin": f"{fmt} file {path.name} (sha256 {manifest.sha256(path)[:16]}...)"}
    record = describe(path) if fmt == "checkpoint" else None
    prov.update(record or {"training_data": "unknown (the file holds no training record)"})
    return prov


def export_set(out: Path, config: str = "small", models: Optional[List[str]] = None,
               weights: Optional[Dict[str, Path]] = None, seed: int = 0, atol: float = 1e-4,
               name: Optional[str] = None, log=print, allow_pickle: bool = False,
               provenance: Optional[Dict[str, str]] = None, update: bool = False) -> Path:
    """Export our own definitions to ``out`` (ONNX + manifest). ``weights[model]`` may name a
    checkpoint (any format :func:`checkpoints.load_model` accepts); otherwise random init.
    ``provenance`` overrides the set-level provenance fields (origin, training_data, notes).

    ``update``: ``out`` is an existing set; only the models given ``weights`` are replaced.
    The other members (files, int8 variants, provenance), the name, the set-level provenance
    and the blend weights stay; a replaced model's int8 file is deleted (it would be stale).
    The blend was tuned for the old members: re-tune it (``models eval --tune-blend``)."""
    out = Path(out)
    weights = weights or {}
    existing = manifest.load(out) if update else None
    if existing is not None:
        models = [m for m in (models or MODEL_NAMES) if m in weights]
        if not models:
            raise ValueError("update: name the weights of at least one model to replace (--xumx, --unet, --demucs)")
    out.mkdir(parents=True, exist_ok=True)
    models = models or list(MODEL_NAMES)
    entries: Dict[str, Dict[str, Any]] = dict(existing["models"]) if existing is not None else {}
    for model in models:
        if model in weights:
            module, cfg, fmt = load_model(model, Path(weights[model]), allow_pickle)
            prov = checkpoint_provenance(Path(weights[model]), fmt)
            stale = entries.get(model, {}).get("int8_file")
            if stale and (out / stale).is_file():
                (out / stale).unlink()
                log(f"{model}: removed the stale {stale} (run `models quantize` again for an int8 variant)")
        else:
            torch.manual_seed(seed)
            module, cfg = build(model, config), dict(CONFIGS[config][model])
            prov = {"origin": f"random initialisation, config '{config}', seed {seed}", "training_data": "none"}
        file = f"{model}.onnx"
        report = export_and_check(module, model, cfg, out / file, atol=atol)
        log(f"{model}: exported {out / file}; ORT vs PyTorch max abs diff by length: "
            + ", ".join(f"{n}: {d:.2e}" for n, d in report["max_abs_diff"].items()))
        entries[model] = _entry(model, cfg, file, report["io"], prov)
    if existing is not None:
        set_prov = dict(existing["provenance"])
        set_prov.update(provenance or {})
        return _finish(out, name or existing["name"], existing["description"], entries, set_prov,
                       existing.get("blend"))
    if weights:
        set_prov = {"origin": "exported from checkpoints: " + ", ".join(f"{m}={Path(p).name}" for m, p in weights.items()),
                    "training_data": "see the per-model provenance"}
    else:
        set_prov = {"origin": f"random initialisation (config '{config}', seed {seed}): for plumbing and benchmarks only",
                    "training_data": "none"}
    set_prov.update(provenance or {})
    return _finish(out, name or f"danna-sep-{config}", f"Danna-Sep architectures, config '{config}'", entries, set_prov)


def find_danna_files(src: Path, overrides: Optional[Dict[str, Path]] = None) -> Dict[str, Path]:
    overrides = overrides or {}
    found: Dict[str, Path] = {}
    missing = []
    for model, names in DANNA_FILES.items():
        if model in overrides:
            found[model] = Path(overrides[model])
            continue
        for n in names:
            if (Path(src) / n).is_file():
                found[model] = Path(src) / n
                break
        else:
            missing.append(f"{model} (one of {', '.join(names)})")
    if missing:
        raise FileNotFoundError(f"{src}: missing model files: " + "; ".join(missing))
    return found


def import_danna(src: Path, out: Path, overrides: Optional[Dict[str, Path]] = None, atol: float = 1e-4,
                 provenance: Optional[Dict[str, Any]] = None, log=print, allow_pickle: bool = False) -> Path:
    """Convert the three Danna-Sep files in ``src`` to a model set in ``out``.

    TorchScript / checkpoint / state_dict files are loaded strictly into our definitions
    (config inferred from the shapes), exported and compared with ORT. ``xumx.onnx`` is
    validated (checker, shape inference, I/O dims, runtime shapes) and copied as is; if it
    fails validation and a PyTorch X-UMX file is also present, that one is re-exported.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = find_danna_files(Path(src), overrides)
    entries: Dict[str, Dict[str, Any]] = {}
    for model, path in files.items():
        file = f"{model}.onnx"
        src_prov = {"source_file": path.name, "source_sha256": manifest.sha256(path)}
        if path.suffix == ".onnx":
            try:
                entries[model] = _import_onnx(model, path, out / file, src_prov, log)
                continue
            except OnnxValidationError as e:
                alt = [Path(src) / n for n in DANNA_FILES[model] if not n.endswith(".onnx") and (Path(src) / n).is_file()]
                if not alt:
                    raise
                log(f"{model}: {e}; re-exporting from {alt[0].name}")
                path = alt[0]
                src_prov = {"source_file": path.name, "source_sha256": manifest.sha256(path)}
        module, cfg, fmt = load_model(model, path, allow_pickle)
        src_prov["format"] = fmt
        report = export_and_check(module, model, cfg, out / file, atol=atol)
        log(f"{model}: {path.name} ({fmt}) -> {out / file}; ORT vs PyTorch max abs diff by length: "
            + ", ".join(f"{n}: {d:.2e}" for n, d in report["max_abs_diff"].items()))
        entries[model] = _entry(model, cfg, file, report["io"], src_prov)
    return _finish(out, "danna-sep", "Danna-Sep (ISMIR MDX 2021) ensemble: X-UMX, UNetAttn, DemucsSplit",
                   entries, dict(provenance or DANNA_PROVENANCE))


def _import_onnx(model: str, path: Path, dest: Path, prov: Dict[str, Any], log) -> Dict[str, Any]:
    if model == "demucs":
        spec_kind = "waveform"
    else:
        spec_kind = "spectrogram_mask"
    io = check_static(path, spec_kind)
    # config for the manifest facts; an ONNX file does not reveal it, use Danna-Sep's
    cfg = dict(CONFIGS["full"][model])
    spec = model_spec(model, cfg)
    check_runtime(path, spec, parity_lengths(model, cfg))
    if path.resolve() != dest.resolve():
        shutil.copyfile(path, dest)
    prov = dict(prov, format="onnx")
    log(f"{model}: {path.name} validated (opset {io['opset']}, input '{io['input_name']}' {io['input_dims']}, "
        f"output '{io['output_name']}' {io['output_dims']}); copied as is")
    e = _entry(model, cfg, dest.name, io, prov)
    del e["config"]  # an ONNX file does not reveal its architecture config
    return e


def check_set(folder: Path, lengths: Optional[Dict[str, List[int]]] = None) -> Dict[str, Any]:
    """Validate a model-set folder: manifest schema, files, ONNX checker/shape inference,
    declared names and dims, and output shapes from ONNX Runtime on a few lengths."""
    doc = manifest.load(Path(folder))
    for name, m in doc["models"].items():
        path = Path(folder) / m["file"]
        io = check_static(path, m["kind"], m["n_fft"] // 2 + 1 if m["kind"] == "spectrogram_mask" else 0)
        if (io["input_name"], io["output_name"]) != (m["input_name"], m["output_name"]):
            raise OnnxValidationError(f"{path}: I/O names {io['input_name']}/{io['output_name']} differ from the "
                                      f"manifest's {m['input_name']}/{m['output_name']}")
        mf = m["min_frames"]
        check_runtime(path, m, (lengths or {}).get(name, [mf, mf + 1]))
        if "int8_file" in m:  # written by `quantize`: same I/O contract as the float file
            path8 = Path(folder) / m["int8_file"]
            io8 = io_summary(path8)
            if (io8["input_name"], io8["output_name"]) != (m["input_name"], m["output_name"]):
                raise OnnxValidationError(f"{path8}: I/O names {io8['input_name']}/{io8['output_name']} differ "
                                          f"from the manifest's {m['input_name']}/{m['output_name']}")
            check_runtime(path8, m, (lengths or {}).get(name, [mf, mf + 1]))
    return doc
