"""VGGSound (Chen et al. 2020): about 200k 10-s YouTube clips of 309 sound classes; audio +
1 video frame.

``mmbss prepare vggsound --src VGGSound --out CACHE`` reads the official annotation of
hche11/VGGSound (or of the Hugging Face mirror ``Loie/VGGSound``) and the clips' mp4 files, and
decodes each mp4 directly (no ffmpeg step):

* annotation: ``data/train.csv`` and ``data/test.csv`` of hche11/VGGSound
  (``<ytid>_<start:06d>.mp4,<label>``, no header; 183,730 / 15,446 rows) when both are there
  (in ``--split-dir``, ``VGGSound/data/`` or ``VGGSound/``), else ``vggsound.csv``
  (``youtube_id,start_seconds,label,train|test``, no header; in ``--split-dir`` or
  ``VGGSound/``), read with the csv module: a label holding commas may be quoted or not;
* classes: the sorted labels found in the annotation (309 in the official files), stored in
  the cache (``cache.json`` and ``manifest.json``, ``classes``);
* clip ``<ytid>_<start:06d>.mp4``, found by its file name at any depth below ``VGGSound/video/``
  (or below ``VGGSound/`` when there is no ``video`` folder): the layout inside the mirror's
  tarballs is not documented, so unpack them anywhere there. A file named with the unpadded
  start (``<ytid>_<start>.mp4``, as OGM-GE's scripts name them) is found too;
* audio: the mp4's audio track resampled to ``sample_rate`` (35,400 Hz, BSS
  ``VGGSoundDataset.py``), tiled to ``seconds`` (20 s, BSS), clipped to [-1, 1], STFT ``n_fft``
  512 / ``hop`` 353 (BSS), ``log(|S| + 1e-7)``: float16 ``[257, 2006]``. A clip without an
  audio stream, or silent, is skipped;
* video: ``frames`` (1, BSS ``use_pre_frame``) frame(s) picked evenly over the clip, resized to
  ``frame_size`` (384, BSS): uint8 ``[1, 384, 384, 3]``.

The dataset ``vggsound`` (options ``root``, ``seed``, ``val_fraction`` 0.1) serves ``audio``
``[1, 257, 2006]`` and ``visual`` ``[1, 3, 384, 384]`` (train: RandomResizedCrop + horizontal
flip; eval: as stored; ImageNet normalisation): train = the official train split minus a seeded
stratified validation split (VGGSound ships none), val = that split, test = the official test
split.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from ...core.errors import InvalidValueError
from ..bundle import DATASETS
from .decode import check_audio_video, inside
from .kinetics_sounds import audio_frames, carved_bundle, decode_clip
from .prepare import PREPARERS, Field, Item, Listing, Preparer

__all__ = ["read_vggsound_csv", "read_split_csv", "vggsound"]

NAME = "vggsound"

LAYOUT = """VGGSound/                      (hche11/VGGSound annotation + the clips, e.g. the HF mirror Loie/VGGSound)
├── vggsound.csv                   youtube_id,start_seconds,label,train|test   (no header)
├── data/train.csv, data/test.csv  optional, used when present: <ytid>_<start:06d>.mp4,<label>
└── video/**/<ytid>_<start:06d>.mp4   the clips at any depth (vggsound_*.tar.gz unpacked here)
    (split files may also be in --split-dir)"""

DEFAULTS = {"sample_rate": 35400, "seconds": 20.0, "n_fft": 512, "hop": 353, "frames": 1,
            "frame_size": 384}


def _rows(path: Path):
    text = path.read_bytes().decode("utf-8-sig")
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if row and "".join(row).strip() and not row[0].lstrip().startswith("#"):
            yield n, row


def read_vggsound_csv(path: Path) -> list[tuple[int, str, int, str, str]]:
    """``(line, youtube_id, start, label, split)`` rows of ``vggsound.csv``
    (``youtube_id,start_seconds,label,train|test``; a label with unquoted commas is joined
    back; ``#`` lines ignored).

    Raises:
        ValueError: a row of fewer than 4 fields, a start that is not whole seconds, an empty
            label, or a split other than train/test.
    """
    rows = []
    for n, row in _rows(path):
        if len(row) < 4:
            raise InvalidValueError(f"{path}:{n}: a vggsound.csv row must be "
                                    f"'youtube_id,start_seconds,label,train|test'; got {row!r}.")
        ytid, start, split = row[0].strip(), row[1].strip(), row[-1].strip()
        label = ",".join(row[2:-1]).strip()
        try:
            second = float(start)
            if not second.is_integer() or second < 0:
                raise ValueError
        except ValueError:
            raise InvalidValueError(f"{path}:{n}: the start second {start!r} of {ytid!r} is not "
                                    f"a whole number of seconds.") from None
        if split not in ("train", "test"):
            raise InvalidValueError(f"{path}:{n}: the split field (the last) must be 'train' or "
                                    f"'test'; got {split!r}.")
        if not label or not ytid:
            raise InvalidValueError(f"{path}:{n}: the row has an empty youtube id or label: "
                                    f"{row!r}.")
        rows.append((n, ytid, int(second), label, split))
    return rows


def read_split_csv(path: Path) -> list[tuple[int, str, str]]:
    """``(line, file name, label)`` rows of the official ``data/train.csv`` / ``test.csv``
    (``<ytid>_<start:06d>.mp4,<label>``; a label with unquoted commas is joined back).

    Raises:
        ValueError: a row without a file name and a label.
    """
    rows = []
    for n, row in _rows(path):
        name, label = row[0].strip(), ",".join(row[1:]).strip()
        if not name or not label:
            raise InvalidValueError(f"{path}:{n}: an official VGGSound split row must be "
                                    f"'<youtube_id>_<start:06d>.mp4,<label>'; got {row!r}.")
        rows.append((n, name, label))
    return rows


def _find(folders: list[Path], name: str) -> Path | None:
    return next((f / name for f in folders if (f / name).is_file()), None)


def _annotation(src: Path, split_dir: Path | None):
    """[(split, key, file names to try, label)] and a note on what was read."""
    extra = [split_dir] if split_dir is not None else []
    train, test = (_find(extra + [src / "data", src], f"{s}.csv") for s in ("train", "test"))
    if train is not None and test is not None:
        out = []
        for split, path in (("train", train), ("test", test)):
            for _, name, label in read_split_csv(path):
                key = name[:-4] if name.endswith(".mp4") else name
                out.append((split, key, [f"{key}.mp4"], label))
        return out, f"the official split files {train} and {test}"
    path = _find(extra + [src], "vggsound.csv")
    if path is None:
        where = ", ".join(repr(str(f)) for f in extra + [src])
        raise InvalidValueError(
            f"mmbss prepare {NAME}: none of {where} has vggsound.csv (nor train.csv and test.csv "
            f"in {', '.join(repr(str(f)) for f in extra + [src / 'data', src])}); take "
            f"vggsound.csv from hche11/VGGSound (or the Hugging Face mirror Loie/VGGSound) into "
            f"'{src}' or a --split-dir. Expected layout:\n{LAYOUT}")
    out = [(split, f"{ytid}_{start:06d}", [f"{ytid}_{start:06d}.mp4", f"{ytid}_{start}.mp4"],
            label) for _, ytid, start, label, split in read_vggsound_csv(path)]
    return out, str(path)


def _scan(src: Path, split_dir: Path | None, params: dict) -> Listing:
    check_audio_video("mmbss prepare vggsound", params)
    rows, read = _annotation(src, split_dir)
    top = src / "video" if (src / "video").is_dir() else src
    index: dict[str, str] = {}
    repeated = 0
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for f in sorted(filenames):
            if f.endswith(".mp4"):
                if f in index:
                    repeated += 1
                index.setdefault(f, os.path.relpath(os.path.join(dirpath, f), src))
    if not index:
        raise InvalidValueError(f"mmbss prepare {NAME}: found no .mp4 file below '{top}'; unpack "
                                f"the VGGSound clips there. Expected layout:\n{LAYOUT}")
    classes = sorted({label for *_, label in rows})
    label_of = {c: i for i, c in enumerate(classes)}
    base = os.path.relpath(top, src)
    splits: dict[str, list[Item]] = {"train": [], "test": []}
    keys: dict[str, set] = {"train": set(), "test": set()}
    dups = 0
    for split, key, names, label in rows:
        if key in keys[split]:
            dups += 1
            continue
        keys[split].add(key)
        rel = next((index[n] for n in names if n in index), None)
        if rel is None:
            rel = os.path.join(base, names[0]) if base != "." else names[0]
        splits[split].append(Item(key, label_of[label], {"root": str(src), "file": rel}))
    notes = [f"annotation: {read}",
             f"classes: {len(classes)} labels found in the annotation, sorted",
             f"clips: {len(index)} mp4 files found below {top}"
             + (f" ({repeated} names found twice: the first is used)" if repeated else "")]
    for split in ("train", "test"):
        have = {it.label for it in splits[split]}
        missing = [c for i, c in enumerate(classes) if i not in have]
        notes.append(f"{split}: {len(splits[split])} clips"
                     + (f"; no clip of {', '.join(map(repr, missing))}" if missing else ""))
    if dups:
        notes.append(f"{dups} repeated rows left out")
    both = keys["train"] & keys["test"]
    if both:
        notes.append(f"{len(both)} clips are listed in both train and test")
    return Listing(splits, classes, notes)


def _fields(params: dict) -> dict[str, Field]:
    size = params["frame_size"]
    return {"audio": Field((params["n_fft"] // 2 + 1, audio_frames(params)), "float16"),
            "visual": Field((params["frames"], size, size, 3), "uint8")}


def _decode(item: Item, params: dict, notes: list) -> dict[str, np.ndarray]:
    return decode_clip(inside(Path(item.sources["root"]), item.sources["file"]), params, notes)


PREPARERS.register(NAME)(Preparer(NAME, 1, DEFAULTS, _scan, _fields, _decode, LAYOUT))


@DATASETS.register(NAME)
def vggsound(root: str | None = None, seed: int = 0, val_fraction: float = 0.1):
    """VGGSound from a cache written by ``mmbss prepare vggsound`` (see the module docstring):
    train / val carved from the official train split / test = the official test split."""
    return carved_bundle(NAME, root, seed, val_fraction)
