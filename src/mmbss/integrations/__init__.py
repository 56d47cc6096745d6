"""BSS inside the training loop of another framework: Lightning or Accelerate.

* :mod:`mmbss.integrations.lightning`: :class:`~mmbss.integrations.lightning.BSSCallback` and
  :class:`~mmbss.integrations.lightning.BSSDataModule` (``pip install 'mmbss[lightning]'``);
* :mod:`mmbss.integrations.accelerate`: :func:`~mmbss.integrations.accelerate.prepare_bss_loader`
  and the scoring helpers (``pip install 'mmbss[accelerate]'``).

``import mmbss`` imports neither framework; each module imports its framework when it is itself
imported, and raises a clear error on first use when the framework is missing. Both keep what
the core guarantees under DDP: every rank trains on its own shard of one global BSS sequence
(``BalanceSampler(num_replicas=world, rank=rank)``, never sharded a second time), and every
rank holds the same scores, equal to a single-process scoring pass (raw criteria gathered by
:func:`mmbss.score_criteria`, online records merged by :meth:`mmbss.OnlineScoreTracker.merge`).
``docs/integrations.md`` has the recipes and the framework defaults they work around.

This package module holds the framework-free pieces the two adapters share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch.utils.data import DataLoader, default_collate

from ..core.errors import InvalidTypeError, InvalidValueError
from ..core.passes import score_criteria
from ..core.samplers import shard

__all__: list[str] = []

#: what a module's outputs must look like (SPEC §1), for the messages
_SPEC_OUTPUTS = ("(fused logits [B, C], {modality: logits [B, C]}) or an object with .fused and "
                ".unimodal")


def _collate(batch):
    """The default collate: a batch a dataset's ``__getitems__`` already collated passes through,
    sample dicts are stacked (the rule of :func:`mmbss.data.collate_samples`)."""
    if isinstance(batch, Mapping):
        return dict(batch)
    return default_collate(batch)


def _describe(out) -> str:
    """A short description of a wrong output, for the messages."""
    if isinstance(out, torch.Tensor):
        return f"a Tensor of shape {tuple(out.shape)}"
    if isinstance(out, Mapping):
        return f"a dict with keys {sorted(map(str, out))}"
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} ({', '.join(_describe_item(v) for v in out)})"
    return f"a {type(out).__name__}"


def _describe_item(v) -> str:
    if isinstance(v, torch.Tensor):
        return f"Tensor{tuple(v.shape)}"
    if isinstance(v, Mapping):
        return "{}" if not v else "{" + ", ".join(f"{k!r}: {_describe_item(x)}" for k, x in v.items()) + "}"
    return type(v).__name__


def _parse(out) -> tuple | None:
    """``(fused, unimodal, features, head_inputs)`` of a SPEC §1 output given as a dict with
    ``fused`` and ``unimodal`` keys, an object with those attributes or a tuple ``(fused,
    unimodal[, features])``; None when ``out`` is none of these or lacks per-modality logits."""
    if isinstance(out, Mapping):
        if "fused" not in out or "unimodal" not in out:
            return None
        parts = (out["fused"], out["unimodal"], out.get("features"), out.get("head_inputs"))
    elif hasattr(out, "fused") and hasattr(out, "unimodal"):
        parts = (out.fused, out.unimodal, getattr(out, "features", None),
                 getattr(out, "head_inputs", None))
    elif isinstance(out, (tuple, list)) and len(out) in (2, 3):
        parts = (out[0], out[1], out[2] if len(out) == 3 else None, None)
    else:
        return None
    fused, uni = parts[0], parts[1]
    if not (isinstance(fused, torch.Tensor) and fused.dim() == 2 and isinstance(uni, Mapping) and uni
            and all(isinstance(z, torch.Tensor) and z.shape == fused.shape for z in uni.values())):
        return None
    return fused, dict(uni), parts[2], parts[3]


def _spec_outputs(out, lead: str, expected: str = _SPEC_OUTPUTS) -> tuple:
    """Parse a SPEC §1 output (see :func:`_parse`); else raise ``"<lead> <expected>, ...; got
    <what out is>."`` (``lead`` ends with "must return" or "must be")."""
    parsed = _parse(out)
    if parsed is None:
        raise InvalidTypeError(f"{lead} {expected}, with one logits Tensor per modality; got "
                               f"{_describe(out)}.")
    return parsed


def _record_outputs(tracker, scorer, batch, out, lead: str, expected: str = _SPEC_OUTPUTS) -> None:
    """Online scoring: the criteria of one training step's outputs, recorded by sample index."""
    fused, uni, feats, heads = _spec_outputs(out, lead, expected)
    det = lambda d: None if d is None else {k: v.detach().float() for k, v in d.items()}  # noqa: E731
    labels = torch.as_tensor(batch["label"]).to(fused.device)
    tracker.record(batch["index"], scorer.criteria(fused.detach().float(), det(uni), labels,
                                                   features=det(feats), head_inputs=det(heads)))


def _check_size(owner: str, name: str, dataset, num_samples: int) -> int:
    """``len(dataset)``, which must be the scheduler's N."""
    n = len(dataset)
    if n != num_samples:
        raise InvalidValueError(f"{owner}: '{name}' must hold the scheduler's {num_samples} training "
                                f"samples, index for index (scheduler.num_samples); got {n} samples.")
    return n


def _exact_criteria(model: torch.nn.Module, dataset, scorer, *, world: int, rank: int,
                   batch_size: int, collate_fn: Callable | None, num_workers: int,
                   device, lead: str) -> dict:
    """Raw criteria of every sample from one eval-mode pass over this rank's shard of
    ``dataset``, gathered over the ranks (equal to a single-process pass). ``lead`` opens the
    message raised when the model's outputs are not SPEC §1 outputs."""
    n = len(dataset)
    mine = shard(torch.arange(n), world, rank).tolist()  # equal lengths on every rank
    loader = DataLoader(dataset, batch_size=batch_size, sampler=mine, num_workers=num_workers,
                        collate_fn=collate_fn or _collate)

    def check(module, args, out):
        _spec_outputs(out, lead)

    handle = model.register_forward_hook(check)
    try:
        criteria, _ = score_criteria(model, loader, scorer, num_samples=n, device=device)
    finally:
        handle.remove()
    return criteria


def _rescore(scheduler, epoch: int, scorer, tracker, exact: Callable[[], dict]):
    """Give ``scheduler`` fresh scores when it wants them at ``epoch`` (call it on every rank).

    Online (``tracker`` given): the merged records of the training steps, or, before anything
    was recorded, an exact pass whose criteria then seed the tracker (SPEC §5); exact: the pass
    ``exact()``. Returns the scores given to the scheduler, or None when it wanted none."""
    if not scheduler.wants_scores(epoch):
        return None
    if tracker is not None:
        tracker.merge()  # every rank's records (a no-op on one process)
    if tracker is not None and bool(tracker.seen.any()):
        scores = tracker.scores(scorer)
    else:
        criteria = exact()
        if tracker is not None:
            tracker.record(torch.arange(scheduler.num_samples), criteria)
            tracker.merge()
        scores = scorer.combine(criteria)
    scheduler.update(scores)
    return scores
