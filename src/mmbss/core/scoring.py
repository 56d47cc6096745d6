"""The multi-perspective balance measurer of BSS (SPEC §2).

For every sample i, a *correlation* criterion (how much the modalities agree) and an *information*
criterion (how much the sample still has to teach) are min–max normalised over the scored set and
combined into the imbalance score ``d_i = (1 - N(corr_i)) + N(info_i)`` in [0, 2]; small = balanced.

Criteria (all per sample, shape [N]):

* ``prediction_similarity`` S_i: mean over modality pairs (a, b) of cos(softmax(z_a), softmax(z_b)).
* ``feature_similarity`` F_i: mean over pairs of cos(e_a, e_b) (feature dims must match).
* ``loss`` L_i: ``w_f * CE(z_f) + sum_m w_m * CE(z_m)`` with the training loss weights.
* ``gradient`` G_i: ``sum_h w_h * ||softmax(z_h) - onehot(y)|| * ||x_h||`` over the heads h (fused and
  every modality), x_h the input of head h. For a linear head ``z = W x + b`` this is *exactly* the
  Frobenius norm of the per-sample gradient of ``w_h * CE(z_h)`` with respect to ``W`` (the gradient
  is the outer product ``w_h (p - y) x^T``); the bias gradient and the encoder gradients are left out.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from ._validation import check_choice, check_float
from .errors import InvalidTypeError, InvalidValueError

__all__ = ["BalanceScorer", "minmax", "training_loss", "loss_weight", "CORRELATIONS",
           "INFORMATIONS"]

CORRELATIONS = ("prediction", "feature", None)
INFORMATIONS = ("loss", "gradient", None)
_CORR_KEY = {"prediction": "prediction_similarity", "feature": "feature_similarity"}
_INFO_KEY = {"loss": "loss", "gradient": "gradient"}


def loss_weight(weights: Mapping[str, float] | None, head: str) -> float:
    """The weight of ``head`` ("fused" or a modality) in ``weights``: its own entry, else
    ``"unimodal"`` for a modality, else 1."""
    weights = weights or {}
    if head == "fused":
        return float(weights.get("fused", 1.0))
    return float(weights.get(head, weights.get("unimodal", 1.0)))


def training_loss(fused_logits: torch.Tensor, unimodal_logits: Mapping[str, torch.Tensor],
                  labels: torch.Tensor, weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """Per-sample training loss ``w_f CE(z_f) + sum_m w_m CE(z_m)`` (SPEC §1), Tensor[B].

    The one place mmbss writes this formula: the trainer's loss, the evaluation loss and the
    scorer's loss criterion all call it. A weight of 0 drops its term.

    Args:
        fused_logits: [B, C]. unimodal_logits: {modality: [B, C]}. labels: LongTensor[B].
        weights: ``{"fused": w_f, "unimodal": w_u}`` and/or per-modality weights (default 1).

    Examples:
        >>> z = torch.zeros(2, 4)
        >>> training_loss(z, {"a": z}, torch.tensor([0, 1]), {"fused": 0.5}).tolist()  # 1.5 ln 4
        [2.0794..., 2.0794...]
    """
    total = None
    for head, z in (("fused", fused_logits), *unimodal_logits.items()):
        w = loss_weight(weights, head)
        if w:
            term = w * F.cross_entropy(z, labels, reduction="none")
            total = term if total is None else total + term
    return total if total is not None else torch.zeros(labels.shape[0], device=labels.device)


def minmax(x: torch.Tensor) -> torch.Tensor:
    """Min–max normalise a 1-D tensor to [0, 1]; a constant (or empty) input gives zeros.

    Args:
        x: Tensor[N] of finite values.
    Returns:
        Tensor[N], ``(x - min) / (max - min)``, or zeros when ``max == min``.
    Raises:
        TypeError: if ``x`` is not a Tensor.
        ValueError: if ``x`` is not 1-D or holds NaN/inf.

    Examples:
        >>> minmax(torch.tensor([1.0, 2.0, 3.0]))
        tensor([0.0000, 0.5000, 1.0000])
    """
    if not isinstance(x, torch.Tensor):
        raise InvalidTypeError(f"minmax: expected a 1-D tensor; got {type(x).__name__} (convert it with "
                               f"torch.as_tensor).")
    if x.dim() != 1:
        raise InvalidValueError(f"minmax: expected a 1-D tensor; got shape {tuple(x.shape)}.")
    _check_finite("minmax input", x)
    if x.numel() == 0:
        return x.clone()
    lo, hi = x.min(), x.max()
    if hi <= lo:
        return torch.zeros_like(x)
    # halves: (hi - lo) of finite values overflows to inf near the float range's ends
    return ((x / 2 - lo / 2) / (hi / 2 - lo / 2)).clamp_(0.0, 1.0)


def _check_finite(what: str, x: torch.Tensor) -> None:
    bad = ~torch.isfinite(x)
    if bad.any():
        n = int(bad.reshape(bad.shape[0], -1).any(dim=1).sum()) if x.dim() else 1
        raise InvalidValueError(f"{what} holds NaN or inf in {n} sample(s); fix the model or data "
                                f"(e.g. a diverged run) before scoring.")


class BalanceScorer:
    """Scores each sample's modality balance (SPEC §2); the 8 criterion choices of the paper.

    Args:
        correlation: "prediction" (S, default), "feature" (F) or None.
        information: "loss" (L, default), "gradient" (G) or None. At least one must be set.
        loss_weights: weights of the training loss used by L and G: key "fused" (default 1.0),
            key "unimodal" (default 1.0 for every modality) and optionally a modality name to
            override that modality's weight.

    Raises:
        TypeError: ``loss_weights`` not a dict of str -> float.
        ValueError: for an unknown criterion, both criteria None, or a negative/NaN weight.

    Examples:
        >>> scorer = BalanceScorer()                      # the paper's S + L
        >>> z = {"a": torch.randn(4, 3), "b": torch.randn(4, 3)}
        >>> d = scorer.score(torch.randn(4, 3), z, torch.tensor([0, 1, 2, 0]))
        >>> d.shape, bool(((d >= 0) & (d <= 2)).all())
        (torch.Size([4]), True)
    """

    def __init__(self, *, correlation: str | None = "prediction", information: str | None = "loss",
                 loss_weights: Mapping[str, float] | None = None):
        self.correlation = check_choice("BalanceScorer", "correlation", correlation, CORRELATIONS)
        self.information = check_choice("BalanceScorer", "information", information, INFORMATIONS)
        if correlation is None and information is None:
            raise InvalidValueError("BalanceScorer: 'correlation' and 'information' cannot both be None; "
                             "set at least one (the paper's choice is 'prediction' + 'loss').")
        expected = "a dict head -> float (keys 'fused', 'unimodal' or a modality name) or None"
        if loss_weights is not None and not isinstance(loss_weights, Mapping):
            raise InvalidTypeError(f"BalanceScorer: 'loss_weights' must be {expected}; got "
                                   f"{loss_weights!r}.")
        self.loss_weights = dict(loss_weights or {})
        for k in self.loss_weights:
            if not isinstance(k, str):
                raise InvalidTypeError(f"BalanceScorer: 'loss_weights' must be {expected}; got key {k!r}.")
        for k, w in self.loss_weights.items():
            check_float("BalanceScorer", f"loss_weights[{k!r}]", w, low=0.0)

    def __repr__(self) -> str:
        args = []
        if self.correlation != "prediction":
            args.append(f"correlation={self.correlation!r}")
        if self.information != "loss":
            args.append(f"information={self.information!r}")
        if self.loss_weights:
            args.append(f"loss_weights={self.loss_weights!r}")
        return f"BalanceScorer({', '.join(args)})"

    @property
    def keys(self) -> tuple[str, ...]:
        """Names of the raw criteria this scorer needs (keys of :meth:`criteria`'s result)."""
        return tuple(k for k in (_CORR_KEY.get(self.correlation), _INFO_KEY.get(self.information))
                     if k is not None)

    def weight(self, head: str) -> float:
        """Loss weight of ``head`` ("fused" or a modality name)."""
        return loss_weight(self.loss_weights, head)

    @torch.no_grad()
    def criteria(self, fused_logits: torch.Tensor,
                 unimodal_logits: Mapping[str, torch.Tensor] | Sequence[torch.Tensor],
                 labels: torch.Tensor, features=None, head_inputs=None, *,
                 check: bool = True) -> dict[str, torch.Tensor]:
        """Raw per-sample criteria of this scorer (not normalised).

        Args:
            fused_logits: Tensor[N, C].
            unimodal_logits: dict name -> Tensor[N, C] (or a list; names become "0", "1", ...),
                at least 2 modalities.
            labels: integer Tensor[N] with values in [0, C).
            features: dict name -> Tensor[N, D] keyed like ``unimodal_logits`` (or a list in the
                same order), same D for all; needed for "feature".
            head_inputs: dict name -> Tensor[N, D_h] with the input of each head, including key
                "fused" when the fused weight is > 0, no other keys than "fused" and the
                modalities; needed for "gradient".
            check: validate the values too (NaN/inf, label range), at a few host syncs per call.
                ``False`` is for a training loop that checks its loss for divergence itself
                (mmbss's trainer, per step of online scoring); shapes are always checked.
        Returns:
            dict with the keys of :attr:`keys`, each a float Tensor[N].
        Raises:
            ValueError: mismatched shapes, < 2 modalities, labels out of range, NaN/inf inputs,
                feature dims that differ, missing features/head inputs.
        """
        uni = _named("unimodal_logits", unimodal_logits)
        n, c = _check_logits(fused_logits, uni, check)
        labels = _check_labels(labels, n, c, check)
        out: dict[str, torch.Tensor] = {}
        if self.correlation == "prediction":
            out["prediction_similarity"] = _mean_pairwise_cos([z.softmax(-1) for z in uni.values()])
        elif self.correlation == "feature":
            # rows scaled to max |x| = 1 first (the cosine does not change): the squares of large
            # features would overflow to inf in float32 (probabilities never do)
            out["feature_similarity"] = _mean_pairwise_cos(
                [x / x.abs().amax(dim=1, keepdim=True).clamp_min(1e-30)
                 for x in _check_features(features, uni, n)])
        if self.information == "loss":
            out["loss"] = self._loss(fused_logits, uni, labels)
        elif self.information == "gradient":
            out["gradient"] = self._gradient(fused_logits, uni, labels, head_inputs, n)
        for k, v in out.items():
            if check:
                _check_finite(f"criterion {k!r}", v)
        return out

    def combine(self, criteria: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Turn raw criteria (over the whole scored set) into imbalance scores d, Tensor[N] in [0, 2].

        ``(1 - minmax(corr)) + minmax(info)``, or the one term when only one criterion is set.
        """
        missing = [k for k in self.keys if k not in criteria]
        if missing:
            raise InvalidValueError(f"BalanceScorer.combine: criteria lack {missing}; got keys "
                                    f"{sorted(criteria)}.")
        lengths = {k: tuple(criteria[k].shape) for k in self.keys}
        if len(set(lengths.values())) != 1:
            raise InvalidValueError(f"BalanceScorer.combine: every criterion needs one value per sample; "
                                    f"got shapes {lengths}.")
        d = None
        if self.correlation is not None:
            d = 1.0 - minmax(criteria[_CORR_KEY[self.correlation]].float())
        if self.information is not None:
            info = minmax(criteria[_INFO_KEY[self.information]].float())
            d = info if d is None else d + info
        return d

    def score(self, fused_logits, unimodal_logits, labels, features=None,
              head_inputs=None) -> torch.Tensor:
        """Imbalance score d (SPEC §2) of each sample: Tensor[N] in [0, 2]; same args as :meth:`criteria`."""
        return self.combine(self.criteria(fused_logits, unimodal_logits, labels, features,
                                          head_inputs))

    def _loss(self, fused, uni, labels) -> torch.Tensor:
        return training_loss(fused.float(), {k: z.float() for k, z in uni.items()}, labels,
                             self.loss_weights)

    def _gradient(self, fused, uni, labels, head_inputs, n) -> torch.Tensor:
        if head_inputs is None:
            raise InvalidValueError("BalanceScorer(information='gradient') needs head_inputs: a dict of "
                                    "each head's input (modality names and 'fused').")
        heads = {"fused": fused, **uni}
        if not isinstance(head_inputs, Mapping):
            raise InvalidTypeError(f"head_inputs must be a dict head -> Tensor[N, D_h] with keys "
                                   f"{list(heads)}; got {type(head_inputs).__name__}.")
        extra = [k for k in head_inputs if k not in heads]
        if extra:
            raise InvalidValueError(f"head_inputs has keys {extra} that are neither 'fused' nor a "
                                    f"modality of unimodal_logits; expected keys {list(heads)}.")
        total = torch.zeros(n, dtype=torch.float32, device=fused.device)
        for name, z in heads.items():
            w = self.weight(name)
            if w == 0:
                continue
            if name not in head_inputs:
                raise InvalidValueError(f"head_inputs lacks {name!r}; got keys {sorted(head_inputs)}.")
            x = head_inputs[name]
            if not isinstance(x, torch.Tensor):
                raise InvalidTypeError(f"head_inputs[{name!r}] must be a Tensor[N, D]; got "
                                       f"{type(x).__name__}.")
            if x.shape[0] != n:
                raise InvalidValueError(f"head_inputs[{name!r}] has {x.shape[0]} rows; expected N={n}.")
            _check_finite(f"head_inputs[{name!r}]", x)
            err = z.float().softmax(-1) - F.one_hot(labels, z.shape[1]).float()
            total = total + w * err.norm(dim=1) * x.float().reshape(n, -1).norm(dim=1)
        return total


def _named(what: str, xs) -> dict[str, torch.Tensor]:
    if isinstance(xs, Mapping):
        out = dict(xs)
    elif isinstance(xs, (list, tuple)):
        out = {str(i): x for i, x in enumerate(xs)}
    else:
        raise InvalidTypeError(f"{what} must be a dict name -> Tensor or a list of Tensors; "
                               f"got {type(xs).__name__}.")
    if len(out) < 2:
        raise InvalidValueError(f"{what} has {len(out)} modality; BSS needs at least 2.")
    return out


def _check_logits(fused, uni: dict[str, torch.Tensor], values: bool = True) -> tuple[int, int]:
    if not isinstance(fused, torch.Tensor) or fused.dim() != 2:
        raise InvalidValueError(f"fused_logits must be a Tensor[N, C]; got "
                                f"{getattr(fused, 'shape', type(fused).__name__)}.")
    n, c = fused.shape
    if values:
        _check_finite("fused_logits", fused)
    for name, z in uni.items():
        if not isinstance(z, torch.Tensor) or tuple(z.shape) != (n, c):
            raise InvalidValueError(f"unimodal_logits[{name!r}] has shape "
                             f"{tuple(getattr(z, 'shape', ()))}; expected (N, C) = ({n}, {c}) "
                                    f"like fused_logits.")
        if values:
            _check_finite(f"unimodal_logits[{name!r}]", z)
    return n, c


def _check_labels(labels, n: int, c: int, values: bool = True) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.shape[0] != n:
        raise InvalidValueError(f"labels must be an integer Tensor[N] with N={n}; got "
                                f"{tuple(getattr(labels, 'shape', ())) or type(labels).__name__}.")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise InvalidValueError(f"labels must hold integer class ids; got dtype {labels.dtype}.")
    if values and n and (labels.min() < 0 or labels.max() >= c):
        raise InvalidValueError(f"labels must lie in [0, {c - 1}] for C={c} classes; got values in "
                                f"[{int(labels.min())}, {int(labels.max())}].")
    return labels.long()


def _check_features(features, uni, n: int) -> list[torch.Tensor]:
    if features is None:
        raise InvalidValueError("BalanceScorer(correlation='feature') needs features: one Tensor[N, D] "
                                "per modality.")
    if isinstance(features, (list, tuple)) and len(features) == len(uni):
        features = dict(zip(uni, features, strict=True))  # a list follows unimodal_logits
    feats = _named("features", features)
    missing = [k for k in uni if k not in feats]
    extra = [k for k in feats if k not in uni]
    if missing or extra:
        found = " and ".join(p for p in (f"missing {missing}" if missing else "",
                                          f"unexpected {extra}" if extra else "") if p)
        raise InvalidValueError(f"features has {found}; expected exactly the keys {list(uni)} (the "
                                f"modalities of unimodal_logits).")
    for name, f in feats.items():
        if not isinstance(f, torch.Tensor):
            raise InvalidTypeError(f"features[{name!r}] must be a Tensor[N, D]; got "
                                   f"{type(f).__name__}.")
    dims = {name: tuple(f.shape[1:]) for name, f in feats.items()}
    if len(set(dims.values())) != 1:
        raise InvalidValueError(f"feature similarity needs equal feature dims, got {dims}; project the "
                                f"features to one size or use correlation='prediction'.")
    for name, f in feats.items():
        if f.shape[0] != n:
            raise InvalidValueError(f"features[{name!r}] has {f.shape[0]} rows; expected N={n}.")
        _check_finite(f"features[{name!r}]", f)
    return [f.float().reshape(n, -1) for f in feats.values()]


def _mean_pairwise_cos(xs: list[torch.Tensor]) -> torch.Tensor:
    pairs = list(itertools.combinations(xs, 2))
    return sum(F.cosine_similarity(a.float(), b.float(), dim=1, eps=1e-12)
               for a, b in pairs) / len(pairs)
