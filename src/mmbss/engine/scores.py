"""Per-sample balance scores on disk: the per-epoch export of a run (``scores/epoch_XXX.csv``) and
``mmbss score`` (the scores of a trained run's checkpoint)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import torch

from ..core.errors import InvalidValueError
from .rundir import write_error

__all__ = ["write_scores", "score_run"]


def write_scores(path: Path, labels: torch.Tensor, criteria: dict, d: torch.Tensor,
                 seen: torch.Tensor, corrupted: torch.Tensor | None = None) -> None:
    """Write one row per training sample: index, label, each raw criterion, d, seen[, corrupted].

    ``corrupted`` is added when the dataset knows which samples it corrupted (``mfeat-corrupt``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(criteria)
    header = ["index", "label", *names, "d", "seen"] + (["corrupted"] if corrupted is not None else [])
    cols = [torch.arange(len(d)).tolist(), labels.tolist(),
            *[criteria[k].double().tolist() for k in names], d.double().tolist(),
            seen.int().tolist()] + ([corrupted.int().tolist()] if corrupted is not None else [])
    if path.is_dir():
        raise IsADirectoryError(f"'{path}' is a folder; give a CSV file name.")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            for row in zip(*cols, strict=True):
                w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
        os.replace(tmp, path)
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        tmp.unlink(missing_ok=True)


def score_run(run_dir: str | Path, *, checkpoint: str = "best", out: str | Path | None = None,
              overwrite: bool = False) -> Path:
    """Score every training sample with a run's model (exact eval-mode pass) and write a CSV.

    Args:
        run_dir: a directory written by ``mmbss train``.
        checkpoint: "best", "last" or a path to a checkpoint file.
        out: CSV path (default ``<run_dir>/scores/<checkpoint>.csv``).
        overwrite: replace ``out`` if it exists (otherwise an existing file is an error).
    Returns:
        The CSV path (columns: index, label, criteria, d, seen[, corrupted]).
    """
    from ..methods import make_scorer
    from .build import build_run
    from .checkpoint import load_checkpoint
    from .config import load_config
    from .evaluation import exact_criteria

    run_dir = Path(run_dir)
    cfg_file = run_dir / "config.yaml"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"'{run_dir}' has no config.yaml; is it a run directory written "
                                f"by 'mmbss train'?")
    cfg = load_config(cfg_file)
    ckpt = Path(checkpoint) if checkpoint not in ("best", "last") else \
        run_dir / "checkpoints" / f"{checkpoint}.pt"
    if ckpt.is_dir():
        raise IsADirectoryError(f"--checkpoint '{ckpt}' is a folder, not a checkpoint file; give "
                                f"'best', 'last' or the path of a .pt file.")
    if not ckpt.is_file() and checkpoint in ("best", "last"):
        raise FileNotFoundError(f"checkpoint '{ckpt}' does not exist; train the run first.")
    if not ckpt.is_file():
        raise FileNotFoundError(f"--checkpoint must be 'best', 'last' or the path of a checkpoint "
                                f"file; got '{checkpoint}', which is no file.")
    path = Path(out) if out else run_dir / "scores" / f"{ckpt.stem}.csv"
    if path.is_file() and not overwrite:
        raise FileExistsError(f"'{path}' already exists; pass --overwrite to replace it or give "
                              f"another --out.")
    model_state = load_checkpoint(ckpt, kind=("best", "resume"))["model"]
    run = build_run(cfg)
    try:
        run.model.load_state_dict(model_state)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()]
        raise InvalidValueError(f"checkpoint '{ckpt}' does not fit the model of '{cfg_file}' (was it "
                                f"written by another run?): {lines[0] if lines else e}") from None
    scorer = make_scorer(cfg)  # also for methods that do not score while training
    criteria, labels = exact_criteria(run.model, run.loaders["train_eval"], scorer, run.device,
                                      cfg.method.gradient_mode)
    write_scores(path, labels, criteria, scorer.combine(criteria),
                 torch.ones(len(run.bundle.train), dtype=torch.bool),
                 run.bundle.info.get("corrupted"))
    return path
