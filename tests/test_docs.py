"""The documentation site's pages: every Python code block runs, every shell command parses.

``mkdocs build --strict`` (``make docs``, run by CI) checks the links, the navigation and the
API reference; these tests check the code in the pages: a page's ``python`` blocks run in one
fresh interpreter (in a scratch folder, the checkout's configs at hand); each ``mmbss`` command
in a ``bash`` block is parsed by the real argument parser, and the config files it names exist.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BLOCK = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(kind: str):
    for page in sorted(DOCS.rglob("*.md")):
        code = [b for k, b in BLOCK.findall(page.read_text()) if k == kind]
        if code:
            yield page.relative_to(ROOT).as_posix(), code


def _commands(code: str):
    """The ``mmbss`` invocations of a shell block (continuation lines joined, comments cut)."""
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        for start, word in enumerate(words):
            if word.endswith("mmbss") and (start == 0 or words[start - 1] == "-m"):
                yield words[start + 1:]
                break


PYTHON = list(_blocks("python"))
SHELL = list(_blocks("bash"))


def test_the_pages_have_code():
    assert any(page == "docs/index.md" for page, _ in PYTHON)
    assert sum(len(list(_commands(b))) for _, blocks in SHELL for b in blocks) >= 10


@pytest.mark.parametrize("page, code", PYTHON, ids=[p for p, _ in PYTHON])
def test_python_blocks_run(page, code, tmp_path):
    script = tmp_path / "page.py"
    script.write_text("\n\n".join(code))
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"{page}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


@pytest.mark.parametrize("page, blocks", SHELL, ids=[p for p, _ in SHELL])
def test_shell_commands_parse_and_name_existing_configs(page, blocks):
    from mmbss.cli.main import build_parser

    parser = build_parser()
    for block in blocks:
        for argv in _commands(block):
            try:
                args = parser.parse_args(argv)
            except SystemExit as exit_:
                pytest.fail(f"{page}: 'mmbss {' '.join(argv)}' does not parse ({exit_})")
            config = getattr(args, "config", None)
            if config is not None and not config.startswith(("~", "my")):
                assert (ROOT / config).is_file(), f"{page}: {config} does not exist"


def test_the_cli_reference_is_up_to_date():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
