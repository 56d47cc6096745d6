"""Write docs/cli.md, the CLI reference, from the argument parser itself.

    .venv/bin/python scripts/cli_reference.py [--check]

``--check`` exits 1 (writing nothing) when docs/cli.md is not what the parser gives now.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "cli.md"


def render() -> str:
    from mmbss.cli.main import build_parser

    os.environ["COLUMNS"] = "100"  # the same wrapping on every terminal
    parser = build_parser()
    parts = ["# CLI reference", "",
             "Every command prints one `mmbss: error: ...` line and exits with status 2 on a bad "
             "input (1 for a diverged run); `MMBSS_DEBUG=1` shows the traceback instead. This "
             "page is written by `scripts/cli_reference.py` from the parser itself.", "",
             "## mmbss", "", "```text", parser.format_help().rstrip(), "```", ""]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        parts += [f"## mmbss {name}", "", "```text", command.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date; run: python scripts/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
