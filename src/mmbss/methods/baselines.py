"""Baselines and controls without balance scores (SPEC §6): joint, uniaux, random-pacing."""

from __future__ import annotations

from ..core.schedulers import RandomPacingScheduler, UniformScheduler
from .base import METHODS, SamplingPolicy

__all__: list[str] = []


def _uniform(num_samples: int, seed: int, min_samples: int) -> UniformScheduler:
    return UniformScheduler(num_samples=num_samples, seed=seed)


@METHODS.register("joint")
def _joint(cfg) -> SamplingPolicy:
    """Fused loss only, uniform shuffling. The unimodal heads are trained as probes on detached
    features, so per-modality accuracy still measures each encoder; prediction uses the fused head."""
    return SamplingPolicy("joint", _uniform, scorer=None, fused_weight=cfg.train.fused_weight,
                  unimodal_weight=0.0, probe_heads=True, predict="fused")


@METHODS.register("uniaux")
def _uniaux(cfg) -> SamplingPolicy:
    """The reference loss (fused + unimodal heads), uniform shuffling: the base BSS builds on."""
    return SamplingPolicy("uniaux", _uniform, scorer=None, fused_weight=cfg.train.fused_weight,
                  unimodal_weight=cfg.train.unimodal_weight)


@METHODS.register("random-pacing")
def _random_pacing(cfg) -> SamplingPolicy:
    """BSS-CL's subset sizes over a fixed random order (separates pacing from ordering)."""
    m = cfg.method

    def make(num_samples: int, seed: int, min_samples: int) -> RandomPacingScheduler:
        return RandomPacingScheduler(num_samples=num_samples, seed=seed, pacing=m.pacing,
                                     lambda0=m.lambda0, t_grow=m.t_grow,
                                     warmup_epochs=m.warmup_epochs, warmup=m.warmup,
                                     min_samples=min_samples)

    return SamplingPolicy("random-pacing", make, scorer=None, fused_weight=cfg.train.fused_weight,
                  unimodal_weight=cfg.train.unimodal_weight)
