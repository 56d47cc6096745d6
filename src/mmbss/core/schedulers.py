"""Schedulers turn balance scores into the global sample sequence of each epoch (SPEC §3, §4, §6).

Common interface (call order per epoch ``t``):

1. ``if sched.wants_scores(t): sched.update(scores)`` with ``scores`` = Tensor[N] of imbalance
   scores d (e.g. from :class:`mmbss.BalanceScorer`), computed with the current model;
2. ``sched.indices(t)`` -> LongTensor, the global sequence of epoch ``t``.

Schedulers are told the epoch and count no hidden calls: ``indices(t)`` depends only on
``(seed, t)`` and the last scores, so it is identical on every rank and after a resume.
``state_dict()`` holds the scores (the only learned state).
"""

from __future__ import annotations

import math

import torch

from . import pacing as _pacing
from ._rng import generator
from ._validation import check_bool, check_choice, check_float, check_int
from .errors import CallOrderError, InvalidTypeError, InvalidValueError
from .permutation import weighted_draws, weighted_permutation

__all__ = ["CurriculumScheduler", "LearningBasedScheduler", "AntiCurriculumScheduler",
           "RandomPacingScheduler", "UniformScheduler"]


class _Scheduler:
    """Shared machinery: validation, warm-up, re-scoring cadence, EMA, state."""

    needs_scores = True

    def __init__(self, *, num_samples: int, seed: int = 0, warmup_epochs: int = 0,
                 rescore_every: int | None = None, ema: float = 0.0, min_samples: int = 1):
        owner = type(self).__name__
        self.num_samples = check_int(owner, "num_samples", num_samples, low=1)
        self.seed = check_int(owner, "seed", seed, low=0)
        self.warmup_epochs = check_int(owner, "warmup_epochs", warmup_epochs, low=0)
        self.rescore_every = check_int(owner, "rescore_every", rescore_every, low=1, allow_none=True)
        self.ema = check_float(owner, "ema", ema, low=0.0, high=1.0, high_open=True)
        self.min_samples = check_int(owner, "min_samples", min_samples, low=1)
        self._scores: torch.Tensor | None = None

    # -- scores ----------------------------------------------------------------------------------
    def wants_scores(self, epoch: int) -> bool:
        """True when epoch ``epoch`` should start with :meth:`update` (fresh scores)."""
        check_int(type(self).__name__, "epoch", epoch, low=0)
        if not self.needs_scores or epoch < self.warmup_epochs:
            return False
        if self._scores is None:
            return True
        since = epoch - self.warmup_epochs
        return self.rescore_every is not None and since % self.rescore_every == 0

    def update(self, scores: torch.Tensor) -> None:
        """Give the scheduler fresh imbalance scores d (Tensor[N], finite; small = balanced).

        With ``ema > 0`` the stored score is ``ema * previous + (1 - ema) * scores``.

        Raises:
            TypeError: ``scores`` is not a Tensor.
            ValueError: a shape other than ``(N,)``, NaN/inf, or (linear LB weights) a score > 2.
        """
        owner = type(self).__name__
        self._check_shape(f"{owner}.update", scores)
        s = scores.detach().to("cpu", torch.float64)
        bad = int((~torch.isfinite(s)).sum())
        if bad:
            raise InvalidValueError(f"{owner}.update: 'scores' holds {bad} NaN/inf value(s).")
        self._check_scores(f"{owner}.update", s)
        self._scores = s if self._scores is None or self.ema == 0 else \
            self.ema * self._scores + (1 - self.ema) * s
        self._on_update()

    def _check_shape(self, where: str, scores: object) -> None:
        """TypeError unless ``scores`` is a Tensor, ValueError unless its shape is ``(N,)``."""
        expected = f"a Tensor of shape ({self.num_samples},)"
        if not isinstance(scores, torch.Tensor):
            raise InvalidTypeError(f"{where}: 'scores' must be {expected}; got "
                                   f"{type(scores).__name__}.")
        if tuple(scores.shape) != (self.num_samples,):
            raise InvalidValueError(f"{where}: 'scores' must be {expected}; got {tuple(scores.shape)}.")

    def _check_scores(self, where: str, s: torch.Tensor) -> None:
        """Scheduler-specific range check of finite float64 scores (``where`` opens the message)."""

    def _on_update(self) -> None:
        pass

    @property
    def scores(self) -> torch.Tensor:
        """The (smoothed) scores last given to :meth:`update`, Tensor[N] float64."""
        self._require_scores("scores")
        return self._scores

    def _require_scores(self, what: str) -> None:
        if self._scores is None:
            raise CallOrderError(f"{type(self).__name__}: no scores yet; call update(scores) before "
                               f"{what} (wants_scores(epoch) tells when).")

    # -- sequence --------------------------------------------------------------------------------
    def epoch_size(self, epoch: int) -> int:
        """Length of ``indices(epoch)`` (known before any scores)."""
        check_int(type(self).__name__, "epoch", epoch, low=0)
        return self.num_samples

    def indices(self, epoch: int) -> torch.Tensor:
        """The global sequence of epoch ``epoch``: LongTensor[epoch_size(epoch)] of sample indices.

        Deterministic given ``seed``, ``epoch`` and the scores; warm-up epochs are uniform shuffles.
        """
        check_int(type(self).__name__, "epoch", epoch, low=0)
        if epoch < self.warmup_epochs:
            return torch.randperm(self.num_samples, generator=generator(self.seed, epoch, "shuffle"))
        if self.needs_scores:
            self._require_scores(f"indices({epoch})")
        return self._indices(epoch)

    def _indices(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.num_samples, generator=generator(self.seed, epoch, "shuffle"))

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The scheduler's own state: its scores (None before the first update) and identity."""
        return {"scheduler": type(self).__name__, "num_samples": self.num_samples,
                "seed": self.seed, "scores": None if self._scores is None else self._scores.clone()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; raises on missing/extra keys, another scheduler's state,
        a different N or seed, or scores that :meth:`update` would refuse (not a Tensor, the
        wrong shape, NaN/inf, out of range)."""
        owner = type(self).__name__
        expected = {"scheduler", "num_samples", "seed", "scores"}
        if not isinstance(state, dict) or set(state) != expected:
            keys = set(state) if isinstance(state, dict) else set()
            raise KeyError(f"{owner}.load_state_dict: expected keys {sorted(expected)}; missing "
                           f"{sorted(expected - keys)}, unexpected {sorted(keys - expected)}.")
        if state["scheduler"] != owner:
            raise InvalidValueError(f"{owner}.load_state_dict: the state is a {state['scheduler']}'s; "
                                    f"load it into a {state['scheduler']}.")
        for k in ("num_samples", "seed"):
            if state[k] != getattr(self, k):
                raise InvalidValueError(f"{owner}.load_state_dict: state has {k}={state[k]}, this "
                                 f"scheduler has {getattr(self, k)}; build it with the same {k}.")
        scores = state["scores"]
        if scores is not None:
            self._check_shape(f"{owner}.load_state_dict", scores)
            if not bool(torch.isfinite(scores).all()):
                raise InvalidValueError(f"{owner}.load_state_dict: 'scores' holds NaN/inf.")
            scores = scores.to(torch.float64).clone()
            self._check_scores(f"{owner}.load_state_dict", scores)
        self._scores = scores
        if self._scores is not None:
            self._on_update()

    def __repr__(self) -> str:
        defaults = _DEFAULTS.get(type(self), {})
        shown = [f"num_samples={self.num_samples}"] + [
            f"{k}={getattr(self, k)!r}" for k, v in defaults.items() if getattr(self, k) != v]
        return f"{type(self).__name__}({', '.join(shown)})"


class CurriculumScheduler(_Scheduler):
    """BSS-CL (SPEC §3): balanced samples first, the training subset growing with a pacing function.

    The set is ordered by ascending d (ties by index); paced epoch ``p = epoch - warmup_epochs``
    trains on the first ``max(min_samples, floor(N * pacing(p)))`` samples of that order, reshuffled
    every epoch with a generator seeded by (seed, epoch).

    Args:
        num_samples: N, size of the training set.
        seed: seed of all random choices.
        pacing: name from :func:`mmbss.pacing.list_pacings` ("root" = reference).
        lambda0: starting fraction in (0, 1]; t_grow: epochs until the whole set is used (>= 1).
        warmup_epochs: uniform epochs before the first scoring (0 = reference).
        warmup: how the warm-up epochs count. "full" (the default): they train on the whole
            set and the pacing starts after them (paced epoch ``epoch - warmup_epochs``), so the
            subset shrinks to ``lambda0`` when the curriculum begins. "paced": they are pacing
            time (paced epoch ``epoch``) and train on a growing random subset (the first
            ``epoch_size`` of one fixed random order), so the subset never shrinks.
        rescore_every: re-score every k paced epochs (None = score once, the reference).
        ema: smoothing of successive scores, in [0, 1) (0 = reference).
        min_samples: never train on fewer samples (set it to the batch size).
        **pacing_kw: options of the pacing function, e.g. ``num_steps`` for pacing="step".

    Examples:
        >>> s = CurriculumScheduler(num_samples=10, pacing="linear", lambda0=0.2, t_grow=4, seed=0)
        >>> s.wants_scores(0)
        True
        >>> s.update(torch.arange(10.0).flip(0))           # sample 9 is the most balanced
        >>> sorted(s.indices(0).tolist())                   # floor(10 * 0.4) = 4 samples
        [6, 7, 8, 9]
    """

    _reverse = False

    def __init__(self, *, num_samples: int, seed: int = 0, pacing: str = "root",
                 lambda0: float = 0.1, t_grow: int = 40, warmup_epochs: int = 0,
                 warmup: str = "full", rescore_every: int | None = None, ema: float = 0.0,
                 min_samples: int = 1, **pacing_kw):
        super().__init__(num_samples=num_samples, seed=seed, warmup_epochs=warmup_epochs,
                         rescore_every=rescore_every, ema=ema, min_samples=min_samples)
        self.pacing_fn = _pacing.get(pacing, lambda0=lambda0, t_grow=t_grow, **pacing_kw)
        self.pacing, self.lambda0, self.t_grow = pacing, lambda0, t_grow
        self.warmup = check_choice(type(self).__name__, "warmup", warmup, ("full", "paced"))
        self._order: torch.Tensor | None = None

    def epoch_size(self, epoch: int) -> int:
        check_int(type(self).__name__, "epoch", epoch, low=0)
        paced = epoch if self.warmup == "paced" else epoch - self.warmup_epochs
        if paced < 0:
            return self.num_samples
        # the tolerance keeps floor(N * 0.3) == 0.3 N when 0.3 is computed as 0.29999...
        n = math.floor(self.num_samples * self.pacing_fn(paced) + 1e-9)
        return min(self.num_samples, max(self.min_samples, n))

    def indices(self, epoch: int) -> torch.Tensor:
        check_int(type(self).__name__, "epoch", epoch, low=0)
        if self.warmup == "paced" and epoch < self.warmup_epochs:  # no scores yet: a random subset
            order = torch.randperm(self.num_samples, generator=generator(self.seed, "random-order"))
            subset = order[: self.epoch_size(epoch)]  # (the order random pacing uses throughout)
            return subset[torch.randperm(subset.numel(), generator=generator(self.seed, epoch, "shuffle"))]
        return super().indices(epoch)

    def _on_update(self) -> None:
        key = -self._scores if self._reverse else self._scores
        self._order = torch.sort(key, stable=True).indices

    def order(self) -> torch.Tensor:
        """All indices from most to least balanced (reversed for the anti-curriculum; random
        pacing's fixed random order)."""
        if self.needs_scores:
            self._require_scores("order()")
        return self._order

    def _indices(self, epoch: int) -> torch.Tensor:
        subset = self._order[: self.epoch_size(epoch)]
        return subset[torch.randperm(subset.numel(), generator=generator(self.seed, epoch, "shuffle"))]


class AntiCurriculumScheduler(CurriculumScheduler):
    """Control (SPEC §6): like :class:`CurriculumScheduler` but imbalanced samples first."""

    _reverse = True


class RandomPacingScheduler(CurriculumScheduler):
    """Control (SPEC §6): the curriculum's subset sizes over a fixed random order (no scores).

    Separates the effect of pacing (fewer samples early) from that of the balance order.
    """

    needs_scores = False

    def __init__(self, **kw):
        super().__init__(**kw)
        self._order = torch.randperm(self.num_samples, generator=generator(self.seed, "random-order"))

    def _on_update(self) -> None:  # scores are ignored
        pass


class LearningBasedScheduler(_Scheduler):
    """BSS-LB (SPEC §4): a balance-weighted random order re-drawn every epoch.

    Weights ``w_i = 2 + eps - d_i`` (or ``exp(-d_i / temperature)``); the epoch's sequence is a full
    permutation drawn by weighted sampling without replacement (balanced samples tend to come
    first, every sample once), or ``N`` weighted draws with replacement (``replacement=True``).

    Args:
        num_samples: N.
        seed: seed of all random choices.
        eps: weight floor in (0, 1] (reference 0.01).
        rescore_every: re-score every k epochs (1 = reference).
        warmup_epochs: epochs of uniform order before the first scoring.
        ema: smoothing of successive scores, in [0, 1) (0 = reference).
        replacement: draw with replacement (imbalanced samples are then seen less often).
        temperature: None (linear weights, reference) or > 0 for ``exp(-d / temperature)``.

    Examples:
        >>> s = LearningBasedScheduler(num_samples=5, seed=0)
        >>> s.update(torch.tensor([0.0, 2.0, 1.0, 0.5, 1.5]))
        >>> sorted(s.indices(0).tolist())
        [0, 1, 2, 3, 4]
    """

    def __init__(self, *, num_samples: int, seed: int = 0, eps: float = 0.01,
                 rescore_every: int | None = 1, warmup_epochs: int = 0, ema: float = 0.0,
                 replacement: bool = False, temperature: float | None = None):
        super().__init__(num_samples=num_samples, seed=seed, warmup_epochs=warmup_epochs,
                         rescore_every=rescore_every, ema=ema)
        self.eps = check_float("LearningBasedScheduler", "eps", eps, low=0.0, high=1.0, low_open=True)
        self.replacement = check_bool("LearningBasedScheduler", "replacement", replacement)
        self.temperature = check_float("LearningBasedScheduler", "temperature", temperature,
                                       low=0.0, low_open=True, allow_none=True)

    def _check_scores(self, where: str, s: torch.Tensor) -> None:
        if self.temperature is None and bool((s > 2.0).any()):
            raise InvalidValueError(f"{where}: scores must be <= 2 (the range of BalanceScorer.score) so "
                                    f"that 2 + eps - d > 0; got max {float(s.max()):.4g}.")

    def log_weights(self) -> torch.Tensor:
        """Natural log of the sampling weights, Tensor[N] float64 (exact even where the
        temperature makes the weights themselves underflow to 0)."""
        self._require_scores("log_weights()")
        if self.temperature is None:
            return torch.log((2.0 - self._scores) + self.eps)  # eps kept even when tiny
        return -(self._scores - self._scores.min()) / self.temperature

    def weights(self) -> torch.Tensor:
        """Sampling weights ``2 + eps - d`` (or ``exp(-(d - min d) / temperature)``), Tensor[N]."""
        return self.log_weights().exp()

    def _indices(self, epoch: int) -> torch.Tensor:
        g = generator(self.seed, epoch, "order")
        if self.replacement:
            return weighted_draws(None, self.num_samples, generator=g, log_weights=self.log_weights())
        return weighted_permutation(generator=g, log_weights=self.log_weights())


class UniformScheduler(_Scheduler):
    """Control (SPEC §6): a uniform shuffle every epoch, seeded by (seed, epoch); needs no scores."""

    needs_scores = False

    def __init__(self, *, num_samples: int, seed: int = 0):
        super().__init__(num_samples=num_samples, seed=seed)


_BASE = {"seed": 0, "warmup_epochs": 0, "rescore_every": None, "ema": 0.0, "min_samples": 1}
_CL = {**_BASE, "pacing": "root", "lambda0": 0.1, "t_grow": 40, "warmup": "full"}
_DEFAULTS = {
    CurriculumScheduler: _CL, AntiCurriculumScheduler: _CL, RandomPacingScheduler: _CL,
    LearningBasedScheduler: {**_BASE, "eps": 0.01, "rescore_every": 1, "replacement": False,
                             "temperature": None},
    UniformScheduler: {"seed": 0},
}
