"""``mmbss prepare``: turn a dataset as downloaded into a cache the loaders read fast.

A dataset's *preparer* lists the items of each split (:class:`Item`: key, label, the raw files
to read) and decodes one item into fixed-shape arrays (:class:`Field`). This module does the
rest, the same for every dataset:

* **Cache layout** (``OUT/``): ``cache.json`` (format, dataset, parameters, classes, fields,
  split sizes); per split ``<split>/<field>.npy`` (one ``[N, *shape]`` array per field, read by
  memory map), ``labels.npy``, ``keys.json`` and ``status.npy`` (0 = to do, 1 = prepared,
  2 = skipped); ``<split>/log.jsonl`` (one line per skipped item or note, with the reason);
  ``manifest.json`` (counts per split and class, every skipped item and why, every note).
* **Resumable**: an item's status becomes 1 only after its arrays are flushed to disk (every
  32 items or 5 s), so an interrupted run (Ctrl-C, kill -9, a full disk) loses at most that
  much work, which the same command decodes again; it also retries the items skipped before
  (their files may have been fixed). Parameters or split files that differ from the cache's
  are refused.
* **Workers**: ``workers`` processes decode; the parent writes the arrays.
* **Nothing dropped silently**: a listed item that is missing or broken on disk is recorded
  with its reason; the summary gives the count, and the command fails when more than
  ``max_skipped`` (a count, or a percentage such as ``"1%"``) were skipped.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import InvalidValueError, MmbssError
from ...core.registry import Registry
from .decode import Skip

__all__ = ["Field", "Item", "Listing", "Preparer", "PREPARERS", "prepare", "CACHE_FORMAT",
           "parse_max_skipped", "list_preparers"]

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
"""Version of the cache layout; a cache of another format is refused by the loaders."""

PREPARERS = Registry("prepared dataset")
"""Registry of :class:`Preparer` objects, under the dataset names of the loaders."""

_FLUSH_ITEMS, _FLUSH_SECONDS = 32, 5.0


@dataclass(frozen=True)
class Field:
    """One array per item: ``shape`` (without the item axis) and numpy ``dtype`` (e.g.
    ``"uint8"``, ``"float16"``, ``"S2048"`` for UTF-8 text of up to 2048 bytes)."""
    shape: tuple[int, ...]
    dtype: str


@dataclass
class Item:
    """One sample to prepare: its ``key`` (unique in its split), class ``label`` and the raw
    files (or other JSON-able facts) its decoder reads."""
    key: str
    label: int
    sources: dict[str, Any] = field(default_factory=dict)


@dataclass
class Listing:
    """What a preparer's ``scan`` found: ``splits`` (name -> items, in the order the split
    files list them), ``classes`` (name of each label), ``notes`` (facts for the manifest,
    e.g. which split files were read) and ``params``: parameters the scan resolved (e.g. an
    ``"auto"`` choice made from the files present), recorded in the cache in place of the
    given value, so that a resume that would resolve them otherwise is refused."""
    splits: dict[str, list[Item]]
    classes: list[str]
    notes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Preparer:
    """How one dataset is prepared.

    Attributes:
        name: the dataset name (also the loader's).
        version: bump when the decoded arrays change; caches of another version are refused.
        defaults: the preprocessing parameters and their reference values.
        scan: ``scan(src, split_dir, params) -> Listing``; raises a clear error when ``src``
            does not have the expected layout.
        fields: ``fields(params) -> {name: Field}``.
        decode: ``decode(item, params, notes) -> {field: array}``, a module-level function (it
            runs in worker processes); raises :class:`Skip` for a broken item and may append
            notes (e.g. frames padded) to ``notes``.
        layout: the expected raw layout, shown when ``src`` is wrong.
    """
    name: str
    version: int
    defaults: Mapping[str, Any]
    scan: Callable[[Path, Path | None, dict], Listing]
    fields: Callable[[dict], dict[str, Field]]
    decode: Callable[[Item, dict, list], dict[str, np.ndarray]]
    layout: str


def list_preparers() -> list[str]:
    """Names of the datasets ``mmbss prepare`` knows."""
    return PREPARERS.names()


def parse_max_skipped(value: str | int | float) -> tuple[str, float]:
    """``"1%"`` -> ``("percent", 1.0)``; ``"5"`` or ``5`` -> ``("count", 5.0)``."""
    text = str(value).strip()
    try:
        if text.endswith("%"):
            pct = float(text[:-1])
            if 0 <= pct <= 100:
                return "percent", pct
        else:
            count = int(text)
            if count >= 0:
                return "count", float(count)
    except ValueError:
        pass
    raise InvalidValueError(f"mmbss prepare: '--max-skipped' must be a count (e.g. 10) or a "
                            f"percentage (e.g. 1%); got {value!r}.")


def _params(preparer: Preparer, options: Mapping[str, Any]) -> dict:
    unknown = sorted(set(options) - set(preparer.defaults))
    if unknown:
        raise InvalidValueError(f"mmbss prepare {preparer.name}: no parameter {unknown[0]!r}; its "
                                f"parameters (--param NAME=VALUE): "
                                f"{', '.join(f'{k}={v}' for k, v in preparer.defaults.items())}.")
    params = dict(preparer.defaults)
    for key, value in options.items():
        default = params[key]
        if isinstance(value, str) and not isinstance(default, str):
            import yaml

            try:
                value = yaml.safe_load(value) if value.strip() else value
            except yaml.YAMLError:
                pass  # not a number or a boolean: refused below with the expected type
        ok = (isinstance(value, type(default)) or (isinstance(default, float)
              and isinstance(value, int))) and not (isinstance(value, bool)
                                                    and not isinstance(default, bool))
        if not ok:
            raise InvalidValueError(f"mmbss prepare {preparer.name}: parameter {key!r} must be a "
                                    f"{type(default).__name__} like its default {default!r}; got "
                                    f"{value!r}.")
        params[key] = type(default)(value)
    return params


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


def _header(preparer: Preparer, params: dict, listing: Listing, fields: dict[str, Field],
            src: Path) -> dict:
    import hashlib

    from ... import __version__

    digest = {s: hashlib.sha256(json.dumps([[it.key, it.label] for it in items]).encode())
              .hexdigest() for s, items in listing.splits.items()}
    return {"format": CACHE_FORMAT, "dataset": preparer.name, "preparer_version": preparer.version,
            "mmbss": __version__, "params": params, "classes": listing.classes,
            "fields": {k: {"shape": list(f.shape), "dtype": f.dtype} for k, f in fields.items()},
            "splits": {s: len(items) for s, items in listing.splits.items()},
            "listing": digest, "source": str(src), "complete": False}


def _same_cache(old: dict, new: dict) -> list[str]:
    keys = ("format", "dataset", "preparer_version", "params", "classes", "fields", "splits",
            "listing")  # listing: the (key, label) of every item, in order
    return [k for k in keys if old.get(k) != new.get(k)]


def _init_split(root: Path, items: list[Item], fields: dict[str, Field]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    n = len(items)
    if not (root / "status.npy").exists():  # status.npy is written last: the split is ready
        for name, f in fields.items():
            np.lib.format.open_memmap(root / f"{name}.npy", mode="w+", dtype=np.dtype(f.dtype),
                                      shape=(n, *f.shape)).flush()
        np.save(root / "labels.npy", np.asarray([it.label for it in items], dtype=np.int64))
        _write_json(root / "keys.json", [it.key for it in items])
        (root / "log.jsonl").write_text("")
        np.save(root / "status.npy", np.zeros(n, dtype=np.uint8))  # last: marks the split ready


def read_log(split_root: Path) -> dict[int, dict]:
    """The last log record of each item (a line cut by a crash is ignored)."""
    records: dict[int, dict] = {}
    path = split_root / "log.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            records[int(rec["i"])] = rec
    return records


def _open_log(path: Path):
    """The log, opened for appending; a last line cut by a crash is ended first, so that the
    next record starts on a line of its own."""
    cut = False
    with open(path, "rb") as f:
        if f.seek(0, os.SEEK_END) > 0:
            f.seek(-1, os.SEEK_END)
            cut = f.read(1) != b"\n"
    handle = open(path, "a")  # noqa: SIM115 - closed by prepare()
    if cut:
        handle.write("\n")
    return handle


def _run(tasks: list, workers: int, take: Callable) -> None:
    """Decode ``tasks`` and hand each result to ``take``: in this process (``workers`` 0) or
    in ``workers`` processes with at most two items each in flight.

    A worker that dies (a decoder crash, the out-of-memory killer) breaks the pool; the items
    that were in flight are then decoded again one at a time in a fresh pool, and the one that
    kills its process again is recorded as skipped. An error in ``take`` or a Ctrl-C stops the
    pool at once (queued items are cancelled; running ones are abandoned).
    """
    if workers == 0:
        for task in tasks:
            take(_work(task))
        return
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    queue, suspects = iter(tasks), []
    pool = ProcessPoolExecutor(workers, mp_context=context)
    try:
        while True:
            if suspects:  # after a crash: one at a time, to find the item that kills a process
                task = suspects.pop()
                try:
                    take(pool.submit(_work, task).result())
                except BrokenProcessPool:
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = ProcessPoolExecutor(workers, mp_context=context)
                    take((task[1], task[2], None, "the decoding process died on this item (a "
                          "crash of the decoder library, or out of memory)", []))
                continue
            inflight = {}
            for task in queue:
                inflight[pool.submit(_work, task)] = task
                if len(inflight) >= 2 * workers:
                    break
            if not inflight:
                return
            while inflight:
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                broken = False
                for future in done:
                    task = inflight.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        suspects.append(task)
                        broken = True
                        continue
                    take(result)
                    if not broken:
                        nxt = next(queue, None)
                        if nxt is not None:
                            inflight[pool.submit(_work, nxt)] = nxt
                if broken:
                    suspects.extend(inflight.values())
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = ProcessPoolExecutor(workers, mp_context=context)
                    break
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _work(task):
    """Worker: decode one item -> (split, position, arrays or None, reason, notes)."""
    decode, split, pos, item, params = task
    notes: list[str] = []
    try:
        values = decode(item, params, notes)
    except Skip as why:
        return split, pos, None, str(why), notes
    except MmbssError:  # a missing decoder package or a bad parameter: stops prepare, says why
        raise
    except Exception as err:  # noqa: BLE001 - a decoder bug must not lose the finished items
        return split, pos, None, f"unexpected {type(err).__name__} while decoding: {err}", notes
    return split, pos, values, None, notes


def _check_values(preparer: Preparer, fields: dict[str, Field], values: Mapping[str, Any]) -> None:
    for name, f in fields.items():
        arr = np.asarray(values[name])
        if arr.shape != f.shape:
            raise RuntimeError(f"{preparer.name} decoder bug: field {name!r} has shape "
                               f"{arr.shape}, the cache expects {f.shape}")


def prepare(name: str, src: str | os.PathLike, out: str | os.PathLike, *, workers: int = 0,
            split_dir: str | os.PathLike | None = None, max_skipped: str | int = "1%",
            params: Mapping[str, Any] | None = None, progress: bool = True) -> dict:
    """Prepare dataset ``name`` from its raw files in ``src`` into the cache ``out``.

    Args:
        name: a name from :func:`list_preparers`, e.g. ``"cremad"``.
        src: the dataset's folder, as downloaded and unpacked.
        out: the cache folder (created; an unfinished cache there is continued).
        workers: decoding processes (0: decode in this process).
        split_dir: a folder holding the split files, when they are not in ``src``.
        max_skipped: fail (after writing everything) when more items than this were skipped:
            a count or a percentage of the listed items such as ``"1%"``.
        params: preprocessing parameters that replace the reference defaults (recorded in the
            cache; a cache made with other parameters is refused).
        progress: show a progress bar.

    Returns:
        The manifest (also written to ``out/manifest.json``).

    Raises:
        ValueError: unknown dataset or parameter, ``src`` without the expected layout (the
            message shows it), an existing cache of other parameters, or more skipped items
            than ``max_skipped`` (raised after the cache and manifest are written).
    """
    preparer = PREPARERS.get(name)
    limit = parse_max_skipped(max_skipped)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise InvalidValueError(f"mmbss prepare: '--workers' must be an int >= 0; got {workers!r}.")
    params = _params(preparer, dict(params or {}))
    src, out = Path(src).expanduser(), Path(out).expanduser()
    if not src.is_dir():
        raise InvalidValueError(f"mmbss prepare {name}: the source folder '{src}' does not exist; "
                                f"--src must be the dataset as unpacked:\n{preparer.layout}")
    split_dir = Path(split_dir).expanduser() if split_dir is not None else None
    if split_dir is not None and not split_dir.is_dir():
        raise InvalidValueError(f"mmbss prepare {name}: the --split-dir folder '{split_dir}' "
                                f"does not exist.")
    started = time.perf_counter()
    listing = preparer.scan(src, split_dir, params)
    params = {**params, **listing.params}
    fields = preparer.fields(params)
    header = _header(preparer, params, listing, fields, src)
    out.mkdir(parents=True, exist_ok=True)
    old_path = out / "cache.json"
    if old_path.exists():
        old = json.loads(old_path.read_text())
        differ = _same_cache(old, header)
        if differ:
            raise InvalidValueError(
                f"mmbss prepare {name}: '{out}' holds a cache prepared with other settings "
                f"({', '.join(differ)} differ: {', '.join(f'{k}={old.get(k)!r}' for k in differ[:2])}"
                f"); delete that folder or choose another --out to prepare it again.")
    elif any(out.iterdir()):
        raise InvalidValueError(f"mmbss prepare {name}: '{out}' is not empty and holds no mmbss "
                                f"cache; choose an empty or new --out folder.")
    _write_json(old_path, header)  # first: an interrupted start is continued, not refused
    for split, items in listing.splits.items():
        _init_split(out / split, items, fields)

    status = {s: np.load(out / s / "status.npy", mmap_mode="r+") for s in listing.splits}
    # what is not prepared yet, and what was skipped before (its files may have been fixed)
    tasks = [(preparer.decode, s, int(p), listing.splits[s][p], params)
             for s in listing.splits for p in np.flatnonzero(status[s] != 1)]
    total = sum(len(v) for v in listing.splits.values())
    done_before = total - len(tasks)
    arrays = {s: {k: np.load(out / s / f"{k}.npy", mmap_mode="r+") for k in fields}
              for s in listing.splits}
    logs = {s: _open_log(out / s / "log.jsonl") for s in listing.splits}
    pending: list[tuple[str, int, int]] = []
    last_flush = time.monotonic()
    decoded = 0

    def flush() -> None:
        nonlocal last_flush
        for s in arrays:
            for arr in arrays[s].values():
                arr.flush()
            logs[s].flush()
            os.fsync(logs[s].fileno())
        for s, pos, code in pending:
            status[s][pos] = code
        for st in status.values():
            st.flush()
        pending.clear()
        last_flush = time.monotonic()

    def take(result) -> None:
        nonlocal decoded
        split, pos, values, reason, notes = result
        key = listing.splits[split][pos].key
        for note in notes:
            logs[split].write(json.dumps({"i": pos, "key": key, "note": note}) + "\n")
        if values is None:
            logs[split].write(json.dumps({"i": pos, "key": key, "skipped": reason}) + "\n")
            pending.append((split, pos, 2))
        else:
            _check_values(preparer, fields, values)
            for k in fields:
                arrays[split][k][pos] = values[k]
            pending.append((split, pos, 1))
        decoded += 1
        bar.update(1)
        if len(pending) >= _FLUSH_ITEMS or time.monotonic() - last_flush > _FLUSH_SECONDS:
            flush()

    from tqdm import tqdm

    bar = tqdm(total=total, initial=done_before, desc=f"prepare {name}", unit="item",
               disable=not progress, dynamic_ncols=True)
    try:
        _run(tasks, workers, take)
    except KeyboardInterrupt:
        log.warning("mmbss prepare %s: interrupted after %d of %d items; run the same command "
                    "again to continue.", name, done_before + decoded, total)
        raise
    finally:
        flush()
        for f in logs.values():
            f.close()
        bar.close()
    elapsed = time.perf_counter() - started
    manifest = _manifest(out, header, listing, elapsed, decoded)
    header["complete"] = True
    _write_json(old_path, header)
    _write_json(out / "manifest.json", manifest)
    skipped, listed = manifest["skipped"], manifest["listed"]
    summary = (f"mmbss prepare {name}: {manifest['prepared']} of {listed} items prepared, "
               f"{skipped} skipped ({100.0 * skipped / max(listed, 1):.2f} %), "
               f"{manifest['notes']} noted; {decoded} decoded in {elapsed:.1f} s "
               f"({decoded / max(elapsed, 1e-9):.1f} items/s); manifest: {out / 'manifest.json'}")
    log.warning(summary)
    kind, bound = limit
    over = skipped > (bound if kind == "count" else bound / 100.0 * listed)
    if over:
        raise InvalidValueError(f"mmbss prepare {name}: {skipped} of {listed} listed items were "
                                f"skipped, more than --max-skipped {max_skipped}; the reasons are "
                                f"in '{out / 'manifest.json'}' (the cache is complete and usable; "
                                f"fix the files and run again, or raise --max-skipped).")
    return manifest


def _manifest(out: Path, header: dict, listing: Listing, elapsed: float, decoded: int) -> dict:
    classes = listing.classes
    splits, skipped_items, notes = {}, [], []
    for s, items in listing.splits.items():
        st = np.load(out / s / "status.npy")
        labels = np.load(out / s / "labels.npy")
        ok = st == 1
        per_class = np.bincount(labels[ok], minlength=len(classes))
        splits[s] = {"listed": len(items), "prepared": int(ok.sum()),
                     "skipped": int((st == 2).sum()),
                     "per_class": {c: int(n) for c, n in zip(classes, per_class, strict=True)}}
        records = read_log(out / s)
        for pos in np.flatnonzero(st == 2):  # from the status: a lost log line still counts
            rec = records.get(int(pos), {})
            skipped_items.append({"split": s, "key": items[pos].key, "reason": rec.get(
                "skipped", "the reason was lost (its log line was cut by a crash); run the "
                           "command again to retry the item")})
        for line in (out / s / "log.jsonl").read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "note" in rec and st[rec["i"]] == 1:
                notes.append({"split": s, "key": rec["key"], "note": rec["note"]})
    unique_notes = list({(n["split"], n["key"], n["note"]): n for n in notes}.values())
    return {"dataset": header["dataset"], "mmbss": header["mmbss"], "format": header["format"],
            "params": header["params"], "classes": classes, "source": header["source"],
            "listed": sum(v["listed"] for v in splits.values()),
            "prepared": sum(v["prepared"] for v in splits.values()),
            "skipped": len(skipped_items), "notes": len(unique_notes), "splits": splits,
            "scan_notes": listing.notes, "skipped_items": skipped_items,
            "noted_items": unique_notes,
            "last_run": {"seconds": round(elapsed, 3), "decoded": decoded,
                         "items_per_s": round(decoded / max(elapsed, 1e-9), 2)}}
