"""Command-line interface (``mmbss``)."""
