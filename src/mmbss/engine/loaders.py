"""The DataLoaders of a run: one for training (the BSS batch order) and one per eval pass.

Every loader uses ``train.num_workers`` worker processes, ``pin_memory`` on CUDA, persistent
workers when there are any, :func:`mmbss.data.collate_samples`, and a generator of its own (the
global RNG is never drawn from).
"""

from __future__ import annotations

from torch.utils.data import DataLoader, Dataset, Sampler

from ..core._rng import generator
from ..data import collate_samples
from ..data.paper import EpochIndex

__all__ = ["train_loader", "eval_loader", "Batches"]


def _common(num_workers: int, device, seed: int, stream: str) -> dict:
    return {"collate_fn": collate_samples, "num_workers": num_workers,
            "pin_memory": device.type == "cuda", "persistent_workers": num_workers > 0,
            "generator": generator(seed, stream)}


def train_loader(dataset: Dataset, batch_sampler: Sampler, *, num_workers: int, device,
                 seed: int) -> DataLoader:
    """Batches in the order of ``batch_sampler`` (the scheduler's sequence)."""
    return DataLoader(dataset, batch_sampler=batch_sampler,
                      **_common(num_workers, device, seed, "train-loader"))


def eval_loader(dataset: Dataset, batch_size: int, *, num_workers: int, device,
                seed: int) -> DataLoader:
    """The whole dataset in index order, ``batch_size`` samples at a time."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False,
                      **_common(num_workers, device, seed, "eval-loader"))


class Batches(Sampler):
    """The epoch's global batches of ``batch_size`` indices from ``sampler`` (the whole sequence),
    and this rank's part of each, built lazily.

    * A last batch of a single sample joins the batch before it (BatchNorm cannot train on one
      sample, and dropping it would lose data); with ``num_replicas`` > 2 a last batch of fewer
      samples than ranks joins it too (else a rank would have nothing to train on).
    * **Elastic determinism**: the global batches do not depend on ``num_replicas`` (except in
      that last case), so at a fixed ``batch_size`` the set of samples of global step s is the
      same for any number of processes; rank r trains on the r-th of ``num_replicas`` contiguous,
      near-equal parts of it.
    * :attr:`skip` global batches are skipped at the start of the next iteration (a resume
      inside an epoch); it is reset to 0 afterwards.
    * With ``tag_seed`` set (a dataset with random transforms), every index is an
      :class:`~mmbss.data.paper.EpochIndex` carrying that seed and the sampler's epoch, so the
      dataset draws its augmentation from ``(seed, epoch, index)``: the same crops with any
      number of workers and after a resume.
    """

    def __init__(self, sampler: Sampler, batch_size: int, num_replicas: int = 1, rank: int = 0,
                 tag_seed: int | None = None):
        self.sampler, self.batch_size = sampler, batch_size
        self.num_replicas, self.rank, self.skip = num_replicas, rank, 0
        self.tag_seed = tag_seed

    def _min_last(self) -> int:
        return max(2, self.num_replicas) if self.batch_size > 1 else 1

    def global_sizes(self) -> list[int]:
        """The sizes of this epoch's global batches (skipped ones included)."""
        n = len(self.sampler)
        full, rest = divmod(n, self.batch_size)
        sizes = [self.batch_size] * full
        if rest and sizes and rest < self._min_last():
            sizes[-1] += rest
        elif rest:
            sizes.append(rest)
        return sizes

    def __len__(self) -> int:
        return max(0, len(self.global_sizes()) - self.skip)

    def _part(self, batch: list[int]) -> list[int]:
        if self.num_replicas > 1:
            size, extra = divmod(len(batch), self.num_replicas)
            start = self.rank * size + min(self.rank, extra)
            batch = batch[start:start + size + (self.rank < extra)]
        if self.tag_seed is not None:
            epoch = getattr(self.sampler, "epoch", 0)
            batch = [EpochIndex(i, self.tag_seed, epoch) for i in batch]
        return batch

    def __iter__(self):  # one batch ahead, so that a short last batch can join it
        skip, self.skip = self.skip, 0
        batch, previous, j = [], None, 0
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                if previous is not None:
                    if j >= skip:
                        yield self._part(previous)
                    j += 1
                previous, batch = batch, []
        if previous is not None and 0 < len(batch) < self._min_last():
            previous, batch = previous + batch, []
        for last in (previous, batch):
            if last:
                if j >= skip:
                    yield self._part(last)
                j += 1
