"""Pretrained transformer text encoder from a local folder, registered as ``"transformer"``.

It wraps ``transformers.AutoModel.from_pretrained(path, local_files_only=True)``: the folder must
hold a model saved with ``save_pretrained`` (``config.json`` and ``model.safetensors`` or
``pytorch_model.bin``); nothing is ever downloaded. ``transformers`` is an optional dependency
(``pip install 'mmbss[text]'``), imported only when such an encoder is built, so ``import
mmbss`` never imports it.

One sample is an integer tensor ``[2, L]``: row 0 the token ids, row 1 the attention mask (1 for
a real token, 0 for padding), e.g. ``torch.stack([enc["input_ids"], enc["attention_mask"]])``
of a tokenizer's output padded to L. The feature is the last hidden state of the first token
(``pooling="cls"``, the [CLS] token of BERT-like models) or its mean over the real tokens
(``pooling="mean"``). The model's own pooler (BERT's dense+tanh layer on [CLS]), if it has one,
is not used: its parameters are frozen (``requires_grad=False``), so every trainable parameter
gets a gradient (as DistributedDataParallel needs).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from mmbss.core._validation import check_choice
from mmbss.models._checks import check_shape
from mmbss.models.encoders import ENCODERS

from ..core.errors import InvalidTypeError, InvalidValueError

__all__ = ["TransformerTextEncoder"]

_SAVED = ("nothing is downloaded: save a model there first, e.g. "
          "AutoModel.from_pretrained(name).save_pretrained(folder), which writes config.json and "
          "model.safetensors (and its tokenizer with AutoTokenizer...save_pretrained(folder))")


@ENCODERS.register("transformer")
class TransformerTextEncoder(nn.Module):
    """A Hugging Face transformer (BERT, RoBERTa, ...) loaded offline from a local folder.

    Args:
        input_shape: ``(2, L)``: token ids and attention mask of L positions per sample.
        path: the local folder of a model saved with ``save_pretrained`` (required).
        pooling: ``"cls"`` (default: the first token's last hidden state) or ``"mean"`` (the
            mean of the last hidden states over the positions whose mask is 1).

    Shapes:
        ``[B, 2, L]`` (an integer tensor) ``-> [B, hidden_size]``. L may differ between batches
        (``variable_axes = (1,)``), up to the model's maximum length.

    Raises:
        ValueError: no ``path``, a folder that does not exist or has no ``config.json``, a model
            that cannot be loaded, or ``transformers`` not installed.
    """

    float_input = False  #: token ids are integers: MultiModalNet lets int64 inputs through

    def __init__(self, input_shape: tuple[int, ...], *, path: str | os.PathLike | None = None,
                 pooling: str = "cls"):
        super().__init__()
        owner = "TransformerTextEncoder"
        self.input_shape = check_shape(owner, "input_shape", input_shape, ndim=(2,))
        if self.input_shape[0] != 2:
            raise InvalidValueError(f"{owner}: 'input_shape' must be (2, L) (token ids and "
                                    f"attention mask of L positions); got {input_shape!r}.")
        self.variable_axes = (1,)
        self.pooling = check_choice(owner, "pooling", pooling, ("cls", "mean"))
        if path is None:
            raise InvalidValueError(f"{owner}: 'path' is required: the local folder of a "
                                    f"pretrained model; {_SAVED}.")
        if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
            raise InvalidTypeError(f"{owner}: 'path' must be the path of a local model folder; "
                                   f"got {path!r}.")
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise InvalidValueError(f"{owner}: the model folder '{folder}' does not exist; "
                                    f"{_SAVED}.")
        if not (folder / "config.json").is_file():
            raise InvalidValueError(f"{owner}: the model folder '{folder}' has no config.json; "
                                    f"{_SAVED}.")
        try:
            import transformers
        except ImportError:
            raise InvalidValueError(f"{owner}: the 'transformer' encoder needs the Python "
                                    "package 'transformers'; install it with: pip install "
                                    "'mmbss[text]'.") from None
        try:
            self.model = transformers.AutoModel.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, KeyError) as err:
            raise InvalidValueError(f"{owner}: the model in '{folder}' cannot be loaded "
                                    f"offline: {err}") from None
        pooler = getattr(self.model, "pooler", None)
        if isinstance(pooler, nn.Module):  # BERT's dense+tanh on [CLS]: its output is unused
            pooler.requires_grad_(False)  # (DDP would wait for gradients that never come)
        self.path = str(folder)
        self.out_dim: int = int(self.model.config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[B, 2, L]`` token ids and attention masks to ``[B, hidden_size]`` features."""
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise InvalidTypeError(f"TransformerTextEncoder: the input must be an integer "
                                   f"tensor [B, 2, L] (token ids, attention mask); got {x.dtype}.")
        if x.dim() != 3 or x.shape[1] != 2:
            raise InvalidValueError(f"TransformerTextEncoder: the input must have shape "
                                    f"[B, 2, L] (token ids, attention mask); got {list(x.shape)}.")
        ids, mask = x[:, 0].long(), x[:, 1].long()
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
