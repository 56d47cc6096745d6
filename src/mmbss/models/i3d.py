"""Inception-I3D video encoder (Carreira & Zisserman, 2017), written for mmbss, as ``"i3d"``.

Inception-v1 inflated to 3-D: ``Conv3d_1a_7x7`` (7x7x7, stride 2) -> ``MaxPool3d_2a_3x3``
(1x3x3, stride 1x2x2) -> ``Conv3d_2b_1x1`` -> ``Conv3d_2c_3x3`` -> ``MaxPool3d_3a_3x3`` (1x3x3,
stride 1x2x2) -> ``Mixed_3b`` (256 channels), ``Mixed_3c`` (480) -> ``MaxPool3d_4a_3x3`` (3x3x3,
stride 2) -> ``Mixed_4b``..``Mixed_4f`` (512, 512, 512, 528, 832) -> ``MaxPool3d_5a_2x2`` (2x2x2,
stride 2) -> ``Mixed_5b`` (832), ``Mixed_5c`` (1024) -> global average pool over (T, H, W). No
logits layer: the output is the 1024-d feature.

Every conv unit is ``conv3d`` (no bias) -> ``bn`` (BatchNorm3d, eps 1e-3, momentum 0.01) -> ReLU;
an inception block has the branches ``b0`` (1x1x1), ``b1a`` -> ``b1b`` (1x1x1 -> 3x3x3),
``b2a`` -> ``b2b`` (1x1x1 -> 3x3x3) and ``b3a`` -> ``b3b`` (3x3x3 max-pool -> 1x1x1),
concatenated. Padding is TensorFlow's "same", computed from the input size in ``forward`` (the
pools pad with zeros, as pytorch-i3d does; their inputs are ReLU outputs, so this equals TF). The
module names are those of the pytorch-i3d weight files (``rgb_imagenet.pt``, ``flow_imagenet.pt``),
so ``weights=PATH`` loads them (their ``logits.*`` keys are dropped).

Input sizes: any T, H, W >= 1 work, since a "same" layer of stride s maps a size n to ceil(n/s)
>= 1; the network strides time by 8 and space by 32 in all (64x224x224 ends as 8x7x7, 8x32x32 as
1x1x1), so about 8 frames of 32x32 is the smallest input whose features still mix neighbours
(and, in training mode, BatchNorm needs a batch of 2 or more for a clip that small).
The T, H and W of a batch may differ from ``input_shape`` (e.g. 64 training frames, 80 for
evaluation) with the same weights; the channel count may not.

Examples:
    >>> import torch
    >>> from mmbss.models import create_encoder
    >>> enc = create_encoder("i3d", (4, 3, 16, 16))
    >>> enc(torch.zeros(2, 4, 3, 16, 16)).shape
    torch.Size([2, 1024])
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from mmbss.core._validation import check_choice
from mmbss.models._checks import check_shape
from mmbss.models._weights import check_weights_path, load_weights
from mmbss.models.encoders import ENCODERS, init_conv_bn

__all__ = ["I3DEncoder"]

Triple = tuple[int, int, int]

# end point -> (input channels, [b0, b1a, b1b, b2a, b2b, b3b] output channels)
_MIXED = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


def _same_padding(sizes: torch.Size, kernel: Triple, stride: Triple) -> list[int]:
    """``F.pad`` argument for TF "same" padding of the last three dims (W first, extra at end)."""
    pad: list[int] = []
    for n, k, s in zip(reversed(sizes), reversed(kernel), reversed(stride), strict=True):
        total = max(k - (s if n % s == 0 else n % s), 0)
        pad += [total // 2, total - total // 2]
    return pad


class _Unit3d(nn.Module):
    """``conv3d`` (no bias, "same" padding) -> ``bn`` -> ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: Triple = (1, 1, 1),
                 stride: Triple = (1, 1, 1)):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv3d = nn.Conv3d(in_ch, out_ch, kernel, stride=stride, padding=0, bias=False)
        self.bn = nn.BatchNorm3d(out_ch, eps=1e-3, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = _same_padding(x.shape[2:], self.kernel, self.stride)
        if any(pad):
            x = F.pad(x, pad)
        return F.relu(self.bn(self.conv3d(x)), inplace=True)


class _MaxPool3dSame(nn.Module):
    """3-D max-pool with TF "same" padding (zeros, as in pytorch-i3d; inputs are >= 0)."""

    def __init__(self, kernel: Triple, stride: Triple):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = _same_padding(x.shape[2:], self.kernel, self.stride)
        if any(pad):
            x = F.pad(x, pad)
        return F.max_pool3d(x, self.kernel, self.stride)


class _Inception(nn.Module):
    """Four branches (1x1x1; 1x1x1-3x3x3; 1x1x1-3x3x3; pool-1x1x1) concatenated on channels."""

    def __init__(self, in_ch: int, plan: tuple[int, ...]):
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3b = plan
        self.b0 = _Unit3d(in_ch, c0)
        self.b1a = _Unit3d(in_ch, c1a)
        self.b1b = _Unit3d(c1a, c1b, (3, 3, 3))
        self.b2a = _Unit3d(in_ch, c2a)
        self.b2b = _Unit3d(c2a, c2b, (3, 3, 3))
        self.b3a = _MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = _Unit3d(in_ch, c3b)
        self.out_ch = c0 + c1b + c2b + c3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                          self.b3b(self.b3a(x))], dim=1)


