"""examples/own_loop.py (excerpted in the README) runs and learns."""

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_own_loop_example_learns():
    ns = runpy.run_path(str(ROOT / "examples" / "own_loop.py"))
    assert ns["main"](3) > 0.85


def test_readme_excerpt_is_the_example_code():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    example = (ROOT / "examples" / "own_loop.py").read_text()
    lines = [ln.split("#")[0].strip() for ln in block.splitlines()]
    assert len(lines) > 5
    for line in filter(None, lines):
        assert line in example, line


def test_every_example_is_run_by_a_test():
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    for example in sorted((ROOT / "examples").glob("*.py")):
        assert example.name in tests, f"no test runs examples/{example.name}"
