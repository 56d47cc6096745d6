"""A ``torch.utils.data.Sampler`` that feeds a scheduler's sequence to one or many processes.

It follows the contract of ``torch.utils.data.DistributedSampler``: every rank computes the same
global sequence (same seed and epoch), pads it from its head to a multiple of ``num_replicas`` (or
truncates it with ``drop_last``), and rank r takes ``sequence[r::num_replicas]``.

**Length changes with the curriculum.** ``len(sampler)`` is the per-rank length of the epoch set by
the last :meth:`BalanceSampler.set_epoch`; ``DataLoader.__len__`` calls it afresh each time, so
``len(loader)`` (and a tqdm bar built from it) follows the curriculum subset once ``set_epoch`` has
been called for that epoch. Call ``set_epoch(epoch)`` before iterating, on every rank.

**Scores across ranks.** Every rank must call ``scheduler.update`` with the same full vector. Score
``shard(torch.arange(N), R, r)`` on rank r (equal lengths, as ``all_gather`` needs), all-gather the
indices and the scores, and write ``scores[indices] = values`` (a padded index is written twice,
with the same value); ``tests/core/test_samplers_distributed.py`` does this with two processes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from ._validation import check_bool, check_int
from .distributed import check_same_everywhere
from .errors import InvalidTypeError, InvalidValueError

__all__ = ["BalanceSampler", "shard"]


def shard(sequence: torch.Tensor, num_replicas: int, rank: int, drop_last: bool = False) -> torch.Tensor:
    """Rank ``rank``'s share of ``sequence`` under the DistributedSampler rule.

    Args:
        sequence: LongTensor[L], the global sequence.
        num_replicas: number of ranks R >= 1; rank: in [0, R).
        drop_last: truncate to a multiple of R instead of padding from the head.
    Returns:
        LongTensor[ceil(L / R)] (or floor(L / R) with ``drop_last``).
    Raises:
        TypeError: ``sequence`` is not an integer Tensor.
        ValueError: ``sequence`` is not 1-D or is empty, a bad ``num_replicas`` or ``rank``, or
            ``drop_last`` leaves a rank with nothing (L < R).
    """
    if (not isinstance(sequence, torch.Tensor) or sequence.dtype == torch.bool
            or sequence.is_floating_point() or sequence.is_complex()):
        shown = (f"Tensor of dtype {sequence.dtype}" if isinstance(sequence, torch.Tensor)
                 else type(sequence).__name__)
        raise InvalidTypeError(f"shard: 'sequence' must be a 1-D integer Tensor of sample indices (e.g. "
                               f"torch.arange(N)); got {shown}.")
    if sequence.dim() != 1:
        raise InvalidValueError(f"shard: 'sequence' must be a 1-D integer Tensor of sample indices; got "
                                f"shape {tuple(sequence.shape)}.")
    if sequence.numel() == 0:
        raise InvalidValueError("shard: 'sequence' is empty; there is nothing to share out (give at least "
                                "one index).")
    check_int("shard", "num_replicas", num_replicas, low=1)
    check_int("shard", "rank", rank, low=0, high=num_replicas - 1)
    length = sequence.numel()
    per_rank = length // num_replicas if drop_last else math.ceil(length / num_replicas)
    if per_rank == 0:
        raise InvalidValueError(f"BalanceSampler: the epoch has {length} sample(s), fewer than "
                         f"num_replicas={num_replicas}; use drop_last=False or a larger subset "
                                f"(e.g. min_samples on the scheduler).")
    total = per_rank * num_replicas
    if total > length:  # pad from the head, repeating if the padding exceeds the sequence
        reps = math.ceil(total / length)
        sequence = sequence.repeat(reps)
    sequence = sequence[:total]
    mine = sequence[rank:total:num_replicas]
    if mine.numel() != per_rank:
        raise RuntimeError(f"BalanceSampler: rank {rank} got {mine.numel()} indices, expected "
                           f"{per_rank}; this is a bug, please report it.")
    return mine


class BalanceSampler(Sampler[int]):
    """Yields this rank's share of ``scheduler.indices(epoch)``.

    Under an initialised process group, every epoch's first iteration checks that all ranks hold
    the same sequence (one all-gather of a 64-bit digest) and raises on every rank, naming the
    ranks that differ, when they do not.

    Args:
        scheduler: any mmbss scheduler (it decides the global sequence).
        num_replicas: number of processes; default: the world size of the initialised
            ``torch.distributed`` group, else 1.
        rank: this process's rank; default: ``torch.distributed`` rank, else 0.
        drop_last: truncate the sequence to a multiple of ``num_replicas`` instead of padding.
    Raises:
        TypeError: ``scheduler`` has no ``indices()`` and ``epoch_size()``, or an option of the
            wrong type.
        ValueError: ``rank`` outside ``[0, num_replicas)``.

    Examples:
        >>> from mmbss import UniformScheduler
        >>> sampler = BalanceSampler(UniformScheduler(num_samples=10, seed=0), num_replicas=4, rank=1)
        >>> sampler.set_epoch(0)
        >>> len(sampler), len(list(sampler))
        (3, 3)
    """

    def __init__(self, scheduler, *, num_replicas: int | None = None, rank: int | None = None,
                 drop_last: bool = False):
        if not all(callable(getattr(scheduler, m, None)) for m in ("indices", "epoch_size")):
            raise InvalidTypeError(f"BalanceSampler: 'scheduler' must be an mmbss scheduler (with "
                                   f"indices() and epoch_size()); got {_short(scheduler)}.")
        if num_replicas is None:
            num_replicas = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if rank is None:
            rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        self.num_replicas = check_int("BalanceSampler", "num_replicas", num_replicas, low=1)
        self.rank = check_int("BalanceSampler", "rank", rank, low=0)
        if rank >= num_replicas:
            raise InvalidValueError(f"BalanceSampler: 'rank' must be an int in [0, {num_replicas - 1}] "
                                    f"(num_replicas={num_replicas}); got {rank}.")
        self.drop_last = check_bool("BalanceSampler", "drop_last", drop_last)
        self.scheduler = scheduler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose sequence the next iteration yields (call it on every rank)."""
        self.epoch = check_int("BalanceSampler", "epoch", epoch, low=0)

    def __len__(self) -> int:
        n = self.scheduler.epoch_size(self.epoch)
        return n // self.num_replicas if self.drop_last else math.ceil(n / self.num_replicas)

    def __iter__(self) -> Iterator[int]:
        sequence = self.scheduler.indices(self.epoch)
        if self.num_replicas > 1:  # once per epoch: every rank must share out the same sequence
            check_same_everywhere(f"BalanceSampler: the sequence of epoch {self.epoch}", sequence)
        mine = shard(sequence, self.num_replicas, self.rank, self.drop_last)
        return iter(mine.tolist())

    def state_dict(self) -> dict:
        """The sampler's own state: the current epoch."""
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (raises on missing or extra keys)."""
        if set(state) != {"epoch"}:
            raise KeyError(f"BalanceSampler.load_state_dict: expected keys ['epoch']; got {sorted(state)}.")
        self.set_epoch(state["epoch"])

    def __repr__(self) -> str:
        return (f"BalanceSampler({self.scheduler!r}, num_replicas={self.num_replicas}, "
                f"rank={self.rank}, drop_last={self.drop_last})")


def _short(x: object) -> str:
    """``repr(x)`` for short reprs (None, a number, a name), else the type's name."""
    text = repr(x)
    return text if len(text) <= 40 and not isinstance(x, torch.Tensor) else type(x).__name__
