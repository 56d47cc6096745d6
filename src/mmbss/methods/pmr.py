"""Gradient policy ``pmr``: Prototypical Modal Rebalance (Fan, Xu, Wei, Hu, Zhang, Li, CVPR 2023).

Facts from the official fanyunfeng-bit/Modal-Imbalance-PMR code (``main_Prototype_grad.py``,
``--modulation Proto``, see ``shared/reference/BASELINES.md`` §4). Every class k has a prototype
per modality, the mean encoder feature ``c_k^m = mean_{i: y_i = k} e_m,i``, recomputed once per
epoch from the current model and, from the second computation on, smoothed as
``c <- (1 - momentum) * c_new + momentum * c_old``. In a training step the prototype similarities
are ``sim^m_i,k = -||e_m,i - c_k^m||_2`` (Euclidean, unsquared, no temperature) and every
modality's score is ``s_m = sum_i softmax(sim^m_i)[y_i]``. With two modalities ``rho = s_a / s_v``
(the model's modality order): ``rho > 1`` gives ``beta_a = 0, beta_v = alpha``; ``rho < 1``
gives ``beta_a = alpha, beta_v = 0``; ``rho = 1`` gives both 0. The policy adds the per-sample
prototype cross-entropy (PCE) term ``sum_m beta_m * CE(sim^m_i, y_i)`` to the loss; its gradient
reaches the encoders through ``e_m`` (the prototypes and the betas are constants). Outside the
window ``start_epoch..end_epoch`` nothing is added.

The official code computes the prototypes once before epoch 0 and after every epoch, so the
prototypes used in epoch e come from the model at the end of epoch e - 1; computing them at the
start of epoch e from the current model is the same.

Choices (documented, not from the official code):

* **the prototype subset**: the official code reads the first 10% of the shuffled training
  batches, with the training augmentation, and a class absent from them gets a NaN prototype.
  mmbss draws a class-stratified subset instead, ``ceil(fraction * n_k)`` (at least 1) samples of
  every class k, chosen by a generator seeded from ``(seed, epoch, "pmr")``, and reads it with
  the eval transforms and never through the BSS sampler (so the pass changes no sampling state).
  Every class with a training sample thus always has a prototype; a class without any training
  sample has none and is left out of the softmax (it is never a training label);
* ``e_m`` is mmbss's own encoder output (``ModelOutput.features[m]``, the input of the
  modality's unimodal head);
* **M > 2 modalities** (the official code has two): ``beta_m = alpha`` for every modality whose
  score is below the maximum score, 0 for the others. At M = 2 this is the official rule;
* no *prototypical entropy regularisation* (PER): the paper describes it, but the official code
  at HEAD has no entropy term;
* the prototypes are computed in every epoch up to ``end_epoch`` (also before the window when
  ``momentum > 0``, as the official EMA runs from the start), and not after it.

Under DDP each rank reads its share of the prototype subset and the per-class feature sums and
counts are all-reduced, as are the batch scores, so every rank holds the same prototypes and
takes the same weights.

Examples:
    >>> pmr_weights([1.8, 1.2], alpha=2.0), pmr_weights([1.0, 1.0], alpha=2.0)
    ([0.0, 2.0], [0.0, 0.0])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core._rng import mix_seed
from ..core._validation import check_float, check_int
from ..core.distributed import all_reduce_sum, is_distributed
from .base import GRADIENT_POLICIES, GradientPolicy, check_window, modality_encoders, unwrap

__all__ = ["PMR", "pmr_weights", "prototype_subset"]


def pmr_weights(scores: list[float], alpha: float) -> list[float]:
    """The PCE weight of each modality: ``alpha`` for every modality whose score is below the
    maximum, 0 for the others (at M = 2: the weaker one gets ``alpha``, a tie gives none)."""
    top = max(scores)
    return [alpha if s < top else 0.0 for s in scores]


def prototype_subset(labels: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Sorted indices of ``ceil(fraction * n_k)`` (at least 1) random samples of every class k
    present in ``labels``, LongTensor."""
    labels = torch.as_tensor(labels, dtype=torch.int64).cpu()
    perm = torch.randperm(len(labels), generator=generator)
    shuffled = labels[perm]
    chosen = []
    for k in torch.unique(labels).tolist():
        members = perm[shuffled == k]
        chosen.append(members[:max(1, math.ceil(fraction * len(members)))])
    return torch.sort(torch.cat(chosen)).values if chosen else torch.zeros(0, dtype=torch.int64)


