"""Exact mid-epoch resume (issue 8, deliverable 4): with ``train.checkpoint_every`` a run killed
inside an epoch and resumed writes the same ``metrics.jsonl`` as an uninterrupted run."""

import json

import pytest

from mmbss.engine import train
from mmbss.engine.checkpoint import load_checkpoint

from ..conftest import interrupted_at_step, tiny_config


def _cfg(name, **kw):
    cfg = tiny_config(name, epochs=3, **kw)
    cfg.train.checkpoint_every = 5
    return cfg


@pytest.mark.parametrize("name,kw", [("uniaux", {}), ("bss-cl", {}), ("bss-lb", {}),
                                     ("bss-lb", {"scoring": "online"}), ("bss-lb+ogm-ge", {}),
                                     ("bss-lb+agm", {}), ("bss-lb+pmr", {}), ("bss-lb+mmpareto", {})])
def test_a_kill_inside_an_epoch_resumes_to_identical_metrics(tmp_path, name, kw):
    cfg = _cfg(name, **kw)
    train(cfg, tmp_path / "full", quiet=True)
    full = (tmp_path / "full" / "metrics.jsonl").read_text()
    steps = [json.loads(x)["train"]["steps"] for x in full.splitlines()]
    kill = steps[0] + 7  # epoch 1, two steps after its checkpoint at step 5
    with interrupted_at_step(kill + 1):
        train(cfg, tmp_path / "cut", quiet=True)
    state = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert state["epoch"] == 1 and state["within"]["tally"]["steps"] == 5
    train(cfg, tmp_path / "cut", resume=True, quiet=True)
    assert (tmp_path / "cut" / "metrics.jsonl").read_text() == full


def test_checkpoint_every_must_be_positive(tmp_path):
    cfg = _cfg("uniaux")
    cfg.train.checkpoint_every = 0
    with pytest.raises(ValueError, match=r"train: 'checkpoint_every' must be an int >= 1 or None; got 0"):
        train(cfg, tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()
