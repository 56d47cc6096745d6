"""Kinetics-Sounds (KS, Arandjelović & Zisserman 2017): the sounding classes of Kinetics-400;
audio + 3 video frames.

There is no KS download: it is a class subset of Kinetics-400, and no class list is canonical
(34 names in L3-Net, 31 in OGM-GE/BSS without their names, 32 or 30 elsewhere).
``mmbss prepare kinetics-sounds --src k400 --out CACHE`` reads Kinetics-400 as the CVDF scripts
(``cvdfoundation/kinetics-dataset``: ``k400_downloader.sh``, ``k400_extractor.sh``) unpack it,
keeps the rows of the chosen classes and decodes each clip's mp4 directly (no ffmpeg step):

* classes: ``classes`` = ``adamml-31`` (default: :data:`ADAMML_CLASSES`, the 31 names the AdaMML
  authors gave for "31-class Kinetics-Sounds", IBM/AdaMML issue #3; the usual reading of the 31
  classes of OGM-GE and BSS, whose own names are unpublished), or the path of a text file with
  one Kinetics class name per line (``#`` comments and blank lines ignored, ``_`` read as a
  space; a relative path is looked up in the working directory, then in ``--split-dir``, then
  in ``k400/annotations/``, then in ``k400/``). Label ``i`` is the ``i``-th name of the list;
* splits: the Kinetics annotation files ``train.csv`` and ``val.csv`` (header
  ``label,youtube_id,time_start,time_end,split,is_cc``) from ``--split-dir``,
  ``k400/annotations/`` or ``k400/``; rows of other classes are not part of KS and are left
  out (counted in the manifest's scan notes). ``val.csv`` becomes the cache's ``test`` split
  (Kinetics' test labels were withheld for years, so KS papers test on its val split); the
  loader carves the validation split out of ``train.csv``. ``test.csv`` is not read;
* clip ``<split>/<youtube_id>_<start:06d>_<end:06d>.mp4`` (found at any depth below
  ``train/`` or ``val/``, by that name or else by its 11-character YouTube id, as CVDF's
  ``arrange_by_classes.py`` matches them); a copy in ``replacement/`` (CVDF's
  ``replacement_for_corrupted_k400``) is used instead of the corrupt original;
* audio: the mp4's audio track resampled to ``sample_rate`` (35,400 Hz, BSS ``KS.py``), tiled
  to ``seconds`` (10 s, BSS), clipped to [-1, 1], STFT ``n_fft`` 512 / ``hop`` 353 (BSS),
  ``log(|S| + 1e-7)``: float16 ``[257, 1003]``. A clip without an audio stream is skipped;
* video: ``frames`` (3, BSS ``use_pre_frame``) frames picked evenly over the clip, resized to
  ``frame_size`` (224, BSS): uint8 ``[3, 224, 224, 3]``.

The dataset ``kinetics-sounds`` (options ``root``, ``seed``, ``val_fraction`` 0.1) serves
``audio`` ``[1, 257, 1003]`` and ``visual`` ``[3, 3, 224, 224]`` (train: RandomResizedCrop +
horizontal flip drawn for each frame, as the reference transforms each frame; eval: as stored;
ImageNet normalisation): train = ``train.csv`` minus a seeded stratified validation split,
val = that split, test = ``val.csv``.
"""

from __future__ import annotations

import csv
import io
import os
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ...core._validation import check_int
from ...core.errors import InvalidValueError
from ..bundle import DATASETS
from ..splits import carve
from . import transforms as T
from .cache import cached_bundle, open_cache
from .decode import (
    check_audio_video,
    inside,
    log_spectrogram,
    read_audio,
    read_frames,
    spectrogram_frames,
    tile_to,
)
from .prepare import PREPARERS, Field, Item, Listing, Preparer

__all__ = ["ADAMML_CLASSES", "read_class_list", "read_kinetics_csv", "kinetics_sounds",
           "frame_transforms"]

NAME = "kinetics-sounds"

