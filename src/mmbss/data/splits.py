"""Seeded, stratified train/val/test splits and train-split standardisation statistics.

Every random choice here comes from ``numpy.random.Generator`` objects seeded by
``mmbss._rng.mix_seed(seed, stream)``: a collision-free mix of the user's seed and a named stream,
never ``seed + k`` and never the global RNG. The split depends only on (labels, fractions, seed),
so every method compared under the same seed sees the identical split.
"""

from __future__ import annotations

import numpy as np

from mmbss.core._rng import mix_seed
from mmbss.core._validation import check_float, check_int

from ..core.errors import InvalidValueError

__all__ = ["numpy_rng", "stratified_split", "check_fractions", "fit_standardisation"]

STD_FLOOR = 1e-6


def numpy_rng(seed: int, stream: str) -> np.random.Generator:
    """A fresh numpy Generator for one named random stream of ``seed``.

    Args:
        seed: the user's seed (any int).
        stream: name of the stream, e.g. ``"split"`` or ``"corrupt"``; different names give
            independent streams, and ``(seed, stream)`` pairs never collide the way ``seed + k``
            would.

    Returns:
        ``np.random.Generator`` seeded by ``mix_seed(seed, stream)``.
    """
    return np.random.default_rng(mix_seed(seed, stream))


def check_fractions(owner: str, val_fraction: float, test_fraction: float) -> tuple[float, float]:
    """Validate the split fractions: each in (0, 1) and their sum < 1.

    Raises:
        TypeError: a fraction is not a real number.
        ValueError: a fraction is outside (0, 1) or ``val_fraction + test_fraction >= 1``.
    """
    val = check_float(owner, "val_fraction", val_fraction, low=0.0, high=1.0,
                      low_open=True, high_open=True)
    test = check_float(owner, "test_fraction", test_fraction, low=0.0, high=1.0,
                       low_open=True, high_open=True)
    if val + test >= 1.0:
        raise InvalidValueError(f"{owner}: 'val_fraction + test_fraction' must be < 1 to leave training "
                                f"samples; got {val!r} + {test!r} = {val + test!r}.")
    return val, test


def _allocate(counts: np.ndarray, fraction: float, cap: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
    """Per-class sizes near ``counts * fraction`` summing to ``round(sum(counts) * fraction)``.

    Largest-remainder rounding (ties broken at random by ``rng``), so each class is within one
    sample of its proportional share; no class gets more than ``cap``.
    """
    share = counts * fraction
    sizes = np.minimum(np.floor(share).astype(np.int64), cap)
    missing = int(round(counts.sum() * fraction)) - int(sizes.sum())
    tiebreak = rng.permutation(len(counts))
    # Sort by remainder (descending), ties by the random permutation.
    order = np.lexsort((tiebreak, -(share - np.floor(share))))
    for c in order:
        if missing <= 0:
            break
        if sizes[c] < cap[c]:
            sizes[c] += 1
            missing -= 1
    return sizes


def stratified_split(labels: np.ndarray, *, val_fraction: float, test_fraction: float,
                     seed: int, owner: str = "stratified_split"
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split sample indices into train/val/test, stratified by class.

    Each split holds every class in proportion: the test (val) count of each class is within one
    sample of ``n_c * test_fraction`` (``n_c * val_fraction``), and the split totals are
    ``round(N * test_fraction)`` and ``round(N * val_fraction)``; the rest is training data.
    Same ``(labels, fractions, seed)`` -> the same split, on every machine.

    Args:
        labels: class labels, integer array of shape ``[N]``.
        val_fraction: share of samples for validation, in (0, 1).
        test_fraction: share of samples for testing, in (0, 1); the two sum to < 1.
        seed: split seed; drawn through the ``"split"`` stream of :func:`numpy_rng`.
        owner: name used in error messages (the dataset's name).

    Returns:
        ``(train, val, test)``: sorted int64 index arrays of shapes ``[N_train]``, ``[N_val]``,
        ``[N_test]``; disjoint and together covering ``range(N)``.

    Raises:
        ValueError: bad fractions, or a split that would be empty.

    Example:
        >>> import numpy as np
        >>> tr, va, te = stratified_split(np.repeat([0, 1], 10), val_fraction=0.2,
        ...                               test_fraction=0.2, seed=0)
        >>> len(tr), len(va), len(te)
        (12, 4, 4)
    """
    val_fraction, test_fraction = check_fractions(owner, val_fraction, test_fraction)
    check_int(owner, "seed", seed)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise InvalidValueError(f"{owner}: 'labels' must be a 1-D integer array; got dtype "
                                f"{labels.dtype} and shape {labels.shape}.")
    rng = numpy_rng(seed, "split")
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    n_test = _allocate(counts, test_fraction, counts, rng)
    n_val = _allocate(counts, val_fraction, counts - n_test, rng)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == c))
        cut_test, cut_val = n_test[c], n_test[c] + n_val[c]
        parts[2].append(members[:cut_test])
        parts[1].append(members[cut_test:cut_val])
        parts[0].append(members[cut_val:])
    train, val, test = (np.sort(np.concatenate(p)).astype(np.int64) for p in parts)
    for split_name, idx in (("train", train), ("val", val), ("test", test)):
        if len(idx) == 0:
            raise InvalidValueError(f"{owner}: the {split_name} split of {len(labels)} samples is empty "
                             f"with val_fraction={val_fraction} and test_fraction={test_fraction}; "
                                    "use more samples or other fractions.")
    return train, val, test


def fit_standardisation(train_views: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Per-feature mean and std of each view over the training rows only.

    Args:
        train_views: name -> array ``[N_train, D]`` of the (clean) training rows.

    Returns:
        ``stats[name] = {"mean": float32 [D], "std": float32 [D]}`` with ``std`` floored at 1e-6;
        apply as ``(x - mean) / std`` to every split.
    """
    stats: dict[str, dict[str, np.ndarray]] = {}
    for name, x in train_views.items():
        x = np.asarray(x, dtype=np.float64)
        std = np.maximum(x.std(axis=0), STD_FLOOR)
        stats[name] = {"mean": x.mean(axis=0).astype(np.float32), "std": std.astype(np.float32)}
    return stats
