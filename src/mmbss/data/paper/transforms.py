"""The reference train and eval transforms, written in torch (no torchvision).

Images and frames are stored as uint8 ``[..., H, W, C]``; these functions return float
``[..., C, H, W]`` tensors. A ``generator`` argument makes every random draw reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["IMAGENET", "CLIP", "to_chw", "normalise", "resize", "random_resized_crop",
           "random_flip", "random_crop", "center_crop", "spectrogram"]

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))


def to_chw(u8: np.ndarray) -> torch.Tensor:
    """uint8 ``[..., H, W, C]`` -> float ``[..., C, H, W]`` in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(u8)).float().div_(255.0)
    return x.movedim(-1, -3).contiguous()


def normalise(x: torch.Tensor, stats: tuple[tuple[float, ...], tuple[float, ...]]) -> torch.Tensor:
    """``(x - mean) / std`` per channel (dim -3)."""
    mean = torch.tensor(stats[0]).view(-1, 1, 1)
    std = torch.tensor(stats[1]).view(-1, 1, 1)
    return (x - mean) / std


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear (antialiased) resize of ``[..., C, H, W]`` to ``size`` x ``size``."""
    if x.shape[-2:] == (size, size):
        return x
    lead = x.shape[:-3]
    flat = x.reshape(-1, *x.shape[-3:])
    out = F.interpolate(flat, size=(size, size), mode="bilinear", align_corners=False,
                        antialias=True)
    return out.reshape(*lead, *out.shape[-3:])


def _uniform(gen: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=gen))


def random_resized_crop(x: torch.Tensor, size: int, gen: torch.Generator,
                        scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """torchvision's ``RandomResizedCrop`` rule: up to 10 tries of a box of random area share
    in ``scale`` and log-uniform aspect ``ratio`` that fits, else the centre box of the nearest
    allowed ratio; the box is resized to ``size``. One box for all frames of ``[T, C, H, W]``."""
    h, w = x.shape[-2:]
    area = h * w
    for _ in range(10):
        target = area * _uniform(gen, *scale)
        aspect = math.exp(_uniform(gen, math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, (), generator=gen))
            left = int(torch.randint(0, w - cw + 1, (), generator=gen))
            return resize(x[..., top:top + ch, left:left + cw], size)
    in_ratio = w / h
    if in_ratio < ratio[0]:
        cw, ch = w, round(w / ratio[0])
    elif in_ratio > ratio[1]:
        ch, cw = h, round(h * ratio[1])
    else:
        cw, ch = w, h
    top, left = (h - ch) // 2, (w - cw) // 2
    return resize(x[..., top:top + ch, left:left + cw], size)


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Horizontal flip with probability 0.5."""
    return x.flip(-1) if float(torch.rand((), generator=gen)) < 0.5 else x


def random_crop(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """A random ``size`` x ``size`` window (the same for every frame)."""
    h, w = x.shape[-2:]
    top = int(torch.randint(0, h - size + 1, (), generator=gen))
    left = int(torch.randint(0, w - size + 1, (), generator=gen))
    return x[..., top:top + size, left:left + size]


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The centre ``size`` x ``size`` window."""
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top:top + size, left:left + size]


def spectrogram(stored: np.ndarray) -> torch.Tensor:
    """A stored float16 log-spectrogram ``[F, T]`` -> float32 ``[1, F, T]``."""
    return torch.from_numpy(np.asarray(stored, dtype=np.float32)).unsqueeze(0)