ADAMML_CLASSES = [
    "blowing nose", "blowing out candles", "bowling", "chopping wood", "dribbling basketball",
    "laughing", "mowing lawn", "playing accordion", "playing bagpipes", "playing bass guitar",
    "playing clarinet", "playing drums", "playing guitar", "playing harmonica",
    "playing keyboard", "playing organ", "playing piano", "playing saxophone",
    "playing trombone", "playing trumpet", "playing violin", "playing xylophone",
    "ripping paper", "shoveling snow", "shuffling cards", "singing", "stomping grapes",
    "tap dancing", "tapping guitar", "tapping pen", "tickling"]
"""The 31 Kinetics-400 classes of "31-class Kinetics-Sounds" as the AdaMML authors listed them
(IBM/AdaMML issue #3), the default class list (``--param classes=adamml-31``). OGM-GE and BSS
use 31 classes but never published which; this list is the usual reading, not their list."""

BUILTIN = {"adamml-31": ADAMML_CLASSES}

LAYOUT = """k400/                          (cvdfoundation/kinetics-dataset: k400_downloader.sh, k400_extractor.sh)
├── train/<youtube_id>_<start:06d>_<end:06d>.mp4   e.g. --4-0ihtnBU_000058_000068.mp4 (any depth)
├── val/<youtube_id>_<start:06d>_<end:06d>.mp4
├── replacement/replacement_for_corrupted_k400/*.mp4   (optional; replaces corrupt originals)
└── annotations/train.csv, val.csv   label,youtube_id,time_start,time_end,split,is_cc
                                     (or k400/train.csv, val.csv, or --split-dir)"""

DEFAULTS = {"classes": "adamml-31", "sample_rate": 35400, "seconds": 10.0, "n_fft": 512,
            "hop": 353, "frames": 3, "frame_size": 224}

_COLUMNS = ("label", "youtube_id", "time_start", "time_end")
_SPLITS = (("train", "train"), ("test", "val"))  # (cache split, Kinetics split)


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").split())


def read_class_list(path: Path) -> list[tuple[int, str]]:
    """``(line, class name)`` of a class-list file: one name per line; blank lines and ``#``
    comments ignored; ``_`` read as a space.

    Raises:
        ValueError: a name given twice, or no name at all.
    """
    names: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    text = path.read_bytes().decode("utf-8-sig")
    for n, line in enumerate(text.splitlines(), start=1):
        name = _norm(line.split("#", 1)[0])
        if not name:
            continue
        if name in seen:
            raise InvalidValueError(f"{path}:{n}: the class {name!r} is already listed on line "
                                    f"{seen[name]}; list each class once.")
        seen[name] = n
        names.append((n, name))
    if not names:
        raise InvalidValueError(f"{path}: the class list names no class; write one Kinetics "
                                f"class name per line, e.g. 'playing guitar'.")
    return names


def _class_list(spec: str, src: Path, split_dir: Path | None) -> tuple[list[str], list[str], str]:
    """(names, where each name was given, what was read) for the ``classes`` parameter."""
    if spec in BUILTIN:
        names = BUILTIN[spec]
        return list(names), [f"the built-in {spec} list"] * len(names), f"the built-in {spec} list"
    path = Path(spec).expanduser()
    candidates = [path]
    if not path.is_absolute():
        candidates += [base / path for base in ([split_dir] if split_dir is not None else [])
                       + [src / "annotations", src]]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise InvalidValueError(
            f"mmbss prepare {NAME}: the class list {spec!r} (--param classes) is neither a "
            f"built-in list ({', '.join(BUILTIN)}) nor a file (looked for "
            f"{', '.join(repr(str(p)) for p in candidates)}); give a text file with one Kinetics "
            f"class name per line.")
    rows = read_class_list(found)
    return [name for _, name in rows], [f"{found}:{n}" for n, _ in rows], str(found)


