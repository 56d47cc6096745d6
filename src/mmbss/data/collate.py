"""The default collate of mmbss loaders: sample dicts -> one batch dict.

Examples:
    >>> import torch
    >>> s = [{"modalities": {"a": torch.zeros(3)}, "label": 1, "index": 4},
    ...      {"modalities": {"a": torch.ones(3)}, "label": 0, "index": 2}]
    >>> b = collate_samples(s)
    >>> b["modalities"]["a"].shape, b["label"].tolist(), b["index"].tolist()
    (torch.Size([2, 3]), [1, 0], [4, 2])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..core.errors import InvalidTypeError, InvalidValueError

__all__ = ["collate_samples"]

_KEYS = ("modalities", "label", "index")


def collate_samples(batch: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, Any]:
    """Stack sample dicts ``{"modalities": {name: Tensor}, "label": int, "index": int}`` into
    ``{"modalities": {name: Tensor[B, ...]}, "label": LongTensor[B], "index": LongTensor[B]}``.

    A batch that is already collated (a dataset's ``__getitems__`` fast path, e.g.
    :class:`~mmbss.data.MultiModalTensorDataset`) is returned as it is.

    Raises:
        ValueError: a sample lacks a key, or its modalities differ from the first sample's.
        TypeError: a sample is not a dict.
    """
    if isinstance(batch, Mapping):
        return dict(batch)
    if not batch:
        raise InvalidValueError("collate_samples: got an empty batch.")
    first = batch[0]
    for k, sample in enumerate(batch):
        if not isinstance(sample, Mapping):
            raise InvalidTypeError(f"collate_samples: sample {k} of the batch is a "
                            f"{type(sample).__name__}, not a dict {{'modalities': {{name: Tensor}},"
                                   f" 'label': int, 'index': int}}.")
        missing = [key for key in _KEYS if key not in sample]
        if missing:
            raise InvalidValueError(f"collate_samples: a sample (index {sample.get('index', '?')}) lacks "
                             f"the key(s) {missing}; each sample must be {{'modalities': {{name: "
                                    f"Tensor}}, 'label': int, 'index': int}}.")
        if set(sample["modalities"]) != set(first["modalities"]):
            raise InvalidValueError(f"collate_samples: sample index {sample['index']} has the modalities "
                             f"{sorted(sample['modalities'])}, sample index {first['index']} "
                             f"{sorted(first['modalities'])}; every sample needs the same ones.")
    return {"modalities": {m: torch.stack([torch.as_tensor(s["modalities"][m]) for s in batch])
                           for m in first["modalities"]},
            "label": torch.as_tensor([int(s["label"]) for s in batch], dtype=torch.int64),
            "index": torch.as_tensor([int(s["index"]) for s in batch], dtype=torch.int64)}
