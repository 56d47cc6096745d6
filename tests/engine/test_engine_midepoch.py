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


def test_eval_test_best_evaluates_the_test_split_only_at_new_best_epochs(tmp_path):
    every, best = tiny_config("bss-lb", epochs=4), tiny_config("bss-lb", epochs=4)
    best.train.eval_test = "best"
    a, b = train(every, tmp_path / "every", quiet=True), train(best, tmp_path / "best", quiet=True)
    assert a["test"] == b["test"] and a["best_epoch"] == b["best_epoch"]  # the same reported result
    recs_a = [json.loads(x) for x in (tmp_path / "every" / "metrics.jsonl").read_text().splitlines()]
    recs_b = [json.loads(x) for x in (tmp_path / "best" / "metrics.jsonl").read_text().splitlines()]
    top = float("-inf")
    for ra, rb in zip(recs_a, recs_b, strict=True):
        new_best = ra["val"]["acc"] > top
        top = max(top, ra["val"]["acc"])
        assert ("test" in rb) == new_best and (not new_best or rb["test"] == ra["test"])
        assert rb["train"] == ra["train"] and rb["val"] == ra["val"]
    from mmbss.engine.plots import plot_run

    assert any("test" not in r for r in recs_b)
    assert plot_run(tmp_path / "best")  # the gaps plot
