"""Weighted sampling of a whole permutation, without replacement, at any size (SPEC §4)."""

from __future__ import annotations

import math

import torch

from .errors import InvalidTypeError, InvalidValueError

__all__ = ["weighted_permutation", "weighted_draws"]


def _check_weights(fn: str, weights: torch.Tensor, name: str = "weights") -> torch.Tensor:
    if not isinstance(weights, torch.Tensor):
        raise InvalidTypeError(f"{fn}: '{name}' must be a 1-D Tensor; got {type(weights).__name__}.")
    if weights.dim() != 1:
        raise InvalidValueError(f"{fn}: '{name}' must be a 1-D Tensor; got {weights.shape}.")
    if weights.numel() == 0:
        raise InvalidValueError(f"{fn}: '{name}' is empty; there is nothing to order.")
    w = weights.detach()
    return w if w.is_floating_point() else w.double()  # float32 stays: converted chunk by chunk


def _check_generator(fn: str, generator: object) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InvalidTypeError(f"{fn}: 'generator' must be a torch.Generator or None; got "
                               f"{generator!r}.")


_CHUNK = 1 << 16  # elements per step of the passes that must not make N-sized temporaries


def _validated(fn: str, weights, log_weights) -> tuple[torch.Tensor, bool, torch.Tensor]:
    """The caller's checked tensor, whether it holds logs, and the largest log-weight (0-d float64).

    Nothing N-sized outlives the checks: the permutation derives its log-weights chunk by chunk.
    """
    if (weights is None) == (log_weights is None):
        raise InvalidValueError(f"{fn}: pass exactly one of 'weights' and 'log_weights'.")
    if log_weights is not None:
        lw = _check_weights(fn, log_weights, "log_weights")
        top = lw.max().double()  # one pass; NaN (max propagates it) or +inf fail below
        if not bool(top < float("inf")):
            bad = int((torch.isnan(lw) | (lw == float("inf"))).sum())
            raise InvalidValueError(f"{fn}: 'log_weights' holds {bad} NaN or +inf value(s); use finite "
                                    f"values (-inf for a zero weight).")
        src, is_log = lw, True
    else:
        w = _check_weights(fn, weights)
        low, high = torch.aminmax(w)
        if not (bool(low >= 0) and bool(high < float("inf"))):  # one pass (NaN fails); details only on failure
            nan = int(torch.isnan(w).sum())
            if nan:
                raise InvalidValueError(f"{fn}: 'weights' holds {nan} NaN value(s); weights must be "
                                        f"finite and >= 0.")
            raise InvalidValueError(f"{fn}: 'weights' must be finite and >= 0; got {int((w < 0).sum())} "
                                    f"negative and {int(torch.isinf(w).sum())} infinite value(s).")
        src, is_log, top = w, False, high.double().log()
    if top == float("-inf"):
        raise InvalidValueError(f"{fn}: all weights are zero; at least one must be > 0.")
    return src, is_log, top


def _relative_log_weights(src: torch.Tensor, is_log: bool, top: torch.Tensor,
                          out: torch.Tensor | None = None) -> torch.Tensor:
    """log(w / max w) in float64 of (a chunk of) the validated tensor, into ``out`` (a new tensor
    by default; never the caller's): scale-free, so the largest weight becomes 1 (log 0) and
    log E keeps its precision; -inf marks a zero weight."""
    out = torch.empty(src.shape, dtype=torch.float64, device=src.device) if out is None else out
    return (out.copy_(src) if is_log else torch.log(src, out=out)).sub_(top)


def _log_weights(fn: str, weights, log_weights) -> torch.Tensor:
    """Validated log-weights relative to the largest, float64 Tensor[N]; -inf marks a zero weight."""
    return _relative_log_weights(*_validated(fn, weights, log_weights))


