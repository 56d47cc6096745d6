"""Every ready config under configs/ loads, and every run it describes can be built."""

from pathlib import Path

import pytest

from mmbss.engine import load_config
from mmbss.engine.build import build_run
from mmbss.engine.compare import method_entries

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_are_configs():
    assert {p.name for p in CONFIGS} >= {"mfeat-demo.yaml", "mfeat-corrupt.yaml", "synthetic.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_builds_every_compared_run(path):
    cfg = load_config(path)
    for label, c in method_entries(cfg):
        run = build_run(c)
        assert len(run.bundle.train) > 0, label
