"""The core of mmbss: scorer, pacing, schedulers, samplers, online tracker (torch + numpy only).

Nothing here imports from the layers above (data, models, methods, engine, cli); a test parses
every import to keep it so. The public names are re-exported from :mod:`mmbss`, and the modules
keep their short paths (``mmbss.scoring`` is ``mmbss.core.scoring``).
"""

from . import errors, pacing, scoring
from .errors import InvalidTypeError, InvalidValueError, MmbssError, UnknownNameError
from .passes import score_criteria, score_dataset
from .permutation import weighted_draws, weighted_permutation
from .samplers import BalanceSampler, shard
from .schedulers import (
    AntiCurriculumScheduler,
    CurriculumScheduler,
    LearningBasedScheduler,
    RandomPacingScheduler,
    UniformScheduler,
)
from .scoring import BalanceScorer, minmax
from .tracking import OnlineScoreTracker

__all__ = [
    "BalanceScorer", "minmax", "pacing", "scoring",
    "weighted_permutation", "weighted_draws",
    "CurriculumScheduler", "LearningBasedScheduler", "AntiCurriculumScheduler",
    "RandomPacingScheduler", "UniformScheduler",
    "BalanceSampler", "shard", "OnlineScoreTracker", "score_dataset", "score_criteria",
    "MmbssError", "InvalidValueError", "InvalidTypeError", "UnknownNameError", "errors",
]
