"""ResNet-18 and ResNet-50 encoders (He et al., 2016), written for mmbss.

Registered as ``"resnet18"`` (BasicBlocks, 2-2-2-2, 512-d features) and ``"resnet50"``
(Bottlenecks, 3-4-6-3, 2048-d features). Architecture: stem (7x7/2 conv + 3x3/2 max-pool, or a
3x3/1 conv for small images), four stages ``layer1``..``layer4`` of widths 64, 128, 256, 512
(stride 2 at the first block of stages 2-4, 1x1 conv + BN projection shortcut ``downsample``
where the shape changes), global average pool. The Bottleneck is the v1.5 layout (the stride
sits on its 3x3 conv, as in torchvision). No classifier: the output is the feature vector. Frame
stacks ``[T, C, H, W]`` per sample are encoded frame by frame and averaged over T (the reference
code's temporal average pooling).

The module names are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``layer2.0.downsample.0``), so a torchvision state dict loads with ``weights=PATH`` (its
``fc.*`` classifier is dropped; see :mod:`mmbss.models._weights` for the channel adaptation).

Examples:
    >>> import torch
    >>> from mmbss.models import create_encoder
    >>> enc = create_encoder("resnet18", (1, 8, 8), small_input=True)
    >>> enc(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 512])
"""

from __future__ import annotations

import os

import torch
from torch import nn

from mmbss.core._validation import check_bool
from mmbss.models._checks import check_shape
from mmbss.models._weights import check_weights_path, load_weights
from mmbss.models.encoders import ENCODERS, init_conv_bn

from ..core.errors import InvalidValueError

__all__ = ["ResNet18Encoder", "ResNet50Encoder"]

_WIDTHS = (64, 128, 256, 512)


def _downsample(in_ch: int, out_ch: int, stride: int) -> nn.Sequential | None:
    """The projection shortcut (1x1 conv + BN) when the shape changes, else ``None``."""
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_ch))


class _BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus a shortcut: ``relu(bn2(conv2(relu(bn1(conv1 x)))) + s(x))``."""

    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = _downsample(in_ch, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class _Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 (stride) -> 1x1 (expand x4) conv-BN layers plus a shortcut."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int):
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class _ResNetEncoder(nn.Module):
    """Shared body of the ResNet encoders; subclasses set the block, depths and names."""

    float_input = True  #: MultiModalNet refuses integer inputs for it with a clear TypeError
    _block: type[nn.Module] = _BasicBlock
    _depths: tuple[int, ...] = (2, 2, 2, 2)
    _arch = "resnet18"

    def __init__(self, input_shape: tuple[int, ...], *, small_input: bool = False,
                 frames: bool | None = None, weights: str | os.PathLike | None = None):
        super().__init__()
        owner = type(self).__name__
        self.input_shape = check_shape(owner, "input_shape", input_shape, ndim=(3, 4))
        self.small_input = check_bool(owner, "small_input", small_input)
        if frames is None:
            frames = len(self.input_shape) == 4
        self.frames = check_bool(owner, "frames", frames)
        if len(self.input_shape) != (4 if frames else 3):
            expected = "(T, C, H, W) with frames=True" if frames else "(C, H, W) with frames=False"
            raise InvalidValueError(f"{owner}: 'input_shape' must be {expected}; got {input_shape!r}.")
        weights_path = check_weights_path(owner, weights)
        if weights_path is not None and self.small_input:
            raise InvalidValueError(
                f"{owner}: 'weights' cannot be used with small_input=True: the downloaded "
                f"{self._arch} starts with a 7x7 stride-2 conv1 and a max-pool, the small-input "
                "stem with a 3x3 conv; set small_input=False (and give images of at least "
                "about 64x64) or drop 'weights'.")
        in_ch, stem = self.input_shape[-3], _WIDTHS[0]
        if self.small_input:
            self.conv1 = nn.Conv2d(in_ch, stem, 3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_ch, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = (nn.Identity() if self.small_input
                                   else nn.MaxPool2d(3, stride=2, padding=1))
        prev = stem
        for i, (width, depth) in enumerate(zip(_WIDTHS, self._depths, strict=True)):
            blocks = [self._block(prev, width, 1 if i == 0 else 2)]
            prev = width * self._block.expansion
            blocks += [self._block(prev, width, 1) for _ in range(depth - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_dim: int = prev
        init_conv_bn(self)
        self.weights = None if weights_path is None else str(weights_path)
        if weights_path is not None:
            load_weights(self, weights_path, owner=owner, classifier="fc.",
                         first_conv="conv1.weight",
                         source=f"torchvision.models.{self._arch}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[B, C, H, W]`` (or ``[B, T, C, H, W]`` with frames) to ``[B, out_dim]``."""
        if self.frames:
            b, t = x.shape[:2]
            feats = self._encode(x.reshape(b * t, *x.shape[2:]))
            return feats.reshape(b, t, -1).mean(dim=1)
        return self._encode(x)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


