"""MMPareto as a gradient policy (BASELINES.md §2): the two-task min-norm weights, the rescaling
and gamma, a real conflict detected on a real model, the two-pass scheme equal to the official
four-pass computation, and composed runs."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from mmbss.engine import train
from mmbss.methods import create_method
from mmbss.methods.mmpareto import MMPareto, mgda_weight, pareto_combine
from mmbss.models import build_model
from mmbss.models.multimodal import ModelOutput

from ..conftest import interrupted_at_step, tiny_config
from .helpers import context


@pytest.mark.parametrize("g1,g2,c", [
    ([1.0, 0.0], [0.0, 2.0], 0.8),      # orthogonal: (v22 - v12) / (v11 + v22 - 2 v12) = 4 / 5
    ([1.0, 0.0], [-1.0, 1.0], 0.6),     # opposed: (2 + 1) / (1 + 2 + 2)
    ([1.0, 0.0], [2.0, 1.0], 0.999),    # v12 >= v11: clamped
    ([2.0, 1.0], [1.0, 0.0], 0.001),    # v12 >= v22: clamped
])
def test_min_norm_weight_closed_form(g1, g2, c):
    assert mgda_weight(torch.tensor(g1), torch.tensor(g2)) == pytest.approx(c)


def test_min_norm_point_is_the_minimum_over_the_segment():
    g1, g2 = torch.tensor([3.0, -1.0, 0.5]), torch.tensor([-2.0, 2.0, 1.0])
    c = mgda_weight(g1, g2)
    grid = torch.linspace(0, 1, 1001)
    norms = torch.stack([(t * g1 + (1 - t) * g2).norm() for t in grid])
    assert float((c * g1 + (1 - c) * g2).norm()) <= float(norms.min()) + 1e-5


def test_aligned_gradients_give_gamma_times_the_sum():
    g_mm = [torch.tensor([[1.0, 2.0]]), torch.tensor([0.5])]
    g_u = [torch.tensor([[2.0, 1.0]]), torch.tensor([0.5])]
    new, cos, conflict = pareto_combine(g_mm, g_u, gamma=1.5)
    assert not conflict and cos > 0
    for n, a, b in zip(new, g_mm, g_u, strict=True):
        assert torch.allclose(n, 1.5 * (a + b))


def test_under_a_conflict_the_result_agrees_with_both_tasks_and_is_not_smaller():
    gen = torch.Generator().manual_seed(0)
    g_mm = [torch.randn(4, 3, generator=gen), torch.randn(4, generator=gen)]
    g_u = [-0.7 * g_mm[0] + 0.3 * torch.randn(4, 3, generator=gen), -g_mm[1]]
    new, cos, conflict = pareto_combine(g_mm, g_u, gamma=1.5)
    assert conflict and cos < 0
    flat = torch.cat([g.reshape(-1) for g in new])
    assert float(flat @ torch.cat([g.reshape(-1) for g in g_mm])) >= 0
    assert float(flat @ torch.cat([g.reshape(-1) for g in g_u])) >= 0
    c = mgda_weight(torch.cat([g.reshape(-1) for g in g_mm]), torch.cat([g.reshape(-1) for g in g_u]))
    for n, a, b in zip(new, g_mm, g_u, strict=True):  # direction from the min-norm mix, per tensor
        direction = 2 * c * a + 2 * (1 - c) * b
        assert torch.allclose(n / n.norm(), direction / direction.norm(), atol=1e-6)
        assert float(n.norm()) >= 1.5 * float((a + b).norm()) - 1e-5
    off, _, _ = pareto_combine(g_mm, g_u, gamma=1.5, pareto=False)  # the uniform x gamma control
    assert all(torch.allclose(n, 1.5 * (a + b)) for n, a, b in zip(off, g_mm, g_u, strict=True))


def _model(conflict_on: str | None = "a"):
    """A real model whose fused head reads modality ``conflict_on`` with the negated weights of
    its unimodal head: the fused loss and that modality's own loss pull its encoder apart."""
    torch.manual_seed(0)
    model = build_model({"a": (4,), "b": (4,)}, 3, encoder="mlp", encoder_kw={"hidden": [8]})
    with torch.no_grad():
        for i, m in enumerate(("a", "b")):
            model.heads[m].weight.mul_(0.1)
            model.heads[m].bias.zero_()
            sign = -1.0 if m == conflict_on else 1.0
            model.fusion.head.weight[:, 8 * i:8 * (i + 1)] = sign * model.heads[m].weight
        model.fusion.head.bias.zero_()
    return model


