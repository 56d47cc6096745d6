"""Weighted sampling of a whole permutation, without replacement, at any size (SPEC §4)."""

from __future__ import annotations

import torch

from .errors import InvalidTypeError, InvalidValueError

__all__ = ["weighted_permutation", "weighted_draws"]

_FLIP = 0x7FFFFFFFFFFFFFFF  # turns float64 bit patterns into int64 values of the same order


def _check_weights(fn: str, weights: torch.Tensor, name: str = "weights") -> torch.Tensor:
    if not isinstance(weights, torch.Tensor):
        raise InvalidTypeError(f"{fn}: '{name}' must be a 1-D Tensor; got {type(weights).__name__}.")
    if weights.dim() != 1:
        raise InvalidValueError(f"{fn}: '{name}' must be a 1-D Tensor; got {weights.shape}.")
    if weights.numel() == 0:
        raise InvalidValueError(f"{fn}: '{name}' is empty; there is nothing to order.")
    return weights.detach().double()


def _check_generator(fn: str, generator: object) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InvalidTypeError(f"{fn}: 'generator' must be a torch.Generator or None; got "
                               f"{generator!r}.")


def _log_weights(fn: str, weights, log_weights) -> torch.Tensor:
    """Validated log-weights, float64 Tensor[N]; -inf marks a zero weight."""
    if (weights is None) == (log_weights is None):
        raise InvalidValueError(f"{fn}: pass exactly one of 'weights' and 'log_weights'.")
    if log_weights is not None:
        lw = _check_weights(fn, log_weights, "log_weights")
        bad = int((torch.isnan(lw) | (lw == float("inf"))).sum())
        if bad:
            raise InvalidValueError(f"{fn}: 'log_weights' holds {bad} NaN or +inf value(s); use finite "
                                    f"values (-inf for a zero weight).")
    else:
        w = _check_weights(fn, weights)
        if not (bool(torch.isfinite(w).all()) and bool((w >= 0).all())):  # details only on failure
            nan = int(torch.isnan(w).sum())
            if nan:
                raise InvalidValueError(f"{fn}: 'weights' holds {nan} NaN value(s); weights must be "
                                        f"finite and >= 0.")
            raise InvalidValueError(f"{fn}: 'weights' must be finite and >= 0; got {int((w < 0).sum())} "
                                    f"negative and {int(torch.isinf(w).sum())} infinite value(s).")
        lw = w.log()
    top = lw.max()
    if top == float("-inf"):
        raise InvalidValueError(f"{fn}: all weights are zero; at least one must be > 0.")
    return lw - top  # scale-free: the largest weight becomes 1 (log 0), so log E keeps its precision


