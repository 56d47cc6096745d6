"""Shared helpers of the gradient-policy tests."""

from __future__ import annotations

import torch

from mmbss.methods import EpochContext


def context(epoch: int = 0, model=None, labels=None, data=None, batch_size: int = 8) -> EpochContext:
    """An EpochContext for calling a policy's ``on_epoch_start`` by hand; ``data`` is
    ``{"modalities": {m: Tensor[N, ...]}, "label": LongTensor[N]}`` for the ``batches`` reader."""

    def batches(indices):
        idx = torch.as_tensor(list(indices), dtype=torch.int64)
        for chunk in idx.split(batch_size):
            yield {"modalities": {m: v[chunk] for m, v in data["modalities"].items()},
                   "label": data["label"][chunk], "index": chunk}

    n = 0 if data is None else len(data["label"])
    return EpochContext(epoch, model, torch.device("cpu"), n,
                        lambda: labels if labels is not None else data["label"], batches)
