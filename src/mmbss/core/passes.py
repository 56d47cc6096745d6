"""Eval-mode passes over a DataLoader: every sample's model outputs, criteria and balance score.

Works with any model that returns the SPEC §1 outputs — an object with ``fused`` and ``unimodal``
(and optionally ``features`` / ``head_inputs``) attributes, or a tuple
``(fused, unimodal[, features])`` — and any loader whose batches are the collated sample dicts
``{"modalities": {name: Tensor[B, ...]}, "label": Tensor[B], "index": Tensor[B]}``. Outputs are
placed by each batch's ``index``, so the loader may use any sampler (shuffled, sharded).

Under an initialised ``torch.distributed`` process group every function gathers by default: call
it on every rank with that rank's shard (e.g. a ``DistributedSampler`` loader) and each rank gets
the outputs or raw criteria of the whole set. Criteria are gathered *raw* and combined once, so
the scores equal a single-process pass (normalising each shard's scores on its own would not).

Examples:
    >>> import torch
    >>> from mmbss import BalanceScorer, score_dataset
    >>> class Net(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x["a"], {"a": x["a"], "b": x["b"]}
    >>> batches = [{"modalities": {"a": torch.randn(2, 3), "b": torch.randn(2, 3)},
    ...             "label": torch.tensor([0, 2]), "index": torch.tensor([1, 0])}]
    >>> score_dataset(Net(), batches, BalanceScorer(), num_samples=2).shape
    torch.Size([2])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from .distributed import is_distributed, merge_by_index
from .errors import InvalidTypeError, InvalidValueError

__all__ = ["collect_outputs", "score_criteria", "score_dataset", "split_outputs"]


def split_outputs(out) -> tuple[torch.Tensor, dict, dict | None, dict | None]:
    """``(fused, unimodal, features, head_inputs)`` of a model's output (object or tuple)."""
    if hasattr(out, "fused") and hasattr(out, "unimodal"):
        return (out.fused, dict(out.unimodal), getattr(out, "features", None),
                getattr(out, "head_inputs", None))
    if isinstance(out, (tuple, list)) and len(out) in (2, 3) and isinstance(out[1], Mapping):
        return out[0], dict(out[1]), (dict(out[2]) if len(out) == 3 else None), None
    raise InvalidTypeError("the model must return an object with 'fused' and 'unimodal' attributes or a "
                           "tuple (fused [B, C], {modality: [B, C]}[, {modality: features}]); got "
                           f"{type(out).__name__}.")


@torch.no_grad()
def collect_outputs(model: torch.nn.Module, loader: Iterable, *, num_samples: int | None = None,
                    device: torch.device | str | None = None, keep_features: bool = False,
                    gather: bool | None = None) -> dict:
    """Run ``model`` in eval mode over ``loader`` and place every output by sample index.

    The model's train/eval mode is restored afterwards (also on error); no autograd.

    Args:
        model: returns the SPEC §1 outputs (see the module docstring).
        loader: iterable of collated sample dicts (a ``DataLoader``).
        num_samples: N; default ``len(loader.dataset)``.
        device: where batches go; default the device of the model's first parameter (or CPU).
        keep_features: also collect ``features`` and ``head_inputs``.
        gather: merge the rows of every rank (default: when a process group of more than one
            process is initialised; then call it on every rank).
    Returns:
        ``{"fused": [N, C], "unimodal": {m: [N, C]}, "labels": LongTensor[N],
        "features": {m: [N, D_m]} | None, "head_inputs": {...} | None, "seen": BoolTensor[N]}``
        on the CPU; rows of samples the loader did not yield are zero and ``seen`` is False.
    Raises:
        ValueError: a batch lacks a key, or holds an index outside ``[0, N)``.
    """
    if not isinstance(model, torch.nn.Module):
        raise InvalidTypeError(f"'model' must be a torch.nn.Module; got {type(model).__name__}.")
    n = _num_samples(loader, num_samples)
    device = torch.device(device) if device is not None else _model_device(model)
    store: dict = {}
    seen = torch.zeros(n, dtype=torch.bool)
    was_training = model.training
    model.eval()
    try:
        for batch in loader:
            idx = _indices(batch, n)
            fused, uni, feats, heads = split_outputs(
                model({k: v.to(device, non_blocking=True) for k, v in batch["modalities"].items()}))
            parts = {"fused": fused, "labels": batch["label"],
                     **{f"unimodal/{k}": v for k, v in uni.items()}}
            if keep_features:
                parts.update({f"features/{k}": v for k, v in (feats or {}).items()})
                parts.update({f"head_inputs/{k}": v for k, v in (heads or {}).items()})
            for key, value in parts.items():
                value = torch.as_tensor(value).detach().cpu()
                if key not in store:
                    store[key] = torch.zeros((n, *value.shape[1:]), dtype=value.dtype)
                store[key][idx] = value
            seen[idx] = True
    finally:
        model.train(was_training)
    gathered = gather if gather is not None else is_distributed()
    if not store and gathered:
        raise InvalidValueError(f"the loader of this rank yielded no batch; expected batches covering "
                                f"{n} samples over all ranks (give every rank a shard).")
    if not store:
        raise InvalidValueError(f"the loader yielded no batch; expected batches covering {n} samples.")
    if gathered:
        store, seen = merge_by_index(store, seen)
    group = lambda tag: {k.split("/", 1)[1]: v for k, v in store.items()  # noqa: E731
                         if k.startswith(tag + "/")} or None
    return {"fused": store["fused"], "unimodal": group("unimodal"), "labels": store["labels"],
            "features": group("features") if keep_features else None,
            "head_inputs": group("head_inputs") if keep_features else None, "seen": seen}


