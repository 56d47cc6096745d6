"""Eval-mode passes of the trainer: split metrics and the exact scoring pass (over DataLoaders).

The passes themselves are the core's (:mod:`mmbss.core.passes`); this module adds the split
metrics and the exact per-sample gradient criterion.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core import passes
from ..core.distributed import merge_by_index
from ..core.errors import InvalidValueError
from ..core.scoring import training_loss
from ..methods.base import weighted_loss
from .metrics import evaluate_outputs

__all__ = ["Outputs", "collect_outputs", "split_metrics", "exact_criteria", "per_sample_grad_norms"]


@dataclass
class Outputs:
    """Model outputs over a whole dataset, on the CPU: fused [N,C], unimodal name -> [N,C],
    features / head_inputs name -> [N,D] (None unless asked for), labels [N]."""
    fused: torch.Tensor
    unimodal: dict
    labels: torch.Tensor
    features: dict | None = None
    head_inputs: dict | None = None


def collect_outputs(model: torch.nn.Module, loader, device: torch.device,
                    keep_features: bool = False, num_samples: int | None = None) -> Outputs:
    """Every sample's outputs from one eval-mode pass over ``loader`` (placed by index); the
    loader must cover its dataset of ``num_samples`` (under DDP: the ranks' loaders together,
    whose outputs are gathered on every rank)."""
    out = passes.collect_outputs(model, loader, device=device, keep_features=keep_features,
                                 num_samples=num_samples)
    if not bool(out["seen"].all()):
        raise InvalidValueError(f"the evaluation loader yielded {int(out['seen'].sum())} of "
                                f"{out['seen'].numel()} samples; every sample must be evaluated.")
    return Outputs(out["fused"], out["unimodal"], out["labels"], out["features"], out["head_inputs"])


def split_metrics(outputs: Outputs, method, model, predict: str, num_classes: int) -> dict:
    """Metrics of one split plus its mean training loss (with the method's loss weights)."""
    rule = method.predict or predict
    metrics = evaluate_outputs(outputs.fused, outputs.unimodal, outputs.labels, num_classes, rule)
    loss = weighted_loss(outputs, outputs.labels, method.fused_weight, method.unimodal_weight)
    return {"loss": float(loss.mean()), **metrics}


def exact_criteria(model: torch.nn.Module, loader, scorer, device: torch.device,
                   gradient_mode: str = "heads", num_samples: int | None = None
                   ) -> tuple[dict, torch.Tensor]:
    """Raw criteria of every sample of ``loader``'s dataset (``num_samples`` of them) from one
    eval-mode pass (SPEC §2), and the samples' labels, LongTensor[N].

    With ``scorer.information == "gradient"`` and ``gradient_mode == "exact"`` the closed form at the
    heads is replaced by the exact per-sample gradient norm over all parameters
    (:func:`per_sample_grad_norms`). Under DDP each rank scores its shard and the raw criteria
    (N numbers each, not the outputs) are gathered, so every rank returns the same values as
    one process.
    """
    out = passes.collect_outputs(model, loader, device=device, keep_features=True,
                                 num_samples=num_samples, gather=False)
    criteria = scorer.criteria(out["fused"], out["unimodal"], out["labels"],
                               features=out["features"], head_inputs=out["head_inputs"])
    if scorer.information == "gradient" and gradient_mode == "exact":
        criteria["gradient"] = per_sample_grad_norms(
            model, loader, scorer.weight("fused"),
            {m: scorer.weight(m) for m in model.encoders}, device=device,
            num_samples=len(out["seen"]))
    merged, seen = merge_by_index({**criteria, "__label": out["labels"].double()}, out["seen"])
    if not bool(seen.all()):
        raise InvalidValueError(f"the scoring loader yielded {int(seen.sum())} of {seen.numel()} "
                                f"samples; every training sample must be scored.")
    labels = merged.pop("__label").long()
    return merged, labels


def per_sample_grad_norms(model: torch.nn.Module, loader, fused_weight: float,
                          unimodal_weights: dict, device: torch.device,
                          chunk: int = 64, num_samples: int | None = None) -> torch.Tensor:
    """Exact per-sample norm of the gradient of the training loss over all parameters, Tensor[N]
    (placed by each batch's ``index``).

    The loss of sample i is ``w_f CE(z_f) + sum_m w_m CE(z_m)``; the model is in eval mode (BatchNorm
    uses its running statistics), and ``torch.func.vmap(grad(...))`` gives one gradient per sample
    without a batch-size-1 loop, ``chunk`` samples at a time. Memory grows as chunk x number of
    parameters: meant for small models (the reference computes this with a batch-size-1 backward
    pass, which is very slow).
    """
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    weights = {"fused": fused_weight, **unimodal_weights}

    def loss_of_one(p, x, y):
        out = functional_call(model, (p, buffers), ({k: v.unsqueeze(0) for k, v in x.items()},))
        return training_loss(out.fused, out.unimodal, y.unsqueeze(0), weights).sum()

    per_sample = vmap(grad(loss_of_one), in_dims=(None, 0, 0))
    norms = torch.zeros(len(loader.dataset) if num_samples is None else num_samples)
    was_training = model.training
    model.eval()
    try:
        for batch in loader:
            for start in range(0, len(batch["index"]), chunk):
                part = slice(start, start + chunk)
                g = per_sample(params, {k: v[part].to(device) for k, v in batch["modalities"].items()},
                               batch["label"][part].to(device))
                sq = sum(t.reshape(t.shape[0], -1).pow(2).sum(1) for t in g.values())
                norms[batch["index"][part]] = sq.sqrt().cpu()
    finally:
        model.train(was_training)
    return norms
