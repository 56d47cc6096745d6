"""Any map-style dataset of sample dicts works on every path; the scoring pass reads train_eval."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

import mmbss.engine.build as build
from mmbss.data import DataBundle, create_dataset
from mmbss.engine import train

from ..conftest import tiny_config


class Recording(Dataset):
    """Per-sample items (no batch fast path) that note which indices were read; ``noise`` adds
    an augmentation."""

    def __init__(self, base, noise: float = 0.0, bad=None):
        self.base, self.noise, self.reads, self.bad = base, noise, [], bad

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        self.reads.append(i)
        item = self.base[i]
        mods = {k: v + self.noise * torch.randn(v.shape) for k, v in item["modalities"].items()}
        item = {**item, "modalities": mods}
        return self.bad(item) if self.bad else item


def _bundle(bad=None):
    base = create_dataset("synthetic", num_samples=300, num_classes=3, dims=8)
    return DataBundle(train=Recording(base.train, noise=0.5, bad=bad), val=Recording(base.val),
                      test=Recording(base.test), num_classes=3,
                      modality_shapes=base.modality_shapes, train_eval=Recording(base.train))


def test_the_scoring_pass_reads_train_eval_and_training_reads_train(tmp_path, monkeypatch):
    bundle = _bundle()
    monkeypatch.setattr(build, "build_data", lambda cfg: bundle)
    train(tiny_config("bss-lb", epochs=2), tmp_path / "r", quiet=True)
    n = len(bundle.train)
    assert sorted(bundle.train_eval.reads) == sorted(list(range(n)) * 2)  # one pass per epoch
    assert sorted(bundle.train.reads) == sorted(list(range(n)) * 2)       # every sample per epoch
    assert len(bundle.val.reads) == len(bundle.test.reads) == 2 * len(bundle.val)


def test_per_sample_datasets_give_the_same_run_as_the_batch_fast_path(tmp_path, monkeypatch):
    train(tiny_config("bss-cl", epochs=2), tmp_path / "fast", quiet=True)
    base = create_dataset("synthetic", num_samples=300, num_classes=3, dims=8)
    slow = DataBundle(train=Recording(base.train), val=Recording(base.val),
                      test=Recording(base.test), num_classes=3,
                      modality_shapes=base.modality_shapes, info=base.info)
    monkeypatch.setattr(build, "build_data", lambda cfg: slow)
    train(tiny_config("bss-cl", epochs=2), tmp_path / "slow", quiet=True)
    assert (tmp_path / "slow" / "metrics.jsonl").read_text() == \
        (tmp_path / "fast" / "metrics.jsonl").read_text()


@pytest.mark.parametrize("bad,exc,message", [
    (lambda item: {k: v for k, v in item.items() if k != "label"}, ValueError,
     r"collate_samples: a sample \(index \d+\) lacks the key\(s\) \['label'\]"),
    (lambda item: {**item, "modalities": {"m0": item["modalities"]["m0"]}}, ValueError,
     r"a train batch has the modalities \['m0'\], but the dataset declares \['m0', 'm1'\]"),
    (lambda item: {**item, "index": item["index"] + 1000}, ValueError,
     r"OnlineScoreTracker.record: indices must lie in \[0, 179\]"),
])
def test_bad_samples_are_clear_errors(tmp_path, monkeypatch, bad, exc, message):
    bundle = _bundle(bad)
    monkeypatch.setattr(build, "build_data", lambda cfg: bundle)
    with pytest.raises(exc, match=message):
        train(tiny_config("bss-lb", epochs=1, scoring="online", warmup_epochs=0), tmp_path / "r",
              quiet=True)


def test_an_index_outside_the_split_in_an_eval_pass_is_a_clear_error(tmp_path, monkeypatch):
    base = create_dataset("synthetic", num_samples=300, num_classes=3, dims=8)
    bundle = DataBundle(train=base.train, val=Recording(base.val, bad=lambda item: {
        **item, "index": 99}), test=base.test, num_classes=3, modality_shapes=base.modality_shapes)
    monkeypatch.setattr(build, "build_data", lambda cfg: bundle)
    with pytest.raises(ValueError, match=r"a batch holds sample index 99, outside \[0, 59\] \(the "
                                         r"dataset has 60 samples\); a sample's 'index' must be "
                                         r"its position in its split"):
        train(tiny_config("uniaux", epochs=1), tmp_path / "r", quiet=True)


def test_a_scoring_loader_missing_samples_is_refused():
    from mmbss.engine.build import build_run
    from mmbss.engine.evaluation import exact_criteria

    from ..conftest import tiny_config

    run = build_run(tiny_config("bss-lb"))
    first = [next(iter(run.loaders["train_eval"]))]
    first[0] = {k: (v[:5] if k != "modalities" else {m: t[:5] for m, t in v.items()})
                for k, v in first[0].items()}
    with pytest.raises(ValueError, match=r"the scoring loader yielded 5 of 180 samples; every "
                                         r"training sample must be scored\."):
        exact_criteria(run.model, first, run.method.scorer, run.device, num_samples=180)