def read_kinetics_csv(path: Path) -> list[tuple[int, str, str, int, int]]:
    """``(line, label, youtube_id, time_start, time_end)`` rows of a Kinetics annotation file
    (a header naming at least ``label,youtube_id,time_start,time_end``; BOM, CRLF, quotes ok).

    Raises:
        ValueError: a header without those columns, a short row, or times that are not whole
            seconds.
    """
    text = path.read_bytes().decode("utf-8-sig")
    rows, cols = [], None
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip():
            continue
        if cols is None:
            head = [c.strip() for c in row]
            if not set(_COLUMNS) <= set(head):
                raise InvalidValueError(
                    f"{path}:{n}: a Kinetics annotation file starts with the header "
                    f"'label,youtube_id,time_start,time_end,split,is_cc'; got {row!r}.")
            cols = [head.index(c) for c in _COLUMNS]
            continue
        try:
            label, ytid, start, end = (row[c].strip() for c in cols)
            t0, t1 = float(start), float(end)
            if not (t0.is_integer() and t1.is_integer()) or not ytid:
                raise ValueError
        except (IndexError, ValueError):
            raise InvalidValueError(f"{path}:{n}: a Kinetics annotation row must be "
                                    f"'label,youtube_id,time_start,time_end,...' with whole "
                                    f"seconds; got {row!r}.") from None
        rows.append((n, _norm(label), ytid, int(t0), int(t1)))
    return rows


def _split_file(src: Path, split_dir: Path | None, name: str) -> Path:
    folders = ([split_dir] if split_dir is not None else []) + [src / "annotations", src]
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    raise InvalidValueError(
        f"mmbss prepare {NAME}: none of {', '.join(repr(str(f)) for f in folders)} has {name}. "
        f"Take the Kinetics-400 annotations (https://s3.amazonaws.com/kinetics/400/annotations/"
        f"{name}, fetched by CVDF's k400_downloader.sh) into '{src / 'annotations'}' or a "
        f"--split-dir. Expected layout:\n{LAYOUT}")


def _index(src: Path, folder: str) -> tuple[dict[str, str], dict[str, str | None]]:
    """Every mp4 below ``src/folder``: by file name and by YouTube id (None: not unique)."""
    by_name: dict[str, str] = {}
    by_id: dict[str, str | None] = {}
    top = src / folder
    if not top.is_dir():
        return by_name, by_id
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for f in sorted(filenames):
            if f.endswith(".mp4"):
                rel = os.path.relpath(os.path.join(dirpath, f), src)
                by_name.setdefault(f, rel)
                ytid = f[:11]
                by_id[ytid] = rel if ytid not in by_id else None
    return by_name, by_id


def _scan(src: Path, split_dir: Path | None, params: dict) -> Listing:
    check_audio_video("mmbss prepare kinetics-sounds", params)
    for folder in ("train", "val"):
        if not (src / folder).is_dir():
            raise InvalidValueError(f"mmbss prepare {NAME}: '{src}' has no {folder} folder; --src "
                                    f"must be the Kinetics-400 folder (k400/). Expected "
                                    f"layout:\n{LAYOUT}")
    classes, given_at, class_source = _class_list(params["classes"], src, split_dir)
    label_of = {name: i for i, name in enumerate(classes)}
    rep_name, rep_id = _index(src, "replacement")
    notes = [f"classes: {len(classes)} from {class_source}"]
    splits: dict[str, list[Item]] = {}
    for split, kinetics in _SPLITS:
        path = _split_file(src, split_dir, f"{kinetics}.csv")
        rows = read_kinetics_csv(path)
        present = {label for _, label, *_ in rows}
        absent = [i for i, c in enumerate(classes) if c not in present]
        if absent and split == "train":
            i = absent[0]
            raise InvalidValueError(
                f"{given_at[i]}: the class {classes[i]!r} is not a label of '{path}' "
                f"({len(absent)} of the {len(classes)} classes are not); Kinetics-400 class "
                f"names are written with spaces, e.g. 'playing guitar'.")
        if absent:
            notes.append(f"{split}: no row of {', '.join(repr(classes[i]) for i in absent)} in "
                         f"{path}")
        by_name, by_id = _index(src, kinetics)
        items, keys, other, dups, replaced = [], set(), 0, 0, 0
        for _, label, ytid, t0, t1 in rows:
            if label not in label_of:
                other += 1
                continue
            stem = f"{ytid}_{t0:06d}_{t1:06d}"
            if stem in keys:
                dups += 1
                continue
            keys.add(stem)
            name = f"{stem}.mp4"
            rel = rep_name.get(name) or rep_id.get(ytid)
            if rel is not None:
                replaced += 1
            else:
                rel = by_name.get(name) or by_id.get(ytid) or f"{kinetics}/{name}"
            items.append(Item(stem, label_of[label], {"root": str(src), "file": rel}))
        notes.append(f"{split}: {len(items)} clips of the {len(classes)} classes from {path} "
                     f"({len(rows)} rows; {other} rows of other Kinetics classes left out"
                     + (f"; {dups} repeated rows left out" if dups else "")
                     + (f"; {replaced} read from replacement/" if replaced else "") + ")")
        splits[split] = items
    return Listing(splits, classes, notes)


