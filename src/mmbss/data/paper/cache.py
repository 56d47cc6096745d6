"""Reading a prepared cache: :func:`open_cache` checks it, :class:`CachedSplit` is a map-style
dataset over one split with per-sample transforms.

Random access is a memory-mapped row read, so DataLoader workers (each opens its own maps on
first use; nothing large is pickled) read in parallel without loading the cache into memory.

**Reproducible augmentation.** A training split draws its random crops from a generator seeded
by ``(seed, epoch, index)`` when the index comes from the mmbss training loader (it tags each
index with the run's seed and epoch, see :class:`EpochIndex`): the same run gives the same crops
with any number of workers and after a resume. Untagged indices (a user's own loop) draw from
torch's global generator, as torchvision transforms do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ...core._rng import mix_seed
from ...core.errors import InvalidValueError
from ..bundle import DataBundle
from .prepare import CACHE_FORMAT, PREPARERS

__all__ = ["Cache", "CachedSplit", "EpochIndex", "cached_bundle", "open_cache"]


class EpochIndex(int):
    """A sample index that carries the run's ``seed`` and ``epoch`` (for augmentation)."""

    def __new__(cls, value: int, seed: int, epoch: int):
        obj = super().__new__(cls, value)
        obj.seed, obj.epoch = seed, epoch
        return obj

    def __reduce__(self):  # pickled to DataLoader workers with its tags
        return EpochIndex, (int(self), self.seed, self.epoch)


class Cache:
    """A checked, complete cache: its ``root``, ``header`` (``cache.json``) and split access."""

    def __init__(self, root: Path, header: dict):
        self.root, self.header = root, header

    @property
    def params(self) -> dict:
        """The preprocessing parameters the cache was prepared with."""
        return self.header["params"]

    @property
    def classes(self) -> list[str]:
        """The class names, in label order."""
        return self.header["classes"]

    def status(self, split: str) -> np.ndarray:
        """uint8 ``[N]`` of the split's listed items: 1 prepared, 2 skipped (0: not yet)."""
        return np.load(self.root / split / "status.npy")

    def labels(self, split: str) -> np.ndarray:
        """int64 ``[N]`` labels of the split's listed items."""
        return np.load(self.root / split / "labels.npy")

    def keys(self, split: str) -> list[str]:
        """The keys (e.g. file stems) of the split's listed items."""
        return json.loads((self.root / split / "keys.json").read_text())

    def rows(self, split: str) -> np.ndarray:
        """Positions of the prepared (not skipped) items of ``split``."""
        return np.flatnonzero(self.status(split) == 1)


def open_cache(root: str | Path | None, dataset: str) -> Cache:
    """Open the cache that ``mmbss prepare <dataset>`` wrote into ``root``.

    Raises:
        ValueError: ``root`` missing or not set, not a cache (e.g. the raw folder), a cache of
            another dataset, format or preparer version, or an unfinished one; each message
            says the command that makes it right.
    """
    redo = f"run 'mmbss prepare {dataset} --src RAW_DIR --out {root}'"
    if root is None or str(root) == "":
        raise InvalidValueError(f"dataset {dataset!r}: 'root' is not set; set data.root "
                                f"to the folder 'mmbss prepare {dataset} --out' wrote.")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise InvalidValueError(f"dataset {dataset!r}: the cache folder '{path}' does not exist; "
                                f"{redo} first.")
    head = path / "cache.json"
    if not head.is_file():
        raise InvalidValueError(f"dataset {dataset!r}: '{path}' has no cache.json, so it is not a "
                                f"prepared cache (is it the raw download?); {redo} and point "
                                f"data.root at the --out folder.")
    header = json.loads(head.read_text())
    version = PREPARERS.get(dataset).version
    problems = []
    if header.get("dataset") != dataset:
        problems.append(f"it holds {header.get('dataset')!r}")
    if header.get("format") != CACHE_FORMAT:
        problems.append(f"its format is {header.get('format')} (this mmbss reads {CACHE_FORMAT})")
    elif header.get("preparer_version") != version:
        problems.append(f"it was prepared by mmbss {header.get('mmbss')} with preparer version "
                        f"{header.get('preparer_version')} (this mmbss needs {version})")
    if problems:
        raise InvalidValueError(f"dataset {dataset!r}: the cache '{path}' cannot be read: "
                                f"{'; '.join(problems)}; prepare it again into a new folder: "
                                f"'mmbss prepare {dataset} --src RAW_DIR --out NEW_DIR'.")
    if not header.get("complete"):
        raise InvalidValueError(f"dataset {dataset!r}: the cache '{path}' is unfinished (its "
                                f"prepare was interrupted); run the same 'mmbss prepare' command "
                                f"again to finish it.")
    return Cache(path, header)


