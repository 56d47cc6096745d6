"""What a 2-process BSS run must show, per epoch and rank (shared by the Lightning and the
Accelerate tests). A run folder holds ``rank<r>.pt``, ``{epoch: {"batches": [[index, ...], ...],
"len": len(loader), "epoch_size", "scored", "scores", ...}}``, and ``single.pt``, ``{epoch:
scores of a single-process pass with the weights the epoch was scored with}``, as the workers
write them."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from mmbss import CurriculumScheduler, LearningBasedScheduler, shard

BATCH = 32  # the examples' batch size
N = 200     # the workers' training samples (the first 200 of mfeat's training split)


def make_scheduler(method: str):
    """The examples' schedulers (examples/lightning_bss.py and accelerate_bss.py)."""
    if method == "cl":
        return CurriculumScheduler(num_samples=N, pacing="root", lambda0=0.3, t_grow=3, seed=0)
    return LearningBasedScheduler(num_samples=N, eps=0.01, seed=0)


def flat(batches: list[list[int]]) -> list[int]:
    return [i for b in batches for i in b]


def load_ranks(folder: Path) -> list[dict]:
    return [torch.load(folder / f"rank{r}.pt") for r in range(2)]


def check_run(ranks: list[dict], method: str, epochs: list[int]) -> None:
    """Both ranks trained, in order, on their shards of the sequence the scheduler builds from
    the scores they both hold; the batch counts are len(loader)."""
    assert sorted(ranks[0]) == sorted(ranks[1]) == epochs
    for e in epochs:
        r0, r1 = ranks[0][e], ranks[1][e]
        assert torch.equal(r0["scores"], r1["scores"]), e             # the same scores everywhere
        sched = make_scheduler(method)
        sched.update(r0["scores"])
        seq = sched.indices(e)
        assert len(seq) == sched.epoch_size(e) == r0["epoch_size"] == r1["epoch_size"]
        for rank, log in enumerate((r0, r1)):
            mine = shard(seq, 2, rank).tolist()
            assert flat(log["batches"]) == mine, (e, rank)            # this shard, in BSS order
            assert len(log["batches"]) == log["len"] == math.ceil(len(mine) / BATCH), (e, rank)
        got0, got1 = set(flat(r0["batches"])), set(flat(r1["batches"]))
        assert got0 | got1 == set(seq.tolist())                        # the shards cover the epoch
        pad = 2 * math.ceil(len(seq) / 2) - len(seq)
        assert got0 & got1 == set(seq[:pad].tolist())                  # disjoint but the padding


def check_growing_curriculum(ranks: list[dict]) -> None:
    sizes = [ranks[0][e]["epoch_size"] for e in sorted(ranks[0])]
    assert sizes == [make_scheduler("cl").epoch_size(e) for e in sorted(ranks[0])]
    assert sizes == sorted(set(sizes)) and sizes[-1] == N                # strictly growing to N


def check_single_process_scores(ranks: list[dict], folder: Path, epochs: list[int]) -> None:
    """The scores of the scored epochs equal one process's pass with the same weights."""
    single = torch.load(folder / "single.pt")
    for e in epochs:
        assert ranks[0][e]["scored"] and ranks[1][e]["scored"] and e in single, e
        assert torch.allclose(ranks[0][e]["scores"].float(), single[e], atol=1e-5), e


def check_resumed(full: list[dict], resumed: list[dict], epochs: list[int]) -> None:
    """The run resumed from a checkpoint trains what the uninterrupted run trained."""
    for rank in (0, 1):
        assert sorted(resumed[rank]) == epochs
        for e in epochs:
            assert resumed[rank][e]["batches"] == full[rank][e]["batches"], (rank, e)
            assert torch.allclose(resumed[rank][e]["scores"], full[rank][e]["scores"], atol=1e-6)
