"""Checkpoints you can trust: safe to load, checksummed, written atomically, kept two deep.

Every checkpoint file is ``torch.save`` of one plain dict::

    {"format": "mmbss-checkpoint", "version": 3, "kind": "resume" | "best",
     "sha256": <digest of the payload>, "payload": {...}}

and is read back with ``torch.load(weights_only=True)`` only, so a file can hold tensors, numbers,
strings and plain containers but no code: a planted pickle payload is refused, never run. The
digest covers every tensor's dtype, shape and bytes and every other value of the payload, so a
torn, truncated or edited file is detected on load.

Resume checkpoints rotate: ``checkpoints/last.pt`` is the newest, ``checkpoints/previous.pt`` the
one before. :func:`load_resume` falls back to the older one, and says so, when the newer cannot be
read or holds non-finite weights.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import warnings
from pathlib import Path

import torch

from ..core.errors import InvalidTypeError, InvalidValueError
from .rundir import write_error as _write_error

__all__ = ["save_atomic", "save_checkpoint", "load_checkpoint", "save_resume", "load_resume",
           "remove_temporaries", "payload_digest", "finite_weights", "CheckpointError",
           "RESUME_KEYS", "BEST_KEYS"]

log = logging.getLogger(__name__)

FORMAT, VERSION = "mmbss-checkpoint", 3
RESUME_KEYS = frozenset({"model", "optimizer", "lr_schedule", "scheduler", "sampler", "tracker",
                         "method", "epoch", "step", "best", "config", "rng", "within", "scaler"})
BEST_KEYS = frozenset({"model", "epoch", "config"})
_REQUIRED = {"resume": RESUME_KEYS, "best": BEST_KEYS}
LAST, PREVIOUS = "last.pt", "previous.pt"


class CheckpointError(InvalidValueError):
    """A checkpoint file cannot be used; the message names the file and the reason."""


def save_atomic(obj, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``.

    A crash at any point leaves either the old file or the new one, never a torn file. A failed
    write (full disk, no permission) raises ``OSError`` naming ``path``; the old file is intact.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _write_error(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(path, e) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def payload_digest(obj) -> str:
    """SHA-256 over the content of a payload: tensors by dtype, shape and bytes; numbers, strings
    and containers by type and value (the serialisation format does not enter it)."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h, obj) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}|".encode())
        for k, v in obj.items():
            _feed(h, k)
            _feed(h, v)
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__[0]}{len(obj)}|".encode())
        for v in obj:
            _feed(h, v)
    elif type(obj) is float:  # exact types: numpy scalars would not load with weights_only
        h.update(f"f{obj.hex()}|".encode())
    elif obj is None or type(obj) in (bool, int, str):
        h.update(f"{type(obj).__name__}{obj!r}|".encode())
    else:
        raise InvalidTypeError(f"checkpoint payloads hold tensors, numbers, strings and plain containers "
                               f"only; got {type(obj).__name__}.")


def finite_weights(model_state: dict) -> bool:
    """True when every floating-point tensor of a model ``state_dict`` is finite."""
    return all(bool(torch.isfinite(v).all()) for v in model_state.values()
               if isinstance(v, torch.Tensor) and v.is_floating_point())


def save_checkpoint(payload: dict, path: str | Path, *, kind: str) -> None:
    """Write ``payload`` (keys per ``kind``: "resume" or "best") with its digest, atomically."""
    missing, extra = _key_diff(payload, _REQUIRED[kind])
    if missing or extra:
        raise RuntimeError(f"{kind} checkpoint payload has missing keys {missing}, unexpected "
                           f"{extra}; this is a bug, please report it.")
    save_atomic({"format": FORMAT, "version": VERSION, "kind": kind,
                 "sha256": payload_digest(payload), "payload": payload}, path)


