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

__all__ = ["numpy_rng", "stratified_split", "carve", "group_split", "check_fractions",
           "fit_standardisation"]

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

    Examples:
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


def carve(labels: np.ndarray, fraction: float, *, seed: int, owner: str = "carve"
          ) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``range(N)`` into ``(kept, carved)``, the carved part a stratified
    ``fraction`` of each class (a validation split carved from a fixed training split).

    Returns:
        Sorted int64 index arrays; ``len(carved) == round(N * fraction)``, each class within one
        sample of its share. Same ``(labels, fraction, seed)`` -> the same split.

    Raises:
        ValueError: ``fraction`` outside (0, 1), or a part that would be empty.

    Examples:
        >>> kept, val = carve(np.repeat([0, 1], 10), 0.2, seed=0)
        >>> len(kept), len(val), np.bincount(np.repeat([0, 1], 10)[val]).tolist()
        (16, 4, [2, 2])
    """
    fraction = check_float(owner, "val_fraction", fraction, low=0.0, high=1.0, low_open=True,
                           high_open=True)
    labels = np.asarray(labels)
    rng = numpy_rng(seed, "carve")
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    sizes = _allocate(counts, fraction, counts, rng)
    carved = np.concatenate([rng.permutation(np.flatnonzero(inverse == c))[:sizes[c]]
                             for c in range(len(classes))] or [np.zeros(0, np.int64)])
    mask = np.zeros(len(labels), dtype=bool)
    mask[carved] = True
    kept, carved = np.flatnonzero(~mask), np.flatnonzero(mask)
    if len(kept) == 0 or len(carved) == 0:
        raise InvalidValueError(f"{owner}: carving val_fraction={fraction} out of {len(labels)} "
                                f"training samples leaves an empty split; use another fraction.")
    return kept.astype(np.int64), carved.astype(np.int64)


def group_split(groups: np.ndarray, fractions: tuple[float, float], *, seed: int,
                owner: str = "group_split") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split positions into train/val/test so that no group (e.g. an actor) is in two splits.

    Whole groups, in a seeded random order, go to test until it holds at least
    ``fractions[1]`` of the samples, then to validation until it holds ``fractions[0]``; the
    rest is training data.

    Returns:
        ``(train, val, test)``: sorted int64 index arrays.

    Raises:
        ValueError: bad fractions, or fewer than 3 groups.
    """
    val_fraction, test_fraction = check_fractions(owner, *fractions)
    groups = np.asarray(groups)
    names = np.unique(groups)
    if len(names) < 3:
        raise InvalidValueError(f"{owner}: a group-disjoint split needs at least 3 groups; got "
                                f"{len(names)}.")
    order = numpy_rng(seed, "group-split").permutation(names)
    n, split_of, filled = len(groups), {}, {"test": 0, "val": 0}
    sizes = {g: int((groups == g).sum()) for g in names}
    for g in order:
        if filled["test"] < test_fraction * n:
            split_of[g] = "test"
        elif filled["val"] < val_fraction * n:
            split_of[g] = "val"
        else:
            split_of[g] = "train"
        if split_of[g] in filled:
            filled[split_of[g]] += sizes[g]
    which = np.array([split_of[g] for g in groups])
    return tuple(np.flatnonzero(which == s).astype(np.int64) for s in ("train", "val", "test"))


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
