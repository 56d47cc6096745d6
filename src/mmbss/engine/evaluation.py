"""Eval-mode passes over a dataset: collect logits (and features) and compute split metrics."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .metrics import evaluate_outputs

__all__ = ["Outputs", "collect_outputs", "split_metrics"]


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
    loss = method.fused_weight * F.cross_entropy(outputs.fused, outputs.labels)
    for z in outputs.unimodal.values():
        loss = loss + (method.unimodal_weight or 1.0) * F.cross_entropy(z, outputs.labels)
    return {"loss": float(loss), **metrics}
