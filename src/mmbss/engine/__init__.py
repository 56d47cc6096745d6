"""Engine: trainer, evaluation, checkpoints, comparison (imported only when used)."""

from .config import Config, ConfigError, load_config
from .trainer import RunExistsError, TrainingDiverged, train

__all__ = ["Config", "ConfigError", "load_config", "train", "TrainingDiverged", "RunExistsError"]
