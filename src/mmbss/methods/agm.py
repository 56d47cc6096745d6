"""AGM, Adaptive Gradient Modulation, as a gradient policy (Li, Li, Hu, Lei, Li, Zhou, ICCV 2023;
facts from the official lihong2303/AGM_ICCV2023 code, see ``shared/reference/BASELINES.md`` §3).

AGM re-weights the backward signal of each modality's *path* through the network, not encoders:

* **Shapley-style modality outputs.** Besides the training forward pass ``T = f(all inputs)``,
  the network is run on every proper subset S of the modalities with the other inputs zeroed,
  in eval mode (BatchNorm running statistics, no dropout) but with gradients. Modality m's output
  is its Shapley value with the empty coalition dropped, as the official code does:
  ``phi_m = sum_{S not containing m} |S|! (M - |S| - 1)! / M! * (f(S + m) - f(S))``, ``f({}) = 0``.
  For two modalities ``phi_a = (T - f(v) + f(a)) / 2``; for three the weights are 1/3, 1/6, 1/6,
  1/3 (the official three-modality code). ``sum_m phi_m = T``, so the fused prediction is unchanged.
* **Scores and ratios.** ``s_m = mean_i -log max(softmax(phi_m,i)[y_i], 1e-8)`` (lower is
  better); ``rho_m = exp((mean_m' s_m' - s_m) * M / 2)`` now, and ``rhobar_m`` the same from the
  running means ``S_m`` of ``s_m`` over every modulated step since the start of training
  (``S <- S (t - 1) / t + s / t``, updated after the coefficient is computed). For M = 2 this is
  the official ``rho_a = exp(s_v - s_a)``.
* **Coefficients.** ``k_m = exp(alpha * min(rhobar_m - rho_m, cap))``: a modality doing better
  than its history is damped (k < 1), one doing worse is boosted (k > 1). The fused logits the
  loss sees are ``sum_m phi_m`` with the gradient through ``phi_m`` multiplied by ``k_m``.
* **Conditional clipping.** If an element of the fusion's weight gradients leaves [-1, 1], the
  gradient norm of all parameters is clipped to 1.0 (``clip=False`` turns this off).
* **Window.** Inside ``start_epoch..end_epoch`` (inclusive, 0-based) the coefficients and running
  means are updated every step; outside they keep their last values, as in the official code
  (which simply stops updating them); before the first modulated step every k is 1.

Choices (documented, not from the official code): the loss is the sampling policy's (for
``agm`` alone, uniaux's: the fused loss on ``sum_m phi_m`` plus the unimodal heads' losses, which
reach the encoders unmodulated; the official code has no unimodal heads); the running means count
modulated steps only. Under DDP the batch scores are summed over the ranks, so every rank uses
the same k.

Examples:
    >>> shapley_weights(2), shapley_weights(3)
    ([0.5, 0.5], [0.3333333333333333, 0.16666666666666666, 0.3333333333333333])
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from ..core._validation import check_bool, check_float, check_int
from ..core.distributed import all_reduce_sum
from .base import GRADIENT_POLICIES, GradientPolicy, check_window, modality_encoders, unwrap

__all__ = ["AGM", "shapley_weights", "shapley_outputs", "agm_coefficients"]


def shapley_weights(m: int) -> list[float]:
    """The weight of a coalition of s = 0..M-1 other modalities in a Shapley value."""
    return [math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)]


def shapley_outputs(outputs: dict[frozenset, torch.Tensor], names: list[str]) -> dict[str, torch.Tensor]:
    """``{m: phi_m}`` from ``{coalition: f(coalition)}`` over every non-empty coalition
    (the empty one counts as 0)."""
    w = shapley_weights(len(names))
    phi = {}
    for m in names:
        others = [n for n in names if n != m]
        total = 0
        for s in range(len(others) + 1):
            for rest in itertools.combinations(others, s):
                without = outputs[frozenset(rest)] if rest else 0
                total = total + w[s] * (outputs[frozenset(rest) | {m}] - without)
        phi[m] = total
    return phi


def agm_coefficients(scores: torch.Tensor, running: torch.Tensor, alpha: float,
                     cap: float) -> torch.Tensor:
    """``k_m = exp(alpha * min(rhobar_m - rho_m, cap))`` from the batch scores ``s`` and their
    running means ``S`` (both Tensor[M], lower is better)."""
    m = scores.numel()
    rho = torch.exp((scores.mean() - scores) * m / 2)
    rhobar = torch.exp((running.mean() - running) * m / 2)
    return torch.exp(alpha * torch.clamp(rhobar - rho, max=cap))


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; the backward signal multiplied by ``k``."""

    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(k)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        (k,) = ctx.saved_tensors
        return grad * k, None


