"""Public surface: docstrings, light core, examples that run (DESIGN rules 6, 11)."""

import doctest
import importlib
import inspect
import subprocess
import sys

import pytest

import mmbss

CORE_MODULES = ["mmbss", "mmbss.scoring", "mmbss.pacing", "mmbss.permutation", "mmbss.schedulers",
                "mmbss.samplers", "mmbss.tracking", "mmbss.registry"]


@pytest.mark.parametrize("modname", CORE_MODULES)
def test_every_public_name_has_a_docstring(modname):
    mod = importlib.import_module(modname)
    assert mod.__doc__
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
            assert obj.__doc__, f"{modname}.{name} has no docstring"
            for meth_name, meth in inspect.getmembers(obj, inspect.isfunction):
                if not meth_name.startswith("_") and inspect.isclass(obj):
                    assert inspect.getdoc(meth), f"{modname}.{name}.{meth_name} has no docstring"


@pytest.mark.parametrize("modname", CORE_MODULES)
def test_docstring_examples_run(modname):
    mod = importlib.import_module(modname)
    result = doctest.testmod(mod, extraglobs={"torch": importlib.import_module("torch")})
    assert result.failed == 0


def test_import_mmbss_stays_light():
    # (tqdm is not checked: torch itself imports it)
    code = ("import sys, mmbss; heavy = [m for m in sys.modules if m.startswith(('mmbss.engine', "
            "'mmbss.data', 'mmbss.models', 'mmbss.methods', 'mmbss.cli', 'matplotlib', 'yaml'))];"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_core_modules_import_nothing_from_upper_layers():
    import pathlib
    src = pathlib.Path(mmbss.__file__).parent
    for path in src.glob("*.py"):
        text = path.read_text()
        for layer in ("engine", "data", "models", "methods", "cli"):
            assert f"from .{layer}" not in text and f"mmbss.{layer}" not in text, (path, layer)
