"""Method presets: a registered sampling policy with some ``method.*`` values fixed.

BSS-LB exists in two forms (see the README, "BSS-LB as the paper writes it and as its code
runs"): the paper's equations and the reference code's. mmbss's ``bss-lb`` defaults are the
reference code's form; the presets name both forms so that neither needs remembering:

* ``bss-lb-paper``: weights ``exp(-d)`` (p = softmax of the balance), smoothing
  ``s <- (1 - beta) s + beta s_new`` with beta = 0.6 (mmbss ``ema = 1 - beta = 0.4``, since
  ``ema`` weights the previous score), batches drawn from p with replacement. The paper does not
  state its re-scoring period E nor whether it draws with replacement: the preset re-scores
  every epoch and draws with replacement (the literal reading of "batches drawn from p").
* ``bss-lb-ref``: the reference code (``train-SPL.py``): linear weights ``1 + eps + N(S) - N(L)``
  (eps 0.01), no smoothing, re-scored every epoch, a full permutation without replacement, i.e.
  ``bss-lb``'s defaults set explicitly.

A preset is registered in :data:`mmbss.methods.METHODS` under its name, so it is used and
composed like any sampling policy: ``method.name: bss-lb-paper`` or ``bss-lb-paper+ogm-ge``.
Its builder applies the preset's values to a copy of the config (the caller's config is not
changed) and calls the base policy's builder. A config value that the preset fixes may be left
at its default or set to the preset's value; any other value is refused (use the base name, e.g.
``bss-lb``, and set the values yourself). The saved ``config.yaml`` of a run records the preset's
name, from which the values follow; :func:`apply_preset` gives the equivalent explicit config.

Examples:
    >>> from mmbss.methods.presets import PRESETS, list_presets
    >>> PRESETS["bss-lb-paper"].values["ema"]
    0.4
    >>> list_presets()["bss-lb-ref"].split("  (")[0]
    'bss-lb + eps=0.01, temperature=null, ema=0.0, rescore_every=1, replacement=false'
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, NamedTuple

from ..core.errors import InvalidValueError
from .base import METHODS, SamplingPolicy

__all__ = ["Preset", "PRESETS", "list_presets", "apply_preset", "preset_settings"]


class Preset(NamedTuple):
    """One preset: the ``base`` sampling policy, the ``method.*`` ``values`` it fixes and a
    one-line ``description``."""

    base: str
    values: dict[str, Any]
    description: str


PRESETS: dict[str, Preset] = {
    "bss-lb-paper": Preset(
        "bss-lb",
        {"temperature": 1.0, "ema": 0.4, "rescore_every": 1, "replacement": True},
        "the paper's equations: p = softmax(-d), smoothing beta = 0.6 as ema = 1 - beta; E and "
        "replacement are not stated, read as every epoch and with replacement"),
    "bss-lb-ref": Preset(
        "bss-lb",
        {"eps": 0.01, "temperature": None, "ema": 0.0, "rescore_every": 1, "replacement": False},
        "the reference code, train-SPL.py: linear weights 1 + eps + N(S) - N(L), no smoothing, "
        "every epoch, a full permutation; = bss-lb's defaults"),
}
"""Preset name -> :class:`Preset` (base policy, fixed ``method.*`` values, description)."""


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def preset_settings(name: str) -> str:
    """``"bss-lb + temperature=1.0, ema=0.4, ..."``: the base policy and what preset ``name`` sets."""
    p = PRESETS[name]
    return f"{p.base} + " + ", ".join(f"{k}={_yaml(v)}" for k, v in p.values.items())


def list_presets() -> dict[str, str]:
    """Preset name -> ``"<base> + <field>=<value>, ...  (<description>)"``, sorted by name."""
    return {name: f"{preset_settings(name)}  ({PRESETS[name].description})"
            for name in sorted(PRESETS)}


def _default(method_cfg, key: str) -> Any:
    for f in dataclasses.fields(method_cfg):
        if f.name == key:
            if f.default is not dataclasses.MISSING:
                return f.default
            return f.default_factory()  # type: ignore[misc]
    raise KeyError(key)


def _resolved(cfg, name: str):
    """A copy of ``cfg`` with preset ``name``'s values set (conflicting user values refused)."""
    preset = PRESETS[name]
    m = cfg.method
    conflicts = [(k, v, getattr(m, k)) for k, v in preset.values.items()
                 if getattr(m, k) != v and getattr(m, k) != _default(m, k)]
    if conflicts:
        fix = "+".join(preset.base if p == name else p for p in str(m.name).split("+"))
        raise InvalidValueError(
            f"method: the preset {name!r} sets "
            + ", ".join(f"{k}={_yaml(v)}" for k, v, _ in conflicts)
            + ", but the config sets "
            + ", ".join(f"method.{k}={_yaml(u)}" for k, _, u in conflicts)
            + f". A preset fixes its values: to choose your own, use method.name={fix} and set "
            f"them yourself ({name} is {preset_settings(name)}).")
    out = copy.deepcopy(cfg)
    for k, v in preset.values.items():
        setattr(out.method, k, v)
    return out


def apply_preset(cfg):
    """The explicit config equivalent to ``cfg``: a copy whose ``method.name`` names the base
    policy instead of the preset (``bss-lb-paper+ogm-ge`` -> ``bss-lb+ogm-ge``) and whose
    ``method.*`` fields hold the preset's values. A config without a preset is copied unchanged;
    a value that conflicts with the preset is refused as by the preset itself."""
    parts = str(cfg.method.name).split("+")
    names = [p for p in parts if p in PRESETS]
    if not names:
        return copy.deepcopy(cfg)
    out = _resolved(cfg, names[0])
    out.method.name = "+".join(PRESETS[p].base if p in PRESETS else p for p in parts)
    return out


def _builder(name: str):
    preset = PRESETS[name]

    def build(cfg) -> SamplingPolicy:
        policy = METHODS.get(preset.base)(cfg=_resolved(cfg, name))
        policy.name = name
        return policy

    build.__doc__ = f"Preset {name}: {preset_settings(name)} ({preset.description})."
    return build


for _name in PRESETS:
    METHODS.register(_name)(_builder(_name))
del _name