@GRADIENT_POLICIES.register("pmr")
class PMR(GradientPolicy):
    """PMR as a gradient policy that adds a loss term (see the module docstring for the rule).

    Options:
        alpha: the PCE weight of the weaker modality, > 0 (official CREMA-D concat runs: 2.0;
            the official argparse default is 1.0).
        momentum: EMA coefficient of the prototypes in [0, 1) (official argparse default 0.2;
            the published runs pass 0.0).
        fraction: share of every class's training samples that builds its prototype, in (0, 1]
            (official: about 10% of the training set).
        start_epoch, end_epoch: the modulation window, both inclusive, 0-based (official CREMA-D
            runs: 0, 70).
    Statistics per epoch: the steps in the window, the mean weight of each modality and the share
    of steps in which it was boosted (weight > 0). State: the prototypes and how many times they
    were computed.
    """

    name = "pmr"
    epoch_fields = ("epoch", "_weight", "_boosted", "_steps")

    @dataclass
    class Options:
        alpha: float = 2.0
        momentum: float = 0.0
        fraction: float = 0.1
        start_epoch: int = 0
        end_epoch: int = 70

    def check_options(self, o) -> None:
        check_float("pmr", "alpha", o.alpha, low=0.0, low_open=True)
        check_float("pmr", "momentum", o.momentum, low=0.0, high=1.0, high_open=True)
        check_float("pmr", "fraction", o.fraction, low=0.0, high=1.0, low_open=True)
        check_int("pmr", "start_epoch", o.start_epoch, low=0)
        check_int("pmr", "end_epoch", o.end_epoch, low=o.start_epoch)

    def __init__(self, **options):
        super().__init__(**options)
        self.seed, self.prototypes, self.computed, self._checked = 0, {}, 0, False
        self.epoch, self._weight, self._boosted, self._steps = 0, {}, {}, 0

    def setup(self, seed: int, sampling, epochs: int) -> None:
        """Keep the run's seed (for the prototype subsets); check the window against the epochs."""
        check_window("pmr", self.options, epochs)
        self.seed = int(seed)

    def _in_window(self, epoch: int) -> bool:
        return self.options.start_epoch <= epoch <= self.options.end_epoch

    def on_epoch_start(self, ctx) -> None:
        """Recompute the prototypes from the current model when this or a later epoch uses them."""
        o = self.options
        self.epoch, self._weight, self._boosted, self._steps = ctx.epoch, {}, {}, 0
        if ctx.epoch <= o.end_epoch and (o.momentum > 0 or ctx.epoch >= o.start_epoch):
            self.update_prototypes(self.class_means(ctx))

    @torch.no_grad()
    def class_means(self, ctx) -> dict:
        """``{modality: Tensor[C, D_m]}``, the mean feature of every class over this epoch's
        subset (eval mode, no gradients); a class without training samples gets a NaN row."""
        generator = torch.Generator()
        generator.manual_seed(mix_seed(self.seed, ctx.epoch, "pmr"))
        indices = prototype_subset(ctx.labels(), self.options.fraction, generator)
        model, sums, counts = ctx.model, {}, None
        net = unwrap(model)
        if is_distributed():  # every rank needs the shapes, also one whose share is empty
            counts = torch.zeros(net.num_classes, dtype=torch.float64, device=ctx.device)
            sums = {m: torch.zeros(net.num_classes, enc.out_dim, dtype=torch.float64, device=ctx.device)
                    for m, enc in net.encoders.items()}
        was_training = model.training
        model.eval()
        try:
            for batch in ctx.batches(indices):
                inputs = {m: v.to(ctx.device) for m, v in batch["modalities"].items()}
                y = batch["label"].to(ctx.device)
                out = model(inputs)
                if not self._checked:
                    modality_encoders("pmr", model, out)
                    self._checked = True
                if counts is None:
                    counts = torch.zeros(out.fused.shape[-1], dtype=torch.float64, device=ctx.device)
                counts.index_add_(0, y, torch.ones_like(y, dtype=torch.float64))
                for m, feat in out.features.items():
                    if m not in sums:
                        sums[m] = torch.zeros(len(counts), feat.shape[-1], dtype=torch.float64,
                                              device=ctx.device)
                    sums[m].index_add_(0, y, feat.to(torch.float64))
        finally:
            model.train(was_training)
        if counts is None:
            return {}
        if is_distributed():  # each rank read its share of the subset: sum the class sums
            counts = all_reduce_sum(counts)
            sums = {m: all_reduce_sum(s) for m, s in sums.items()}
        return {m: (s / counts[:, None]).float() for m, s in sums.items()}  # 0 / 0: NaN row

    def update_prototypes(self, means: dict) -> None:
        """Set the prototypes to ``means`` (first computation) or mix them in with the momentum."""
        mu = self.options.momentum
        if self.computed and mu > 0 and self.prototypes:
            means = {m: (1 - mu) * c + mu * self.prototypes[m].to(c.device, c.dtype)
                     for m, c in means.items()}
        self.prototypes = {m: c.detach() for m, c in means.items()}
        self.computed += 1

    def loss_term(self, model, out, labels: torch.Tensor) -> torch.Tensor | None:
        """The per-sample PCE term ``sum_m beta_m * CE(sim^m, y)``, Tensor[B]; None outside the
        window."""
        if not self._in_window(self.epoch):
            return None
        if not self._checked:
            modality_encoders("pmr", model, out)
            self._checked = True
        names = list(out.features)
        if sorted(self.prototypes) != sorted(names):
            raise RuntimeError(f"pmr: no prototypes for the modalities {names} (it has "
                               f"{sorted(self.prototypes)}); on_epoch_start must compute them "
                               f"before the epoch's first training step.")
        sims = {m: self._similarities(m, out.features[m]) for m in names}
        scores = all_reduce_sum(torch.stack([sims[m].detach().softmax(-1).gather(1, labels[:, None]).sum()
                                             for m in names])).tolist()  # over the global batch
        weights = pmr_weights(scores, self.options.alpha)
        term = out.features[names[0]].new_zeros(len(labels))
        for m, beta in zip(names, weights, strict=True):
            if beta > 0:
                term = term + beta * F.cross_entropy(sims[m], labels, reduction="none")
        self._steps += 1
        for m, beta in zip(names, weights, strict=True):
            self._weight[m] = self._weight.get(m, 0.0) + beta
            self._boosted[m] = self._boosted.get(m, 0) + (beta > 0)
        return term

    def _similarities(self, m: str, feat: torch.Tensor) -> torch.Tensor:
        """``-||e_i - c_k||_2``, [B, C]; a class without a prototype (NaN row) gets ``-inf``."""
        if self.prototypes[m].device != feat.device:  # once, after a load: kept on the device
            self.prototypes[m] = self.prototypes[m].to(feat.device)
        c = self.prototypes[m].to(feat.dtype)
        present = ~torch.isnan(c).any(-1)
        dist = torch.cdist(feat, c[present], compute_mode="donot_use_mm_for_euclid_dist")
        if bool(present.all()):
            return -dist
        sim = feat.new_full((len(feat), len(c)), float("-inf"))
        sim[:, present] = -dist
        return sim

    def epoch_stats(self) -> dict:
        if not self._steps:
            return {"modulated_steps": 0}
        return {"modulated_steps": self._steps,
                "weight": {m: w / self._steps for m, w in self._weight.items()},
                "boosted_share": {m: b / self._steps for m, b in self._boosted.items()}}

    def state_dict(self) -> dict:
        return {"prototypes": {m: c.detach().cpu().clone() for m, c in self.prototypes.items()},
                "computed": self.computed}

    def load_state_dict(self, state: dict) -> None:
        self.check_state(state, ("prototypes", "computed"))
        self.prototypes = {m: torch.as_tensor(c) for m, c in state["prototypes"].items()}
        self.computed = int(state["computed"])