@GRADIENT_POLICIES.register("agm")
class AGM(GradientPolicy):
    """AGM as a gradient policy (see the module docstring for the rule and its choices).

    Options:
        alpha: modulation strength > 0 (official CLI default 1.0; README example 2.5).
        cap: the cap of ``rhobar - rho`` in the exponent (official: 10 for two modalities, 7 for
            three).
        clip: the official conditional gradient clipping.
        start_epoch, end_epoch: the modulation window (official CLI defaults 0, 20).
    Statistics per epoch: the mean coefficient and mean score of each modality, the running
    means at the epoch's end. State: the running means, their step count and the coefficients.
    """

    name = "agm"
    epoch_fields = ("epoch", "_steps", "_coef", "_score", "_names")

    @dataclass
    class Options:
        alpha: float = 1.0
        cap: float = 10.0
        clip: bool = True
        start_epoch: int = 0
        end_epoch: int = 20

    def check_options(self, o) -> None:
        check_float("agm", "alpha", o.alpha, low=0.0, low_open=True)
        check_float("agm", "cap", o.cap, low=0.0, low_open=True)
        check_bool("agm", "clip", o.clip)
        check_int("agm", "start_epoch", o.start_epoch, low=0)
        check_int("agm", "end_epoch", o.end_epoch, low=o.start_epoch)

    def __init__(self, **options):
        super().__init__(**options)
        self.epoch, self.running, self.count, self.scales, self._names = 0, None, 0, None, []
        self._reset_stats()

    def _reset_stats(self) -> None:
        self._steps, self._coef, self._score = 0, 0.0, 0.0

    def setup(self, seed: int, sampling, epochs: int) -> None:
        check_window("agm", self.options, epochs)

    def on_epoch_start(self, ctx) -> None:
        self.epoch = ctx.epoch
        self._reset_stats()

    def forward(self, model, inputs: dict, labels: torch.Tensor):
        out = model(inputs)  # through DDP (it prepares the gradient all-reduce)
        names = list(modality_encoders("agm", model, out))
        net = unwrap(model)  # the counterfactual passes bypass the wrapper
        coalition = {frozenset(names): out.fused}
        was_training = net.training
        net.eval()  # the counterfactual passes: running BN statistics, no dropout, with gradients
        try:
            for size in range(1, len(names)):
                for subset in itertools.combinations(names, size):
                    masked = {m: x if m in subset else torch.zeros_like(x) for m, x in inputs.items()}
                    coalition[frozenset(subset)] = net(masked).fused
        finally:
            net.train(was_training)
        phi = shapley_outputs(coalition, names)
        with torch.no_grad():
            sums = torch.stack([  # summed over the global batch (all ranks), then the mean
                -torch.log(phi[m].float().softmax(-1).gather(1, labels[:, None]).clamp_min(1e-8)).sum()
                for m in names] + [torch.tensor(float(len(labels)), device=labels.device)]).double()
            sums = all_reduce_sum(sums)
            scores = sums[:-1] / sums[-1]
            if self.running is None:
                self.running = torch.zeros(len(names), dtype=torch.float64, device=scores.device)
                self.scales = torch.ones(len(names), dtype=torch.float64, device=scores.device)
            o = self.options
            if o.start_epoch <= self.epoch <= o.end_epoch:
                self.count += 1
                self.scales = agm_coefficients(scores, self.running, o.alpha, o.cap)
                self.running = self.running * ((self.count - 1) / self.count) + scores / self.count
                self._steps += 1
                self._coef = self._coef + self.scales
                self._score = self._score + scores
        self._names = names
        fused = sum(_ScaleGrad.apply(phi[m], self.scales[i].to(phi[m].dtype))
                    for i, m in enumerate(names))
        return out._replace(fused=fused)

    @torch.no_grad()
    def after_backward(self, model, out, labels: torch.Tensor) -> None:
        if not self.options.clip:
            return
        fusion = getattr(model, "fusion", None)
        weights = [p.grad for p in (fusion.parameters() if fusion is not None else ())
                   if p.grad is not None and p.grad.dim() >= 2]
        if weights and bool(torch.stack([g.abs().max() for g in weights]).max() > 1):
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)

    def epoch_stats(self) -> dict:
        if not self._steps:
            return {"modulated_steps": 0}
        coef, score = (self._coef / self._steps).tolist(), (self._score / self._steps).tolist()
        return {"modulated_steps": self._steps,
                "coefficient": dict(zip(self._names, coef, strict=True)),
                "score": dict(zip(self._names, score, strict=True)),
                "running_score": dict(zip(self._names, self.running.tolist(), strict=True))}

    def state_dict(self) -> dict:
        return {"running": self.running, "count": self.count, "scales": self.scales}

    def load_state_dict(self, state: dict) -> None:
        self.check_state(state, ("running", "count", "scales"))
        self.running, self.count, self.scales = state["running"], state["count"], state["scales"]
