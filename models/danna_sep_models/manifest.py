"""``manifest.toml`` of a model-set folder: writing, reading and validation.

The schema is documented in ``models/README.md``; the Rust loader is ``src/modelset.rs``.
Both sides enforce the same rules (stem order, blend weights summing to 1, known kinds).
"""
from __future__ import annotations

import hashlib
import math
import tomllib
from pathlib import Path
from typing import Any, Dict, List, Mapping

from . import STEMS

SCHEMA_VERSION = 1
MANIFEST = "manifest.toml"
KINDS = ("spectrogram_mask", "waveform")
OUTPUT_RULES = ("same", "demucs")

# The released tool's hard-coded blend (accumulated in this order; columns sum to 1).
DANNA_BLEND = {
    "full": {"order": ["unet", "demucs", "xumx"],
             "weights": {"unet": [0.2, 0.17, 0.5, 0.4], "demucs": [0.6, 0.73, 0.5, 0.4], "xumx": [0.2, 0.1, 0.0, 0.2]}},
    "fast": {"order": ["unet", "demucs"],
             "weights": {"unet": [0.4, 0.27, 0.5, 0.6], "demucs": [0.6, 0.73, 0.5, 0.4]}},
}
# U-Net chunking of the original recipe: independent chunks of 2584 frames (~60 s).
DANNA_UNET_CHUNK_FRAMES = 2584


class ManifestError(ValueError):
    pass


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_blend(models: List[str]) -> Dict[str, Any]:
    """Danna-Sep's blend when all three models are present; otherwise equal weights."""
    if set(models) >= {"unet", "demucs", "xumx"}:
        return DANNA_BLEND
    w = [1.0 / len(models)] * 4
    mode = {"order": list(models), "weights": {m: list(w) for m in models}}
    return {"full": mode, "fast": mode}


# ---- minimal TOML writer (the stdlib only reads TOML) -------------------------------------

def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ManifestError(f"non-finite float {v}")
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise ManifestError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else _value(k)


def dumps(doc: Mapping[str, Any]) -> str:
    """Serialise nested dicts: scalars/lists first, then sub-tables as [a.b] sections."""
    lines: List[str] = []

    def emit(table: Mapping[str, Any], prefix: List[str]) -> None:
        sub_keys = [k for k, v in table.items() if isinstance(v, Mapping) and v and not _inline(k)]
        flat = [(k, v) for k, v in table.items() if k not in sub_keys]
        if prefix and (flat or not sub_keys):
            lines.append("")
            lines.append("[" + ".".join(_key(p) for p in prefix) + "]")
        for k, v in flat:
            lines.append(f"{_key(k)} = {_value(v)}")
        for k in sub_keys:
            emit(table[k], prefix + [k])

    emit(doc, [])
    return "\n".join(lines).lstrip("\n") + "\n"


def _inline(key: str) -> bool:
    # small tables written inline for readability
    return key in ("config",)


# ---- reading / validation -----------------------------------------------------------------

