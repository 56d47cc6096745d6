import pytest
import torch
from mmbss.samplers import shard
from torch.utils.data import DataLoader, TensorDataset

from mmbss import BalanceSampler, CurriculumScheduler, LearningBasedScheduler, UniformScheduler


def _ref_distributed(seq, replicas, rank, drop_last):
    """The DistributedSampler rule, written out plainly."""
    seq = seq.tolist()
    if drop_last:
        total = (len(seq) // replicas) * replicas
        seq = seq[:total]
    else:
        total = -(-len(seq) // replicas) * replicas
        while len(seq) < total:
            seq = seq + seq[: total - len(seq)]
    return seq[rank:total:replicas]


@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n", [1, 7, 10, 12])
def test_shards_disjoint_covering_equal_and_like_distributed_sampler(replicas, drop_last, n):
    sched = UniformScheduler(num_samples=n, seed=0)
    if drop_last and n < replicas:
        with pytest.raises(ValueError, match="fewer than num_replicas"):
            list(BalanceSampler(sched, num_replicas=replicas, rank=0, drop_last=True))
        return
    shards = []
    for rank in range(replicas):
        s = BalanceSampler(sched, num_replicas=replicas, rank=rank, drop_last=drop_last)
        s.set_epoch(2)
        got = list(s)
        assert len(got) == len(s)
        assert got == _ref_distributed(sched.indices(2), replicas, rank, drop_last)
        shards.append(got)
    assert len({len(x) for x in shards}) == 1
    flat = [i for x in shards for i in x]
    if drop_last:
        assert len(set(flat)) == len(flat)  # disjoint
    else:
        assert set(flat) == set(range(n))  # covering
        if n % replicas == 0:
            assert len(set(flat)) == len(flat)


def test_padding_larger_than_sequence_repeats():
    assert shard(torch.tensor([5]), 3, 2).tolist() == [5]
    assert shard(torch.tensor([1, 2]), 4, 3).tolist() == [2]


def test_length_follows_curriculum_and_dataloader_sees_it():
    sched = CurriculumScheduler(num_samples=100, pacing="linear", lambda0=0.1, t_grow=10, seed=0)
    sched.update(torch.rand(100))
    sampler = BalanceSampler(sched, num_replicas=2, rank=1)
    loader = DataLoader(TensorDataset(torch.arange(100)), batch_size=8, sampler=sampler)
    sizes = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        items = torch.cat([b[0] for b in loader])
        sizes.append((len(sampler), len(loader), items.numel()))
    assert sizes == [(10, 2, 10), (14, 2, 14), (19, 3, 19)]


def test_state_round_trip_and_bad_input():
    sched = LearningBasedScheduler(num_samples=20, seed=4)
    sched.update(torch.rand(20))
    a = BalanceSampler(sched, num_replicas=2, rank=0)
    a.set_epoch(5)
    restored = LearningBasedScheduler(num_samples=20, seed=4)
    restored.load_state_dict(sched.state_dict())
    b = BalanceSampler(restored, num_replicas=2, rank=0)
    b.load_state_dict(a.state_dict())
    assert b.epoch == 5 and list(a) == list(b)
    with pytest.raises(ValueError, match=r"BalanceSampler: 'rank' must be an int in \[0, 1\] \(num_replicas=2\); got 2"):
        BalanceSampler(sched, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match=r"BalanceSampler: 'num_replicas' must be an int >= 1; got 0"):
        BalanceSampler(sched, num_replicas=0, rank=0)
    with pytest.raises(KeyError, match="expected keys"):
        a.load_state_dict({})


def test_defaults_to_single_process():
    s = BalanceSampler(UniformScheduler(num_samples=5))
    assert (s.num_replicas, s.rank) == (1, 0)
    assert sorted(s) == list(range(5))


def test_shard_validates_its_arguments():
    with pytest.raises(ValueError, match=r"shard: 'rank' must be an int in \[0, 2\]; got 5"):
        shard(torch.arange(4), 3, 5)
    with pytest.raises(ValueError, match=r"shard: 'num_replicas' must be an int >= 1; got 0"):
        shard(torch.arange(4), 0, 0)


@pytest.mark.parametrize("scheduler", [None, object(), torch.arange(4)])
def test_sampler_needs_a_scheduler(scheduler):
    with pytest.raises(TypeError, match=r"^BalanceSampler: 'scheduler' must be an mmbss "
                                        r"scheduler \(with indices\(\) and epoch_size\(\)\); got "):
        BalanceSampler(scheduler, num_replicas=1, rank=0)
    with pytest.raises(TypeError, match=r"epoch_size\(\)\); got None\.$"):
        BalanceSampler(None)


def test_shard_needs_a_non_empty_1d_integer_tensor():
    with pytest.raises(TypeError, match=r"^shard: 'sequence' must be a 1-D integer Tensor of "
                                        r"sample indices \(e\.g\. torch\.arange\(N\)\); "
                                        r"got list\.$"):
        shard([1, 2, 3], 2, 0)
    with pytest.raises(TypeError, match=r"got Tensor of dtype torch\.float32\.$"):
        shard(torch.zeros(3), 2, 0)
    with pytest.raises(ValueError, match=r"^shard: 'sequence' must be a 1-D integer Tensor of "
                                         r"sample indices; got shape \(2, 2\)\.$"):
        shard(torch.zeros(2, 2, dtype=torch.long), 2, 0)
    for drop_last in (False, True):
        with pytest.raises(ValueError, match=r"^shard: 'sequence' is empty; there is nothing to "
                                             r"share out \(give at least one index\)\.$"):
            shard(torch.arange(0), 2, 0, drop_last)
    with pytest.raises(ValueError, match=r"^BalanceSampler: the epoch has 1 sample\(s\), fewer "
                                         r"than num_replicas=2; use drop_last=False"):
        shard(torch.arange(1), 2, 0, drop_last=True)
