"""Per-modality encoders and their registry.

Every encoder is an ``nn.Module`` built from the shape of *one* sample (without the batch
dimension) that maps ``[B, *input_shape]`` to features ``[B, out_dim]``; it exposes the ints
``out_dim`` and the tuple ``input_shape``; the class attribute ``float_input = True`` tells
:class:`~mmbss.models.MultiModalNet` to refuse integer (e.g. uint8 or int64) inputs with a clear
error (an encoder of token ids would leave it out). ``create_encoder(name, input_shape, **kw)``
builds one by registered name; ``list_encoders()`` lists the names.

Registered here: ``mlp`` (flattening multi-layer perceptron) and ``cnn2d`` (small 2-D CNN).
The others register themselves into the same registry when :mod:`mmbss.models` is imported:
``resnet18`` and ``resnet50`` (:mod:`mmbss.models.resnet`, torchvision-compatible weights),
``i3d`` (:mod:`mmbss.models.i3d`, Inception-I3D for video clips ``(T, C, H, W)``, pytorch-i3d
weights) and ``transformer`` (:mod:`mmbss.models.text`, a Hugging Face text model from a local
folder; its input is integer token ids, so it sets ``float_input = False``). The ResNets and I3D
take ``weights=PATH`` to load a downloaded state dict. An encoder may list in ``variable_axes``
the per-sample axes whose size may change between batches (I3D's T, H, W).

Examples:
    >>> import torch
    >>> enc = create_encoder("mlp", (240,), hidden=(64,))
    >>> enc(torch.zeros(5, 240)).shape, enc.out_dim
    (torch.Size([5, 64]), 64)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from mmbss.core._validation import check_bool, check_float, check_int
from mmbss.core.registry import Registry
from mmbss.models._checks import check_int_tuple, check_options, check_shape

from ..core.errors import InvalidValueError

__all__ = ["ENCODERS", "CNN2dEncoder", "MLPEncoder", "create_encoder", "list_encoders"]

ENCODERS = Registry("encoder")
"""Registry of encoder factories; each takes ``input_shape`` plus keyword options."""


def create_encoder(name: str, input_shape: tuple[int, ...], **kwargs: Any) -> nn.Module:
    """Build a registered encoder for samples of shape ``input_shape``.

    Args:
        name: registered encoder name (see :func:`list_encoders`), e.g. ``"mlp"``, ``"cnn2d"``,
            ``"resnet18"``, ``"resnet50"``, ``"i3d"``, ``"transformer"``.
        input_shape: shape of one sample without the batch dimension, e.g. ``(240,)``,
            ``(1, 16, 15)`` or ``(3, 224, 224)``; ``(T, C, H, W)`` for frame stacks (resnet18,
            resnet50) and video clips (i3d); ``(2, L)`` for token ids and mask (transformer).
        **kwargs: the encoder's options; they override its defaults.

    Returns:
        An ``nn.Module`` mapping ``[B, *input_shape]`` to ``[B, out_dim]``, with attributes
        ``out_dim: int`` and ``input_shape: tuple``.

    Raises:
        ValueError: unknown ``name`` (the message lists the valid names and a close match), or a
            bad option value.
        TypeError: an option the encoder does not have (the message lists the valid ones).
    """
    factory = ENCODERS.get(name)
    check_options(f"create_encoder({name!r})", factory, kwargs)
    return ENCODERS.create(name, input_shape=input_shape, **kwargs)


def list_encoders() -> list[str]:
    """Return the sorted names of the registered encoders (feeds ``--help``)."""
    return ENCODERS.names()


def init_conv_bn(module: nn.Module) -> None:
    """Kaiming-normal (fan_out, ReLU) for every conv; BatchNorm weight 1 and bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@ENCODERS.register("mlp")
