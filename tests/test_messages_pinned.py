"""Every user-facing message in src/ is pinned by a test (DESIGN rule 4).

Each ``raise ...Error(<message>)`` with a literal message is found by parsing the source; its
literal pieces must appear (four consecutive words of one) in a test or in the generated
bad-input catalogue, which holds the real messages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# messages that no test on this machine can trigger, with the reason
EXEMPT = {
    ("data/mfeat.py", "rebuild it with"): "a damaged install of the packaged data",
    ("engine/trainer.py", "CUDA device(s)"): "needs a CUDA machine",
    ("engine/distributed.py", "CUDA device(s); start at most"): "needs a CUDA machine",
    ("engine/checkpoint.py", "cannot be read:"): "unreadable as root: tests run as root",
    ("engine/config.py", "cannot be read:"): "unreadable as root: tests run as root",
    ("engine/plots/run.py", "_roc_auc:"): "an internal helper's invariant",
}


def _pieces(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant)]
    if isinstance(node, ast.BinOp):
        return _pieces(node.left) + _pieces(node.right)
    return []


def _messages():
    src = ROOT / "src" / "mmbss"
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                    and node.exc.args):
                continue
            name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", ""))
            pieces = [p for p in _pieces(node.exc.args[0]) if len(p.split()) >= 3]
            if name.endswith(("Error", "Diverged")) and pieces and \
                    not any("this is a bug" in p for p in pieces):
                yield str(path.relative_to(src)), node.lineno, pieces


def _pinned(message: str, corpus: str) -> bool:
    words = message.split()
    return any(" ".join(words[i:i + 4]) in corpus for i in range(max(1, len(words) - 3)))


def test_every_message_is_pinned():
    texts = [p.read_text() for p in (ROOT / "tests").rglob("*.py")]
    corpus = re.sub(r"\s+", " ", "\n".join(texts + [(ROOT / "docs" / "BAD_INPUT.md").read_text()])
                    .replace("\\", "").replace('"\n', "").replace("\"\n        r\"", ""))
    found, unpinned = 0, []
    for rel, line, pieces in _messages():
        found += 1
        if any(rel == f and key in p for f, key in EXEMPT for p in pieces):
            continue
        if not any(_pinned(p, corpus) for p in pieces):
            unpinned.append(f"{rel}:{line}: {max(pieces, key=len)!r}")
    assert found > 200
    assert not unpinned, "messages no test pins:\n" + "\n".join(unpinned)


def test_the_check_would_catch_an_unpinned_message():
    assert not _pinned("a message that no test in this repository contains at all", "x y z")
    assert _pinned("the loader yielded no batch here", "xx the loader yielded no yy")
