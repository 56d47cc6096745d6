"""What a method is: a sampling policy composed with gradient policies (DESIGN: methods layer).

* A **sampling policy** (``uniaux``, ``joint``, ``bss-cl``, ``bss-lb``, ``anti``,
  ``random-pacing``) decides the data sequence (its scheduler), how samples are scored and the
  per-sample loss. Adding one is a builder ``(cfg) -> SamplingPolicy`` registered with
  ``@METHODS.register("name")``.
* A **gradient policy** (OGM-GE, AGM, PMR, MMPareto) acts inside the training step: it may
  replace the forward pass, add a loss term, read the graph before ``loss.backward()`` and change
  the gradients before ``optimizer.step()``; it keeps per-epoch statistics and state. Adding one
  is a :class:`GradientPolicy` subclass registered with ``@GRADIENT_POLICIES.register("name")``;
  its typed options are the fields of its ``Options`` dataclass, given in
  ``method.options: {name: {...}}``.

``method.name: "bss-lb+ogm-ge"`` composes one sampling policy with at most one gradient policy
(a gradient policy's name alone uses ``uniaux``'s sampling). Two gradient policies at once are
refused: the published methods were each designed to act alone on the gradients, and stacking
them (which one sees whose modified gradients) has no published meaning. :func:`create_method`
returns the :class:`Method` the trainer drives.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import InvalidTypeError, InvalidValueError
from ..core.registry import Registry
from ..core.scoring import BalanceScorer, training_loss

__all__ = ["Method", "SamplingPolicy", "GradientPolicy", "EpochContext", "METHODS", "GRADIENT_POLICIES",
           "unwrap",
           "create_method", "check_method_options", "list_methods", "list_gradient_policies",
           "weighted_loss"]

METHODS = Registry("method")
"""Sampling policies: name -> builder ``(cfg) -> SamplingPolicy``."""
GRADIENT_POLICIES = Registry("gradient policy")
"""Gradient policies: name -> :class:`GradientPolicy` subclass."""


def weighted_loss(out, labels: torch.Tensor, fused_weight: float, unimodal_weight: float) -> torch.Tensor:
    """Per-sample training loss ``w_f * CE(z_f) + w_u * sum_m CE(z_m)`` of a model output,
    Tensor[B] (:func:`mmbss.scoring.training_loss`)."""
    return training_loss(out.fused, out.unimodal, labels,
                         {"fused": fused_weight, "unimodal": unimodal_weight})


@dataclass
class SamplingPolicy:
    """How a method orders and weighs the data (one per method).

    Attributes:
        name: registered name.
        make_scheduler: ``(num_samples, seed, min_samples) -> scheduler`` (see mmbss.schedulers).
        scorer: the balance measurer, or None for policies that never score.
        scoring: "exact" (eval-mode pass over the training set) or "online" (from training steps).
        fused_weight, unimodal_weight: loss weights of the fused and of each unimodal head.
        probe_heads: train the unimodal heads on detached features (they then measure each
            encoder without changing it); used by ``joint``.
        predict: None (use ``train.predict``) or a forced prediction rule.
    """

    name: str
    make_scheduler: Callable
    scorer: BalanceScorer | None = None
    scoring: str = "exact"
    fused_weight: float = 1.0
    unimodal_weight: float = 1.0
    probe_heads: bool = False
    predict: str | None = None

    def loss(self, model, out, labels: torch.Tensor) -> torch.Tensor:
        """Per-sample loss, Tensor[B]; ``out`` is the model's ``ModelOutput``."""
        loss = weighted_loss(out, labels, self.fused_weight, 0.0 if self.probe_heads else self.unimodal_weight)
        if self.probe_heads:
            for name, feat in out.features.items():
                probe = model.heads[name](feat.detach())
                loss = loss + F.cross_entropy(probe, labels, reduction="none")
        return loss


@dataclass
class EpochContext:
    """What a gradient policy may read at the start of an epoch (:meth:`GradientPolicy.on_epoch_start`).

    Attributes:
        epoch: the epoch about to be trained (0-based).
        model: the model (in train mode; a policy that evaluates it restores the mode).
        device: the run's device.
        num_samples: the size of the training split N.
        labels: ``() -> LongTensor[N]``, the training labels (read once, when first called).
        batches: ``(indices) -> iterable of batches`` over those training samples with the eval
            transforms, in the given order, never through the BSS sampler (so reading them
            changes no sampling state). A batch is ``{"modalities", "label", "index"}``.
    """

    epoch: int
    model: nn.Module
    device: torch.device
    num_samples: int
    labels: Callable[[], torch.Tensor]
    batches: Callable


