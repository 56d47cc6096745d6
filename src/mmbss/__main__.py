"""``python -m mmbss ...`` (also under ``torchrun -m mmbss train ...``): the ``mmbss`` CLI."""

import sys

from mmbss.cli.main import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
