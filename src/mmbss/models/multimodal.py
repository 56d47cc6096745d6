"""``MultiModalNet``: one encoder and one linear unimodal head per modality, plus a fusion.

This is the model contract of BSS (SPEC §1): for a batch the network returns fused logits
``z_f [B, C]``, unimodal logits ``z_m [B, C]`` for every modality, the features ``e_m [B, D_m]``
and the input of every final linear layer (for the closed-form gradient criterion).

Examples:
    >>> import torch
    >>> model = build_model({"pix": (1, 16, 15), "fou": (76,)}, num_classes=10)
    >>> out = model({"pix": torch.zeros(4, 1, 16, 15), "fou": torch.zeros(4, 76)})
    >>> out.fused.shape, out.unimodal["fou"].shape, sorted(out.head_inputs)
    (torch.Size([4, 10]), torch.Size([4, 10]), ['fou', 'fused', 'pix'])
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import torch
from torch import nn

from mmbss.core._validation import check_int
from mmbss.models._checks import check_keys, check_modality_name, check_shape
from mmbss.models.encoders import create_encoder
from mmbss.models.fusion import create_fusion

from ..core.errors import InvalidTypeError, InvalidValueError

__all__ = ["ModelOutput", "MultiModalNet", "build_model"]

logger = logging.getLogger(__name__)


class ModelOutput(NamedTuple):
    """What :class:`MultiModalNet` returns for a batch of B samples and C classes.

    A ``NamedTuple``, so ``torch.func`` (vmap, grad) and DDP traverse it like a tuple.

    Attributes:
        fused: fused logits ``[B, C]``.
        unimodal: ``{modality: logits [B, C]}`` from each modality's own linear head.
        features: ``{modality: [B, D_m]}`` encoder outputs (= the unimodal head inputs).
        head_inputs: ``{modality: [B, D_m]}`` (the features) plus ``"fused": [B, H]``, the input
            of the fusion's final linear layer.
    """

    fused: torch.Tensor
    unimodal: dict[str, torch.Tensor]
    features: dict[str, torch.Tensor]
    head_inputs: dict[str, torch.Tensor]


class MultiModalNet(nn.Module):
    """Multi-modal classifier: encoders, linear unimodal heads and a fusion head.

    Args:
        encoders: ``{modality: encoder}`` (at least two), in modality order; every encoder maps
            ``[B, ...]`` to ``[B, out_dim]`` and has an int attribute ``out_dim`` (and, if it
            has ``input_shape``, inputs are checked against it, except on the per-sample axes
            listed in its optional ``variable_axes``, e.g. the frames and size of an ``i3d``
            clip; if it has ``float_input = True``, as the built-in encoders but
            ``transformer`` do, integer inputs are refused).
        num_classes: number of classes C (>= 2).
        fusion: a registered fusion name (``"concat"``, ``"sum"``, ``"film"``, ``"gated"``) or a
            ready ``nn.Module`` with ``forward(features) -> (logits [B, C], head_input [B, H])``.
        **fusion_kw: options of the named fusion (e.g. ``hidden=128``, ``x_film="audio"``).

    Raises:
        ValueError: fewer than two modalities, a bad modality name, ``num_classes < 2``,
            an unknown fusion name.
        TypeError: an encoder without an int ``out_dim``, a wrong ``fusion`` type, or
            ``fusion_kw`` given together with a fusion module.

    Attributes:
        encoders: ``nn.ModuleDict`` of the encoders.
        heads: ``nn.ModuleDict`` of ``Linear(out_dim_m, C)`` unimodal heads.
        fusion: the fusion module.
    """

    def __init__(self, encoders: Mapping[str, nn.Module], num_classes: int,
                 fusion: str | nn.Module = "concat", **fusion_kw: Any):
        super().__init__()
        owner = "MultiModalNet"
        self.num_classes = check_int(owner, "num_classes", num_classes, low=2)
        dims = self._check_encoders(owner, encoders)
        self.encoders = nn.ModuleDict(dict(encoders))
        self.heads = nn.ModuleDict({m: nn.Linear(d, self.num_classes) for m, d in dims.items()})
        if isinstance(fusion, str):
            self.fusion = create_fusion(fusion, dims, self.num_classes, **fusion_kw)
        elif isinstance(fusion, nn.Module):
            if fusion_kw:
                raise InvalidTypeError(f"{owner}: fusion options {sorted(fusion_kw)!r} can only be "
                                       "given with a fusion name, not with a fusion module.")
            self.fusion = fusion
        else:
            raise InvalidTypeError(f"{owner}: 'fusion' must be a fusion name or an nn.Module; "
                                   f"got {fusion!r}.")

    @staticmethod
    def _check_encoders(owner: str, encoders: Any) -> dict[str, int]:
        if not isinstance(encoders, Mapping):
            raise InvalidTypeError(f"{owner}: 'encoders' must be a dict {{modality: nn.Module}}; "
                                   f"got {type(encoders).__name__}.")
        if len(encoders) < 2:
            raise InvalidValueError(f"{owner}: 'encoders' must hold at least 2 modalities (one encoder "
                                    f"per modality); got {list(encoders)!r}.")
        dims = {}
        for name, enc in encoders.items():
            check_modality_name(owner, name)
            out_dim = getattr(enc, "out_dim", None)
            if not isinstance(enc, nn.Module) or isinstance(out_dim, bool) \
                    or not isinstance(out_dim, int) or out_dim < 1:
                raise InvalidTypeError(f"{owner}: encoders[{name!r}] must be an nn.Module with a "
                                f"positive int attribute 'out_dim'; got {type(enc).__name__} "
                                       f"with out_dim={out_dim!r}.")
            dims[name] = out_dim
        return dims

    @property
    def modality_names(self) -> list[str]:
        """Modality names in model order (the order of ``encoders``)."""
        return list(self.encoders.keys())

    def encoder_parameters(self, name: str) -> Iterator[nn.Parameter]:
        """Iterate over the parameters of modality ``name``'s encoder (e.g. for OGM-GE).

        Raises:
            ValueError: ``name`` is not a modality of this model.
        """
        if name not in self.encoders:
            raise InvalidValueError(f"MultiModalNet: unknown modality {name!r}; "
                                    f"modalities: {self.modality_names!r}.")
        return self.encoders[name].parameters()

    def forward(self, modalities: Mapping[str, torch.Tensor]) -> ModelOutput:
        """Encode every modality, apply the unimodal heads and the fusion.

        Args:
            modalities: ``{modality: Tensor[B, *input_shape_m]}`` with exactly the model's
                modality names and one batch size B.

        Returns:
            :class:`ModelOutput` with ``fused [B, C]``, ``unimodal {m: [B, C]}``,
            ``features {m: [B, D_m]}`` and ``head_inputs`` (features plus ``"fused": [B, H]``).

        Raises:
            TypeError: an input that is not a tensor, or an integer/bool tensor for an encoder
                with ``float_input`` (every built-in one but ``transformer``).
            ValueError: missing or unexpected modality keys, a tensor whose per-sample shape
                differs from its encoder's ``input_shape``, or unequal batch sizes.
        """
        self._check_inputs(modalities)
        features = {m: self.encoders[m](modalities[m]) for m in self.modality_names}
        unimodal = {m: self.heads[m](features[m]) for m in self.modality_names}
        fused, fused_input = self.fusion(features)
        return ModelOutput(fused=fused, unimodal=unimodal, features=features,
                           head_inputs={**features, "fused": fused_input})

    def _check_inputs(self, modalities: Mapping[str, torch.Tensor]) -> None:
        owner = "MultiModalNet"
        check_keys(owner, self.modality_names, modalities, "the input dict")
        batch = None
        for name in self.modality_names:
            x = modalities[name]
            if not isinstance(x, torch.Tensor):
                raise InvalidTypeError(f"{owner}: input {name!r} must be a tensor; "
                                       f"got {type(x).__name__}.")
            if getattr(self.encoders[name], "float_input", False) and not x.is_floating_point():
                raise InvalidTypeError(f"{owner}: input {name!r} must be a floating-point tensor; got "
                                       f"{x.dtype}.")
            expected = getattr(self.encoders[name], "input_shape", None)
            if expected is not None and not _shape_fits(tuple(x.shape[1:]), tuple(expected),
                                                        self.encoders[name]):
                free = set(getattr(self.encoders[name], "variable_axes", ()))
                shown = ["*" if i in free else str(s) for i, s in enumerate(expected)]
                raise InvalidValueError(f"{owner}: input {name!r} must have shape [B, "
                                        f"{', '.join(shown)}]; got {list(x.shape)}.")
            if batch is not None and x.shape[0] != batch:
                raise InvalidValueError(f"{owner}: all inputs must have the same batch size; "
                                        f"{name!r} has {x.shape[0]}, expected {batch}.")
            batch = x.shape[0]


def _shape_fits(shape: tuple[int, ...], expected: tuple[int, ...], encoder: nn.Module) -> bool:
    """``shape == expected`` but for the encoder's ``variable_axes`` (e.g. I3D's T, H, W)."""
    free = set(getattr(encoder, "variable_axes", ()))
    return len(shape) == len(expected) and all(
        i in free or s == e for i, (s, e) in enumerate(zip(shape, expected, strict=True)))


def _auto_encoder(shape: tuple[int, ...]) -> str:
    """``cnn2d`` for ``(C, H, W)``, ``resnet18`` for frame stacks ``(T, C, H, W)``, else ``mlp``."""
    return {3: "cnn2d", 4: "resnet18"}.get(len(shape), "mlp")


def _encoder_options(names: list[str], encoder_kw: Mapping[str, Any] | None
                     ) -> dict[str, dict[str, Any]]:
    """Split ``encoder_kw`` into per-modality options: shared keys plus ``{modality: {...}}``."""
    if encoder_kw is None:
        return {m: {} for m in names}
    if not isinstance(encoder_kw, Mapping):
        raise InvalidTypeError(f"build_model: 'encoder_kw' must be a dict or None; got {encoder_kw!r}.")
    shared = {k: v for k, v in encoder_kw.items() if k not in names}
    for key, value in shared.items():
        if isinstance(value, Mapping):
            raise InvalidValueError(f"build_model: encoder_kw[{key!r}] is a dict, but {key!r} is not a "
                             f"modality of this model {names!r}; key per-modality options by a "
                                    "modality name.")
    options = {}
    for m in names:
        own = encoder_kw.get(m, {})
        if not isinstance(own, Mapping):
            raise InvalidTypeError(f"build_model: encoder_kw[{m!r}] must be a dict of options for "
                                   f"modality {m!r}; got {own!r}.")
        options[m] = {**shared, **own}
    return options


def build_model(modality_shapes: Mapping[str, tuple[int, ...]], num_classes: int,
                encoder: str | Mapping[str, str] = "auto", fusion: str | nn.Module = "concat",
                encoder_kw: Mapping[str, Any] | None = None,
                fusion_kw: Mapping[str, Any] | None = None) -> MultiModalNet:
    """Build a :class:`MultiModalNet` from per-sample modality shapes.

    Args:
        modality_shapes: ``{modality: per-sample shape}``, e.g. ``{"audio": (1, 257, 188),
            "video": (3, 224, 224)}``; the order is the modality order.
        num_classes: number of classes C (>= 2).
        encoder: one encoder name for every modality, ``"auto"``, or ``{modality: name}``
            naming every modality (values may be ``"auto"``). ``"auto"`` picks ``mlp`` for 1-D
            (and 2-D) shapes, ``cnn2d`` for ``(C, H, W)`` and ``resnet18`` for ``(T, C, H, W)``.
        fusion: fusion name or module, as in :class:`MultiModalNet`.
        encoder_kw: encoder options; a key equal to a modality name holds that modality's own
            options (a dict), every other key is shared by all encoders (so it must be an
            option of each of them, e.g. ``hidden`` when all are ``mlp``); own options win.
        fusion_kw: options of the named fusion.

    Returns:
        The model; ``model(batch_dict)`` returns a :class:`ModelOutput`.

    Raises:
        ValueError / TypeError: bad shapes, unknown encoder/fusion names, options or keys.
    """
    owner = "build_model"
    if fusion_kw is not None and not isinstance(fusion_kw, Mapping):
        raise InvalidTypeError(f"{owner}: 'fusion_kw' must be a dict or None; got {fusion_kw!r}.")
    if not isinstance(modality_shapes, Mapping):
        raise InvalidTypeError(f"{owner}: 'modality_shapes' must be a dict {{modality: shape}}; "
                               f"got {modality_shapes!r}.")
    names = list(modality_shapes)
    shapes = {m: check_shape(owner, f"modality_shapes[{m!r}]", s)
              for m, s in modality_shapes.items()}
    if isinstance(encoder, Mapping):
        check_keys(owner, names, encoder, "'encoder'")
        choice = dict(encoder)
    elif isinstance(encoder, str):
        choice = {m: encoder for m in names}
    else:
        raise InvalidTypeError(f"{owner}: 'encoder' must be an encoder name or a dict "
                               f"{{modality: name}}; got {encoder!r}.")
    choice = {m: _auto_encoder(shapes[m]) if c == "auto" else c for m, c in choice.items()}
    options = _encoder_options(names, encoder_kw)
    encoders = {}
    for m in names:
        try:
            encoders[m] = create_encoder(choice[m], shapes[m], **options[m])
        except (TypeError, ValueError) as err:
            raise type(err)(f"{owner}: modality {m!r} (encoder {choice[m]!r}): {err}") from err
    model = MultiModalNet(encoders, num_classes, fusion, **dict(fusion_kw or {}))
    logger.debug("built MultiModalNet: encoders %s, fusion %s, %d parameters", choice,
                 type(model.fusion).__name__, sum(p.numel() for p in model.parameters()))
    return model
