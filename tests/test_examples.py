"""examples/own_loop.py (excerpted in the README) runs and learns."""

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_own_loop_example_learns():
    ns = runpy.run_path(str(ROOT / "examples" / "own_loop.py"))
    assert ns["main"](3) > 0.85
