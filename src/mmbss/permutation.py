"""Weighted sampling of a whole permutation, without replacement, at any size (SPEC §4)."""

from __future__ import annotations

import torch

__all__ = ["weighted_permutation", "weighted_draws"]


def _check_weights(fn: str, weights: torch.Tensor) -> torch.Tensor:
    if not isinstance(weights, torch.Tensor) or weights.dim() != 1:
        raise ValueError(f"{fn}: 'weights' must be a 1-D Tensor; got "
                         f"{getattr(weights, 'shape', type(weights).__name__)}.")
    if weights.numel() == 0:
        raise ValueError(f"{fn}: 'weights' is empty; there is nothing to order.")
    w = weights.double()
    if not (bool(torch.isfinite(w).all()) and bool((w >= 0).all())):  # details only on failure
        nan = int(torch.isnan(w).sum())
        if nan:
            raise ValueError(f"{fn}: 'weights' holds {nan} NaN value(s); weights must be finite and >= 0.")
        raise ValueError(f"{fn}: 'weights' must be finite and >= 0; got {int((w < 0).sum())} "
                         f"negative and {int(torch.isinf(w).sum())} infinite value(s).")
    if not bool((w > 0).any()):
        raise ValueError(f"{fn}: all weights are zero; at least one must be > 0.")
    return w


def weighted_permutation(weights: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw a permutation of ``range(N)`` by sequential weighted sampling without replacement.

    Uses exponential keys: item i gets key ``E_i / w_i`` with ``E_i ~ Exp(1)`` (= ``-log U_i / w_i``)
    and items are taken in ascending key order. This has exactly the distribution of
    ``torch.multinomial(w, N, replacement=False)`` (repeatedly draw i with probability
    ``w_i / sum of the weights left``), costs O(N log N) and has no size limit (``torch.multinomial``
    refuses more than 2**24 categories). Zero-weight items are never drawn while a positive weight
    is left, so they come last, in index order.

    Args:
        weights: Tensor[N] of finite, non-negative weights, not all zero (on any device).
        generator: a ``torch.Generator`` on the weights' device for reproducible draws.
    Returns:
        LongTensor[N], a permutation of ``0..N-1`` (on the weights' device).
    Raises:
        ValueError: empty, not 1-D, NaN, negative, infinite or all-zero weights.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> p = weighted_permutation(torch.tensor([1.0, 2.0, 0.0, 5.0]), generator=g)
        >>> sorted(p.tolist()), int(p[-1])
        ([0, 1, 2, 3], 2)
    """
    w = _check_weights("weighted_permutation", weights)
    n = w.numel()
    keys = torch.empty_like(w).exponential_(generator=generator).div_(w / w.max())  # 0 -> inf
    index_bits = max(1, (n - 1).bit_length())
    if w.device.type != "cpu" or index_bits > 31:
        keys[w == 0] = float("inf")
        return torch.sort(keys, stable=True).indices
    # Fast path: positive float64 keys order like their bit patterns; keep the top
    # 64 - index_bits bits and put the index in the rest, then sort plain int64 values (numpy's
    # SIMD sort) instead of an argsort. Zero weights get the largest key (after every positive one).
    bits = keys.view(torch.int64)
    bits.masked_fill_(w == 0, torch.iinfo(torch.int64).max)
    bits.bitwise_right_shift_(index_bits).bitwise_left_shift_(index_bits)
    bits.bitwise_or_(torch.arange(n, dtype=torch.int64))
    packed = bits.numpy()
    packed.sort()
    return torch.from_numpy(packed).bitwise_and_((1 << index_bits) - 1)


def weighted_draws(weights: torch.Tensor, num_draws: int,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``num_draws`` indices *with* replacement, ``P(i) = w_i / sum(w)``, at any size.

    Inverse-CDF sampling (``searchsorted`` on the cumulative weights), so unlike
    ``torch.multinomial`` it works for more than 2**24 categories.

    Args:
        weights: Tensor[N], finite, non-negative, not all zero.
        num_draws: number of indices to draw (>= 0).
        generator: optional ``torch.Generator`` for reproducible draws.
    Returns:
        LongTensor[num_draws] of indices in ``[0, N)``.
    """
    w = _check_weights("weighted_draws", weights)
    cdf = torch.cumsum(w, 0)
    u = torch.rand(num_draws, dtype=torch.float64, generator=generator, device=w.device) * cdf[-1]
    return torch.searchsorted(cdf, u, right=True).clamp_(max=w.numel() - 1)
