"""BSS in an Accelerate loop: a loader without a second sharding, scoring gathered over the
processes, the BSS state in ``accelerator.save_state``.

Recipe (``examples/accelerate_bss.py`` runs it on mfeat; start it with ``torchrun``)::

    sampler = BalanceSampler(scheduler, num_replicas=accelerator.num_processes,
                             rank=accelerator.process_index)
    loader = prepare_bss_loader(accelerator, train, sampler, batch_size=32)
    state = BSSState(scheduler, loader, tracker)         # tracker: online scoring, else None
    accelerator.register_for_checkpointing(state)
    for epoch in range(state.next_epoch, epochs):
        rescore(accelerator, epoch, scheduler, scorer, model=model, eval_dataset=train_eval,
                tracker=tracker)
        loader.set_epoch(epoch)
        for batch in loader:
            ...                                          # record_step(tracker, ...) if online
        accelerator.save_state(ckpt_dir)

What it does about Accelerate's defaults (Accelerate 1.15):

* ``accelerator.prepare(loader)`` keeps the ``BalanceSampler`` but deals its batches out to the
  processes again (each process trains on half of its own shard);
  :func:`prepare_bss_loader` prepares the loader for one process (device placement only), so
  every process trains on its whole shard;
* Accelerate's loader sets the sampler's epoch from its own iteration counter, which starts at
  0 in a resumed run; :class:`BSSLoader` hands it the epoch of :meth:`BSSLoader.set_epoch`;
* ``accelerate launch --num_processes 2 --cpu`` starts one process: start CPU runs with
  ``torchrun --nproc_per_node 2`` (Accelerate reads the process group torchrun sets up).

Accelerate is imported when a loader is prepared (never by ``import mmbss``); without it,
:func:`prepare_bss_loader` raises an ``ImportError`` naming ``pip install 'mmbss[accelerate]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import torch
from torch.utils.data import DataLoader

from ..core._validation import check_int
from ..core.errors import InvalidTypeError, InvalidValueError
from ..core.samplers import BalanceSampler
from ..core.tracking import OnlineScoreTracker
from . import _check_size, _collate, _exact_criteria, _record_outputs, _rescore

__all__ = ["prepare_bss_loader", "BSSLoader", "BSSState", "exact_scores", "record_step", "rescore"]

_EXACT_LEAD = "exact_scores: the model is called on batch['modalities'], so its forward must return"
_STATE_KEYS = {"scheduler", "tracker", "next_epoch"}


def _require():
    try:
        from accelerate.data_loader import prepare_data_loader
    except ImportError as e:
        raise ImportError("mmbss.integrations.accelerate needs Accelerate (the 'accelerate' "
                          "package, >= 1.0), which is not installed; install it with: pip install "
                          "'mmbss[accelerate]'") from e
    return prepare_data_loader


class BSSLoader:
    """This process's BSS batches on the accelerator's device (from :func:`prepare_bss_loader`).

    Iterates like a ``DataLoader``: ``len(loader)`` is the number of batches of the epoch set by
    :meth:`set_epoch` (it follows the curriculum), and the epoch always comes from
    :meth:`set_epoch` (or ``sampler.set_epoch``), never from Accelerate's own counter. It
    works with ``accelerator.accumulate`` (Accelerate's loader inside tells it where an epoch
    ends).

    Attributes:
        sampler: the ``BalanceSampler``. dataset, batch_size, device: of the loader.
        next_epoch: the epoch after the last one iterated to its end (0 before any).
    """

    def __init__(self, loader, sampler: BalanceSampler, device: torch.device):
        self._loader, self.sampler, self.device = loader, sampler, device
        self.next_epoch = 0

    @property
    def dataset(self):
        """The training set."""
        return self._loader.dataset

    @property
    def batch_size(self) -> int:
        """The per-process batch size."""
        return self._loader.batch_sampler.batch_size

    @property
    def epoch(self) -> int:
        """The epoch the next iteration yields (the sampler's)."""
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch the next iteration yields (call it on every process)."""
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self._loader)

    def __iter__(self) -> Iterator[dict]:
        epoch = self.sampler.epoch
        self._loader.iteration = epoch  # Accelerate's loader re-sets the sampler's epoch from it
        yield from self._loader
        self.next_epoch = epoch + 1


def prepare_bss_loader(accelerator, dataset, sampler: BalanceSampler, batch_size: int, *,
                       collate_fn: Callable | None = None, num_workers: int = 0,
                       **loader_kw) -> BSSLoader:
    """A loader over ``dataset`` that yields this process's ``sampler`` shard whole, its
    batches on ``accelerator.device``: Accelerate's preparation for one process (no second
    sharding, no re-seeding), in place of ``accelerator.prepare(loader)``.

    Args:
        accelerator: the ``accelerate.Accelerator``.
        dataset: the training set (N = the scheduler's ``num_samples`` sample dicts).
        sampler: ``BalanceSampler(scheduler, num_replicas=accelerator.num_processes,
            rank=accelerator.process_index)``.
        batch_size: per-process batch size.
        collate_fn: default: sample dicts stacked, pre-collated batches passed through.
        num_workers: DataLoader worker processes.
        **loader_kw: passed to the ``DataLoader``.

    Raises:
        ImportError: Accelerate is not installed.
        TypeError: ``sampler`` is not a ``BalanceSampler``.
        ValueError: the sampler shards for another number of processes or another rank, or
            ``dataset`` is not the scheduler's size.
    """
    prepare_data_loader = _require()
    if not isinstance(sampler, BalanceSampler):
        raise InvalidTypeError(f"prepare_bss_loader: 'sampler' must be a BalanceSampler (built with "
                               f"num_replicas=accelerator.num_processes, rank="
                               f"accelerator.process_index); got {type(sampler).__name__}.")
    world, rank = accelerator.num_processes, accelerator.process_index
    if (sampler.num_replicas, sampler.rank) != (world, rank):
        raise InvalidValueError(f"prepare_bss_loader: the sampler shards for num_replicas="
                                f"{sampler.num_replicas}, rank={sampler.rank}, but this is process "
                                f"{rank} of {world}; build it with BalanceSampler(scheduler, "
                                f"num_replicas=accelerator.num_processes, "
                                f"rank=accelerator.process_index).")
    _check_size("prepare_bss_loader", "dataset", dataset, sampler.scheduler.num_samples)
    check_int("prepare_bss_loader", "batch_size", batch_size, low=1)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                        collate_fn=collate_fn or _collate, **loader_kw)
    config = getattr(accelerator, "dataloader_config", None)
    prepared = prepare_data_loader(loader, device=accelerator.device, num_processes=1,
                                   process_index=0, put_on_device=True, rng_types=None,
                                   non_blocking=bool(getattr(config, "non_blocking", False)))
    return BSSLoader(prepared, sampler, accelerator.device)


def exact_scores(accelerator, model: torch.nn.Module, dataset, scorer, *, batch_size: int = 256,
                 collate_fn: Callable | None = None, num_workers: int = 0) -> torch.Tensor:
    """Imbalance scores d, Tensor[N], of every sample of ``dataset`` (the training set without
    augmentation) from one eval-mode pass of ``model`` (prepared or not), each process scoring
    its shard; the raw criteria are gathered, so every process returns the scores of a
    single-process pass. Call it on every process.

    Raises:
        TypeError: the model's forward does not return the SPEC §1 outputs.
    """
    return scorer.combine(_criteria(accelerator, model, dataset, scorer, batch_size, collate_fn,
                                    num_workers))


def _criteria(accelerator, model, dataset, scorer, batch_size, collate_fn, num_workers) -> dict:
    return _exact_criteria(accelerator.unwrap_model(model), dataset, scorer,
                           world=accelerator.num_processes, rank=accelerator.process_index,
                           batch_size=batch_size, collate_fn=collate_fn, num_workers=num_workers,
                           device=accelerator.device, lead=_EXACT_LEAD)


def record_step(tracker: OnlineScoreTracker, scorer, batch: Mapping, outputs) -> None:
    """Online scoring: record the criteria of one training step's logits by sample index.

    Args:
        tracker: the run's :class:`~mmbss.OnlineScoreTracker`.
        scorer: the :class:`~mmbss.BalanceScorer`.
        batch: the step's batch (``"index"`` and ``"label"`` are read).
        outputs: the model's outputs of the step: ``(fused, {modality: logits})``, an object
            with ``.fused``/``.unimodal`` or a dict with ``"fused"`` and ``"unimodal"``.
    Raises:
        TypeError: ``outputs`` lacks the fused or the per-modality logits.
    """
    _record_outputs(tracker, scorer, batch, outputs, "record_step: 'outputs' must be")


def rescore(accelerator, epoch: int, scheduler, scorer, *, model: torch.nn.Module, eval_dataset,
            tracker: OnlineScoreTracker | None = None, batch_size: int = 256,
            collate_fn: Callable | None = None, num_workers: int = 0) -> torch.Tensor | None:
    """Give ``scheduler`` fresh scores when it wants them at ``epoch``; call it on every process
    before the epoch (before ``loader.set_epoch(epoch)``).

    Exact (``tracker=None``): :func:`exact_scores` over ``eval_dataset``. Online: the training
    steps' records merged over the processes; the first scores, before anything was recorded,
    come from an exact pass whose criteria seed the tracker (SPEC §5).

    Returns:
        The scores given to the scheduler (the same on every process), or None when it wanted
        none at this epoch.
    """
    _check_size("rescore", "eval_dataset", eval_dataset, scheduler.num_samples)
    return _rescore(scheduler, epoch, scorer, tracker, lambda: _criteria(
        accelerator, model, eval_dataset, scorer, batch_size, collate_fn, num_workers))


class BSSState:
    """The BSS state of a run for ``accelerator.register_for_checkpointing``: the scheduler's
    scores, the online tracker's records and the next epoch to train.

    ``accelerator.save_state`` calls :meth:`state_dict` on every process, which first merges
    the tracker's records over the processes (the main process writes them all). Save at the
    end of an epoch; after ``accelerator.load_state`` continue with ``range(state.next_epoch,
    epochs)``.

    Args:
        scheduler: the run's mmbss scheduler.
        loader: the :class:`BSSLoader` (its ``next_epoch`` is saved).
        tracker: the :class:`~mmbss.OnlineScoreTracker` (online scoring) or None.
    Raises:
        TypeError: ``loader`` is not a :class:`BSSLoader`.
    """

    def __init__(self, scheduler, loader: BSSLoader, tracker: OnlineScoreTracker | None = None):
        if not isinstance(loader, BSSLoader):
            raise InvalidTypeError(f"BSSState: 'loader' must be the BSSLoader from "
                                   f"prepare_bss_loader(); got {type(loader).__name__}.")
        self.scheduler, self.loader, self.tracker = scheduler, loader, tracker

    @property
    def next_epoch(self) -> int:
        """The first epoch a (resumed) run trains."""
        return self.loader.next_epoch

    def state_dict(self) -> dict:
        """The scheduler's state, the merged tracker records (or None) and the next epoch."""
        if self.tracker is not None:
            self.tracker.merge()  # every process calls this (save_state runs on all of them)
        return {"scheduler": self.scheduler.state_dict(),
                "tracker": None if self.tracker is None else self.tracker.state_dict(),
                "next_epoch": self.loader.next_epoch}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (``accelerator.load_state`` calls it).

        Raises:
            KeyError: missing or extra keys.
            ValueError: a state saved with online scoring loaded without a tracker or the
                reverse (or the scheduler's own checks).
        """
        if not isinstance(state, Mapping) or set(state) != _STATE_KEYS:
            keys = sorted(state) if isinstance(state, Mapping) else type(state).__name__
            raise KeyError(f"BSSState.load_state_dict: expected keys {sorted(_STATE_KEYS)} (from "
                           f"BSSState.state_dict()); got {keys}.")
        if (state["tracker"] is None) != (self.tracker is None):
            saved = "exact" if state["tracker"] is None else "online"
            raise InvalidValueError(f"BSSState.load_state_dict: the state was saved with {saved} "
                                    f"scoring (tracker {'None' if saved == 'exact' else 'given'}); "
                                    f"build the BSSState with the same tracker setting.")
        self.scheduler.load_state_dict(state["scheduler"])
        if self.tracker is not None:
            self.tracker.load_state_dict(state["tracker"])
        self.loader.next_epoch = int(state["next_epoch"])
        self.loader.set_epoch(self.loader.next_epoch)
