"""Command-line interface (``mmbss``)."""

__all__: list[str] = []
