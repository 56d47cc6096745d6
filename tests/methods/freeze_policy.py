"""A test-only gradient policy: scales one encoder's gradients (0 freezes it), counts its steps."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from mmbss.methods import GRADIENT_POLICIES, GradientPolicy


class ScaleEncoderGradients(GradientPolicy):
    """Multiplies the gradients of ``modality``'s encoder by ``factor`` after every backward."""

    name = "test-scale"
    epoch_fields = ("norms",)

    @dataclass
    class Options:
        modality: str = "m0"
        factor: float = 0.0

    def __init__(self, **options):
        super().__init__(**options)
        self.steps, self.norms, self.events = 0, [], None  # events: a list to log hook calls in

    def check_options(self, options) -> None:
        if options.factor < 0:
            raise ValueError(f"test-scale: 'factor' must be a float >= 0; got {options.factor}.")

    def after_backward(self, model, out, labels) -> None:
        grads = [p.grad for p in model.encoders[self.options.modality].parameters()
                 if p.grad is not None]
        if self.events is not None:
            self.events.append("hook" if grads else "hook-without-gradients")
        self.norms.append(float(torch.sqrt(sum((g ** 2).sum() for g in grads))))
        for g in grads:
            g.mul_(self.options.factor)
        self.steps += 1

    def on_epoch_start(self, ctx) -> None:
        self.norms = []

    def epoch_stats(self) -> dict:
        return {"steps_so_far": self.steps, "mean_grad_norm": sum(self.norms) / len(self.norms)}

    def state_dict(self) -> dict:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.steps = state["steps"]


@contextlib.contextmanager
def registered():
    """``test-scale`` registered for the duration (so other tests see the built-in names only)."""
    GRADIENT_POLICIES.register("test-scale")(ScaleEncoderGradients)
    try:
        yield
    finally:
        GRADIENT_POLICIES._items.pop("test-scale")
