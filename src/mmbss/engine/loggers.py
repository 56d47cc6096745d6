"""Experiment trackers behind one option, ``train.loggers: [tensorboard, mlflow]``.

Each epoch, rank 0 sends every number of the epoch's ``metrics.jsonl`` record (losses, accuracy,
macro-F1, mAP, each modality's accuracy, the method's statistics, the subset size), its
``timings.jsonl`` record and, when the epoch was (re)scored, a histogram of the balance scores:

* ``tensorboard``: event files in ``<run>/tensorboard`` (``tensorboard --logdir <run>``); a
  resumed run purges the events after the epoch it resumes from, so curves never double back;
* ``mlflow``: a local file store in ``<run>/mlruns`` unless ``MLFLOW_TRACKING_URI`` names
  another store or server (MLflow 3 keeps the file store in maintenance mode and asks for
  ``MLFLOW_ALLOW_FILE_STORE=true``, which mmbss sets for this default; its SQLite store costs
  about 10 s of table creation per new file); experiment ``mmbss``, run name = the run
  folder's name; a resumed run continues the same MLflow run (its id is kept in
  ``<run>/mlflow_run_id``), a run that stops on an error is marked FAILED; the config is
  logged as params. An epoch is logged after its checkpoint is written, so a resumed run never
  logs one twice. Browse it with
  ``MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri <run>/mlruns``.

Scalar names are the record's keys joined by ``/``, e.g. ``val/acc``,
``val/modality_acc/audio``, ``timings/scoring``, ``method/...``.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from ..core.errors import InvalidValueError

__all__ = ["LOGGERS", "check_loggers", "open_loggers", "flatten"]

LOGGERS = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "mlflow")}
"""Logger name -> (the module it needs, the pip extra that installs it)."""


def check_loggers(names: object) -> list[str]:
    """Validate ``train.loggers``: a list of known names whose packages are installed.

    Raises:
        ValueError: not a list, an unknown name, a name twice, or a missing package (the
            message names the extra to install).
    """
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise InvalidValueError(f"train: 'loggers' must be a list of logger names (e.g. "
                                f"[tensorboard, mlflow]); got {names!r}.")
    for name in names:
        if name not in LOGGERS:
            raise InvalidValueError(f"train.loggers: unknown logger {name!r}; valid names: "
                                    f"{', '.join(LOGGERS)}.")
    if len(set(names)) != len(names):
        raise InvalidValueError(f"train.loggers: a logger is listed twice: {list(names)!r}.")
    for name in names:
        module, extra = LOGGERS[name]
        if importlib.util.find_spec(module) is None:
            raise InvalidValueError(f"train.loggers: {name!r} needs the package {module!r}, which is "
                                    f"not installed; install it with: pip install 'mmbss[{extra}]'.")
    return list(names)


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a nested record, keyed by their ``/``-joined path (bools and
    non-numbers are left out)."""
    out: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                out[name] = float(value)
    return out


class _TensorBoard:
    def __init__(self, out: Path, start: int):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=start or None)

    def log(self, epoch: int, scalars: dict[str, float], scores: torch.Tensor | None) -> None:
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, epoch)
        if scores is not None:
            self.writer.add_histogram("scores", scores, epoch)
        self.writer.flush()

    def close(self, failed: bool = False) -> None:
        self.writer.close()


class _MLflow:
    def __init__(self, out: Path, resume: bool, params: Mapping[str, Any]):
        import os

        import mlflow

        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:  # the local folder store: MLflow 3 keeps it (in maintenance mode) on request
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = (out.resolve() / "mlruns").as_uri()
        self.client = mlflow.tracking.MlflowClient(tracking_uri=uri)
        id_file = out / "mlflow_run_id"
        if resume and id_file.exists():
            self.run_id = id_file.read_text().strip()
        else:
            experiment = self.client.get_experiment_by_name("mmbss")
            experiment_id = (experiment.experiment_id if experiment is not None
                             else self.client.create_experiment("mmbss"))
            self.run_id = self.client.create_run(experiment_id, run_name=out.name).info.run_id
            id_file.write_text(self.run_id + "\n")
            for key, value in list(flatten_params(params).items())[:500]:
                self.client.log_param(self.run_id, key, value)

    def log(self, epoch: int, scalars: dict[str, float], scores: torch.Tensor | None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(name.replace("/", "."), value, now, epoch)
                   for name, value in scalars.items()]
        if scores is not None:
            q = torch.quantile(scores.float(), torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0]))
            metrics += [Metric(f"scores.q{int(p * 100):02d}", float(v), now, epoch)
                        for p, v in zip((0.0, 0.1, 0.5, 0.9, 1.0), q.tolist(), strict=True)]
        for i in range(0, len(metrics), 500):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 500])

    def close(self, failed: bool = False) -> None:
        self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as ``section.key -> str(value)`` pairs (MLflow params)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten_params(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = str(value)[:250]
    return out


class Loggers:
    """The run's open trackers; :meth:`log` sends one epoch to each of them."""

    def __init__(self, loggers: Iterable):
        self.loggers = list(loggers)

    def log(self, record: Mapping[str, Any], timings: Mapping[str, float],
            scores: torch.Tensor | None) -> None:
        """Send the epoch ``record`` (as in metrics.jsonl), its ``timings`` and the scores of
        a scored epoch (None otherwise)."""
        scalars = flatten({k: v for k, v in record.items() if k != "epoch"})
        scalars.update(flatten({k: v for k, v in timings.items() if k != "epoch"}, "timings/"))
        for logger in self.loggers:
            logger.log(int(record["epoch"]), scalars, scores)

    def close(self, failed: bool = False) -> None:
        """Flush and close every tracker (an MLflow run that raised is marked FAILED)."""
        for logger in self.loggers:
            logger.close(failed)


def open_loggers(names: list[str], out: Path, *, start: int, resume: bool,
                 config: Mapping[str, Any]) -> Loggers:
    """Open the trackers ``names`` for the run in ``out`` that starts at epoch ``start``
    (``resume``: it continues a run, perhaps inside epoch 0); ``config`` is the run's config as
    a dict (logged as MLflow params)."""
    made = []
    for name in check_loggers(names):
        made.append(_TensorBoard(out, start) if name == "tensorboard" else
                    _MLflow(out, resume, config))
    return Loggers(made)