class GradientPolicy:
    """Base class of gradient policies; every hook is optional.

    Call order per training step: :meth:`forward` (default: ``model(inputs)``) -> the loss (the
    sampling policy's plus :meth:`loss_term`) -> :meth:`before_backward` -> ``loss.backward()``
    -> :meth:`after_backward` -> ``optimizer.step()``. Per epoch: :meth:`on_epoch_start`, the
    steps, then :meth:`epoch_stats` (logged under ``method.<name>`` in ``metrics.jsonl``).
    :meth:`setup` is called once, after construction; :meth:`state_dict` is saved in the resume
    checkpoint.

    Subclasses declare ``Options`` (a dataclass; its fields are the policy's typed options, with
    defaults) and read them as ``self.options``.
    """

    name = "gradient-policy"
    epoch_fields: tuple[str, ...] = ()
    """Attributes holding the current epoch's running statistics (reset in
    :meth:`on_epoch_start`); saved with the state, so a run resumed inside an epoch logs the same
    statistics as an uninterrupted one."""
    share = 1.0  # this process's share of the global batch (Method.begin_step)
    loss_scale = 1.0  # the fp16 GradScaler's scale of the loss being backpropagated

    @dataclass
    class Options:
        """No options."""

    def __init__(self, **options):
        valid = [f.name for f in dataclasses.fields(self.Options)]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise InvalidValueError(f"{self.name}: unknown option(s) {', '.join(map(repr, unknown))}; "
                                    f"valid options: {', '.join(valid) or 'none'}.")
        self.options = self.Options(**options)
        self.check_options(self.options)

    def check_options(self, options) -> None:
        """Validate ``options`` (raise with the shared message template); default: nothing."""

    def setup(self, seed: int, sampling: SamplingPolicy, epochs: int) -> None:
        """Called once with the run's seed, the sampling policy it is composed with and the
        number of training epochs (to check options against them); default: nothing."""

    def forward(self, model, inputs: dict, labels: torch.Tensor):
        """The training forward pass, a ``ModelOutput``, or None (default: ``model(inputs)``)."""
        return None

    def loss_term(self, model, out, labels: torch.Tensor) -> torch.Tensor | None:
        """An extra per-sample loss, Tensor[B], or None (default)."""
        return None

    def before_backward(self, model, out, labels: torch.Tensor) -> None:
        """Read the graph (e.g. ``torch.autograd.grad(..., retain_graph=True)``) before
        ``loss.backward()`` frees it; default: nothing."""

    def after_backward(self, model, out, labels: torch.Tensor) -> None:
        """Act on the gradients (``p.grad``) before the optimiser step; default: nothing."""

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """Called before the epoch's first step; default: nothing."""

    def epoch_stats(self) -> dict:
        """JSON-able statistics of the epoch just trained; default: none."""
        return {}

    def state_dict(self) -> dict:
        """State to resume from (tensors, numbers, plain containers); default: none."""
        return {}

    def check_state(self, state: dict, keys) -> None:
        """Raise KeyError unless ``state`` holds exactly ``keys`` (for :meth:`load_state_dict`)."""
        if set(state) != set(keys):
            raise KeyError(f"{self.name}.load_state_dict: expected keys {sorted(keys)}; got "
                           f"{sorted(state)}.")

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; default: accepts only an empty state."""
        if state:
            raise KeyError(f"{self.name}.load_state_dict: expected an empty state; got keys "
                           f"{sorted(state)}.")


class Method:
    """What the trainer drives: one :class:`SamplingPolicy` and its :class:`GradientPolicy` list.

    Attributes:
        name: the composed name, e.g. ``"bss-lb+ogm-ge"``.
        sampling: the sampling policy; gradients: the gradient policies, in order.
        scorer, scoring, fused_weight, unimodal_weight, predict, make_scheduler: the sampling
            policy's.
    """

    def __init__(self, name: str, sampling: SamplingPolicy, gradients: list[GradientPolicy] = ()):
        self.name, self.sampling, self.gradients = name, sampling, list(gradients)
        for attr in ("scorer", "scoring", "fused_weight", "unimodal_weight", "predict",
                     "make_scheduler"):
            setattr(self, attr, getattr(sampling, attr))

    def begin_step(self, share: float = 1.0, loss_scale: float = 1.0) -> None:
        """Before a training step: this process's share of the global batch (1 on one process;
        ``n_local / B`` under DDP) and the fp16 loss scale (1 without a GradScaler). Gradient
        policies read them as ``self.share`` and ``self.loss_scale``."""
        for g in self.gradients:
            g.share, g.loss_scale = share, loss_scale

    def forward(self, model, inputs: dict, labels: torch.Tensor):
        """The training forward pass: the gradient policy's, else ``model(inputs)``. ``model``
        is what the trainer trains (a DistributedDataParallel or compiled wrapper under DDP or
        ``train.compile``; :func:`unwrap` gives the MultiModalNet)."""
        for g in self.gradients:
            out = g.forward(model, inputs, labels)
            if out is not None:
                return out
        return model(inputs)

    def loss(self, model, out, labels: torch.Tensor) -> torch.Tensor:
        """Per-sample training loss, Tensor[B]: the sampling policy's plus every loss term."""
        loss = self.sampling.loss(model, out, labels)
        for g in self.gradients:
            extra = g.loss_term(model, out, labels)
            if extra is not None:
                loss = loss + extra
        return loss

    def before_backward(self, model, out, labels: torch.Tensor) -> None:
        """Before ``loss.backward()``: each gradient policy in order."""
        for g in self.gradients:
            g.before_backward(model, out, labels)

    def after_backward(self, model, out, labels: torch.Tensor) -> None:
        """Between ``backward()`` and ``optimizer.step()``: each gradient policy in order."""
        for g in self.gradients:
            g.after_backward(model, out, labels)

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """Tell every gradient policy that epoch ``ctx.epoch`` starts."""
        for g in self.gradients:
            g.on_epoch_start(ctx)

    def epoch_stats(self) -> dict:
        """``{policy name: its epoch statistics}`` (empty without gradient policies)."""
        return {g.name: g.epoch_stats() for g in self.gradients}

    def state_dict(self) -> dict:
        """``{policy name: its state}``; its running epoch statistics (``epoch_fields``) under
        ``"__epoch__"``."""
        out = {g.name: g.state_dict() for g in self.gradients}
        epoch = {g.name: {f: copy.deepcopy(getattr(g, f)) for f in g.epoch_fields}
                 for g in self.gradients if g.epoch_fields}
        return {**out, "__epoch__": epoch} if epoch else out

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; the policies must be the same."""
        state = dict(state)
        epoch = state.pop("__epoch__", {})
        names = [g.name for g in self.gradients]
        if sorted(state) != sorted(names):
            raise KeyError(f"Method.load_state_dict: the state holds the gradient policies "
                           f"{sorted(state)}, this method {sorted(names)}.")
        for g in self.gradients:
            g.load_state_dict(state[g.name])
            for f, value in epoch.get(g.name, {}).items():
                setattr(g, f, copy.deepcopy(value))

    def __repr__(self) -> str:
        return f"Method({self.name!r})"


def create_method(cfg) -> Method:
    """Build the method named ``cfg.method.name`` (``"bss-lb"``, ``"bss-lb+ogm-ge"``, ...) from a
    full :class:`mmbss.engine.Config`.

    Every ``method.*`` option is validated first, also those the chosen method ignores: a value
    out of range is a mistake whichever method reads it.
    """
    check_method_options(cfg.method)
    name = cfg.method.name
    parts = name.split("+") if isinstance(name, str) else [name]
    for part in parts:
        if part not in METHODS and part not in GRADIENT_POLICIES:
            raise InvalidValueError(_unknown_part(part))
    sampling = [p for p in parts if p in METHODS]
    if len(sampling) > 1:
        raise InvalidValueError(f"method: {name!r} combines the sampling policies "
                         f"{', '.join(map(repr, sampling))}; a method has one (combine it with "
                         f"a gradient policy: {', '.join(GRADIENT_POLICIES.names()) or 'none yet'}).")
    grads = [p for p in parts if p in GRADIENT_POLICIES]
    if len(set(grads)) != len(grads):
        raise InvalidValueError(f"method: {name!r} names a gradient policy twice.")
    if len(grads) > 1:
        raise InvalidValueError(f"method: {name!r} combines the gradient policies "
                                f"{', '.join(map(repr, grads))}; a method has at most one (each "
                                f"published method acts alone on the gradients). Compare them as "
                                f"separate methods, e.g. {sampling[0] if sampling else 'bss-lb'}+"
                                f"{grads[0]} and {sampling[0] if sampling else 'bss-lb'}+{grads[1]}.")
    options = cfg.method.options
    stray = sorted(set(options) - set(grads))
    if stray:
        raise InvalidValueError(f"method.options: {', '.join(map(repr, stray))} "
                                f"{'is' if len(stray) == 1 else 'are'} not a gradient policy of "
                         f"{name!r}; give options only for {', '.join(map(repr, grads)) or 'none'}.")
    for g in grads:
        if not isinstance(options.get(g, {}), dict):
            raise InvalidTypeError(f"method.options: {g!r} must be a mapping of option -> value; got "
                                   f"{options[g]!r}.")
    policy = METHODS.create(sampling[0] if sampling else "uniaux", cfg=cfg)
    gradients = [GRADIENT_POLICIES.create(g, **options.get(g, {})) for g in grads]
    for g, registered in zip(gradients, grads, strict=True):
        g.name = registered  # state and statistics are keyed by the registered name
        g.setup(cfg.train.seed, policy, cfg.train.epochs)
    return Method(name, policy, gradients)


def unwrap(model):
    """The module inside a DistributedDataParallel and/or ``torch.compile`` wrapper."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def modality_encoders(policy: str, model, out) -> dict:
    """``{modality: encoder module}`` of ``model`` for every modality of the output ``out``; a
    model without one encoder per modality (``model.encoders``, as :class:`MultiModalNet` has)
    is refused with a message naming the gradient policy."""
    encoders = getattr(unwrap(model), "encoders", None)
    names = list(out.unimodal)
    if not isinstance(encoders, nn.ModuleDict | dict) or sorted(encoders) != sorted(names):
        have = sorted(encoders) if isinstance(encoders, nn.ModuleDict | dict) else "none"
        raise InvalidValueError(f"{policy} needs a model with one encoder per modality "
                                f"(model.encoders keyed by the modalities {names}); this model has "
                                f"encoders {have}. Build it with mmbss.models.MultiModalNet.")
    return {m: encoders[m] for m in names}


