"""``python -m mmbss ...`` (also under ``torchrun -m mmbss train ...``): the ``mmbss`` CLI."""

import sys

from mmbss.cli.main import main

sys.exit(main())
