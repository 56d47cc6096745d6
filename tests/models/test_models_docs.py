"""Public surface of mmbss.models: every public name documented, module examples run."""

from __future__ import annotations

import mmbss.models

MODULES = ["mmbss.models", "mmbss.models.encoders", "mmbss.models.resnet",
           "mmbss.models.i3d", "mmbss.models.text", "mmbss.models.fusion",
           "mmbss.models.multimodal"]


def test_expected_public_names():
    assert set(mmbss.models.__all__) >= {
        "ENCODERS", "FUSIONS", "create_encoder", "create_fusion", "list_encoders",
        "list_fusions", "MultiModalNet", "ModelOutput", "build_model",
    }
