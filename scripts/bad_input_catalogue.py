"""Write docs/BAD_INPUT.md, the bad-input catalogue, from ``CASES`` in tests/test_bad_input.py.

Every row is run (in this process, each in a fresh scratch folder) and the message it really gets
goes into the table; a row that does not fail the way the test pins it stops the script.

Usage: python scripts/bad_input_catalogue.py [--check]
    --check   write nothing; exit 1 if docs/BAD_INPUT.md differs from what would be written.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import io
import logging
import re
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BAD_INPUT.md"

HEADER = """\
# Bad-input catalogue

Every bad input that the CLI, the config files, the datasets, the models, the core API and the
engine can receive, with the message it gets. Each row is a case in `tests/test_bad_input.py`
(`CASES`), where a test pins the message; the text here is what the code really prints (scratch
folders shown as `<tmp>`, message lines joined by ` ⏎ `). CLI rows show the `mmbss` error line and
the exit status (2: a user mistake, 1: a diverged run).

Do not edit by hand: run `python scripts/bad_input_catalogue.py` after changing a message or a
case (`--check` tells whether this file is current; a test runs it).

"""


def load_cases_module() -> ModuleType:
    """Import tests/test_bad_input.py as ``tests.test_bad_input`` (it imports tests.conftest)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("tests.test_bad_input")


def observe(module: ModuleType, case) -> tuple[str, str]:
    """Run one row; return (what it got, the message), after checking it fails as pinned."""
    with tempfile.TemporaryDirectory(prefix="mmbss-bad-input-") as name:
        tmp = Path(name)
        if isinstance(case.trigger, tuple):
            argv = module.prepare_cli(case, tmp)
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                status = module.run_cli(argv)
            text = err.getvalue()
            if status != case.expect or "Traceback" in text or not re.search(case.match, text):
                raise AssertionError(f"{case.id}: exit {status}, stderr {text!r}")
            lines = text.strip().splitlines()
            first = next((i for i, ln in enumerate(lines) if re.match(r"mmbss.*?: error: ", ln)), 0)
            got, message = f"exit {status}", "\n".join(lines[first:])
        else:
            try:
                module.call(case.trigger, tmp)
            except Exception as e:  # noqa: BLE001 - any exception is a result to check
                message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
                if not isinstance(e, case.expect) or not re.search(case.match, str(e)):
                    raise AssertionError(f"{case.id}: {type(e).__name__}: {e}") from e
                got = type(e).__name__
            else:
                raise AssertionError(f"{case.id}: no exception (expected {case.expect.__name__})")
        for form in {str(tmp.resolve()), str(tmp)}:
            message = message.replace(form, "<tmp>")
    return got, message


def _code(text: str) -> str:
    """``text`` as one Markdown code span that is safe inside a table cell."""
    text = " ⏎ ".join(ln.strip() for ln in text.strip().splitlines()).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(module: ModuleType) -> str:
    """The whole Markdown file."""
    cases = module.CASES
    counts = {a: sum(c.area == a for c in cases) for a in module.AREAS}
    lines = [HEADER.rstrip("\n"), "",
             f"{len(cases)} cases: " + ", ".join(f"{a} {n}" for a, n in counts.items()) + ".", "",
             "| id | area | bad input | the message it gets |", "|---|---|---|---|"]
    for case in cases:
        got, message = observe(module, case)
        lines.append(f"| {case.id} | {case.area} | {_cell(case.input)} | {got}: "
                     f"{_code(message)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None, *, cases_module: ModuleType | None = None) -> int:
    """Write (or, with ``--check``, compare) docs/BAD_INPUT.md; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if docs/BAD_INPUT.md is not what would be written")
    args = ap.parse_args(argv)
    module = cases_module or load_cases_module()
    root = logging.getLogger()
    quiet = not root.handlers  # keep mmbss.cli.main's basicConfig from binding a redirected stderr
    if quiet:
        root.addHandler(logging.NullHandler())
    try:
        text = render(module)
    except AssertionError as e:  # a case no longer fails the way the test pins it
        print(f"a case does not fail as pinned in tests/test_bad_input.py: {e}", file=sys.stderr)
        return 1
    finally:
        if quiet:
            root.handlers.clear()
    if args.check:
        old = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
        if old != text:
            diff = difflib.unified_diff(old.splitlines(), text.splitlines(), str(DOC), "generated",
                                        lineterm="", n=0)
            print("\n".join(diff), file=sys.stderr)
            print(f"{DOC} is out of date; run 'python scripts/bad_input_catalogue.py'.",
                  file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC} ({len(module.CASES)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
