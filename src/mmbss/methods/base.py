"""What a method is: its loss, its scheduler and how it scores samples (DESIGN: methods layer).

Adding a method is one module that registers a builder: ``@METHODS.register("name")`` on a
function ``(cfg: Config) -> Method``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core.registry import Registry
from ..core.scoring import BalanceScorer

__all__ = ["Method", "METHODS", "create_method", "check_method_options", "list_methods",
           "weighted_loss"]

METHODS = Registry("method")


def weighted_loss(out, labels: torch.Tensor, fused_weight: float, unimodal_weight: float) -> torch.Tensor:
    """Per-sample training loss ``w_f * CE(z_f) + w_u * sum_m CE(z_m)``, Tensor[B]."""
    loss = fused_weight * F.cross_entropy(out.fused, labels, reduction="none")
    if unimodal_weight:
        for z in out.unimodal.values():
            loss = loss + unimodal_weight * F.cross_entropy(z, labels, reduction="none")
    return loss


@dataclass
class Method:
    """A training method as the trainer sees it.

    Attributes:
        name: registered name.
        make_scheduler: ``(num_samples, seed, min_samples) -> scheduler`` (see mmbss.schedulers).
        scorer: the balance measurer, or None for methods that never score.
        scoring: "exact" (eval-mode pass over the training set) or "online" (from training steps).
        fused_weight, unimodal_weight: loss weights of the fused and of each unimodal head.
        probe_heads: train the unimodal heads on detached features (they then measure each
            encoder without changing it); used by ``joint``.
        predict: None (use ``train.predict``) or a forced prediction rule.
    """

    name: str
    make_scheduler: Callable
    scorer: BalanceScorer | None = None
    scoring: str = "exact"
    fused_weight: float = 1.0
    unimodal_weight: float = 1.0
    probe_heads: bool = False
    predict: str | None = None

    def loss(self, model, out, labels: torch.Tensor) -> torch.Tensor:
        """Per-sample loss, Tensor[B]; ``out`` is the model's ``ModelOutput``."""
        loss = weighted_loss(out, labels, self.fused_weight, 0.0 if self.probe_heads else self.unimodal_weight)
        if self.probe_heads:
            for name, feat in out.features.items():
                probe = model.heads[name](feat.detach())
                loss = loss + F.cross_entropy(probe, labels, reduction="none")
        return loss


def create_method(cfg) -> Method:
    """Build the method named ``cfg.method.name`` from a full :class:`mmbss.engine.Config`.

    Every ``method.*`` option is validated first, also those the chosen method ignores: a value
    out of range is a mistake whichever method reads it.
    """
    from . import baselines, bss  # noqa: F401  (registers the built-in methods)

    check_method_options(cfg.method)
    return METHODS.create(cfg.method.name, cfg=cfg)


def check_method_options(m) -> None:
    """Validate every field of a :class:`mmbss.engine.config.MethodConfig` (message per key)."""
    from ..core._validation import check_bool, check_choice, check_float, check_int
    from ..core.pacing import list_pacings
    from ..core.scoring import CORRELATIONS, INFORMATIONS

    check_choice("method", "correlation", m.correlation, CORRELATIONS)
    check_choice("method", "information", m.information, INFORMATIONS)
    check_choice("method", "scoring", m.scoring, ("exact", "online"))
    check_choice("method", "gradient_mode", m.gradient_mode, ("heads", "exact"))
    check_choice("method", "pacing", m.pacing, list_pacings())
    check_float("method", "lambda0", m.lambda0, low=0.0, high=1.0, low_open=True)
    check_int("method", "t_grow", m.t_grow, low=1)
    check_int("method", "warmup_epochs", m.warmup_epochs, low=0)
    check_int("method", "rescore_every", m.rescore_every, low=1, allow_none=True)
    check_float("method", "eps", m.eps, low=0.0, high=1.0, low_open=True)
    check_float("method", "ema", m.ema, low=0.0, high=1.0, high_open=True)
    check_bool("method", "replacement", m.replacement)
    check_float("method", "temperature", m.temperature, low=0.0, low_open=True, allow_none=True)


def list_methods() -> list[str]:
    """Names of the registered methods."""
    from . import baselines, bss  # noqa: F401

    return METHODS.names()