def audio_frames(params: dict) -> int:
    """Spectrogram frames of ``seconds`` of audio (``1 + samples // hop`` for an even n_fft)."""
    return spectrogram_frames(int(round(params["sample_rate"] * params["seconds"])),
                              params["n_fft"], params["hop"])


def _fields(params: dict) -> dict[str, Field]:
    size = params["frame_size"]
    return {"audio": Field((params["n_fft"] // 2 + 1, audio_frames(params)), "float16"),
            "visual": Field((params["frames"], size, size, 3), "uint8")}


def decode_clip(path: Path, params: dict, notes: list) -> dict[str, np.ndarray]:
    """The audio track and evenly picked frames of one video file, as the cache stores them."""
    wave = read_audio(path, params["sample_rate"])
    length = int(round(params["sample_rate"] * params["seconds"]))
    spec = log_spectrogram(tile_to(wave, length), params["n_fft"], params["hop"])
    frames, available = read_frames(path, params["frame_size"], count=params["frames"])
    if available < params["frames"]:
        notes.append(f"the video has {available} frame(s), {params['frames']} asked: padded by "
                     f"repeating")
    return {"audio": spec.astype(np.float16), "visual": frames}


def _decode(item: Item, params: dict, notes: list) -> dict[str, np.ndarray]:
    return decode_clip(inside(Path(item.sources["root"]), item.sources["file"]), params, notes)


PREPARERS.register(NAME)(Preparer(NAME, 1, DEFAULTS, _scan, _fields, _decode, LAYOUT))


def frame_transforms(size: int):
    """(train, eval) transforms of ``{"audio", "visual"}``: train draws a RandomResizedCrop and
    a horizontal flip for each frame (the reference transforms each frame image on its own);
    eval resizes; both normalise with ImageNet statistics; the audio is served as stored."""
    return partial(_train_frames, size=size), partial(_eval_frames, size=size)


def _train_frames(values, gen, *, size: int):
    frames = T.to_chw(values["visual"])
    frames = torch.stack([T.random_flip(T.random_resized_crop(f, size, gen), gen) for f in frames])
    return {"audio": T.spectrogram(values["audio"]), "visual": T.normalise(frames, T.IMAGENET)}


def _eval_frames(values, gen, *, size: int):
    frames = T.resize(T.to_chw(values["visual"]), size)
    return {"audio": T.spectrogram(values["audio"]), "visual": T.normalise(frames, T.IMAGENET)}


def carved_bundle(name: str, root, seed: int, val_fraction: float):
    """The bundle of a cache with ``train`` and ``test`` splits: val carved out of train."""
    check_int(name, "seed", seed)
    cache = open_cache(root, name)
    train_rows, test_rows = cache.rows("train"), cache.rows("test")
    kept, val = carve(cache.labels("train")[train_rows], val_fraction, seed=seed, owner=name)
    parts = {"train": [("train", train_rows[kept])], "val": [("train", train_rows[val])],
             "test": [("test", test_rows)]}
    train_tf, eval_tf = frame_transforms(cache.params["frame_size"])
    return cached_bundle(cache, name=name, seed=seed, parts=parts, train_transform=train_tf,
                         eval_transform=eval_tf, info={"val_fraction": val_fraction})


@DATASETS.register(NAME)
def kinetics_sounds(root: str | None = None, seed: int = 0, val_fraction: float = 0.1):
    """Kinetics-Sounds from a cache written by ``mmbss prepare kinetics-sounds`` (see the module
    docstring): train / val carved from Kinetics' train.csv / test = Kinetics' val.csv."""
    return carved_bundle(NAME, root, seed, val_fraction)
