"""mmbss.integrations.accelerate on real Accelerate (1.15): the loop of
examples/accelerate_bss.py under real torchrun (2 CPU processes, gloo), then one-process checks
and the bad inputs.

Per epoch and process the worker records the index of every sample of every batch; the tests
rebuild the epoch's BSS sequence from the scores and check the shards (no second sharding),
their order, the batch counts, the growing curriculum, the scores against a single-process pass
and a resume from the epoch-0 ``save_state`` (the epoch is the run's, not Accelerate's)."""

from __future__ import annotations

import math
import sys

import pytest
import torch
from torch.utils.data import DataLoader, SequentialSampler

from mmbss import (
    BalanceSampler,
    BalanceScorer,
    CurriculumScheduler,
    LearningBasedScheduler,
    OnlineScoreTracker,
    score_dataset,
)
from mmbss.integrations.accelerate import (
    BSSLoader,
    BSSState,
    exact_scores,
    prepare_bss_loader,
    record_step,
    rescore,
)

from ..distributed.launch import torchrun
from .checks import (
    check_growing_curriculum,
    check_resumed,
    check_run,
    check_single_process_scores,
    flat,
    load_ranks,
)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    pytest.importorskip("accelerate")
    out = tmp_path_factory.mktemp("accelerate")
    torchrun(2, "tests/integrations/accelerate_worker.py", str(out), timeout=300)
    return out


@pytest.mark.slow
def test_torchrun_curriculum_exact_scoring(out):
    ranks = load_ranks(out / "cl")
    check_run(ranks, "cl", [0, 1, 2])
    check_growing_curriculum(ranks)
    assert [ranks[0][e]["scored"] for e in range(3)] == [True, False, False]
    check_single_process_scores(ranks, out / "cl", [0])


@pytest.mark.slow
def test_torchrun_learning_based_online_scoring(out):
    ranks = load_ranks(out / "lb")
    check_run(ranks, "lb", [0, 1, 2])
    assert all(ranks[0][e]["scored"] for e in range(3))
    check_single_process_scores(ranks, out / "lb", [0])  # the first scores come from an exact pass
    assert not torch.equal(ranks[0][1]["scores"], ranks[0][0]["scores"])


@pytest.mark.slow
@pytest.mark.parametrize("run", ["cl", "lb"])
def test_torchrun_resume_from_save_state_continues_identically(out, run):
    check_resumed(load_ranks(out / run), load_ranks(out / f"{run}-resumed"), [1, 2])
    state = torch.load(out / f"{run}-ckpt" / "epoch_0" / "custom_checkpoint_0.pkl", weights_only=False)
    assert set(state) == {"scheduler", "tracker", "next_epoch"} and state["next_epoch"] == 1
    assert (state["tracker"] is None) == (run == "cl")
    if run == "lb":  # every process's records of epoch 0, merged before the save (no sample
        # keeps the seed record of the exact pass, step 0)
        assert bool(state["tracker"]["seen"].all()) and bool((state["tracker"]["step"] >= 1).all())


# -- one process ---------------------------------------------------------------------------------

class Net(torch.nn.Module):
    def __init__(self, fused_only: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.fused_only = torch.nn.Linear(5, 3), torch.nn.Linear(4, 3), fused_only

    def forward(self, x):
        za, zb = self.a(x["a"]), self.b(x["b"])
        return za + zb if self.fused_only else (za + zb, {"a": za, "b": zb})


def _data(n=40):
    g = torch.Generator().manual_seed(0)
    a, b, y = torch.randn(n, 5, generator=g), torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)
    return [{"modalities": {"a": a[i], "b": b[i]}, "label": int(y[i]), "index": i} for i in range(n)]


@pytest.fixture(scope="module")
def accelerator():
    accelerate = pytest.importorskip("accelerate")
    return accelerate.Accelerator(cpu=True)


def _curriculum(n=40):
    sched = CurriculumScheduler(num_samples=n, pacing="linear", lambda0=0.25, t_grow=3, seed=0)
    sched.update(torch.arange(n).double())
    return sched


def test_the_loader_trains_the_epoch_it_is_given_not_accelerates_count(accelerator):
    sched = _curriculum()
    loader = prepare_bss_loader(accelerator, _data(), BalanceSampler(sched, num_replicas=1, rank=0), 4)
    assert isinstance(loader, BSSLoader) and loader.batch_size == 4 and loader.next_epoch == 0
    for epoch in (2, 0, 1):  # as a resumed run would: its first epoch is not 0
        loader.set_epoch(epoch)
        batches = [b["index"].tolist() for b in loader]
        assert flat(batches) == sched.indices(epoch).tolist()
        assert len(batches) == len(loader) == math.ceil(sched.epoch_size(epoch) / 4)
        assert loader.next_epoch == epoch + 1 and loader.epoch == epoch


def test_one_process_scoring_and_online_records(accelerator):
    data, scorer, net = _data(), BalanceScorer(), Net()
    single = score_dataset(net, DataLoader(data, batch_size=7, collate_fn=_stack), scorer, gather=False)
    assert torch.allclose(exact_scores(accelerator, net, data, scorer, batch_size=16), single, atol=1e-6)
    sched, tracker = LearningBasedScheduler(num_samples=40, seed=0), OnlineScoreTracker(40)
    first = rescore(accelerator, 0, sched, scorer, model=net, eval_dataset=data, tracker=tracker)
    assert torch.allclose(first, single, atol=1e-6) and bool(tracker.seen.all())  # seeded by the pass
    batch = _stack(data[:8])
    record_step(tracker, scorer, batch, net(batch["modalities"]))
    assert rescore(accelerator, 1, sched, scorer, model=net, eval_dataset=data, tracker=tracker) is not None
    assert rescore(accelerator, 1, _curriculum(), scorer, model=net, eval_dataset=data) is None