class MLPEncoder(nn.Module):
    """Flatten, then ``Linear -> [BatchNorm1d] -> ReLU -> [Dropout]`` per hidden width.

    Args:
        input_shape: shape of one sample; it is flattened, so any shape works, e.g. ``(240,)``.
        hidden: widths of the hidden blocks, e.g. ``(256,)`` or ``(512, 256)``. An empty tuple
            (with ``out_dim=None``) makes a plain flattening encoder, ``out_dim = prod(shape)``.
        dropout: dropout probability after each block, in ``[0, 1)``.
        norm: insert ``BatchNorm1d`` after each Linear layer.
        out_dim: if given, one more block of this width is appended (same as
            ``hidden=(*hidden, out_dim)``).

    Shapes:
        ``[B, *input_shape] -> [B, out_dim]``; ``out_dim`` is the last width.
    """

    float_input = True  #: MultiModalNet refuses integer inputs for it with a clear TypeError

    def __init__(self, input_shape: tuple[int, ...], *, hidden: tuple[int, ...] = (256,),
                 dropout: float = 0.0, norm: bool = False, out_dim: int | None = None):
        super().__init__()
        owner = "MLPEncoder"
        self.input_shape = check_shape(owner, "input_shape", input_shape)
        widths = check_int_tuple(owner, "hidden", hidden, allow_empty=True)
        self.dropout = check_float(owner, "dropout", dropout, low=0.0, high=1.0, high_open=True)
        self.norm = check_bool(owner, "norm", norm)
        if check_int(owner, "out_dim", out_dim, low=1, allow_none=True) is not None:
            widths = (*widths, out_dim)
        self.hidden = widths
        layers: list[nn.Module] = [nn.Flatten(1)]
        prev = math.prod(self.input_shape)
        for width in widths:
            layers.append(nn.Linear(prev, width))
            if norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.ReLU(inplace=True))
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            prev = width
        self.layers = nn.Sequential(*layers)
        self.out_dim: int = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` of shape ``[B, *input_shape]`` to features ``[B, out_dim]``."""
        return self.layers(x)


@ENCODERS.register("cnn2d")
class CNN2dEncoder(nn.Module):
    """Small 2-D CNN for images and spectrograms: conv-BN-ReLU blocks, global average pool.

    A 2x2 max-pool follows every block but the last while both spatial sizes are still >= 2,
    so tiny inputs such as the 16x15 mfeat digits work (16x15 -> 8x7 with the defaults).

    Args:
        input_shape: ``(C, H, W)``, or ``(H, W)`` for a single-channel input given without its
            channel axis (it is added in ``forward``).
        channels: output channels of the blocks, e.g. ``(32, 64)``.
        kernel_size: odd convolution kernel size (``padding = kernel_size // 2``).
        dropout: dropout probability on the pooled features, in ``[0, 1)``.

    Shapes:
        ``[B, C, H, W]`` (or ``[B, H, W]``) ``-> [B, channels[-1]]``.
    """

    float_input = True  #: MultiModalNet refuses integer inputs for it with a clear TypeError

    def __init__(self, input_shape: tuple[int, ...], *, channels: tuple[int, ...] = (32, 64),
                 kernel_size: int = 3, dropout: float = 0.0):
        super().__init__()
        owner = "CNN2dEncoder"
        self.input_shape = check_shape(owner, "input_shape", input_shape, ndim=(2, 3))
        self.channels = check_int_tuple(owner, "channels", channels)
        k = check_int(owner, "kernel_size", kernel_size, low=1)
        if k % 2 == 0:
            raise InvalidValueError(f"{owner}: 'kernel_size' must be an odd int >= 1; got {k!r}.")
        self.kernel_size = k
        self.dropout = check_float(owner, "dropout", dropout, low=0.0, high=1.0, high_open=True)
        in_ch, h, w = (1, *self.input_shape) if len(self.input_shape) == 2 else self.input_shape
        layers: list[nn.Module] = []
        for i, ch in enumerate(self.channels):
            layers += [nn.Conv2d(in_ch, ch, k, padding=k // 2, bias=False),
                       nn.BatchNorm2d(ch), nn.ReLU(inplace=True)]
            if i < len(self.channels) - 1 and min(h, w) >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            in_ch = ch
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]
        if self.dropout > 0:
            layers.append(nn.Dropout(self.dropout))
        self.layers = nn.Sequential(*layers)
        self.out_dim: int = self.channels[-1]
        init_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` of shape ``[B, *input_shape]`` to features ``[B, out_dim]``."""
        if len(self.input_shape) == 2:
            x = x.unsqueeze(1)
        return self.layers(x)