def score_criteria(model: torch.nn.Module, loader: Iterable, scorer, *,
                   num_samples: int | None = None, device: torch.device | str | None = None,
                   gather: bool | None = None) -> tuple[dict, torch.Tensor]:
    """Raw criteria of every sample (``scorer.criteria`` over one eval-mode pass) and the
    ``seen`` mask, BoolTensor[N] (False where no rank's loader yielded the sample).

    Under a process group (``gather``, as in :func:`collect_outputs`) each rank computes the
    criteria of its own shard and the raw criteria are merged, so every rank returns the same
    full criteria (N floats per criterion cross the network, not the logits)."""
    out = collect_outputs(model, loader, num_samples=num_samples, device=device,
                          keep_features=scorer.correlation == "feature"
                          or scorer.information == "gradient", gather=False)
    criteria = scorer.criteria(out["fused"], out["unimodal"], out["labels"],
                               features=out["features"], head_inputs=out["head_inputs"])
    seen = out["seen"]
    if gather if gather is not None else is_distributed():
        criteria, seen = merge_by_index(dict(criteria), seen)
    return criteria, seen


def score_dataset(model: torch.nn.Module, loader: Iterable, scorer, *,
                  num_samples: int | None = None, device: torch.device | str | None = None,
                  gather: bool | None = None) -> torch.Tensor:
    """Imbalance scores d, Tensor[N] in [0, 2], of every sample from one eval-mode pass (SPEC §2:
    use a loader without augmentation). The loader must cover every sample; under a process
    group the ranks' loaders together must (each rank passes its shard, every rank gets all N
    scores, equal to a single-process pass).

    Raises:
        ValueError: some samples were not yielded by ``loader`` (by any rank's loader).
    """
    criteria, seen = score_criteria(model, loader, scorer, num_samples=num_samples, device=device,
                                    gather=gather)
    if not bool(seen.all()):
        where = " over all ranks" if (gather if gather is not None else is_distributed()) else ""
        raise InvalidValueError(f"score_dataset: the loader yielded {int(seen.sum())} of {seen.numel()} "
                                f"samples{where}; score with a loader over the whole set (no "
                                f"sharding, no drop_last), or give every rank a shard of it.")
    return scorer.combine(criteria)


def _num_samples(loader, num_samples: int | None) -> int:
    if num_samples is not None:
        return int(num_samples)
    dataset = getattr(loader, "dataset", None)
    if dataset is None:
        raise InvalidTypeError("pass num_samples= when the loader has no 'dataset' attribute.")
    return len(dataset)


def _model_device(model: torch.nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def _indices(batch, n: int) -> torch.Tensor:
    if not isinstance(batch, Mapping):
        raise InvalidTypeError(f"a batch must be a collated sample dict with keys 'modalities', 'label' "
                               f"and 'index'; got {type(batch).__name__} (use "
                               f"collate_fn=mmbss.data.collate_samples).")
    missing = [k for k in ("modalities", "label", "index") if k not in batch]
    if missing:
        raise InvalidValueError(f"a batch lacks the key(s) {missing}; samples must be dicts "
                                f"{{'modalities': {{name: Tensor}}, 'label': int, 'index': int}}.")
    idx = torch.as_tensor(batch["index"]).reshape(-1).long()
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
        bad = int(idx.max()) if int(idx.max()) >= n else int(idx.min())
        raise InvalidValueError(f"a batch holds sample index {bad}, outside [0, {n - 1}] (the dataset has {n} samples); a sample's 'index' "
                                f"must be its position in its split.")
    return idx
