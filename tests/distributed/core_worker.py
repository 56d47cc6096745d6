"""Run under torchrun by tests/core/test_core_distributed.py: the core's gathers, the tracker
merge and the sampler's sequence check on real ranks. Writes rank<r>.pt into argv[1]."""

import sys

import torch
import torch.distributed as dist

from mmbss import (
    BalanceSampler,
    BalanceScorer,
    CurriculumScheduler,
    LearningBasedScheduler,
    OnlineScoreTracker,
    UniformScheduler,
    score_dataset,
    shard,
)
from mmbss.core.errors import CallOrderError
from mmbss.core.passes import collect_outputs


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.f = torch.nn.Linear(5, 3), torch.nn.Linear(4, 3), torch.nn.Linear(9, 3)

    def forward(self, x):
        za, zb = self.a(x["a"]), self.b(x["b"])
        return self.f(torch.cat([x["a"], x["b"]], 1)), {"a": za, "b": zb}


def batches(indices, data, size=4):
    for chunk in torch.as_tensor(indices).split(size):
        yield {"modalities": {k: v[chunk] for k, v in data["x"].items()},
               "label": data["y"][chunk], "index": chunk}


def main(out: str) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    gen = torch.Generator().manual_seed(1)
    n = 37
    data = {"x": {"a": torch.randn(n, 5, generator=gen), "b": torch.randn(n, 4, generator=gen)},
            "y": torch.randint(0, 3, (n,), generator=gen)}
    net, result = Net(), {}
    for corr, info in [("prediction", "loss"), (None, "loss"), ("prediction", None)]:
        scorer = BalanceScorer(correlation=corr, information=info)
        mine = shard(torch.arange(n), world, rank)  # DistributedSampler-style, padded
        result[f"d/{corr}/{info}"] = score_dataset(net, list(batches(mine, data)), scorer, num_samples=n)
        result[f"d1/{corr}/{info}"] = score_dataset(net, list(batches(torch.arange(n), data)), scorer,
                                                    num_samples=n, gather=False)
    outs = collect_outputs(net, list(batches(shard(torch.arange(n), world, rank), data)), num_samples=n)
    result["fused"], result["seen"] = outs["fused"], outs["seen"]
    # online tracker: rank r records its half of the set at step 0; at step 1 rank 0 records
    # sample 1 again and rank 1 records sample 0 (rank 0's, from step 0): the later record wins
    tracker = OnlineScoreTracker(n)
    halves = torch.arange(n).tensor_split(world)
    tracker.record(halves[rank], {"loss": halves[rank].double() + 100 * rank})
    tracker.record(torch.tensor([1 - rank]), {"loss": torch.tensor([1000.0 + rank])})
    try:
        tracker.scores(BalanceScorer(correlation=None))
        result["unmerged"] = "no error"
    except CallOrderError as e:
        result["unmerged"] = str(e)
    tracker.merge()
    result["tracker"] = tracker.criteria()["loss"]
    result["tracker_seen"] = tracker.seen.clone()
    # the sequence check: rank 1 builds its scheduler from another seed
    sched = LearningBasedScheduler(num_samples=n, seed=7 if rank == 0 or world == 1 else 8)
    sched.update(torch.rand(n, generator=torch.Generator().manual_seed(3)) * 2)
    sampler = BalanceSampler(sched)
    try:
        list(sampler)
        result["mismatch"] = "no error"
    except ValueError as e:
        result["mismatch"] = str(e)
    same = BalanceSampler(UniformScheduler(num_samples=n, seed=7))
    result["same"] = list(same)
    # every core object pickles (spawned workers, ddp_spawn, torch.save)
    import pickle

    cl = CurriculumScheduler(num_samples=n, seed=0, pacing="step")
    result["pickled"] = len(pickle.dumps([cl, sampler, tracker, BalanceScorer()]))
    torch.save(result, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
