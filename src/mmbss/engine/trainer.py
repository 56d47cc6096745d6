"""The training loop of ``mmbss train``: one run of one method with one seed.

Reads top to bottom: :func:`train` builds everything (:func:`_build`), optionally restores the
resume state, then per epoch re-scores when the scheduler asks (:func:`_rescore`), trains
(:func:`_train_epoch`), evaluates (:func:`_evaluate`), logs one JSON line and writes checkpoints.
Model selection uses validation data only; the summary reports test metrics at the best-validation
epoch.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from pathlib import Path

import torch

from ..core._rng import mix_seed
from ..core.distributed import all_reduce_sum, check_same_everywhere, merge_by_index
from ..core.errors import InvalidValueError, MmbssError
from .build import Run, _check_train, _shard, build_run
from .checkpoint import (
    LAST,
    CheckpointError,
    finite_weights,
    load_checkpoint,
    load_resume,
    remove_temporaries,
    save_checkpoint,
    save_resume,
)
from .config import Config, ConfigError, config_to_dict, resume_changes
from .distributed import launch, on_main, shutdown
from .evaluation import collect_outputs, exact_criteria, split_metrics
from .loggers import open_loggers
from .rundir import (
    RunExistsError,
    append_jsonl,
    clear_output_dir,
    is_stamped,
    read_jsonl,
    truncate_jsonl,
    write_text_atomic,
)
from .scores import write_scores

__all__ = ["train", "TrainingDiverged", "RankLost", "RunExistsError", "train_labels"]

log = logging.getLogger(__name__)


class TrainingDiverged(MmbssError, RuntimeError):
    """The loss became NaN/inf; the message names the epoch and step and the last good checkpoint."""


def train(cfg: Config, out_dir: str | Path, *, resume: bool = False, overwrite: bool = False,
          quiet: bool = False) -> dict:
    """Train one run and write its run directory; returns the summary dict.

    ``metrics.jsonl`` holds only deterministic values (two runs of one config on the CPU write
    identical files); wall times go to ``timings.jsonl`` and ``summary.json``.

    Args:
        cfg: the resolved config.
        out_dir: run directory (``config.yaml``, ``metrics.jsonl``, ``timings.jsonl``, ``scores/``,
            ``checkpoints/``, ``summary.json``).
        resume: continue from the newest good checkpoint (``checkpoints/last.pt``, else
            ``previous.pt``). The config must be the same except for the keys in
            :data:`mmbss.engine.config.RESUMABLE_KEYS`; a run stopped before its first checkpoint
            starts over.
        overwrite: delete an existing run in ``out_dir`` first.
        quiet: no progress bars.
    Raises:
        RunExistsError, TrainingDiverged, ValueError (config mismatch on resume), CheckpointError.
    """
    if resume and overwrite:
        raise InvalidValueError("--resume and --overwrite contradict each other: --resume continues the "
                                f"run in '{out_dir}', --overwrite deletes it. Pass only one.")
    _check_train(cfg.train)
    owned = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    where = launch(cfg.train.device, cfg.train.ddp_timeout)
    finished = False
    try:
        summary = _train(cfg, Path(out_dir), where, resume=resume, overwrite=overwrite, quiet=quiet)
        finished = True
        return summary
    except RuntimeError as e:
        if where.distributed and _collective_failure(e):
            raise RankLost(_lost_message(where, e, Path(out_dir), cfg.train.ddp_timeout)) from None
        raise
    finally:
        if owned:  # after a finished run all ranks leave together (gloo aborts a lone leaver)
            shutdown(barrier=finished)


class RankLost(MmbssError, RuntimeError):
    """Under DDP another rank died or stopped answering; the message names it where it can."""


def _collective_failure(e: RuntimeError) -> bool:
    return isinstance(e, torch.distributed.DistError) or any(
        s in str(e) for s in ("gloo", "NCCL", "Connection reset", "Connection closed", "Timed out"))


def _lost_message(where, e: RuntimeError, out: Path, timeout: float) -> str:
    """The error of a rank whose collective failed: the other rank (with two), else any."""
    missing = f"rank {1 - where.rank}" if where.world == 2 else "another rank"
    first = str(e).strip().splitlines()[0][:200]
    return (f"rank {where.rank} lost contact with {missing} of the run (within "
            f"train.ddp_timeout = {timeout:g} s: {first}); a process died or hangs (torchrun's "
            f"report names the one that failed first). Training stopped; {_kept(out)}, so fix "
            f"the cause and start the same torchrun command with --resume.")


def _train(cfg: Config, out: Path, where, *, resume: bool, overwrite: bool, quiet: bool) -> dict:
    run = build_run(cfg, where)  # first, so that a bad config leaves no run directory behind
    main = where.main
    state, changes = on_main(where, _prepare_dir, out, cfg, resume=resume, overwrite=overwrite)
    start, step, best = _restore(run, out, state) if state is not None else (0, 0, None)
    resumed = state.get("within") if state is not None else None  # killed inside an epoch
    if main:
        for name in ("metrics.jsonl", "timings.jsonl"):
            truncate_jsonl(out / name, start)
    teacher = _teach(cfg, out, where, quiet) if cfg.method.self_taught and start == 0 \
        and resumed is None else None
    loggers = open_loggers(cfg.train.loggers, out, start=start, resume=state is not None,
                           config=config_to_dict(cfg)) if main and cfg.train.loggers else None
    failed = True
    try:
        summary = _epochs(run, cfg, out, where, quiet, start, step, best, resumed, teacher,
                          changes, loggers)
        failed = False
        return summary
    finally:
        if loggers is not None:
            loggers.close(failed=failed)


def _epochs(run, cfg: Config, out: Path, where, quiet: bool, start: int, step: int, best,
            resumed, teacher, changes, loggers) -> dict:
    main = where.main
    for epoch in range(start, cfg.train.epochs):
        rank = where.rank  # dropout etc.: per (seed, epoch, rank), never the same on two ranks
        torch.manual_seed(mix_seed(cfg.train.seed, epoch, "train", *([rank] if rank else [])))
        run.sampler.set_epoch(epoch)
        t0 = time.perf_counter()
        if resumed is not None and epoch == start:
            scored = resumed["scored"]
            _resume_within(run, resumed)
        else:
            scored, resumed = _rescore(run, epoch, out, teacher if epoch == 0 else None), None
        t1 = time.perf_counter()
        if teacher is not None and epoch == 0:  # the scores' cost includes training the teacher
            t0 -= teacher["seconds"]
        train_stats, step = _train_epoch(run, epoch, step, out, quiet, best=best, scored=scored,
                                         resumed=resumed)
        if where.distributed:  # BatchNorm running statistics: rank 0's, as DDP's next forward would
            for buffer in run.model.buffers():
                torch.distributed.broadcast(buffer.data, 0)
        t2 = time.perf_counter()
        val = _evaluate(run, "val")
        improved = best is None or val[cfg.train.select_metric] > best["val"][cfg.train.select_metric]
        # the test split is only ever reported at the best-validation epoch: with eval_test=best
        # it is evaluated then only (a later epoch's test metrics are never looked at)
        test = _evaluate(run, "test") if cfg.train.eval_test == "every" or improved else None
        t3 = time.perf_counter()
        _check_finite(run, epoch, step, out, val, test)
        if where.distributed:  # never silently train K different models
            check_same_everywhere(f"the model weights after epoch {epoch}", _flat_weights(run.model),
                                  hint="a gradient policy or a custom module took a decision from "
                                       "this rank's data alone; all-reduce what it reads "
                                       "(mmbss.core.distributed.all_reduce_sum)")
        record = {"epoch": epoch, "lr": run.optimizer.param_groups[0]["lr"],
                  "subset_fraction": run.scheduler.epoch_size(epoch) / len(run.bundle.train),
                  "scored": scored, "train": train_stats, "val": val,
                  **({"test": test} if test is not None else {}),
                  "method": run.method.epoch_stats()}
        run.lr_schedule.step()
        if main:
            timings = {"epoch": epoch, "train": t2 - t1, "scoring": t1 - t0, "eval": t3 - t2}
            append_jsonl(out / "metrics.jsonl", record)  # deterministic: same config -> same file
            append_jsonl(out / "timings.jsonl", timings)
        if improved:
            best = {"epoch": epoch, "val": val, "test": test}
        # last.pt first: if a kill lands between the two, resume repairs best.pt from last.pt
        _save_resume(run, _resume_state(run, epoch + 1, step, best), out)
        if loggers is not None:  # after the checkpoint: a resumed run never logs an epoch twice
            loggers.log(record, timings, run.scheduler.scores if scored else None)
        if changes and main:  # the changed config is saved now
            _record_changes(out, cfg, start, changes)
        changes = []
        if improved and main:
            _save_best(run, epoch, out)
        log.info("epoch %d: train loss %.4f, val acc %.4f%s", epoch, train_stats["loss"], val["acc"],
                 "" if test is None else f", test acc {test['acc']:.4f}")
    if changes and main:  # a finished run resumed with settings that change no result
        _record_changes(out, cfg, start, changes)
    summary = on_main(where, _finish, cfg, out, best)
    return summary


def _flat_weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([v.detach().reshape(-1).float().cpu() for v in model.state_dict().values()
                      if v.is_floating_point()])


def _finish(cfg: Config, out: Path, best: dict | None) -> dict:
    summary = _summary(cfg, out, best)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    return summary


def _teach(cfg: Config, out: Path, where, quiet: bool) -> dict:
    """Self-taught scoring (Hacohen & Weinshall, ICML 2019): train a teacher, a run of its own in
    ``out/teacher`` (the method's loss and gradient policies, uniform order, its own
    ``method.warmup_epochs``-epoch lr schedule), and return its final weights and wall time. The
    run then scores with those weights and trains a fresh model (the same initial weights) from
    epoch 0. A run stopped before its first epoch ends trains the same teacher again on resume."""
    from dataclasses import replace

    m = cfg.method
    policies = m.name.split("+")[1:]
    teacher_cfg = replace(cfg, method=replace(m, name="+".join(["uniaux", *policies]),
                                              self_taught=False, warmup_epochs=0),
                          train=replace(cfg.train, epochs=m.warmup_epochs, export_scores=False))
    t0 = time.perf_counter()
    _train(teacher_cfg, out / "teacher", where, resume=False, overwrite=True, quiet=quiet)
    weights = on_main(where, lambda: load_checkpoint(out / "teacher" / "checkpoints" / LAST,
                                                     kind="resume")["model"])
    return {"model": weights, "seconds": time.perf_counter() - t0}


def _rescore(run: Run, epoch: int, out: Path, teacher: dict | None = None) -> bool:
    """Give the scheduler fresh scores if it wants them; export them. Returns whether it scored.
    With ``teacher`` the scores come from the teacher's weights (the model's own are kept)."""
    if run.method.scorer is None or not run.scheduler.wants_scores(epoch):
        return False
    if teacher is not None:
        own = {k: v.clone() for k, v in run.model.state_dict().items()}
        run.model.load_state_dict(teacher["model"])
        try:
            return _rescore(run, epoch, out)
        finally:
            run.model.load_state_dict(own)
    scorer = run.method.scorer
    if run.tracker is not None:
        run.tracker.merge()  # under DDP: every rank's records (a no-op on one process)
    if run.tracker is not None and bool(run.tracker.seen.any()):
        criteria, seen = run.tracker.criteria(), run.tracker.seen.clone()
    else:  # exact pass (also the first scoring of online mode, when nothing was seen yet)
        criteria, run.labels = exact_criteria(run.model, run.loaders["train_eval"], scorer,
                                              run.device, run.cfg.method.gradient_mode,
                                              num_samples=run.sizes("train_eval"))
        seen = torch.ones(len(run.bundle.train), dtype=torch.bool)
        if run.tracker is not None:  # later online scores start from these values (SPEC §5)
            run.tracker.record(torch.arange(len(seen)), criteria)
    d = scorer.combine(criteria)
    run.scheduler.update(d)
    if run.cfg.train.export_scores and run.where.main:
        write_scores(out / "scores" / f"epoch_{epoch:03d}.csv", train_labels(run), criteria, d,
                     seen, run.bundle.info.get("corrupted"))
    return True


SYNC_EVERY = 50
"""Steps between host syncs in the training loop (progress bar, divergence check)."""


def train_labels(run: Run) -> torch.Tensor:
    """Labels of the training samples, LongTensor[N] (the dataset's ``labels`` when it has them,
    else read once through the scoring loader and kept)."""
    if run.labels is None:
        labels = getattr(run.bundle.train_eval, "labels", None)
        if labels is None:
            labels = torch.zeros(len(run.bundle.train_eval), dtype=torch.int64)
            seen = torch.zeros(len(labels), dtype=torch.bool)
            for batch in run.loaders["train_eval"]:
                labels[batch["index"]], seen[batch["index"]] = batch["label"], True
            labels = merge_by_index({"y": labels}, seen)[0]["y"]  # under DDP: every rank's shard
        run.labels = torch.as_tensor(labels)
    return run.labels


def _train_epoch(run: Run, epoch: int, step: int, out: Path, quiet: bool, *, best: dict | None,
                 scored: bool, resumed: dict | None) -> tuple[dict, int]:
    """One pass over this epoch's sequence; raises TrainingDiverged on a NaN/inf loss.

    The loop syncs with the device only every :data:`SYNC_EVERY` steps and at the end (no
    ``.item()`` per step): the losses and correct counts of the steps in between are read
    together, and a non-finite loss among them stops the run, naming its step, before anything
    of the epoch is saved. Under DDP each rank trains on its part of every global batch; the
    loss is scaled so that DDP's averaged gradient is that of the global batch's mean loss.
    With ``train.checkpoint_every`` the resume state is saved every that many steps (the
    position inside the epoch included); ``resumed`` continues from such a state.
    """
    from tqdm.auto import tqdm

    model, method, loader, where = run.model, run.method, run.loaders["train"], run.where
    t = run.cfg.train
    model.train()
    tally = _Tally(epoch, step, out, where.distributed)
    if resumed is None:
        method.on_epoch_start(_epoch_context(run, epoch))
    else:  # inside an epoch: the policies' epoch state came with the checkpoint
        tally.load_state_dict(resumed["tally"])
    sizes = run.batches.global_sizes()
    first = tally.steps
    autocast = torch.autocast(run.device.type, dtype=torch.bfloat16 if t.amp == "bf16" else torch.float16,
                              enabled=t.amp != "off")
    bar = tqdm(loader, desc=f"epoch {epoch}", leave=False,
               disable=quiet or not sys.stderr.isatty() or not where.main)
    for j, batch in enumerate(bar, start=first):
        x, y = _inputs(run, batch, "train")
        b = sizes[j]
        method.begin_step(share=y.numel() / b, loss_scale=run.scaler.get_scale() if run.scaler else 1.0)
        with autocast:
            out_ = method.forward(run.train_model, x, y)
            per_sample = method.loss(model, out_, y)
        # one process: the batch mean; DDP averages over ranks, so each rank's sum * world / b
        loss = per_sample.mean() if not where.distributed else per_sample.sum() * (where.world / b)
        run.optimizer.zero_grad(set_to_none=True)
        method.before_backward(model, out_, y)
        (run.scaler.scale(loss) if run.scaler else loss).backward()
        if run.scaler:
            run.scaler.unscale_(run.optimizer)
        method.after_backward(model, out_, y)  # gradient policies act here
        if run.scaler:
            run.scaler.step(run.optimizer)
            run.scaler.update()
        else:
            run.optimizer.step()
        if run.tracker is not None:
            # unchecked: a NaN here is a NaN loss, which stops the run within SYNC_EVERY steps,
            # before anything of the epoch is saved (the checks cost ~2 % of a small step)
            run.tracker.record(batch["index"], method.scorer.criteria(
                out_.fused.detach().float(), {k: v.detach().float() for k, v in out_.unimodal.items()}, y,
                features={k: v.detach().float() for k, v in out_.features.items()},
                head_inputs={k: v.detach().float() for k, v in out_.head_inputs.items()},
                check=False), check=False)
        tally.add(per_sample.detach().float().mean(), (_predict(run, out_) == y).sum(), y.numel())
        if len(tally.pending) == SYNC_EVERY:
            tally.flush()
            bar.set_postfix(loss=f"{tally.loss / tally.seen:.3f}",
                            acc=f"{tally.correct / tally.seen:.3f}")
        done = j + 1
        if t.checkpoint_every and done % t.checkpoint_every == 0 and done < len(sizes):
            tally.flush()
            within = {"scored": scored, "tally": tally.state_dict(), "rngs": _gather_rng(where)}
            _save_resume(run, _resume_state(run, epoch, step + tally.steps, best, within), out)
    tally.flush()
    return {"loss": tally.loss / max(tally.seen, 1), "acc": tally.correct / max(tally.seen, 1),
            "samples": tally.seen, "steps": tally.steps}, step + tally.steps


def _epoch_context(run: Run, epoch: int):
    """What the gradient policies may read at the start of ``epoch`` (EpochContext). Under DDP
    ``batches(indices)`` reads this rank's contiguous part of ``indices``."""
    from torch.utils.data import Subset

    from ..methods import EpochContext
    from .loaders import eval_loader

    t, where = run.cfg.train, run.where

    def batches(indices):
        subset = Subset(run.bundle.train_eval, list(map(int, indices)))
        return eval_loader(_shard(subset, where), t.eval_batch_size, num_workers=t.num_workers,
                           device=run.device, seed=t.seed)

    return EpochContext(epoch, run.model, run.device, len(run.bundle.train),
                        lambda: train_labels(run), batches)


