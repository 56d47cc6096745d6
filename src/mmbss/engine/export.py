"""Per-epoch per-sample score export (``scores/epoch_XXX.csv``) for inspection and plots."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import torch

from .rundir import write_error

__all__ = ["write_scores"]


def write_scores(path: Path, bundle, criteria: dict, d: torch.Tensor, seen: torch.Tensor) -> None:
    """Write one row per training sample: index, label, each raw criterion, d, seen[, corrupted].

    ``corrupted`` is added when the dataset knows which samples it corrupted (``mfeat-corrupt``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(criteria)
    corrupted = bundle.info.get("corrupted")
    header = ["index", "label", *names, "d", "seen"] + (["corrupted"] if corrupted is not None else [])
    cols = [torch.arange(len(d)).tolist(), bundle.train.labels.tolist(),
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
