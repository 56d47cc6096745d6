"""Models layer: per-modality encoders, fusions and the multi-modal network of BSS.

- Encoders (``mlp``, ``cnn2d``, ``resnet18``, ``resnet50``, ``i3d``, ``transformer``):
  ``create_encoder(name, input_shape, **kw)`` maps ``[B, *input_shape] -> [B, out_dim]``; the
  ResNets and I3D load downloaded weights with ``weights=PATH``, ``transformer`` loads a Hugging
  Face model from a local folder (``path=...``; needs ``pip install 'mmbss[text]'``).
- Fusions (``concat``, ``sum``, ``film``, ``gated``): ``create_fusion(name, feature_dims,
  num_classes, **kw)`` maps ``{m: [B, D_m]} -> (logits [B, C], head_input [B, H])``.
- :class:`MultiModalNet` / :func:`build_model`: encoders + linear unimodal heads + fusion,
  returning a :class:`ModelOutput` (fused and unimodal logits, features, head inputs).

Examples:
    >>> import torch
    >>> from mmbss.models import build_model
    >>> model = build_model({"a": (20,), "b": (30,)}, num_classes=3, fusion="gated")
    >>> model({"a": torch.zeros(2, 20), "b": torch.zeros(2, 30)}).fused.shape
    torch.Size([2, 3])
"""

from mmbss.models import i3d as _i3d  # noqa: F401  (importing it registers "i3d")
from mmbss.models import resnet as _resnet  # noqa: F401  (registers "resnet18", "resnet50")
from mmbss.models import text as _text  # noqa: F401  (registers "transformer")
from mmbss.models.encoders import ENCODERS, create_encoder, list_encoders
from mmbss.models.fusion import FUSIONS, Fusion, create_fusion, list_fusions
from mmbss.models.multimodal import ModelOutput, MultiModalNet, build_model

__all__ = [
    "ENCODERS",
    "FUSIONS",
    "Fusion",
    "ModelOutput",
    "MultiModalNet",
    "build_model",
    "create_encoder",
    "create_fusion",
    "list_encoders",
    "list_fusions",
]
