"""Public surface of every mmbss module: docstrings, runnable examples, a light core (DESIGN 6, 11)."""

import doctest
import importlib
import inspect
import pathlib
import pkgutil
import subprocess
import sys

import pytest
import torch

import mmbss

MODULES = ["mmbss"] + sorted(m.name for m in pkgutil.walk_packages(mmbss.__path__, "mmbss."))


def _public(module):
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if name.isupper() and not inspect.isclass(obj):  # registries: their class is documented
            obj = type(obj)
        yield name, obj


@pytest.mark.parametrize("modname", MODULES)
def test_every_public_name_has_a_docstring(modname):
    mod = importlib.import_module(modname)
    assert mod.__doc__, f"{modname} has no module docstring"
    assert hasattr(mod, "__all__"), f"{modname} has no __all__"
    for name, obj in _public(mod):
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
            assert inspect.getdoc(obj), f"{modname}.{name} has no docstring"
        if inspect.isclass(obj):
            for meth_name, meth in inspect.getmembers(obj, inspect.isfunction):
                if not meth_name.startswith("_") and meth.__module__.startswith("mmbss"):
                    assert inspect.getdoc(meth), f"{modname}.{name}.{meth_name} has no docstring"


@pytest.mark.parametrize("modname", MODULES)
def test_docstring_examples_run(modname):
    mod = importlib.import_module(modname)
    result = doctest.testmod(mod, extraglobs={"torch": torch},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_import_mmbss_stays_light():
    # (tqdm is not checked: torch itself imports it)
    code = ("import sys, mmbss; heavy = [m for m in sys.modules if m.startswith(('mmbss.engine', "
            "'mmbss.data', 'mmbss.models', 'mmbss.methods', 'mmbss.cli', 'matplotlib', 'yaml'))];"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


LAYERS = {"core": 0, "data": 1, "models": 1, "methods": 2, "engine": 3, "cli": 4}


def _layer(module: str) -> str:
    """'mmbss.engine.trainer' -> 'engine'; the package facade and the core's short aliases
    (mmbss.scoring, mmbss._validation, ...) belong to the core."""
    parts = module.split(".")
    if module == "mmbss.__main__":  # python -m mmbss: the CLI's entry point
        return "cli"
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "core"


def _imports(path: pathlib.Path, module: str):
    """Every module ``path`` imports (also inside functions), relative imports resolved."""
    import ast

    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            yield base
            yield from (f"{base}.{a.name}" for a in node.names)  # "from . import pacing"


def test_layers_import_only_downwards():
    """DESIGN: core <- data/models <- methods <- engine <- cli; data and models are siblings."""
    src = pathlib.Path(mmbss.__file__).parent
    bad = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        mine = _layer(module)
        for imported in _imports(path, module):
            if not imported.startswith("mmbss.") or imported.split(".")[1] not in LAYERS:
                continue
            theirs = _layer(imported)
            if LAYERS[theirs] > LAYERS[mine] or (LAYERS[theirs] == LAYERS[mine] and theirs != mine):
                bad.append(f"{module} ({mine}) imports {imported} ({theirs})")
    assert not bad, "\n".join(bad)


def test_the_layer_check_catches_an_upward_import(tmp_path):
    (tmp_path / "x.py").write_text("from ..engine import trainer\nimport mmbss.cli.main\n")
    found = set(_imports(tmp_path / "x.py", "mmbss.core.x"))
    assert {"mmbss.engine", "mmbss.engine.trainer", "mmbss.cli.main"} <= found
    assert _layer("mmbss.engine.trainer") == "engine" and _layer("mmbss.scoring") == "core"
