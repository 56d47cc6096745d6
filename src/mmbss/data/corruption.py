"""Known, seeded corruption of one modality in a fraction of training samples (ground truth)."""

from __future__ import annotations

import numpy as np

from mmbss.core._validation import check_float

from ..core.errors import InvalidValueError
from .splits import numpy_rng

__all__ = ["CORRUPT_MODES", "corrupt_samples"]

CORRUPT_MODES = ("swap", "noise")


def corrupt_samples(x: np.ndarray, labels: np.ndarray, *, fraction: float, mode: str, seed: int,
                 value_range: tuple[int, int] | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replace one view of ``round(fraction * N)`` samples chosen at random.

    The draw uses the ``"corrupt"`` stream of :func:`~mmbss.data.splits.numpy_rng`, independent
    of the split stream of the same seed.

    Args:
        x: the view's raw values over the training samples, ``[N, *shape]``.
        labels: int labels ``[N]``.
        fraction: share of samples to corrupt, in [0, 1]; exactly ``round(fraction * N)`` are.
        mode: ``"swap"`` replaces the view with the same view of a uniformly drawn sample of a
            different class (taken from the clean data); ``"noise"`` draws fresh values: Gaussian
            with each feature's mean and std over ``x``, or, when ``value_range=(lo, hi)`` is
            given (integer images such as mfeat ``pix``), integers uniform on ``lo..hi``.
        seed: the dataset seed.
        value_range: integer range for ``"noise"`` on integer-valued views, else None.

    Returns:
        ``(corrupted_x, mask, source)``: the new array ``[N, *shape]`` (``x`` is not modified;
        float32 when Gaussian noise lands in an integer view),
        ``mask`` bool ``[N]`` (True = corrupted), ``source`` int64 ``[N]`` (for ``"swap"`` the
        row the replacement came from, else -1).

    Raises:
        TypeError: ``fraction`` is not a real number.
        ValueError: ``fraction`` outside [0, 1], an unknown ``mode``, or ``"swap"`` on data with a
            single class.
    """
    check_float("corrupt_samples", "fraction", fraction, low=0.0, high=1.0)
    n = len(x)
    rng = numpy_rng(seed, "corrupt")
    chosen = np.sort(rng.choice(n, size=int(round(fraction * n)), replace=False))
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    source = np.full(n, -1, dtype=np.int64)
    integer_noise = mode == "noise" and value_range is None and x.dtype.kind in "iub"
    out = x.astype(np.float32) if integer_noise else x.copy()
    if mode == "swap":
        if len(np.unique(labels)) < 2:
            raise InvalidValueError("corrupt_samples: 'swap' needs at least 2 classes; got 1.")
        for i in chosen:
            others = np.flatnonzero(labels != labels[i])
            source[i] = others[rng.integers(len(others))]
        out[chosen] = x[source[chosen]]
    elif mode == "noise":
        shape = (len(chosen),) + x.shape[1:]
        if value_range is not None:
            lo, hi = value_range
            out[chosen] = rng.integers(lo, hi + 1, size=shape).astype(x.dtype)
        else:
            mean, std = x.mean(axis=0), x.std(axis=0)
            out[chosen] = (mean + std * rng.standard_normal(shape)).astype(out.dtype)
    else:
        raise InvalidValueError(f"corrupt_samples: 'mode' must be one of {CORRUPT_MODES}; got {mode!r}.")
    return out, mask, source