def _stack(samples):
    from torch.utils.data import default_collate

    return default_collate(samples)


def test_state_round_trip(accelerator):
    sched, tracker = LearningBasedScheduler(num_samples=40, seed=0), OnlineScoreTracker(40)
    sched.update(torch.rand(40, generator=torch.Generator().manual_seed(1)))
    loader = prepare_bss_loader(accelerator, _data(), BalanceSampler(sched, num_replicas=1, rank=0), 8)
    tracker.record(torch.arange(4), {"loss": torch.ones(4), "prediction_similarity": torch.ones(4)})
    loader.set_epoch(3)
    list(loader)
    saved = BSSState(sched, loader, tracker).state_dict()
    assert saved["next_epoch"] == 4
    sched2, tracker2 = LearningBasedScheduler(num_samples=40, seed=0), OnlineScoreTracker(40)
    loader2 = prepare_bss_loader(accelerator, _data(), BalanceSampler(sched2, num_replicas=1, rank=0), 8)
    state2 = BSSState(sched2, loader2, tracker2)
    state2.load_state_dict(saved)
    assert state2.next_epoch == 4 == loader2.epoch and torch.equal(sched2.scores, sched.scores)
    assert torch.equal(tracker2.seen, tracker.seen)


def test_bad_inputs(accelerator):
    sched, data, scorer = _curriculum(), _data(), BalanceScorer()
    with pytest.raises(TypeError) as e:
        prepare_bss_loader(accelerator, data, SequentialSampler(data), 4)
    assert str(e.value) == ("prepare_bss_loader: 'sampler' must be a BalanceSampler (built with "
                            "num_replicas=accelerator.num_processes, rank=accelerator.process_index); "
                            "got SequentialSampler.")
    with pytest.raises(ValueError) as e:
        prepare_bss_loader(accelerator, data, BalanceSampler(sched, num_replicas=2, rank=1), 4)
    assert str(e.value) == ("prepare_bss_loader: the sampler shards for num_replicas=2, rank=1, but "
                            "this is process 0 of 1; build it with BalanceSampler(scheduler, "
                            "num_replicas=accelerator.num_processes, rank=accelerator.process_index).")
    with pytest.raises(ValueError) as e:
        prepare_bss_loader(accelerator, data[:30], BalanceSampler(sched, num_replicas=1, rank=0), 4)
    assert str(e.value) == ("prepare_bss_loader: 'dataset' must hold the scheduler's 40 training "
                            "samples, index for index (scheduler.num_samples); got 30 samples.")
    with pytest.raises(ValueError) as e:
        rescore(accelerator, 0, sched, scorer, model=Net(), eval_dataset=data[:30])
    assert str(e.value) == ("rescore: 'eval_dataset' must hold the scheduler's 40 training samples, "
                            "index for index (scheduler.num_samples); got 30 samples.")
    batch = _stack(data[:4])
    with pytest.raises(TypeError) as e:
        record_step(OnlineScoreTracker(40), scorer, batch, (torch.zeros(4, 3), {}))
    assert str(e.value) == ("record_step: 'outputs' must be (fused logits [B, C], {modality: logits "
                            "[B, C]}) or an object with .fused and .unimodal, with one logits Tensor "
                            "per modality; got a tuple (Tensor(4, 3), {}).")
    with pytest.raises(TypeError) as e:
        exact_scores(accelerator, Net(fused_only=True), data, scorer)
    assert str(e.value) == ("exact_scores: the model is called on batch['modalities'], so its forward "
                            "must return (fused logits [B, C], {modality: logits [B, C]}) or an object "
                            "with .fused and .unimodal, with one logits Tensor per modality; got a "
                            "Tensor of shape (40, 3).")
    with pytest.raises(TypeError) as e:
        BSSState(sched, DataLoader(data))
    assert str(e.value) == ("BSSState: 'loader' must be the BSSLoader from prepare_bss_loader(); got "
                            "DataLoader.")
    loader = prepare_bss_loader(accelerator, data, BalanceSampler(sched, num_replicas=1, rank=0), 4)
    with pytest.raises(KeyError) as e:
        BSSState(sched, loader).load_state_dict({"scheduler": sched.state_dict()})
    assert e.value.args[0] == ("BSSState.load_state_dict: expected keys ['next_epoch', 'scheduler', "
                               "'tracker'] (from BSSState.state_dict()); got ['scheduler'].")
    with pytest.raises(ValueError) as e:
        BSSState(sched, loader, OnlineScoreTracker(40)).load_state_dict(BSSState(sched, loader).state_dict())
    assert str(e.value) == ("BSSState.load_state_dict: the state was saved with exact scoring "
                            "(tracker None); build the BSSState with the same tracker setting.")


def test_without_accelerate_the_error_names_the_extra(monkeypatch):
    for name in ("accelerate", "accelerate.data_loader"):
        monkeypatch.setitem(sys.modules, name, None)  # import accelerate now fails
    with pytest.raises(ImportError) as e:
        prepare_bss_loader(None, _data(), None, 4)
    assert str(e.value) == ("mmbss.integrations.accelerate needs Accelerate (the 'accelerate' package, "
                            ">= 1.0), which is not installed; install it with: pip install "
                            "'mmbss[accelerate]'")
