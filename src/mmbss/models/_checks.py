"""Argument and tensor checks shared by the encoders, fusions and ``MultiModalNet``.

Messages follow the package template ``"<Owner>: '<name>' must be <expected>; got <value!r>."``
(see ``mmbss._validation``); the helpers here only add the model-specific cases (shapes,
modality-keyed dicts, unknown keyword options).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from mmbss.core._validation import check_int

from ..core.errors import InvalidTypeError, InvalidValueError

__all__: list[str] = []

RESERVED_KEY = "fused"


def check_shape(owner: str, name: str, value: Any, *, ndim: Iterable[int] | None = None) -> tuple:
    """Return ``value`` as a tuple of positive ints (optionally with an allowed length)."""
    allowed = None if ndim is None else sorted(set(ndim))
    expected = "a tuple of positive ints"
    if allowed is not None:
        expected += f" of length {' or '.join(str(n) for n in allowed)}"
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list, torch.Size)):
        raise InvalidTypeError(f"{owner}: '{name}' must be {expected}; got {value!r}.")
    shape = tuple(value)
    ok = all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
    if not ok or not shape or (allowed is not None and len(shape) not in allowed):
        raise InvalidValueError(f"{owner}: '{name}' must be {expected}; got {value!r}.")
    return shape


def check_int_tuple(owner: str, name: str, value: Any, *, allow_empty: bool = False) -> tuple:
    """Return ``value`` as a tuple of positive ints (a single int becomes a 1-tuple)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    expected = "a tuple of positive ints" + ("" if allow_empty else " (at least one)")
    if not isinstance(value, (tuple, list)):
        raise InvalidTypeError(f"{owner}: '{name}' must be {expected}; got {value!r}.")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InvalidValueError(f"{owner}: '{name}' must be {expected}; got {value!r}.")
    if not value and not allow_empty:
        raise InvalidValueError(f"{owner}: '{name}' must be {expected}; got {value!r}.")
    return tuple(value)


def check_modality_name(owner: str, name: Any) -> str:
    """A modality name must be a non-empty str without '.' and not the reserved key 'fused'."""
    bad = not isinstance(name, str) or not name or "." in name or name == RESERVED_KEY
    if bad:
        raise InvalidValueError(
            f"{owner}: modality names must be non-empty strings without '.' and not "
            f"{RESERVED_KEY!r} (reserved for the fused head); got {name!r}."
        )
    return name


def check_feature_dims(owner: str, feature_dims: Any) -> dict[str, int]:
    """Validate ``{modality: dim}`` with at least two modalities; keep the given order."""
    if not isinstance(feature_dims, Mapping):
        raise InvalidTypeError(
            f"{owner}: 'feature_dims' must be a dict {{modality: dim}}; got {feature_dims!r}."
        )
    if len(feature_dims) < 2:
        raise InvalidValueError(
            f"{owner}: 'feature_dims' must name at least 2 modalities (a fusion combines "
            f"modalities); got {list(feature_dims)!r}."
        )
    out = {}
    for name, dim in feature_dims.items():
        check_modality_name(owner, name)
        out[name] = check_int(owner, f"feature_dims[{name!r}]", dim, low=1)
    return out


def check_keys(owner: str, expected: Iterable[str], given: Mapping, what: str) -> None:
    """Raise a ValueError naming missing and unexpected keys of a modality-keyed dict."""
    if not isinstance(given, Mapping):
        raise InvalidTypeError(f"{owner}: {what} must be a dict keyed by modality; got {type(given)!r}.")
    expected = list(expected)
    missing = [k for k in expected if k not in given]
    extra = [k for k in given if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing!r}")
        if extra:
            parts.append(f"unexpected {extra!r}")
        raise InvalidValueError(
            f"{owner}: {what} has {' and '.join(parts)}; expected exactly the keys {expected!r}."
        )


def check_options(owner: str, factory: Callable, kwargs: Mapping[str, Any]) -> None:
    """Raise a TypeError listing the valid options when ``kwargs`` has names ``factory`` lacks."""
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(k for k in kwargs if k not in params)
    if unknown:
        valid = sorted(k for k in params if k != "self")
        raise InvalidTypeError(f"{owner}: unknown option(s) {unknown!r}; valid options: {valid!r}.")
