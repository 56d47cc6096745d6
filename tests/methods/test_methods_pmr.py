"""PMR as a gradient policy (BASELINES.md §4): the prototypes are class means of a stratified
subset, the PCE weight goes to the weaker modality, the EMA, the window, the gradient path, bad
input, and composed runs that log their statistics and resume exactly."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from mmbss.engine import train
from mmbss.methods import create_method
from mmbss.methods.pmr import PMR, pmr_weights, prototype_subset
from mmbss.models.multimodal import ModelOutput

from ..conftest import interrupted_at_step, tiny_config
from .helpers import context


class _Net(torch.nn.Module):
    """Identity encoders per modality (features = inputs until the weights change), C classes."""

    def __init__(self, names=("a", "b"), dim=2, classes=3):
        super().__init__()
        self.encoders = torch.nn.ModuleDict({m: torch.nn.Linear(dim, dim, bias=False) for m in names})
        for enc in self.encoders.values():
            torch.nn.init.eye_(enc.weight)
        self.classes, self.modes = classes, []

    def forward(self, inputs):
        self.modes.append(self.training)
        feats = {m: enc(inputs[m]) for m, enc in self.encoders.items()}
        b = len(next(iter(feats.values())))
        return ModelOutput(torch.zeros(b, self.classes), {m: torch.zeros(b, self.classes) for m in feats},
                           feats, dict(feats))


def _data(labels, seed=0, names=("a", "b"), dim=2):
    g = torch.Generator().manual_seed(seed)
    y = torch.tensor(labels)
    return {"modalities": {m: torch.randn(len(y), dim, generator=g) for m in names}, "label": y}


def _output(feats):
    b = len(next(iter(feats.values())))
    return ModelOutput(torch.zeros(b, 2), {m: torch.zeros(b, 2) for m in feats}, feats, dict(feats))


class _NoEncoders(torch.nn.Module):
    """A model whose features are its inputs, without ``encoders``."""

    def forward(self, inputs):
        return _output(dict(inputs))


def _with_prototypes(prototypes, **options):
    policy = PMR(**options)
    policy.load_state_dict({"prototypes": prototypes, "computed": 1})
    return policy


def test_prototypes_are_the_class_means_and_every_class_gets_one():
    data = _data([0, 0, 1, 0, 1, 2, 1, 1])  # class 2 has a single sample
    net, policy = _Net(), PMR(fraction=1.0)
    policy.on_epoch_start(context(0, net, data=data, batch_size=3))
    for m in ("a", "b"):
        x = data["modalities"][m]
        means = torch.stack([x[data["label"] == k].mean(0) for k in range(3)])
        assert torch.allclose(policy.prototypes[m], means, atol=1e-6)
    assert net.modes and not any(net.modes) and net.training  # eval pass, train mode restored
    assert policy.state_dict()["computed"] == 1
    small = PMR(fraction=0.1)  # ceil(0.1 * n_k) = 1 sample of every class, class 2 included
    small.on_epoch_start(context(0, _Net(), data=data))
    x = data["modalities"]["a"]
    for k in range(3):
        assert any(torch.allclose(small.prototypes["a"][k], row) for row in x[data["label"] == k])


def test_the_subset_is_stratified_seeded_and_a_missing_class_is_left_out():
    labels = torch.tensor([0] * 25 + [1] * 4 + [2])
    pick = prototype_subset(labels, 0.1, torch.Generator().manual_seed(5))
    assert torch.bincount(labels[pick], minlength=3).tolist() == [3, 1, 1]  # ceil(2.5), ceil(0.4), 1
    assert torch.equal(pick, prototype_subset(labels, 0.1, torch.Generator().manual_seed(5)))
    a, b = PMR(), PMR()
    a.setup(1, None, 10)
    b.setup(2, None, 10)
    data = _data([0] * 20 + [1] * 20)
    a.on_epoch_start(context(0, _Net(), data=data))
    b.on_epoch_start(context(0, _Net(), data=data))
    assert not torch.equal(a.prototypes["a"], b.prototypes["a"])  # the subset depends on the seed
    # a class without any training sample (class 2 of 3) has no prototype and no softmax mass
    policy = PMR(fraction=1.0)
    policy.on_epoch_start(context(0, _Net(), data=_data([0, 1, 0, 1])))
    assert torch.isnan(policy.prototypes["a"][2]).all()
    feats = {"a": policy.prototypes["a"][:2].clone().requires_grad_(True),  # a: on its prototypes
             "b": torch.zeros(2, 2, requires_grad=True)}
    term = policy.loss_term(_Net(), _output(feats), torch.tensor([0, 1]))
    assert torch.isfinite(term).all() and float(term.detach().sum()) > 0
    term.sum().backward()
    assert torch.isfinite(feats["b"].grad).all() and feats["a"].grad is None


def test_the_pce_weight_goes_to_the_weaker_modality():
    protos = {"a": torch.tensor([[0.0, 0.0], [4.0, 0.0]]), "b": torch.tensor([[0.0, 0.0], [4.0, 0.0]])}
    y = torch.tensor([0, 1])
    strong = torch.tensor([[0.0, 0.0], [4.0, 0.0]])  # on its class's prototype
    weak = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # distances 1 and 3: sim = [-1, -3]
    policy = _with_prototypes(protos, alpha=2.0)
    term = policy.loss_term(_Net(), _output({"a": strong, "b": weak}), y)
    by_hand = torch.tensor([math.log(1 + math.exp(-2)), 2 + math.log(1 + math.exp(-2))])
    assert torch.allclose(term, 2.0 * by_hand, atol=1e-6)  # only b's term: alpha * CE(-dist, y)
    assert torch.allclose(term, 2.0 * F.cross_entropy(torch.tensor([[-1.0, -3.0]] * 2), y,
                                                      reduction="none"))
    term = policy.loss_term(_Net(), _output({"a": weak, "b": strong}), y)  # order swapped
    assert torch.allclose(term, 2.0 * by_hand, atol=1e-6)
    stats = policy.epoch_stats()
    assert stats == {"modulated_steps": 2, "weight": {"a": 1.0, "b": 1.0},
                     "boosted_share": {"a": 0.5, "b": 0.5}}
    tie = policy.loss_term(_Net(), _output({"a": weak, "b": weak.clone()}), y)
    assert torch.equal(tie, torch.zeros(2))  # rho = 1: both weights 0
    assert policy.epoch_stats()["modulated_steps"] == 3


def test_three_modalities_boost_every_modality_below_the_best():
    assert pmr_weights([3.0, 1.0, 2.0], 0.5) == [0.0, 0.5, 0.5]
    assert pmr_weights([2.0, 2.0, 1.0], 0.5) == [0.0, 0.0, 0.5]
    assert pmr_weights([1.0, 2.0], 0.5) == [0.5, 0.0]
    c = torch.tensor([[0.0, 0.0], [4.0, 0.0]])
    policy = _with_prototypes({"a": c, "b": c, "c": c}, alpha=0.5)
    y = torch.tensor([0, 1])
    feats = {"a": c.clone(), "b": torch.tensor([[1.0, 0.0], [1.0, 0.0]]),
             "c": torch.tensor([[2.0, 0.0], [2.0, 0.0]])}
    term = policy.loss_term(_Net(("a", "b", "c")), _output(feats), y)
    ce = {m: F.cross_entropy(-torch.cdist(feats[m], c), y, reduction="none") for m in ("b", "c")}
    assert torch.allclose(term, 0.5 * (ce["b"] + ce["c"]))


def test_the_prototypes_follow_an_ema_from_the_second_computation_on():
    data = _data([0, 1, 2, 0, 1, 2])
    net, policy = _Net(), PMR(fraction=1.0, momentum=0.25)
    policy.on_epoch_start(context(0, net, data=data))
    first = {m: c.clone() for m, c in policy.prototypes.items()}
    assert torch.allclose(first["a"], torch.stack([data["modalities"]["a"][[k, k + 3]].mean(0)
                                                   for k in range(3)]))
    with torch.no_grad():
        net.encoders["a"].weight.mul_(3.0)  # the new class means of a are 3x the old ones
    policy.on_epoch_start(context(1, net, data=data))
    assert torch.allclose(policy.prototypes["a"], 0.75 * 3.0 * first["a"] + 0.25 * first["a"], atol=1e-6)
    assert torch.allclose(policy.prototypes["b"], first["b"], atol=1e-6)
    assert policy.state_dict()["computed"] == 2


def test_no_term_outside_the_window():
    data = _data([0, 1, 2, 0, 1, 2])
    policy = PMR(start_epoch=2, end_epoch=3)
    policy.on_epoch_start(context(0, _Net(), data=data))  # momentum 0: nothing to compute yet
    assert policy.state_dict() == {"prototypes": {}, "computed": 0}
    feats = {m: torch.zeros(2, 2) for m in ("a", "b")}
    assert policy.loss_term(_Net(), _output(feats), torch.tensor([0, 1])) is None
    assert policy.epoch_stats() == {"modulated_steps": 0}
    ema = PMR(start_epoch=2, end_epoch=3, momentum=0.5)  # the EMA starts before the window
    ema.on_epoch_start(context(0, _Net(), data=data))
    assert ema.state_dict()["computed"] == 1
    policy.on_epoch_start(context(2, _Net(), data=data))
    assert policy.loss_term(_Net(), _output(feats), torch.tensor([0, 1])) is not None
    policy.on_epoch_start(context(4, _Net(), data=data))  # after the window: not recomputed
    assert policy.state_dict()["computed"] == 1
    assert policy.loss_term(_Net(), _output(feats), torch.tensor([0, 1])) is None
    assert policy.epoch_stats() == {"modulated_steps": 0}


def test_the_term_reaches_only_the_weaker_modalitys_encoder():
    net = _Net(classes=2)
    with torch.no_grad():
        net.encoders["b"].weight.mul_(0.25)  # b's features shrink to the middle: b is weaker
    x = {"a": torch.tensor([[0.0, 0.0], [4.0, 0.0]]), "b": torch.tensor([[0.0, 0.0], [4.0, 0.0]])}
    y = torch.tensor([0, 1])
    protos = {m: x[m].clone() for m in ("a", "b")}
    policy = _with_prototypes(protos, alpha=2.0)
    out = net(x)
    policy.loss_term(net, out, y).sum().backward()
    assert net.encoders["a"].weight.grad is None  # the dominant encoder: no PMR gradient
    w = net.encoders["b"].weight.detach().clone().requires_grad_(True)
    (2.0 * F.cross_entropy(-torch.cdist(x["b"] @ w.T, protos["b"]), y, reduction="sum")).backward()
    assert net.encoders["b"].weight.grad.abs().sum() > 0
    assert torch.allclose(net.encoders["b"].weight.grad, w.grad, atol=1e-6)


@pytest.mark.parametrize("options,message", [
    ({"alpha": 0.0}, r"pmr: 'alpha' must be a float > 0.0; got 0.0"),
    ({"momentum": 1.0}, r"pmr: 'momentum' must be a float in \[0.0, 1.0\); got 1.0"),
    ({"momentum": -0.1}, r"pmr: 'momentum' must be a float in \[0.0, 1.0\); got -0.1"),
    ({"fraction": 0.0}, r"pmr: 'fraction' must be a float in \(0.0, 1.0\]; got 0.0"),
    ({"fraction": 1.5}, r"pmr: 'fraction' must be a float in \(0.0, 1.0\]; got 1.5"),
    ({"start_epoch": 3}, r"pmr: the modulation window starts at epoch 3, but training has 3 "
                         r"epochs \(0..2\); set pmr start_epoch below 3"),
    ({"start_epoch": 2, "end_epoch": 1}, r"pmr: 'end_epoch' must be an int >= 2; got 1"),
    ({"beta": 1}, r"pmr: unknown option\(s\) 'beta'; valid options: alpha, momentum, fraction, "
                  r"start_epoch, end_epoch"),
])
def test_bad_options(options, message):
    cfg = tiny_config("bss-lb+pmr")
    cfg.method.options = {"pmr": options}
    with pytest.raises(ValueError, match=message):
        create_method(cfg)


def test_a_model_without_encoders_and_missing_prototypes_are_refused():
    feats = {m: torch.zeros(2, 2) for m in ("a", "b")}
    with pytest.raises(ValueError, match=r"pmr needs a model with one encoder per modality "
                                         r"\(model.encoders keyed by the modalities \['a', 'b'\]\); "
                                         r"this model has encoders none"):
        PMR().loss_term(torch.nn.Linear(2, 2), _output(feats), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"pmr needs a model with one encoder per modality"):
        PMR().on_epoch_start(context(0, _NoEncoders(), data=_data([0, 1])))
    with pytest.raises(RuntimeError, match=r"pmr: no prototypes for the modalities \['a', 'b'\] "
                                           r"\(it has \[\]\); on_epoch_start must compute them "
                                           r"before the epoch's first training step"):
        PMR().loss_term(_Net(), _output(feats), torch.tensor([0, 1]))


def test_state_round_trip_and_a_foreign_state():
    a = PMR(fraction=1.0, momentum=0.5)
    a.on_epoch_start(context(0, _Net(), data=_data([0, 1, 2])))
    b = PMR(fraction=1.0, momentum=0.5)
    b.load_state_dict(a.state_dict())
    a.on_epoch_start(context(1, _Net(), data=_data([0, 1, 2], seed=1)))
    b.on_epoch_start(context(1, _Net(), data=_data([0, 1, 2], seed=1)))
    assert torch.equal(a.prototypes["a"], b.prototypes["a"]) and b.computed == 2
    with pytest.raises(KeyError, match=r"pmr.load_state_dict: expected keys \['computed', "
                                       r"'prototypes'\]; got \['steps'\]"):
        b.load_state_dict({"steps": 1})


def test_bss_lb_with_pmr_logs_its_statistics_and_resumes_exactly(tmp_path):
    cfg = tiny_config("bss-lb+pmr", epochs=2)
    cfg.method.options = {"pmr": {"alpha": 1.0, "momentum": 0.5}}
    train(cfg, tmp_path / "full", quiet=True)
    records = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    stats = [r["method"]["pmr"] for r in records]
    assert [s["modulated_steps"] for s in stats] == [12, 12]
    assert set(stats[0]["weight"]) == {"m0", "m1"}
    assert all(0 <= s <= 1 for s in stats[0]["boosted_share"].values())
    assert all(0 <= w <= 1.0 for w in stats[0]["weight"].values())
    with interrupted_at_step(18):  # the middle of epoch 1: its EMA needs epoch 0's prototypes
        train(cfg, tmp_path / "cut", quiet=True)
    train(cfg, tmp_path / "cut", resume=True, quiet=True)
    assert (tmp_path / "cut" / "metrics.jsonl").read_text() == \
        (tmp_path / "full" / "metrics.jsonl").read_text()


@pytest.mark.parametrize("name", ["pmr", "bss-cl+pmr"])
def test_pmr_composes_with_other_sampling_policies(tmp_path, name):
    train(tiny_config(name, epochs=1), tmp_path / "run", quiet=True)
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["method"]["pmr"]["modulated_steps"] > 0 for r in records)
