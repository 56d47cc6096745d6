"""mmbss: Balance-aware Sequence Sampling (BSS) for multi-modal learning.

The core (this namespace, implemented in :mod:`mmbss.core`) depends on torch and numpy only: a
balance scorer, pacing functions, schedulers that turn scores into a sample order, a DataLoader
sampler and a scoring pass. Datasets, models, methods, the trainer and the CLI live in subpackages
that are imported only when used.
"""

import sys as _sys

from . import core as _core
from .core import *  # noqa: F403  (the public core names: mmbss.core.__all__)
from .core import (
    _rng,
    _validation,
    errors,
    pacing,
    passes,
    permutation,
    registry,
    samplers,
    schedulers,
    scoring,
    tracking,
)

# the core modules keep their short public paths: mmbss.scoring is mmbss.core.scoring (one object)
for _m in (scoring, pacing, schedulers, samplers, permutation, tracking, passes, registry, errors,
           _validation, _rng):
    _sys.modules[f"{__name__}.{_m.__name__.rsplit('.', 1)[1]}"] = _m
del _m

__version__ = "0.1.0"

__all__ = list(_core.__all__)
