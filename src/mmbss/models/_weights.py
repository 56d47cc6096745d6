"""Load downloaded pretrained weights into an encoder (the ``weights`` option).

:func:`load_weights` reads a file with ``torch.load(path, map_location="cpu",
weights_only=True)`` and accepts a plain state dict or ``{"state_dict": ...}``; a leading
``module.`` (a DistributedDataParallel checkpoint) is stripped from every key that has it. The
classifier the downloaded file carries (``fc.*`` for a torchvision ResNet, ``logits.*`` for a
pytorch-i3d file) is dropped, said at DEBUG level.

Channel adaptation: when the file's first convolution takes 3 input channels and the encoder
takes C != 3 (a 1-channel spectrogram or depth map, a 2-channel optical flow), its weight
``w [out, 3, *k]`` becomes ``w.mean(dim=1, keepdim=True).repeat(1, C, ...) * 3 / C``: every
input channel gets the mean of the 3 RGB filters, scaled so that the sum over input channels is
kept (a grey input copied to the C channels gives the response of that grey image in RGB). This
is said at INFO level. BatchNorm ``num_batches_tracked`` counters that an old file lacks (saved
before PyTorch 0.4.1) are set to 0. Any other missing or unexpected key or shape mismatch is an
error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.errors import InvalidTypeError, InvalidValueError

__all__: list[str] = []

logger = logging.getLogger(__name__)

_SHOWN = 10  # keys listed per kind in the mismatch message


def check_weights_path(owner: str, value: Any) -> Path | None:
    """``None``, or ``value`` as a ``Path`` to an existing file (else a clear error)."""
    if value is None:
        return None
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise InvalidTypeError(f"{owner}: 'weights' must be the path of a weights file or None; "
                               f"got {value!r}.")
    path = Path(value).expanduser()
    if path.is_dir():
        raise InvalidValueError(f"{owner}: 'weights' must be the path of a weights file; "
                                f"'{path}' is a folder.")
    if not path.is_file():
        raise InvalidValueError(f"{owner}: the 'weights' file '{path}' does not exist; download "
                                "the pretrained weights first and give the path of the file, or "
                                "set weights=None to start from random weights.")
    return path


def _state_dict_of(owner: str, path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged file, not a torch file, or pickled objects
        raise InvalidValueError(f"{owner}: the 'weights' file '{path}' cannot be read with "
                                f"torch.load(weights_only=True): {err}") from None
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise InvalidValueError(f"{owner}: the 'weights' file '{path}' does not hold a state "
                                "dict (a dict of parameter names to tensors, or {'state_dict': "
                                "...}); save it with torch.save(model.state_dict(), path).")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _listed(keys: list[str]) -> str:
    more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
    return f"{len(keys)} {keys[:_SHOWN]!r}{more}"


def load_weights(module: nn.Module, path: Path, *, owner: str, classifier: str,
                 first_conv: str, source: str) -> None:
    """Load the state dict in ``path`` into ``module`` (see the module docstring for the rules).

    Args:
        module: the encoder; its ``state_dict()`` keys are the expected ones.
        path: an existing file (see :func:`check_weights_path`).
        owner: the encoder's name for messages.
        classifier: key prefix of the classifier to drop, e.g. ``"fc."``.
        first_conv: key of the first convolution's weight, e.g. ``"conv1.weight"``.
        source: what such files hold, for the message (e.g. "torchvision.models.resnet18").

    Raises:
        ValueError: the file cannot be read, holds no state dict, or its keys or shapes do not
            match the encoder's (the message lists them).
    """
    state = _state_dict_of(owner, path)
    dropped = sorted(k for k in state if k.startswith(classifier))
    if dropped:
        logger.debug("%s: dropped the classifier keys %s of '%s'", owner, dropped, path)
        state = {k: v for k, v in state.items() if not k.startswith(classifier)}
    own = module.state_dict()
    counters = [k for k in own if k.endswith("num_batches_tracked") and k not in state]
    if counters:  # files saved before PyTorch 0.4.1 (e.g. the pytorch-i3d ones) lack them
        logger.debug("%s: '%s' has no BatchNorm num_batches_tracked; set to 0", owner, path)
        state.update({k: torch.zeros_like(own[k]) for k in counters})
    conv, target = state.get(first_conv), own.get(first_conv)
    if conv is not None and target is not None and conv.dim() == target.dim() >= 2 \
            and conv.shape[1] == 3 and target.shape[1] != 3 \
            and conv.shape[:1] + conv.shape[2:] == target.shape[:1] + target.shape[2:]:
        c = target.shape[1]
        repeat = (1, c) + (1,) * (conv.dim() - 2)
        state[first_conv] = conv.mean(dim=1, keepdim=True).repeat(*repeat) * (3.0 / c)
        logger.info("%s: '%s' of '%s' takes 3 input channels, the encoder %d: each channel got "
                    "the mean of the 3 filters times 3/%d (their sum is kept)", owner,
                    first_conv, path, c, c)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: file {list(state[k].shape)} vs encoder {list(v.shape)}"
              for k, v in own.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        raise InvalidValueError(
            f"{owner}: the 'weights' file '{path}' does not match this encoder: missing keys "
            f"{_listed(missing)}; unexpected keys {_listed(unexpected)}; shape mismatches "
            f"{_listed(shapes)}. Give the state dict of {source} (the classifier "
            f"'{classifier}*' is dropped and a 3-channel first conv adapted to the input "
            "channels), or set weights=None.")
    module.load_state_dict(state, strict=True)
