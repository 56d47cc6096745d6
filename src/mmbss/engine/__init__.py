"""Engine: trainer, evaluation, checkpoints, comparison (imported only when used)."""

from .checkpoint import CheckpointError
from .config import Config, ConfigError, load_config
from .rundir import RunExistsError
from .trainer import TrainingDiverged, train

__all__ = ["Config", "ConfigError", "load_config", "train", "TrainingDiverged", "RunExistsError",
           "CheckpointError"]
