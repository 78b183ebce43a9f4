"""Shared fixtures. Heavy artefacts (a tiny exported model set) are built once per session."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works without `pip install -e`

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory):
    """A tiny random-init model set exported with parity checks: (folder, {model: module})."""
    from danna_sep_models.configs import build
    from danna_sep_models.modelset import export_set

    out = tmp_path_factory.mktemp("tiny_set")
    export_set(out, config="tiny", seed=0, log=lambda *_: None)
    modules = {}
    for m in ("xumx", "unet", "demucs"):
        torch.manual_seed(0)
        modules[m] = build(m, "tiny")
    return out, modules
