"""Run and comparison directories: creating them safely, and every file written into them.

Guard rails: a folder is deleted only when mmbss stamped it (``.mmbss-run`` /
``.mmbss-comparison``) and the user asked for ``--overwrite``; a path built from a config value
(a method label) must stay inside its parent; OS errors say what is wrong with the path.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from pathlib import Path

from ..core.errors import InvalidValueError, MmbssError

__all__ = ["RunExistsError", "clear_output_dir", "is_stamped", "make_dir", "child_dir", "append_jsonl",
           "read_jsonl", "truncate_jsonl", "write_text_atomic", "write_error"]

log = logging.getLogger(__name__)


class RunExistsError(MmbssError, FileExistsError):
    """The output directory already holds a run or comparison (use overwrite or resume)."""


def make_dir(path: Path) -> Path:
    """``mkdir -p`` with an error that says why a folder cannot be made (a parent that is a
    file, no permission, a read-only file system)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path
    except FileExistsError:
        raise NotADirectoryError(f"'{path}' is a file, not a folder; choose another --out.") from None
    except NotADirectoryError:
        parent = next((p for p in path.parents if p.exists()), None)
        raise NotADirectoryError(f"cannot create '{path}': '{parent}' is a file, not a folder; "
                                 f"choose another --out.") from None
    except PermissionError:
        parent = next((p for p in path.parents if p.exists()), path.parent)
        raise PermissionError(f"cannot create '{path}': no permission to write in '{parent}'; "
                              f"choose a folder you can write to.") from None
    except OSError as e:
        raise OSError(e.errno, f"cannot create '{path}': {e.strerror}") from None


def clear_output_dir(out: Path, *, kind: str, overwrite: bool) -> None:
    """Make sure ``out`` can take a new ``kind`` ("run" or "comparison"), create it and stamp it.

    An empty or missing folder is fine. A folder that mmbss stamped as a ``kind`` (the file
    ``.mmbss-<kind>``, written here) is deleted only with ``overwrite``. Anything else is never
    deleted, and a symbolic link is never followed into a deletion.
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
        if out.is_symlink():
            raise RunExistsError(f"'{out}' is a symbolic link; mmbss does not delete through "
                                 f"links. Remove the link or choose another --out.")
        shutil.rmtree(out)
    make_dir(out)
    stamp.write_text(f"made by mmbss as a {kind}; 'mmbss ... --overwrite' may delete this folder\n")


def is_stamped(out: Path, kind: str) -> bool:
    """True when ``out`` is a folder that mmbss made as a ``kind``."""
    return (out / f".mmbss-{kind}").is_file()


def child_dir(root: Path, *parts: str) -> Path:
    """``root / parts...``, refused when it resolves outside ``root`` (``..``, absolute parts, or
    a symbolic link planted inside ``root`` that points elsewhere)."""
    path = root.joinpath(*parts)
    base = root.resolve()
    if not path.resolve().is_relative_to(base):
        raise InvalidValueError(f"'{path}' resolves to '{path.resolve()}', outside '{root}'; mmbss only "
                         f"writes inside the output folder. Remove the link or rename the entry.")
    return path


def write_error(path: Path, e: OSError) -> OSError:
    """An ``OSError`` that says which file could not be written, why, and what to do."""
    why = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
           errno.EACCES: "no permission to write there", errno.EROFS: "the file system is read-only"}
    reason = why.get(e.errno, e.strerror or str(e))
    return OSError(e.errno, f"could not write '{path}': {reason}; the files written before are "
                            f"intact. Free space or fix the folder, then run again with --resume")


def append_jsonl(path: Path, record: dict) -> None:
    """Append one JSON line (the per-epoch logs); a torn line is dropped on resume."""
    try:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
    except OSError as e:
        raise write_error(path, e) from None


def read_jsonl(path: Path) -> list[dict]:
    """All records of a JSON-lines file (blank lines skipped)."""
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def truncate_jsonl(path: Path, start: int) -> None:
    """Drop lines of epochs >= start (written after the last checkpoint of a killed run)."""
    if not path.exists():
        return
    kept = []
    for ln in path.read_text().splitlines():
        try:
            if json.loads(ln)["epoch"] < start:
                kept.append(ln + "\n")
        except (ValueError, KeyError, TypeError):  # a line torn by the kill: a lost epoch's
            log.warning("dropping an unreadable line of %s: %.60s", path, ln)
    write_text_atomic(path, "".join(kept))


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        tmp.unlink(missing_ok=True)
