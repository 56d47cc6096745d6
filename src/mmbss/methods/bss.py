"""BSS and its anti-curriculum control (SPEC §3–§6): bss-cl, bss-lb, anti."""

from __future__ import annotations

from ..core.errors import InvalidValueError
from ..core.schedulers import AntiCurriculumScheduler, CurriculumScheduler, LearningBasedScheduler
from ..core.scoring import BalanceScorer
from .base import METHODS, SamplingPolicy, scheduler_warmup

__all__ = ["make_scorer"]


def make_scorer(cfg) -> BalanceScorer:
    """The balance measurer of a config: ``method.correlation/information``, training loss weights."""
    m = cfg.method
    if m.gradient_mode == "exact" and m.information == "gradient" and m.scoring == "online":
        raise InvalidValueError("method: gradient_mode='exact' needs scoring='exact' (the per-sample "
                         "gradient is computed in the scoring pass); use gradient_mode='heads' "
                                "for online scoring.")
    return BalanceScorer(correlation=cfg.method.correlation, information=cfg.method.information,
                         loss_weights={"fused": cfg.train.fused_weight,
                                       "unimodal": cfg.train.unimodal_weight})


def _curriculum(cls, name: str):
    def build(cfg) -> SamplingPolicy:
        m = cfg.method

        def make(num_samples: int, seed: int, min_samples: int):
            return cls(num_samples=num_samples, seed=seed, pacing=m.pacing, lambda0=m.lambda0,
                       t_grow=m.t_grow, warmup_epochs=scheduler_warmup(m), warmup=m.warmup,
                       rescore_every=m.rescore_every, ema=m.ema, min_samples=min_samples)

        return SamplingPolicy(name, make, scorer=make_scorer(cfg), scoring=m.scoring,
                      fused_weight=cfg.train.fused_weight, unimodal_weight=cfg.train.unimodal_weight)

    build.__doc__ = f"{cls.__doc__.splitlines()[0]}"
    return build


METHODS.register("bss-cl")(_curriculum(CurriculumScheduler, "bss-cl"))
METHODS.register("anti")(_curriculum(AntiCurriculumScheduler, "anti"))


@METHODS.register("bss-lb")
def _bss_lb(cfg) -> SamplingPolicy:
    """BSS-LB: balance-weighted random order re-drawn every ``rescore_every`` epochs."""
    m = cfg.method
    every = 1 if m.rescore_every is None else m.rescore_every
    if m.warmup == "paced":
        raise InvalidValueError("method: warmup='paced' counts the warm-up epochs as pacing time, "
                                "but bss-lb has no pacing (it trains on every sample each epoch); "
                                "use warmup='full' or a curriculum (bss-cl, anti, random-pacing).")

    def make(num_samples: int, seed: int, min_samples: int) -> LearningBasedScheduler:
        return LearningBasedScheduler(num_samples=num_samples, seed=seed, eps=m.eps,
                                      rescore_every=every, warmup_epochs=scheduler_warmup(m), ema=m.ema,
                                      replacement=m.replacement, temperature=m.temperature)

    return SamplingPolicy("bss-lb", make, scorer=make_scorer(cfg), scoring=m.scoring,
                  fused_weight=cfg.train.fused_weight, unimodal_weight=cfg.train.unimodal_weight)
