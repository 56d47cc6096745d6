"""The core under real torchrun ranks (gloo, 2 CPU processes): gathered scores equal one process,
the tracker merge keeps the latest record, un-merged scores and differing sequences are refused,
and every core object pickles (issue 8, deliverable 7)."""

import pickle

import pytest
import torch

from mmbss import BalanceSampler, BalanceScorer, CurriculumScheduler, OnlineScoreTracker, pacing
from mmbss.core.schedulers import (
    AntiCurriculumScheduler,
    LearningBasedScheduler,
    RandomPacingScheduler,
)

from ..distributed.launch import torchrun


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("core-ddp")
    torchrun(2, "tests/distributed/core_worker.py", str(out))
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


def test_gathered_scores_equal_a_single_process_pass(ranks):
    for key in [k for k in ranks[0] if k.startswith("d/")]:
        single = ranks[0]["d1" + key[1:]]
        for r in ranks:
            assert torch.allclose(r[key], single, atol=1e-5), key
        assert torch.equal(ranks[0][key], ranks[1][key])


def test_gathered_outputs_cover_every_sample_on_every_rank(ranks):
    assert bool(ranks[0]["seen"].all()) and torch.equal(ranks[0]["fused"], ranks[1]["fused"])


def test_tracker_merge_keeps_the_latest_record_and_unmerged_scores_are_refused(ranks):
    for r in ranks:
        assert "call merge() on every rank first" in r["unmerged"]
        assert bool(r["tracker_seen"].all())
    assert torch.equal(ranks[0]["tracker"], ranks[1]["tracker"])
    t = ranks[0]["tracker"]
    assert float(t[0]) == 1001.0  # rank 1's record of sample 0 came later than rank 0's
    assert float(t[1]) == 1000.0  # rank 0 recorded sample 1 twice: the later one
    halves = torch.arange(37).tensor_split(2)
    assert torch.equal(t[halves[0][2:]], halves[0][2:].double())
    assert torch.equal(t[halves[1]], halves[1].double() + 100)


def test_ranks_with_different_sequences_are_refused_naming_the_rank(ranks):
    for r in ranks:
        assert r["mismatch"].startswith("BalanceSampler: the sequence of epoch 0 differs between "
                                        "ranks: rank(s) [1] hold another one than rank 0; every rank must "
                                        "build it from the same scheduler state")
    assert len(ranks[0]["same"]) == len(ranks[1]["same"]) == 19
    assert set(ranks[0]["same"] + ranks[1]["same"]) == set(range(37))  # plus one padded sample


@pytest.mark.parametrize("make", [
    lambda: CurriculumScheduler(num_samples=10, seed=0),
    lambda: CurriculumScheduler(num_samples=10, seed=0, pacing="step"),
    lambda: AntiCurriculumScheduler(num_samples=10, seed=0, pacing="geometric"),
    lambda: RandomPacingScheduler(num_samples=10, seed=0, pacing="linear"),
    lambda: LearningBasedScheduler(num_samples=10, seed=0, temperature=1.0),
    lambda: BalanceSampler(CurriculumScheduler(num_samples=10, seed=0)),
    lambda: OnlineScoreTracker(10), lambda: BalanceScorer(), lambda: pacing.get("constant"),
])
def test_every_core_object_pickles_and_behaves_the_same(make, tmp_path):
    obj = make()
    again = pickle.loads(pickle.dumps(obj))
    torch.save(obj, tmp_path / "x.pt")  # torch.save pickles too
    if hasattr(obj, "indices"):
        if hasattr(obj, "update"):
            obj.update(torch.linspace(0, 2, 10))
            again.update(torch.linspace(0, 2, 10))
        assert torch.equal(obj.indices(2), again.indices(2))
    assert pickle.loads(pickle.dumps(obj)).__class__ is obj.__class__