@ENCODERS.register("i3d")
class I3DEncoder(nn.Module):
    """Inception-I3D feature extractor for video clips (RGB frames or optical flow).

    Args:
        input_shape: one clip, ``(T, C, H, W)`` (frames, channels, height, width: the layout the
            mmbss video datasets store) with the default ``layout``, or ``(C, T, H, W)`` with
            ``layout="CTHW"``. C is the number of input channels (3 for RGB, 2 for flow, 1 for
            depth). Batches may have other T, H, W (see the module docstring).
        layout: ``"TCHW"`` (default; permuted to channels-first inside) or ``"CTHW"``.
        weights: path of a downloaded pytorch-i3d state dict (``rgb_imagenet.pt`` for C=3,
            ``flow_imagenet.pt`` for C=2), or ``None`` for random weights. Its ``logits.*`` keys
            are dropped; a 3-channel ``Conv3d_1a_7x7`` is adapted to C != 3 channels (mean of
            the RGB filters times 3/C); any other mismatch is an error. Those files expect
            inputs scaled to [-1, 1]; the encoder does not normalise.

    Shapes:
        ``[B, T, C, H, W]`` (or ``[B, C, T, H, W]``) ``-> [B, 1024]``.

    Attributes:
        variable_axes: the per-sample axes (T, H, W) whose size may differ from
            ``input_shape``; :class:`~mmbss.models.MultiModalNet` checks only the others.

    Initialisation: Kaiming-normal (fan_out, ReLU) convs, BatchNorm weight 1 and bias 0.
    With 3 input channels it has 12,287,264 parameters (pytorch-i3d's InceptionI3d without its
    400-class logits layer).
    """

    float_input = True  #: MultiModalNet refuses integer inputs for it with a clear TypeError

    def __init__(self, input_shape: tuple[int, ...], *, layout: str = "TCHW",
                 weights: str | os.PathLike | None = None):
        super().__init__()
        owner = "I3DEncoder"
        self.input_shape = check_shape(owner, "input_shape", input_shape, ndim=(4,))
        self.layout = check_choice(owner, "layout", layout, ("TCHW", "CTHW"))
        channels_axis = 1 if self.layout == "TCHW" else 0
        self.variable_axes = tuple(i for i in range(4) if i != channels_axis)
        self.in_channels = self.input_shape[channels_axis]
        weights_path = check_weights_path(owner, weights)
        self.Conv3d_1a_7x7 = _Unit3d(self.in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = _MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = _Unit3d(64, 64)
        self.Conv3d_2c_3x3 = _Unit3d(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = _MaxPool3dSame((1, 3, 3), (1, 2, 2))
        for name in ("Mixed_3b", "Mixed_3c"):
            self.add_module(name, _Inception(*_MIXED[name]))
        self.MaxPool3d_4a_3x3 = _MaxPool3dSame((3, 3, 3), (2, 2, 2))
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            self.add_module(name, _Inception(*_MIXED[name]))
        self.MaxPool3d_5a_2x2 = _MaxPool3dSame((2, 2, 2), (2, 2, 2))
        for name in ("Mixed_5b", "Mixed_5c"):
            self.add_module(name, _Inception(*_MIXED[name]))
        self.out_dim: int = self.Mixed_5c.out_ch
        init_conv_bn(self)
        self.weights = None if weights_path is None else str(weights_path)
        if weights_path is not None:
            load_weights(self, weights_path, owner=owner, classifier="logits.",
                         first_conv="Conv3d_1a_7x7.conv3d.weight",
                         source="pytorch-i3d's InceptionI3d, e.g. rgb_imagenet.pt for 3 "
                                "channels or flow_imagenet.pt for 2")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[B, T, C, H, W]`` (``[B, C, T, H, W]`` with ``layout="CTHW"``) to ``[B, 1024]``."""
        if self.layout == "TCHW":
            x = x.permute(0, 2, 1, 3, 4)
        for module in self.children():
            x = module(x)
        return x.mean(dim=(2, 3, 4))
