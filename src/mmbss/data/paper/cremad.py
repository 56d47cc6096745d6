"""CREMA-D (Cao et al. 2014): 7,442 acted clips of 91 actors, 6 emotions; audio + 1 video frame.

``mmbss prepare cremad --src CREMA-D --out CACHE`` reads the layout of the CREMA-D repository
(cloned with git-lfs, or its GitLab mirror) plus the OGM-GE split files:

* audio ``AudioWAV/<stem>.wav`` -> resampled to ``sample_rate`` (22,050 Hz), tiled to
  ``seconds`` (20 s, as the BSS code; OGM-GE uses 3 s), clipped to [-1, 1], STFT
  ``n_fft`` 512 / ``hop`` 353, ``log(|S| + 1e-7)``: float16 ``[257, 1250]``;
* video ``VideoFlash/<stem>.flv`` -> ``frames`` (1) frames picked evenly over the clip, resized
  to ``frame_size`` (224): uint8 ``[1, 224, 224, 3]``;
* splits ``annotations/{train,test}.csv`` (OGM-GE format: ``stem,EMO`` rows, no header, CRLF,
  perhaps a BOM; 6,698 / 744 clips), or the same files in ``--split-dir``.

The dataset ``cremad`` (options ``root``, ``seed``, ``val_fraction`` 0.1, ``split``) serves
``audio`` ``[1, 257, T]`` and ``visual`` ``[frames, 3, 224, 224]`` (train: RandomResizedCrop +
flip; eval: as stored; ImageNet normalisation). ``split="ogm-ge"`` (default) carves a seeded
stratified validation split out of OGM-GE's training clips; ``split="actor"`` re-splits all
prepared clips so that no actor is in two splits (OGM-GE's split puts every actor in both).
"""

from __future__ import annotations

import csv
import io
from functools import partial
from pathlib import Path

import numpy as np

from ...core._validation import check_choice, check_int
from ...core.errors import InvalidValueError
from ..bundle import DATASETS
from ..splits import carve, group_split
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

__all__ = ["CLASSES", "read_split_csv", "cremad"]

CLASSES = ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"]
"""The label order of OGM-GE and the BSS code: NEU 0, HAP 1, SAD 2, FEA 3, DIS 4, ANG 5."""

LAYOUT = """CREMA-D/                      (git lfs clone of CheyneyComputerScience/CREMA-D)
├── AudioWAV/<stem>.wav           e.g. 1001_DFA_ANG_XX.wav
├── VideoFlash/<stem>.flv
└── annotations/train.csv, test.csv   (OGM-GE's data/CREMAD/{train,test}.csv; or --split-dir)"""

DEFAULTS = {"sample_rate": 22050, "seconds": 20.0, "n_fft": 512, "hop": 353, "frames": 1,
            "frame_size": 224}


def read_split_csv(path: Path, classes: list[str]) -> list[tuple[str, int]]:
    """``(stem, label)`` rows of an OGM-GE split file (``stem,EMO``; BOM, CRLF, blank lines ok).

    Raises:
        ValueError: a row without two fields, or a label not in ``classes``.
    """
    rows = []
    text = path.read_bytes().decode("utf-8-sig")
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise InvalidValueError(f"{path}:{n}: a split row must be 'stem,LABEL'; got {row!r}.")
        stem, label = row[0].strip(), row[1].strip()
        if label not in classes:
            raise InvalidValueError(f"{path}:{n}: the label {label!r} of {stem!r} is not a class "
                                    f"of this dataset; the classes are {', '.join(classes)}.")
        rows.append((stem, classes.index(label)))
    return rows


def _split_file(src: Path, split_dir: Path | None, split: str) -> Path:
    for folder in ([split_dir] if split_dir is not None else []) + [src / "annotations"]:
        if (folder / f"{split}.csv").is_file():
            return folder / f"{split}.csv"
    where = f"'{split_dir}' (--split-dir) nor " if split_dir is not None else ""
    raise InvalidValueError(
        f"mmbss prepare cremad: neither {where}'{src / 'annotations'}' has {split}.csv. The split "
        f"files are not part of CREMA-D: take data/CREMAD/train.csv and test.csv from the OGM-GE "
        f"repository (GeWu-Lab/OGM-GE_CVPR2022) into '{src / 'annotations'}' or a --split-dir. "
        f"Expected layout:\n{LAYOUT}")


