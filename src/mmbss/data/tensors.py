"""In-memory multi-modal dataset: one float32 tensor per modality plus integer labels."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from mmbss.core._validation import check_int

from ..core.errors import InvalidIndexError, InvalidTypeError, InvalidValueError

__all__ = ["MultiModalTensorDataset"]

_OWNER = "MultiModalTensorDataset"


class MultiModalTensorDataset(Dataset):
    """Samples held as tensors in memory, one tensor per modality.

    Sample ``i`` is ``{"modalities": {name: tensors[name][i]}, "label": int, "index": i}``; the
    index is the position in *this* dataset (split), which is what lets per-sample scores be
    attached to samples.

    For speed, a DataLoader can fetch whole batches by tensor indexing: torch >= 2.0 calls
    ``dataset.__getitems__(indices)`` when it exists, which here returns the collated batch
    already; :func:`mmbss.data.collate_samples` (the collate of every mmbss loader) passes it
    through and stacks per-sample dicts of other datasets::

        loader = DataLoader(ds, batch_size=32, sampler=sampler, collate_fn=collate_samples)

    A trainer that draws indices itself can call :meth:`batch` directly.

    Args:
        tensors: modality name -> tensor ``[N, *shape]``; converted to contiguous float32.
        labels: class labels ``[N]``, integer dtype; stored as int64.
        num_classes: number of classes; defaults to ``labels.max() + 1``.

    Raises:
        TypeError: ``tensors`` is not a mapping of str to tensors, or ``labels`` is not an integer
            tensor (bool and floating-point labels are refused).
        ValueError: no modality, no sample (``N = 0``), a first dimension other than ``N``, or
            labels outside ``[0, num_classes)``.

    Examples:
        >>> import torch
        >>> ds = MultiModalTensorDataset({"a": torch.zeros(4, 3), "b": torch.ones(4, 1, 2, 2)},
        ...                              torch.tensor([0, 1, 0, 1]))
        >>> len(ds), ds.num_classes, ds.modality_shapes
        (4, 2, {'a': (3,), 'b': (1, 2, 2)})
        >>> ds.batch(torch.tensor([3, 0]))["label"]
        tensor([1, 0])
    """

    def __init__(self, tensors: Mapping[str, Tensor], labels: Tensor, *,
                 num_classes: int | None = None):
        if not isinstance(tensors, Mapping) or not tensors:
            raise InvalidTypeError(f"{_OWNER}: 'tensors' must be a non-empty dict of name -> Tensor; "
                                   f"got {type(tensors).__name__}.")
        if (not isinstance(labels, Tensor) or labels.dtype.is_floating_point or labels.ndim != 1
                or labels.dtype == torch.bool or labels.dtype.is_complex):
            raise InvalidTypeError(f"{_OWNER}: 'labels' must be a 1-D integer Tensor; got "
                                   f"{_describe(labels)}.")
        n = len(labels)
        if n == 0:
            raise InvalidValueError(f"{_OWNER}: the dataset has no samples ('labels' has length 0); give "
                                    f"at least one sample.")
        self.tensors: dict[str, Tensor] = {}
        for name, t in tensors.items():
            if not isinstance(name, str) or not isinstance(t, Tensor):
                raise InvalidTypeError(f"{_OWNER}: 'tensors' must map str names to Tensors; got "
                                       f"{name!r} -> {_describe(t)}.")
            if t.ndim < 1 or t.shape[0] != n:
                raise InvalidValueError(f"{_OWNER}: 'tensors[{name!r}]' must have first dimension "
                                        f"{n} (the number of labels); got shape {tuple(t.shape)}.")
            self.tensors[name] = t.detach().to(torch.float32).contiguous()
        self.labels: Tensor = labels.detach().to(torch.int64).contiguous()
        high = int(self.labels.max()) + 1
        if num_classes is None:
            num_classes = high
        check_int(_OWNER, "num_classes", num_classes, low=max(high, 1))
        if int(self.labels.min()) < 0:
            raise InvalidValueError(f"{_OWNER}: 'labels' must be in [0, num_classes); got min "
                             f"{int(self.labels.min())}.")
        self._num_classes = num_classes

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        """One sample: ``{"modalities": {name: Tensor[*shape]}, "label": int, "index": int}``.

        Raises:
            TypeError: ``i`` is not an integer (an int, a numpy integer or a 0-d integer tensor).
            IndexError: ``i`` is outside ``[-N, N)``.
        """
        n = len(self)
        try:
            if isinstance(i, bool):
                raise TypeError
            i = operator.index(i)
        except TypeError:
            raise InvalidTypeError(f"{_OWNER}: 'index' must be an int (a position in [-{n}, {n})); got "
                            f"{_short(i)}.") from None
        if not -n <= i < n:
            raise InvalidIndexError(f"{_OWNER}: index {i} is out of range for {n} samples.")
        i %= n
        return {"modalities": {name: t[i] for name, t in self.tensors.items()},
                "label": int(self.labels[i]), "index": i}

    def batch(self, indices: Tensor | Sequence[int]) -> dict[str, Any]:
        """A collated batch by tensor indexing (no per-sample work).

        Args:
            indices: positions in this dataset, shape ``[B]`` (LongTensor or a sequence of ints).

        Returns:
            ``{"modalities": {name: Tensor[B, *shape]}, "label": LongTensor[B],
            "index": LongTensor[B]}``; the same values as collating ``[self[i] for i in
            indices]``.

        Raises:
            TypeError: ``indices`` is a bool or floating-point tensor.
            IndexError: an index is outside ``[0, N)``.
        """
        if isinstance(indices, Tensor) and (indices.dtype == torch.bool
                                            or indices.dtype.is_floating_point):
            raise InvalidTypeError(f"{_OWNER}: 'indices' must be integer positions; got "
                            f"{_describe(indices)} (use mask.nonzero().flatten() for a mask).")
        idx = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
        n = len(self)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise InvalidIndexError(f"{_OWNER}: batch indices must be in [0, {n}); got min "
                             f"{int(idx.min())}, max {int(idx.max())}.")
        return {"modalities": {name: t[idx] for name, t in self.tensors.items()},
                "label": self.labels[idx], "index": idx.clone()}

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        """Collated batch for ``DataLoader`` (torch >= 2.0); see :meth:`batch`.

        Pair with ``collate_fn=collate_samples``: the default collate cannot take a dict batch.
        """
        return self.batch(indices)

    @property
    def num_classes(self) -> int:
        """Number of classes C (labels lie in ``[0, C)``)."""
        return self._num_classes

    @property
    def modalities(self) -> list[str]:
        """Modality names, in order."""
        return list(self.tensors)

    @property
    def modality_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample shape of each modality, e.g. ``{"pix": (1, 16, 15), "fou": (76,)}``."""
        return {name: tuple(t.shape[1:]) for name, t in self.tensors.items()}

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={v}" for k, v in self.modality_shapes.items())
        return f"{type(self).__name__}(n={len(self)}, num_classes={self.num_classes}, {shapes})"


def _short(x: object) -> str:
    text = repr(x)
    return text if len(text) <= 40 and not isinstance(x, Tensor) else _describe(x)


def _describe(x: object) -> str:
    if isinstance(x, Tensor):
        return f"Tensor(dtype={x.dtype}, shape={tuple(x.shape)})"
    return type(x).__name__
