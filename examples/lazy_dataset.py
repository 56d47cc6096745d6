"""Your own dataset in mmbss: one file per sample, read lazily by DataLoader workers.

A dataset is any map-style ``torch.utils.data.Dataset`` whose items are
``{"modalities": {name: Tensor}, "label": int, "index": int}`` (``index`` = the position in its
split); a factory returns them as a :class:`mmbss.data.DataBundle`. Point the CLI at the factory:

    python examples/lazy_dataset.py write runs/lazy-data        # one .npz per sample (from mfeat)
    mmbss compare --config configs/mfeat-demo.yaml --out runs/lazy \\
        --set data.name=examples/lazy_dataset.py:lazy_dataset \\
        --set "data.options={root: runs/lazy-data}" --set train.num_workers=2

The folder holds ``train/``, ``val/`` and ``test/`` with ``<index>.npz`` files (one array per
modality plus ``label``). Its splits are fixed by the folders, so the factory declares no
``val_fraction`` / ``test_fraction`` (mmbss then refuses those keys instead of ignoring them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from mmbss.data import DataBundle, create_dataset

SPLITS = ("train", "val", "test")


class OneFilePerSample(Dataset):
    """The ``<index>.npz`` files of one folder; a file is opened only when its sample is asked
    for (in the worker process that asks)."""

    def __init__(self, folder: Path, modalities: list[str]):
        self.files = sorted(folder.glob("*.npz"), key=lambda p: int(p.stem))
        if [int(p.stem) for p in self.files] != list(range(len(self.files))):
            raise ValueError(f"'{folder}' must hold 0.npz ... N-1.npz; got {len(self.files)} files "
                             f"with gaps.")
        self.modalities = modalities

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict:
        with np.load(self.files[i]) as z:
            return {"modalities": {m: torch.from_numpy(z[m]) for m in self.modalities},
                    "label": int(z["label"]), "index": i}


def lazy_dataset(root: str) -> DataBundle:
    """The factory named by ``data.name: examples/lazy_dataset.py:lazy_dataset``.

    Args:
        root: the folder written by :func:`write_files` (relative: from the current folder).
    """
    root = Path(root)
    missing = [s for s in SPLITS if not (root / s).is_dir()]
    if missing:
        raise ValueError(f"'{root}' has no {'/'.join(missing)} folder; write one with "
                         f"'python examples/lazy_dataset.py write {root}'.")
    with np.load(next((root / "train").glob("*.npz"))) as z:
        shapes = {m: tuple(z[m].shape) for m in z.files if m != "label"}
    labels = [int(np.load(p)["label"]) for s in SPLITS for p in (root / s).glob("*.npz")]
    splits = {s: OneFilePerSample(root / s, list(shapes)) for s in SPLITS}
    return DataBundle(train=splits["train"], val=splits["val"], test=splits["test"],
                      num_classes=max(labels) + 1, modality_shapes=shapes,
                      info={"name": f"lazy:{root}"})


def write_files(root: str | Path, dataset: str = "mfeat", **options) -> Path:
    """Write every sample of an mmbss dataset as ``root/<split>/<index>.npz``."""
    bundle = create_dataset(dataset, **options)
    for split in SPLITS:
        folder = Path(root) / split
        folder.mkdir(parents=True, exist_ok=True)
        ds = getattr(bundle, split)
        for i in range(len(ds)):
            item = ds[i]
            np.savez(folder / f"{i}.npz", label=np.int64(item["label"]),
                     **{m: t.numpy() for m, t in item["modalities"].items()})
    return Path(root)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "write":
        sys.exit("usage: python examples/lazy_dataset.py write ROOT")
    print(f"wrote {write_files(sys.argv[2])}")