def validate(doc: Mapping[str, Any], folder: Path | None = None) -> None:
    """Raise :class:`ManifestError` unless ``doc`` follows schema v1 (and, with ``folder``,
    its model files exist and are non-empty)."""
    def need(table: Mapping[str, Any], key: str, typ: type | tuple, where: str) -> Any:
        if key not in table:
            raise ManifestError(f"{where}: missing key '{key}'")
        v = table[key]
        if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
            raise ManifestError(f"{where}.{key}: expected {getattr(typ, '__name__', typ)}, got {type(v).__name__}")
        return v

    if need(doc, "schema_version", int, "manifest") != SCHEMA_VERSION:
        raise ManifestError(f"manifest: unsupported schema_version {doc['schema_version']} (expected {SCHEMA_VERSION})")
    if list(need(doc, "stems", list, "manifest")) != list(STEMS):
        raise ManifestError(f"manifest.stems must be exactly {list(STEMS)}, got {doc['stems']}")
    need(doc, "sample_rate", int, "manifest")
    prov = need(doc, "provenance", dict, "manifest")
    need(prov, "origin", str, "provenance")
    need(prov, "training_data", str, "provenance")
    models = need(doc, "models", dict, "manifest")
    if not models:
        raise ManifestError("manifest: no models")
    for name, m in models.items():
        where = f"models.{name}"
        f = need(m, "file", str, where)
        kind = need(m, "kind", str, where)
        if kind not in KINDS:
            raise ManifestError(f"{where}.kind: unknown kind '{kind}' (expected one of {KINDS})")
        for key in ("sample_rate", "n_fft", "hop", "max_bins", "min_frames", "frame_multiple"):
            need(m, key, int, where)
        if list(need(m, "stems", list, where)) != list(STEMS):
            raise ManifestError(f"{where}.stems must be exactly {list(STEMS)}, got {m['stems']}")
        need(m, "input_name", str, where)
        need(m, "output_name", str, where)
        rule = need(need(m, "output_length", dict, where), "rule", str, where + ".output_length")
        if rule not in OUTPUT_RULES:
            raise ManifestError(f"{where}.output_length.rule: unknown rule '{rule}'")
        if kind == "spectrogram_mask" and (m["n_fft"] <= 0 or m["hop"] <= 0 or m["max_bins"] <= 0):
            raise ManifestError(f"{where}: spectrogram models need positive n_fft, hop and max_bins")
        if m["min_frames"] < 1 or m["frame_multiple"] < 1:
            raise ManifestError(f"{where}: min_frames and frame_multiple must be >= 1")
        if folder is not None:
            p = Path(folder) / f
            if not p.is_file():
                raise ManifestError(f"{where}.file: {p} does not exist")
            if p.stat().st_size == 0:
                raise ManifestError(f"{where}.file: {p} is empty")
        # optional int8 variant (written by `quantize`): same rules as `file`
        if "int8_file" in m:
            f8 = need(m, "int8_file", str, where)
            if f8 == f:
                raise ManifestError(f"{where}.int8_file: must differ from 'file'")
            if folder is not None:
                p = Path(folder) / f8
                if not p.is_file() or p.stat().st_size == 0:
                    raise ManifestError(f"{where}.int8_file: {p} does not exist or is empty")
        elif "int8_sha256" in m:
            raise ManifestError(f"{where}: 'int8_sha256' without 'int8_file'")
        for key in ("sha256", "int8_sha256"):
            if key in m and not _is_sha256(need(m, key, str, where)):
                raise ManifestError(f"{where}.{key}: expected 64 lowercase hex digits, got {m[key]!r}")
    blend = need(doc, "blend", dict, "manifest")
    for mode in ("full", "fast"):
        b = need(blend, mode, dict, "blend")
        order = need(b, "order", list, f"blend.{mode}")
        weights = need(b, "weights", dict, f"blend.{mode}")
        if sorted(order) != sorted(weights) or len(set(order)) != len(order):
            raise ManifestError(f"blend.{mode}: 'order' {order} and the weight keys {sorted(weights)} must name the same models once")
        for name in order:
            if name not in models:
                raise ManifestError(f"blend.{mode}: unknown model '{name}'")
            w = weights[name]
            if len(w) != len(STEMS) or not all(isinstance(x, (int, float)) for x in w):
                raise ManifestError(f"blend.{mode}.weights.{name}: expected {len(STEMS)} numbers")
        for s, stem in enumerate(STEMS):
            total = sum(float(weights[n][s]) for n in order)
            if abs(total - 1.0) > 1e-6:
                raise ManifestError(f"blend.{mode}: weights for stem '{stem}' sum to {total}, expected 1")
    if "vocal" in blend:
        # The Full + Spleeter choice's per-stem share of the Karaoke path (optional).
        w = need(need(blend, "vocal", dict, "blend"), "weights", list, "blend.vocal")
        if len(w) != len(STEMS) or not all(isinstance(x, (int, float)) and 0.0 <= x <= 1.0 for x in w):
            raise ManifestError(f"blend.vocal.weights: expected {len(STEMS)} numbers in [0, 1], got {w}")


TWO_STEMS = ("vocals", "accompaniment")


