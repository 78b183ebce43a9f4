"""The committed quarter model set (tests/fixtures/quarter-set) is what the generator makes,
passes the manifest checks, and really returns a quarter of the mixture per stem."""
from pathlib import Path

import numpy as np

from danna_sep_models import fixtures, manifest
from danna_sep_models.onnx_io import session

COMMITTED = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "quarter-set"


def test_committed_set_matches_the_generator(tmp_path):
    fresh = fixtures.write_quarter_set(tmp_path / "q")
    for name in ("quarter.onnx", "manifest.toml"):
        assert (COMMITTED / name).read_bytes() == (fresh / name).read_bytes(), name


def test_quarter_model_returns_a_quarter_per_stem():
    doc = manifest.load(COMMITTED)
    assert doc["name"] == "quarter"
    x = np.random.default_rng(0).standard_normal((1, 2, 3001)).astype(np.float32)
    y = session(COMMITTED / "quarter.onnx", 1).run(["stems"], {"audio": x})[0]
    assert y.shape == (1, 4, 2, 3001)
    np.testing.assert_array_equal(y, np.broadcast_to(0.25 * x[:, None], y.shape))
