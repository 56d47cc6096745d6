"""Gradient policies: published balancing methods that act between backward() and step().

``ogm-ge``: On-the-fly Gradient Modulation with Generalisation Enhancement (Peng, Wei, Deng, Wang,
Hu, CVPR 2022; facts from the official GeWu-Lab/OGM-GE_CVPR2022 code, see
``shared/reference/BASELINES.md`` §1). Per batch, every modality's score is the summed
true-class probability of its own head, ``s_m = sum_i softmax(z_m,i)[y_i]``; the dominant
modality's encoder gradients are multiplied by ``k = 1 - tanh(alpha * rho)`` (the paper's Eq. 10
and the current official code; ``form="shifted"`` gives the code's older
``1 - tanh(alpha * relu(rho - 1))``), and generalisation enhancement adds zero-mean Gaussian noise
with the standard deviation of each tensor's un-modulated gradient to every modulated tensor.

Choices (documented, not from the official code):

* the unimodal logits are mmbss's own unimodal heads (the official code slices the fusion layer;
  SPEC §6 allows either);
* ``params="encoder"`` (default) modulates every parameter of the modality's encoder;
  ``params="conv"`` keeps the official selection (tensors of 4 or more dimensions only, which on
  MLP encoders is none);
* **M > 2 modalities**: ``rho_m = s_m / mean_{m' != m} s_m'``, and every modality with
  ``rho_m > 1`` is damped. For M = 2 this is the official rule, including its tie-break (at
  ``rho = 1`` the first modality is damped).

Examples:
    >>> round(ogm_coefficient(1.2, 0.1), 2), round(ogm_coefficient(1.2, 0.1, "shifted"), 2)
    (0.88, 0.98)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core._rng import mix_seed
from ..core._validation import check_bool, check_choice, check_float, check_int
from ..core.distributed import all_reduce_sum
from .base import GRADIENT_POLICIES, GradientPolicy, check_window, modality_encoders

__all__ = ["OGMGE", "ogm_coefficient", "ogm_ratios"]


def ogm_coefficient(rho: float, alpha: float, form: str = "paper") -> float:
    """The damping coefficient of a dominant modality with discrepancy ratio ``rho`` (> 1)."""
    x = rho if form == "paper" else max(rho - 1.0, 0.0)
    return 1.0 - math.tanh(alpha * max(x, 0.0))


def ogm_ratios(scores: list[float]) -> list[float]:
    """Discrepancy ratio of each modality: its score over the mean score of the others."""
    m = len(scores)
    return [s / (sum(scores[:i] + scores[i + 1:]) / (m - 1)) for i, s in enumerate(scores)]


@GRADIENT_POLICIES.register("ogm-ge")
class OGMGE(GradientPolicy):
    """OGM-GE as a gradient policy (see the module docstring for the rule and its choices).

    Options:
        alpha: modulation strength > 0 (official README: 0.8 for CREMA-D, 0.1 for VGGSound).
        form: "paper" (``1 - tanh(alpha * rho)``, default) or "shifted" (the older code's
            ``1 - tanh(alpha * relu(rho - 1))``).
        ge: add the generalisation-enhancement noise (False: plain OGM).
        start_epoch, end_epoch: the modulation window, both inclusive, 0-based (official 0, 50).
        params: "encoder" (every parameter of the encoder) or "conv" (the official selection).
    Statistics per epoch: the mean coefficient of each modality and the share of steps in which
    it was damped (the dominant one). State: the noise generator.
    """

    name = "ogm-ge"
    epoch_fields = ("epoch", "_coef", "_damped", "_steps")

    @dataclass
    class Options:
        alpha: float = 0.8
        form: str = "paper"
        ge: bool = True
        start_epoch: int = 0
        end_epoch: int = 50
        params: str = "encoder"

    def check_options(self, o) -> None:
        check_float("ogm-ge", "alpha", o.alpha, low=0.0, low_open=True)
        check_choice("ogm-ge", "form", o.form, ("paper", "shifted"))
        check_bool("ogm-ge", "ge", o.ge)
        check_int("ogm-ge", "start_epoch", o.start_epoch, low=0)
        check_int("ogm-ge", "end_epoch", o.end_epoch, low=o.start_epoch)
        check_choice("ogm-ge", "params", o.params, ("encoder", "conv"))

    def __init__(self, **options):
        super().__init__(**options)
        self.generator = torch.Generator()
        self.generator.manual_seed(mix_seed(0, "ogm-ge"))
        self.epoch, self._coef, self._damped, self._steps = 0, {}, {}, 0

    def setup(self, seed: int, sampling, epochs: int) -> None:
        """Seed the noise generator from the run's seed; check the window against the epochs."""
        check_window("ogm-ge", self.options, epochs)
        self.generator.manual_seed(mix_seed(seed, "ogm-ge"))

    def on_epoch_start(self, ctx) -> None:
        self.epoch, self._coef, self._damped, self._steps = ctx.epoch, {}, {}, 0

    @torch.no_grad()
    def after_backward(self, model, out, labels: torch.Tensor) -> None:
        o = self.options
        if not o.start_epoch <= self.epoch <= o.end_epoch:
            return
        encoders, names = modality_encoders("ogm-ge", model, out), list(out.unimodal)
        scores = all_reduce_sum(torch.stack([  # summed over the global batch (all ranks)
            out.unimodal[m].detach().float().softmax(-1).gather(1, labels[:, None]).sum()
            for m in names])).tolist()
        rhos = ogm_ratios(scores)
        if len(names) == 2:  # the official rule: exactly one damped; a tie damps the first
            damped = {names[1]} if rhos[1] > 1 else {names[0]}
        else:
            damped = {m for m, r in zip(names, rhos, strict=True) if r > 1}
        self._steps += 1
        for m, rho in zip(names, rhos, strict=True):
            k = ogm_coefficient(rho, o.alpha, o.form) if m in damped else 1.0
            self._coef[m] = self._coef.get(m, 0.0) + k
            self._damped[m] = self._damped.get(m, 0) + (m in damped)
            for p in encoders[m].parameters():
                if p.grad is None or (o.params == "conv" and p.grad.dim() < 4):
                    continue
                if o.ge:  # the std of the un-modulated gradient (official: computed before k)
                    std = float(p.grad.std()) if p.grad.numel() > 1 else 0.0
                    noise = torch.randn(p.grad.shape, generator=self.generator) * (std + 1e-8)
                    p.grad.mul_(k).add_(noise.to(p.grad.device, p.grad.dtype))
                else:
                    p.grad.mul_(k)

    def epoch_stats(self) -> dict:
        if not self._steps:
            return {"modulated_steps": 0}
        return {"modulated_steps": self._steps,
                "mean_coefficient": {m: c / self._steps for m, c in self._coef.items()},
                "damped_share": {m: d / self._steps for m, d in self._damped.items()}}

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.check_state(state, ("generator",))
        self.generator.set_state(state["generator"])
