"""BalanceSampler under a real torch.distributed group (gloo, 2 CPU processes on loopback)."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmbss.samplers import shard

from mmbss import BalanceSampler, LearningBasedScheduler


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        n = 23
        sched = LearningBasedScheduler(num_samples=n, seed=7)
        sampler = BalanceSampler(sched)  # replicas and rank from the process group
        # each rank scores its (padded, equal-length) shard; all_gather of (index, score) pairs
        # assembles the full vector on every rank
        local = shard(torch.arange(n), world, rank)
        values = (local.double() / n) * 2
        idx = [torch.zeros_like(local) for _ in range(world)]
        val = [torch.zeros_like(values) for _ in range(world)]
        dist.all_gather(idx, local)
        dist.all_gather(val, values)
        scores = torch.full((n,), float("nan"), dtype=torch.float64)
        scores[torch.cat(idx)] = torch.cat(val)
        sched.update(scores)
        sampler.set_epoch(3)
        torch.save({"replicas": sampler.num_replicas, "rank": sampler.rank, "items": list(sampler),
                    "len": len(sampler), "scores": scores}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_group_shards_one_global_sequence(tmp_path):
    if not dist.is_available():
        pytest.skip("torch.distributed is not built into this torch")
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    assert (r0["replicas"], r0["rank"], r1["rank"]) == (2, 0, 1)
    assert torch.equal(r0["scores"], r1["scores"])            # same scores on every rank
    assert torch.equal(r0["scores"], torch.arange(23).double() / 23 * 2)  # every sample scored
    assert r0["len"] == r1["len"] == 12 == len(r0["items"]) == len(r1["items"])
    # the union is the whole set plus one padded sample taken from the head of the sequence
    sched = LearningBasedScheduler(num_samples=23, seed=7)
    sched.update(r0["scores"])
    seq = sched.indices(3).tolist()
    assert r0["items"] == (seq + seq[:1])[0::2] and r1["items"] == (seq + seq[:1])[1::2]