def check_window(policy: str, options, epochs: int) -> None:
    """A modulation window (``options.start_epoch``..``end_epoch``, inclusive, 0-based) must start
    inside the training epochs (it may end after them: the official defaults are 0..50)."""
    if options.start_epoch >= epochs:
        raise InvalidValueError(f"{policy}: the modulation window starts at epoch "
                                f"{options.start_epoch}, but training has {epochs} epoch{'s' if epochs != 1 else ''} "
                                f"(0..{epochs - 1}); set {policy} start_epoch below {epochs}.")


def _unknown_part(part) -> str:
    names = METHODS.names() + GRADIENT_POLICIES.names()
    msg = METHODS.unknown_message(part).split(";")[0]
    close = difflib.get_close_matches(str(part), names, n=1)
    return (f"{msg}; valid names: {', '.join(names)}"
            f"{' (join a sampling policy and a gradient policy with +)' if GRADIENT_POLICIES.names() else ''}."
            + (f" Did you mean {close[0]!r}?" if close else ""))


def check_method_options(m) -> None:
    """Validate every field of a :class:`mmbss.engine.config.MethodConfig` (message per key)."""
    from ..core._validation import check_bool, check_choice, check_float, check_int
    from ..core.pacing import list_pacings
    from ..core.scoring import CORRELATIONS, INFORMATIONS

    check_choice("method", "correlation", m.correlation, CORRELATIONS)
    check_choice("method", "information", m.information, INFORMATIONS)
    check_choice("method", "scoring", m.scoring, ("exact", "online"))
    check_choice("method", "gradient_mode", m.gradient_mode, ("heads", "exact"))
    check_choice("method", "pacing", m.pacing, list_pacings())
    check_float("method", "lambda0", m.lambda0, low=0.0, high=1.0, low_open=True)
    check_int("method", "t_grow", m.t_grow, low=1)
    check_int("method", "warmup_epochs", m.warmup_epochs, low=0)
    check_choice("method", "warmup", m.warmup, ("full", "paced"))
    check_bool("method", "self_taught", m.self_taught)
    if m.self_taught and m.warmup_epochs == 0:
        raise InvalidValueError("method: self_taught trains a teacher for method.warmup_epochs epochs "
                                "before the curriculum; set warmup_epochs >= 1.")
    if m.self_taught and m.warmup == "paced":
        raise InvalidValueError("method: self_taught and warmup='paced' are two different warm-ups "
                                "(a teacher that is discarded, or paced epochs that are kept); "
                                "choose one.")
    check_int("method", "rescore_every", m.rescore_every, low=1, allow_none=True)
    check_float("method", "eps", m.eps, low=0.0, high=1.0, low_open=True)
    check_float("method", "ema", m.ema, low=0.0, high=1.0, high_open=True)
    check_bool("method", "replacement", m.replacement)
    check_float("method", "temperature", m.temperature, low=0.0, low_open=True, allow_none=True)


def scheduler_warmup(m) -> int:
    """The warm-up epochs of the sampling scheduler: none with ``self_taught`` (the trainer runs
    the teacher's warm-up as a run of its own, then the curriculum starts at epoch 0)."""
    return 0 if m.self_taught else m.warmup_epochs


def list_methods() -> list[str]:
    """Names of the registered sampling policies (the methods)."""
    return METHODS.names()


def list_gradient_policies() -> list[str]:
    """Names of the registered gradient policies (composable with any method by ``+``)."""
    return GRADIENT_POLICIES.names()