def _scan(src: Path, split_dir: Path | None, params: dict) -> Listing:
    check_audio_video("mmbss prepare cremad", params)
    if not (src / "AudioWAV").is_dir():
        raise InvalidValueError(f"mmbss prepare cremad: '{src}' has no AudioWAV folder; --src must "
                                f"be the CREMA-D folder. Expected layout:\n{LAYOUT}")
    splits, notes = {}, []
    for split in ("train", "test"):
        path = _split_file(src, split_dir, split)
        rows = read_split_csv(path, CLASSES)
        notes.append(f"{split}: {len(rows)} rows from {path}")
        splits[split] = [Item(stem, label, {"root": str(src), "stem": stem})
                         for stem, label in rows]
    return Listing(splits, list(CLASSES), notes)


def _fields(params: dict) -> dict[str, Field]:
    frames = spectrogram_frames(int(round(params["sample_rate"] * params["seconds"])),
                                params["n_fft"], params["hop"])
    size = params["frame_size"]
    return {"audio": Field((params["n_fft"] // 2 + 1, frames), "float16"),
            "visual": Field((params["frames"], size, size, 3), "uint8")}


def _decode(item: Item, params: dict, notes: list) -> dict[str, np.ndarray]:
    root, stem = Path(item.sources["root"]), item.sources["stem"]
    wave = read_audio(inside(root, f"AudioWAV/{stem}.wav"), params["sample_rate"])
    length = int(round(params["sample_rate"] * params["seconds"]))
    spec = log_spectrogram(tile_to(wave, length), params["n_fft"], params["hop"])
    frames, available = read_frames(inside(root, f"VideoFlash/{stem}.flv"), params["frame_size"],
                                    count=params["frames"])
    if available < params["frames"]:
        notes.append(f"the video has {available} frame(s), {params['frames']} asked: padded by "
                     f"repeating")
    return {"audio": spec.astype(np.float16), "visual": frames}


PREPARERS.register("cremad")(Preparer("cremad", 1, DEFAULTS, _scan, _fields, _decode, LAYOUT))


# the transforms are partials of module-level functions: DataLoader workers started by spawn
# (macOS, Windows; forkserver on Linux from Python 3.14) unpickle them
def _train(values, gen, *, size: int):
    visual = T.to_chw(values["visual"])
    visual = T.random_flip(T.random_resized_crop(visual, size, gen), gen)
    return {"audio": T.spectrogram(values["audio"]), "visual": T.normalise(visual, T.IMAGENET)}


def _eval(values, gen, *, size: int):
    visual = T.resize(T.to_chw(values["visual"]), size)
    return {"audio": T.spectrogram(values["audio"]), "visual": T.normalise(visual, T.IMAGENET)}


def _train_tf(size: int):
    return partial(_train, size=size)


def _eval_tf(size: int):
    return partial(_eval, size=size)


@DATASETS.register("cremad")
def cremad(root: str | None = None, seed: int = 0, val_fraction: float = 0.1,
           split: str = "ogm-ge"):
    """CREMA-D from a cache written by ``mmbss prepare cremad`` (see the module docstring)."""
    check_int("cremad", "seed", seed)
    check_choice("cremad", "split", split, ("ogm-ge", "actor"))
    cache = open_cache(root, "cremad")
    size = cache.params["frame_size"]
    train_rows, test_rows = cache.rows("train"), cache.rows("test")
    if split == "ogm-ge":
        kept, val = carve(cache.labels("train")[train_rows], val_fraction, seed=seed, owner="cremad")
        parts = {"train": [("train", train_rows[kept])], "val": [("train", train_rows[val])],
                 "test": [("test", test_rows)]}
    else:  # actor-disjoint: every prepared clip, grouped by the actor id that starts its name
        rows = [("train", r) for r in train_rows] + [("test", r) for r in test_rows]
        keys = {s: cache.keys(s) for s in ("train", "test")}
        actors = np.array([keys[s][r].split("_")[0] for s, r in rows])
        tr, va, te = group_split(actors, (val_fraction, 0.1), seed=seed, owner="cremad")
        parts = {name: [(s, np.array([rows[i][1] for i in idx if rows[i][0] == s], np.int64))
                        for s in ("train", "test")]
                 for name, idx in (("train", tr), ("val", va), ("test", te))}
    return cached_bundle(cache, name="cremad", seed=seed, parts=parts,
                         train_transform=_train_tf(size), eval_transform=_eval_tf(size),
                         info={"split": split})

