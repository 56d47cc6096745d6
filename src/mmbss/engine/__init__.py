"""Engine: trainer, evaluation, checkpoints, comparison (imported only when used)."""

from .checkpoint import RunExistsError
from .config import Config, ConfigError, load_config
from .trainer import TrainingDiverged, train

__all__ = ["Config", "ConfigError", "load_config", "train", "TrainingDiverged", "RunExistsError"]
