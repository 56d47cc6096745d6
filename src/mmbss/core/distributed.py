"""What the core needs from ``torch.distributed``: whether a process group is up, and the gathers
that make every rank hold the same per-sample values (SPEC §5 under DDP).

Per-sample values are merged *raw* (criteria, logits), never normalised per shard: the balance
score's min-max normalisation runs once, over the whole set, on every rank. All functions are
no-ops on one process, so the same code runs with and without ``torchrun``.
"""

from __future__ import annotations

import hashlib

import torch
import torch.distributed as dist

__all__ = ["is_distributed", "world_size", "rank", "merge_by_index", "all_reduce_sum",
           "check_same_everywhere", "gather_seconds"]

_GATHER_SECONDS = [0.0]


def gather_seconds() -> float:
    """Wall seconds this process spent in :func:`merge_by_index` (the gathers of scores and
    outputs) so far; for benchmarks."""
    return _GATHER_SECONDS[0]


def is_distributed() -> bool:
    """A ``torch.distributed`` process group is initialised and holds more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _comm_device() -> torch.device:
    """Where collective tensors must live: CUDA for nccl, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _all_gather(t: torch.Tensor) -> list[torch.Tensor]:
    dev = _comm_device()
    x = t.to(dev)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return [p.to(t.device, t.dtype) for p in parts]


def merge_by_index(values: dict[str, torch.Tensor], seen: torch.Tensor,
                   priority: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Merge per-sample tensors held by each rank into the same full tensors on every rank.

    Args:
        values: ``{name: Tensor[N, ...]}``; rows this rank did not produce are ignored.
        seen: BoolTensor[N], the rows this rank produced.
        priority: optional Tensor[N] (e.g. the step a row was recorded at): where several ranks
            hold a row, the highest priority wins (ties: the lowest rank). Without it the lowest
            rank holding the row wins.
    Returns:
        ``(merged values, merged seen)``, identical on every rank. Without a process group the
        inputs are returned unchanged.
    """
    if not is_distributed():
        return values, seen
    import time

    t0 = time.perf_counter()
    try:
        return _merge(values, seen, priority)
    finally:
        _GATHER_SECONDS[0] += time.perf_counter() - t0


def _merge(values, seen, priority):
    seens = _all_gather(seen)
    prios = _all_gather(priority) if priority is not None else None
    best = torch.full(seen.shape, -1, dtype=torch.long)
    if prios is None:
        for r in range(len(seens) - 1, -1, -1):
            best[seens[r]] = r
    else:
        top = torch.full(seen.shape, torch.iinfo(torch.long).min, dtype=torch.long)
        for r, (s, p) in enumerate(zip(seens, prios, strict=True)):
            take = s & (p.long() > top)
            best[take], top[take] = r, p.long()[take]
    merged = {}
    for name, v in values.items():
        parts = _all_gather(v)
        out = torch.zeros_like(v)
        for r, part in enumerate(parts):
            rows = best == r
            out[rows] = part[rows]
        merged[name] = out
    return merged, best >= 0


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum of ``t`` over the ranks (``t`` itself on one process); returns a new tensor on
    ``t``'s device."""
    if not is_distributed():
        return t
    x = t.detach().to(_comm_device()).clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x.to(t.device)


def check_same_everywhere(what: str, t: torch.Tensor, hint: str | None = None) -> None:
    """Raise on every rank when ``t`` differs between ranks, naming the ranks that differ from
    rank 0 (one all-gather of a 64-bit digest, not of ``t``)."""
    if not is_distributed():
        return
    from .errors import InvalidValueError

    digest = hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).digest()
    mine = torch.tensor([int.from_bytes(digest[:8], "little", signed=True)], dtype=torch.long)
    digests = [int(d) for d in _all_gather(mine)]
    differ = [r for r, d in enumerate(digests) if d != digests[0]]
    if differ:
        hint = hint or ("every rank must build it from the same scheduler state (the same seed, "
                        "epoch and scores: merge online scores with OnlineScoreTracker.merge() "
                        "and score with score_dataset/score_criteria on every rank)")
        raise InvalidValueError(f"{what} differs between ranks: rank(s) {differ} hold another one "
                                f"than rank 0; {hint}.")
