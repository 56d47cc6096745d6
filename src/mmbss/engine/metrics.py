"""Evaluation metrics (SPEC §8): accuracy, macro-F1, mAP, per-modality accuracy, gap, agreement."""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["accuracy", "macro_f1", "mean_average_precision", "evaluate_outputs", "prediction_logits"]


def accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``pred`` (LongTensor[N]) equal to ``labels`` (LongTensor[N])."""
    return float((pred == labels).double().mean()) if labels.numel() else 0.0


def macro_f1(pred: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in labels or predictions."""
    f1s = []
    for c in range(num_classes):
        tp = int(((pred == c) & (labels == c)).sum())
        fp = int(((pred == c) & (labels != c)).sum())
        fn = int(((pred != c) & (labels == c)).sum())
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s) if f1s else 0.0


def mean_average_precision(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over classes (with at least one positive) of average precision, one-vs-rest.

    Args:
        scores: Tensor[N, C] (higher = more likely), labels: LongTensor[N].
    AP of a class = mean, over its positives, of the precision among the samples ranked at or
    above that positive (ranked by descending score; ties are ordered by index).
    """
    aps = []
    for c in range(scores.shape[1]):
        pos = labels == c
        n_pos = int(pos.sum())
        if n_pos == 0:
            continue
        order = torch.sort(scores[:, c], descending=True, stable=True).indices
        hits = pos[order].double()
        precision = hits.cumsum(0) / torch.arange(1, hits.numel() + 1, dtype=torch.float64)
        aps.append(float((precision * hits).sum() / n_pos))
    return sum(aps) / len(aps) if aps else 0.0


def prediction_logits(fused: torch.Tensor, unimodal: Mapping[str, torch.Tensor], rule: str) -> torch.Tensor:
    """Logits the prediction is taken from: "sum" (z_f + sum_m z_m, reference), "fused", "unimodal"."""
    if rule == "fused":
        return fused
    uni = sum(unimodal.values())
    return uni if rule == "unimodal" else fused + uni


def evaluate_outputs(fused: torch.Tensor, unimodal: Mapping[str, torch.Tensor], labels: torch.Tensor,
                     num_classes: int, rule: str = "sum") -> dict:
    """All metrics of one split from its logits.

    Args:
        fused: Tensor[N, C]; unimodal: name -> Tensor[N, C]; labels: LongTensor[N].
        rule: prediction rule (see :func:`prediction_logits`).
    Returns:
        dict with ``acc``, ``macro_f1``, ``map``, ``modality_acc`` (name -> accuracy of that head
        alone), ``unimodal_gap`` (max - min of those), ``agreement`` (fraction of samples on which
        every unimodal head predicts the same class).
    """
    logits = prediction_logits(fused, unimodal, rule)
    pred = logits.argmax(1)
    uni_pred = {m: z.argmax(1) for m, z in unimodal.items()}
    mod_acc = {m: accuracy(p, labels) for m, p in uni_pred.items()}
    preds = torch.stack(list(uni_pred.values()))
    agree = (preds == preds[0]).all(0)
    return {
        "acc": accuracy(pred, labels),
        "macro_f1": macro_f1(pred, labels, num_classes),
        "map": mean_average_precision(logits.softmax(1), labels),
        "modality_acc": mod_acc,
        "unimodal_gap": max(mod_acc.values()) - min(mod_acc.values()),
        "agreement": float(agree.double().mean()) if labels.numel() else 0.0,
    }
