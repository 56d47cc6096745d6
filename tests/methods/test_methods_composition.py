"""Sampling policies compose with gradient policies (``bss-lb+<policy>``): the hook runs between
backward and step, its statistics reach metrics.jsonl, its state survives a kill and --resume."""

from __future__ import annotations

import json

import pytest
import torch

from mmbss.engine import train
from mmbss.engine.build import build_run
from mmbss.methods import GRADIENT_POLICIES, create_method

from ..conftest import interrupted_at_step, tiny_config
from .freeze_policy import ScaleEncoderGradients, registered


@pytest.fixture(autouse=True)
def _policy():
    with registered():
        yield
    assert "test-scale" not in GRADIENT_POLICIES


def _cfg(epochs=3, **options):
    cfg = tiny_config("bss-lb+test-scale", epochs=epochs)
    cfg.optim.weight_decay = 0.0  # so that a zero gradient leaves a weight exactly as it was
    cfg.method.options = {"test-scale": options} if options else {}
    return cfg


def test_a_zero_gradient_policy_freezes_its_encoder_and_logs_its_statistics(tmp_path):
    run = build_run(_cfg())
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    train(_cfg(), tmp_path / "r", quiet=True)
    from mmbss.engine.checkpoint import load_checkpoint

    after = load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")["model"]
    frozen = [k for k in before if k.startswith("encoders.m0.")]
    moved = [k for k in before if k.startswith("encoders.m1.")]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert all(not torch.equal(before[k], after[k]) for k in moved if "weight" in k)
    records = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    steps = [r["method"]["test-scale"]["steps_so_far"] for r in records]
    assert steps == [12, 24, 36] and all(r["method"]["test-scale"]["mean_grad_norm"] > 0
                                         for r in records)
    assert records[1]["subset_fraction"] == 1.0 and records[1]["scored"]  # bss-lb still samples


def test_the_hook_runs_between_backward_and_step(tmp_path, monkeypatch):
    events = []
    original_init, backward, step = ScaleEncoderGradients.__init__, torch.Tensor.backward, \
        torch.optim.SGD.step

    def init(self, **kw):
        original_init(self, **kw)
        self.events = events

    monkeypatch.setattr(ScaleEncoderGradients, "__init__", init)
    monkeypatch.setattr(torch.Tensor, "backward",
                        lambda self, *a, **k: (events.append("backward"), backward(self, *a, **k))[1])
    monkeypatch.setattr(torch.optim.SGD, "step",
                        lambda self, *a, **k: (events.append("step"), step(self, *a, **k))[1])
    train(_cfg(epochs=1), tmp_path / "r", quiet=True)
    assert events == ["backward", "hook", "step"] * 12


def test_policy_state_survives_a_kill_and_resume(tmp_path, monkeypatch):
    cfg = _cfg(epochs=4, factor=0.5)
    train(cfg, tmp_path / "full", quiet=True)
    with interrupted_at_step(30):  # the middle of epoch 2
        train(cfg, tmp_path / "cut", quiet=True)
    train(cfg, tmp_path / "cut", resume=True, quiet=True)
    full = (tmp_path / "full" / "metrics.jsonl").read_text()
    assert (tmp_path / "cut" / "metrics.jsonl").read_text() == full
    assert '"steps_so_far": 48' in full.splitlines()[-1]


@pytest.mark.parametrize("name,options,exc,message", [
    ("bss-lb+bss-cl", {}, ValueError, r"method: 'bss-lb\+bss-cl' combines the sampling policies "
                                      r"'bss-lb', 'bss-cl'; a method has one \(combine it with "
                                      r"a gradient policy: agm, mmpareto, ogm-ge, pmr, test-scale\)"),
    ("bss-lb+test-scal", {}, ValueError, r"unknown method 'test-scal'; valid names: anti, bss-cl, "
                                         r".*test-scale \(join a sampling policy and a gradient "
                                         r"policy with \+\)\. Did you mean 'test-scale'\?"),
    ("bss-lb+test-scale", {"test-scale": {"facto": 1}}, ValueError,
     r"test-scale: unknown option\(s\) 'facto'; valid options: modality, factor"),
    ("bss-lb+test-scale", {"test-scale": {"factor": -1.0}}, ValueError,
     r"test-scale: 'factor' must be a float >= 0; got -1.0"),
    ("bss-lb", {"test-scale": {}}, ValueError,
     r"method.options: 'test-scale' is not a gradient policy of 'bss-lb'; give options only for "
     r"none"),
    ("test-scale+test-scale", {}, ValueError, r"names a gradient policy twice"),
    ("bss-lb+test-scale", {"test-scale": [1]}, TypeError,
     r"method.options: 'test-scale' must be a mapping of option -> value; got \[1\]"),
])
def test_bad_compositions_and_options(name, options, exc, message):
    cfg = tiny_config(name)
    cfg.method.options = options
    with pytest.raises(exc, match=message):
        create_method(cfg)


def test_a_gradient_policy_alone_uses_uniform_sampling():
    m = create_method(tiny_config("test-scale"))
    assert m.sampling.name == "uniaux" and [g.name for g in m.gradients] == ["test-scale"]
    assert m.scorer is None
