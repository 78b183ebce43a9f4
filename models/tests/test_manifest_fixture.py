"""The committed example manifest (also loaded by the Rust tests in src/modelset.rs) is
exactly what the writer produces for the full Danna-Sep import: a cross-language contract.

Regenerate after an intentional schema change with ``DANNA_REGEN_FIXTURES=1 pytest``.
"""
import os
import tomllib
from pathlib import Path

from danna_sep_models import manifest
from danna_sep_models.configs import CONFIGS
from danna_sep_models.modelset import DANNA_PROVENANCE, _entry, build_doc

FIXTURE = Path(__file__).parent / "fixtures" / "manifest_v1.toml"


def example_doc():
    io = {"xumx": ("mag", "mask"), "unet": ("mag", "mask"), "demucs": ("audio", "stems")}
    entries = {}
    for m in ("xumx", "unet", "demucs"):
        prov = {"source_file": {"xumx": "xumx.onnx", "unet": "unet_attention.pth", "demucs": "demucs_4_decoders.pth"}[m],
                "format": "onnx" if m == "xumx" else "torchscript"}
        entries[m] = _entry(m, dict(CONFIGS["full"][m]), f"{m}.onnx",
                            {"input_name": io[m][0], "output_name": io[m][1], "opset": 17}, prov)
    return build_doc("danna-sep", "Danna-Sep (ISMIR MDX 2021) ensemble: X-UMX, UNetAttn, DemucsSplit",
                     entries, dict(DANNA_PROVENANCE))


def test_fixture_is_current():
    doc = example_doc()
    manifest.validate(doc)
    text = manifest.dumps(doc)
    if os.environ.get("DANNA_REGEN_FIXTURES"):
        FIXTURE.write_text(text)
    assert FIXTURE.read_text() == text
    assert tomllib.loads(text) == doc
