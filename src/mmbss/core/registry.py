"""One registry pattern for pacings, datasets, encoders, fusions and methods (DESIGN rule 7).

Examples:
    >>> from mmbss.core.registry import Registry
    >>> colours = Registry("colour")
    >>> @colours.register("red")
    ... def red(shade=1):
    ...     return ("red", shade)
    >>> colours.create("red", shade=2)
    ('red', 2)
    >>> colours.names()
    ['red']
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

from .errors import InvalidValueError, UnknownNameError

__all__ = ["Registry"]


class Registry:
    """Maps names to factories; ``create(name, **kw)`` merges registered defaults under ``kw``.

    Args:
        kind: what the registry holds, used in error messages ("method", "dataset", ...).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {}

    def register(self, name: str, **defaults: Any) -> Callable[[Callable], Callable]:
        """Decorator registering ``fn`` under ``name``; registering a name twice is an error."""

        def deco(fn: Callable) -> Callable:
            if name in self._items:
                raise InvalidValueError(f"{self.kind} {name!r} is already registered; pick another name.")
            self._items[name] = (fn, dict(defaults))
            return fn

        return deco

    def get(self, name: str) -> Callable[..., Any]:
        """Return the factory registered under ``name`` (error lists valid names)."""
        if name not in self._items:
            raise UnknownNameError(self.unknown_message(name))
        return self._items[name][0]

    def create(self, name: str, **kwargs: Any) -> Any:
        """Call the factory of ``name`` with its registered defaults overridden by ``kwargs``.

        Raises:
            ValueError: unknown ``name`` (the valid names and a close match are listed), or an
                option the factory does not take (when it has no ``**kwargs``; its options are
                listed).
        """
        fn = self.get(name)
        merged = {**self._items[name][1], **kwargs}
        self._check_options(name, fn, merged)
        return fn(**merged)

    def _check_options(self, name: str, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):  # no signature to read (some builtins): let fn decide
            return
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return
        valid = [p.name for p in params
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = [k for k in options if k not in valid]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            what = (f"option {unknown[0]!r}" if len(unknown) == 1
                    else "options " + ", ".join(repr(k) for k in unknown))
            shown = ", ".join(valid) if valid else "none"
            raise InvalidValueError(f"{self.kind} {name!r} has no {what}; its options: {shown}.{hint}")

    def names(self) -> list[str]:
        """Sorted registered names (feeds ``--help``)."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def unknown_message(self, name: object) -> str:
        """The error text for an unknown ``name``: the valid names and a close match."""
        valid = self.names()
        close = difflib.get_close_matches(str(name), valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.kind} {name!r}; valid names: {', '.join(valid)}.{hint}"
