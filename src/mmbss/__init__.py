"""mmbss: Balance-aware Sequence Sampling (BSS) for multi-modal learning.

The core (this namespace) depends on torch and numpy only: a balance scorer, pacing functions,
schedulers that turn scores into a sample order, and a DataLoader sampler. Trainer, datasets,
models and the CLI live in subpackages that are imported only when used.
"""

from . import pacing, scoring
from .permutation import weighted_draws, weighted_permutation
from .samplers import BalanceSampler
from .schedulers import (
    AntiCurriculumScheduler,
    CurriculumScheduler,
    LearningBasedScheduler,
    RandomPacingScheduler,
    UniformScheduler,
)
from .scoring import BalanceScorer, minmax
from .tracking import OnlineScoreTracker

__version__ = "0.1.0"

__all__ = [
    "BalanceScorer", "minmax", "pacing", "scoring",
    "weighted_permutation", "weighted_draws",
    "CurriculumScheduler", "LearningBasedScheduler", "AntiCurriculumScheduler",
    "RandomPacingScheduler", "UniformScheduler",
    "BalanceSampler", "OnlineScoreTracker",
]
