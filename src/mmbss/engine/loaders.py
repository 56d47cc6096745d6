"""The DataLoaders of a run: one for training (the BSS batch order) and one per eval pass.

Every loader uses ``train.num_workers`` worker processes, ``pin_memory`` on CUDA, persistent
workers when there are any, :func:`mmbss.data.collate_samples`, and a generator of its own (the
global RNG is never drawn from).
"""

from __future__ import annotations

from torch.utils.data import DataLoader, Dataset, Sampler

from ..core._rng import generator
from ..data import collate_samples

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
    """Batches of ``batch_size`` indices from ``sampler``, built lazily; a last batch of a single
    sample joins the batch before it (BatchNorm cannot train on one sample, and dropping it would
    lose data)."""

    def __init__(self, sampler: Sampler, batch_size: int):
        self.sampler, self.batch_size = sampler, batch_size

    def __len__(self) -> int:
        full, rest = divmod(len(self.sampler), self.batch_size)
        return full + (rest > 1 or (rest == 1 and full == 0))

    def __iter__(self):  # one batch ahead, so that a last single sample can join it
        batch, previous = [], None
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                if previous is not None:
                    yield previous
                previous, batch = batch, []
        if previous is not None and len(batch) == 1 and self.batch_size > 1:
            previous, batch = previous + batch, []
        if previous is not None:
            yield previous
        if batch:
            yield batch
