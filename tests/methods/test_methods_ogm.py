"""OGM-GE as a gradient policy (BASELINES.md §1): the coefficient table, which modality is damped,
the GE noise, the window, and a composed run with bss-lb that resumes exactly."""

from __future__ import annotations

import json

import pytest
import torch

from mmbss.engine import train
from mmbss.methods import create_method
from mmbss.methods.gradients import OGMGE, ogm_coefficient, ogm_ratios
from mmbss.models.multimodal import ModelOutput

from ..conftest import interrupted_at_step, tiny_config
from .helpers import context


@pytest.mark.parametrize("alpha,paper,shifted", [   # BASELINES.md §1.2, rho = 1.2, 1.5, 2, 3
    (0.1, [0.88, 0.85, 0.80, 0.71], [0.98, 0.95, 0.90, 0.80]),
    (0.3, [0.66, 0.58, 0.46, 0.28], [0.94, 0.85, 0.71, 0.46]),
    (0.5, [0.46, 0.37, 0.24, 0.10], [0.90, 0.76, 0.54, 0.24]),
    (0.8, [0.26, 0.17, 0.08, 0.02], [0.84, 0.62, 0.34, 0.08]),
])
def test_coefficients_match_the_published_table(alpha, paper, shifted):
    rhos = [1.2, 1.5, 2.0, 3.0]
    # the note's table is rounded by hand (a few entries are 0.01 off)
    assert [ogm_coefficient(r, alpha) for r in rhos] == pytest.approx(paper, abs=0.011)
    assert [ogm_coefficient(r, alpha, "shifted") for r in rhos] == pytest.approx(shifted, abs=0.011)
    assert ogm_coefficient(1.5, alpha) == pytest.approx(1 - torch.tanh(torch.tensor(1.5 * alpha)).item())
    assert ogm_coefficient(1.0, alpha, "shifted") == 1.0


def test_ratios_reduce_to_the_two_modality_rule():
    assert ogm_ratios([2.0, 1.0]) == [2.0, 0.5]
    assert ogm_ratios([3.0, 1.0, 2.0]) == [2.0, 0.4, 1.0]


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoders = torch.nn.ModuleDict({"a": torch.nn.Linear(3, 200), "b": torch.nn.Linear(3, 200)})


def _step(policy, logits_a, logits_b, labels, epoch=0):
    net = _Net()
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    out = ModelOutput(torch.zeros(len(labels), 2), {"a": logits_a, "b": logits_b}, {}, {})
    policy.on_epoch_start(context(epoch))
    policy.after_backward(net, out, labels)
    return net


def test_the_dominant_modality_is_damped_and_the_other_left_alone():
    y = torch.tensor([0, 0])
    strong, weak = torch.tensor([[5.0, 0.0], [5.0, 0.0]]), torch.zeros(2, 2)
    net = _step(OGMGE(alpha=0.5, ge=False), strong, weak, y)
    rho = ogm_ratios([float(strong.softmax(-1)[:, 0].sum()), 1.0])[0]
    assert torch.allclose(net.encoders["a"].weight.grad, torch.full((200, 3), ogm_coefficient(rho, 0.5)))
    assert torch.equal(net.encoders["b"].weight.grad, torch.ones(200, 3))
    net = _step(OGMGE(alpha=0.5, ge=False), weak, weak, y)  # a tie damps the first, as official
    assert float(net.encoders["a"].weight.grad[0, 0]) == pytest.approx(1 - torch.tanh(torch.tensor(0.5)))


def test_ge_noise_has_the_unmodulated_gradient_std_and_is_seeded():
    y = torch.tensor([0, 1])
    policy = OGMGE(alpha=0.5)
    g = torch.randn(200, 3, generator=torch.Generator().manual_seed(0)) * 3.0
    net = _Net()
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    net.encoders["b"].weight.grad = g.clone()
    out = ModelOutput(torch.zeros(2, 2), {"a": torch.zeros(2, 2), "b": torch.zeros(2, 2)}, {}, {})
    policy.setup(7, None, 100)
    policy.after_backward(net, out, y)
    noise = net.encoders["b"].weight.grad - g  # b is not damped at a tie: k = 1
    assert float(noise.std()) == pytest.approx(float(g.std()), rel=0.1)
    assert abs(float(noise.mean())) < 0.3
    again = OGMGE(alpha=0.5)
    again.setup(7, None, 100)
    net2 = _Net()
    for p in net2.parameters():
        p.grad = torch.zeros_like(p)
    net2.encoders["b"].weight.grad = g.clone()
    again.after_backward(net2, out, y)
    assert torch.equal(net2.encoders["b"].weight.grad, net.encoders["b"].weight.grad)


def test_no_modulation_outside_the_window():
    net = _step(OGMGE(start_epoch=2, end_epoch=3), torch.tensor([[5.0, 0.0]]), torch.zeros(1, 2),
                torch.tensor([0]), epoch=4)
    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in net.parameters())


@pytest.mark.parametrize("options,message", [
    ({"alpha": 0.0}, r"ogm-ge: 'alpha' must be a float > 0.0; got 0.0"),
    ({"form": "old"}, r"ogm-ge: 'form' must be one of 'paper', 'shifted'; got 'old'"),
    ({"start_epoch": 5, "end_epoch": 2}, r"ogm-ge: 'end_epoch' must be an int >= 5; got 2"),
    ({"beta": 1}, r"ogm-ge: unknown option\(s\) 'beta'; valid options: alpha, form, ge, "
                  r"start_epoch, end_epoch, params"),
])
def test_bad_options(options, message):
    cfg = tiny_config("bss-lb+ogm-ge")
    cfg.method.options = {"ogm-ge": options}
    with pytest.raises(ValueError, match=message):
        create_method(cfg)


def test_bss_lb_with_ogm_ge_logs_its_statistics_and_resumes_exactly(tmp_path, monkeypatch):
    cfg = tiny_config("bss-lb+ogm-ge", epochs=3)
    cfg.method.options = {"ogm-ge": {"alpha": 0.5, "end_epoch": 1}}
    train(cfg, tmp_path / "full", quiet=True)
    records = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    stats = [r["method"]["ogm-ge"] for r in records]
    assert [s["modulated_steps"] for s in stats] == [12, 12, 0]
    shares = stats[0]["damped_share"]
    assert set(shares) == {"m0", "m1"} and sum(shares.values()) == pytest.approx(1.0)
    assert all(0 < c <= 1 for c in stats[0]["mean_coefficient"].values())
    with interrupted_at_step(18):  # the middle of epoch 1, inside the modulation window
        train(cfg, tmp_path / "cut", quiet=True)
    train(cfg, tmp_path / "cut", resume=True, quiet=True)
    assert (tmp_path / "cut" / "metrics.jsonl").read_text() == \
        (tmp_path / "full" / "metrics.jsonl").read_text()


def test_state_round_trip_and_a_foreign_state():
    a, b = OGMGE(), OGMGE()
    a.setup(3, None, 100)
    b.load_state_dict(a.state_dict())
    assert torch.equal(torch.randn(4, generator=a.generator), torch.randn(4, generator=b.generator))
    with pytest.raises(KeyError, match=r"ogm-ge.load_state_dict: expected keys \['generator'\]; "
                                       r"got \['steps'\]"):
        b.load_state_dict({"steps": 1})
