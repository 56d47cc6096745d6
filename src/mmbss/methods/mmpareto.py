"""MMPareto as a gradient policy (Wei & Hu, ICML 2024; facts from the official
GeWu-Lab/MMPareto_ICML2024 code, see ``shared/reference/BASELINES.md`` §2).

Every encoder e receives two objectives: the multimodal loss (the fused head's) and its own
unimodal loss. Per training step and encoder, with ``g_mm`` and ``g_u`` their gradients on e's
parameters (flattened over the whole encoder):

* no conflict, ``cos(g_mm, g_u) > 0``: weights ``(k_mm, k_u) = (1/2, 1/2)``;
* conflict, ``cos <= 0``: the two-task min-norm (MGDA) weights ``k_mm = c*``, ``k_u = 1 - c*``
  with ``c* = (v22 - v12) / (v11 + v22 - 2 v12)``, ``v11 = <g_mm, g_mm>``, ``v12 = <g_mm, g_u>``,
  ``v22 = <g_u, g_u>``, clamped to 0.999 when ``v12 >= v11`` and to 0.001 when ``v12 >= v22``
  (Sener & Koltun's two-task solver, as the official code uses it);
* per parameter tensor p: ``g_new = 2 k_mm g_mm(p) + 2 k_u g_u(p)``, ``r = |g_sum(p)| / |g_new(p)|``
  with ``g_sum = g_mm + g_u`` (the plain gradient), and the encoder's gradient becomes
  ``gamma * max(r, 1) * g_new`` (the magnitude is never below the summed gradient's; ``gamma =
  1.5``, hard-coded in the official code, is an option here).

The heads and the fusion keep their plain gradients.

**Backward passes.** The official code runs four backward passes per step (one per loss and one
for the sum). Two give the same result: ``before_backward`` takes ``g_mm`` with
``torch.autograd.grad`` of the multimodal loss (graph retained), ``loss.backward()`` then fills
``g_sum``, and ``g_u = g_sum - g_mm`` (each unimodal loss reaches only its own encoder).

Choices (documented, not from the official code):

* the multimodal loss is the fused head's loss with the sampling policy's fused weight; the
  "unimodal" task of encoder e is everything else in the loss that reaches e (its unimodal head's
  loss, weighted by ``train.unimodal_weight``); a sampling policy without a unimodal loss on the
  encoders (``joint``) is refused;
* ``eps`` guards ``r`` against a zero ``g_new`` (the official code would give NaN);
* **M > 2 modalities** need nothing new: every encoder runs its own two-task test.
* ``pareto=False`` keeps the rescaling and gamma but never applies the min-norm weights: the
  "uniform x gamma" control that separates MMPareto's conflict handling from its larger encoder
  step (BASELINES.md §2.2: with gamma = 1.5 MMPareto also acts as a 1.5x encoder learning rate).

Under DDP ``g_mm`` (which ``torch.autograd.grad`` does not all-reduce, unlike ``backward``) is
summed over the ranks, so the test and the weights are the global batch's on every rank.

Examples:
    >>> mgda_weight(torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0]))
    0.6
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core._validation import check_bool, check_float
from ..core.distributed import all_reduce_sum, is_distributed
from ..core.errors import InvalidValueError
from .base import GRADIENT_POLICIES, GradientPolicy, modality_encoders

__all__ = ["MMPareto", "mgda_weight", "pareto_combine"]


def mgda_weight(g1: torch.Tensor, g2: torch.Tensor) -> float:
    """The weight c in [0.001, 0.999] of ``g1`` in the min-norm point ``c g1 + (1 - c) g2``."""
    v11, v12, v22 = float(g1 @ g1), float(g1 @ g2), float(g2 @ g2)
    if v12 >= v11:
        return 0.999
    if v12 >= v22:
        return 0.001
    return (v22 - v12) / (v11 + v22 - 2 * v12)


def pareto_combine(g_mm: list[torch.Tensor], g_u: list[torch.Tensor], gamma: float = 1.5,
                   pareto: bool = True, eps: float = 1e-12) -> tuple[list[torch.Tensor], float, bool]:
    """MMPareto's gradient of one encoder from its per-tensor task gradients.

    Returns the new per-tensor gradients, the cosine of the two whole-encoder gradients, and
    whether they conflict (``cos <= 0``).
    """
    flat_mm = torch.cat([g.reshape(-1) for g in g_mm]).double()
    flat_u = torch.cat([g.reshape(-1) for g in g_u]).double()
    cos = float(F.cosine_similarity(flat_mm, flat_u, dim=0, eps=eps))
    conflict = cos <= 0
    k_mm = mgda_weight(flat_mm, flat_u) if conflict and pareto else 0.5
    new = [2 * k_mm * a + 2 * (1 - k_mm) * b for a, b in zip(g_mm, g_u, strict=True)]
    r = (torch.stack([(a + b).norm() for a, b in zip(g_mm, g_u, strict=True)])
         / torch.stack([g.norm() for g in new]).clamp_min(eps))  # per tensor, on the device
    scale = gamma * r.clamp_min(1.0)
    return [g * scale[i] for i, g in enumerate(new)], cos, conflict


@GRADIENT_POLICIES.register("mmpareto")
class MMPareto(GradientPolicy):
    """MMPareto as a gradient policy (see the module docstring for the rule and its choices).

    Options:
        gamma: the magnitude factor > 0 (official: 1.5, hard-coded).
        pareto: use the min-norm weights under a conflict (False: the uniform x gamma control).
    Statistics per epoch: the share of steps with a conflict and the mean cosine, per encoder.
    """

    name = "mmpareto"
    epoch_fields = ("_steps", "_conflicts", "_cos")

    @dataclass
    class Options:
        gamma: float = 1.5
        pareto: bool = True

    def check_options(self, o) -> None:
        check_float("mmpareto", "gamma", o.gamma, low=0.0, low_open=True)
        check_bool("mmpareto", "pareto", o.pareto)

    def __init__(self, **options):
        super().__init__(**options)
        self.fused_weight, self._g_mm = 1.0, None
        self._steps, self._conflicts, self._cos = 0, {}, {}

    def setup(self, seed: int, sampling, epochs: int) -> None:
        """Take the fused loss weight of the sampling policy; refuse one without unimodal losses."""
        if sampling is None:
            return
        if sampling.probe_heads or sampling.unimodal_weight == 0 or sampling.fused_weight == 0:
            raise InvalidValueError(
                f"mmpareto needs a multimodal and a unimodal loss on every encoder, but "
                f"{sampling.name!r} trains with fused weight {sampling.fused_weight} and unimodal "
                f"weight {0.0 if sampling.probe_heads else sampling.unimodal_weight} on the encoders; "
                f"compose it with uniaux, bss-cl or bss-lb (and train.unimodal_weight > 0).")
        self.fused_weight = sampling.fused_weight

    def on_epoch_start(self, ctx) -> None:
        self._steps, self._conflicts, self._cos = 0, {}, {}

    def before_backward(self, model, out, labels: torch.Tensor) -> None:
        encoders = modality_encoders("mmpareto", model, out)
        self._params = {m: [p for p in enc.parameters() if p.requires_grad]
                        for m, enc in encoders.items()}
        flat = [p for ps in self._params.values() for p in ps]
        # the global batch's mean loss: this rank's share of it (and the fp16 loss scale, undone
        # below), summed over the ranks: the same g_mm as one process
        loss_mm = self.fused_weight * F.cross_entropy(out.fused.float(), labels) * (self.share * self.loss_scale)
        grads = torch.autograd.grad(loss_mm, flat, retain_graph=True, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(flat, grads, strict=True)]
        if is_distributed() or self.loss_scale != 1.0:
            vec = all_reduce_sum(torch.cat([g.reshape(-1) for g in grads])) / self.loss_scale
            grads = [v.view_as(g) for v, g in zip(vec.split([g.numel() for g in grads]), grads,
                                                      strict=True)]
        self._g_mm, i = {}, 0
        for m, ps in self._params.items():
            self._g_mm[m], i = grads[i:i + len(ps)], i + len(ps)

    @torch.no_grad()
    def after_backward(self, model, out, labels: torch.Tensor) -> None:
        if self._g_mm is None:
            raise RuntimeError("mmpareto: after_backward without before_backward; this is a bug.")
        o = self.options
        self._steps += 1
        for m, ps in self._params.items():
            g_mm = self._g_mm[m]
            g_sum = [torch.zeros_like(p) if p.grad is None else p.grad for p in ps]
            g_u = [s - a for s, a in zip(g_sum, g_mm, strict=True)]
            new, cos, conflict = pareto_combine(g_mm, g_u, o.gamma, o.pareto)
            for p, g in zip(ps, new, strict=True):
                p.grad = g
            self._conflicts[m] = self._conflicts.get(m, 0) + conflict
            self._cos[m] = self._cos.get(m, 0.0) + cos
        self._g_mm = self._params = None

    def epoch_stats(self) -> dict:
        if not self._steps:
            return {"steps": 0}
        return {"steps": self._steps,
                "conflict_share": {m: c / self._steps for m, c in self._conflicts.items()},
                "mean_cosine": {m: c / self._steps for m, c in self._cos.items()}}
