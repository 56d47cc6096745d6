"""mmbss.integrations.lightning on real Lightning (2.6), 2 CPU processes over gloo: strategy
"ddp" (Lightning's own launcher) and "ddp_spawn", then the bad inputs.

One launch (tests/integrations/lightning_worker.py) runs everything that needs Lightning, so
this process never imports it. Per epoch and rank the worker records the index of every sample
of every batch; the tests rebuild the epoch's BSS sequence from the scores and check the
shards, their order, the batch counts, the growing curriculum, the scores against a
single-process pass and a resume from the epoch-0 checkpoint, saved at the end of the training
epoch (curriculum) or of the epoch's validation (learning-based); examples/lightning_bss.py
builds every run."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch

from mmbss import CurriculumScheduler

from ..distributed.launch import ROOT
from .checks import (
    check_growing_curriculum,
    check_resumed,
    check_run,
    check_single_process_scores,
    load_ranks,
)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    if importlib.util.find_spec("lightning") is None:  # (looked up only: the worker imports it)
        pytest.skip("Lightning is not installed (pip install 'mmbss[lightning]')")
    out = tmp_path_factory.mktemp("lightning")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "integrations" / "lightning_worker.py"),
                           str(out)], capture_output=True, text=True, timeout=400, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return out


@pytest.fixture(scope="module")
def bad(out):
    return json.loads((out / "bad.json").read_text())


@pytest.mark.slow
def test_ddp_curriculum_exact_scoring(out):
    ranks = load_ranks(out / "cl")
    check_run(ranks, "cl", [0, 1, 2])
    check_growing_curriculum(ranks)
    assert [ranks[0][e]["scored"] for e in range(3)] == [True, False, False]   # scored once
    assert all(ranks[r][e]["num_training_batches"] == ranks[r][e]["len"] for r in (0, 1) for e in range(3))
    check_single_process_scores(ranks, out / "cl", [0])


@pytest.mark.slow
def test_ddp_learning_based_online_scoring(out):
    ranks = load_ranks(out / "lb")
    check_run(ranks, "lb", [0, 1, 2])
    assert all(ranks[0][e]["scored"] for e in range(3))                        # re-drawn every epoch
    check_single_process_scores(ranks, out / "lb", [0])  # the first scores come from an exact pass
    assert not torch.equal(ranks[0][1]["scores"], ranks[0][0]["scores"])      # then the records


@pytest.mark.slow
@pytest.mark.parametrize("run", ["cl", "lb"])
def test_ddp_resume_from_a_checkpoint_continues_identically(out, run):
    full = load_ranks(out / run)
    check_resumed(full, load_ranks(out / f"{run}-resumed"), [1, 2])
    state = torch.load(out / f"{run}-ckpt" / "epoch=0.ckpt", weights_only=False)["callbacks"]["BSSCallback"]
    assert set(state) == {"scheduler", "tracker", "scored_epoch"} and state["scored_epoch"] == 0
    if run == "cl":  # the scores the curriculum is built from
        assert state["tracker"] is None
        assert torch.equal(state["scheduler"]["scores"], full[0][0]["scores"])
    else:  # every rank's records of epoch 0, merged: no sample keeps the seed record (step 0)
        assert bool(state["tracker"]["seen"].all()) and bool((state["tracker"]["step"] >= 1).all())


@pytest.mark.slow
def test_ddp_spawn_learning_based_exact_scoring(out):
    ranks = load_ranks(out / "spawn")
    check_run(ranks, "lb", [0, 1, 2])
    check_single_process_scores(ranks, out / "spawn", [0, 1, 2])


def test_one_device_online_run_keeps_its_state_in_the_checkpoint(bad):
    # scored at epochs 0 and 1, trained 2 epochs, every sample recorded, state restored
    assert bad["one-device"] == [1, 2, True, True, 1]


# -- bad inputs: [exception type, message] from the worker -----------------------------------------

BAD = {
    "distributed-sampler": ["InvalidValueError",
        "BSSCallback: with Trainer(use_distributed_sampler=True), the default, Lightning wraps the "
        "BalanceSampler in a DistributedSampler that shards each rank's share a second time and "
        "reshuffles it; build the Trainer with Trainer(use_distributed_sampler=False) (the "
        "BalanceSampler already gives every rank its own shard of the BSS sequence)."],
    "no-distributed-sampler": "no error",
    "no-reload": ["InvalidValueError",
        "BSSCallback: the training loader must be rebuilt every epoch (the curriculum subset and "
        "the scores change between epochs); build the Trainer with "
        "Trainer(reload_dataloaders_every_n_epochs=1); got reload_dataloaders_every_n_epochs=0."],
    "online-loss-only": ["InvalidTypeError",
        "BSSCallback: online scoring reads the logits from the output of training_step, so "
        "training_step must return a dict {'loss': loss, 'fused': fused logits [B, C], 'unimodal': "
        "{modality: logits [B, C]}}, with one logits Tensor per modality; got a dict with keys "
        "['loss']."],
    "exact-fused-only": ["InvalidTypeError",
        "BSSCallback: exact scoring calls the LightningModule on batch['modalities'], so its "
        "forward must return (fused logits [B, C], {modality: logits [B, C]}) or an object with "
        ".fused and .unimodal, with one logits Tensor per modality; got a Tensor of shape (64, 10)."],
    "own-loader": ["CallOrderError",
        "BSSCallback: the training loader of epoch 0 was not built by BSSCallback.train_dataloader() "
        "for this epoch (its sampler is a SequentialSampler); return bss.train_dataloader(...) from "
        "the train_dataloader() of your LightningModule or DataModule (or use BSSDataModule) and "
        "keep Trainer(use_distributed_sampler=False, reload_dataloaders_every_n_epochs=1)."],
    "not-attached": ["CallOrderError",
        "BSSCallback.train_dataloader: the callback is not attached to a running Trainer; pass it "
        "in Trainer(callbacks=[bss]) and call bss.train_dataloader(...) from a train_dataloader() hook."],
    "dataset-size": ["InvalidValueError",
        "BSSCallback: 'dataset' must hold the scheduler's 64 training samples, index for index "
        "(scheduler.num_samples); got 50 samples."],
    "scheduler-type": ["InvalidTypeError",
        "BSSCallback: 'scheduler' must be an mmbss scheduler (e.g. CurriculumScheduler or "
        "LearningBasedScheduler); got BalanceScorer."],
    "scorer-type": ["InvalidTypeError", "BSSCallback: 'scorer' must be a BalanceScorer or None; got str."],
    "datamodule-bss": ["InvalidTypeError",
        "BSSDataModule: 'bss' must be the BSSCallback given to Trainer(callbacks=[...]); got "
        "CurriculumScheduler."],
    "state-keys": ["KeyError",
        "BSSCallback.load_state_dict: expected keys ['scheduler', 'scored_epoch', 'tracker'] (from "
        "BSSCallback.state_dict()); got ['scheduler']."],
    "state-scoring": ["InvalidValueError",
        "BSSCallback.load_state_dict: the checkpoint was written with scoring='exact', this "
        "callback has scoring='online'; build it with scoring='exact'."],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_message(bad, case):
    assert bad[case] == BAD[case]


def test_without_lightning_the_error_names_the_extra(monkeypatch):
    for name in ("lightning", "lightning.pytorch"):
        monkeypatch.setitem(sys.modules, name, None)  # import lightning now fails
    path = ROOT / "src" / "mmbss" / "integrations" / "lightning.py"
    spec = importlib.util.spec_from_file_location("mmbss.integrations._lightning_missing", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(ImportError) as e:
        module.BSSCallback(CurriculumScheduler(num_samples=4))
    assert str(e.value) == ("mmbss.integrations.lightning needs Lightning (the 'lightning' package, "
                            ">= 2.4), which is not installed; install it with: pip install "
                            "'mmbss[lightning]'")
