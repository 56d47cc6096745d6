"""The one exception family of mmbss (DESIGN rule 3): every bad input raises one of these.

Each is also the built-in exception it stands for, so ``except ValueError`` keeps working:

* :class:`InvalidValueError` (a ``ValueError``): a value out of range, a bad combination;
* :class:`InvalidTypeError` (a ``TypeError``): an argument of the wrong type;
* :class:`UnknownNameError` (an :class:`InvalidValueError`): a name no registry knows; the
  message lists the valid names and a close match;
* :class:`InvalidIndexError` (an ``IndexError``): a sample index outside a dataset;
* :class:`CallOrderError` (a ``RuntimeError``): state used before the call that sets it (e.g. a
  scheduler's order before ``update(scores)``); the message names the call to make.

Every message follows one template, ``"<owner>: '<name>' must be <expected>; got <value>."``
(see :mod:`mmbss.core._validation`), or says what is wrong and how to fix it. The CLI turns any
:class:`MmbssError` into one ``mmbss: error: ...`` line.

Examples:
    >>> from mmbss import LearningBasedScheduler
    >>> try:
    ...     LearningBasedScheduler(num_samples=4, eps=-0.5)
    ... except InvalidValueError as e:
    ...     print(e)
    LearningBasedScheduler: 'eps' must be a float in (0.0, 1.0]; got -0.5.
"""

from __future__ import annotations

__all__ = ["MmbssError", "InvalidValueError", "InvalidTypeError", "UnknownNameError",
           "InvalidIndexError", "CallOrderError"]


class MmbssError(Exception):
    """Base of every error mmbss raises for a bad input, config, file or state."""


class InvalidValueError(MmbssError, ValueError):
    """A value out of its range, or values that do not fit together."""


class InvalidTypeError(MmbssError, TypeError):
    """An argument of the wrong type."""


class UnknownNameError(InvalidValueError):
    """A name that no registry (methods, datasets, encoders, fusions, pacings) knows."""


class InvalidIndexError(MmbssError, IndexError):
    """A sample index outside its dataset."""


class CallOrderError(MmbssError, RuntimeError):
    """Learned state used before the call that sets it; the message names that call."""