Transform = Callable[[dict[str, np.ndarray], torch.Generator | None], dict[str, torch.Tensor]]


class CachedSplit(Dataset):
    """Prepared items of a cache, through ``transform``.

    Args:
        cache: the opened cache.
        parts: ``[(split, positions), ...]``: the items to serve, in order, as positions in the
            cache's split folders (usually one part; an actor-disjoint split mixes two).
        transform: ``transform(fields, generator) -> {modality: Tensor}``; ``generator`` is
            None for evaluation transforms.
        augment: draw random transforms (a training split); see the module note.
        fields: the stored fields to read (default: all).

    Items are ``{"modalities": {name: Tensor}, "label": int, "index": i}``; ``labels`` is the
    LongTensor of all of them, ``keys`` their keys in the cache.
    """

    def __init__(self, cache: Cache, parts: list[tuple[str, np.ndarray]], transform: Transform,
                 *, augment: bool = False, fields: tuple[str, ...] | None = None):
        self.root = cache.root
        self.parts = [(s, np.asarray(r, dtype=np.int64)) for s, r in parts]
        self.ends = np.cumsum([len(r) for _, r in self.parts])
        self.labels = torch.from_numpy(np.concatenate(
            [cache.labels(s)[r] for s, r in self.parts]).astype(np.int64))
        self.keys = [k for s, r in self.parts for k in np.asarray(cache.keys(s), dtype=object)[r]]
        self.transform, self.augment = transform, augment
        self.fields = tuple(fields if fields is not None else cache.header["fields"])
        self._maps: dict[str, dict[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_maps"] = None  # each worker maps the files itself
        return state

    def _arrays(self, split: str) -> dict[str, np.ndarray]:
        if self._maps is None:
            self._maps = {}
        if split not in self._maps:
            self._maps[split] = {k: np.load(self.root / split / f"{k}.npy", mmap_mode="r")
                                 for k in self.fields}
        return self._maps[split]

    def _generator(self, index) -> torch.Generator | None:
        if not self.augment:
            return None
        gen = torch.Generator()
        if isinstance(index, EpochIndex):
            gen.manual_seed(mix_seed(index.seed, "augment", index.epoch, int(index)))
        else:
            gen.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        return gen

    def sample_shapes(self) -> dict[str, tuple[int, ...]]:
        """The per-sample shape of each modality (of item 0, drawn without the global RNG)."""
        gen = torch.Generator().manual_seed(0) if self.augment else None
        split, rows = self.parts[0]
        values = {k: np.array(a[rows[0]]) for k, a in self._arrays(split).items()}
        return {m: tuple(t.shape) for m, t in self.transform(values, gen).items()}

    def __getitem__(self, index) -> dict[str, Any]:
        i = int(index)
        if not 0 <= i < len(self):
            from ...core.errors import InvalidIndexError

            raise InvalidIndexError(f"CachedSplit: index {i} outside [0, {len(self)}).")
        part = int(np.searchsorted(self.ends, i, side="right"))
        split, rows = self.parts[part]
        pos = rows[i - (int(self.ends[part - 1]) if part else 0)]
        values = {k: np.array(a[pos]) for k, a in self._arrays(split).items()}  # a copy
        return {"modalities": self.transform(values, self._generator(index)),
                "label": int(self.labels[i]), "index": i}


def cached_bundle(cache: Cache, *, name: str, seed: int, parts: dict[str, list],
                  train_transform: Transform, eval_transform: Transform,
                  info: dict | None = None) -> DataBundle:
    """The :class:`~mmbss.data.DataBundle` of a paper dataset: ``parts[split]`` lists the
    ``(cache split, positions)`` of its ``"train"``, ``"val"`` and ``"test"`` items; the
    training items are served with ``train_transform`` (augmented) and, as ``train_eval``, with
    ``eval_transform``."""
    for split, plist in parts.items():
        if sum(len(r) for _, r in plist) == 0:
            raise InvalidValueError(f"dataset {name!r}: the {split} split of the cache "
                                    f"'{cache.root}' has no prepared item; see its manifest.json.")
    train = CachedSplit(cache, parts["train"], train_transform, augment=True)
    datasets = {s: CachedSplit(cache, parts[s], eval_transform) for s in ("val", "test")}
    bundle_info = {"name": name, "seed": seed, "classes": list(cache.classes),
                   "cache": str(cache.root), "params": dict(cache.params),
                   "keys": {s: d.keys for s, d in (("train", train), *datasets.items())}}
    bundle_info.update(info or {})
    return DataBundle(train=train, val=datasets["val"], test=datasets["test"],
                      num_classes=len(cache.classes), modality_shapes=train.sample_shapes(),
                      info=bundle_info,
                      train_eval=CachedSplit(cache, parts["train"], eval_transform))