def _gather_rng(where) -> list:
    """Every rank's CPU (and CUDA) RNG state, in rank order (on rank 0; None elsewhere)."""
    mine = {"cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if where.device.type == "cuda" else None}
    if not where.distributed:
        return [mine]
    states = [None] * where.world
    torch.distributed.all_gather_object(states, mine)
    return states


def _resume_within(run: Run, within: dict) -> None:
    """Continue an epoch from a mid-epoch checkpoint: skip the global batches already trained
    and restore this rank's RNG (a different world size re-seeds instead, so that epoch's
    dropout differs from an uninterrupted run; the sample order does not)."""
    run.batches.skip = within["tally"]["steps"]
    rngs, rank = within["rngs"], run.where.rank
    if len(rngs) == run.where.world:
        torch.set_rng_state(rngs[rank]["cpu"])
        if rngs[rank]["cuda"] is not None and run.device.type == "cuda":
            torch.cuda.set_rng_state(rngs[rank]["cuda"])
    else:
        log.warning("resuming inside epoch with %d processes instead of %d: the sample order is "
                    "the same, the dropout randomness of the rest of this epoch is not",
                    run.where.world, len(rngs))


class _Tally:
    """The epoch's loss sum, correct count and samples, read from the device in groups (under
    DDP summed over the ranks, so every rank holds the global numbers and stops together)."""

    def __init__(self, epoch: int, start_step: int, out: Path, distributed: bool = False):
        self.epoch, self.start_step, self.out, self.distributed = epoch, start_step, out, distributed
        self.pending, self.loss, self.correct, self.seen, self.steps = [], 0.0, 0, 0, 0

    def add(self, loss: torch.Tensor, correct: torch.Tensor, n: int) -> None:
        self.pending.append((loss, correct, n))

    def flush(self) -> None:
        if not self.pending:
            return
        if self.distributed:  # one all-reduce per group: per step, the loss sum, correct, count
            local = torch.stack([torch.stack([p[0].double() * p[2], p[1].double(),
                                              torch.tensor(float(p[2]), dtype=torch.float64,
                                                           device=p[1].device)])
                                 for p in self.pending])
            total = all_reduce_sum(local).cpu()
            rows = [(float(r[2]), float(r[0] / r[2]), float(r[1])) for r in total]
        else:
            losses = torch.stack([p[0] for p in self.pending]).tolist()  # one sync per group
            corrects = torch.stack([p[1] for p in self.pending]).tolist()
            rows = [(p[2], v, c) for p, v, c in zip(self.pending, losses, corrects, strict=True)]
        for n, value, right in rows:
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"the loss became {value} at epoch {self.epoch}, step {self.steps} (global "
                    f"step {self.start_step + self.steps}); training stopped and "
                    f"{_kept(self.out)} (lower optim.lr or check the data).")
            self.loss += value * n
            self.correct += int(right)
            self.seen += int(n)
            self.steps += 1
        self.pending = []

    def state_dict(self) -> dict:
        return {"loss": self.loss, "correct": self.correct, "seen": self.seen, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.loss, self.correct, self.seen, self.steps = (state["loss"], state["correct"],
                                                          state["seen"], state["steps"])


def _inputs(run: Run, batch: dict, split: str) -> tuple[dict, torch.Tensor]:
    """The batch's modalities and labels on the run's device; a modality set that differs from
    the dataset's ``modality_shapes`` is an error naming both."""
    mods = batch["modalities"]
    if mods.keys() != run.bundle.modality_shapes.keys():
        raise InvalidValueError(f"a {split} batch has the modalities {sorted(mods)}, but the dataset "
                                f"declares {sorted(run.bundle.modality_shapes)} (DataBundle."
                                f"modality_shapes); every sample must hold exactly those.")
    fmt = torch.channels_last if run.cfg.train.channels_last else torch.contiguous_format
    return ({k: v.to(run.device, non_blocking=True,
                     **({"memory_format": fmt} if v.dim() == 4 else {})) for k, v in mods.items()},
            batch["label"].to(run.device, non_blocking=True))


def _predict(run: Run, out) -> torch.Tensor:
    from .metrics import prediction_logits

    rule = run.method.predict or run.cfg.train.predict
    return prediction_logits(out.fused.detach(), {k: v.detach() for k, v in out.unimodal.items()},
                             rule).argmax(1)


def _evaluate(run: Run, split: str) -> dict:
    """The metrics of a split (under DDP: every rank scores its part, the outputs are gathered)."""
    outputs = collect_outputs(run.model, run.loaders[split], run.device,
                              num_samples=run.sizes(split))
    return split_metrics(outputs, run.method, run.model, run.cfg.train.predict, run.bundle.num_classes)


def _check_finite(run: Run, epoch: int, step: int, out: Path, val: dict, test: dict) -> None:
    """Stop the run (before anything of this epoch is saved) when the weights or the
    validation/test loss are NaN/inf: the last checkpoint stays the last one with finite weights."""
    bad = [f"the {name} loss is {split['loss']}" for name, split in (("validation", val), ("test", test))
           if split is not None and not math.isfinite(split["loss"])]
    if not finite_weights(run.model.state_dict()):
        bad.insert(0, "the model weights hold NaN/inf")
    if bad:
        raise TrainingDiverged(f"{' and '.join(bad)} after epoch {epoch} (global step {step}); "
                               f"training stopped and {_kept(out)} (lower optim.lr or check the "
                               f"data).")


def _kept(out: Path) -> str:
    last = out / "checkpoints" / LAST
    return (f"the last good checkpoint is '{last}'" if last.exists()
            else "no epoch finished, so there is no checkpoint")


def _save_best(run: Run, epoch: int, out: Path) -> None:
    save_checkpoint({"model": run.model.state_dict(), "epoch": epoch,
                     "config": config_to_dict(run.cfg)}, out / "checkpoints" / "best.pt", kind="best")


def _save_resume(run: Run, state: dict, out: Path) -> None:
    """Save the resume state on rank 0 (after the collectives every rank takes part in)."""
    if run.where.main:
        save_resume(state, out / "checkpoints")


def _resume_state(run: Run, next_epoch: int, step: int, best: dict | None,
                  within: dict | None = None) -> dict:
    """Everything to continue the run: at an epoch's end (``next_epoch`` to train next), or
    inside epoch ``next_epoch`` (``within``: the position, the tally and every rank's RNG).
    Under DDP every rank calls it (the tracker is merged first); rank 0 saves it."""
    if run.tracker is not None:
        run.tracker.merge()
    return {"within": within, "scaler": None if run.scaler is None else run.scaler.state_dict(),
            "model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
            "lr_schedule": run.lr_schedule.state_dict(), "scheduler": run.scheduler.state_dict(),
            "sampler": run.sampler.state_dict(),
            "tracker": None if run.tracker is None else run.tracker.state_dict(),
            "method": run.method.state_dict(), "epoch": next_epoch, "step": step, "best": best,
            "config": config_to_dict(run.cfg), "rng": torch.get_rng_state()}


def _restore(run: Run, out: Path, state: dict) -> tuple[int, int, dict | None]:
    """Load a resume payload into ``run`` (and apply resumable config changes); repair best.pt."""
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.lr_schedule.load_state_dict(state["lr_schedule"])
    ratio = run.cfg.optim.lr / state["config"]["optim"]["lr"]
    if ratio != 1.0:  # optim.lr changed on resume: scale the whole schedule from here on
        _scale_lr(run, ratio)
    run.scheduler.load_state_dict(state["scheduler"])
    run.sampler.load_state_dict(state["sampler"])
    if run.tracker is not None:
        run.tracker.load_state_dict(state["tracker"])
    run.method.load_state_dict(state["method"])
    if run.scaler is not None and state.get("scaler") is not None:
        run.scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"])
    best, best_file = state["best"], out / "checkpoints" / "best.pt"
    if best is not None and run.where.main:  # rank 0 checks (and repairs) best.pt
        try:
            saved, why = load_checkpoint(best_file, kind="best")["epoch"], None
        except (FileNotFoundError, CheckpointError) as e:
            saved, why = None, str(e)
        if saved != best["epoch"] and best["epoch"] == state["epoch"] - 1 \
                and state.get("within") is None:
            _save_best(run, best["epoch"], out)  # killed between last.pt and best.pt
        elif saved != best["epoch"]:
            log.warning("%s does not hold the best-validation weights of epoch %d (%s); the "
                        "summary is unaffected, but 'mmbss score --checkpoint best' needs a "
                        "better epoch to be saved first.", best_file, best["epoch"],
                        why or f"it holds epoch {saved}")
    log.info("resumed %s at epoch %d", out, state["epoch"])
    return state["epoch"], state["step"], state["best"]


def _scale_lr(run: Run, ratio: float) -> None:
    for group in run.optimizer.param_groups:
        group["lr"] *= ratio
        if "initial_lr" in group:
            group["initial_lr"] *= ratio
    sched = run.lr_schedule
    sched.base_lrs = [lr * ratio for lr in sched.base_lrs]
    sched._last_lr = [group["lr"] for group in run.optimizer.param_groups]


def _prepare_dir(out: Path, cfg: Config, *, resume: bool,
                 overwrite: bool) -> tuple[dict | None, list[str]]:
    """Create (or check, for ``resume``) the run directory; returns the resume payload (or None)
    and the resumable config changes (recorded by :func:`_record_changes` once they are saved)."""
    import yaml

    if resume:
        if not is_stamped(out, "run"):
            what = "was not made by mmbss as a run" if out.is_dir() and any(out.iterdir()) \
                else "holds no run"
            raise FileNotFoundError(f"cannot resume: '{out}' {what}; start the run without "
                                    f"--resume (or check the path).")
        for folder in (out, out / "checkpoints"):
            for p in remove_temporaries(folder):
                log.info("removed %s, left by an interrupted write", p)
        try:
            state, _ = load_resume(out / "checkpoints")
        except FileNotFoundError:
            log.warning("'%s' has no checkpoint yet (the run stopped before its first epoch "
                        "ended); starting it over.", out)
            overwrite = True
        else:
            try:
                changes = resume_changes(state["config"], cfg, trained_epochs=state["epoch"])
            except ConfigError as e:
                raise ConfigError(f"cannot resume '{out}': {e}") from None
            if changes:
                log.warning("resuming '%s' at epoch %d with changed %s", out, state["epoch"],
                            "; ".join(changes))
            (out / "summary.json").unlink(missing_ok=True)  # the run is unfinished again
            return state, changes
    clear_output_dir(out, kind="run", overwrite=overwrite)
    (out / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return None, []


def _record_changes(out: Path, cfg: Config, epoch: int, changes: list[str]) -> None:
    """Once the changed config is in a checkpoint (or the run is summarised): log the change in
    ``resume_changes.jsonl`` and make ``config.yaml`` the config in use."""
    import yaml

    append_jsonl(out / "resume_changes.jsonl", {"epoch": epoch, "changes": changes})
    write_text_atomic(out / "config.yaml", yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def _summary(cfg: Config, out: Path, best: dict | None) -> dict:
    records, timings = read_jsonl(out / "metrics.jsonl"), read_jsonl(out / "timings.jsonl")
    times = {k: math.fsum(r[k] for r in timings) for k in ("train", "scoring", "eval")}
    return {"method": cfg.method.name, "seed": cfg.train.seed, "dataset": cfg.data.name,
            "epochs": cfg.train.epochs, "best_epoch": None if best is None else best["epoch"],
            "selected_by": f"val {cfg.train.select_metric}",
            "best_val": None if best is None else best["val"],
            "test": None if best is None else best["test"],
            "final_test": records[-1].get("test") if records else None, "time": times}