def weighted_permutation(weights: torch.Tensor | None = None, generator: torch.Generator | None = None,
                         *, log_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Draw a permutation of ``range(N)`` by sequential weighted sampling without replacement.

    Uses exponential keys: item i gets key ``log E_i - log w_i`` with ``E_i ~ Exp(1)`` (the log of
    ``E_i / w_i``) and items are taken in ascending key order. This has the distribution of
    ``torch.multinomial(w, N, replacement=False)`` (repeatedly draw i with probability
    ``w_i / sum of the weights left``), costs O(N log N) and has no size limit (``torch.multinomial``
    refuses more than 2**24 categories). Working with logs (shifted so that the largest weight is
    1), weights far below the largest (``log_weights`` down to about -1e15 relative to it) keep
    their order instead of underflowing to zero. Zero-weight items are never
    drawn while a positive weight is left, so they come last, in index order.

    The keys are sorted with a stable argsort. On the CPU (N <= 2**31) that argsort is done as one
    sort of plain int64 values that pack each key, quantised, with its index (numpy's SIMD sort),
    then keys that share a quantisation step are re-sorted by their full value — the same result as
    ``torch.sort(keys, stable=True)``, about 2x faster than ``torch.multinomial``
    (``benchmarks/bench_sampler.py``).

    Args:
        weights: Tensor[N] of finite, non-negative weights, not all zero (on any device).
        generator: a ``torch.Generator`` on the weights' device for reproducible draws.
        log_weights: instead of ``weights``, their natural logs (-inf for a zero weight).
    Returns:
        LongTensor[N], a permutation of ``0..N-1`` (on the weights' device).
    Raises:
        TypeError: weights that are not a Tensor, or a ``generator`` that is not one.
        ValueError: empty, not 1-D, NaN, negative, infinite or all-zero weights.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> p = weighted_permutation(torch.tensor([1.0, 2.0, 0.0, 5.0]), generator=g)
        >>> sorted(p.tolist()), int(p[-1])
        ([0, 1, 2, 3], 2)
    """
    _check_generator("weighted_permutation", generator)
    lw = _log_weights("weighted_permutation", weights, log_weights)
    keys = torch.empty_like(lw).exponential_(generator=generator).log_().sub_(lw)  # zero w: +inf
    del lw
    index_bits = max(1, (keys.numel() - 1).bit_length())
    if keys.device.type != "cpu" or index_bits > 31:
        return torch.sort(keys, stable=True).indices
    return _argsort_packed(keys, index_bits)


def _argsort_packed(keys: torch.Tensor, index_bits: int) -> torch.Tensor:
    """``torch.sort(keys, stable=True).indices`` for float64 CPU keys, via one int64 value sort.

    Each key is quantised to ``min(63 - index_bits, 52)`` bits (fixed point over the range of the finite
    keys, +inf on top) and packed with its index into one int64; numpy sorts these plain values.
    Keys that share a quantisation step are then re-sorted by their full value, so the result
    equals the stable argsort of ``keys``.
    """
    n = keys.numel()
    lo, hi = keys.min(), keys.max()
    if not (bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))):
        finite = keys[torch.isfinite(keys)]
        lo, hi = (finite.min(), finite.max()) if finite.numel() else (keys.new_zeros(()),) * 2
        del finite
    top = (1 << min(63 - index_bits, 52)) - 1  # exact in float64; step `top` is kept for +inf
    span = float(hi - lo)
    scale = (top - 1) / span if 0 < span < float("inf") else 0.0  # no span: all in step 0
    q = (keys - lo).mul_(scale).clamp_(0, top - 1)      # monotone; -inf -> 0 (fixed below)
    q.masked_fill_(keys == float("inf"), top)
    packed_t = q.to(torch.int64)                        # floor of a non-negative value
    del q
    packed_t.bitwise_left_shift_(index_bits)
    for start in range(0, n, 1 << 22):                  # add the index without an N-sized temp
        packed_t[start:start + (1 << 22)].bitwise_or_(torch.arange(start, min(n, start + (1 << 22))))
    packed = packed_t.numpy()
    packed.sort()
    order = packed_t.bitwise_and((1 << index_bits) - 1)
    step = packed_t.bitwise_right_shift_(index_bits)
    tie = step[1:] == step[:-1]
    if bool(tie.any()):  # keys in one quantisation step: order those by the full key
        member = torch.zeros(n, dtype=torch.bool)
        member[1:] |= tie
        member[:-1] |= tie
        pos = member.nonzero().squeeze(1)
        tied = order[pos]
        order[pos] = tied[torch.sort(keys[tied], stable=True).indices]
    return order


def weighted_draws(weights: torch.Tensor | None, num_draws: int,
                   generator: torch.Generator | None = None, *,
                   log_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Draw ``num_draws`` indices *with* replacement, ``P(i) = w_i / sum(w)``, at any size.

    Inverse-CDF sampling (``searchsorted`` on the cumulative weights), so unlike
    ``torch.multinomial`` it works for more than 2**24 categories.

    Args:
        weights: Tensor[N], finite, non-negative, not all zero (or None with ``log_weights``).
        num_draws: number of indices to draw (>= 0).
        generator: optional ``torch.Generator`` for reproducible draws.
        log_weights: instead of ``weights``, their natural logs.
    Returns:
        LongTensor[num_draws] of indices in ``[0, N)``.
    Raises:
        TypeError: a ``num_draws`` that is not an int, weights or ``generator`` of the wrong type.
        ValueError: a negative ``num_draws``, or weights as for :func:`weighted_permutation`.
    """
    if isinstance(num_draws, bool) or not isinstance(num_draws, int):
        raise InvalidTypeError(f"weighted_draws: 'num_draws' must be an int >= 0; got {num_draws!r}.")
    if num_draws < 0:
        raise InvalidValueError(f"weighted_draws: 'num_draws' must be an int >= 0; got {num_draws!r}.")
    _check_generator("weighted_draws", generator)
    lw = _log_weights("weighted_draws", weights, log_weights)
    cdf = torch.cumsum(lw.exp(), 0)
    u = torch.rand(num_draws, dtype=torch.float64, generator=generator, device=lw.device) * cdf[-1]
    return torch.searchsorted(cdf, u, right=True).clamp_(max=lw.numel() - 1)
