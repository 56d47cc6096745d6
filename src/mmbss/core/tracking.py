"""Online scoring (SPEC §5): reuse the logits of the training steps instead of a scoring pass."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ._validation import check_choice, check_int
from .distributed import is_distributed, merge_by_index
from .errors import CallOrderError, InvalidTypeError, InvalidValueError

__all__ = ["OnlineScoreTracker"]


class OnlineScoreTracker:
    """Records per-sample raw criteria from training steps, by sample index.

    At re-scoring time :meth:`scores` normalises the last recorded value of every sample over the
    whole set and combines them with the scorer, so no extra forward pass is needed. A sample not
    seen since the last call keeps its last recorded value. Samples never seen at all (e.g. not yet
    in the curriculum subset) get, per ``unseen``:

    * ``"mean"`` (default): the mean raw criterion of the seen samples — a neutral score, so they
      are neither pushed first nor last;
    * ``"error"``: :meth:`scores` raises, naming how many samples were never seen.

    **Under DDP** each rank records only the samples of its own shard. Call :meth:`merge` on every
    rank before :meth:`criteria` / :meth:`scores`: it gathers what every rank recorded, keeping
    for each sample its most recent record (by the step it was recorded at: every rank counts one
    step per :meth:`record` call), so all ranks hold the same values and build the same sequence.
    Under an initialised process group of more than one process, :meth:`criteria` refuses to run
    on records that were not merged.

    Args:
        num_samples: N, size of the training set.
        unseen: policy for never-seen samples, "mean" or "error".

    Examples:
        >>> from mmbss import BalanceScorer
        >>> scorer, tracker = BalanceScorer(), OnlineScoreTracker(4)
        >>> z = {"a": torch.randn(2, 3), "b": torch.randn(2, 3)}
        >>> tracker.record(torch.tensor([0, 2]), scorer.criteria(torch.randn(2, 3), z, torch.tensor([0, 1])))
        >>> tracker.seen.tolist()
        [True, False, True, False]
        >>> tracker.scores(scorer).shape
        torch.Size([4])
    """

    def __init__(self, num_samples: int, *, unseen: str = "mean"):
        self.num_samples = check_int("OnlineScoreTracker", "num_samples", num_samples, low=1)
        self.unseen = check_choice("OnlineScoreTracker", "unseen", unseen, ("mean", "error"))
        self._values: dict[str, torch.Tensor] = {}
        self.seen = torch.zeros(num_samples, dtype=torch.bool)
        self.step = torch.full((num_samples,), -1, dtype=torch.long)  # record call of each value
        self.count = 0  # record() calls so far
        self._merged = True

    def record(self, indices: torch.Tensor, criteria: Mapping[str, torch.Tensor], *,
               check: bool = True) -> None:
        """Store ``criteria`` (dict name -> Tensor[B]) of the samples ``indices`` (LongTensor[B]).

        Later records of the same sample overwrite earlier ones. Values are detached and moved to
        the CPU. Every call must give the same criterion names (a sample with a missing criterion
        would otherwise count as seen); nothing is stored when a check fails.
        ``check=False`` skips the NaN/inf check of the values, for a training loop that checks
        its loss for divergence itself (mmbss's trainer); indices, names, dtypes and counts are
        always checked.

        Raises:
            TypeError: float/bool ``indices``, or ``criteria`` not a dict of name -> Tensor.
            ValueError: indices out of range, other criterion names than before, a count other
                than ``len(indices)``, or NaN/inf values.
        """
        _check_criteria(criteria)
        idx = torch.as_tensor(indices).detach()
        if idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
            raise InvalidTypeError(f"OnlineScoreTracker.record: 'indices' must be integer sample indices "
                                   f"(e.g. batch['index']); got dtype {idx.dtype}.")
        idx = idx.to("cpu", torch.long).reshape(-1)
        names = set(criteria)
        if not names or (self._values and names != set(self._values)):
            raise InvalidValueError(f"OnlineScoreTracker.record: 'criteria' must hold the same criteria "
                             f"at every call ({sorted(self._values) or 'at least one'}); got "
                                    f"{sorted(names)}.")
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.num_samples):
            raise InvalidValueError(f"OnlineScoreTracker.record: indices must lie in [0, "
                             f"{self.num_samples - 1}]; got [{int(idx.min())}, {int(idx.max())}].")
        values = {}
        for name, v in criteria.items():
            v = torch.as_tensor(v).detach().to("cpu", torch.float64).reshape(-1)
            if v.numel() != idx.numel():
                raise InvalidValueError(f"OnlineScoreTracker.record: criterion {name!r} has {v.numel()} "
                                        f"values for {idx.numel()} indices.")
            if check and not bool(torch.isfinite(v).all()):
                raise InvalidValueError(f"OnlineScoreTracker.record: criterion {name!r} holds NaN/inf.")
            values[name] = v
        for name, v in values.items():
            store = self._values.setdefault(name, torch.zeros(self.num_samples, dtype=torch.float64))
            store[idx] = v
        self.seen[idx] = True
        self.step[idx] = self.count
        self.count += 1
        self._merged = False

    def merge(self) -> None:
        """Gather every rank's records (call it on every rank); the most recent record of each
        sample wins. A no-op on one process."""
        if not is_distributed():
            self._merged = True
            return
        names = sorted(self._values)
        values = {k: self._values[k] for k in names}
        values["step"] = self.step.to(torch.float64)
        merged, seen = merge_by_index(values, self.seen, priority=self.step)
        self.step = merged.pop("step").long()
        self._values, self.seen, self._merged = merged, seen, True

    def criteria(self) -> dict[str, torch.Tensor]:
        """Full raw criteria, dict name -> Tensor[N], never-seen samples filled per ``unseen``."""
        if not self._merged and is_distributed():
            raise CallOrderError("OnlineScoreTracker: under DDP each rank holds only its own "
                                 "samples' records; call merge() on every rank first (else the "
                                 "ranks build different sequences).")
        n_seen = int(self.seen.sum())
        if n_seen == 0:
            raise CallOrderError("OnlineScoreTracker: no sample recorded yet; train a warm-up epoch "
                               "or run an exact scoring pass first.")
        if n_seen < self.num_samples and self.unseen == "error":
            raise CallOrderError(f"OnlineScoreTracker: {self.num_samples - n_seen} of "
                               f"{self.num_samples} samples were never seen (unseen='error').")
        out = {}
        for name, v in self._values.items():
            v = v.clone()
            v[~self.seen] = v[self.seen].mean()
            out[name] = v
        return out

    def scores(self, scorer) -> torch.Tensor:
        """Imbalance scores d, Tensor[N], from the recorded criteria via ``scorer.combine``."""
        return scorer.combine(self.criteria())

    def state_dict(self) -> dict:
        """Recorded values, the seen mask, the step of each record and the record count."""
        return {"values": {k: v.clone() for k, v in self._values.items()}, "seen": self.seen.clone(),
                "step": self.step.clone(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`.

        Raises:
            TypeError: ``state`` is not a dict, ``seen`` not a bool Tensor, ``values`` not a dict
                of name -> Tensor.
            KeyError: missing or extra keys.
            ValueError: tensors of another length than this tracker's N.
        """
        owner = "OnlineScoreTracker.load_state_dict"
        if not isinstance(state, Mapping):
            raise InvalidTypeError(f"{owner}: 'state' must be a dict with keys 'seen' and 'values' (from "
                                   f"OnlineScoreTracker.state_dict()); got {type(state).__name__}.")
        if set(state) not in ({"values", "seen", "step", "count"}, {"values", "seen"}):
            raise KeyError(f"{owner}: expected keys ['count', 'seen', 'step', 'values'] (or the "
                           f"older ['seen', 'values']); got {sorted(state)}.")
        seen, values = state["seen"], state["values"]
        if not isinstance(seen, torch.Tensor) or seen.dtype != torch.bool:
            shown = f"dtype {seen.dtype}" if isinstance(seen, torch.Tensor) else type(seen).__name__
            raise InvalidTypeError(f"{owner}: 'seen' must be a bool Tensor[N] (True = sample seen); got "
                                   f"{shown}.")
        if not isinstance(values, Mapping) or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in values.items()):
            shown = (type(values).__name__ if not isinstance(values, Mapping) else
                     "{" + ", ".join(f"{k!r}: {type(v).__name__}" for k, v in values.items()) + "}")
            raise InvalidTypeError(f"{owner}: 'values' must be a dict criterion name -> Tensor[N]; got "
                                   f"{shown}.")
        step = state.get("step", torch.where(seen, 0, -1))  # the older form: one record each
        if not isinstance(step, torch.Tensor) or step.dtype != torch.long:
            raise InvalidTypeError(f"{owner}: 'step' must be a LongTensor[N] (the record call of each "
                                   f"value); got {type(step).__name__}.")
        shapes = [tuple(v.shape) for v in [seen, step, *values.values()]]
        if any(sh != (self.num_samples,) for sh in shapes):
            raise InvalidValueError(f"OnlineScoreTracker.load_state_dict: every tensor of the state must "
                             f"have shape ({self.num_samples},) (this tracker's N); got {shapes}.")
        self._values = {k: v.clone() for k, v in values.items()}
        self.seen, self.step = seen.clone(), step.clone()
        self.count = int(state.get("count", 1 if bool(seen.any()) else 0))
        self._merged = True


def _check_criteria(criteria: object) -> None:
    """TypeError unless ``criteria`` is a mapping of str names to real-valued Tensors."""
    owner = "OnlineScoreTracker.record"
    if not isinstance(criteria, Mapping):
        raise InvalidTypeError(f"{owner}: 'criteria' must be a dict name -> Tensor[B] (e.g. "
                               f"BalanceScorer.criteria(...)); got {type(criteria).__name__}.")
    for name, v in criteria.items():
        if not isinstance(name, str):
            raise InvalidTypeError(f"{owner}: 'criteria' must be keyed by criterion names (str); got "
                                   f"{name!r}.")
        if not isinstance(v, torch.Tensor) or v.is_complex():
            shown = (f"dtype {v.dtype}" if isinstance(v, torch.Tensor) else
                     repr(v) if len(repr(v)) <= 40 else type(v).__name__)
            raise InvalidTypeError(f"{owner}: 'criteria[{name!r}]' must be a real-valued Tensor[B]; got "
                                   f"{shown}.")
