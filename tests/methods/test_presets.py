"""Method presets: bss-lb-paper (the paper's equations) and bss-lb-ref (the reference code)."""

import copy
import dataclasses
import json
import re

import pytest
import torch
import yaml

from mmbss.cli.main import main
from mmbss.core.errors import InvalidValueError
from mmbss.engine import train
from mmbss.engine.config import MethodConfig, config_to_dict
from mmbss.methods import METHODS, create_method, list_methods
from mmbss.methods.presets import PRESETS, apply_preset, list_presets, preset_settings

from ..conftest import tiny_config


def _scheduler(cfg, n=180):
    return create_method(cfg).make_scheduler(num_samples=n, seed=0, min_samples=16)


def test_presets_are_registered_methods_of_known_fields():
    assert {"bss-lb-paper", "bss-lb-ref"} <= set(PRESETS)
    fields = {f.name for f in dataclasses.fields(MethodConfig)}
    for name, preset in PRESETS.items():
        assert name in METHODS and name in list_methods()
        assert preset.base in METHODS and preset.base not in PRESETS
        assert set(preset.values) <= fields, name


def test_paper_preset_scheduler_has_the_paper_values():
    s = _scheduler(tiny_config("bss-lb-paper"))
    assert (s.temperature, s.ema, s.rescore_every, s.replacement) == (1.0, 0.4, 1, True)
    s.update(torch.tensor([0.0, 1.0, 2.0] * 60))
    w = s.weights()  # exp(-(d - min d)): softmax(-d) up to normalisation
    assert torch.allclose(w[:3], torch.exp(-torch.tensor([0.0, 1.0, 2.0], dtype=w.dtype)))
    s.update(torch.ones(180))  # ema weights the previous score: 0.4 * old + 0.6 * new
    assert torch.allclose(s.weights()[:3], torch.exp(-torch.tensor([0.0, 0.4, 0.8], dtype=w.dtype)))
    assert len(s.indices(0)) == 180


def test_ref_preset_is_bss_lb_defaults():
    ref, default = _scheduler(tiny_config("bss-lb-ref")), _scheduler(tiny_config("bss-lb"))
    for attr in ("eps", "temperature", "ema", "rescore_every", "replacement"):
        assert getattr(ref, attr) == getattr(default, attr), attr
    assert (ref.eps, ref.temperature, ref.ema, ref.rescore_every, ref.replacement) == \
        (0.01, None, 0.0, 1, False)
    scores = torch.rand(180) * 2
    ref.update(scores)
    default.update(scores)
    assert torch.equal(ref.indices(0), default.indices(0))


def test_preset_leaves_the_users_config_unchanged():
    cfg = tiny_config("bss-lb-paper")
    before = copy.deepcopy(config_to_dict(cfg))
    method = create_method(cfg)
    method.make_scheduler(num_samples=180, seed=0, min_samples=16)
    assert config_to_dict(cfg) == before
    assert cfg.method.ema == 0.0 and cfg.method.temperature is None
    assert method.name == "bss-lb-paper" and method.sampling.name == "bss-lb-paper"


def test_preset_composes_with_a_gradient_policy():
    method = create_method(tiny_config("bss-lb-paper+ogm-ge"))
    assert method.name == "bss-lb-paper+ogm-ge"
    assert [g.name for g in method.gradients] == ["ogm-ge"]
    s = method.make_scheduler(num_samples=180, seed=0, min_samples=16)
    assert (s.temperature, s.ema, s.replacement) == (1.0, 0.4, True)


def test_a_value_equal_to_the_preset_or_the_default_is_accepted():
    s = _scheduler(tiny_config("bss-lb-paper", ema=0.4, replacement=True, rescore_every=1,
                               warmup_epochs=1, eps=0.05))
    assert (s.ema, s.replacement, s.warmup_epochs, s.eps) == (0.4, True, 1, 0.05)


def test_a_value_conflicting_with_the_preset_is_refused():
    msg = ("method: the preset 'bss-lb-paper' sets ema=0.4, but the config sets method.ema=0.3. "
           "A preset fixes its values: to choose your own, use method.name=bss-lb and set them "
           "yourself (bss-lb-paper is bss-lb + temperature=1.0, ema=0.4, rescore_every=1, "
           "replacement=true).")
    with pytest.raises(InvalidValueError, match=re.escape(msg)):
        create_method(tiny_config("bss-lb-paper", ema=0.3))


def test_conflicts_are_all_named_and_the_fix_keeps_the_gradient_policy():
    msg = ("method: the preset 'bss-lb-ref' sets temperature=null, rescore_every=1, but the config "
           "sets method.temperature=2.0, method.rescore_every=3. A preset fixes its values: to "
           "choose your own, use method.name=bss-lb+ogm-ge and set them yourself")
    with pytest.raises(InvalidValueError, match=re.escape(msg)):
        create_method(tiny_config("bss-lb-ref+ogm-ge", temperature=2.0, rescore_every=3))


def test_apply_preset_gives_the_equivalent_explicit_config():
    cfg = tiny_config("bss-lb-paper+ogm-ge")
    explicit = apply_preset(cfg)
    assert explicit.method.name == "bss-lb+ogm-ge" and cfg.method.name == "bss-lb-paper+ogm-ge"
    assert (explicit.method.temperature, explicit.method.ema) == (1.0, 0.4)
    a, b = _scheduler(cfg), _scheduler(explicit)
    for attr in ("eps", "temperature", "ema", "rescore_every", "replacement"):
        assert getattr(a, attr) == getattr(b, attr), attr
    plain = tiny_config("bss-cl")
    assert config_to_dict(apply_preset(plain)) == config_to_dict(plain)


def test_a_near_miss_name_suggests_the_preset():
    with pytest.raises(InvalidValueError, match=r"valid names: anti, bss-cl, bss-lb, bss-lb-paper, "
                       r"bss-lb-ref, .*Did you mean 'bss-lb-paper'\?"):
        create_method(tiny_config("bss-lb-papr"))


def test_list_shows_every_preset_and_what_it_sets(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "methods: anti, bss-cl, bss-lb, joint, random-pacing, uniaux" in out
    assert ("  bss-lb-paper = bss-lb + temperature=1.0, ema=0.4, rescore_every=1, "
            "replacement=true  (the paper's equations") in out
    assert ("  bss-lb-ref = bss-lb + eps=0.01, temperature=null, ema=0.0, rescore_every=1, "
            "replacement=false  (the reference code") in out
    assert set(list_presets()) == set(PRESETS)
    for name in PRESETS:
        assert f"  {name} = {preset_settings(name)}" in out


def test_preset_trains_end_to_end(tmp_path):
    s = train(tiny_config("bss-lb-paper", epochs=2), tmp_path / "run", quiet=True)
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["train"]["loss"] == r["train"]["loss"] for r in records)
    assert 0 <= s["test"]["acc"] <= 1
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["method"]["name"] == "bss-lb-paper"