def load_checkpoint(path: str | Path, *, kind: str | tuple[str, ...] = "resume") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` and return its payload.

    Only ``torch.load(weights_only=True)``: no code in the file ever runs. ``kind`` is the kind
    expected ("resume", "best") or a tuple of acceptable kinds.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is not an mmbss checkpoint of this ``kind``, holds anything but
            tensors, numbers and plain containers, fails its checksum, or lacks keys.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{path}' does not exist.")
    try:
        f = open(path, "rb")  # noqa: SIM115  (closed below)
    except OSError as e:
        raise CheckpointError(f"checkpoint '{path}' cannot be read: {e.strerror or e}.") from None
    try:
        with f, warnings.catch_warnings():  # torch warns about pickle protocols of foreign files
            warnings.simplefilter("ignore")
            state = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "GLOBAL" in str(e):
            raise CheckpointError(
                f"checkpoint '{path}' holds Python objects other than tensors, numbers and plain "
                f"containers (it may carry code); mmbss never runs code from a checkpoint and "
                f"refuses it. Use checkpoints written by mmbss.") from None
        raise CheckpointError(f"checkpoint '{path}' is not a checkpoint (not a file written by "
                              f"torch.save).") from None
    except Exception as e:  # a torn zip, an empty file
        first = str(e).splitlines()[0] if str(e) else "the file ends early"
        raise CheckpointError(f"checkpoint '{path}' is torn or not a checkpoint "
                              f"({type(e).__name__}: {first}).") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint '{path}' was not written by mmbss (no "
                              f"'format: {FORMAT}' header).")
    if state.get("version") != VERSION:
        raise CheckpointError(f"checkpoint '{path}' has format version {state.get('version')!r}; "
                              f"this mmbss reads version {VERSION}. Start a new run.")
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    if state.get("kind") not in kinds:
        raise CheckpointError(f"checkpoint '{path}' is a {state.get('kind')!r} checkpoint, not a "
                              f"{' or '.join(map(repr, kinds))} one.")
    kind = state["kind"]
    payload = state.get("payload")
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint '{path}' has no payload.")
    try:
        digest = payload_digest(payload)
    except TypeError as e:
        raise CheckpointError(f"checkpoint '{path}': {e}") from None
    if digest != state.get("sha256"):
        raise CheckpointError(f"checkpoint '{path}' fails its checksum (the file was changed or "
                              f"damaged after it was written).")
    missing, extra = _key_diff(payload, _REQUIRED[kind])
    if missing or extra:
        raise CheckpointError(f"checkpoint '{path}' is not an mmbss {kind} checkpoint: missing "
                              f"keys {missing}, unexpected {extra}.")
    return payload


def _key_diff(d: dict, required: frozenset) -> tuple[list, list]:
    return sorted(required - set(d)), sorted(set(d) - required)


def save_resume(payload: dict, folder: str | Path) -> None:
    """Write a resume checkpoint as ``folder/last.pt``, keeping the one it replaces as
    ``previous.pt``. Refuses (RuntimeError) a payload whose model weights are not finite.

    Crash safety: the new file is complete on disk before the old ``last.pt`` is renamed to
    ``previous.pt``; a crash between the two renames leaves ``previous.pt`` only, which
    :func:`load_resume` reads.
    """
    folder = Path(folder)
    if not finite_weights(payload["model"]):
        raise RuntimeError("refusing to save a resume checkpoint with non-finite weights; this "
                           "is a bug (the trainer checks first), please report it.")
    tmp = folder / ".next.pt"
    save_checkpoint(payload, tmp, kind="resume")
    try:
        if (folder / LAST).is_file():
            os.replace(folder / LAST, folder / PREVIOUS)
        os.replace(tmp, folder / LAST)
    except OSError as e:
        raise _write_error(folder / LAST, e) from None


def load_resume(folder: str | Path) -> tuple[dict, Path]:
    """The newest good resume checkpoint in ``folder``: ``last.pt``, else ``previous.pt``.

    A newer file that cannot be read (or holds non-finite weights) is renamed to
    ``<name>.unreadable`` (kept for inspection, never rotated into ``previous.pt``) and a warning
    names it and the reason.

    Returns:
        (payload, path of the file it came from).
    Raises:
        FileNotFoundError: neither file exists. CheckpointError: none is usable (each reason given).
    """
    folder = Path(folder)
    candidates = [folder / n for n in (LAST, PREVIOUS) if (folder / n).is_file()]
    if not candidates:
        raise FileNotFoundError(f"'{folder}' holds no resume checkpoint ({LAST} or {PREVIOUS}).")
    reasons = []
    for i, path in enumerate(candidates):
        try:
            payload = load_checkpoint(path, kind="resume")
            if not finite_weights(payload["model"]):
                raise CheckpointError(f"checkpoint '{path}' holds non-finite weights.")
        except CheckpointError as e:
            reasons.append(str(e))
            continue
        for bad, reason in zip(candidates[:i], reasons, strict=True):
            os.replace(bad, bad.with_name(bad.name + ".unreadable"))
            log.warning("%s; resuming from the older '%s' (epoch %s) instead; the unreadable file "
                        "is kept as '%s.unreadable'.", reason.rstrip("."), path, payload["epoch"],
                        bad)
        return payload, path
    raise CheckpointError("no usable resume checkpoint: " + " ".join(reasons)
                          + " Start the run again with --overwrite.")


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files a killed write leaves in ``folder`` (``.*.tmp``, ``.next.pt``)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    gone = [p for p in [*folder.glob(".*.tmp"), folder / ".next.pt"] if p.is_file()]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone
