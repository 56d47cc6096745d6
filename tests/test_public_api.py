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


def test_core_modules_import_nothing_from_upper_layers():
    src = pathlib.Path(mmbss.__file__).parent
    for path in src.glob("*.py"):
        text = path.read_text()
        for layer in ("engine", "data", "models", "methods", "cli"):
            assert f"from .{layer}" not in text and f"mmbss.{layer}" not in text, (path, layer)