def _step(policy, model, x, y):
    """One training step of uniaux's loss through ``policy``'s hooks; returns the gradients."""
    method = create_method(tiny_config("mmpareto"))
    method.gradients = [policy]
    policy.setup(0, method.sampling, 10)
    policy.on_epoch_start(context(0))
    out = method.forward(model, x, y)
    loss = method.loss(model, out, y).mean()
    model.zero_grad(set_to_none=True)
    method.before_backward(model, out, y)
    loss.backward()
    method.after_backward(model, out, y)
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def _batch():
    gen = torch.Generator().manual_seed(1)
    return {"a": torch.randn(32, 4, generator=gen), "b": torch.randn(32, 4, generator=gen)}, \
        torch.randint(0, 3, (32,), generator=gen)


def test_a_real_conflict_is_detected_on_a_real_model():
    x, y = _batch()
    policy = MMPareto()
    _step(policy, _model("a"), x, y)
    stats = policy.epoch_stats()
    assert stats["conflict_share"] == {"a": 1.0, "b": 0.0}
    assert stats["mean_cosine"]["a"] < -0.5 < 0.5 < stats["mean_cosine"]["b"]


def _official(model, x, y, gamma=1.5):
    """The official computation, written from BASELINES.md §2.2: a backward pass per loss for the
    task gradients, one for the sum, then the rule per encoder."""
    def grads(loss):
        model.zero_grad(set_to_none=True)
        loss.backward(retain_graph=True)
        return {n: (p.grad.clone() if p.grad is not None else torch.zeros_like(p))
                for n, p in model.named_parameters()}

    out = model(x)
    g_mm = grads(F.cross_entropy(out.fused, y))
    g_u = {m: grads(F.cross_entropy(out.unimodal[m], y)) for m in ("a", "b")}
    total = grads(F.cross_entropy(out.fused, y) + sum(F.cross_entropy(out.unimodal[m], y)
                                                        for m in ("a", "b")))
    for m in ("a", "b"):
        names = [n for n, _ in model.named_parameters() if n.startswith(f"encoders.{m}.")]
        v1 = torch.cat([g_mm[n].reshape(-1) for n in names])
        v2 = torch.cat([g_u[m][n].reshape(-1) for n in names])
        k = mgda_weight(v1, v2) if float(F.cosine_similarity(v1, v2, dim=0)) <= 0 else 0.5
        for n in names:
            new = 2 * k * g_mm[n] + 2 * (1 - k) * g_u[m][n]
            r = float(total[n].norm() / new.norm())
            total[n] = gamma * max(r, 1.0) * new
    return total


@pytest.mark.parametrize("conflict_on", ["a", None])
def test_two_backward_passes_give_the_official_four_pass_result(conflict_on):
    x, y = _batch()
    ours = _step(MMPareto(), _model(conflict_on), x, y)
    official = _official(_model(conflict_on), x, y)
    for name in official:
        assert torch.allclose(ours[name], official[name], atol=1e-6, rtol=1e-5), name


@pytest.mark.parametrize("make,error,message", [
    (lambda: create_method(_options({"gamma": 0.0})), ValueError,
     r"mmpareto: 'gamma' must be a float > 0.0; got 0.0"),
    (lambda: create_method(tiny_config("joint+mmpareto")), ValueError,
     r"mmpareto needs a multimodal and a unimodal loss on every encoder, but 'joint' trains with "
     r"fused weight 1.0 and unimodal weight 0.0 on the encoders; compose it with uniaux, bss-cl or "
     r"bss-lb \(and train.unimodal_weight > 0\)."),
    (lambda: MMPareto().before_backward(torch.nn.Linear(2, 2), ModelOutput(
        torch.zeros(1, 2), {"a": torch.zeros(1, 2), "b": torch.zeros(1, 2)}, {}, {}), torch.tensor([0])),
     ValueError, r"mmpareto needs a model with one encoder per modality \(model.encoders keyed by "
                 r"the modalities \['a', 'b'\]\); this model has encoders none. Build it with "
                 r"mmbss.models.MultiModalNet."),
])
def test_bad_input(make, error, message):
    with pytest.raises(error, match=message):
        make()


def _options(options):
    cfg = tiny_config("bss-lb+mmpareto")
    cfg.method.options = {"mmpareto": options}
    return cfg


def test_bss_cl_with_mmpareto_logs_conflicts_and_resumes_exactly(tmp_path):
    cfg = tiny_config("bss-cl+mmpareto", epochs=3)
    train(cfg, tmp_path / "full", quiet=True)
    records = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    stats = [r["method"]["mmpareto"] for r in records]
    assert all(s["steps"] == r["train"]["steps"] for s, r in zip(stats, records, strict=True))
    assert all(set(s["conflict_share"]) == {"m0", "m1"} for s in stats)
    assert all(0 <= v <= 1 for s in stats for v in s["conflict_share"].values())
    with interrupted_at_step(8):
        train(cfg, tmp_path / "cut", quiet=True)
    train(cfg, tmp_path / "cut", resume=True, quiet=True)
    assert (tmp_path / "cut" / "metrics.jsonl").read_text() == \
        (tmp_path / "full" / "metrics.jsonl").read_text()
