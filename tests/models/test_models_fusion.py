"""Fusions: shapes for M = 2 and 3 with unequal dims, head-input identity, validation."""

from __future__ import annotations

import pytest
import torch

from mmbss.models import FUSIONS, Fusion, create_fusion, list_fusions

DIMS = {
    2: {"audio": 12, "video": 7},
    3: {"audio": 12, "video": 7, "text": 5},
}
HEAD_DIM = {"concat": None, "sum": None, "film": 9, "gated": 9}


def _build(name: str, dims: dict[str, int], num_classes: int = 4) -> Fusion:
    kw = {"hidden": 9} if name in ("film", "gated") else {}
    return create_fusion(name, dims, num_classes, **kw)


def _features(dims: dict[str, int], batch: int = 5) -> dict[str, torch.Tensor]:
    return {m: torch.randn(batch, d) for m, d in dims.items()}


def test_registry_lists_all_fusions():
    assert list_fusions() == ["concat", "film", "gated", "sum"] == FUSIONS.names()


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("name", ["concat", "sum", "film", "gated"])
def test_fusion_shapes_and_head_identity(name, m):
    torch.manual_seed(0)
    dims = DIMS[m]
    fusion = _build(name, dims)
    logits, head_input = fusion(_features(dims))
    head_dim = HEAD_DIM[name] or sum(dims.values())
    assert logits.shape == (5, 4)
    assert head_input.shape == (5, head_dim) and fusion.head_dim == head_dim
    weight, bias = fusion.head_weight_bias()
    assert weight.shape == (4, head_dim) and bias.shape == (4,)
    torch.testing.assert_close(logits, head_input @ weight.T + bias, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["concat", "sum"])
def test_concat_and_sum_head_input_is_concatenation_in_modality_order(name):
    dims = DIMS[3]
    feats = _features(dims)
    _, head_input = _build(name, dims)(feats)
    torch.testing.assert_close(head_input, torch.cat([feats[m] for m in dims], dim=1))


def test_sum_fusion_is_sum_of_per_modality_logits():
    dims = DIMS[3]
    fusion = _build("sum", dims)
    feats = _features(dims)
    logits, _ = fusion(feats)
    expected = sum(fusion.heads[m](feats[m]) for m in dims)
    torch.testing.assert_close(logits, expected)


@pytest.mark.parametrize("name", ["concat", "sum", "film", "gated"])
def test_fused_logits_depend_on_every_modality(name):
    dims = DIMS[3]
    feats = {m: x.requires_grad_() for m, x in _features(dims).items()}
    logits, _ = _build(name, dims)(feats)
    logits.sum().backward()
    for m in dims:
        assert feats[m].grad is not None and feats[m].grad.abs().sum() > 0, m


def test_film_conditioning_modality_is_selectable():
    fusion = create_fusion("film", DIMS[3], 3, hidden=6, x_film="video")
    assert fusion.x_film == "video"
    assert fusion.film.in_features == 7 and fusion.film.out_features == 12
    assert sorted(fusion.proj) == ["audio", "text"]
    default = create_fusion("film", DIMS[3], 3)
    assert default.x_film == "audio" and default.hidden == 256


def test_film_formula():
    torch.manual_seed(1)
    fusion = create_fusion("film", DIMS[2], 3, hidden=6, x_film="video")
    feats = _features(DIMS[2])
    gamma, beta = fusion.film(feats["video"]).chunk(2, dim=1)
    _, h = fusion(feats)
    torch.testing.assert_close(h, gamma * fusion.proj["audio"](feats["audio"]) + beta)


def test_gated_formula_and_gate_choice():
    torch.manual_seed(2)
    fusion = create_fusion("gated", DIMS[3], 3, hidden=6, x_gate="text")
    feats = _features(DIMS[3])
    _, h = fusion(feats)
    gate = torch.sigmoid(fusion.proj["text"](feats["text"]))
    other = fusion.proj["audio"](feats["audio"]) + fusion.proj["video"](feats["video"])
    torch.testing.assert_close(h, gate * other)


def test_unknown_fusion_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown fusion 'concatt'; valid names: concat, "
                                         r"film, gated, sum\. Did you mean 'concat'\?"):
        create_fusion("concatt", DIMS[2], 3)


@pytest.mark.parametrize("name", ["concat", "sum", "film", "gated"])
def test_fusion_needs_two_modalities(name):
    with pytest.raises(ValueError, match=r"'feature_dims' must name at least 2 modalities"):
        create_fusion(name, {"audio": 8}, 3)


@pytest.mark.parametrize(
    ("name", "kw", "exc", "match"),
    [
        ("concat", {"num_classes": 1}, ValueError,
         r"ConcatFusion: 'num_classes' must be an int >= 2; got 1\."),
        ("concat", {"hidden": 3}, TypeError,
         r"create_fusion\('concat'\): unknown option\(s\) \['hidden'\]"),
        ("film", {"x_film": "depth"}, ValueError,
         r"FiLMFusion: 'x_film' must be one of 'audio', 'video'; got 'depth'\."),
        ("gated", {"x_gate": "vidoe"}, ValueError,
         r"GatedFusion: 'x_gate' must be one of .* \(did you mean 'video'\?\)"),
        ("gated", {"hidden": 0}, ValueError, r"GatedFusion: 'hidden' must be an int >= 1"),
        ("sum", {"feature_dims": {"audio": 3, "video": 0}}, ValueError,
         r"SumFusion: 'feature_dims\['video'\]' must be an int >= 1; got 0\."),
        ("sum", {"feature_dims": [3, 4]}, TypeError, r"SumFusion: 'feature_dims' must be a dict"),
    ],
)
def test_bad_fusion_arguments(name, kw, exc, match):
    args = {"feature_dims": DIMS[2], "num_classes": 3, **kw}
    with pytest.raises(exc, match=match):
        create_fusion(name, **args)


def test_fusion_rejects_wrong_features():
    fusion = _build("concat", DIMS[2])
    with pytest.raises(ValueError, match=r"ConcatFusion: the features dict has missing "
                                         r"\['video'\]"):
        fusion({"audio": torch.zeros(2, 12)})
    with pytest.raises(ValueError, match=r"features\['video'\] must be a tensor of shape "
                                         r"\[B, 7\]; got \(2, 6\)"):
        fusion({"audio": torch.zeros(2, 12), "video": torch.zeros(2, 6)})
    with pytest.raises(ValueError, match=r"same batch size; features\['video'\] has 3"):
        fusion({"audio": torch.zeros(2, 12), "video": torch.zeros(3, 7)})
