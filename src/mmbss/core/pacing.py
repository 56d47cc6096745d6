"""Pacing functions of the curriculum scheduler (SPEC §3): epoch -> fraction of the data in (0, 1].

All are non-decreasing and reach 1 once ``epoch + 1 >= t_grow``; ``epoch`` is 0-based and counts
from the first paced epoch. Reference constants: ``lambda0 = 0.1``, ``t_grow = 40``.

Examples:
    >>> lam = get("root", lambda0=0.1, t_grow=40)
    >>> round(lam(0), 4), round(lam(9), 4), lam(39)
    (0.1864, 0.5074, 1.0)
"""

from __future__ import annotations

import math

from ._validation import check_float, check_int
from .registry import Registry

__all__ = ["Pacing", "PACINGS", "get", "list_pacings"]

PACINGS = Registry("pacing")


class Pacing:
    """A pacing function ``epoch -> fraction``; build one with :func:`get`.

    Args:
        name: registered name.
        fn: ``(progress, lambda0) -> fraction`` where ``progress = (epoch + 1) / t_grow``.
        lambda0: starting fraction, in (0, 1].
        t_grow: epochs until the whole set is used, >= 1.
    """

    def __init__(self, name: str, fn, *, lambda0: float, t_grow: int, **params):
        self.name, self._fn, self.params = name, fn, params
        self.lambda0 = check_float("pacing", "lambda0", lambda0, low=0.0, high=1.0, low_open=True)
        self.t_grow = check_int("pacing", "t_grow", t_grow, low=1)

    def __call__(self, epoch: int) -> float:
        check_int("pacing", "epoch", epoch, low=0)
        progress = (epoch + 1) / self.t_grow
        if progress >= 1.0:
            return 1.0
        return float(min(1.0, max(self.lambda0, self._fn(progress, self.lambda0, **self.params))))

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"Pacing({self.name!r}, lambda0={self.lambda0}, t_grow={self.t_grow}{extra})"


def get(name: str, lambda0: float = 0.1, t_grow: int = 40, **kw) -> Pacing:
    """Return the pacing function ``name`` ("root", "linear", "geometric", "step", "constant").

    Args:
        name: one of :func:`list_pacings`.
        lambda0: fraction of the data at epoch 0, in (0, 1].
        t_grow: epochs until the whole set is used, >= 1.
        **kw: "step" takes ``num_steps`` (K equal increments, default 4).
    Raises:
        ValueError: unknown name (valid names listed) or a parameter out of range.
    """
    return PACINGS.create(name, lambda0=lambda0, t_grow=t_grow, **kw)


def list_pacings() -> list[str]:
    """Names of the registered pacing functions."""
    return PACINGS.names()


def _root_fn(p: float, l0: float) -> float:
    return math.sqrt(l0**2 + (1 - l0**2) * p)


def _linear_fn(p: float, l0: float) -> float:
    return l0 + (1 - l0) * p


def _geometric_fn(p: float, l0: float) -> float:
    return l0 ** (1 - p)


def _step_fn(p: float, l0: float, num_steps: int) -> float:
    return l0 + (1 - l0) * math.floor(p * num_steps) / num_steps


def _constant_fn(p: float, l0: float) -> float:
    return 1.0


# module-level functions, not lambdas: a Pacing (and every scheduler holding one) pickles, so it
# crosses spawn-started DataLoader workers, ddp_spawn and torch.save
@PACINGS.register("root")
def _root(*, lambda0: float, t_grow: int) -> Pacing:
    return Pacing("root", _root_fn, lambda0=lambda0, t_grow=t_grow)


@PACINGS.register("linear")
def _linear(*, lambda0: float, t_grow: int) -> Pacing:
    return Pacing("linear", _linear_fn, lambda0=lambda0, t_grow=t_grow)


@PACINGS.register("geometric")
def _geometric(*, lambda0: float, t_grow: int) -> Pacing:
    return Pacing("geometric", _geometric_fn, lambda0=lambda0, t_grow=t_grow)


@PACINGS.register("step")
def _step(*, lambda0: float, t_grow: int, num_steps: int = 4) -> Pacing:
    check_int("pacing", "num_steps", num_steps, low=1)
    return Pacing("step", _step_fn, lambda0=lambda0, t_grow=t_grow, num_steps=num_steps)


@PACINGS.register("constant")
def _constant(*, lambda0: float, t_grow: int) -> Pacing:
    return Pacing("constant", _constant_fn, lambda0=lambda0, t_grow=t_grow)