def validate_two_stem(doc: Mapping[str, Any], folder: Path | None = None) -> None:
    """Raise :class:`ManifestError` unless ``doc`` is a two-stem vocal set (schema v1, e.g.
    Spleeter 2stems): stems ``vocals, accompaniment``, one ``ratio_mask`` model, no blend."""
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ManifestError(f"manifest: unsupported schema_version {doc.get('schema_version')}")
    if list(doc.get("stems", [])) != list(TWO_STEMS):
        raise ManifestError(f"manifest.stems must be exactly {list(TWO_STEMS)}, got {doc.get('stems')}")
    prov = doc.get("provenance", {})
    for key in ("origin", "training_data", "licence"):
        if not isinstance(prov.get(key), str):
            raise ManifestError(f"provenance.{key}: missing")
    if "blend" in doc:
        raise ManifestError("a two-stem set has no blend")
    models = doc.get("models", {})
    if len(models) != 1:
        raise ManifestError(f"a two-stem set has exactly one model, got {sorted(models)}")
    for name, m in models.items():
        where = f"models.{name}"
        if m.get("kind") != "ratio_mask":
            raise ManifestError(f"{where}.kind must be 'ratio_mask'")
        if list(m.get("stems", [])) != list(TWO_STEMS):
            raise ManifestError(f"{where}.stems must be exactly {list(TWO_STEMS)}")
        for key in ("sample_rate", "n_fft", "hop", "max_bins", "min_frames", "frame_multiple"):
            if not isinstance(m.get(key), int) or m[key] <= 0:
                raise ManifestError(f"{where}.{key}: expected a positive integer")
        if m["max_bins"] > m["n_fft"] // 2 + 1:
            raise ManifestError(f"{where}.max_bins exceeds n_fft/2+1")
        if "sha256" in m and not _is_sha256(m["sha256"]):
            raise ManifestError(f"{where}.sha256: expected 64 lowercase hex digits")
        if folder is not None and not (Path(folder) / m["file"]).is_file():
            raise ManifestError(f"{where}.file: {Path(folder) / m['file']} does not exist")


def _is_sha256(v: str) -> bool:
    return len(v) == 64 and all(c in "0123456789abcdef" for c in v)


def load(folder: Path) -> Dict[str, Any]:
    """Read and validate ``folder/manifest.toml``."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{path} does not exist")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(f"{path}: invalid TOML: {e}") from e
    validate(doc, Path(folder))
    return doc


def write(folder: Path, doc: Mapping[str, Any]) -> Path:
    """Validate and write ``folder/manifest.toml``; the text round-trips through tomllib."""
    validate(doc, Path(folder))
    text = dumps(doc)
    if tomllib.loads(text) != _plain(doc):
        raise ManifestError("internal error: manifest does not round-trip through TOML")
    path = Path(folder) / MANIFEST
    path.write_text(text)
    return path


def update_models(folder: Path, updates: Mapping[str, Mapping[str, Any]]) -> Path:
    """Set scalar keys of ``[models.<name>]`` tables (``updates[name][key] = value``) in
    ``folder/manifest.toml``, leaving the rest of the file as it is (formatting, order,
    comments): each key is replaced in place, or added after the last key of the model's
    table. The result must parse to the old document with the updates applied and validate;
    if the text cannot be patched that way (e.g. a model declared inline), the whole manifest
    is rewritten with :func:`write` instead."""
    path = Path(folder) / MANIFEST
    text = path.read_text()
    doc = load(folder)
    for name, kv in updates.items():
        if name not in doc["models"]:
            raise ManifestError(f"{path}: no model '{name}'")
        doc["models"][name].update(kv)
    validate(doc, Path(folder))
    patched = _patch_model_keys(text, updates)
    if patched is not None:
        try:
            ok = tomllib.loads(patched) == _plain(doc)
        except tomllib.TOMLDecodeError:
            ok = False
        if ok:
            path.write_text(patched)
            return path
    return write(folder, doc)


def _patch_model_keys(text: str, updates: Mapping[str, Mapping[str, Any]]) -> str | None:
    lines = text.splitlines()
    for name, kv in updates.items():
        header = f"[models.{_key(name)}]"
        starts = [i for i, l in enumerate(lines) if l.strip() == header]
        if len(starts) != 1:
            return None
        start = starts[0]
        end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        for k, v in kv.items():
            line = f"{_key(k)} = {_value(v)}"
            found = [i for i in range(start + 1, end) if lines[i].split("=", 1)[0].strip() == _key(k)]
            if found:
                lines[found[0]] = line
                continue
            last = max((i for i in range(start + 1, end) if lines[i].strip() and not lines[i].lstrip().startswith("#")),
                       default=start)
            lines.insert(last + 1, line)
            end += 1
    return "\n".join(lines) + "\n"


def _plain(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v