@ENCODERS.register("resnet18")
class ResNet18Encoder(_ResNetEncoder):
    """ResNet-18 feature extractor for images, spectrograms or frame stacks.

    Args:
        input_shape: ``(C, H, W)`` for one image/spectrogram (any C, e.g. 1 for audio, 3 for
            RGB), or ``(T, C, H, W)`` for T frames per sample.
        small_input: replace the 7x7 stride-2 stem and its max-pool by one 3x3 stride-1 conv
            (keeps resolution for small images such as 32x32).
        frames: treat the input as ``(T, C, H, W)`` frame stacks; ``None`` detects it from
            ``len(input_shape) == 4``.
        weights: path of a downloaded torchvision ``resnet18`` state dict (e.g. the ImageNet
            file ``resnet18-f37072fd.pth``), or ``None`` for random weights. Its ``fc.*`` keys
            are dropped; a 3-channel ``conv1`` is adapted to C != 3 channels (mean of the RGB
            filters times 3/C); any other mismatch is an error. Not with ``small_input``.

    Shapes:
        ``[B, C, H, W] -> [B, 512]``; with frames ``[B, T, C, H, W] -> [B, 512]`` (the T frames
        are folded into the batch, encoded, and their features averaged).

    Initialisation: Kaiming-normal (fan_out, ReLU) convs, BatchNorm weight 1 and bias 0.
    With 3 input channels and the standard stem it has 11,176,512 parameters (torchvision's
    resnet18 without its 513,000-parameter fc; 1 channel: 11,170,240).
    """

    _block = _BasicBlock
    _depths = (2, 2, 2, 2)
    _arch = "resnet18"


@ENCODERS.register("resnet50")
class ResNet50Encoder(_ResNetEncoder):
    """ResNet-50 feature extractor (Bottleneck v1.5) for images, spectrograms or frame stacks.

    Args:
        input_shape: ``(C, H, W)``, or ``(T, C, H, W)`` for T frames per sample.
        small_input: replace the 7x7 stride-2 stem and its max-pool by one 3x3 stride-1 conv.
        frames: treat the input as ``(T, C, H, W)`` frame stacks; ``None`` detects it from
            ``len(input_shape) == 4``.
        weights: path of a downloaded torchvision ``resnet50`` state dict (e.g.
            ``resnet50-0676ba61.pth`` or ``resnet50-11ad3fa6.pth``), or ``None``; the same rules
            as for ``resnet18``.

    Shapes:
        ``[B, C, H, W] -> [B, 2048]``; with frames ``[B, T, C, H, W] -> [B, 2048]``.

    Initialisation as ``resnet18``. With 3 input channels and the standard stem it has
    23,508,032 parameters (torchvision's resnet50 without its 2,049,000-parameter fc).
    """

    _block = _Bottleneck
    _depths = (3, 4, 6, 3)
    _arch = "resnet50"
