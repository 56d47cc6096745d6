"""Checkpoints written atomically, and the run directory's guard rails."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

__all__ = ["save_atomic", "load_checkpoint", "clear_output_dir", "RESUME_KEYS", "RunExistsError"]


class RunExistsError(FileExistsError):
    """The output directory already holds a run or comparison (use overwrite or resume)."""

RESUME_KEYS = frozenset({"model", "optimizer", "lr_schedule", "scheduler", "sampler", "tracker",
                         "epoch", "step", "best", "config", "rng", "version"})


def save_atomic(obj, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``.

    A crash at any point leaves either the old file or the new one, never a torn file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, *, require: frozenset = RESUME_KEYS) -> dict:
    """Load a checkpoint and check it has exactly the keys ``require`` (missing or extra: error)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{path}' does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a torn or foreign file
        raise ValueError(f"checkpoint '{path}' could not be read ({type(e).__name__}: {e}).") from None
    if not isinstance(state, dict) or set(state) != set(require):
        keys = set(state) if isinstance(state, dict) else set()
        raise ValueError(f"checkpoint '{path}' is not an mmbss resume checkpoint: missing keys "
                         f"{sorted(require - keys)}, unexpected {sorted(keys - require)}.")
    return state


def clear_output_dir(out: Path, *, kind: str, overwrite: bool) -> None:
    """Make sure ``out`` can take a new ``kind`` ("run" or "comparison"), create it and stamp it.

    An empty or missing folder is fine. A folder that mmbss stamped as a ``kind`` (the file
    ``.mmbss-<kind>``, written here) is deleted only with ``overwrite``. Anything else is never
    deleted.
    """
    stamp = out / f".mmbss-{kind}"
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"'{out}' is a file, not a folder; choose another --out.")
    if out.exists() and any(out.iterdir()):
        if not stamp.is_file():
            raise RunExistsError(f"'{out}' is not empty and was not made by mmbss as a {kind}; "
                                 f"mmbss will not delete it. Choose another --out.")
        if not overwrite:
            raise RunExistsError(f"'{out}' already holds a {kind}; pass --overwrite to replace it "
                                 f"or --resume to continue it.")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    stamp.write_text(f"made by mmbss as a {kind}; 'mmbss ... --overwrite' may delete this folder\n")
