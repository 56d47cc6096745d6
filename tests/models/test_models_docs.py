"""Public surface of mmbss.models: every public name documented, module examples run."""

from __future__ import annotations

import doctest
import importlib

import pytest

import mmbss.models

MODULES = ["mmbss.models", "mmbss.models.encoders", "mmbss.models.resnet",
           "mmbss.models.fusion", "mmbss.models.multimodal"]


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_name_has_a_docstring(module_name):
    module = importlib.import_module(module_name)
    assert module.__doc__
    for name in module.__all__:
        obj = getattr(module, name)
        if name.isupper():  # registries are instances; their class is documented
            obj = type(obj)
        assert obj.__doc__ and obj.__doc__.strip(), f"{module_name}.{name}"


def test_expected_public_names():
    assert set(mmbss.models.__all__) >= {
        "ENCODERS", "FUSIONS", "create_encoder", "create_fusion", "list_encoders",
        "list_fusions", "MultiModalNet", "ModelOutput", "build_model",
    }


@pytest.mark.parametrize("module_name", MODULES)
def test_module_examples_run(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