def weighted_permutation(weights: torch.Tensor | None = None, generator: torch.Generator | None = None,
                         *, log_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Draw a permutation of ``range(N)`` by sequential weighted sampling without replacement.

    Uses exponential keys: item i gets key ``log E_i - log w_i`` with ``E_i = -log(1 - U_i) ~ Exp(1)``
    (``U_i`` uniform from ``generator``; the key is the log of ``E_i / w_i``) and items are taken in
    ascending key order. This has the distribution of
    ``torch.multinomial(w, N, replacement=False)`` (repeatedly draw i with probability
    ``w_i / sum of the weights left``), costs O(N log N) and has no size limit (``torch.multinomial``
    refuses more than 2**24 categories). Working with logs (shifted so that the largest weight is
    1), weights far below the largest (``log_weights`` down to about -1e15 relative to it) keep
    their order instead of underflowing to zero. Zero-weight items are never
    drawn while a positive weight is left, so they come last, in index order.

    The keys are sorted with a stable argsort. On the CPU (N <= 2**31) that argsort is done as one
    sort of plain int64 values that pack each key, quantised, with its index (numpy's SIMD sort),
    then keys that share a quantisation step are re-sorted by their full value — the same result as
    ``torch.sort(keys, stable=True)``. The keys and the packed values are the only N-sized arrays
    (16 bytes per item at the peak, the result being one of them); at N = 10**8 this takes under
    twice the time of ``torch.randperm`` (``benchmarks/bench_sampler.py``).

    Args:
        weights: Tensor[N] of finite, non-negative weights, not all zero (on any device).
        generator: a ``torch.Generator`` on the weights' device for reproducible draws.
        log_weights: instead of ``weights``, their natural logs (-inf for a zero weight).
    Returns:
        LongTensor[N], a permutation of ``0..N-1`` (on the weights' device).
    Raises:
        TypeError: weights that are not a Tensor, or a ``generator`` that is not one.
        ValueError: empty, not 1-D, NaN, negative, infinite or all-zero weights.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> p = weighted_permutation(torch.tensor([1.0, 2.0, 0.0, 5.0]), generator=g)
        >>> sorted(p.tolist()), int(p[-1])
        ([0, 1, 2, 3], 2)
    """
    _check_generator("weighted_permutation", generator)
    src, is_log, top = _validated("weighted_permutation", weights, log_weights)
    n = src.numel()
    keys = torch.empty(n, dtype=torch.float64, device=src.device).uniform_(generator=generator)
    lw_buf = torch.empty(min(n, _CHUNK), dtype=torch.float64, device=src.device)
    zero = torch.empty(lw_buf.numel(), dtype=torch.bool, device=src.device)
    for start in range(0, n, _CHUNK):  # work buffers reused: no per-chunk heap churn
        part = src[start:start + _CHUNK]
        lw = _relative_log_weights(part, is_log, top, out=lw_buf[:part.numel()])
        z = zero[:part.numel()]
        k = keys[start:start + _CHUNK].neg_().log1p_().neg_().log_().sub_(lw)  # log E - log w
        k.masked_fill_(torch.eq(lw, float("-inf"), out=z), float("inf"))  # zero weight: last
    del lw_buf, zero, lw, z, k
    index_bits = max(1, (n - 1).bit_length())
    if keys.device.type != "cpu" or index_bits > 31:
        return torch.sort(keys, stable=True).indices
    return _argsort_packed(keys, index_bits)


def _finite_range(keys: torch.Tensor) -> tuple[float, float]:
    """Smallest and largest finite key (0, 0 when there is none), without N-sized temporaries."""
    lo, hi = float("inf"), float("-inf")
    for start in range(0, keys.numel(), _CHUNK):
        k = keys[start:start + _CHUNK]
        a, b = (float(v) for v in torch.aminmax(k))
        if not (math.isfinite(a) and math.isfinite(b)):
            k = k[torch.isfinite(k)]
            if not k.numel():
                continue
            a, b = (float(v) for v in torch.aminmax(k))
        lo, hi = min(lo, a), max(hi, b)
    return (lo, hi) if lo <= hi else (0.0, 0.0)


def _argsort_packed(keys: torch.Tensor, index_bits: int) -> torch.Tensor:
    """``torch.sort(keys, stable=True).indices`` for float64 CPU keys, via one int64 value sort.

    Each key is quantised to ``min(63 - index_bits, 52)`` bits (fixed point over the range of the finite
    keys, +inf on top) and packed with its index into one int64; numpy sorts these plain values in
    place. Keys that share a quantisation step are then re-sorted by their full value, so the result
    equals the stable argsort of ``keys``. Besides ``keys``, only the packed values (which become
    the result) are N-sized; every other pass works chunk by chunk.
    """
    n = keys.numel()
    lo, hi = _finite_range(keys)
    top = (1 << min(63 - index_bits, 52)) - 1  # exact in float64; step `top` is kept for +inf
    span = hi - lo
    scale = (top - 1) / span if 0 < span < float("inf") else 0.0  # no span: all in step 0
    packed = torch.empty(n, dtype=torch.int64)
    q_buf, inf_buf = torch.empty(min(n, _CHUNK), dtype=torch.float64), torch.empty(min(n, _CHUNK), dtype=torch.bool)
    idx_buf = torch.empty(min(n, _CHUNK), dtype=torch.int64)
    for start in range(0, n, _CHUNK):
        k = keys[start:start + _CHUNK]
        m = k.numel()
        q = torch.sub(k, lo, out=q_buf[:m]).mul_(scale).clamp_(0, top - 1)  # monotone; -inf -> 0
        q.masked_fill_(torch.eq(k, float("inf"), out=inf_buf[:m]), top)
        p = packed[start:start + m]
        p.copy_(q)                                       # floor of a non-negative value
        p.bitwise_left_shift_(index_bits).bitwise_or_(torch.arange(start, start + m, out=idx_buf[:m]))
    del q_buf, inf_buf, idx_buf, q
    packed.numpy().sort()
    mask = (1 << index_bits) - 1
    start = 0
    while start < n:  # unpack chunk by chunk; keys that share a step are ordered by the full key
        end = min(n, start + _CHUNK)
        while end < n and int(packed[end]) >> index_bits == int(packed[end - 1]) >> index_bits:
            run = packed[end:end + _CHUNK].bitwise_right_shift(index_bits)  # a run crosses: extend
            past = (run != int(packed[end - 1]) >> index_bits).nonzero()
            end = end + int(past[0]) if past.numel() else min(n, end + _CHUNK)
        chunk = packed[start:end]
        step = chunk.bitwise_right_shift(index_bits)
        tie = step[1:] == step[:-1]
        chunk.bitwise_and_(mask)
        if bool(tie.any()):
            member = torch.zeros(chunk.numel(), dtype=torch.bool)
            member[1:] |= tie
            member[:-1] |= tie
            pos = member.nonzero().squeeze(1)
            tied = chunk[pos]
            chunk[pos] = tied[torch.sort(keys[tied], stable=True).indices]
        start = end
    return packed


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
