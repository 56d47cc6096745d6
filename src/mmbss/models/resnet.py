"""ResNet-18 encoder (He et al., 2016), written for mmbss, registered as ``"resnet18"``.

Architecture: stem (7x7/2 conv + 3x3/2 max-pool, or a 3x3/1 conv for small images), four stages
of two BasicBlocks with widths 64, 128, 256, 512 (stride 2 at the first block of stages 2-4,
1x1 conv + BN projection shortcut where shape changes), global average pool. No classifier:
the output is the 512-d feature. Frame stacks ``[T, C, H, W]`` per sample are encoded frame by
frame and averaged over T (the reference code's temporal average pooling).

Example:
    >>> import torch
    >>> from mmbss.models import create_encoder
    >>> enc = create_encoder("resnet18", (1, 8, 8), small_input=True)
    >>> enc(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 512])
"""

from __future__ import annotations

import torch
from torch import nn

from mmbss.core._validation import check_bool
from mmbss.models._checks import check_shape
from mmbss.models.encoders import ENCODERS, init_conv_bn

from ..core.errors import InvalidValueError

__all__ = ["ResNet18Encoder"]

_WIDTHS = (64, 128, 256, 512)
_BLOCKS = (2, 2, 2, 2)


class _BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus a shortcut: ``relu(bn2(conv2(relu(bn1(conv1 x)))) + s(x))``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


@ENCODERS.register("resnet18")
class ResNet18Encoder(nn.Module):
    """ResNet-18 feature extractor for images, spectrograms or frame stacks.

    Args:
        input_shape: ``(C, H, W)`` for one image/spectrogram (any C, e.g. 1 for audio, 3 for
            RGB), or ``(T, C, H, W)`` for T frames per sample.
        small_input: replace the 7x7 stride-2 stem and its max-pool by one 3x3 stride-1 conv
            (keeps resolution for small images such as 32x32).
        frames: treat the input as ``(T, C, H, W)`` frame stacks; ``None`` detects it from
            ``len(input_shape) == 4``.

    Shapes:
        ``[B, C, H, W] -> [B, 512]``; with frames ``[B, T, C, H, W] -> [B, 512]`` (the T frames
        are folded into the batch, encoded, and their features averaged).

    Initialisation: Kaiming-normal (fan_out, ReLU) convs, BatchNorm weight 1 and bias 0.
    With 3 input channels and the standard stem it has 11,176,512 parameters (1 channel:
    11,170,240).
    """

    float_input = True  #: MultiModalNet refuses integer inputs for it with a clear TypeError

    def __init__(self, input_shape: tuple[int, ...], *, small_input: bool = False,
                 frames: bool | None = None):
        super().__init__()
        owner = "ResNet18Encoder"
        self.input_shape = check_shape(owner, "input_shape", input_shape, ndim=(3, 4))
        self.small_input = check_bool(owner, "small_input", small_input)
        if frames is None:
            frames = len(self.input_shape) == 4
        self.frames = check_bool(owner, "frames", frames)
        if len(self.input_shape) != (4 if frames else 3):
            expected = "(T, C, H, W) with frames=True" if frames else "(C, H, W) with frames=False"
            raise InvalidValueError(f"{owner}: 'input_shape' must be {expected}; got {input_shape!r}.")
        in_ch = self.input_shape[-3]
        self.stem = self._make_stem(in_ch, self.small_input)
        stages, prev = [], _WIDTHS[0]
        for i, (width, blocks) in enumerate(zip(_WIDTHS, _BLOCKS, strict=True)):
            stride = 1 if i == 0 else 2
            layers = [_BasicBlock(prev, width, stride)]
            layers += [_BasicBlock(width, width, 1) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            prev = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim: int = _WIDTHS[-1]
        init_conv_bn(self)

    @staticmethod
    def _make_stem(in_ch: int, small_input: bool) -> nn.Sequential:
        if small_input:
            conv = nn.Conv2d(in_ch, _WIDTHS[0], 3, stride=1, padding=1, bias=False)
            return nn.Sequential(conv, nn.BatchNorm2d(_WIDTHS[0]), nn.ReLU(inplace=True))
        conv = nn.Conv2d(in_ch, _WIDTHS[0], 7, stride=2, padding=3, bias=False)
        return nn.Sequential(conv, nn.BatchNorm2d(_WIDTHS[0]), nn.ReLU(inplace=True),
                             nn.MaxPool2d(3, stride=2, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[B, C, H, W]`` (or ``[B, T, C, H, W]`` with frames) to ``[B, 512]``."""
        if self.frames:
            b, t = x.shape[:2]
            feats = self._encode(x.reshape(b * t, *x.shape[2:]))
            return feats.reshape(b, t, -1).mean(dim=1)
        return self._encode(x)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return torch.flatten(self.pool(x), 1)

