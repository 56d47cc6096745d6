"""BSS in a Lightning run: :class:`BSSCallback` (the BSS state and logic) and
:class:`BSSDataModule` (the training loader it rebuilds every epoch).

Recipe (``examples/lightning_bss.py`` runs it on mfeat)::

    bss = BSSCallback(CurriculumScheduler(num_samples=len(train), seed=0), BalanceScorer())
    data = BSSDataModule(bss, train, batch_size=32, eval_train=train_eval, val=val,
                         collate_fn=collate_samples)
    trainer = L.Trainer(callbacks=[bss], use_distributed_sampler=False,
                        reload_dataloaders_every_n_epochs=1, strategy="ddp", devices=2)
    trainer.fit(model, datamodule=data)

The LightningModule follows SPEC §1: ``forward(batch["modalities"])`` returns ``(fused [B, C],
{modality: [B, C]})`` (or an object with ``.fused``/``.unimodal``), which exact scoring calls;
for online scoring ``training_step`` returns ``{"loss": loss, "fused": ..., "unimodal": ...}``.

What the callback does about Lightning's defaults (Lightning 2.6):

* the ``BalanceSampler`` is built with ``num_replicas=trainer.world_size`` and
  ``rank=trainer.global_rank`` and must reach the loader as it is: with
  ``use_distributed_sampler=True`` (the default) Lightning wraps it in a ``DistributedSampler``
  that shards each rank's share again and reshuffles it, so :meth:`BSSCallback.setup` refuses it;
* the loader is rebuilt every epoch (``reload_dataloaders_every_n_epochs=1``, also checked),
  and ``set_epoch`` is called while building it, so the number of batches Lightning counts
  follows the curriculum;
* exact scoring runs while the loader is built, before its workers start (scoring in
  ``on_train_epoch_start`` is too late once ``num_workers > 0``);
* the scheduler's scores and the online tracker are saved into Lightning's checkpoints
  (:meth:`BSSCallback.state_dict`), so a resumed run continues with the same sequence.

Lightning is imported with this module (never by ``import mmbss``); without it, building a
:class:`BSSCallback` raises an ``ImportError`` naming ``pip install 'mmbss[lightning]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch.utils.data import DataLoader

from ..core._validation import check_choice, check_int
from ..core.errors import CallOrderError, InvalidTypeError, InvalidValueError
from ..core.samplers import BalanceSampler
from ..core.scoring import BalanceScorer
from ..core.tracking import OnlineScoreTracker
from . import _check_size, _collate, _exact_criteria, _record_outputs, _rescore

try:
    import lightning.pytorch as _pl
except ImportError:  # the error comes when the integration is used (see _require)
    _pl = None

__all__ = ["BSSCallback", "BSSDataModule"]

_Callback = _pl.Callback if _pl is not None else object
_DataModule = _pl.LightningDataModule if _pl is not None else object

_ONLINE_OUTPUTS = ("a dict {'loss': loss, 'fused': fused logits [B, C], 'unimodal': {modality: "
                   "logits [B, C]}}")
_SCHEDULER_METHODS = ("wants_scores", "update", "indices", "epoch_size", "state_dict",
                      "load_state_dict")
_STATE_KEYS = {"scheduler", "tracker", "scored_epoch"}


def _require() -> None:
    if _pl is None:
        raise ImportError("mmbss.integrations.lightning needs Lightning (the 'lightning' package, "
                          ">= 2.4), which is not installed; install it with: pip install "
                          "'mmbss[lightning]'")


class BSSCallback(_Callback):
    """BSS (curriculum or learning-based, exact or online scoring) for a Lightning ``Trainer``.

    Add it to ``Trainer(callbacks=[...])`` and build the training loader with
    :meth:`train_dataloader` (or use :class:`BSSDataModule`); the Trainer needs
    ``use_distributed_sampler=False`` and ``reload_dataloaders_every_n_epochs=1``.

    Every epoch, while Lightning asks for the training loader, the callback gives the scheduler
    fresh scores when it wants them (exact: an eval-mode pass of the LightningModule over the
    un-augmented training set, sharded over the ranks and gathered, so every rank gets the
    scores of a single-process pass; online: the training steps' records, merged over the
    ranks) and builds a ``BalanceSampler`` holding this rank's shard of the epoch's sequence.

    Args:
        scheduler: an mmbss scheduler (``CurriculumScheduler``, ``LearningBasedScheduler``, ...)
            of the training set.
        scorer: the :class:`~mmbss.BalanceScorer` (default: the paper's S + L).
        scoring: "exact" (an eval pass when the scheduler wants scores) or "online" (the
            logits of the training steps, SPEC §5; the first scores come from an exact pass
            unless warm-up epochs recorded every sample).
        unseen: the online tracker's policy for never-seen samples ("mean" or "error").
        eval_batch_size: batch size of the exact scoring pass (default: 256).

    Attributes:
        scheduler, scorer, scoring: as given. tracker: the :class:`~mmbss.OnlineScoreTracker`
            (online scoring) or None. sampler: the ``BalanceSampler`` of the last loader built.
        scored_epoch: the last epoch that started with fresh scores (None before any).

    Raises:
        ImportError: Lightning is not installed.
        TypeError: ``scheduler`` is no mmbss scheduler, or ``scorer`` no ``BalanceScorer``.
        ValueError: an unknown ``scoring`` or ``unseen``.
    """

    def __init__(self, scheduler, scorer: BalanceScorer | None = None, *, scoring: str = "exact",
                 unseen: str = "mean", eval_batch_size: int = 256):
        _require()
        super().__init__()
        if not all(callable(getattr(scheduler, m, None)) for m in _SCHEDULER_METHODS):
            raise InvalidTypeError(f"BSSCallback: 'scheduler' must be an mmbss scheduler (e.g. "
                                   f"CurriculumScheduler or LearningBasedScheduler); got "
                                   f"{type(scheduler).__name__}.")
        scorer = BalanceScorer() if scorer is None else scorer
        if not isinstance(scorer, BalanceScorer):
            raise InvalidTypeError(f"BSSCallback: 'scorer' must be a BalanceScorer or None; got "
                                   f"{type(scorer).__name__}.")
        self.scheduler, self.scorer = scheduler, scorer
        self.scoring = check_choice("BSSCallback", "scoring", scoring, ("exact", "online"))
        self.eval_batch_size = check_int("BSSCallback", "eval_batch_size", eval_batch_size, low=1)
        self.tracker = (OnlineScoreTracker(scheduler.num_samples, unseen=unseen)
                        if scoring == "online" else None)
        self.sampler: BalanceSampler | None = None
        self.scored_epoch: int | None = None
        self._trainer = None
        self._built_epoch: int | None = None

    # -- hooks -------------------------------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:
        """Keep the Trainer; for fitting, refuse the settings that break BSS (see the module
        docstring): Lightning's own distributed sampler and a loader built only once."""
        self._trainer = trainer
        if stage != "fit":
            return
        connector = getattr(trainer, "_accelerator_connector", None)
        wraps = getattr(connector, "use_distributed_sampler", False) and \
            getattr(connector, "is_distributed", trainer.world_size > 1)
        if wraps:
            raise InvalidValueError(
                "BSSCallback: with Trainer(use_distributed_sampler=True), the default, Lightning "
                "wraps the BalanceSampler in a DistributedSampler that shards each rank's share "
                "a second time and reshuffles it; build the Trainer with "
                "Trainer(use_distributed_sampler=False) (the BalanceSampler already gives every "
                "rank its own shard of the BSS sequence).")
        reload = trainer.reload_dataloaders_every_n_epochs
        if reload != 1:
            raise InvalidValueError(
                f"BSSCallback: the training loader must be rebuilt every epoch (the curriculum "
                f"subset and the scores change between epochs); build the Trainer with "
                f"Trainer(reload_dataloaders_every_n_epochs=1); got "
                f"reload_dataloaders_every_n_epochs={reload}.")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        """Check that this epoch trains on the loader :meth:`train_dataloader` built for it."""
        loader = trainer.train_dataloader
        sampler = getattr(loader, "sampler", None)
        epoch = trainer.current_epoch
        if sampler is None or sampler is not self.sampler or self._built_epoch != epoch:
            raise CallOrderError(
                f"BSSCallback: the training loader of epoch {epoch} was not built by "
                f"BSSCallback.train_dataloader() for this epoch (its sampler is a "
                f"{type(sampler).__name__}); return bss.train_dataloader(...) from the "
                f"train_dataloader() of your LightningModule or DataModule (or use "
                f"BSSDataModule) and keep Trainer(use_distributed_sampler=False, "
                f"reload_dataloaders_every_n_epochs=1).")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        """Online scoring: record the criteria of the step's logits by sample index."""
        if self.tracker is None:
            return
        _record_outputs(self.tracker, self.scorer, batch, outputs,
                        "BSSCallback: online scoring reads the logits from the output of "
                        "training_step, so training_step must return", _ONLINE_OUTPUTS)

    # -- the loader --------------------------------------------------------------------------
    def train_dataloader(self, dataset, *, batch_size: int, eval_dataset=None,
                         collate_fn: Callable | None = None, num_workers: int = 0,
                         **loader_kw) -> DataLoader:
        """The training loader of the epoch Lightning is about to train (call it from the
        ``train_dataloader()`` of the LightningModule or DataModule, on every rank).

        Scores first when the scheduler wants them (see the class docstring), then returns a
        ``DataLoader`` over ``dataset`` whose sampler is this rank's ``BalanceSampler``, its
        epoch already set.

        Args:
            dataset: the training set, N samples ``{"modalities", "label", "index"}``.
            batch_size: per-rank batch size.
            eval_dataset: the same samples without augmentation, for exact scoring (default:
                ``dataset``).
            collate_fn: default: sample dicts stacked, pre-collated batches passed through.
            num_workers: DataLoader worker processes.
            **loader_kw: passed to the ``DataLoader`` (not ``sampler``/``shuffle``).

        Raises:
            CallOrderError: the callback is not in the running Trainer's callbacks.
            ValueError: a dataset of another size than the scheduler's N.
            TypeError: (exact scoring) the LightningModule's forward does not return the
                SPEC §1 outputs.
        """
        trainer = self._trainer
        if trainer is None:
            raise CallOrderError("BSSCallback.train_dataloader: the callback is not attached to a "
                                 "running Trainer; pass it in Trainer(callbacks=[bss]) and call "
                                 "bss.train_dataloader(...) from a train_dataloader() hook.")
        n = self.scheduler.num_samples
        _check_size("BSSCallback", "dataset", dataset, n)
        eval_dataset = dataset if eval_dataset is None else eval_dataset
        _check_size("BSSCallback", "eval_dataset", eval_dataset, n)
        # the epoch about to train: on a resume from an end-of-epoch checkpoint the first request
        # comes before Lightning updates current_epoch, while "processed" is already right
        epoch = int(trainer.fit_loop.epoch_progress.current.processed)
        world, rank = trainer.world_size, trainer.global_rank
        if self.scored_epoch != epoch:  # at most one scoring per epoch (a resume asks twice)
            module = trainer.lightning_module
            scores = _rescore(self.scheduler, epoch, self.scorer, self.tracker, lambda: _exact_criteria(
                module, eval_dataset, self.scorer, world=world, rank=rank,
                batch_size=self.eval_batch_size, collate_fn=collate_fn, num_workers=num_workers,
                device=module.device,
                lead="BSSCallback: exact scoring calls the LightningModule on batch['modalities'], "
                     "so its forward must return"))
            if scores is not None:
                self.scored_epoch = epoch
        self.sampler = BalanceSampler(self.scheduler, num_replicas=world, rank=rank)
        self.sampler.set_epoch(epoch)
        self._built_epoch = epoch
        return DataLoader(dataset, batch_size=batch_size, sampler=self.sampler,
                          collate_fn=collate_fn or _collate, num_workers=num_workers, **loader_kw)

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """What Lightning saves into its checkpoints: the scheduler's state (its scores), the
        online tracker's records (or None) and the last scored epoch.

        Under DDP the tracker's records are merged over the ranks first, a collective call:
        ``trainer.save_checkpoint`` (and so ``ModelCheckpoint``) calls this on every rank."""
        if self.tracker is not None:
            self.tracker.merge()
        return {"scheduler": self.scheduler.state_dict(),
                "tracker": None if self.tracker is None else self.tracker.state_dict(),
                "scored_epoch": self.scored_epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore :meth:`state_dict` (Lightning calls it when a fit resumes from a checkpoint).

        Raises:
            KeyError: missing or extra keys.
            ValueError: a checkpoint written with the other scoring mode (or the scheduler's
                own checks: another scheduler, N or seed).
        """
        if not isinstance(state_dict, Mapping) or set(state_dict) != _STATE_KEYS:
            keys = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict).__name__
            raise KeyError(f"BSSCallback.load_state_dict: expected keys {sorted(_STATE_KEYS)} (from "
                           f"BSSCallback.state_dict()); got {keys}.")
        written = "exact" if state_dict["tracker"] is None else "online"
        if written != self.scoring:
            raise InvalidValueError(f"BSSCallback.load_state_dict: the checkpoint was written with "
                                    f"scoring={written!r}, this callback has scoring="
                                    f"{self.scoring!r}; build it with scoring={written!r}.")
        self.scheduler.load_state_dict(state_dict["scheduler"])
        if self.tracker is not None:
            self.tracker.load_state_dict(state_dict["tracker"])
        self.scored_epoch = state_dict["scored_epoch"]


class BSSDataModule(_DataModule):
    """A LightningDataModule whose training loader is :meth:`BSSCallback.train_dataloader`.

    Args:
        bss: the :class:`BSSCallback` (also given to ``Trainer(callbacks=[...])``).
        train: the training set (N samples, N = the scheduler's ``num_samples``).
        batch_size: per-rank training batch size.
        eval_train: the training samples without augmentation, index for index (exact
            scoring reads them; default: ``train``).
        val: a validation set or None. With ``use_distributed_sampler=False`` Lightning does
            not shard it: every rank evaluates all of it.
        eval_batch_size: validation batch size (default: ``batch_size``).
        collate_fn: the loaders' collate (default: the mmbss sample-dict collate).
        num_workers: DataLoader worker processes.
        **loader_kw: other DataLoader options (see :meth:`BSSCallback.train_dataloader`).

    Raises:
        TypeError: ``bss`` is not a :class:`BSSCallback`.
    """

    def __init__(self, bss: BSSCallback, train, *, batch_size: int, eval_train=None, val=None,
                 eval_batch_size: int | None = None, collate_fn: Callable | None = None,
                 num_workers: int = 0, **loader_kw):
        _require()
        super().__init__()
        if not isinstance(bss, BSSCallback):
            raise InvalidTypeError(f"BSSDataModule: 'bss' must be the BSSCallback given to "
                                   f"Trainer(callbacks=[...]); got {type(bss).__name__}.")
        self.bss, self.train, self.eval_train, self.val = bss, train, eval_train, val
        self.batch_size = check_int("BSSDataModule", "batch_size", batch_size, low=1)
        self.eval_batch_size = check_int("BSSDataModule", "eval_batch_size", eval_batch_size,
                                         low=1, allow_none=True) or batch_size
        self.collate_fn, self.num_workers, self.loader_kw = collate_fn, num_workers, loader_kw

    def train_dataloader(self) -> DataLoader:
        """This epoch's BSS loader (see :meth:`BSSCallback.train_dataloader`)."""
        return self.bss.train_dataloader(self.train, batch_size=self.batch_size,
                                         eval_dataset=self.eval_train, collate_fn=self.collate_fn,
                                         num_workers=self.num_workers, **self.loader_kw)

    def val_dataloader(self):
        """The validation loader in dataset order (an empty list without ``val``)."""
        if self.val is None:
            return []
        return DataLoader(self.val, batch_size=self.eval_batch_size, shuffle=False,
                          collate_fn=self.collate_fn or _collate, num_workers=self.num_workers)

