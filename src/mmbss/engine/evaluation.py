"""Eval-mode passes over a dataset: collect logits (and features) and compute split metrics."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

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


@torch.no_grad()
def collect_outputs(model: torch.nn.Module, dataset, batch_size: int, device: torch.device,
                    keep_features: bool = False) -> Outputs:
    """Run ``model`` in eval mode over ``dataset`` in index order (mode restored afterwards)."""
    was_training = model.training
    model.eval()
    parts: dict[str, list] = {"fused": [], "labels": []}
    try:
        for start in range(0, len(dataset), batch_size):
            batch = dataset.batch(torch.arange(start, min(start + batch_size, len(dataset))))
            out = model({k: v.to(device) for k, v in batch["modalities"].items()})
            parts["fused"].append(out.fused.cpu())
            parts["labels"].append(batch["label"])
            groups = [("u", out.unimodal)] + ([("f", out.features), ("h", out.head_inputs)]
                                               if keep_features else [])
            for tag, d in groups:
                for k, v in d.items():
                    parts.setdefault(f"{tag}:{k}", []).append(v.cpu())
    finally:
        model.train(was_training)
    cat = {k: torch.cat(v) for k, v in parts.items()}
    pick = lambda tag: {k[2:]: v for k, v in cat.items() if k.startswith(tag + ":")}  # noqa: E731
    return Outputs(cat["fused"], pick("u"), cat["labels"],
                   pick("f") if keep_features else None, pick("h") if keep_features else None)


def split_metrics(outputs: Outputs, method, model, predict: str, num_classes: int) -> dict:
    """Metrics of one split plus its mean training loss (with the method's loss weights)."""
    rule = method.predict or predict
    metrics = evaluate_outputs(outputs.fused, outputs.unimodal, outputs.labels, num_classes, rule)
    loss = weighted_loss(outputs, outputs.labels, method.fused_weight, method.unimodal_weight)
    return {"loss": float(loss.mean()), **metrics}


def exact_criteria(model: torch.nn.Module, dataset, scorer, batch_size: int, device: torch.device,
                   gradient_mode: str = "heads") -> dict:
    """Raw criteria of every sample of ``dataset`` from one eval-mode pass (SPEC §2).

    With ``scorer.information == "gradient"`` and ``gradient_mode == "exact"`` the closed form at the
    heads is replaced by the exact per-sample gradient norm over all parameters
    (:func:`per_sample_grad_norms`).
    """
    outputs = collect_outputs(model, dataset, batch_size, device, keep_features=True)
    criteria = scorer.criteria(outputs.fused, outputs.unimodal, outputs.labels,
                               features=outputs.features, head_inputs=outputs.head_inputs)
    if scorer.information == "gradient" and gradient_mode == "exact":
        criteria["gradient"] = per_sample_grad_norms(
            model, dataset, scorer.weight("fused"), {m: scorer.weight(m) for m in outputs.unimodal},
            batch_size=min(batch_size, 64), device=device)
    return criteria


def per_sample_grad_norms(model: torch.nn.Module, dataset, fused_weight: float,
                          unimodal_weights: dict, batch_size: int, device: torch.device) -> torch.Tensor:
    """Exact per-sample norm of the gradient of the training loss over all parameters, Tensor[N].

    The loss of sample i is ``w_f CE(z_f) + sum_m w_m CE(z_m)``; the model is in eval mode (BatchNorm
    uses its running statistics), and ``torch.func.vmap(grad(...))`` gives one gradient per sample
    without a batch-size-1 loop. Memory grows as batch_size x number of parameters: meant for small
    models (the reference computes this with a batch-size-1 backward pass, which is very slow).
    """
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss_of_one(p, x, y):
        out = functional_call(model, (p, buffers), ({k: v.unsqueeze(0) for k, v in x.items()},))
        y = y.unsqueeze(0)
        loss = fused_weight * F.cross_entropy(out.fused, y)
        for m, z in out.unimodal.items():
            loss = loss + unimodal_weights[m] * F.cross_entropy(z, y)
        return loss

    per_sample = vmap(grad(loss_of_one), in_dims=(None, 0, 0))
    was_training, norms = model.training, []
    model.eval()
    try:
        for start in range(0, len(dataset), batch_size):
            batch = dataset.batch(torch.arange(start, min(start + batch_size, len(dataset))))
            g = per_sample(params, {k: v.to(device) for k, v in batch["modalities"].items()},
                           batch["label"].to(device))
            sq = sum(t.reshape(t.shape[0], -1).pow(2).sum(1) for t in g.values())
            norms.append(sq.sqrt().cpu())
    finally:
        model.train(was_training)
    return torch.cat(norms)
