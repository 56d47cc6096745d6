"""Gradient policies under DDP (issue 9, deliverable 4; issue 8): on 2 torchrun processes every
rank takes the same decisions from all-reduced batch statistics, so the ranks keep identical
weights (the trainer checks it every epoch) and the run matches one process within tolerance."""

import json

import pytest
import yaml

from mmbss.engine import train
from mmbss.engine.config import config_to_dict
from mmbss.methods import list_gradient_policies

from ..conftest import tiny_config
from ..distributed.launch import torchrun


def _leaves(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


@pytest.mark.parametrize("policy", list_gradient_policies())
def test_two_ranks_take_the_same_decisions_as_one_process(tmp_path, policy):
    cfg = tiny_config(f"bss-lb+{policy}", epochs=2)
    cfg.data.options = {"num_samples": 200, "num_classes": 3, "dims": 8}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config_to_dict(cfg)))
    train(cfg, tmp_path / "one", quiet=True)
    torchrun(2, "-m", "mmbss", "train", "--config", str(tmp_path / "c.yaml"), "--out",
             str(tmp_path / "two"), "--quiet")  # fails if the ranks' weights ever differ
    one, two = ([json.loads(x) for x in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
                for d in ("one", "two"))
    for a, b in zip(one, two, strict=True):
        assert abs(a["test"]["loss"] - b["test"]["loss"]) < 1e-3
        stats_a, stats_b = dict(_leaves(a["method"])), dict(_leaves(b["method"]))
        assert stats_a.keys() == stats_b.keys()
        for key, value in stats_a.items():
            assert stats_b[key] == pytest.approx(value, rel=1e-3, abs=1e-3), key
