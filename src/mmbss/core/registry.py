"""One registry pattern for pacings, datasets, encoders, fusions and methods (DESIGN rule 7).

Example:
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
from collections.abc import Callable
from typing import Any

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
                raise ValueError(f"{self.kind} {name!r} is already registered; pick another name.")
            self._items[name] = (fn, dict(defaults))
            return fn

        return deco

    def get(self, name: str) -> Callable[..., Any]:
        """Return the factory registered under ``name`` (error lists valid names)."""
        if name not in self._items:
            raise ValueError(self.unknown_message(name))
        return self._items[name][0]

    def create(self, name: str, **kwargs: Any) -> Any:
        """Call the factory of ``name`` with its registered defaults overridden by ``kwargs``."""
        fn = self.get(name)
        return fn(**{**self._items[name][1], **kwargs})

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
