"""Fusion modules: combine per-modality features into fused logits, and their registry.

Every fusion maps ``{modality: Tensor[B, D_m]}`` to ``(logits [B, C], head_input [B, H])``,
where ``head_input`` is exactly the input of the final linear map producing the logits:
``logits == head_input @ W.T + b`` with ``(W, b) = fusion.head_weight_bias()``. That is what the
closed-form gradient criterion ``||softmax(z) - onehot(y)|| * ||head_input||`` needs (exact for
the gradient of the cross-entropy w.r.t. ``W``).

Registered fusions (all accept any number M >= 2 of modalities, in ``feature_dims`` order):

- ``concat``: ``Linear(sum D_m, C)`` on the concatenated features. ``H = sum D_m``.
- ``sum``: one ``Linear(D_m, C)`` per modality, logits summed. This is the same map as
  ``concat`` with ``W = [W_1 | ... | W_M]`` and ``b = sum b_m``, so the head input is the
  concatenated features and ``H = sum D_m``.
- ``film``: the conditioning modality c (``x_film``, default the first) gives
  ``gamma, beta = split(Linear(D_c, 2*hidden))``; every other modality is projected by its own
  ``Linear(D_m, hidden)`` and the projections are summed into ``u``; the head input is
  ``gamma * u + beta`` and ``H = hidden``. For M = 2 this is FiLM(other | c) of the reference.
- ``gated``: every modality is projected by ``Linear(D_m, hidden)``; the gate modality g
  (``x_gate``, default the first) gives ``sigmoid(p_g)``, which multiplies the sum ``u`` of the
  other projections; the head input is ``sigmoid(p_g) * u`` and ``H = hidden``.

Examples:
    >>> import torch
    >>> fusion = create_fusion("film", {"audio": 512, "video": 256}, num_classes=6, hidden=64)
    >>> logits, h = fusion({"audio": torch.zeros(4, 512), "video": torch.zeros(4, 256)})
    >>> logits.shape, h.shape
    (torch.Size([4, 6]), torch.Size([4, 64]))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mmbss.core._validation import check_choice, check_int
from mmbss.core.registry import Registry
from mmbss.models._checks import check_feature_dims, check_keys, check_options

from ..core.errors import InvalidValueError

__all__ = [
    "FUSIONS",
    "ConcatFusion",
    "FiLMFusion",
    "Fusion",
    "GatedFusion",
    "SumFusion",
    "create_fusion",
    "list_fusions",
]

FUSIONS = Registry("fusion")
"""Registry of fusion factories; each takes ``feature_dims``, ``num_classes`` and options."""


def create_fusion(name: str, feature_dims: dict[str, int], num_classes: int,
                  **kwargs: Any) -> nn.Module:
    """Build a registered fusion.

    Args:
        name: registered fusion name (see :func:`list_fusions`): ``"concat"``, ``"sum"``,
            ``"film"`` or ``"gated"``.
        feature_dims: ``{modality: D_m}`` in modality order, at least two entries.
        num_classes: number of classes C (>= 2).
        **kwargs: the fusion's options (``hidden``, ``x_film``, ``x_gate``); they override its
            defaults.

    Returns:
        A :class:`Fusion` mapping ``{m: [B, D_m]}`` to ``(logits [B, C], head_input [B, H])``.

    Raises:
        ValueError: unknown ``name`` (lists the valid names), fewer than two modalities,
            ``num_classes < 2`` or a bad option value.
        TypeError: an option the fusion does not have (lists the valid ones).
    """
    factory = FUSIONS.get(name)
    check_options(f"create_fusion({name!r})", factory, kwargs)
    return FUSIONS.create(name, feature_dims=feature_dims, num_classes=num_classes, **kwargs)


def list_fusions() -> list[str]:
    """Return the sorted names of the registered fusions (feeds ``--help``)."""
    return FUSIONS.names()


class Fusion(nn.Module):
    """Base class of the fusions: validated ``feature_dims`` and ``num_classes``, input checks.

    Subclasses set ``head_dim`` (H), implement ``forward(features) -> (logits, head_input)``
    and ``head_weight_bias()``. A custom fusion passed to ``MultiModalNet`` only needs the
    ``forward`` contract.

    Args:
        feature_dims: ``{modality: D_m}``, at least two modalities; the order is the modality
            order used for concatenation.
        num_classes: number of classes C (>= 2).
    """

    head_dim: int

    def __init__(self, feature_dims: Mapping[str, int], num_classes: int):
        super().__init__()
        owner = type(self).__name__
        self.num_classes = check_int(owner, "num_classes", num_classes, low=2)
        self.feature_dims = check_feature_dims(owner, feature_dims)

    @property
    def modality_names(self) -> list[str]:
        """Modality names in fusion order."""
        return list(self.feature_dims)

    def head_weight_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Effective final linear map: ``(W [C, H], b [C])`` with ``logits = h @ W.T + b``."""
        raise NotImplementedError

    def _check_features(self, features: Mapping[str, torch.Tensor]) -> None:
        owner = type(self).__name__
        check_keys(owner, self.feature_dims, features, "the features dict")
        batch = None
        for name, dim in self.feature_dims.items():
            x = features[name]
            if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != dim:
                got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
                raise InvalidValueError(
                    f"{owner}: features[{name!r}] must be a tensor of shape [B, {dim}]; got {got}."
                )
            if batch is not None and x.shape[0] != batch:
                raise InvalidValueError(
                    f"{owner}: all features must have the same batch size; features[{name!r}] "
                    f"has {x.shape[0]}, expected {batch}."
                )
            batch = x.shape[0]

    def _concat(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([features[m] for m in self.feature_dims], dim=1)


@FUSIONS.register("concat")
class ConcatFusion(Fusion):
    """Concatenate the features in modality order, then one ``Linear(sum D_m, C)``.

    Shapes:
        ``{m: [B, D_m]} -> (logits [B, C], head_input [B, sum D_m])``.
    """

    def __init__(self, feature_dims: Mapping[str, int], num_classes: int):
        super().__init__(feature_dims, num_classes)
        self.head_dim = sum(self.feature_dims.values())
        self.head = nn.Linear(self.head_dim, self.num_classes)

    def forward(self, features: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits [B, C], concatenated features [B, sum D_m])``."""
        self._check_features(features)
        h = self._concat(features)
        return self.head(h), h

    def head_weight_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(W [C, sum D_m], b [C])`` of the single head."""
        return self.head.weight, self.head.bias


@FUSIONS.register("sum")
class SumFusion(Fusion):
    """One ``Linear(D_m, C)`` per modality; the fused logits are their sum.

    The head input is the concatenation of the features: the sum equals one linear map on it
    with ``W = [W_1 | ... | W_M]`` and ``b = sum_m b_m``.

    Shapes:
        ``{m: [B, D_m]} -> (logits [B, C], head_input [B, sum D_m])``.
    """

    def __init__(self, feature_dims: Mapping[str, int], num_classes: int):
        super().__init__(feature_dims, num_classes)
        self.head_dim = sum(self.feature_dims.values())
        self.heads = nn.ModuleDict(
            {m: nn.Linear(d, self.num_classes) for m, d in self.feature_dims.items()}
        )

    def forward(self, features: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(sum_m Linear_m(e_m) [B, C], concatenated features [B, sum D_m])``."""
        self._check_features(features)
        logits = sum(self.heads[m](features[m]) for m in self.feature_dims)
        return logits, self._concat(features)

    def head_weight_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cat_m W_m along dim 1 [C, sum D_m], sum_m b_m [C])``."""
        weight = torch.cat([self.heads[m].weight for m in self.feature_dims], dim=1)
        bias = torch.stack([self.heads[m].bias for m in self.feature_dims]).sum(0)
        return weight, bias


def _check_hidden_and_choice(owner: str, hidden: int, key: str, value: str | None,
                             names: list[str]) -> tuple[int, str]:
    hidden = check_int(owner, "hidden", hidden, low=1)
    chosen = names[0] if value is None else check_choice(owner, key, value, names)
    return hidden, chosen


@FUSIONS.register("film")
class FiLMFusion(Fusion):
    """Feature-wise linear modulation: one modality's features scale and shift the others'.

    Args:
        feature_dims: ``{modality: D_m}``, at least two modalities, dims may differ.
        num_classes: number of classes C.
        hidden: common width H of the modulated representation.
        x_film: name of the conditioning modality (produces gamma and beta); default the first.

    With c the conditioning modality: ``gamma, beta = split(Linear(D_c, 2H)(e_c))``,
    ``u = sum_{m != c} Linear_m(e_m)`` (each ``Linear(D_m, H)``), ``h = gamma * u + beta``,
    ``logits = Linear(H, C)(h)``.

    Shapes:
        ``{m: [B, D_m]} -> (logits [B, C], head_input h [B, H])``.
    """

    def __init__(self, feature_dims: Mapping[str, int], num_classes: int, *, hidden: int = 256,
                 x_film: str | None = None):
        super().__init__(feature_dims, num_classes)
        self.hidden, self.x_film = _check_hidden_and_choice(
            "FiLMFusion", hidden, "x_film", x_film, self.modality_names)
        self.head_dim = self.hidden
        self.film = nn.Linear(self.feature_dims[self.x_film], 2 * self.hidden)
        self.proj = nn.ModuleDict({m: nn.Linear(d, self.hidden)
                                   for m, d in self.feature_dims.items() if m != self.x_film})
        self.head = nn.Linear(self.hidden, self.num_classes)

    def forward(self, features: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits [B, C], gamma * u + beta [B, H])``."""
        self._check_features(features)
        gamma, beta = self.film(features[self.x_film]).chunk(2, dim=1)
        u = sum(proj(features[m]) for m, proj in self.proj.items())
        h = gamma * u + beta
        return self.head(h), h

    def head_weight_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(W [C, H], b [C])`` of the output layer."""
        return self.head.weight, self.head.bias


@FUSIONS.register("gated")
class GatedFusion(Fusion):
    """Gated fusion: a sigmoid gate computed from one modality multiplies the others.

    Args:
        feature_dims: ``{modality: D_m}``, at least two modalities, dims may differ.
        num_classes: number of classes C.
        hidden: common width H every modality is projected to.
        x_gate: name of the gating modality; default the first.

    With g the gate modality and ``p_m = Linear_m(e_m)`` (each ``Linear(D_m, H)``):
    ``h = sigmoid(p_g) * sum_{m != g} p_m``, ``logits = Linear(H, C)(h)``.

    Shapes:
        ``{m: [B, D_m]} -> (logits [B, C], head_input h [B, H])``.
    """

    def __init__(self, feature_dims: Mapping[str, int], num_classes: int, *, hidden: int = 256,
                 x_gate: str | None = None):
        super().__init__(feature_dims, num_classes)
        self.hidden, self.x_gate = _check_hidden_and_choice(
            "GatedFusion", hidden, "x_gate", x_gate, self.modality_names)
        self.head_dim = self.hidden
        self.proj = nn.ModuleDict({m: nn.Linear(d, self.hidden)
                                   for m, d in self.feature_dims.items()})
        self.head = nn.Linear(self.hidden, self.num_classes)

    def forward(self, features: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits [B, C], sigmoid(p_gate) * sum of the other projections [B, H])``."""
        self._check_features(features)
        gate = torch.sigmoid(self.proj[self.x_gate](features[self.x_gate]))
        u = sum(self.proj[m](features[m]) for m in self.feature_dims if m != self.x_gate)
        h = gate * u
        return self.head(h), h

    def head_weight_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(W [C, H], b [C])`` of the output layer."""
        return self.head.weight, self.head.bias
