"""AGM as a gradient policy (BASELINES.md §3): the Shapley-style outputs, the path scaling, the
coefficient's direction, the running means, the window, the clipping, and composed runs."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from mmbss.engine import train
from mmbss.methods import create_method
from mmbss.methods.agm import AGM, agm_coefficients, shapley_outputs
from mmbss.models import build_model

from ..conftest import interrupted_at_step, tiny_config
from .helpers import context


def _model(names=("a", "b")):
    torch.manual_seed(0)
    return build_model({m: (4,) for m in names}, 3, encoder="mlp", encoder_kw={"hidden": [8]})


def _batch(names=("a", "b"), n=16):
    gen = torch.Generator().manual_seed(1)
    return {m: torch.randn(n, 4, generator=gen) for m in names}, torch.randint(0, 3, (n,), generator=gen)


def test_two_modality_outputs_are_the_official_ones_and_sum_to_the_fused_output():
    f = {frozenset("ab"): torch.tensor([3.0]), frozenset("a"): torch.tensor([2.0]),
         frozenset("b"): torch.tensor([0.5])}
    phi = shapley_outputs(f, ["a", "b"])
    assert float(phi["a"]) == pytest.approx(0.5 * (3.0 - 0.5 + 2.0))  # (T - V + A) / 2
    assert float(phi["b"]) == pytest.approx(0.5 * (3.0 - 2.0 + 0.5))
    assert float(phi["a"] + phi["b"]) == pytest.approx(3.0)


def test_three_modality_outputs_use_the_official_weights():
    gen = torch.Generator().manual_seed(0)
    f = {frozenset(s): torch.randn(1, generator=gen) for s in ("t", "a", "v", "ta", "tv", "av", "tav")}
    phi = shapley_outputs(f, ["t", "a", "v"])
    F_ = {k: float(v) for k, v in f.items()}
    fs = lambda s: F_[frozenset(s)]  # noqa: E731
    official = (fs("tav") - fs("av") + fs("t")) / 3 + (fs("ta") - fs("a") + fs("tv") - fs("v")) / 6
    assert float(phi["t"]) == pytest.approx(official)
    assert float(sum(phi.values())) == pytest.approx(fs("tav"))


def test_a_modality_doing_better_than_its_history_is_damped_and_the_other_boosted():
    # audio's loss (0.5) fell below its running mean (1.0); visual's stayed
    k = agm_coefficients(torch.tensor([0.5, 1.0]), torch.tensor([1.0, 1.0]), alpha=1.0, cap=10.0)
    assert float(k[0]) == pytest.approx(math.exp(1 - math.exp(0.25))) and float(k[0]) < 1
    assert float(k[1]) == pytest.approx(math.exp(1 - math.exp(-0.25))) and float(k[1]) > 1
    capped = agm_coefficients(torch.tensor([0.0, 0.0]), torch.tensor([0.0, 30.0]), alpha=0.5, cap=10.0)
    assert float(capped[0]) == pytest.approx(math.exp(0.5 * 10))  # min(rhobar - rho, cap)


def test_the_fused_value_is_unchanged_and_each_path_is_scaled_by_its_coefficient():
    model, (x, y) = _model(), _batch()
    policy = AGM(clip=False)
    policy.setup(0, None, 10)
    policy.on_epoch_start(context(0))
    out = policy.forward(model, x, y)
    assert torch.allclose(out.fused, model(x).fused, atol=1e-6)
    k = policy.scales
    assert k.shape == (2,) and not torch.allclose(k, torch.ones(2, dtype=k.dtype))
    params = list(model.parameters())
    got = torch.autograd.grad(F.cross_entropy(out.fused, y), params, allow_unused=True)
    # by hand: dL/dF pushed through each phi_m, times k_m
    T = model(x).fused
    model.eval()
    A = model({"a": x["a"], "b": torch.zeros_like(x["b"])}).fused
    V = model({"a": torch.zeros_like(x["a"]), "b": x["b"]}).fused
    model.train()
    phi_a, phi_b = 0.5 * (T - V + A), 0.5 * (T - A + V)
    F_ = (phi_a + phi_b).detach().requires_grad_()
    g_F, = torch.autograd.grad(F.cross_entropy(F_, y), F_)
    ga = torch.autograd.grad(phi_a, params, g_F, retain_graph=True, allow_unused=True)
    gb = torch.autograd.grad(phi_b, params, g_F, allow_unused=True)
    for g, a, b in zip(got, ga, gb, strict=True):
        if g is None:
            continue
        want = float(k[0]) * (a if a is not None else 0) + float(k[1]) * (b if b is not None else 0)
        assert torch.allclose(g, want, atol=1e-6)


def test_running_means_window_and_state():
    model, (x, y) = _model(), _batch()
    policy = AGM(start_epoch=0, end_epoch=0, clip=False)
    policy.setup(0, None, 5)
    policy.on_epoch_start(context(0))
    scores = []
    for n in (16, 8):
        policy.forward(model, {m: v[:n] for m, v in x.items()}, y[:n])
        scores.append(torch.tensor(list(policy.epoch_stats()["score"].values())))
    first = scores[0]
    second = 2 * scores[1] - first  # the epoch's mean score over two steps -> the second step's
    assert torch.allclose(policy.running.float(), (first + second) / 2, atol=1e-5)
    assert policy.count == 2
    frozen = (policy.scales.clone(), policy.running.clone())
    policy.on_epoch_start(context(1))  # outside the window: nothing moves
    policy.forward(model, x, y)
    assert torch.equal(policy.scales, frozen[0]) and torch.equal(policy.running, frozen[1])
    assert policy.epoch_stats() == {"modulated_steps": 0}
    again = AGM()
    again.load_state_dict(policy.state_dict())
    assert torch.equal(again.running, policy.running) and again.count == 2
    with pytest.raises(KeyError, match=r"agm.load_state_dict: expected keys \['count', 'running', "
                                       r"'scales'\]; got \['steps'\]"):
        again.load_state_dict({"steps": 1})


def test_large_fusion_gradients_clip_the_total_norm_to_one():
    model, (x, y) = _model(), _batch()
    policy = AGM()
    out = policy.forward(model, {m: 100 * v for m, v in x.items()}, y)
    F.cross_entropy(out.fused, y).mul(1000).backward()
    assert float(model.fusion.head.weight.grad.abs().max()) > 1
    policy.after_backward(model, out, y)
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters() if p.grad is not None))
    assert float(total) == pytest.approx(1.0, rel=1e-4)


def test_three_modalities_train():
    model, (x, y) = _model("abc"), _batch("abc")
    policy = AGM(cap=7.0)
    out = policy.forward(model, x, y)
    assert torch.allclose(out.fused, model(x).fused, atol=1e-5) and policy.scales.shape == (3,)


@pytest.mark.parametrize("options,message", [
    ({"alpha": -1.0}, r"agm: 'alpha' must be a float > 0.0; got -1.0"),
    ({"cap": 0}, r"agm: 'cap' must be a float > 0.0; got 0"),
    ({"start_epoch": 3}, r"agm: the modulation window starts at epoch 3, but training has 3 "
                         r"epochs \(0..2\); set agm start_epoch below 3."),
])
def test_bad_options(options, message):
    cfg = tiny_config("bss-lb+agm")
    cfg.method.options = {"agm": options}
    with pytest.raises(ValueError, match=message):
        create_method(cfg)


def test_bss_lb_with_agm_logs_its_coefficients_and_resumes_exactly(tmp_path):
    cfg = tiny_config("bss-lb+agm", epochs=3)
    cfg.method.options = {"agm": {"end_epoch": 1}}
    train(cfg, tmp_path / "full", quiet=True)
    records = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    stats = [r["method"]["agm"] for r in records]
    assert [s["modulated_steps"] for s in stats] == [12, 12, 0]
    assert set(stats[0]["coefficient"]) == {"m0", "m1"}
    assert all(c > 0 for c in stats[1]["coefficient"].values())
    with interrupted_at_step(18):
        train(cfg, tmp_path / "cut", quiet=True)
    train(cfg, tmp_path / "cut", resume=True, quiet=True)
    assert (tmp_path / "cut" / "metrics.jsonl").read_text() == \
        (tmp_path / "full" / "metrics.jsonl").read_text()
